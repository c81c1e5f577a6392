"""The ingest process's side of a cluster: it publishes the live model to Redis (its changes, a
snapshot every few seconds, a heartbeat) and answers the acknowledgements web processes forward.
What Redis holds, and what both sides share: live/cluster.py; docs/deployment.md."""
import collections
import json
import threading
import time

from dashboard.core.clusterwire import (ByteWindow, Malformed, parse_ack_request, parse_claim,
                                        split_encoded)
from dashboard.live.cluster import (ACK_READ, ACK_WAIT, CLAIM_WAIT, HEARTBEAT_EVERY, HEARTBEAT_TTL,
                                    KEPT_EVERY, MALFORMED_LOG_EVERY, MAX_ENTRY_BYTES, SNAPSHOT_EVERY,
                                    STATUS_QUEUE, STATUS_TIMEOUT, STREAM_BYTES, RivalIngest,
                                    _deadline, _describe, _get, _retry_forever, _start_thread,
                                    _typed, log)
from dashboard.live.health import RateLimitedLog


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
        # The screen's kept-out jobs (LabState.kept_out) as last written beside the snapshot, and
        # when: written again, at most every KEPT_EVERY, once the screen keeps out a job anew.
        self.kept_written = 0
        self.last_kept = float("-inf")
        self.last_heartbeat = float("-inf")
        self.published = 0
        self.dropped = 0
        self.errors = 0
        self.error = None
        self.connected = False
        self.rival = None  # the epoch of another ingest process publishing here, or None
        self.failed_on_rival = False  # whether its last failure was the rival, not Redis
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
        """Queue changes for the next batch; none while another ingest process publishes: this
        one's first round after a takeover writes a snapshot, which holds them (an audit: a
        standby queued up to --max-pending-changes, then warned "Redis is behind" and counted
        them dropped, every few minutes)."""
        if self.rival is not None:
            self.needs_snapshot = True
            return
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
        # Only Redis's answer says whether another publishes: a Redis that hangs or fails says
        # nothing of it, and a standby stays one (an audit: a Redis hang of 12 s made the standby
        # write the store beside the main process, 131 events twice, then win the claim).
        self.failed_on_rival = isinstance(exc, RivalIngest)  # (else Redis failed: /healthz)
        if self.failed_on_rival:
            self.rival = exc.args[0]
            self.pending = []  # (its takeover's snapshot holds them)
            self.generation += 1
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
            elif (now - self.last_kept >= KEPT_EVERY
                  and self.state.kept_out_version() != self.kept_written):
                self._replacing(self.keys.snapshot, "snapshots", "a hash", lambda: self.redis.hset(
                    self.keys.snapshot, mapping=self._kept_fields()))
                self.last_kept = now
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
                                         "body": json.dumps(body, separators=(",", ":")),
                                         **self._kept_fields()}))
        self.snapshot_seq = model["seq"]
        self.needs_snapshot = False

    def _kept_fields(self):
        """The snapshot's fields of the jobs the screen keeps out (LabState.kept_out): web
        processes read them again whenever the heartbeat's `kept_out` says they grew (a job kept
        out that the model never held leaves no removal in the stream to learn it from)."""
        version, jobs = self.state.kept_out()
        self.kept_written = version
        return {"kept_version": version, "kept_out": json.dumps(jobs, separators=(",", ":"))}

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
        of another shape claims nothing: this process's claim takes its place. Where no claim is,
        this process publishes only once Redis has taken its own (_write_claim): reading that
        none is says nothing while Redis refuses writes."""
        other = self._claim()
        if other is None and not self.closed:
            other = self._write_claim()
        self.claim_checked = True
        if other is not None and other != self.epoch:
            raise RivalIngest(other, f"another ingest process (epoch {other}) is publishing "
                                     f"under this --redis-prefix; waiting for its heartbeat to stop")
        self.rival = None

    def _write_claim(self):
        """Write this process's heartbeat where the key holds none, one of another shape, or this
        process's own, as one compare-and-set (WATCH: a write by anyone between the look and the
        write undoes it, and it looks again); returns the epoch that holds the claim after it
        (another's, when it came first). A Redis error here leaves a standby one (_failed): an
        audit found that a Redis answering reads but refusing writes (full under `noeviction`, a
        replica after a failover) let the main process's heartbeat expire, and the standby,
        reading no claim, wrote the shared store beside the main process until Redis took writes
        again. Before a review, the refresh was a plain SET (it could overwrite a claim made
        in the moment its own expired) and one of another shape was deleted, then claimed (two
        could each delete the other's)."""
        import redis

        body = self._heartbeat_body()
        for _ in range(3):
            with self.redis.pipeline() as pipe:
                pipe.watch(self.keys.ingest)
                other, _ = self._read_claim()
                if other not in (None, self.epoch):
                    return other
                pipe.multi()
                pipe.set(self.keys.ingest, body, ex=HEARTBEAT_TTL)
                try:
                    pipe.execute()
                    return self.epoch
                except redis.WatchError:  # written (or expired) meanwhile: look again
                    continue
        return self._read_claim()[0]

    def _read_claim(self):
        """(the epoch of the heartbeat in Redis, None when there is none or none readable; why it
        is of another shape, or None)."""
        try:
            raw = _get(self.redis, self.keys.ingest)
            epoch = parse_claim(raw) if raw else None
            # Every ingest process's heartbeat expires (HEARTBEAT_TTL): one that never does was
            # left by something else, and would hold the prefix for ever.
            if epoch not in (None, self.epoch) and self.redis.ttl(self.keys.ingest) == -1:
                raise Malformed("the heartbeat never expires")
            return epoch, None
        except Malformed as exc:
            return None, exc

    def _claim(self):
        """_read_claim's epoch; one of another shape is counted and logged."""
        epoch, bad = self._read_claim()
        if bad is not None:
            self.malformed["heartbeats"] += 1
            self.log.warning("heartbeat", "Redis key %s: %s; taken as no claim, and overwritten",
                             self.keys.ingest, bad)
        return epoch

    def _heartbeat(self):
        """Refresh the claim (_write_claim); RivalIngest when another holds it now."""
        if self.closed:  # exiting: the loop may still run while the store is flushed
            return
        holder = self._write_claim()
        if holder not in (None, self.epoch):
            raise RivalIngest(holder, f"another ingest process (epoch {holder}) took the claim; "
                                      f"standing by")

    def _heartbeat_body(self):
        body = {"epoch": self.epoch, "seq": self.state.seq, "meta": self.meta.as_dict(),
                "health": self.health_fn(), "time": time.time(), "kept_out": self.kept_written}
        return json.dumps(body, separators=(",", ":"))

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
