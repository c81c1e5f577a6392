"""lava-publisher's WebSocket as an event source, with real parts: an aiohttp server that sends what
lava-publisher's handler sends (tests/lava_ws.py), the app as a subprocess under eventlet and gevent,
a real Socket.IO client, and a fake LAVA behind the same server for discovery's fallback."""
import json
import uuid

import pytest

from tests.fake_lava import FakeLava
from tests.fixtures import captured_frames
from tests.helpers import AppProcess, LiveView, free_port, wait_until
from tests.lava_ws import LavaWebSocket

TOKEN = "ws-source-token-0123456789"


def device(host, health="Good", uid=None):
    return [b"org.lavasoftware.device", (uid or uuid.uuid4().hex).encode(), b"2026-11-30T10:00:00",
            b"lavaserver", json.dumps({"device": host, "device_type": "qemu", "state": "Idle",
                                       "health": health, "worker": "w1"}).encode()]


def source_of(app, kind):
    return [s for s in app.json("/healthz")["sources"] if s["kind"] == kind]


@pytest.fixture(params=["eventlet", "gevent"])
def ws_lab(request):
    server = LavaWebSocket()
    app = AppProcess("--event-source", server.url, "--max-message-size", "65536",
                     async_mode=request.param)
    try:
        server.wait_for_clients()
        yield server, app
    finally:
        app.stop()
        server.close()


def test_events_over_the_websocket_reach_clients_like_zmq_ones(ws_lab):
    server, app = ws_lab
    view = LiveView(app.url).connect()
    try:
        frames = captured_frames()
        for f in frames:
            server.send(f)
        hosts = {json.loads(f[4])["device"] for f in frames if f[0].endswith(b".device")}
        wait_until(lambda: hosts <= set(view.objects["device"]), what="the captured devices")
        # The devices' messages are in; the capture's later ones (jobs, workers, test-shell
        # messages) may still be on their way: every one of them is received.
        wait_until(lambda: source_of(app, "websocket")[0]["received"] == len(frames),
                   what="every captured message received")
        [status] = source_of(app, "websocket")
        assert status["state"] == "connected" and status["name"] == server.url
        assert status["received"] == len(frames)
        # The same uuid again is a duplicate, as over ZMQ.
        server.send(frames[0])
        wait_until(lambda: app.json("/healthz")["counters"]["duplicates"] == 1, what="a duplicate")
        assert app.json("/healthz")["model"]["devices"] == len(view.objects["device"])
    finally:
        view.close()


def test_bad_messages_are_counted_and_cost_only_themselves(ws_lab):
    server, app = ws_lab
    view = LiveView(app.url, {"kinds": ["device"]}).connect()
    try:
        for text in ("not json", '{"a": 1}', '["a", "b"]', '["t", "u", "d", "n", 5]', "[" * 100_000):
            server.send_raw(text)
        server.send(device("after-bad"))
        wait_until(lambda: "after-bad" in view.objects["device"], what="a good event after bad ones")
        rejected = app.json("/healthz")["counters"]["rejected"]
        assert rejected["not_json"] == 2 and rejected["frame_count"] == 2
        assert rejected["bad_type"] == 1
        [status] = source_of(app, "websocket")
        assert status["state"] == "connected" and status["rejected"] == 5 and status["disconnects"] == 0
        # Over 4 × --max-message-size (65,536 here): refused by the length in its frame header,
        # unread, and the connection made anew; the next event arrives on the new one.
        server.send_raw('["org.lavasoftware.device", "u", "d", "n", "' + "x" * 300_000 + '"]')
        wait_until(lambda: app.json("/healthz")["counters"]["rejected"]["oversized"] == 1,
                   what="the oversized message counted")
        wait_until(lambda: source_of(app, "websocket")[0]["disconnects"] == 1, what="a new connection")
        server.wait_for_clients()
        wait_until(lambda: source_of(app, "websocket")[0]["state"] == "connected", what="connected")
        server.send(device("after-oversized"))
        wait_until(lambda: "after-oversized" in view.objects["device"], what="an event after it")
        status, _, body = app.get("/api/v1/state")  # still answering, with what it was sent
        assert status == 200 and {"after-bad", "after-oversized"} <= {
            d["hostname"] for d in body["devices"]}, status
    finally:
        view.close()


def test_the_source_comes_back_after_the_server_drops_it(ws_lab):
    server, app = ws_lab
    view = LiveView(app.url, {"kinds": ["device"]}).connect()
    try:
        server.drop_clients()
        wait_until(lambda: source_of(app, "websocket")[0]["disconnects"] >= 1, timeout=15,
                   what="the disconnect counted")
        server.wait_for_clients()
        wait_until(lambda: source_of(app, "websocket")[0]["state"] == "connected", timeout=15,
                   what="connected again")
        server.send(device("after-reconnect"))
        wait_until(lambda: "after-reconnect" in view.objects["device"], what="an event after it")
    finally:
        view.close()


def test_discovery_falls_back_to_the_websocket_when_the_zmq_socket_is_firewalled(tmp_path):
    """LAVA names a ZMQ socket nobody can reach: the dashboard uses <lava-url>/ws/ instead, says
    why, and sends the token as lava-publisher wants it (Basic user:token), never showing it."""
    closed = free_port()  # nothing listens there
    lava = FakeLava(token=TOKEN, event_socket=f"tcp://127.0.0.1:{closed}")
    server = LavaWebSocket(upstream=lava.url)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    app = AppProcess("--lava-url", server.http_url, "--lava-token-file", str(token_file),
                     "--discovery-timeout", "1")
    try:
        server.wait_for_clients()
        wait_until(lambda: source_of(app, "websocket"), what="the WebSocket source in /healthz")
        header = server.authorizations[-1]
        assert LavaWebSocket.basic_user(header) == "admin"  # whoami said whose token it is
        assert header.startswith("Basic ") and TOKEN not in header  # base64, as Basic is
        log = app.log_text()
        assert f"tcp://127.0.0.1:{closed} cannot be reached within 1 s" in log
        assert f"using LAVA's WebSocket ws://127.0.0.1:{server.port}/ws/" in log
        server.send(device("qemu-01", "Bad"))  # (a board LAVA lists: LAVA's REST says Unknown)
        wait_until(lambda: any(d["hostname"] == "qemu-01" and d["health"] == "Bad"
                               for d in app.json("/api/v1/state")["devices"]),
                   what="an event over the fallback")
        assert not source_of(app, "zmq")
        assert TOKEN not in json.dumps(app.json("/healthz")) and TOKEN not in app.log_text()
    finally:
        app.stop()
        server.close()
        lava.close()


def test_a_reachable_zmq_socket_is_preferred(tmp_path):
    from tests.helpers import TestPublisher

    publisher = TestPublisher()
    lava = FakeLava(event_socket=publisher.endpoint)
    app = AppProcess("--lava-url", lava.url, "--discovery-timeout", "1", "--access", "open")
    try:
        publisher.wait_for_subscriber()
        assert [s["name"] for s in source_of(app, "zmq")] == [publisher.endpoint]
        assert not source_of(app, "websocket")
        assert "using that ZMQ socket" in app.log_text()
    finally:
        app.stop()
        publisher.close()
        lava.close()


def test_the_page_says_where_events_come_from(ws_lab, browser):
    """The footer names the source's kind and state in words; axe finds nothing serious in it."""
    from axe_playwright_python.sync_playwright import Axe

    from tests.test_accessibility_browser import problems

    server, app = ws_lab
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(app.url + "/")
        page.wait_for_selector("#connection[data-state=live]", timeout=10000)
        note = page.wait_for_selector('#sources-note .source[data-kind="websocket"]', timeout=5000)
        assert note.inner_text() == f"lava-publisher's WebSocket {server.url}: connected"
        assert note.get_attribute("data-state") == "connected"
        assert problems(Axe(), page) == []
    finally:
        context.close()
