"""The REST client against a hostile LAVA (or proxy): redirects that would drop the token or leave
the origin, endless streams that would hold the green hub, listings that lose pages or loop, a
`next` of the wrong type, a proxy's reason phrase, an IPv6 lava_url, a page of millions of empty
records or of more results than asked for. Raw HTTP servers on 127.0.0.1 (a thread each, per
test) stand in for them; the fake LAVA of the other tests, and the app, where the app's count of
a refused page is the point."""
import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import types

import pytest
from werkzeug.wrappers import Response

from dashboard.live.reconcile import Reconciler
from dashboard.sources.rest import API, MAX_ANSWER_BYTES, LavaError, LavaRest, _RedirectHandler
from tests.fake_lava import FakeLava
from tests.fixtures import rest
from tests.helpers import AppProcess, TestPublisher, wait_until

TOKEN = "tok-hostile-123"
PROXY_USER, PROXY_PASSWORD = "puser", "ppass-secret"
PROXY_BASIC = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class RawServer:
    """A raw HTTP server (a thread per connection): `answer(head, server)` gives the bytes to send,
    or an iterable of them sent until the client goes or the server is closed. Each request's head
    is kept in `heads`."""

    def __init__(self, answer, host="127.0.0.1", family=socket.AF_INET):
        self.answer, self.heads, self.closed = answer, [], threading.Event()
        self.sock = socket.socket(family)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host if family == socket.AF_INET else f'[{host}]'}:{self.port}"
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            text = head.decode("latin-1")
            self.heads.append(text)
            out = self.answer(text, self)
            for piece in [out] if isinstance(out, bytes) else out:
                if self.closed.is_set():
                    break
                conn.sendall(piece)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.closed.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def serve():
    """Start RawServers; all closed at the test's end."""
    servers = []

    def start(answer, **kwargs):
        servers.append(RawServer(answer, **kwargs))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


@pytest.fixture
def no_proxies(monkeypatch):
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def target(head):
    return head.split(" ", 2)[1]


def header(head, name):
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def answer(status="200 OK", body=b"", headers=()):
    body = body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(body)}",
             "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def redirect(location):
    return answer("302 Found", b"", [f"Location: {location}"])


def whoami(head, _server):
    """A LAVA's whoami: the user only to the token."""
    user = "admin" if header(head, "Authorization") == f"Token {TOKEN}" else None
    return answer(body={"user": user})


# 1. Redirects

def test_a_redirect_within_lava_s_origin_keeps_the_token(serve, no_proxies):
    def lava(head, server):
        if "again=1" not in target(head):  # LAVA adds a query, as a login middleware may
            return redirect(f"{server.url}{target(head)}?again=1")
        return whoami(head, server)
    server = serve(lava)
    assert LavaRest(server.url, TOKEN, timeout=3).whoami() == "admin"
    assert [header(h, "Authorization") for h in server.heads] == [f"Token {TOKEN}"] * 2


@pytest.mark.parametrize("elsewhere", ["other_port", "other_host", "other_scheme"])
def test_a_redirect_out_of_lava_s_origin_is_refused_naming_where(serve, no_proxies, elsewhere):
    other = serve(whoami)
    port = {"other_port": other.port}.get(elsewhere)
    host = "localhost" if elsewhere == "other_host" else "127.0.0.1"
    scheme = "https" if elsewhere == "other_scheme" else "http"

    def lava(head, server):
        where = f"{scheme}://user:pw-secret@{host}:{port or server.port}/lava{API}/system/whoami/"
        return redirect(where + f"?token={TOKEN}")
    server = serve(lava)
    with pytest.raises(LavaError) as info:
        LavaRest(server.url, TOKEN, timeout=3).whoami()
    assert info.value.kind == "redirected"
    message = str(info.value)
    assert f"{scheme}://{host}:{port or server.port}/lava" in message and "set lava_url" in message
    assert "pw-secret" not in message and TOKEN not in message
    assert other.heads == [] and len(server.heads) == 1


def test_a_redirect_to_ftp_is_refused_at_once(serve, no_proxies):
    ftp_seen = []
    ftp = socket.socket()
    ftp.bind(("127.0.0.1", 0))
    ftp.listen(4)
    ftp.settimeout(0.5)
    ftp_port = ftp.getsockname()[1]

    def drip():  # an FTP server that would send its banner a byte every 5 s
        try:
            conn, _ = ftp.accept()
            ftp_seen.append(conn)
        except OSError:
            pass
    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        server = serve(lambda head, s: redirect(f"ftp://127.0.0.1:{ftp_port}/x"))
        started = time.monotonic()
        with pytest.raises(LavaError) as info:
            LavaRest(server.url, TOKEN, timeout=1).get(f"{API}/system/version/")
        assert info.value.kind == "redirected" and time.monotonic() - started < 1
        thread.join(3)
        assert ftp_seen == []
    finally:
        for conn in ftp_seen:
            conn.close()
        ftp.close()


def test_the_opener_speaks_http_and_https_only():
    from dashboard.sources import rest as rest_module
    opener = rest_module._opener(time.monotonic() + 1)
    assert {"ftp", "file", "data"}.isdisjoint(opener.handle_open)


def test_a_redirect_carries_the_token_and_never_the_proxy_s_credential():
    import urllib.request
    request = urllib.request.Request("http://lava.example/api/v0.2/jobs/")
    request.add_unredirected_header("Authorization", f"Token {TOKEN}")
    request.add_header("Proxy-authorization", f"Basic {PROXY_BASIC}")
    fp = types.SimpleNamespace(read=lambda *a: b"", close=lambda: None)
    new = _RedirectHandler().redirect_request(request, fp, 302, "Found", {},
                                              "http://lava.example/api/v0.2/jobs/?x=1")
    assert new.unredirected_hdrs == {"Authorization": f"Token {TOKEN}"}
    assert "Proxy-authorization" not in new.headers


def test_the_proxy_s_credential_does_not_follow_a_redirect_to_a_direct_host(serve, no_proxies):
    """http_proxy with a user and password, no_proxy=localhost; LAVA (through the proxy) redirects
    to localhost: the request is refused, not sent with the proxy's credential."""
    direct = serve(whoami, host="127.0.0.1")

    def lava(head, server):
        return redirect(f"http://localhost:{direct.port}{API}/system/whoami/")
    lava_server = serve(lava)

    def proxy(head, server):  # forwards one request, its answer back
        url = target(head)
        hostport, path = url.split("/", 3)[2], "/" + url.split("/", 3)[3]
        host, port = hostport.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=3) as upstream:
            upstream.sendall(head.replace(url, path, 1).encode("latin-1"))
            data = b""
            while True:
                piece = upstream.recv(65536)
                if not piece:
                    break
                data += piece
        return data
    proxy_server = serve(proxy)
    no_proxies.setenv("http_proxy", f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:"
                                    f"{proxy_server.port}")
    no_proxies.setenv("no_proxy", "localhost")
    with pytest.raises(LavaError) as info:
        LavaRest(lava_server.url, TOKEN, timeout=3).whoami()
    assert info.value.kind == "redirected"
    assert direct.heads == []
    assert PROXY_PASSWORD not in str(info.value) and PROXY_BASIC not in str(info.value)


# 2. The green hub is given up while an endless answer is read

CHILD = r"""
import sys, time
sys.path.insert(0, ".")
from dashboard import green
green.monkey_patch(sys.argv[1])
from dashboard.sources.rest import LavaRest, LavaError
if sys.argv[1] == "eventlet":
    import eventlet as hub
else:
    import gevent as hub
ticks, done, during = [], [], []
def ticker():
    while not done and len(ticks) < 10000:
        hub.sleep(0.02)
        ticks.append(time.monotonic())
hub.spawn(ticker)
hub.sleep(0.1)
for port in sys.argv[2:]:
    began = time.monotonic()
    try:
        LavaRest(f"http://127.0.0.1:{port}", "tok", timeout=1).get("/api/v0.2/system/version/")
        print("answered")
    except LavaError as err:
        print(err.kind)
    finally:
        ended = time.monotonic()
        during.append(sum(began < t < ended for t in ticks))
done.append(1)
hub.sleep(0.05)
print(",".join(map(str, during)))
"""


def endless_chunks(head, server):
    yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    blob = b"1\r\n \r\n" * 20000
    while True:
        yield blob


def endless_continue(head, server):
    blob = b"HTTP/1.1 100 Continue\r\n\r\n" * 2000
    while True:
        yield blob


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_an_endless_answer_does_not_hold_the_green_hub(serve, async_mode):
    chunks, continues = serve(endless_chunks), serve(endless_continue)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", CHILD, async_mode,
                          str(chunks.port), str(continues.port)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    lines = out.stdout.split()
    assert lines[:2] == ["timeout", "timeout"], out.stdout + out.stderr[-2000:]
    # Each exchange lasts its 2 s deadline, for which the hub was held before: its ticker, every
    # 20 ms, ran once in each (at the connect); now it is given up every 64 reads, and the ticker
    # runs 77 to 100 times in each here. Counted, not timed: a bound on the ticker's longest gap
    # is what a busy machine broke in another test; 10 leaves room for a very busy one.
    during = [int(n) for n in lines[2].split(",")]
    assert len(during) == 2 and all(n >= 10 for n in during), f"the hub's ticks during each: {during}"


# 3, 4, 5. Listings

def pages(results_of, count=None):
    """A devices listing: page n (offset in the query) → (its results, its next)."""
    def lava(head, server):
        path = target(head)
        page = int(path.partition("page=")[2] or 0) if "page=" in path else 0
        results, nxt = results_of(page, server)
        body = {"count": count, "next": nxt, "previous": None, "results": results}
        return answer(body=body)
    return lava


def test_a_listing_shorter_than_its_count_is_refused(serve, no_proxies):
    def results_of(page, server):  # LAVA counts 8; page 1 lost all but one of its devices
        nxt = f"{server.url}{API}/devices/?all=1&page=1" if page == 0 else None
        return [{"hostname": f"d{page}"}], nxt
    server = serve(pages(results_of, count=8))
    with pytest.raises(LavaError) as info:
        LavaRest(server.url, TOKEN, timeout=3).list_all(f"{API}/devices/", {"all": 1})
    assert info.value.kind == "bad_shape"
    assert str(info.value) == f"LAVA said 8 results of {API}/devices/, listed 2"


def test_a_listing_of_several_pages_may_miss_a_few_that_left_it_while_it_was_read(serve,
                                                                                 no_proxies):
    """A job that finished while its list was read moves those after it a place up, past a page's
    edge: a few (SHIFTED, or 5 % of the count) missing across pages are no lost page. On one
    page, any shortfall is refused."""
    def results_of(page, server):  # 2 pages of 1, where LAVA counted 4
        nxt = f"{server.url}{API}/devices/?all=1&page=1" if page == 0 else None
        return [{"hostname": f"d{page}"}], nxt
    server = serve(pages(results_of, count=4))
    assert len(LavaRest(server.url, TOKEN, timeout=3).list_all(f"{API}/devices/")) == 2

    def one_page(page, server):
        return [{"hostname": "d0"}], None
    server = serve(pages(one_page, count=2))
    with pytest.raises(LavaError, match="LAVA said 2 results"):
        LavaRest(server.url, TOKEN, timeout=3).list_all(f"{API}/devices/")


def test_a_listing_as_long_as_its_count_or_longer_is_taken(serve, no_proxies):
    def results_of(page, server):
        nxt = f"{server.url}{API}/devices/?all=1&page=1" if page == 0 else None
        return [{"hostname": f"d{page}"}, {"hostname": f"e{page}"}], nxt
    server = serve(pages(results_of, count=3))  # one more since the count: it is listed
    assert len(LavaRest(server.url, TOKEN, timeout=3).list_all(f"{API}/devices/")) == 4


def test_a_next_page_already_read_is_refused(serve, no_proxies):
    def results_of(page, server):
        if len(server.heads) > 20:  # bounded: without the check it would go on 10,000 times
            raise OSError("enough")
        return [], f"{server.url}{API}/devices/?all=1&limit=100&page=1"
    server = serve(pages(results_of, count=5))
    with pytest.raises(LavaError) as info:
        LavaRest(server.url, TOKEN, timeout=3).list_all(f"{API}/devices/", {"all": 1})
    assert info.value.kind == "bad_shape" and "already read" in str(info.value)
    assert len(server.heads) == 2  # the first page and page 1; page 1 again is not fetched


@pytest.mark.parametrize("nxt", [5, ["http://x/api/v0.2/devices/?page=1"], True, {"a": 1},
                                 "http://[::1/api/v0.2/devices/"])
def test_a_next_that_is_not_a_url_is_bad_shape(serve, no_proxies, nxt):
    server = serve(pages(lambda page, s: ([{"hostname": "a"}], nxt), count=2))
    with pytest.raises(LavaError) as info:
        LavaRest(server.url, TOKEN, timeout=3).list_all(f"{API}/devices/")
    assert info.value.kind == "bad_shape"


def test_learning_public_jobs_survives_any_failure(serve, no_proxies):
    """A LAVA answer of the wrong shape, and a bug, each leave which jobs are public unknown
    (None: unknown stays private), logged, never raised (the reconcile would fail every time)."""
    server = serve(pages(lambda page, s: ([{"id": 1}], 5), count=2))
    reconciler = Reconciler.__new__(Reconciler)
    reconciler.max_finished, reconciler.where = 10, " (lab east)"
    reconciler.public = (LavaRest(server.url, timeout=3), None)  # a `next` of 5
    assert reconciler._read_public() is None
    assert server.heads  # (it did ask)

    def broken(max_finished):
        raise RuntimeError("a bug")
    reconciler.public = (types.SimpleNamespace(visible_job_ids=broken), None)
    assert reconciler._read_public() is None


# 6. A proxy's reason phrase

def test_a_proxy_s_reason_phrase_is_never_quoted(serve, no_proxies):
    def proxy(head, server):  # refuses CONNECT, quoting what it was sent
        said = header(head, "Proxy-Authorization")
        return f"HTTP/1.1 407 denied for Proxy-Authorization: {said}\r\n" \
               f"Content-Length: 0\r\n\r\n".encode()
    proxy_server = serve(proxy)
    no_proxies.setenv("https_proxy", f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:"
                                     f"{proxy_server.port}")
    with pytest.raises(LavaError) as info:
        LavaRest("https://127.0.0.1:9", TOKEN, timeout=3).whoami()
    message = str(info.value)
    assert header(proxy_server.heads[0], "Proxy-Authorization") == f"Basic {PROXY_BASIC}"
    assert info.value.kind == "unreachable" and "HTTP 407" in message
    assert PROXY_BASIC not in message and "denied" not in message
    assert PROXY_PASSWORD not in message


# 7. An IPv6 lava_url

def test_an_ipv6_lava_url_keeps_its_brackets(serve, no_proxies):
    assert LavaRest("http://[::1]:8000/lava/").base == "http://[::1]:8000/lava"
    try:
        server = serve(whoami, host="::1", family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    assert LavaRest(server.url, TOKEN, timeout=3).whoami() == "admin"


# 8. A page holding more than the records asked for

def empty_records_page(size=MAX_ANSWER_BYTES - 1024):
    """A devices page of `size` bytes whose results are `{}` items: about 4 million records, where
    100 were asked for (json.loads made 500 MiB of it, and held the hub 2.7 s)."""
    head = b'{"count": 100, "next": null, "previous": null, "results": ['
    item, tail = b"{}, ", b"{}]}"
    return head + item * ((size - len(head) - len(tail)) // len(item)) + tail


def test_a_page_of_millions_of_empty_records_is_refused_before_it_is_parsed(serve, no_proxies):
    """Its commas and brackets are counted (in C) before anything is parsed: more JSON values
    than the 100 records asked for could hold is too_large, and the read costs about the
    answer's bytes, not the objects of 4 million records."""
    body = empty_records_page()
    whole = answer(body=body)  # made before memory is measured: the server sends it as it is
    server = serve(lambda head, s: whole)
    client = LavaRest(server.url, TOKEN, timeout=10)
    tracemalloc.start()
    try:
        with pytest.raises(LavaError) as info:
            client.list_all(f"{API}/devices/", {"all": 1})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(body) > 16_000_000 and peak < 96 << 20, f"{peak / (1 << 20):.0f} MiB at the peak"
    assert info.value.kind == "too_large", str(info.value)
    assert "more than 100 records could hold" in str(info.value)
    assert "refused unparsed" in str(info.value)


def test_a_page_holding_more_results_than_asked_for_is_refused(serve, no_proxies):
    """LavaRest asks for pages of its page size (or fewer, for a listing's `limit`): a page of
    more is no LAVA's, and is refused (bad_shape), however few bytes its records take; a page of
    as many as asked for is read."""
    def results_of(n):
        return lambda page, server: ([{"hostname": f"d{i}"} for i in range(n)], None)
    for asked, served in ((100, 101), (3, 4), (3, 400)):
        server = serve(pages(results_of(served), count=served))
        with pytest.raises(LavaError) as info:
            LavaRest(server.url, TOKEN, timeout=3, page_size=asked).list_all(f"{API}/devices/")
        assert info.value.kind == "bad_shape"
        assert str(info.value) == (f"LAVA answered {served} results of {API}/devices/ on one "
                                   f"page, more than the {asked} asked for")
        server = serve(pages(results_of(asked), count=asked))
        assert len(LavaRest(server.url, TOKEN, timeout=3, page_size=asked).list_all(
            f"{API}/devices/")) == asked
    server = serve(pages(results_of(5), count=5))  # a listing's own limit: its page is asked for 2
    with pytest.raises(LavaError, match="more than the 2 asked for"):
        LavaRest(server.url, TOKEN, timeout=3).list_all(f"{API}/jobs/", limit=2)


def test_a_real_lava_s_pages_fit_the_count_of_values_with_room_to_spare():
    """The captured LAVA 2023.01 answers: a page of 100 of its biggest jobs (definitions included)
    holds a tenth of what a page of 100 may, one job a hundredth of what a record may."""
    from dashboard.sources import rest as rest_module

    jobs = [job for name in ("jobs", "jobs_state_Finished") for job in rest(name)["results"]]
    biggest = max(rest_module._values_at_most(json.dumps(job).encode()) for job in jobs)
    page = rest_module.MAX_ANSWER_VALUES + 100 * rest_module.MAX_RECORD_VALUES
    assert 100 * biggest < page / 10
    assert biggest < rest_module.MAX_RECORD_VALUES / 100


class FloodingLava(FakeLava):
    """The fake LAVA; while `flood` is set, its devices page is empty_records_page()."""

    flood = True

    def __init__(self, **kwargs):
        self.flood_page = empty_records_page()
        super().__init__(**kwargs)

    def route(self, req):
        if self.flood and req.path == f"{API}/devices/":
            return Response(self.flood_page, 200, content_type="application/json")
        return super().route(req)


def test_the_app_counts_a_flooding_page_keeps_serving_and_loads_once_it_is_gone(tmp_path):
    """The reconcile fails with too_large, counted and shown in /healthz `lava`; the app answers
    throughout; once LAVA's pages are LAVA's again, the next retry loads them."""
    lava = FloodingLava(token=TOKEN)
    publisher = TestPublisher()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    app = AppProcess("--lava-url", lava.url, "--lava-token-file", str(token_file),
                     "--zmq", publisher.endpoint, "--access", "open")
    try:
        status = wait_until(lambda: (s := app.json("/healthz")["lava"])["failures"].get(
            "too_large", 0) >= 2 and s, timeout=30, what="two refused reconciles")
        assert status["loaded"] is False and "refused unparsed" in status["error"]
        assert app.alive() and app.get("/api/v1/state")[0] == 200
        lava.flood = False
        wait_until(lambda: app.json("/healthz")["lava"]["loaded"], timeout=30,
                   what="LAVA's state loaded once its pages are whole")
        hosts = {d["hostname"] for d in app.json("/api/v1/state")["devices"]}
        assert {d["hostname"] for d in rest("devices_all")["results"]} <= hosts
    finally:
        app.stop()
        publisher.close()
        lava.close()
