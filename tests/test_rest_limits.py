"""What LAVA may answer (docs/security.md): every exchange ends by its deadline however slowly LAVA
(or a proxy) sends, every answer and every listing is bounded in size, and the REST source says so
where its other errors are (/healthz `lava`, its log). A real HTTP server on 127.0.0.1 stands in
for LAVA: the fake LAVA of the other tests, with a few faults of its own, and a raw socket server
for what werkzeug cannot do (drip the headers)."""
import json
import socket
import threading
import time

import pytest
from werkzeug.wrappers import Response

from dashboard.sources import rest as rest_module
from dashboard.sources.rest import (ANSWER_DEADLINE_FACTOR, MAX_ANSWER_BYTES, LavaError, LavaRest)
from tests.fake_lava import API, FakeLava
from tests.fixtures import rest
from tests.helpers import AppProcess, TestPublisher, wait_until

TOKEN = "tok-abc-limits"
DRIP_INTERVAL = 0.4  # s between two bytes: the review's reproduction


class BoundedLava(FakeLava):
    """The fake LAVA, and: `drip` (a path → its answer sent a byte every DRIP_INTERVAL s), `huge`
    (a path → an answer of that many bytes, with its length or without: `huge_length`)."""

    def __init__(self, **kwargs):
        self.drip, self.huge, self.huge_length = set(), {}, True
        self.gone = threading.Event()  # set at close: a dripping answer stops
        super().__init__(**kwargs)

    def route(self, req):
        if req.path in self.drip:
            body = json.dumps({"user": "admin", "pad": "x" * 30}).encode()
            return Response(self._dripping(body), 200, content_type="application/json",
                            headers={"Content-Length": str(len(body))})
        if req.path in self.huge:
            size = self.huge[req.path]
            headers = {"Content-Length": str(size)} if self.huge_length else {}
            return Response(self._padded(size), 200, content_type="application/json",
                            headers=headers)
        return super().route(req)

    def _dripping(self, body):
        for byte in body:
            if self.gone.wait(DRIP_INTERVAL):
                return
            yield bytes([byte])

    def _padded(self, size):
        """A devices page of `size` bytes: one device whose description is the padding."""
        head = b'{"count": 1, "next": null, "previous": null, "results": [{"hostname": "big-01", ' \
               b'"device_type": "qemu", "state": "Idle", "health": "Good", "worker_host": null, ' \
               b'"description": "'
        tail = b'"}]}'
        yield head
        left, piece = size - len(head) - len(tail), b"x" * (64 << 10)
        while left > 0:
            chunk = piece[:left]
            left -= len(chunk)
            yield chunk
        yield tail

    def close(self):
        self.gone.set()
        super().close()


@pytest.fixture
def lava():
    server = BoundedLava(token=TOKEN)
    yield server
    server.close()


class HeaderDrip:
    """A raw HTTP server on 127.0.0.1 that sends even its status line and headers a byte every
    DRIP_INTERVAL s (werkzeug sends the headers at once)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.gone = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"
                      b'\r\n{"user": "slow"}')
            for byte in answer:
                if self.gone.wait(DRIP_INTERVAL):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self):
        self.gone.set()
        self.sock.close()


def timed(call):
    """(the LavaError `call` raised, seconds it took)."""
    started = time.monotonic()
    with pytest.raises(LavaError) as info:
        call()
    return info.value, time.monotonic() - started


def test_a_body_sent_a_byte_at_a_time_ends_at_the_deadline(lava):
    """The review's reproduction: one byte every 0.4 s took whoami() 11.2 s with timeout=1.0."""
    lava.drip.add(f"{API}/system/whoami/")
    client = LavaRest(lava.url, TOKEN, timeout=1.0)
    assert client.deadline == ANSWER_DEADLINE_FACTOR * 1.0
    err, took = timed(client.whoami)
    assert err.kind == "timeout" and "deadline" in str(err) and "2 s" in str(err), str(err)
    # Not before the deadline; after it, by what a loaded machine may take to wake the reader
    # (without the deadline: 23 s, a byte every 0.4 s).
    assert client.deadline - 0.1 <= took < client.deadline + 3.0, took
    assert TOKEN not in str(err)


def test_headers_sent_a_byte_at_a_time_end_at_the_deadline_too():
    server = HeaderDrip()
    try:
        err, took = timed(LavaRest(server.url, TOKEN, timeout=1.0).whoami)
    finally:
        server.close()
    assert err.kind == "timeout" and "deadline" in str(err), str(err)
    assert took < 5.0, took  # the deadline is 2 s; without it, 35 s (a byte every 0.4 s)


def test_a_server_that_says_nothing_still_gets_the_read_timeout(lava):
    """The deadline bounds the whole; each read still waits at most the timeout, and says so."""
    lava.delay = 6.0  # far past the timeout, so that the bound below leaves a loaded machine room
    err, took = timed(LavaRest(lava.url, TOKEN, timeout=0.5).whoami)
    assert err.kind == "timeout" and "within 0.5 s" in str(err) and "deadline" not in str(err)
    assert took < 4.0, took  # 0.5 s; LAVA's answer would have come after 6


def test_the_xmlrpc_lookup_is_bounded_like_every_exchange(lava):
    """master_config answers nonsense, so discovery asks XML-RPC, which drips: it ends at the
    deadline, and the discovery fails as master_config did, `bad_json` (a page that is not
    LAVA's: asked again later, since a reach audit). (A 1 s timeout for a byte every 0.4 s: with
    0.5 s, once under the whole suite, a byte came late and made it a plain timeout.)"""
    lava.fault = "badjson"
    lava.drip.add("/RPC2")
    err, took = timed(LavaRest(lava.url, TOKEN, timeout=1.0).discover_event_socket)
    assert err.kind == "bad_json" and "master_config" in str(err), str(err)
    assert lava.requests[-1][0] == "/RPC2"  # asked, and given up at its deadline:
    assert took < 6.0, took  # its deadline is 2 s; without it, 23 s (a byte every 0.4 s)


@pytest.mark.parametrize("with_length", [True, False])
def test_an_answer_over_the_limit_is_refused(lava, with_length):
    """With a Content-Length over the limit nothing of the body is read; without one, reading
    stops one byte past the limit. Either way: kind too_large, saying the limit."""
    lava.huge[f"{API}/devices/"] = 8 << 20
    lava.huge_length = with_length
    client = LavaRest(lava.url, TOKEN, timeout=5, max_bytes=256 << 10)
    err, took = timed(lambda: client.list_all(f"{API}/devices/"))
    assert err.kind == "too_large" and "larger than 262,144 bytes" in str(err), str(err)
    assert took < 2.0


def test_listings_are_bounded_in_results_and_in_bytes(lava):
    client = LavaRest(lava.url, TOKEN, page_size=3, max_results=5)
    err, _ = timed(lambda: client.list_all(f"{API}/devices/", {"all": 1}))  # 8 devices
    assert err.kind == "too_large" and "more than 5 results" in str(err), str(err)
    assert len(client.list_all(f"{API}/devices/", {"all": 1}, limit=5)) == 5  # asked for 5: fine
    # Each page of 3 devices is about 900 bytes: the third does not fit in 2,000.
    client = LavaRest(lava.url, TOKEN, page_size=3, max_list_bytes=2000)
    err, _ = timed(lambda: client.list_all(f"{API}/devices/", {"all": 1}))
    assert err.kind == "too_large" and "add up to more than 2,000 bytes" in str(err), str(err)
    # The defaults take the whole lab.
    assert len(LavaRest(lava.url, TOKEN, page_size=3).list_all(f"{API}/devices/", {"all": 1})) == 8


def test_the_default_limit_leaves_room_for_a_real_lava_s_pages():
    """A page of LavaRest's 100 jobs, at the biggest job of the captured LAVA 2023.01 answers
    (its definition included), is far under MAX_ANSWER_BYTES."""
    biggest = max(len(json.dumps(job)) for name in ("jobs", "jobs_state_Finished")
                  for job in rest(name)["results"])
    page = 100 * biggest + 200
    assert 50 * page < MAX_ANSWER_BYTES, (page, MAX_ANSWER_BYTES)
    assert LavaRest("http://127.0.0.1:1").page_size == 100


def test_a_job_log_is_still_cut_at_its_own_cap_not_refused(lava):
    lava.logs[1] = [f"- {{dt: '2026-01-01T00:00:00', lvl: info, msg: line {i}}}"
                    for i in range(100)]
    text, cut = LavaRest(lava.url, TOKEN).get_text(f"{API}/jobs/1/logs/", max_bytes=300)
    assert cut and len(text) == 300


def _reconcile_errors(app):
    lava = app.json("/healthz")["lava"]
    return lava["error_kind"], lava["error"], lava["failures"]


def test_the_app_counts_shows_and_logs_an_oversize_answer_once(lava, tmp_path):
    """A real LAVA's devices page over MAX_ANSWER_BYTES (16 MiB): the reconcile fails with
    too_large, counted and shown in /healthz `lava`, the log saying it once however often it is
    retried; the dashboard keeps answering."""
    lava.huge[f"{API}/devices/"] = MAX_ANSWER_BYTES + (1 << 20)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    publisher = TestPublisher()
    app = AppProcess("--lava-url", lava.url, "--lava-token-file", str(token_file),
                     "--zmq", publisher.endpoint, "--access", "open")
    try:
        wait_until(lambda: _reconcile_errors(app)[2].get("too_large", 0) >= 2, timeout=20,
                   what="two failed reconciles")
        kind, error, failures = _reconcile_errors(app)
        assert kind == "too_large" and "16 MiB" in error and "/devices/" in error, error
        assert app.get("/healthz")[0] in (200, 503)
        log = app.log_text()
        assert log.count("the limit of one answer") == 1, log[-3000:]
        assert TOKEN not in log and TOKEN not in json.dumps(app.json("/healthz"))
    finally:
        app.stop()
        publisher.close()


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_the_app_ends_a_dripping_answer_at_the_deadline(lava, tmp_path, async_mode):
    """A LAVA (or proxy) that drips its devices page: the reconcile ends at the deadline
    (2 × --lava-timeout) with either concurrency library's green sockets, counted and shown as a
    timeout that says so. (A timeout of 2 s for a byte every 0.4 s: with 0.5 s, a busy test
    process that sent one byte 0.1 s late made it a plain "no answer within 0.5 s", and with 1 s,
    once, under the whole suite, "no answer within 1 s".)"""
    lava.drip.add(f"{API}/devices/")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    publisher = TestPublisher()
    app = AppProcess("--lava-url", lava.url, "--lava-token-file", str(token_file),
                     "--zmq", publisher.endpoint, "--access", "open", "--lava-timeout", "2",
                     async_mode=async_mode)
    try:
        wait_until(lambda: _reconcile_errors(app)[2].get("timeout", 0) >= 1, timeout=20,
                   what="a reconcile ended by its deadline")
        kind, error, _ = _reconcile_errors(app)
        assert kind == "timeout" and "deadline" in error and "4 s" in error, error
    finally:
        app.stop()
        publisher.close()


def test_the_deadline_is_documented():
    from tests.helpers import ROOT

    security = (ROOT / "docs" / "security.md").read_text()
    assert f"{ANSWER_DEADLINE_FACTOR} ×" in security and "16 MiB" in security
    assert rest_module.MAX_LIST_RESULTS == 100_000 and "100,000 results" in security
