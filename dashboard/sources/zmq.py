"""Subscribe to one lava-publisher endpoint with a ZMQ SUB socket that is read at once, whatever the
loop is doing, and that always comes back.

The socket is read by a real OS thread of its own (plain pyzmq, not the green module), which does
nothing else: it receives frames and hands them, in chunks, to the green loop through a bounded
queue (handoff.py); parse, model, store and relay stay on the loop. A loop busy with its clients thus
never leaves lava-publisher's messages waiting in libzmq, where a PUB drops them, silently, past the
high-water mark. When the hand-off is full the thread stops reading and libzmq queues the rest, up
to RCVHWM, where the lag watch (core/lag.py, fed the time each message left the socket) sees them
run late. The thread owns its context and sockets, and closes them itself.

libzmq reconnects by itself after a network error or a publisher restart, but not after a protocol
error: a frame over ZMQ_MAXMSGSIZE (or a peer that breaks ZMTP) ends that connection for good. The
monitor then says DISCONNECTED, and no CONNECT_RETRIED follows. The thread hands the monitor's events
to the loop with the messages; there MonitorWatch judges, without I/O, when libzmq has stopped
trying or when there has been no connection for too long, and the loop tells the thread to close the
socket; it then opens a new one after a backoff. Silence on a live connection is libzmq's to notice:
ZMTP heartbeats drop a peer that stops answering, and libzmq retries that one itself.
"""
import logging
import time

from zmq.utils.monitor import parse_monitor_message

from dashboard.core.backoff import JITTER, Backoff
from dashboard.core.events import ParseError
from dashboard.core.gather import Gather
from dashboard.sources.handoff import Chunk, HandOff

log = logging.getLogger("dashboard.sources.zmq")

MAX_FRAMES = 16  # frames kept of one message (LAVA's have 5): parse_frames refuses the message
CHUNK = 100  # messages the thread hands over at once, at most; the loop yields after each chunk
HANDOFF_MESSAGES = 10_000  # the hand-off's bound: past it the thread stops reading (libzmq queues)
# ... and in bytes: 64 MiB, or room for HANDOFF_LARGEST messages of the largest kept size when
# --max-message-size is so large that 64 MiB would not hold them. A chunk ends once its bytes reach
# 1/CHUNKS_HELD of the bound, and the thread reads only while one more chunk fits: the bytes held
# stay below the bound whatever the messages' sizes.
HANDOFF_BYTES = 64 * 1024 * 1024
HANDOFF_LARGEST = 8
CHUNKS_HELD = 8
# What a kept frame costs besides its bytes (a bytes object and its place in a list): a message of
# many empty frames is not free.
FRAME_COST = 64
# A message read within this many seconds of the last hand-off is part of a stream (200 a second
# or more): only then does the thread wait for more before waking an idle loop: --zmq-gather, longer
# as the stream gets faster, up to --zmq-gather-max (core/gather.py).
STREAM_GAP = 0.005
POLL_MS = 100  # the thread looks at its stop flag at least this often
HEARTBEAT_IVL_MS = 10_000
HEARTBEAT_TIMEOUT_MS = 30_000
RCVHWM = 100_000  # messages queued in ZMQ before it drops: bounded, and roomy enough for bursts
# A frame up to this many times --max-message-size is received and dropped by the parser, costing
# only itself; a larger one makes libzmq drop the connection before reading it (memory stays
# bounded), and the socket is made anew: what is published meanwhile is lost, and the reconcile
# that follows a reconnect repairs the model.
MAXMSGSIZE_FACTOR = 4
WATCH_EVERY = 0.25  # seconds between two judgements of the socket's monitor events
NO_RETRY_GRACE = 1.0  # after an ordinary disconnect libzmq schedules a retry at once
STUCK_AFTER = 60.0  # seconds without a connection before the socket is made anew anyway
STABLE_AFTER = 5.0  # seconds connected before the backoff starts again from its first delay
LOG_EVERY = 5.0  # at most one warning about a new socket per this many seconds


class SocketReader:
    """One socket's life in an OS thread of its own: open it, read it into the hand-off until told
    to stop or until it fails, close it. It never touches the loop's objects (status, logging,
    green locks): only the hand-off, and the wake-ups."""

    def __init__(self, open_socket, zmq, handoff, threads, wake_loop, clock=time.time, gather=0.0,
                 gather_max=None, keep_bytes=(1 << 20) + 1,
                 chunk_bytes=HANDOFF_BYTES // CHUNKS_HELD):
        self.open_socket = open_socket  # fn(context) -> (socket, monitor socket)
        # A message's frames are kept up to keep_bytes in all (the parser's limit and a byte: it
        # refuses the message as oversized all the same); a chunk ends once it holds chunk_bytes.
        self.keep_bytes = keep_bytes
        self.chunk_bytes = chunk_bytes
        self._size = 0  # what the chunk being read holds (bytes and FRAME_COST per frame)
        # How long to wait for more before waking an idle loop (--zmq-gather, growing with the
        # stream's rate up to --zmq-gather-max); only this thread uses it.
        self.gather = Gather(gather, gather_max)
        self.longest_wait = 0.0  # the longest it waited for more of a stream (seconds)
        self._last_put = float("-inf")  # when messages were last handed over (time.monotonic)
        self.zmq = zmq
        self.handoff = handoff
        self.threads = threads
        self.wake_loop = wake_loop
        self.clock = clock
        self.stop_reason = None  # set by the loop: why the socket must go
        self.why = None  # why it went: set by the thread before `done`
        self.done = False
        self._room = threads.allocate_lock()  # released by the loop when the hand-off has room
        self._room.acquire()

    def start(self):
        self.threads.start(self.run)

    def stop(self, reason):
        """Ask the thread to close the socket and end (the first reason is kept)."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def room_made(self):
        """The loop took enough from a full hand-off: the thread may read again."""
        if self._room.locked():
            self._room.release()

    def run(self):
        """The thread: never raises; says why it ended in `why`, then sets `done`."""
        zmq, why = self.zmq, None
        context = sock = monitor = None
        try:
            context = zmq.Context()
            sock, monitor = self.open_socket(context)
            why = self._read(sock, monitor)
        except Exception as exc:  # opening failed, or a bug: the loop makes a new socket
            why = f"internal error ({type(exc).__name__}: {exc})"[:200]
        finally:
            for s in (monitor, sock):  # linger 0: term() below cannot wait on them
                try:
                    if s is not None and not s.closed:
                        s.close(0)
                except Exception:
                    pass
            try:
                if context is not None:
                    context.term()
            except Exception:
                pass
            self.why = self.stop_reason or why
            self.done = True
            self.wake_loop()

    def _read(self, sock, monitor):
        zmq = self.zmq
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        while self.stop_reason is None:
            if not self.handoff.room():
                self._room.acquire(timeout=POLL_MS / 1000)
                continue
            ready = dict(poller.poll(POLL_MS))
            messages, events = [], []
            self._size = 0
            try:
                while monitor in ready:
                    try:
                        message = monitor.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    except zmq.ZMQError as exc:  # the monitor is gone: so is its socket
                        return f"monitor failed ({exc})"
                    try:
                        events.append(parse_monitor_message(message)["event"])
                    except Exception:  # unreadable: never the end of the watch
                        pass
                if sock in ready:
                    self._drain(sock, messages)
                    if (0 < len(messages) < CHUNK and self._size < self.chunk_bytes
                            and self.gather.floor > 0
                            and time.monotonic() - self._last_put < STREAM_GAP
                            and self.handoff.consumer_waiting()):
                        # A stream, and the loop is idle and would be woken for these few: let more
                        # come first, so that one wake-up of the loop (and of the relay, the store,
                        # the alert rules after it) serves them all. A lone message, after a quiet
                        # spell, goes at once.
                        wait = self.gather.wait()
                        self.longest_wait = max(self.longest_wait, wait)
                        self.threads.sleep(wait)
                        self._drain(sock, messages)
            except _ReceiveFailed as exc:
                return str(exc)
            finally:  # what was read is handed over, even when the socket fails after it
                if messages:
                    self._last_put = time.monotonic()
                    self.gather.handed(len(messages), self._last_put)
                wake = (messages or events) and self.handoff.put(
                    Chunk(messages, self._size, events, self.clock()))
                if wake:
                    self.wake_loop()
        return self.stop_reason

    def _drain(self, sock, messages):
        """Receive what is queued into `messages` (each a list of its frames' bytes, at most
        MAX_FRAMES of them, keep_bytes in all), until the chunk holds CHUNK messages or
        chunk_bytes. A socket that fails raises _ReceiveFailed (what was received stays in
        `messages`, and in `_size`)."""
        zmq = self.zmq
        noblock, again = zmq.NOBLOCK, zmq.Again
        keep = self.keep_bytes
        while len(messages) < CHUNK and self._size < self.chunk_bytes:
            try:
                # Frame by frame: recv_multipart asks the socket for RCVMORE after each frame (a
                # getsockopt, with the lock given up and taken again), where a frame received with
                # copy=False says `more` itself (its bytes are then copied once, as recv's are).
                # The thread's CPU per event fell from 25.6 to 23.2 µs (docs/performance.md).
                frame = sock.recv(noblock, copy=False)
                frames, kept = [], 0
                while True:  # the rest of a message is there once its first frame is
                    if len(frames) < MAX_FRAMES:
                        size = len(frame)
                        if kept + size <= keep:
                            frames.append(frame.bytes)
                        else:  # refused as oversized whatever the rest says: not worth holding
                            size = max(keep - kept, 0)
                            frames.append(bytes(frame.buffer[:size]))
                        kept += size
                    if not frame.more:
                        break
                    frame = sock.recv(noblock, copy=False)
            except again:
                break
            except zmq.ZMQError as exc:
                raise _ReceiveFailed(f"receive failed ({exc})") from None
            messages.append(frames)
            self._size += kept + FRAME_COST * len(frames)


class _ReceiveFailed(Exception):
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
                # The publisher is reachable: it sent a frame too large. The new socket comes at the
                # first delay, not a longer one each time (an audit: a huge frame every 2 s grew
                # the wait to 5 s, and 76 % of the good events were lost meanwhile).
                self.backoff.reset()
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
        # (libzmq retrying leaves the last known reason in place)
        problem = _problem_of(detail) if detail else (self.status.problem if state == "connecting" else None)
        self.status.set_state(state, detail, problem)


class ZmqSource:
    """A SUB socket connected to `endpoint`, receiving topics that start with `topic_prefix`, read by
    an OS thread (`threads`: dashboard.green.OsThreads) and made anew (with backoff) whenever it
    dies. `zmq` is plain pyzmq: the thread is a real one."""

    def __init__(self, endpoint, topic_prefix, zmq, sleep, threads, status, max_message_size,
                 clock=time.monotonic, rng=JITTER, gather=0.0, gather_max=None):
        self.endpoint = endpoint
        self.topic_prefix = topic_prefix
        self.zmq = zmq
        self.sleep = sleep
        self.threads = threads
        self.status = status
        self.clock = clock
        self.max_message_size = max_message_size
        # A floor above its ceiling is refused here (ValueError), not in the thread, where it would
        # fail every socket the source makes.
        Gather(gather, gather_max)
        self.gather = gather
        self.gather_max = gather_max
        self.maxmsgsize = MAXMSGSIZE_FACTOR * max_message_size
        self.backoff = Backoff(first=0.2, ceiling=10.0, rng=rng)
        self.sockets = 0  # sockets made so far (the first, then one per replacement)
        self.handoff = None  # made by run(), with the wake-up: one each for the source's life
        self.wakeup = None
        self.reader = None  # the current socket's SocketReader
        self.stopping = False
        self._last_log = float("-inf")
        self._event_names = monitor_event_names(zmq)

    # -- the socket's life -------------------------------------------------------------------
    def open_socket(self, context):
        """A SUB socket and its monitor, in `context` (called in the reader's thread, which owns
        them)."""
        zmq = self.zmq
        sock = context.socket(zmq.SUB)
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
            monitor.setsockopt(zmq.LINGER, 0)
            sock.connect(self.endpoint)
        except BaseException:
            sock.close(0)
            raise
        return sock, monitor

    def handoff_bytes(self):
        """(the hand-off's byte bound, its reserve: the most one chunk may hold). A chunk stops
        once it reaches its share of the bound, so it holds less than that share and one message
        of the largest kept size; the thread reads only while that much still fits."""
        largest = self.max_message_size + 1 + MAX_FRAMES * FRAME_COST
        bound = max(HANDOFF_BYTES, HANDOFF_LARGEST * largest)
        return bound, bound // CHUNKS_HELD - 1 + largest

    def new_watch(self, now):
        """The watch of a socket opened at `now`: it reports to this source's status and resets
        this source's backoff."""
        return MonitorWatch(self.endpoint, self.status, self._event_names, self.maxmsgsize,
                            self.backoff, now)

    def run(self, handle):
        """Receive until stop(), handing each chunk of multipart messages to handle(status,
        messages) on this (green) thread (Ingest.handle_many). A socket that dies is replaced after
        a backoff."""
        bound, reserve = self.handoff_bytes()
        self.handoff = HandOff(HANDOFF_MESSAGES, bound, self.threads.allocate_lock(), reserve)
        self.wakeup = self.threads.wakeup()  # never closed: a thread may still write to it
        self.status.reader = self  # as_dict(): the hand-off's figures and the gathering wait
        while not self.stopping:
            try:
                why = self._receive(handle)
            except Exception as exc:  # a bug: the loop goes on regardless
                why = f"internal error ({type(exc).__name__}: {exc})"[:200]
            if self.stopping:
                break
            delay = self.backoff.next()
            self.status.set_state("connecting", f"new socket in {delay:.1f} s: {why}", _problem_of(why))
            now = self.clock()
            if now - self._last_log >= LOG_EVERY:
                self._last_log = now
                log.warning("%s: %s; a new socket in %.1f s", self.endpoint, why, delay)
            self.sleep(delay)
        self.status.set_state("stopped")

    def as_dict(self):
        """/healthz's `reader`: the hand-off's figures, the stream's rate as the thread estimates
        it now (events/s), how long it would now wait for more of a stream and the longest it has
        waited on this socket (ms). None before the first socket."""
        reader = self.reader
        if reader is None:
            return {**self.handoff.as_dict(), "stream_rate": None, "gather_ms": None,
                    "longest_gather_ms": None}
        rate = reader.gather.rate_at(time.monotonic())
        return {**self.handoff.as_dict(), "stream_rate": round(rate, 1),
                "gather_ms": round(reader.gather.wait(rate) * 1000, 2),
                "longest_gather_ms": round(reader.longest_wait * 1000, 2)}

    def stop(self):
        """End the source: its thread closes its socket and ends; run() returns."""
        self.stopping = True
        if self.reader is not None:
            self.reader.stop("stopped")
        if self.wakeup is not None:
            self.wakeup.set()

    def _receive(self, handle):
        """Start a thread on a new socket and handle what it hands over until it ends; returns why
        the socket died. What was read before is handled first: nothing read is dropped."""
        reader = self.reader = SocketReader(self.open_socket, self.zmq, self.handoff, self.threads,
                                            self.wakeup.set, gather=self.gather,
                                            gather_max=self.gather_max,
                                            keep_bytes=self.max_message_size + 1,
                                            chunk_bytes=self.handoff_bytes()[0] // CHUNKS_HELD)
        watch = self.new_watch(self.clock())
        self.sockets += 1
        reader.start()
        next_look = self.clock()
        try:
            while True:
                done = reader.done  # read before take(): what it put before `done` is taken
                chunk, room_made = self.handoff.take()
                if room_made:
                    reader.room_made()
                now = self.clock()
                if reader.stop_reason is None and (chunk is None or now >= next_look):
                    next_look = now + WATCH_EVERY
                    verdict = "stopped" if self.stopping else watch.verdict(now)
                    if verdict:
                        reader.stop(verdict)
                if chunk is None:
                    if done:
                        return reader.why
                    self.wakeup.wait(WATCH_EVERY)
                    continue
                for code in chunk.events:
                    watch.on_event(code, now)
                self.status.read_at = chunk.read_at  # the lag watch's arrival time
                try:
                    handle(self.status, chunk.messages)
                finally:
                    self.status.read_at = None
                self.sleep(0)  # a chunk at a time: the relay and the web get their turn
        finally:
            reader.stop("internal error")  # a no-op when it was told why already
            reader.room_made()


def reachable(endpoint, timeout):
    """None when a TCP connection to tcp://HOST:PORT opens within `timeout` seconds, else why not."""
    import socket

    host, _, port = endpoint[len("tcp://"):].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {str(exc)[:80]}"


def _problem_of(why):
    """Why a socket was made anew or dropped, in a word the page may say (health.SourceStatus)."""
    if "oversized" in why:
        return "oversized"
    if "handshake" in why:
        return "handshake"
    if why.startswith("no connection for"):
        return "no_answer"
    return None
