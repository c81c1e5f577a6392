"""The LAVA REST/XML-RPC client against the fake LAVA server (a real HTTP server on 127.0.0.1)."""
import time

import pytest

from dashboard.sources.rest import TRANSIENT_DISCOVERY, LavaError, LavaRest
from tests.fake_lava import FakeLava
from tests.fixtures import rest


@pytest.fixture
def lava():
    server = FakeLava(token="tok-abc")
    yield server
    server.close()


def test_snapshot_follows_pagination_and_sends_the_token(lava):
    client = LavaRest(lava.url, "tok-abc", timeout=5, page_size=3)
    snap = client.fetch_snapshot(max_finished=500)
    assert len(snap.devices) == len(rest("devices_all")["results"]) == 8  # retired included
    assert len(snap.workers) == 5 and len(snap.jobs) == 14
    device_pages = [r for r in lava.requests if r[0].endswith("/devices/")]
    assert len(device_pages) == 3  # 8 devices, 3 per page
    assert all(auth == "Token tok-abc" for _, _, auth in lava.requests)


def test_finished_jobs_are_limited(lava):
    snap = LavaRest(lava.url, "tok-abc", page_size=2).fetch_snapshot(max_finished=3)
    finished = [j for j in snap.jobs if j["state"] == "Finished"]
    assert sorted(j["id"] for j in finished) == [10, 11, 12]  # the 3 most recent


def test_unfinished_jobs_lava_no_longer_lists_are_looked_up_one_by_one(lava):
    client = LavaRest(lava.url, "tok-abc")
    snap = client.fetch_snapshot(max_finished=0, unfinished_known=[1, 99])
    assert [j["id"] for j in snap.jobs if j["id"] == 1] == [1]  # finished since: fetched alone
    assert snap.gone_jobs == [99]


def test_next_links_pointing_elsewhere_are_rebased(lava):
    # LAVA behind a proxy may build `next` with its internal address: the client keeps its own base.
    client = LavaRest(lava.url.replace("127.0.0.1", "localhost"), "tok-abc", page_size=3)
    assert len(client.list_all("/api/v0.2/devices/", {"all": 1})) == 8


@pytest.mark.parametrize("fault, kind", [("500", "server_error"), ("badjson", "bad_json"),
                                          ("badshape", "bad_shape"), ("auth", "auth")])
def test_faults_become_lava_errors_of_a_kind(lava, fault, kind):
    lava.fault = fault
    with pytest.raises(LavaError) as info:
        LavaRest(lava.url, "tok-abc").fetch_snapshot()
    assert info.value.kind == kind
    assert "tok-abc" not in str(info.value)


def test_wrong_token_unreachable_and_timeout(lava):
    with pytest.raises(LavaError) as info:
        LavaRest(lava.url, "wrong-token").fetch_snapshot()
    assert info.value.kind == "auth" and "wrong-token" not in str(info.value)
    lava.delay = 1.0
    with pytest.raises(LavaError) as info:
        LavaRest(lava.url, "tok-abc", timeout=0.3).fetch_snapshot()
    assert info.value.kind == "timeout"
    lava.delay = 0
    lava.stop()
    with pytest.raises(LavaError) as info:
        LavaRest(lava.url, "tok-abc", timeout=2).fetch_snapshot()
    assert info.value.kind == "unreachable"


def test_a_bad_filter_answers_lava_s_html_500(lava):
    with pytest.raises(LavaError) as info:
        LavaRest(lava.url, "tok-abc").get("/api/v0.2/jobs/", {"state": "Bogus"})
    assert info.value.kind == "server_error" and "HTML" in str(info.value)


def test_event_socket_discovery_replaces_the_wildcard(lava):
    lava.event_socket = "tcp://*:5599"
    assert LavaRest(lava.url, "tok-abc").discover_event_socket() == ("tcp://127.0.0.1:5599",
                                                                     "org.lavasoftware")


def test_event_socket_discovery_falls_back_to_xmlrpc(lava):
    lava.event_socket = "tcp://0.0.0.0:5598"
    client = LavaRest(lava.url, "not-the-token")  # master_config refuses it; XML-RPC answers
    assert client.discover_event_socket() == ("tcp://127.0.0.1:5598", None)


def test_an_unusable_event_socket_is_quoted_whole_or_only_its_size(lava):
    # A LAVA (or a proxy) that echoes the token into EVENT_SOCKET: cut at 60 characters, the token
    # was cut too, and the scrubber, which finds it only whole, left its first part in the error.
    lava.event_socket = "wss://lava.example.org/ws/?auth=" + "x" * 12 + "tok-abc-and-more-of-it"
    with pytest.raises(LavaError) as info:
        LavaRest(lava.url, "tok-abc-and-more-of-it").discover_event_socket()
    assert str(info.value) == "LAVA names no usable event socket: (a text of 66 characters)"
    lava.event_socket = "udp://lava:5500"
    with pytest.raises(LavaError) as info:
        LavaRest(lava.url, "tok-abc").discover_event_socket()
    assert str(info.value) == "LAVA names no usable event socket: 'udp://lava:5500'"


def test_a_redirect_to_another_host_is_refused_without_the_token(lava):
    """Followed without the token before (an audit): an answer without it hides private jobs, and
    the reconcile removed them. Now refused, saying where it pointed; nothing reaches that host."""
    elsewhere = FakeLava()
    try:
        lava.fault, lava.redirect_to = "redirect", elsewhere.url
        with pytest.raises(LavaError) as info:
            LavaRest(lava.url, "tok-abc").get("/api/v0.2/system/version/")
        assert info.value.kind == "redirected" and "set lava_url" in str(info.value)
        assert "tok-abc" not in str(info.value)
        assert elsewhere.requests == []
    finally:
        elsewhere.close()


def test_after_a_redirect_elsewhere_the_token_is_not_sent_there_for_a_while(lava, monkeypatch):
    """A reach audit: a LAVA moved to https:// answers http:// with a redirect; the dashboard,
    asking again every 10 s (the WebSocket's whoami and connection) and every minute (the REST
    reads), sent the token in clear each time, for ever. Now a request with the token is not made
    for REDIRECT_QUIET after such a redirect (each fails at once, saying it); then it is asked
    again (a passing redirect must not leave the lab read without its token). A request without
    the token (XML-RPC's) is made as ever."""
    from dashboard.sources import rest as rest_module

    monkeypatch.setattr(rest_module, "REDIRECT_QUIET", 1.0)
    lava.fault, lava.redirect_to = "redirect", "https://127.0.0.1:1"
    client = LavaRest(lava.url, "tok-abc")
    for attempt in range(3):
        with pytest.raises(LavaError) as info:
            client.whoami()
        assert info.value.kind == "redirected", str(info.value)
        assert str(info.value).endswith(f"LAVA is not asked with the token at {lava.url} again for "
                                        f"{1 / 60:g} minutes"), str(info.value)
        assert "tok-abc" not in str(info.value)
    assert [auth for _, _, auth in lava.requests] == ["Token tok-abc"]  # asked once
    assert client.token_withheld and LavaRest(lava.url, "tok-abc").token_withheld is False
    with pytest.raises(LavaError):
        client.discover_event_socket()  # its XML-RPC, without the token, is still asked
    assert [path for path, _, _ in lava.requests][-1] == "/RPC2"
    time.sleep(1.1)  # (at least REDIRECT_QUIET: longer only helps)
    assert not client.token_withheld
    lava.fault = None
    assert client.whoami() == "admin" and lava.requests[-1][2] == "Token tok-abc"


@pytest.mark.parametrize("fault", ["maintenance", "busy", "redirect"])
def test_event_socket_discovery_asks_again_when_the_answer_is_not_lavas(lava, fault):
    """A reach audit: a LAVA in maintenance at the dashboard's start (an HTML page of 200 for
    every path, XML-RPC's too) made the discovery take LAVA's WebSocket for good, which then
    answered 404 for ever once LAVA was back, its ZMQ socket unused; a proxy's 429, or a redirect
    elsewhere, the same. These pass now: the discovery is asked again, with backoff."""
    lava.fault, lava.redirect_to = fault, "https://127.0.0.1:1"
    with pytest.raises(LavaError) as info:
        LavaRest(lava.url, "tok-abc").discover_event_socket()
    assert info.value.kind in TRANSIENT_DISCOVERY, (info.value.kind, str(info.value))
    lava.fault = None
    assert LavaRest(lava.url, "tok-abc").discover_event_socket()[0].startswith("tcp://")


def test_event_socket_discovery_fails_as_lava_does_while_both_ways_fail(lava):
    """A LAVA answering HTTP 500 to master_config and to XML-RPC alike: the discovery fails as a
    server error, which the dashboard asks again later (factory._discover_event_socket). Before
    (an audit), XML-RPC's failure made it an http_error, and the dashboard took LAVA's WebSocket
    for good. A LAVA that answers but names no socket is not retried."""
    lava.fault = "500"
    with pytest.raises(LavaError) as info:
        LavaRest(lava.url, "tok-abc").discover_event_socket()
    assert info.value.kind == "server_error" and info.value.kind in TRANSIENT_DISCOVERY
    lava.fault = None
    assert LavaRest(lava.url, "tok-abc").discover_event_socket()[0].startswith("tcp://")
    lava.event_socket = "udp://lava:5500"
    with pytest.raises(LavaError) as info:
        LavaRest(lava.url, "tok-abc").discover_event_socket()
    assert info.value.kind not in TRANSIENT_DISCOVERY


def test_the_websockets_credentials_say_their_lab_once_in_a_while_and_never_follow_a_redirect(
        lava, caplog):
    """A reach audit: a lab whose token LAVA refused logged "could not ask LAVA whose token this is
    (LavaError)" before each WebSocket connection (36 lines in 5 minutes), naming neither the lab
    nor why; and once LAVA's URL redirected elsewhere, the WebSocket kept sending the token."""
    from types import SimpleNamespace

    from dashboard import factory

    client = LavaRest(lava.url, "tok-abc")
    lab = SimpleNamespace(name="east", reconciler=SimpleNamespace(rest=client))
    headers = factory._ws_credentials(lab, "tok-abc")
    lava.fault = "auth"
    with caplog.at_level("WARNING", logger="dashboard"):
        said = [headers() for _ in range(5)]
    assert said == [{"Authorization": "Token tok-abc"}] * 5
    lines = [r.getMessage() for r in caplog.records if "whose token" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("lab east: could not ask LAVA whose token this "
                                                   "is (LAVA refused /api/v0.2/system/whoami/ (HTTP 403)"), lines
    assert "tok-abc" not in lines[0]
    lava.fault, lava.redirect_to = "redirect", "https://127.0.0.1:1"
    headers()  # its whoami meets the redirect
    assert headers() == {} and client.token_withheld
    # Past the quiet, still none, until a request with the token is answered (a review: after
    # each quiet the WebSocket's reconnections sent it in clear until a REST read tried again).
    client._redirected = (0.0, client._redirected[1])  # (the quiet over)
    assert not client.token_withheld and headers() == {}
    lava.fault = None
    assert client.whoami() == "admin" and headers()["Authorization"].startswith("Basic ")
