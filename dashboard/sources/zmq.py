"""Subscribe to one lava-publisher endpoint with a green ZMQ SUB socket that always comes back.

libzmq reconnects by itself after a network error or a publisher restart, but not after a protocol
error: a frame over ZMQ_MAXMSGSIZE (or a peer that breaks ZMTP) ends that connection for good. The
monitor then says DISCONNECTED, and no CONNECT_RETRIED follows. So a watcher reads the monitor and
closes the socket when libzmq has stopped trying, or when it has had no connection for too long (the
judgement, without I/O, is MonitorWatch's); the receive loop then opens a new socket after a
backoff. Silence on a live connection is libzmq's to notice: ZMTP heartbeats drop a peer that stops
answering, and libzmq retries that one itself.
"""
import logging
import random
import time

import zmq as _plain_zmq

from dashboard.core.backoff import Backoff
from dashboard.core.events import ParseError

log = logging.getLogger("dashboard.sources.zmq")

YIELD_EVERY = 100  # a green recv only yields when the socket is empty: yield ourselves under a stream
HEARTBEAT_IVL_MS = 10_000
HEARTBEAT_TIMEOUT_MS = 30_000
RCVHWM = 100_000  # messages queued in ZMQ before it drops: bounded, and roomy enough for bursts
# A frame up to this many times --max-message-size is received and dropped by the parser, costing
# only itself; a larger one makes libzmq drop the connection before reading it (memory stays
# bounded), and the socket is made anew: what is published meanwhile is lost, and the reconcile
# that follows a reconnect repairs the model.
MAXMSGSIZE_FACTOR = 4
WATCH_EVERY = 0.25  # seconds between two looks at the socket's monitor
NO_RETRY_GRACE = 1.0  # after an ordinary disconnect libzmq schedules a retry at once
STUCK_AFTER = 60.0  # seconds without a connection before the socket is made anew anyway
STABLE_AFTER = 5.0  # seconds connected before the backoff starts again from its first delay
LOG_EVERY = 5.0  # at most one warning about a new socket per this many seconds
# libzmq's receive and socket options as pyzmq has them, under the green sockets' wrappers (both
# eventlet's and gevent's sockets are subclasses of zmq.Socket).
_RECV, _GETSOCKOPT = _plain_zmq.Socket.recv, _plain_zmq.Socket.getsockopt
_NOBLOCK, _RCVMORE, _AGAIN = _plain_zmq.NOBLOCK, _plain_zmq.RCVMORE, _plain_zmq.Again


class _Connection:
    """One socket, its monitor, and the watch that judges it from what the monitor says."""

    def __init__(self, sock, monitor, watch):
        self.sock = sock
        self.monitor = monitor
        self.watch = watch
        self.dead = None  # why the socket is being replaced

    @property
    def closed(self):
        return self.sock.closed

    def kill(self, reason):
        """Give up this socket: the receive loop wakes with an error and makes a new one."""
        if self.dead is None:
            self.dead = reason
        if not self.sock.closed:
            self.sock.close(0)

    def close(self):
        for s in (self.sock, self.monitor):
            try:
                if not s.closed:
                    s.close(0)
            except Exception:  # closing must not stop the loop either
                pass


MONITOR_EVENTS = ("EVENT_CONNECTED", "EVENT_DISCONNECTED", "EVENT_CONNECT_RETRIED",
                  "EVENT_CONNECT_DELAYED", "EVENT_HANDSHAKE_SUCCEEDED", "EVENT_HANDSHAKE_FAILED_NO_DETAIL",
                  "EVENT_HANDSHAKE_FAILED_PROTOCOL", "EVENT_HANDSHAKE_FAILED_AUTH")


def monitor_event_names(zmq):
    """{monitor event code: name} ("connected", "handshake_succeeded", ...) for the events this
    pyzmq and libzmq know (HANDSHAKE_* only since libzmq 4.3)."""
    codes = {name: getattr(zmq, name, None) for name in MONITOR_EVENTS}
    return {v: k[len("EVENT_"):].lower() for k, v in codes.items() if v is not None}


class MonitorWatch:
    """What one socket's monitor has said, into the source's status, and the verdict: must the
    socket be replaced now? No socket and no clock of its own: events and times are handed in."""

    def __init__(self, endpoint, status, event_names, maxmsgsize, backoff, now):
        self.endpoint = endpoint
        self.status = status
        self.names = event_names
        self.maxmsgsize = maxmsgsize
        self.backoff = backoff  # reset once a connection has lasted STABLE_AFTER
        self.up = False  # connected (TCP), as the monitor last said
        self.handshaken = False  # ZMTP handshake done on the current connection
        self.since = now  # when `up` last changed
        self.trouble = None  # (when, reason): a disconnect or failure that no retry followed yet
        self.failure = None  # what a handshake failure said, for the disconnect that follows
        self.stable = False

    def on_event(self, code, now):
        """Take one monitor event (its code) that arrived at `now`."""
        name = self.names.get(code)
        if name == "connected":  # TCP only: connected for us once ZMTP's handshake succeeded
            self.up, self.since, self.trouble, self.failure = True, now, None, None
            if "handshake_succeeded" not in self.names.values():  # a libzmq before 4.3
                self.handshaken = True
                self._set_state("connected")
        elif name == "handshake_succeeded":
            self.handshaken = True
            self._set_state("connected")
        elif name and name.startswith("handshake_failed"):
            self.failure = name.replace("_", " ")
        elif name == "disconnected":
            # After a good handshake, libzmq ends a connection without retrying on a protocol error,
            # and the one a publisher commits in practice is a frame over ZMQ_MAXMSGSIZE.
            reason = self.failure or ("oversized" if self.handshaken else "disconnected")
            self.up, self.handshaken, self.since, self.stable = False, False, now, False
            self.trouble = (now, reason)
            self._set_state("disconnected", self.failure)
        elif name in ("connect_retried", "connect_delayed"):
            self.trouble = None  # libzmq is retrying by itself
            if not self.up:
                self._set_state("connecting")

    def verdict(self, now):
        """Why the socket must be replaced at `now`, or None (a frame over the size limit is
        counted as a rejected message once, here)."""
        if self.trouble and now - self.trouble[0] >= NO_RETRY_GRACE:
            reason = self.trouble[1]
            if reason == "oversized":
                self.status.reject(ParseError(
                    "oversized", f"the connection was dropped by ZMQ after a frame of more than "
                                 f"{self.maxmsgsize} bytes (ZMQ_MAXMSGSIZE, {MAXMSGSIZE_FACTOR} × "
                                 f"--max-message-size), most likely"))
                return "the connection was dropped on a frame over ZMQ_MAXMSGSIZE (oversized)"
            return f"libzmq stopped reconnecting ({reason})"
        if not self.up and now - self.since >= STUCK_AFTER:
            return f"no connection for {now - self.since:.0f} s"
        if self.up and self.handshaken and not self.stable and now - self.since >= STABLE_AFTER:
            self.stable = True
            self.backoff.reset()
        return None

    def _set_state(self, state, detail=None):
        if state != self.status.state:
            log.info("%s: %s", self.endpoint, state)
        self.status.set_state(state, detail)


class ZmqSource:
    """A SUB socket connected to `endpoint`, receiving topics that start with `topic_prefix`, made
    anew (with backoff) whenever it dies."""

    def __init__(self, endpoint, topic_prefix, zmq, sleep, spawn, status, max_message_size,
                 clock=time.monotonic, rng=random.random):
        self.endpoint = endpoint
        self.topic_prefix = topic_prefix
        self.zmq = zmq
        self.sleep = sleep
        self.spawn = spawn
        self.status = status
        self.clock = clock
        self.max_message_size = max_message_size
        self.maxmsgsize = MAXMSGSIZE_FACTOR * max_message_size
        self.backoff = Backoff(first=0.2, ceiling=10.0, rng=rng)
        self.context = None
        self.sockets = 0  # sockets made so far (the first, then one per replacement)
        self._last_log = float("-inf")
        self._event_names = monitor_event_names(zmq)

    # -- the socket's life -------------------------------------------------------------------
    def _open(self):
        zmq = self.zmq
        if self.context is None:
            self.context = zmq.Context()
        sock = self.context.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, RCVHWM)
        sock.setsockopt(zmq.MAXMSGSIZE, self.maxmsgsize)
        sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)
        sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
        sock.setsockopt(zmq.RECONNECT_IVL, 200)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
        sock.setsockopt(zmq.SUBSCRIBE, self.topic_prefix.encode("utf-8"))
        try:
            monitor = sock.get_monitor_socket()
            sock.connect(self.endpoint)
        except BaseException:
            sock.close(0)
            raise
        self.sockets += 1
        return _Connection(sock, monitor, self.new_watch(self.clock()))

    def new_watch(self, now):
        """The watch of a socket opened at `now`: it reports to this source's status and resets
        this source's backoff."""
        return MonitorWatch(self.endpoint, self.status, self._event_names, self.maxmsgsize,
                            self.backoff, now)

    def run(self, handle):
        """Receive forever, handing each multipart message to handle(status, frames). Never returns:
        a socket that dies is replaced after a backoff."""
        while True:
            try:
                why = self._receive(handle)
            except Exception as exc:  # opening failed, or a bug: the loop goes on regardless
                why = f"internal error ({type(exc).__name__}: {exc})"[:200]
            delay = self.backoff.next()
            self.status.set_state("connecting", f"new socket in {delay:.1f} s: {why}")
            now = self.clock()
            if now - self._last_log >= LOG_EVERY:
                self._last_log = now
                log.warning("%s: %s; a new socket in %.1f s", self.endpoint, why, delay)
            self.sleep(delay)

    def _receive(self, handle):
        """Receive on one socket until it dies; returns why it died."""
        conn = self._open()
        self.spawn(self._watch, conn)
        received = 0
        try:
            while conn.dead is None:
                try:
                    frames = self._next(conn.sock)
                except self.zmq.ZMQError as exc:
                    conn.kill(conn.dead or f"receive failed ({exc})")
                    break
                handle(self.status, frames)
                received += 1
                if received % YIELD_EVERY == 0:
                    self.sleep(0)
        finally:
            conn.close()
        return conn.dead

    def _next(self, sock):
        """The next multipart message: taken at once if one is queued, else waited for green.

        The green sockets' recv costs several Python calls per frame (a lock, a socket option, wakes
        for other green threads, which this loop does not have); under a stream a message is
        nearly always queued already, so libzmq's own non-blocking receive takes it. Only an
        empty socket is waited on, through the green recv, which yields to the hub."""
        try:
            frames = [_RECV(sock, _NOBLOCK)]
        except _AGAIN:
            return sock.recv_multipart()
        while _GETSOCKOPT(sock, _RCVMORE):  # a message's parts arrive together
            frames.append(_RECV(sock, _NOBLOCK))
        return frames

    # -- the watcher -------------------------------------------------------------------------
    def _watch(self, conn):
        """Hand the socket's monitor events to its MonitorWatch, and kill the socket on the watch's
        verdict. Polls (never blocks) so that it also sees time pass."""
        zmq = self.zmq
        from zmq.utils.monitor import parse_monitor_message
        while not conn.closed:
            try:
                while True:
                    message = conn.monitor.recv_multipart(zmq.NOBLOCK)
                    conn.watch.on_event(parse_monitor_message(message)["event"], self.clock())
            except zmq.ZMQError as exc:
                if exc.errno != zmq.EAGAIN:  # the monitor is gone: so is its socket
                    conn.kill(f"monitor failed ({exc})")
                    return
            except Exception as exc:  # an unreadable monitor message: never the end of the watch
                log.debug("%s: monitor message not understood: %r", self.endpoint, exc)
            verdict = conn.watch.verdict(self.clock())
            if verdict:
                conn.kill(verdict)
                return
            self.sleep(WATCH_EVERY)


def reachable(endpoint, timeout):
    """None when a TCP connection to tcp://HOST:PORT opens within `timeout` seconds, else why not."""
    import socket

    host, _, port = endpoint[len("tcp://"):].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {str(exc)[:80]}"
