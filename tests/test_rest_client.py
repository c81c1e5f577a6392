"""The LAVA REST/XML-RPC client against the fake LAVA server (a real HTTP server on 127.0.0.1)."""
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
