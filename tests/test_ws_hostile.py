"""What a hostile (or broken) WebSocket peer can do to the WebSocket source, with real parts: a raw
WebSocket server written here (real sockets on 127.0.0.1 and 127.0.0.2, a thread per connection),
the source in this process where its own behaviour is the point, and the app as a subprocess under
eventlet and gevent where the hub is (a /healthz watcher standing for every other client)."""
import base64
import hashlib
import json
import logging
import socket
import struct
import threading
import time

import pytest
import websocket

from dashboard.live.health import Health
from dashboard.sources import ws
from tests.helpers import AppProcess, wait_until
from tests.hostile import HealthWatch

TOKEN = "hostile-ws-token-0123456789"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- the hostile server ----------------------------------------------------------------------------
def frame(payload, opcode=1, fin=True):
    """One server frame (unmasked)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def in_fragments(body):
    """A text message as 1-byte fragments (legal, and each one a frame to read)."""
    return b"".join(frame(body[i:i + 1], opcode=0 if i else 1, fin=i == len(body) - 1)
                    for i in range(len(body)))


def lava(host):
    """lava-publisher's message about a device, as its WebSocket sends it."""
    data = json.dumps({"device": host, "device_type": "qemu", "state": "Idle", "health": "Good",
                       "worker": "w1"})
    return json.dumps(["org.lavasoftware.device", f"uuid-{host}-{time.monotonic_ns()}",
                       "2026-11-30T10:00:00", "lavaserver", data]).encode()


def upgrade(request, extra=b""):
    """The 101 answer to a request's head, with extra header lines."""
    key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key:"))
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n" + extra + b"\r\n")


class HostileServer:
    """Accepts connections on `host`, reads each request's head (kept in `requests`), then plays
    script(server, conn, head, index). Scripts wait on `stopped`, never sleep: close ends them."""

    def __init__(self, script, host="127.0.0.1"):
        self.script = script
        self.requests = []
        self.stopped = threading.Event()
        self.go = threading.Event()  # a script may wait for the test to say when
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.url = f"ws://{host}:{self.port}/ws/"
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        index = 0
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:  # the accept timeout, or closed
                continue
            thread = threading.Thread(target=self._serve, args=(conn, index), daemon=True)
            self.threads.append(thread)
            thread.start()
            index += 1

    def _serve(self, conn, index):
        conn.settimeout(10)
        try:
            conn = self.wrap(conn)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            self.requests.append(head)
            self.script(self, conn, head, index)
        except OSError:  # the client went away: what a script is often waiting for
            pass
        finally:
            conn.close()

    def wrap(self, conn):
        """The connection the script talks on (a subclass may put TLS on it)."""
        return conn

    def hold(self, seconds=30):
        """Keep a connection open (until closed)."""
        self.stopped.wait(seconds)

    def close(self):
        self.stopped.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(5)


@pytest.fixture
def servers():
    made = []

    def make(script, host="127.0.0.1"):
        made.append(HostileServer(script, host))
        return made[-1]
    yield make
    for server in made:
        server.close()


def in_process(url, **kwargs):
    """A WsSource here (its backoff waits recorded, not slept), and what it handled."""
    health, handled, waits = Health(), [], []
    status = health.add_source(ws.public_name(url), "websocket")
    kwargs = {"rng": lambda: 0.5, **kwargs}
    source = ws.WsSource(url, "", waits.append, status, kwargs.pop("max_message_size", 1 << 20),
                         **kwargs)
    return source, status, health, handled, waits


def run_briefly(source, handled, rounds=1, limit=10.0):
    """Run the source's loop for `rounds` connections in a thread; True if it was done in time."""
    thread = threading.Thread(target=source.run, args=(lambda st, f: handled.append(f), rounds),
                              daemon=True)
    thread.start()
    thread.join(limit)
    return not thread.is_alive()


def websocket_source(app):
    [status] = [s for s in app.json("/healthz")["sources"] if s["kind"] == "websocket"]
    return status


def devices(app):
    return {d["hostname"] for d in app.json("/api/v1/state")["devices"]}


# -- the handshake ---------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["another host", "another port"])
def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else(servers, caplog, target):
    """websocket-client followed up to 3 redirects with the same headers: the token went to
    whatever the Location named. Now a redirect is an error of the source, said, counted, logged,
    and retried with backoff; the token reaches nobody else."""
    elsewhere = servers(lambda server, conn, head, index: None,
                        "127.0.0.2" if target == "another host" else "127.0.0.1")

    def redirect(server, conn, head, index):
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {elsewhere.url}\r\nContent-Length: 0\r\n"
                     f"\r\n".encode())
    lab = servers(redirect)
    source, status, _, handled, waits = in_process(
        lab.url, headers=ws.authorization("alice", TOKEN), secrets=[TOKEN])
    with caplog.at_level(logging.INFO, logger="dashboard.sources.ws"):
        assert run_briefly(source, handled, rounds=2)
    assert len(lab.requests) == 2 and b"Authorization: Basic " in lab.requests[0]
    assert elsewhere.requests == []  # nobody else was asked anything
    assert "HTTP 302, a redirect, which is not followed" in status.detail
    assert "(redirect: 2 so far)" in status.detail and source.failures["redirect"] == 2
    assert status.as_dict()["failures"] == {"redirect": 2}  # /healthz sources[].failures
    assert waits == [0.2, 0.4]  # retried with its backoff
    assert "HTTP 302, a redirect" in caplog.text
    basic = ws.authorization("alice", TOKEN)["Authorization"].split()[1]
    for text in (caplog.text, status.detail):
        assert TOKEN not in text and basic not in text


def test_no_cookie_is_kept_or_sent_to_any_lab(servers):
    """websocket-client kept every Set-Cookie of a handshake in a process-wide jar, without bound,
    and sent it to any host its Domain named: another lab's server included."""
    jar_before = dict(websocket._handshake.CookieJar.jar)

    def cookies(server, conn, head, index):
        conn.sendall(upgrade(head, b"".join(
            f"Set-Cookie: c{i}=v{index}; Domain={host}\r\n".encode()
            for i in range(50) for host in ("127.0.0.1", "127.0.0.2"))))
    east, west = servers(cookies), servers(cookies, "127.0.0.2")
    try:
        for url, rounds in ((east.url, 3), (west.url, 1)):
            source, _, _, handled, _ = in_process(url)
            assert run_briefly(source, handled, rounds=rounds)
        assert len(east.requests) == 3 and len(west.requests) == 1
        for request in east.requests + west.requests:
            assert b"\r\ncookie:" not in request.lower(), request
        assert websocket._handshake.CookieJar.jar == jar_before  # nothing kept
    finally:
        websocket._handshake.CookieJar.jar = jar_before


def test_an_answer_that_never_ends_is_given_up_at_the_deadline(servers, monkeypatch):
    """The answer's header lines arrive one every 0.3 s: each read comes in time, and websocket-
    client waited for ever. The whole answer has CONNECT_TIMEOUT now."""
    monkeypatch.setattr(ws, "CONNECT_TIMEOUT", 2.0)

    def drip(server, conn, head, index):
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\n")
        for i in range(100):
            if server.stopped.wait(0.3):
                return
            conn.sendall(f"X-Drip-{i}: a\r\n".encode())
    server = servers(drip)
    source, status, _, handled, _ = in_process(server.url)
    started = time.monotonic()
    assert run_briefly(source, handled, limit=8), "still reading the handshake's answer"
    assert time.monotonic() - started < 5
    assert "the answer to the handshake was not whole within 2 s" in status.detail
    assert source.failures["timeout"] == 1


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_megabytes_of_handshake_headers_cost_the_app_nothing(servers, async_mode):
    """4 MB of header lines after the 101: websocket-client read them a byte at a time, holding
    the hub for seconds. Now reading stops at 16 KiB, with an error that says so."""
    def flood(server, conn, head, index):
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\n")
        if index < 3:
            server.go.wait(20)
            line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
            for _ in range(4000):
                conn.sendall(line)
    server = servers(flood)
    app = AppProcess("--event-source", server.url, "--no-store", async_mode=async_mode)
    try:
        with HealthWatch(app.url) as watch:
            server.go.set()
            wait_until(lambda: "over 16 KiB of headers" in (websocket_source(app)["detail"] or ""),
                       timeout=20, what="the handshake refused")
        watch.check()
        assert app.alive()
    finally:
        app.stop()


# -- frames and messages ---------------------------------------------------------------------------
@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_a_message_in_one_byte_fragments_leaves_the_hub_free(servers, async_mode):
    """A good message of 400 kB (JSON padded with spaces) in 400,000 fragments: websocket-client
    read them all without giving the hub up (seconds of it). Now the hub is given up every few
    hundred frames; the message is whole and handled, and the next one too."""
    body = b"[" + b" " * 400_000 + lava("fragmented")[1:]
    wire = in_fragments(body) + frame(lava("after-fragments"))

    def script(server, conn, head, index):
        conn.sendall(upgrade(head))
        if index == 0 and server.go.wait(20):
            conn.sendall(wire)
        server.hold()
    server = servers(script)
    app = AppProcess("--event-source", server.url, "--no-store", async_mode=async_mode)
    try:
        wait_until(lambda: websocket_source(app)["state"] == "connected", what="connected")
        with HealthWatch(app.url) as watch:
            server.go.set()
            wait_until(lambda: {"fragmented", "after-fragments"} <= devices(app), timeout=30,
                       what="the fragmented message and the next")
        watch.check()
        assert websocket_source(app)["disconnects"] == 0
    finally:
        app.stop()


def test_a_message_in_empty_fragments_is_bounded_by_its_frames(servers):
    """Empty continuation frames never grew the message: a peer could send them for ever. Their
    headers count now: past 4 × --max-message-size on the wire, the message is oversized."""
    def script(server, conn, head, index):
        conn.sendall(upgrade(head) + frame(b"[", fin=False)
                     + frame(b"", opcode=0, fin=False) * 3000 + frame(b"]", opcode=0))
        server.hold()
    server = servers(script)
    source, status, health, handled, _ = in_process(server.url, max_message_size=1000)
    assert run_briefly(source, handled)
    assert health.rejected["oversized"] == 1 and handled == []
    assert "a WebSocket message in fragments over the limit" in status.detail


def test_utf8_is_checked_in_c_and_a_bad_message_costs_only_itself(servers):
    """A 4 MiB text message: websocket-client checked its UTF-8 in Python (half a second of CPU)
    and, for a bad one, dropped the connection. Now bytes.decode checks it: not_utf8, counted."""
    bad = b'["org.lavasoftware.device", "u", "d", "n", "' + b"x" * (4 * (1 << 20) - 64) + b'\xff"]'

    def script(server, conn, head, index):
        conn.sendall(upgrade(head) + frame(bad) + frame(lava("after-bad")))
    server = servers(script)
    source, status, health, handled, _ = in_process(server.url)
    started = time.thread_time()
    source.run(lambda st, frames: handled.append(frames), rounds=1)
    assert time.thread_time() - started < 0.25
    assert health.rejected["not_utf8"] == 1 and status.rejected == 1
    assert [json.loads(frames[4])["device"] for frames in handled] == ["after-bad"]


def test_a_message_not_utf8_is_refused_alone_and_never_quoted(servers):
    """Between two good messages: counted not_utf8, the connection goes on, the next one arrives;
    its bytes are in neither the log nor /healthz."""
    marker = b"UNQUOTED-MARKER-7f3a"
    bad = b'["org.lavasoftware.device", "u", "d", "n", "' + marker + b'\xff\xfe"]'

    def script(server, conn, head, index):
        conn.sendall(upgrade(head))
        if index == 0:
            conn.sendall(frame(lava("before-bad")) + frame(bad) + frame(lava("after-bad")))
        server.hold()
    server = servers(script)
    app = AppProcess("--event-source", server.url, "--no-store")
    try:
        wait_until(lambda: {"before-bad", "after-bad"} <= devices(app), what="both good messages")
        health = app.json("/healthz")
        assert health["counters"]["rejected"]["not_utf8"] == 1
        status = websocket_source(app)
        assert status["state"] == "connected" and status["disconnects"] == 0
        assert status["rejected"] == 1
        for text in (json.dumps(health), app.log_text()):
            assert marker.decode() not in text and "\\xff" not in text
    finally:
        app.stop()


# -- silence ---------------------------------------------------------------------------------------
def drip_a_frame(server, conn, head, index):
    """A text frame of 100 bytes, one byte every 0.3 s."""
    conn.sendall(upgrade(head) + bytes([0x81, 100]))
    for _ in range(100):
        if server.stopped.wait(0.3):
            return
        conn.sendall(b"x")


def drip_fragments_and_pongs(server, conn, head, index):
    """A message begun and never ended: a 1-byte fragment and a pong every 0.3 s."""
    conn.sendall(upgrade(head) + frame(b"[", fin=False))
    for _ in range(100):
        if server.stopped.wait(0.3):
            return
        conn.sendall(frame(b" ", opcode=0, fin=False) + frame(b"", opcode=10))


@pytest.mark.parametrize("script", [drip_a_frame, drip_fragments_and_pongs],
                         ids=["a frame a byte at a time", "fragments and pongs"])
def test_a_peer_that_drips_is_given_up_like_a_silent_one(servers, script):
    """Each read came within its timeout (and pongs answered the pings), so the connection stayed
    `connected` for ever with no message. Now a message must be whole within `silence` seconds of
    its first byte, and a call that completes nothing times out: the source pings, gives up, and
    connects anew, as for silence."""
    server = servers(script)
    source, status, _, handled, waits = in_process(server.url, ping_every=0.5, silence=2.0)
    started = time.monotonic()
    assert run_briefly(source, handled, limit=8), "still connected to a peer that drips"
    assert time.monotonic() - started < 5
    assert "a message was not whole 2 s after its first byte" in status.detail
    assert status.state == "disconnected" and waits == [0.2] and handled == []
