"""A socket's reads, writes and TLS handshake, each within a deadline in all: the WebSocket source's
(dashboard/sources/ws.py, ws_protocol.py) and the REST client's (dashboard/sources/rest.py).

Under eventlet and gevent a TLS socket's timeout bounds each wait for bytes alone, and its recv
returns only once a whole TLS record has come: a peer that sent a record's bytes one every few
seconds held a handshake or a read for as long as it liked, and the deadlines checked between
reads never came. So a TLS socket is made non-blocking and waited on, for what is left of the
deadline. (A plain socket's recv takes whatever has come: its timeout bounds it.)
"""
import math
import selectors
import socket
import ssl
import time

# How long a send that said 0 with the socket writable waits for TLS's read before it is tried
# again (_MaybeWantRead): the send buffer, full at the send, may have drained before the check,
# and then nothing comes to read. Short, for that case; long enough that a real read TLS wants
# does not spin the hub.
SEND_RETRY = 0.05


def recv_within(sock, size, deadline, clock=time.monotonic):
    """Up to `size` bytes of what has come (b"" once the peer has closed), by `deadline` (a clock()
    time) at the latest, else socket.timeout. A TLS socket is left non-blocking."""
    left = deadline - clock()
    if left <= 0:
        raise socket.timeout("timed out")
    if not hasattr(sock, "pending"):  # a plain socket
        sock.settimeout(left)
        return sock.recv(size)
    # recv is tried before any wait: what TLS has decrypted already (sock.pending()) comes at once.
    return _nonblocking(sock, lambda: sock.recv(size), deadline, clock)


def send_within(sock, data, deadline, clock=time.monotonic):
    """All of `data` sent by `deadline` (a clock() time), else socket.timeout. A TLS socket is left
    non-blocking."""
    left = deadline - clock()
    if left <= 0:
        raise socket.timeout("timed out")
    view = memoryview(data)
    if not hasattr(sock, "pending"):  # a plain socket: each send waits at most what is left
        # (eventlet's sendall bounds each of its waits alone: a peer that read a little now and
        # then held it past the deadline.)
        while view:
            left = deadline - clock()
            if left <= 0:
                raise socket.timeout("timed out")
            sock.settimeout(left)
            view = view[sock.send(view):]
        return
    while view:  # after a wait the same bytes are offered again, as OpenSSL asks
        view = view[_nonblocking(sock, lambda: _send(sock, view), deadline, clock):]


class _MaybeWantRead(ssl.SSLWantReadError):
    """gevent's send said 0 and the socket can take bytes: TLS must read first (a renegotiation's),
    or the send buffer, full at the send, drained before the check. Waited on for SEND_RETRY at
    most, then the send is tried again."""


def _send(sock, data):
    """sock.send, which says what it waits for by SSLWant*Error whatever the hub. (gevent's says 0
    for both: when the socket can take bytes, TLS must read first, a renegotiation's, or the
    buffer drained meanwhile. Waiting for writing then would spin, the hub held, until the
    deadline; waiting for reading alone, until the deadline for a read that never comes.)"""
    sent = sock.send(data)
    if sent:
        return sent
    if _ready(sock, selectors.EVENT_WRITE, 0):
        raise _MaybeWantRead()
    raise ssl.SSLWantWriteError()


def finish_tls(sock, deadline, clock=time.monotonic):
    """Complete the TLS handshake of a socket wrapped without it (do_handshake_on_connect=False):
    each wait at most the socket's timeout, all of them by `deadline` (a clock() time), else
    socket.timeout. The socket is then as it was (blocking, its timeout set); on failure, closed."""
    timeout = sock.gettimeout()
    try:
        _nonblocking(sock, sock.do_handshake, deadline, clock, wait=timeout)
        sock.setblocking(True)  # (eventlet's socket stays non-blocking through settimeout alone)
        sock.settimeout(timeout)
    except BaseException:
        sock.close()
        raise


def _nonblocking(sock, step, deadline, clock, wait=None):
    """step() on the socket made non-blocking, tried again whenever TLS must read or write first,
    once the socket can (or, after a _MaybeWantRead, SEND_RETRY later): each wait at most `wait`
    seconds, all by `deadline`, else socket.timeout."""
    sock.setblocking(False)
    while True:
        retry = math.inf
        try:
            return step()
        except _MaybeWantRead:
            wanted, retry = selectors.EVENT_READ, SEND_RETRY
        except ssl.SSLWantReadError:
            wanted = selectors.EVENT_READ
        except ssl.SSLWantWriteError:
            wanted = selectors.EVENT_WRITE
        left = deadline - clock()
        if wait is not None:
            left = min(left, wait)
        if left <= 0 or (not _ready(sock, wanted, min(left, retry)) and retry >= left):
            raise socket.timeout("timed out")


def _ready(sock, events, seconds):
    """Whether the socket is ready for `events` within `seconds`. (A selector, the hub's: select()
    takes no descriptor over 1023, and the app may hold more sockets than that.)"""
    with selectors.DefaultSelector() as selector:
        selector.register(sock, events)
        return bool(selector.select(seconds))
