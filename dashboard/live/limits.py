"""What one client may cost: a rate limit on its requests (shared by every session of its address
and viewer), snapshots encoded once and shared, at most one snapshot waiting per client, and a
bound on what waits in its queue; for the answers that read the whole model (/api/v1/state,
/metrics), built in slices that give the event loop back, once for all who ask at the same moment,
kept while nothing changed, and at most a few at once per address.

python-engineio keeps one unbounded queue of packets per client (engineio.socket.Socket.queue);
a client that does not read lets it grow for ever. Outbox reads its length and, past the bound,
empties it and closes the connection: the client reconnects and catches up, or takes a snapshot.
"""
import logging
import math
import time

from engineio import packet as eio_packet
from socketio import packet as sio_packet

from dashboard.live.health import RateLimitedLog

log = RateLimitedLog(logging.getLogger("dashboard.live.relay"))  # one line per kind and 5 s


class TokenBucket:
    """`burst` requests at once, then `rate` per second."""

    def __init__(self, burst, rate, clock=time.monotonic):
        self.burst = burst
        self.rate = rate
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()

    def take(self):
        """0.0 when a request may go ahead (and it is counted), else the seconds until one may."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class SharedPacket(eio_packet.Packet):
    """An Engine.IO message whose encoded text is shared by every client it is queued for.

    engineio.packet.Packet.encode() copies its data into a new string per packet and caches it:
    one copy of a snapshot per client. This one hands out the same string, and records that the
    writer took it (then it is no longer waiting in the queue)."""

    def __init__(self, encoded):
        super().__init__(eio_packet.MESSAGE)
        self.encoded = encoded
        self.taken = False

    def encode(self, b64=False):
        self.taken = True
        return self.encoded

    def void(self):
        """Make a packet still waiting in a queue a no-op (a newer snapshot follows it)."""
        self.packet_type = eio_packet.NOOP
        self.encoded = str(eio_packet.NOOP)


class SnapshotCache:
    """Encoded snapshots by (filter key, seq, epoch, minute): clients that subscribe with the same
    filter between two changes (and in the same minute) share one build and one encoding. Cleared
    when the meta changes."""

    def __init__(self, size=16):
        self.size = size
        self.entries = {}
        self.built = 0
        self.shared = 0

    def get(self, key, build):
        """The encoded snapshot for key = (filter key, seq, epoch, minute), built by build() on a
        miss."""
        encoded = self.entries.get(key)
        if encoded is not None:
            self.shared += 1
            return encoded
        now = key[1], key[3:]
        # Only the current seq and minute are ever asked for again: older entries are dead weight.
        for old in [k for k in self.entries if (k[1], k[3:]) != now]:
            del self.entries[old]
        if len(self.entries) >= self.size:
            self.entries.pop(next(iter(self.entries)))
        encoded = self.entries[key] = build()
        self.built += 1
        return encoded

    def clear(self):
        self.entries.clear()


class Outbox:
    """This process's Socket.IO clients, at the Engine.IO level: the length of each client's
    queue, snapshots sent without copies (at most one waiting per client), and dropping a client
    that fell too far behind."""

    def __init__(self, socketio, max_queue, namespace="/"):
        self.socketio = socketio  # flask_socketio.SocketIO; its .server exists once bound
        self.max_queue = max_queue
        self.namespace = namespace
        self.waiting = {}  # sid → the SharedPacket of its last snapshot
        self.superseded = 0
        self.dropped = 0
        self.largest = 0  # the longest queue seen at the last check

    def encode(self, event, data):
        """The Engine.IO text of one Socket.IO event, encoded once with the server's JSON."""
        server = self.socketio.server
        encoded = server.packet_class(sio_packet.EVENT, namespace=self.namespace,
                                      data=[event, data]).encode()
        if not isinstance(encoded, str):  # binary attachments: not something a snapshot holds
            raise TypeError("a snapshot cannot carry binary data")
        return str(eio_packet.MESSAGE) + encoded

    def _socket(self, sid):
        server = self.socketio.server
        eio_sid = server.manager.eio_sid_from_sid(sid, self.namespace)
        return server.eio.sockets.get(eio_sid) if eio_sid else None

    def queued(self, sid):
        """How many packets wait in this client's queue (None: not connected here)."""
        sock = self._socket(sid)
        return None if sock is None else sock.queue.qsize()

    def send_snapshot(self, sid, encoded):
        """Queue an encoded snapshot for sid; one still waiting for it becomes a no-op."""
        sock = self._socket(sid)
        if sock is None:
            return False
        previous = self.waiting.get(sid)
        if previous is not None and not previous.taken:
            previous.void()
            self.superseded += 1
        pkt = self.waiting[sid] = SharedPacket(encoded)
        sock.send(pkt)
        return True

    def forget(self, sid):
        self.waiting.pop(sid, None)

    def check(self, sids, record=True):
        """Drop every client among sids whose queue is over the bound; returns those dropped.
        `record`: keep the longest queue seen as `largest` (a check of all clients, for /healthz)."""
        dropped, largest = [], 0
        for sid in list(sids):
            n = self.queued(sid)
            if n is None:
                continue
            largest = max(largest, n)
            if n > self.max_queue:
                self.drop(sid, n)
                dropped.append(sid)
        if record:
            self.largest = largest
        return dropped

    def drop(self, sid, queued):
        """Empty a lagging client's queue and close its connection without waiting for it: what
        it still had to read is gone, and it reconnects and catches up or takes a snapshot."""
        sock = self._socket(sid)
        if sock is None:
            return
        self.dropped += 1
        log.warning("lagging", "a client fell %d messages behind (limit %d): dropping its queue "
                    "and closing its connection", queued, self.max_queue)
        empty = sock.server.get_queue_empty_exception()
        for _ in range(queued + 1000):  # bounded: the writer may take some meanwhile
            try:
                sock.queue.get_nowait()
                sock.queue.task_done()
            except empty:
                break
        self.forget(sid)
        # abort: no CLOSE packet, so a client sees a lost transport and reconnects by itself.
        sock.close(wait=False, abort=True, reason=sock.server.reason.TRANSPORT_ERROR)

    def stats(self):
        return {"snapshots_superseded": self.superseded, "dropped_slow": self.dropped,
                "largest_queue": self.largest, "max_client_queue": self.max_queue}


class MessageBudget:
    """A token bucket per Engine.IO connection over every message it sends, checked before
    python-socketio decodes the message (that decoding, not the relay, is what a flood of cheap
    requests costs). A client over its budget is disconnected: no dashboard client comes near it."""

    def __init__(self, burst, clock=time.monotonic):
        self.burst = burst
        self.clock = clock
        self.buckets = {}  # eio sid → TokenBucket, or None once cut off
        self.cut_off = 0

    def install(self, eio):
        """Wrap the Engine.IO server's message and disconnect handlers (python-socketio's)."""
        on_message, on_disconnect = eio.handlers["message"], eio.handlers["disconnect"]

        def message(eio_sid, data):
            if eio_sid not in self.buckets:
                self.buckets[eio_sid] = TokenBucket(self.burst, self.burst / 10, self.clock)
            bucket = self.buckets[eio_sid]
            if bucket is None:
                return None  # already cut off: what is still in flight goes nowhere
            if bucket.take():
                self.buckets[eio_sid] = None
                self.cut_off += 1
                log.warning("flood", "a client sent more than %d messages at once: "
                            "disconnecting it", self.burst)
                sock = eio.sockets.get(eio_sid)
                if sock is not None:
                    sock.close(wait=False, abort=True, reason=eio.reason.TRANSPORT_ERROR)
                return None
            return on_message(eio_sid, data)

        def disconnect(eio_sid, *args):
            # A client cut off keeps its mark: its messages still in flight must not start a
            # fresh budget (the marks are cleared now and then: a few bytes each).
            if self.buckets.get(eio_sid, True) is not None:
                self.buckets.pop(eio_sid, None)
            elif len(self.buckets) > 10000:
                self.buckets = {k: v for k, v in self.buckets.items() if v is not None}
            return on_disconnect(eio_sid, *args)

        eio.on("message", message)
        eio.on("disconnect", disconnect)


class SharedBuckets:
    """Token buckets shared by every session of one key (an address and a viewer): opening another
    session, or reconnecting, brings no fresh bucket. Bounded: a bucket is held while a session
    uses it, and after the last one ends only until it has refilled (a full bucket is a new one)."""

    def __init__(self, burst, rate, clock=time.monotonic):
        self.burst = burst
        self.rate = rate
        self.clock = clock
        self.key_of = {}  # sid → its bucket's key, from its first request
        self.buckets = {}  # key → [TokenBucket, sessions using it]
        self.idle = {}  # key → (when its last session ended, TokenBucket)

    def bucket(self, sid, key):
        """The bucket of this session's key (the key it gave first: a session keeps its bucket)."""
        known = self.key_of.get(sid)
        if known is None:
            self.forget_refilled()
            known = self.key_of[sid] = key
            entry = self.buckets.get(key)
            if entry is None:
                _, bucket = self.idle.pop(key, (None, None))
                entry = self.buckets[key] = [bucket or TokenBucket(self.burst, self.rate,
                                                                   self.clock), 0]
            entry[1] += 1
        return self.buckets[known][0]

    def release(self, sid):
        """Forget a session that ended (again, or one that never asked: nothing)."""
        now = self.forget_refilled()
        key = self.key_of.pop(sid, None)
        if key is not None:
            entry = self.buckets[key]
            entry[1] -= 1
            if entry[1] <= 0:
                del self.buckets[key]
                bucket = entry[0]
                if bucket.tokens + (now - bucket.updated) * bucket.rate < bucket.burst:
                    self.idle[key] = (now, bucket)  # not refilled yet: kept until it is

    def forget_refilled(self):
        """Let the idle buckets that have refilled go; returns the clock's time."""
        now = self.clock()
        while self.idle:  # the oldest first: each has refilled burst / rate seconds after it
            key, (since, _) = next(iter(self.idle.items()))
            if now - since < self.burst / self.rate:
                break
            del self.idle[key]
        return now

    def __len__(self):
        return len(self.buckets) + len(self.idle)


class AddressShares:
    """What the Socket.IO clients of one address share: a cap on their sessions, and a `subscribe`
    token bucket per viewer among them (SharedBuckets), so that opening another session (or
    reconnecting) brings no fresh bucket. Bounded: an address is held while it has a session; a
    bucket while a session of its address and viewer uses it, and after the last one ends only
    until it has refilled."""

    def __init__(self, cap, burst, rate, clock=time.monotonic):
        self.cap = cap  # sessions per address; 0: no limit
        self.sids = {}  # address → its sessions' sids
        self.address = {}  # sid → address
        self.subscribe = SharedBuckets(burst, rate, clock)  # (address, viewer key) → bucket

    def full(self, address):
        """Whether `address` holds as many sessions as it may."""
        return bool(self.cap) and len(self.sids.get(address, ())) >= self.cap

    def admit(self, sid, address):
        """Count a session of `address`."""
        self.subscribe.forget_refilled()
        self.address[sid] = address
        self.sids.setdefault(address, set()).add(sid)

    def address_of(self, sid):
        """The client address of a session ("?" for one not admitted)."""
        return self.address.get(sid, "?")

    def bucket(self, sid, viewer_key):
        """The subscribe bucket of this session's address and viewer."""
        return self.subscribe.bucket(sid, (self.address_of(sid), viewer_key))

    def release(self, sid):
        """Forget a session that ended (again: nothing)."""
        self.subscribe.release(sid)
        address = self.address.pop(sid, None)
        if address is not None:
            sids = self.sids[address]
            sids.discard(sid)
            if not sids:
                del self.sids[address]

    def stats(self):
        return {"sessions": len(self.address), "session_addresses": len(self.sids),
                "most_sessions_of_an_address": max(map(len, self.sids.values()), default=0),
                "max_sessions_per_address": self.cap,
                "subscribe_buckets": len(self.subscribe)}


class Pause:
    """Gives the event loop back to the other green threads once `every` seconds of work have gone
    by since it last did: code that walks the whole model calls it every few hundred objects, and
    no client, source or writer waits longer than a slice. `pauses` counts them.

    It sleeps `rest` seconds, not 0: gevent runs what sleep(0) queues (a callback) 50 at a time
    before it looks at its sockets again, so a green thread that only ever slept 0 between 5 ms
    slices held every socket for a quarter of a second (bench/bigstate.py); a timer, however
    short, lets the loop poll its sockets first, under gevent and eventlet alike."""

    def __init__(self, sleep, every=0.005, rest=0.0002, clock=time.perf_counter):
        self.sleep = sleep
        self.every = every
        self.rest = rest
        self.clock = clock
        self.since = clock()
        self.pauses = 0

    def __call__(self):
        if self.clock() - self.since >= self.every:
            self.sleep(self.rest)
            self.pauses += 1
            self.since = self.clock()


class Busy(Exception):
    """An expensive answer refused for now: its client has as many being built as it may.
    `retry_after`: whole seconds worth waiting."""

    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = retry_after


class BuiltOnce:
    """Answers that read the whole model (the state, a scrape's lab figures), kept by key while
    their `tag` (the model's epoch and seq, and whatever else they depend on) is unchanged and for
    at most `ttl` seconds; and built once for everyone who asks at the same moment: a request whose
    key is being built waits for that build (and costs nothing meanwhile), then takes its answer,
    as of moments before. Bounded: one entry per key, `max_entries` keys and `max_bytes` in all
    (the oldest go first; an answer larger than that is not kept)."""

    def __init__(self, make_event, max_entries=16, max_bytes=64 * 2**20, clock=time.monotonic,
                 wait=60.0):
        self.make_event = make_event  # () → an Event of the async mode (green)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self.wait = wait  # the longest a request waits for another's build before building
        self.entries = {}  # key → (tag, until, size, answer), oldest first
        self.building = {}  # key → [Event, answer or None]
        self.built = self.reused = self.shared = 0
        self.last_build = 0.0  # seconds the last build took

    def get(self, key, tag, build, ttl, size=len):
        """The answer for key: kept (same tag, not older than ttl), another request's build in
        progress, or build() (which may raise: then nothing is kept, and those waiting for it
        build their own). `size(answer)` counts its bytes."""
        self._forget_expired()
        while True:
            entry = self.entries.get(key)
            if entry is not None and entry[0] == tag and self.clock() < entry[1]:
                self.reused += 1
                return entry[3]
            pending = self.building.get(key)
            if pending is None:
                break
            if not pending[0].wait(self.wait):
                break  # waited long enough: build it anew
            if pending[1] is not None:
                self.shared += 1
                return pending[1]
            # That build failed: ask again (another waiter may be building it already).
        pending = self.building[key] = [self.make_event(), None]
        try:
            start = self.clock()
            answer = build()
            self.last_build = self.clock() - start
            self.built += 1
            pending[1] = answer
            self._keep(key, tag, ttl, size(answer), answer)
            return answer
        finally:
            if self.building.get(key) is pending:
                del self.building[key]
            pending[0].set()

    def _forget_expired(self):
        now = self.clock()
        for old in [k for k, e in self.entries.items() if now >= e[1]]:
            del self.entries[old]  # dead weight (at most max_entries to look at)
        return now

    def _keep(self, key, tag, ttl, nbytes, answer):
        self.entries.pop(key, None)
        now = self._forget_expired()
        if nbytes > self.max_bytes:
            return
        while self.entries and (len(self.entries) >= self.max_entries
                                or sum(e[2] for e in self.entries.values()) + nbytes
                                > self.max_bytes):
            self.entries.pop(next(iter(self.entries)))
        self.entries[key] = (tag, now + ttl, nbytes, answer)

    def retry_after(self):
        """Whole seconds a refused request is told to wait: about one build."""
        return max(1, math.ceil(self.last_build))

    def stats(self):
        return {"built": self.built, "reused": self.reused, "shared": self.shared,
                "kept": len(self.entries), "kept_bytes": sum(e[2] for e in self.entries.values()),
                "last_build_ms": round(self.last_build * 1000, 1)}


class PerAddress:
    """At most `limit` expensive answers being built at once for one client address (0: no limit):
    a client that sends many at once cannot multiply the work. Those over it are refused, told
    when to come back; the relay's rule for sessions, applied to requests."""

    def __init__(self, limit):
        self.limit = limit
        self.busy = {}  # address → answers being built for it
        self.refused = 0

    def enter(self, address):
        """Count one more answer being built for `address`; False (and counted) when it may not."""
        if self.limit and self.busy.get(address, 0) >= self.limit:
            self.refused += 1
            return False
        self.busy[address] = self.busy.get(address, 0) + 1
        return True

    def leave(self, address):
        """One answer of `address` done."""
        left = self.busy.get(address, 0) - 1
        if left > 0:
            self.busy[address] = left
        else:
            self.busy.pop(address, None)

    def stats(self):
        return {"building": sum(self.busy.values()), "refused": self.refused,
                "max_per_address": self.limit}
