"""Direct delivery: a batch's WebSocket frame built once and written straight to each client's socket.

python-engineio sends to a client by putting the packet in that client's queue; the client's
writer green thread wakes, takes it, copies it into an Engine.IO string, eventlet's websocket
copies that into a frame, and writes it. For one batch to 100 clients that is 100 queue puts, 100
wakes and switches and 200 copies of the same bytes: 70-100 µs of the hub's CPU per client here
(docs/performance.md), which is what kept adaptive batching's gaps at 30-40 ms. A frame from
server to client is not masked, so every client of one group gets the very same bytes: they are
built once per group and written to each client's socket with one non-blocking send.

Only when nothing of this client's is already on its way, so that order holds: the connection is a
WebSocket of eventlet's (RFC 6455, without compression, not TLS), its Engine.IO queue is empty, and
no one holds its send lock (the writer holds it while a frame is on its way). Anything else (long
polling, a compressed connection, another async mode, a full socket buffer) goes through
engineio's queue as before, where Outbox's bound on a client's queue applies. A frame the kernel
takes only part of: the rest is written by a green thread that holds the connection's send lock
until it is done, so the writer's next frame waits behind it.
"""
import errno
import logging
import socket
import ssl
import struct

from engineio import packet as eio_packet
from socketio import packet as sio_packet

log = logging.getLogger("dashboard.live.direct")
_RETRY = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)


def text_frame(payload):
    """The unmasked, final WebSocket text frame (RFC 6455 5.2) of `payload` (bytes)."""
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x81, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def no_delay(sock):
    """Turn Nagle's algorithm off on a client's connection (eventlet's server leaves it on).

    With it on, a frame sent while the client's kernel has not yet acknowledged the previous one
    waits for that acknowledgement, which a receiver delays by up to 40 ms: batches less than
    40 ms apart, as adaptive batching sends them, then arrived up to 40 ms late."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not TCP (a test's socket pair), or already gone
        pass


def install(eio):
    """Have this Engine.IO server turn Nagle off on each WebSocket connection, and note the
    WebSocket on its engineio socket as `direct_ws` (what Direct writes to, under eventlet)."""
    base = eio._async.get("websocket")
    if base is None or getattr(base, "noted", False):
        return

    class NotedWebSocket(base):
        noted = True

        def __init__(self, handler, server):
            owner = getattr(handler, "__self__", None)  # the engineio socket being upgraded

            def noted(ws):
                # eventlet's websocket has its socket; simple-websocket's (gevent) has it inside
                no_delay(getattr(ws, "socket", None) or getattr(getattr(ws, "ws", None), "sock", None))
                if owner is not None:
                    owner.direct_ws = ws
                try:
                    return handler(ws)
                finally:
                    if owner is not None:
                        owner.direct_ws = None

            # What the wrappers inside this one (edge.guard_websockets) look up to close the
            # engineio socket: the handler's owner, as on the bound method it replaces.
            noted.__self__ = owner
            super().__init__(noted, server)

    eio._async = dict(eio._async, websocket=NotedWebSocket)  # this server's own copy


class Direct:
    """Sends one Socket.IO event to a set of this process's clients (eventlet only: its websocket's
    send lock and socket are what the fast path relies on)."""

    def __init__(self, server, namespace="/", spawn=None):
        self.server = server  # the python-socketio server
        self.namespace = namespace
        self.spawn = spawn or server.eio.start_background_task
        from eventlet.websocket import RFC6455WebSocket  # Direct exists only under eventlet

        self.framing = RFC6455WebSocket  # not the old hixie-76 framing eventlet also speaks
        self.direct = 0  # frames written straight to a socket
        self.queued = 0  # packets that went through engineio's queue
        self.partial = 0  # frames the kernel took only part of at once

    def send(self, sids, event, data):
        """Emit `event` with `data` to every client in `sids` (Socket.IO sids)."""
        server = self.server
        encoded = server.packet_class(sio_packet.EVENT, namespace=self.namespace,
                                      data=[event, data]).encode()
        if isinstance(encoded, list):  # binary attachments: python-socketio's own way
            for sid in sids:
                server.emit(event, data, to=sid, namespace=self.namespace, ignore_queue=True)
            return
        pkt = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        frame = None
        sockets = server.eio.sockets
        eio_sid_of = server.manager.eio_sid_from_sid
        for sid in list(sids):
            eio_sid = eio_sid_of(sid, self.namespace)
            sock = sockets.get(eio_sid) if eio_sid else None
            if sock is None:
                continue
            ws = getattr(sock, "direct_ws", None)
            if ws is not None and sock.upgraded and not sock.upgrading and not sock.closing \
                    and not sock.closed and not sock.queue.qsize() \
                    and isinstance(ws, self.framing) and not ws.extensions \
                    and not ws.websocket_closed:
                if frame is None:
                    frame = text_frame(("4" + encoded).encode())
                if self._write(ws, frame):
                    continue
            server.eio.send_packet(eio_sid, pkt)  # (a socket closed meanwhile: skipped there)
            self.queued += 1

    def _write(self, ws, frame):
        """Write `frame` to ws's socket without waiting; False when nothing was written (the
        caller queues it instead)."""
        lock = getattr(ws, "_sendlock", None)
        raw = getattr(ws.socket, "fd", None)
        # `balance` is the lock's count less the green threads waiting for it: a writer may be
        # waiting for it with frames it already took from the queue, and an acquire would
        # still succeed (a release only schedules the waiter).
        if lock is None or raw is None or isinstance(raw, ssl.SSLSocket) or lock.balance <= 0 \
                or not lock.acquire(blocking=False):
            return False
        try:
            sent = raw.send(frame)
        except OSError as exc:
            lock.release()
            if exc.errno not in _RETRY:  # gone: the queue's writer finds out and closes it
                log.debug("direct send failed: %s", exc)
            return False
        if sent >= len(frame):
            lock.release()
            self.direct += 1
            return True
        self.partial += 1
        self.direct += 1
        try:
            self.spawn(self._finish, ws, lock, memoryview(frame)[sent:])
        except Exception:  # the rest cannot be written: the connection cannot be used again
            self._finish(ws, lock, None)
        return True

    @staticmethod
    def _finish(ws, lock, rest):
        """Write the rest of a frame (None: none can be), holding the send lock until it is all
        out. If it cannot all go (the client stopped reading for longer than the socket's
        timeout, or the connection failed), the connection is shut down: a frame cut short must
        not be followed by another, and engineio sees the connection end and closes it."""
        try:
            if rest is None:
                raise OSError("could not start writing the rest of a frame")
            ws.socket.sendall(rest)
        except Exception as exc:
            log.debug("direct send failed: %s", exc)
            try:
                ws.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        finally:
            lock.release()

    def stats(self):
        return {"frames_direct": self.direct, "frames_queued": self.queued,
                "frames_partial": self.partial}
