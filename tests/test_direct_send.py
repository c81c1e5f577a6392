"""Direct delivery (dashboard/live/direct.py), with real parts: the app under eventlet, a real ZMQ
publisher, and a WebSocket client on a raw TCP socket that stops reading, so that the server's
socket buffer fills, frames are cut short and later ones go through python-engineio's queue.
Whatever way each frame took, the client must read every batch whole and in order."""
import json
import socket
import struct
import time

import pytest

from dashboard.live.direct import no_delay, text_frame
from tests.helpers import AppProcess, LiveView, TestPublisher, model_view, wait_until
from tests.hostile import RawSocketIO

N_JOBS = 40


def job_frames(i):
    """The i-th event of one of N_JOBS running jobs, with a long description: large batches."""
    data = {"job": 7000 + i % N_JOBS, "state": "Running", "health": "Unknown",
            "description": f"{i} " + "x" * 1500, "device_type": "qemu", "submitter": "direct"}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    return [b"org.lavasoftware.testjob", f"direct-{i}".encode(), stamp.encode(), b"lavaserver",
            json.dumps(data).encode()]


def test_a_client_that_stops_reading_gets_every_batch_whole_and_in_order():
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--no-store", "--max-client-queue", "100000")
    try:
        publisher.wait_for_subscriber()
        wait_until(lambda: app.json("/healthz")["sources"][0]["state"] == "connected",
                   what="source connected")
        reader = RawSocketIO(app.port, rcvbuf=4096, timeout=20)
        reader.connect_namespace()
        reader.send('42["subscribe",{"filter":{}}]')
        watcher = LiveView(app.url).connect()  # reads all along: the other way frames go
        # Waves of events while `reader` reads nothing, until its buffers (and the server's
        # send buffer, which the kernel may grow to megabytes) are full: a frame is cut short,
        # and later ones are queued behind it. (One wave of 2,000 once left only the last frame
        # cut short, with nothing after it to queue: a wave more sends it one.)
        n = 0
        for _ in range(8):
            for i in range(n, n + 500):
                publisher.send(job_frames(i))
            n += 500
            wait_until(lambda: app.json("/healthz")["counters"]["accepted"] == n, timeout=60,
                       what="every event accepted")
            wait_until(lambda: app.json("/healthz")["relay"]["pending"] == 0, timeout=30,
                       what="every batch sent")
            relay = app.json("/healthz")["relay"]
            if relay["frames_partial"] > 0 and relay["frames_queued"] > 0:
                break
        assert relay["frames_partial"] > 0 and relay["frames_queued"] > 0, relay
        assert relay["frames_direct"] > 0, relay
        final = app.json("/api/v1/state")
        reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # now read it all
        events = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                e[0] == "changes" and e[1]["seq"] == final["seq"] for e in events):
            reader.drain(0.5)
            frames = reader.frames()
            # Every frame whole, text and final (a frame written into the middle of another
            # would break this), each one Engine.IO message.
            assert all(opcode == 1 for opcode, _ in frames), {o for o, _ in frames}
            events = [json.loads(p[2:]) for _, p in frames if p.startswith(b"42")]
        assert events and events[0][0] == "snapshot", "the reader read no snapshot"
        seq, jobs = events[0][1]["seq"], {}
        for name, data in events[1:]:
            if name != "changes":
                continue
            assert data["prev"] == seq, (seq, data["prev"])  # no gap, no reorder
            for change in data["changes"]:
                jobs[change["id"]] = change["data"]
            seq = data["seq"]
        assert seq == final["seq"]
        assert jobs == {j["id"]: j for j in final["jobs"]} and len(jobs) == N_JOBS
        wait_until(lambda: watcher.seq == final["seq"], what="the reading client caught up")
        assert watcher.gaps == 0 and watcher.state() == model_view(final)
        watcher.close()
        reader.close()
    finally:
        app.stop()
        publisher.close()


def test_queued_only_when_direct_send_is_off():
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--no-store", "--no-direct-send")
    try:
        publisher.wait_for_subscriber()
        view = LiveView(app.url).connect()
        for i in range(50):
            publisher.send(job_frames(i))
        wait_until(lambda: view.seq == app.json("/api/v1/state")["seq"] and view.seq >= 50,
                   what="the client caught up")
        relay = app.json("/healthz")["relay"]
        assert "frames_direct" not in relay
        assert view.gaps == 0 and view.state() == model_view(app.json("/api/v1/state"))
        view.close()
    finally:
        app.stop()
        publisher.close()


def test_text_frame_lengths():
    """Each length form of RFC 6455 5.2, read back as a client reads it."""
    for n in (0, 125, 126, 65535, 65536, 70000):
        frame = text_frame(b"a" * n)
        assert frame[0] == 0x81
        size = frame[1]
        if n < 126:
            assert size == n and len(frame) == 2 + n
        elif n < 65536:
            assert size == 126 and struct.unpack("!H", frame[2:4])[0] == n and len(frame) == 4 + n
        else:
            assert size == 127 and struct.unpack("!Q", frame[2:10])[0] == n and len(frame) == 10 + n


def test_no_delay_turns_nagle_off_on_a_tcp_connection():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    conn, _ = server.accept()
    try:
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        no_delay(conn)
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        no_delay(None)  # not a socket: nothing happens, nothing raised
    finally:
        for s in (conn, client, server):
            s.close()


def test_install_turns_nagle_off_and_notes_the_websocket_of_either_shape():
    """install() wraps the Engine.IO server's WebSocket class: the connection's socket, whether
    eventlet's (`ws.socket`) or simple-websocket's under gevent (`ws.ws.sock`), has Nagle off, and
    the engineio socket knows its WebSocket while the handler runs."""
    from types import SimpleNamespace

    from dashboard.live.direct import install

    class BaseWebSocket:  # the shape of engineio's websocket classes: (handler, server), then ws
        def __init__(self, handler, server):
            self.handler = handler

    class EngineSocket:  # what engineio upgrades: its handler is a bound method
        direct_ws = "unset"

        def handler(self, ws):
            self.seen = self.direct_ws
            return "handled"

    eio = SimpleNamespace(_async={"websocket": BaseWebSocket})
    install(eio)
    install(eio)  # a second install does not wrap twice
    assert eio._async["websocket"].__mro__[1] is BaseWebSocket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(2)
    clients = [socket.create_connection(server.getsockname()) for _ in range(2)]
    conns = [server.accept()[0] for _ in range(2)]
    try:
        for ws in (SimpleNamespace(socket=conns[0]), SimpleNamespace(ws=SimpleNamespace(sock=conns[1]))):
            owner = EngineSocket()
            assert eio._async["websocket"](owner.handler, None).handler(ws) == "handled"
            assert owner.seen is ws and owner.direct_ws is None
        assert all(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0 for c in conns)
    finally:
        for s in (*conns, *clients, server):
            s.close()


def test_the_decoding_guard_still_closes_the_engineio_socket_under_install():
    """edge.guard_websockets closes the engineio socket of a WebSocket whose frame could not be
    used; install() wraps the same class around it: the guard must still find that socket, and
    install must still note the WebSocket."""
    from types import SimpleNamespace

    from dashboard.live.direct import install
    from dashboard.web.edge import guard_websockets

    class BaseWebSocket:
        def __init__(self, handler, server):
            self.handler = handler

    class EngineSocket:
        server = SimpleNamespace(reason=SimpleNamespace(TRANSPORT_ERROR="transport error"))
        closed_with = None
        direct_ws = None

        def handler(self, ws):
            self.seen = self.direct_ws
            raise ValueError("a frame engineio cannot decode")

        def close(self, wait, abort, reason):
            self.closed_with = reason

    eio = SimpleNamespace(_async={"websocket": BaseWebSocket})
    guard_websockets(eio)  # the factory's order: the guard first, then install
    install(eio)
    owner, ws = EngineSocket(), SimpleNamespace(socket=None)
    assert eio._async["websocket"](owner.handler, None).handler(ws) == []
    assert owner.closed_with == "transport error" and owner.seen is ws


def _green_pair(sndbuf=None):
    """A connected pair of eventlet green TCP sockets on 127.0.0.1: (server side, client side)."""
    from eventlet.green import socket as gsocket

    listener = gsocket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = gsocket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(listener.getsockname())
    server, _ = listener.accept()
    if sndbuf:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    listener.close()
    return server, client


def _read_exactly(sock, n, timeout=10.0):
    out, deadline = b"", time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out += sock.recv(min(65536, n - len(out)))
    return out


def test_direct_write_waits_for_the_send_lock_its_waiters_and_a_frame_cut_short():
    """Direct._write on eventlet's real WebSocket over a real TCP pair: it writes only when no
    green thread holds or waits for the connection's send lock, and the rest of a frame the
    kernel took only part of keeps the lock until it is all out."""
    import eventlet
    from eventlet.websocket import RFC6455WebSocket

    from dashboard.live.direct import Direct

    server_sock, client = _green_pair(sndbuf=4096)
    try:
        ws = RFC6455WebSocket(server_sock, {}, version=13)
        direct = Direct.__new__(Direct)  # no python-socketio server needed for _write
        direct.spawn, direct.direct, direct.partial = eventlet.spawn, 0, 0
        small = text_frame(b"42[\"changes\",{}]")
        assert direct._write(ws, small) and _read_exactly(client, len(small)) == small

        ws._sendlock.acquire()  # the writer is sending a frame of its own
        assert not direct._write(ws, small)
        waiter = eventlet.spawn(ws._sendlock.acquire)  # and then another waits for the lock
        eventlet.sleep(0)
        ws._sendlock.release()  # released, but its waiter has not run yet
        assert ws._sendlock.balance <= 0 and not direct._write(ws, small)
        waiter.wait()
        ws._sendlock.release()

        big = text_frame(b"x" * 2_000_000)  # more than both kernel buffers hold
        assert direct._write(ws, big) and direct.partial == 1
        assert not direct._write(ws, small)  # the rest holds the lock: anything else must queue
        reader = eventlet.spawn(_read_exactly, client, len(big), 30.0)
        assert reader.wait() == big  # whole, nothing else inside it
        eventlet.sleep(0)
        assert ws._sendlock.balance == 1  # released once the rest was out
    finally:
        server_sock.close()
        client.close()


def test_a_frame_whose_rest_cannot_be_written_ends_the_connection():
    """Rather than let another frame follow one cut short, the connection is shut down."""
    import eventlet
    from eventlet.websocket import RFC6455WebSocket

    from dashboard.live.direct import Direct

    server_sock, client = _green_pair(sndbuf=4096)
    try:
        server_sock.settimeout(0.5)  # engineio sets the ping interval and timeout here
        ws = RFC6455WebSocket(server_sock, {}, version=13)
        direct = Direct.__new__(Direct)
        direct.spawn, direct.direct, direct.partial = eventlet.spawn, 0, 0
        assert direct._write(ws, text_frame(b"x" * 2_000_000)) and direct.partial == 1
        eventlet.sleep(1.5)  # the client reads nothing: the rest times out
        assert ws._sendlock.balance == 1
        # Shut down: the client reads what had arrived, then the end of the stream (a connection
        # left open would time out instead).
        client.settimeout(3)
        deadline, ended = time.monotonic() + 10, False
        while time.monotonic() < deadline and not ended:
            ended = client.recv(65536) == b""
        assert ended
    finally:
        server_sock.close()
        client.close()


def test_a_frame_goes_through_the_queue_while_the_queue_holds_an_earlier_one():
    """Direct.send on a real python-socketio server (eventlet), a real engine.io socket and
    eventlet's WebSocket over TCP: while the socket's engine.io queue still holds a packet, the
    next one is queued behind it (written straight to the socket it would overtake it); once the
    queue is empty, it is written directly."""
    import eventlet
    import socketio
    from engineio import packet as eio_packet
    from engineio.socket import Socket
    from eventlet.websocket import RFC6455WebSocket

    from dashboard.live.direct import Direct

    server = socketio.Server(async_mode="eventlet")
    server_sock, client = _green_pair()
    try:
        eio_sid = "eio-sid-1"
        sock = Socket(server.eio, eio_sid)
        sock.upgraded, sock.connected = True, True
        sock.direct_ws = RFC6455WebSocket(server_sock, {}, version=13)
        server.eio.sockets[eio_sid] = sock
        sid = server.manager.connect(eio_sid, "/")
        direct = Direct(server, spawn=eventlet.spawn)

        earlier = eio_packet.Packet(eio_packet.MESSAGE, '2["changes",{"seq":1}]')
        sock.queue.put(earlier)  # the queue's writer has not taken it yet
        direct.send([sid], "changes", {"seq": 2})
        assert (direct.direct, direct.queued) == (0, 1)
        assert [p.data for p in (sock.queue.get(), sock.queue.get())] == [
            '2["changes",{"seq":1}]', '2["changes",{"seq":2}]']  # in order, behind it
        client.settimeout(0.2)
        with pytest.raises(TimeoutError):  # nothing was written to the socket directly
            client.recv(64)

        client.settimeout(10)
        direct.send([sid], "changes", {"seq": 3})  # the queue is empty: straight to the socket
        assert (direct.direct, direct.queued) == (1, 1) and sock.queue.qsize() == 0
        want = text_frame(b'42["changes",{"seq":3}]')
        assert _read_exactly(client, len(want)) == want
    finally:
        server_sock.close()
        client.close()
