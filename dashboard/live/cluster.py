"""Several processes, one live model: the ingest process publishes it through Redis, web processes
follow it. Protocol and fault handling: docs/deployment.md.

Redis holds, under `<prefix>:`:
- `changes`: a stream of numbered change batches (`epoch`, `first`, `last`, `changes` as JSON in
  wire form), at most about `change_log` entries and `stream_bytes` bytes (a batch is written as
  entries of at most MAX_ENTRY_BYTES; a new epoch starts it afresh);
- `snapshot`: a hash: the whole model (`body`, `state.dump()` and the meta clients are given), its
  `epoch` and `seq`, and `entry`, a stream id after which every change newer than `seq` is found;
  rewritten every few seconds, and always before the first batch of an epoch;
- `ingest`: a heartbeat that expires when the ingest process stops (its epoch, seq, meta, health);
- `acks`: a stream of acknowledgements web processes forward (they have no alert engine), at most
  ACK_LOG entries; the ingest process answers each in the list `acks:<request>`, which expires.

The epoch is new at every start of the ingest process: sequence numbers only compare within one. A
web process applies a batch's changes that follow on from its own seq in the same epoch (skipping
those it has). Anything else (a gap, a new epoch, changes that cannot be applied) makes it load the
snapshot and have its clients resubscribe, or wait for a newer snapshot when the current one cannot
help: it never applies a change it cannot place.

What is read from Redis is checked for the shape this module writes: another version, or a person's
XADD or SET, may put anything there. A stream entry of another shape is skipped alone (counted; the
entries after it are applied, and a gap it leaves is handled as any gap), a heartbeat of another
shape is no heartbeat (and no claim: the ingest process overwrites it), a snapshot of another shape
is no snapshot (the next one is waited for). A `changes` or `snapshot` key of another Redis type
(WRONGTYPE) is replaced by the ingest process, as its heartbeat is, and read as absent by web
processes until it is. None of them is taken for Redis failing. The checks are pure, in
dashboard/core/clusterwire.py.
"""
import collections
import contextlib
import json
import logging
import sys
import threading
import time
import uuid

from dashboard.core.backoff import Backoff
from dashboard.core.clusterwire import (ByteWindow, Malformed, ack_request, parse_ack_reply,
                                        parse_ack_request, parse_batch, parse_claim,
                                        parse_heartbeat, parse_snapshot, split_encoded)
from dashboard.core.state import LabState
from dashboard.live.health import RateLimitedLog

log = logging.getLogger("dashboard.live.cluster")

HEARTBEAT_EVERY = 1.0
HEARTBEAT_TTL = 5  # seconds without a heartbeat before web processes say the ingest process is gone
# Seconds from the start that an ingest process stands by while Redis has not yet said whether
# another one publishes (ModelPublisher.standing_by): a Redis that is down must not keep it from
# storing its events for longer.
CLAIM_WAIT = 5.0
SNAPSHOT_EVERY = 5.0
RETRY_CEILING = 5.0
STALLED_AFTER = 10.0  # seconds a web process may stay behind the heartbeat's seq without reading
# What a web process keeps of its own when it copies the ingest process's meta.
OWN_META = ("epoch", "access")
# Who sees less, higher (core.visibility's modes): a web process may be as strict as the ingest
# process or stricter, never less.
ACCESS_RANK = {"open": 0, "lava": 1, "login": 2}
UNKNOWN_ACCESS = ("the ingest process's access is not known yet (no heartbeat or snapshot read): "
                  "this web process serves nothing until it is")
MALFORMED_LOG_EVERY = 30.0  # seconds between two warnings about Redis data of the wrong shape
# The change stream's bound in bytes (besides `change_log` entries): each entry holds at most
# MAX_ENTRY_BYTES of changes (a single larger change goes alone), and the oldest entries go once the
# newest hold more than STREAM_BYTES.
MAX_ENTRY_BYTES = 1 << 20
STREAM_BYTES = 64 << 20
# Statuses (the meta's changes) waiting to go through the message queue: a Redis that hangs must not
# hold up whoever changed the meta (the sources' loops). Beyond STATUS_QUEUE the oldest is dropped
# (counted): web processes copy the whole meta from the next heartbeat anyway.
STATUS_QUEUE = 64
STATUS_TIMEOUT = 2.0  # seconds one status may take to publish before it is given up (counted)
# Acknowledgements forwarded by web processes (docs/deployment.md): a web process waits ACK_WAIT
# seconds for the answer (less than connect()'s socket_timeout); the request stream keeps ACK_LOG.
ACK_WAIT = 4.0
ACK_LOG = 1000
ACK_READ = 100  # requests the ingest process reads at a time


def connect(url):
    """A Redis client that fails fast: a dead Redis must show in /healthz, not hang a loop."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3,
                                health_check_interval=10)


def _deadline(seconds):
    """(a context manager that interrupts the green call inside it after `seconds`, the exception it
    raises): the message queue's Redis client has no timeout of its own. Without a green hub
    (unit tests), none."""
    if "eventlet" in sys.modules:
        from eventlet import Timeout, patcher
        if patcher.is_monkey_patched("socket"):
            return Timeout(seconds), Timeout
    if "gevent" in sys.modules:
        from gevent import Timeout, monkey
        if monkey.is_module_patched("socket"):
            return Timeout(seconds), Timeout
    return contextlib.nullcontext(), ()


def _start_thread(target, name):
    """A daemon thread (a green one under eventlet or gevent: the standard library is patched)."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"[:300]


def _retry_forever(once, on_error, sleep, first_delay, rounds=None):
    """Call once() for ever (or `rounds` times); after an error, on_error(exc) and a pause that
    backs off up to RETRY_CEILING. once() returns the pause before the next call."""
    backoff = Backoff(first_delay, RETRY_CEILING)
    for _ in iter(int, 1) if rounds is None else range(rounds):
        try:
            pause = once()
            backoff.reset()
        except Exception as exc:  # whatever it is, the loop goes on: /healthz says what
            on_error(exc)
            pause = backoff.next()
        sleep(pause)


def _typed(command, what):
    """command(); a key of another type (another tool's, or a person's: WRONGTYPE) raises
    Malformed("the key is not <what>"), so that it is counted as data of another shape, not as
    Redis failing."""
    import redis

    try:
        return command()
    except redis.ResponseError as exc:
        if str(exc).startswith("WRONGTYPE"):
            raise Malformed(f"the key is not {what}") from None
        raise


def _get(redis_client, key):
    """GET `key`; a key of another type reads as Malformed."""
    return _typed(lambda: redis_client.get(key), "a string")


class Problem(collections.namedtuple("Problem", "code detail")):
    """Why a web process cannot follow the stream until it loads a snapshot. `code` decides what
    to do (other_epoch, gap, unplaceable, restarted, stalled, start); `detail` is for people."""

    def __str__(self):
        return self.detail


class RivalIngest(Exception):
    """Another ingest process is publishing under the same prefix (its heartbeat is fresh)."""


class Keys:
    """The Redis key names of one dashboard."""

    def __init__(self, prefix):
        self.changes = f"{prefix}:changes"
        self.snapshot = f"{prefix}:snapshot"
        self.ingest = f"{prefix}:ingest"
        self.acks = f"{prefix}:acks"

    def ack_reply(self, request_id):
        """The list the answer to one forwarded acknowledgement is pushed to."""
        return f"{self.acks}:{request_id}"


class ModelPublisher:
    """The ingest process's side: takes the place of the relay (push; the meta's changes) and writes the
    changes, snapshots and heartbeats to Redis from one loop. While Redis is away, changes wait
    (up to `max_pending`; beyond that they are dropped and the next snapshot covers them). Nothing
    here makes the caller of push() or of a meta update wait on Redis: statuses go out from a
    thread of their own, as do the answers to acknowledgements forwarded by web processes."""

    def __init__(self, redis_client, keys, state, meta, epoch, sleep, emit, health_fn,
                 interval=0.1, max_pending=20000, stream_length=5000, clock=time.monotonic,
                 stream_bytes=STREAM_BYTES, entry_bytes=MAX_ENTRY_BYTES, acknowledge=None):
        self.redis = redis_client
        self.keys = keys
        self.state = state
        self.meta = meta  # a live.meta.Meta: its changes go to every web process's clients
        self.epoch = epoch
        self.sleep = sleep
        self.emit = emit  # Socket.IO emit through the message queue: reaches every web's clients
        self.health_fn = health_fn
        self.interval = interval
        self.max_pending = max_pending
        self.stream_length = stream_length
        self.clock = clock
        self.pending = []
        self.generation = 0  # +1 whenever pending changes are dropped
        self.needs_snapshot = True  # the first round writes one: web processes start from it
        self.last_entry = None  # the stream's newest id; None: ask Redis (at start, after an error)
        self.snapshot_seq = None
        self.last_snapshot = float("-inf")
        self.last_heartbeat = float("-inf")
        self.published = 0
        self.dropped = 0
        self.errors = 0
        self.error = None
        self.connected = False
        self.rival = None  # the epoch of another ingest process publishing here, or None
        # Whether another ingest process was ever seen publishing here: what stood by for it
        # (the keeper, the alert engine) may have looked only before and after it (a takeover
        # within a second of the start), and its end is a takeover all the same.
        self.rival_seen = False
        # Whether this process has once asked Redis whether another publishes (standing_by), and
        # when it started asking.
        self.claim_checked = False
        self.started = clock()
        # What was found of another shape, and overwritten: heartbeats; and keys of another Redis
        # type, deleted first (changes, snapshot).
        self.malformed = {"heartbeats": 0, "changes": 0, "snapshots": 0}
        self.closed = False  # set at exit: no heartbeat may follow the one withdrawn
        self.log = RateLimitedLog(log, MALFORMED_LOG_EVERY, clock)
        self.entry_bytes = entry_bytes
        self.window = ByteWindow(stream_bytes, stream_length)  # the stream's newest entries' sizes
        self.fresh = False  # whether this process has started the stream afresh (its first round)
        self.trimmed = 0  # entries trimmed for the stream's bound in bytes
        # Statuses for the message queue, sent by their own thread (_send_statuses).
        self.statuses = collections.deque()
        self.statuses_ready = threading.Event()
        self.status_counts = {"sent": 0, "dropped": 0, "failed": 0, "timeouts": 0}
        # fn(lab, alert id, username) -> the answer to a forwarded acknowledgement (a dict of
        # clusterwire.parse_ack_reply's shape); None: this process answers none (web/alerts.py).
        self.acknowledge = acknowledge
        self.ack_counts = {"answered": 0, "malformed": 0, "errors": 0}
        self.threads = []
        meta.listen(self._broadcast)

    def standing_by(self):
        """Why this process keeps nothing in the shared store and sends no notification (it keeps
        its model, its alerts and the newest of its events, so as to take over), or "" when it
        does not stand by: "another" while another ingest process publishes here; "unknown"
        until Redis has first answered whether one does, for at most CLAIM_WAIT seconds from the
        start (what it holds meanwhile is written once it knows, less what another stored:
        EventStore.take_over; that end of a start is no takeover, and is not counted as one)."""
        if self.rival is not None:
            return "another"
        if not self.claim_checked and self.clock() - self.started < CLAIM_WAIT:
            return "unknown"
        return ""

    # -- the relay's interface, for Ingest and the Reconciler -------------------------------
    def push(self, changes):
        """Queue changes for the next batch."""
        self.pending.extend(changes)
        if len(self.pending) > self.max_pending:
            self._drop_pending()

    def _drop_pending(self):
        self.dropped += len(self.pending)
        self.pending = []
        self.generation += 1
        self.needs_snapshot = True
        log.warning("Redis is behind by more than %d changes: dropping them, the next snapshot "
                    "covers them", self.max_pending)

    def _broadcast(self, status):
        """The meta changed: queue it for every client of every web process (never waits: the
        caller may be a source's loop, and Redis may hang)."""
        self.last_heartbeat = float("-inf")  # web processes also take meta from the heartbeat
        if len(self.statuses) >= STATUS_QUEUE:
            self.statuses.popleft()
            self.status_counts["dropped"] += 1
        self.statuses.append(status)
        self.statuses_ready.set()

    def _send_statuses(self, rounds=None):
        """The statuses thread: emit what _broadcast queued, each within STATUS_TIMEOUT. What fails
        or is dropped, web processes learn from the next heartbeat (Replica._check_ingest)."""
        for _ in iter(int, 1) if rounds is None else range(rounds):
            if self.closed:
                return
            self.statuses_ready.wait(1.0)
            self.statuses_ready.clear()
            while self.statuses and not self.closed:
                status = self.statuses.popleft()
                deadline, timed_out = _deadline(STATUS_TIMEOUT)
                try:
                    with deadline:
                        self.emit("status", status)
                    self.status_counts["sent"] += 1
                except timed_out:
                    self.status_counts["timeouts"] += 1
                    self.log.warning("status", "a status took more than %.0f s to publish: given "
                                     "up (the heartbeat carries it)", STATUS_TIMEOUT)
                except Exception as exc:  # Redis away: the heartbeat carries it once Redis is back
                    self.status_counts["failed"] += 1
                    self.log.warning("status", "could not broadcast a status: %s", _describe(exc))

    # -- the loop ---------------------------------------------------------------------------
    def run(self, rounds=None):
        """Publish every `interval`; on a Redis error, retry with backoff, then write a snapshot
        first (Redis may have lost everything)."""
        def once():
            self.publish_once()
            return self.interval
        if not self.threads:  # statuses and forwarded acknowledgements: each its own thread
            self.threads = [_start_thread(self._send_statuses, "cluster-statuses"),
                            _start_thread(self.serve_acks, "cluster-acks")]
        _retry_forever(once, self._failed, self.sleep, self.interval, rounds)

    def _failed(self, exc):
        self.errors += 1
        if self.connected or self.error is None:
            log.warning("Redis: %s; retrying", _describe(exc))
        self.connected, self.error = False, _describe(exc)
        self.rival = exc.args[0] if isinstance(exc, RivalIngest) else None
        self.rival_seen = self.rival_seen or self.rival is not None
        self.needs_snapshot = True
        self.last_entry = None

    def publish_once(self):
        """One round: a snapshot when due, the pending batch, a heartbeat when due.

        The snapshot is taken in the same step as the batch (nothing runs in between), so it holds
        exactly the changes up to the batch's last; it is written before the batch, and names the
        stream's newest entry before it: a web process that loads it finds the rest after."""
        now = self.clock()
        if now - self.last_heartbeat >= HEARTBEAT_EVERY:
            self._check_alone()
        if self.last_entry is None:
            newest = self._replacing(self.keys.changes, "changes", "a stream",
                                     lambda: self.redis.xrevrange(self.keys.changes, count=1))
            self.last_entry = newest[0][0].decode() if newest else "0-0"
            if not self.fresh and newest:
                # A new epoch: what the stream holds is another's (web processes load this epoch's
                # snapshot); dropping it keeps the stream within its bound in bytes.
                self.redis.xtrim(self.keys.changes, maxlen=0, approximate=False)
            self.fresh = True
        batch, self.pending = self.pending, []
        generation = self.generation
        due = self.needs_snapshot or (now - self.last_snapshot >= SNAPSHOT_EVERY
                                      and self.snapshot_seq != self.state.seq)
        try:
            if due:
                self._write_snapshot(self.state.dump())
                self.last_snapshot = now
            if batch:
                self._append(batch)
        except Exception as exc:
            if generation == self.generation:  # not written: keep them for the next round
                self.pending = getattr(exc, "unwritten", batch) + self.pending
            raise
        if not self.connected:
            log.info("Redis: connected; publishing the model as epoch %s", self.epoch)
        self.connected, self.error = True, None  # before the heartbeat that says so
        if now - self.last_heartbeat >= HEARTBEAT_EVERY:
            self._heartbeat()
            self.last_heartbeat = now

    def _append(self, batch):
        """Write the batch as entries of at most entry_bytes of changes each; trim the stream to
        stream_bytes. Raises with the part not written put back in front of pending."""
        encoded = [json.dumps(c.wire(), separators=(",", ":")) for c in batch]
        for start, end in split_encoded(encoded, self.entry_bytes):
            body = "[" + ",".join(encoded[start:end]) + "]"
            fields = {"epoch": self.epoch, "first": batch[start].seq, "last": batch[end - 1].seq,
                      "changes": body}
            try:
                self.last_entry = self._replacing(
                    self.keys.changes, "changes", "a stream", lambda: self.redis.xadd(
                        self.keys.changes, fields, maxlen=self.stream_length,
                        approximate=True)).decode()
            except Exception as exc:
                exc.unwritten = batch[start:]  # publish_once keeps them for the next round
                raise
            self.published += end - start
            keep = self.window.add(self.last_entry, len(body) + 64)
            if keep is not None:
                try:
                    self.trimmed += self.redis.xtrim(self.keys.changes, minid=keep,
                                                     approximate=False) or 0
                except Exception as exc:
                    exc.unwritten = batch[end:]
                    raise

    def _write_snapshot(self, model):
        body = {"meta": self.meta.as_dict(), "model": model, "saved": time.time()}
        self._replacing(self.keys.snapshot, "snapshots", "a hash", lambda: self.redis.hset(
            self.keys.snapshot, mapping={"epoch": self.epoch, "seq": model["seq"],
                                         "entry": self.last_entry,
                                         "body": json.dumps(body, separators=(",", ":"))}))
        self.snapshot_seq = model["seq"]
        self.needs_snapshot = False

    def _replacing(self, key, kind, what, command):
        """command() on one of this dashboard's keys; if the key is of another Redis type (another
        tool's, or a person's SET), it is deleted, counted and logged, and command() tried again.
        The prefix is the dashboard's, as the heartbeat's key is (overwritten the same way)."""
        try:
            return _typed(command, what)
        except Malformed as exc:
            self.malformed[kind] += 1
            self.log.warning("type-" + kind, "Redis key %s: %s; deleted and written anew", key, exc)
            self.redis.delete(key)
            return command()

    def _check_alone(self):
        """The heartbeat is also the ingest process's claim: a fresh one of another epoch means
        another ingest process is publishing here (two would overwrite each other's model). One
        of another shape claims nothing: this process's heartbeat overwrites it."""
        other = self._claim()
        self.claim_checked = True
        if other is not None and other != self.epoch:
            raise RivalIngest(other, f"another ingest process (epoch {other}) is publishing "
                                     f"under this --redis-prefix; waiting for its heartbeat to stop")
        self.rival = None

    def _claim(self):
        """The epoch of the heartbeat in Redis; None when there is none, or none readable."""
        try:
            raw = _get(self.redis, self.keys.ingest)
            epoch = parse_claim(raw) if raw else None
            # Every ingest process's heartbeat expires (HEARTBEAT_TTL): one that never does was
            # left by something else, and would hold the prefix for ever.
            if epoch not in (None, self.epoch) and self.redis.ttl(self.keys.ingest) == -1:
                raise Malformed("the heartbeat never expires")
            return epoch
        except Malformed as exc:
            self.malformed["heartbeats"] += 1
            self.log.warning("heartbeat", "Redis key %s: %s; taken as no claim, and overwritten",
                             self.keys.ingest, exc)
            return None

    def _heartbeat(self):
        if self.closed:  # exiting: the loop may still run while the store is flushed
            return
        body = {"epoch": self.epoch, "seq": self.state.seq, "meta": self.meta.as_dict(),
                "health": self.health_fn(), "time": time.time()}
        self.redis.set(self.keys.ingest, json.dumps(body, separators=(",", ":")), ex=HEARTBEAT_TTL)

    # -- acknowledgements forwarded by web processes (they have no alert engine) -------------
    def serve_acks(self, rounds=None):
        """The acknowledgements thread: answer each request web processes add to the `acks`
        stream, while this process is the one publishing (not a standby). A request is checked for
        shape, and its viewer was checked by the web process as one process checks it."""
        state = {"after": None}

        def once():
            if self.closed or self.acknowledge is None or not self.connected:
                return 1.0
            if state["after"] is None:
                # From ACK_WAIT ago by Redis's clock (stream ids are its milliseconds): a request
                # older than that, its web process has given up; a newer one may have come before
                # this thread (re)started, and is answered (not only those after it).
                seconds, micros = self.redis.time()
                state["after"] = f"{max(0, seconds * 1000 + micros // 1000 - int(ACK_WAIT * 1000))}-0"
            reply = _typed(lambda: self.redis.xread({self.keys.acks: state["after"]},
                                                    count=ACK_READ, block=1000), "a stream")
            for _, entries in reply or ():
                for entry_id, fields in entries:
                    state["after"] = entry_id.decode()
                    self._answer_ack(fields)
            return 0.0

        def failed(exc):
            self.ack_counts["errors"] += 1
            state["after"] = None
            self.log.warning("acks", "acknowledgements forwarded by web processes: %s; retrying",
                             _describe(exc))
        # A thread of its own: it waits with the thread's own sleep (green once the standard
        # library is patched), never with the loop's `sleep`, which a test may make a no-op (the
        # thread then spun for the rest of the test run, a core's worth).
        _retry_forever(once, failed, time.sleep, 1.0, rounds)

    def _answer_ack(self, fields):
        try:
            request_id, lab, ident, username = parse_ack_request(fields)
        except Malformed as exc:
            self.ack_counts["malformed"] += 1
            self.log.warning("malformed-ack", "Redis key %s: an entry %s; skipped", self.keys.acks, exc)
            return
        try:
            answer = self.acknowledge(lab, ident, username)
        except Exception as exc:  # the engine's: answered, so that the viewer is told at once
            log.exception("acknowledging alert for a web process")
            answer = {"ok": False, "code": "error", "error": f"internal error ({type(exc).__name__})"}
        key = self.keys.ack_reply(request_id)
        pipe = self.redis.pipeline()
        pipe.rpush(key, json.dumps(answer, separators=(",", ":"), default=str))
        pipe.expire(key, int(ACK_WAIT) + 2)
        pipe.execute()
        self.ack_counts["answered"] += 1

    def close(self):
        """At exit: take the heartbeat away at once (if it is ours), so that web processes know and
        a new ingest process may publish without waiting for it to expire."""
        self.closed = True
        self.statuses_ready.set()
        try:
            if self._claim() == self.epoch:
                self.redis.delete(self.keys.ingest)
        except Exception as exc:  # Redis away: the heartbeat expires by itself
            log.warning("could not withdraw the heartbeat: %s", _describe(exc))

    def stats(self):
        """The /healthz section."""
        return {"role": "ingest", "epoch": self.epoch, "redis": "connected" if self.connected
                else "error", "error": self.error, "pending": len(self.pending),
                "published": self.published, "dropped": self.dropped, "errors": self.errors,
                "snapshot_seq": self.snapshot_seq, "rival": self.rival,
                "malformed": dict(self.malformed), "trimmed": self.trimmed,
                "stream_bytes": self.window.total,
                "statuses": dict(self.status_counts, queued=len(self.statuses)),
                "acks": dict(self.ack_counts)}


class Replica:
    """A web process's side: keeps its model equal to the ingest process's, and hands each batch
    to its relay with the ingest's numbers."""

    def __init__(self, redis_client, keys, state, relay, meta, sleep, block_ms=1000,
                 clock=time.monotonic, on_snapshot=None, access=None):
        self.redis = redis_client
        # This process's --access (None: not checked). A web process whose access lets anyone see
        # more than the ingest process's would (a web process started without the --lava-url the
        # ingest process has is `open`) loads no model and serves nothing but why (access_problem).
        self.access = access
        # Until the ingest process's access is read, one that may be stricter is not served (a
        # store's history is there before any model is).
        self.access_problem = (UNKNOWN_ACCESS if access is not None
                               and ACCESS_RANK.get(access, 0) < ACCESS_RANK["login"] else None)
        self.mismatch = False  # the ingest process's access was read, and is stricter
        self.keys = keys
        self.state = state
        self.relay = relay
        self.meta = meta  # the ingest process's meta is copied in; what changes is told to clients
        self.sleep = sleep
        self.block_ms = block_ms
        self.clock = clock
        self.on_snapshot = on_snapshot  # called with the ingest process's meta at each snapshot
        self.epoch = None  # None: no snapshot loaded yet
        self.entry = "0-0"
        self.connected = False
        self.error = None
        self.ingest = None  # the last heartbeat, None when there is none
        self.last_check = float("-inf")
        self.behind_since = None  # since when the heartbeat's seq is ahead of ours
        self.snapshots = 0
        self.gaps = 0
        self.skipped = 0
        self.batches = 0
        self.errors = 0
        # What was read of another shape: skipped (entries) or taken as absent (the others).
        self.malformed = {"entries": 0, "heartbeats": 0, "snapshots": 0, "changes": 0}
        # Acknowledgements forwarded to the ingest process (acknowledge), and how they ended.
        self.ack_counts = {"forwarded": 0, "answered": 0, "unanswered": 0, "malformed": 0}
        self.unreadable = None  # the stream's key, while it holds another Redis type
        self.waiting = None  # why the stream cannot be followed until a newer snapshot, or None
        self.log = RateLimitedLog(log, 30.0, clock)

    # -- the loop ---------------------------------------------------------------------------
    def run(self, rounds=None):
        """Follow the stream; on any error, say so and retry with backoff."""
        _retry_forever(self.follow_once, self._failed, self.sleep, 0.1, rounds)

    def _failed(self, exc):
        import redis

        self.errors += 1
        if self.connected or self.error is None:
            log.warning("following the ingest process: %s; retrying", _describe(exc))
        self.connected, self.error = False, _describe(exc)
        self.ingest = None
        self.last_check = float("-inf")  # check the heartbeat first once Redis answers
        self._set_cluster_status("Redis cannot be reached" if isinstance(exc, (redis.RedisError, OSError))
                                 else f"internal error ({type(exc).__name__})")

    def follow_once(self):
        """One round: check the heartbeat (at most every second), load a snapshot if needed, then
        read the stream (blocking up to block_ms). Returns the pause before the next round."""
        now = self.clock()
        if now - self.last_check >= HEARTBEAT_EVERY:
            self.last_check = now
            self._check_ingest(now)
        if not self.connected:
            log.info("Redis: connected; following the ingest process")
        self.connected, self.error = True, None
        if self.mismatch:  # no model to load until the heartbeat says otherwise
            return 1.0
        if self.epoch is None and not self._load_snapshot(Problem("start", "start")):
            return 0.5  # nothing published yet: the ingest process is not up
        if self.waiting:
            if not self._load_snapshot(self.waiting):
                return 1.0  # the snapshot cannot help yet: wait for a newer one
        try:
            reply = _typed(lambda: self.redis.xread({self.keys.changes: self.entry}, count=200,
                                                    block=self.block_ms), "a stream")
        except Malformed as exc:  # the ingest process replaces it when it next writes a batch
            if self.unreadable is None:  # counted once until it can be read again
                self._malformed("changes", "Redis key %s: %s; waiting for the ingest process to "
                                           "write it anew", self.keys.changes, exc)
            self.unreadable = self.keys.changes
            return 1.0
        self.unreadable = None
        for _, entries in reply or ():
            for entry_id, fields in entries:
                try:
                    problem = self._apply(entry_id.decode(), fields)
                except Malformed as exc:  # alone: the entries after it may follow on
                    self._malformed("entries", "stream entry %s: %s; skipped", entry_id.decode(),
                                    exc)
                    self.entry = entry_id.decode()
                    continue
                if problem:
                    self.gaps += 1
                    self.log.warning("gap", "stream entry %s: %s; loading the snapshot",
                                     entry_id.decode(), problem)
                    self.waiting = problem
                    return 0.0
        return 0.0

    def _check_ingest(self, now):
        try:
            raw = _get(self.redis, self.keys.ingest)
            self.ingest = parse_heartbeat(raw) if raw else None
        except Malformed as exc:
            self._malformed("heartbeats", "Redis key %s: %s; taken as no heartbeat",
                            self.keys.ingest, exc)
            self.ingest = None
            self._set_cluster_status("the ingest process's heartbeat cannot be read")
            return
        if self.ingest is None:
            self._set_cluster_status("no heartbeat from the ingest process")
            return
        if self._access_differs(self.ingest["meta"]):
            return
        self._set_cluster_status(None)
        # What changed is normally already told through the message queue; this covers a message
        # it lost (its listener reconnects on its own schedule after a Redis outage).
        self.meta.update({k: v for k, v in self.ingest["meta"].items() if k not in OWN_META})
        if self.epoch is None:
            return
        if self.ingest["epoch"] != self.epoch:
            self.waiting = Problem("restarted", "the ingest process restarted")
        elif self.ingest["seq"] > self.state.seq:
            # Behind, and nothing to read for that long (say, a stream whose ids went back):
            # the snapshot is the way forward.
            self.behind_since = self.behind_since if self.behind_since is not None else now
            if now - self.behind_since > STALLED_AFTER and not self.waiting:
                self.waiting = Problem("stalled", f"{self.ingest['seq'] - self.state.seq} changes "
                                                  f"behind for {STALLED_AFTER:.0f} s")
        else:
            self.behind_since = None

    def _apply(self, entry_id, fields):
        """Apply one stream entry; returns None, or why it cannot be placed (Malformed: of another
        shape)."""
        epoch, first, last, batch = parse_batch(fields)
        if epoch != self.epoch:
            return Problem("other_epoch", f"epoch {epoch}, the model's is {self.epoch}")
        if last <= self.state.seq:
            self.entry = entry_id  # already in the model (the snapshot held it)
            return None
        if first > self.state.seq + 1:
            return Problem("gap", f"changes {first}-{last} do not follow seq {self.state.seq}")
        wire = [c for c in batch if c["seq"] > self.state.seq]
        try:
            changes = self.state.follow(wire)
        except ValueError as exc:
            return Problem("unplaceable", str(exc))
        self.entry = entry_id
        self.batches += 1
        self.behind_since = None
        self.relay.push(changes)
        return None

    def _load_snapshot(self, reason):
        """Load the snapshot if it moves the model on; returns whether the stream can be followed."""
        try:
            head = _typed(lambda: self.redis.hmget(self.keys.snapshot, "epoch", "seq"), "a hash")
        except Malformed as exc:
            return self._bad_snapshot(exc)
        if head[0] is None:
            return False
        try:
            epoch, seq = head[0].decode(), int(head[1])
        except (TypeError, ValueError):
            return self._bad_snapshot("no epoch or seq")
        if epoch == self.epoch and seq <= self.state.seq and self.waiting:
            if self.waiting.code == "other_epoch":
                # An entry of another epoch than the current snapshot's (a second ingest process,
                # or one that stopped): not ours to apply; go past it.
                self.skipped += 1
                self.waiting = None
                self.entry = self._next_entry()
                return True
            return False  # the snapshot is not newer than the model: it cannot fill the gap
        try:
            epoch, entry, body = parse_snapshot(_typed(lambda: self.redis.hgetall(self.keys.snapshot),
                                                       "a hash"))
        except Malformed as exc:
            return self._bad_snapshot(exc)
        if self._access_differs(body["meta"]):
            return False
        self.state.restore(body["model"])
        self.entry = entry
        self.snapshots += 1
        first = self.epoch is None
        self.epoch = epoch
        self.waiting = None
        self.behind_since = None
        self.meta.update({k: v for k, v in body["meta"].items() if k not in OWN_META})
        self.meta.update({"epoch": self.epoch}, notify=False)
        self.relay.replace_model(str(reason))
        if self.on_snapshot:
            self.on_snapshot(body["meta"])
        log.log(logging.INFO if first else logging.WARNING,
                "loaded the model's snapshot (%s): epoch %s, seq %d", reason, self.epoch, self.state.seq)
        return True

    def acknowledge(self, lab, ident, username, wait=ACK_WAIT):
        """Forward a viewer's acknowledgement (checked by the caller, web/alerts.py) to the ingest
        process, whose alert engine it is: its answer ({"ok": true, "alert"} or {"ok": false,
        "code", "error"}), or None when none came within `wait` seconds. Redis errors raise."""
        self.ack_counts["forwarded"] += 1
        if self.ingest is None:
            self.ack_counts["unanswered"] += 1
            return None
        request_id = uuid.uuid4().hex
        self.redis.xadd(self.keys.acks, ack_request(request_id, lab, ident, username),
                        maxlen=ACK_LOG, approximate=True)
        got = self.redis.blpop([self.keys.ack_reply(request_id)], timeout=wait)
        if got is None:
            self.ack_counts["unanswered"] += 1
            return None
        try:
            answer = parse_ack_reply(got[1])
        except Malformed as exc:
            self.ack_counts["malformed"] += 1
            self.log.warning("malformed-ack", "Redis key %s: %s", self.keys.ack_reply(request_id), exc)
            return None
        self.ack_counts["answered"] += 1
        return answer

    def refusal(self, unknown_too=False):
        """Why Socket.IO serves no one (Relay.refusal): while the ingest process is known to be
        stricter; `unknown_too`: or while its access is not known yet (the log tail: clients may
        connect and wait before, for no model is loaded). None: served."""
        return self.access_problem if self.mismatch or unknown_too else None

    def _access_differs(self, ingest_meta):
        """Whether this process's access lets a viewer see more than the ingest process's (said in
        /healthz, the log and to clients; then this process drops its model, loads none, refuses
        Socket.IO and answers 503 elsewhere: web/auth.py). An ingest process's meta without its
        access is taken as `login`."""
        if self.access is None:
            return False
        theirs = ingest_meta.get("access") if isinstance(ingest_meta, dict) else None
        if ACCESS_RANK.get(self.access, 0) >= ACCESS_RANK.get(theirs, ACCESS_RANK["login"]):
            if self.mismatch:
                log.info("access: this process's (%s) is now as strict as the ingest process's",
                         self.access)
            self.access_problem, self.mismatch = None, False
            return False
        theirs = theirs if theirs in ACCESS_RANK else "unknown"
        self.access_problem = (f"this web process's access is {self.access}, the ingest "
                               f"process's is {theirs}: it would show viewers what LAVA does not "
                               f"show them, so it serves nothing; give it the ingest process's "
                               f"--lava-url (and --access), as docs/deployment.md says")
        self.mismatch = True
        self.log.warning("access", "%s", self.access_problem)
        self._set_cluster_status(self.access_problem)
        if self.epoch is not None:  # a model loaded before (an ingest process restarted stricter)
            self.state.restore(LabState().dump())
            self.epoch, self.entry = None, "0-0"
            self.meta.update({"epoch": None}, notify=False)
            self.relay.replace_model("access")
            self.relay.end_all(self.access_problem)
        return True

    def _bad_snapshot(self, why):
        """A snapshot of another shape is no snapshot: wait for the next one (False)."""
        self._malformed("snapshots", "Redis key %s: %s; waiting for the next snapshot",
                        self.keys.snapshot, why)
        return False

    def _malformed(self, kind, message, *args):
        """Count something of another shape read from Redis, and say so (at most every 30 s)."""
        self.malformed[kind] += 1
        self.log.warning("malformed-" + kind, message, *args)

    def _next_entry(self):
        """The id of the stream entry after the current one (to go past it)."""
        try:
            after = _typed(lambda: self.redis.xread({self.keys.changes: self.entry}, count=1),
                           "a stream")
        except Malformed:  # counted by the next read of the stream
            return self.entry
        return after[0][1][0][0].decode() if after else self.entry

    def _set_cluster_status(self, problem):
        """Tell this process's clients (and new ones, through meta) whether the feed is live."""
        status = {"state": "error", "error": problem} if problem else {"state": "ok", "error": None}
        self.meta.update({"cluster": status})

    def degraded(self):
        """What /healthz lists as degraded."""
        if not self.connected:
            return ["redis"]
        if self.ingest is None:
            return ["ingest"]
        out = ["ingest:" + name for name in self.ingest["health"].get("degraded", [])]
        out += ["access"] if self.access_problem else []
        return out + (["stream"] if self.waiting or self.unreadable else [])

    def stats(self):
        """The /healthz section."""
        lag = None
        if self.ingest is not None and self.ingest["epoch"] == self.epoch:
            lag = max(0, self.ingest["seq"] - self.state.seq)
        return {"role": "web", "epoch": self.epoch, "redis": "connected" if self.connected
                else "error", "error": self.error, "entry": self.entry, "lag": lag,
                "waiting": self.waiting and str(self.waiting), "snapshots": self.snapshots, "gaps": self.gaps,
                "skipped": self.skipped, "batches": self.batches, "errors": self.errors,
                "malformed": dict(self.malformed), "access_problem": self.access_problem,
                "acks": dict(self.ack_counts),
                "ingest": self.ingest and {k: self.ingest.get(k) for k in ("epoch", "seq", "health", "time")}}
