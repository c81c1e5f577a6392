"""Several processes, one live model: the ingest process publishes it through Redis, web processes
follow it. Protocol and fault handling: docs/deployment.md.

Redis holds, under `<prefix>:`:
- `changes`: a stream of numbered change batches (`epoch`, `first`, `last`, `changes` as JSON in
  wire form), at most about `change_log` entries;
- `snapshot`: the whole model (`state.dump()`) with its epoch, its seq, the id of the last stream
  entry it includes, and the meta clients are given; rewritten every few seconds;
- `ingest`: a heartbeat that expires when the ingest process stops (its epoch, seq, meta, health).

The epoch is new at every start of the ingest process: sequence numbers only compare within one. A
web process applies a batch when it follows on from its own seq in the same epoch; anything else (a
gap, a new epoch, a lost stream) makes it load the snapshot and have its clients resubscribe.
"""
import json
import logging
import time

log = logging.getLogger("dashboard.cluster")

HEARTBEAT_EVERY = 1.0
HEARTBEAT_TTL = 5  # seconds without a heartbeat before web processes say the ingest process is gone
SNAPSHOT_EVERY = 5.0
RETRY_CEILING = 5.0


def connect(url):
    """A Redis client that fails fast: a dead Redis must show in /healthz, not hang a loop."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3,
                                health_check_interval=10)


def safe_url(url):
    """The Redis URL without its password, for /healthz and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"[:300]


class Keys:
    """The Redis key names of one dashboard."""

    def __init__(self, prefix):
        self.changes = f"{prefix}:changes"
        self.snapshot = f"{prefix}:snapshot"
        self.ingest = f"{prefix}:ingest"


class Publisher:
    """The ingest process's side: takes the place of the relay (push, set_status) and writes the
    changes, snapshots and heartbeats to Redis from one loop. While Redis is away, changes wait
    (up to `max_pending`; beyond that they are dropped and the next snapshot covers them)."""

    def __init__(self, redis_client, keys, state, meta, epoch, sleep, emit, health_fn,
                 interval=0.1, max_pending=20000, stream_length=5000, clock=time.monotonic):
        self.redis = redis_client
        self.keys = keys
        self.state = state
        self.meta = meta
        self.epoch = epoch
        self.sleep = sleep
        self.emit = emit  # Socket.IO emit through the message queue: reaches every web's clients
        self.health_fn = health_fn
        self.interval = interval
        self.max_pending = max_pending
        self.stream_length = stream_length
        self.clock = clock
        self.pending = []
        self.needs_snapshot = True  # the first round writes one: web processes start from it
        self.last_entry = "0-0"
        self.snapshot_seq = None
        self.last_snapshot = float("-inf")
        self.last_heartbeat = float("-inf")
        self.published = 0
        self.dropped = 0
        self.errors = 0
        self.error = None
        self.connected = False

    # -- the relay's interface, for Ingest and the Reconciler -------------------------------
    def push(self, changes):
        """Queue changes for the next batch."""
        self.pending.extend(changes)
        if len(self.pending) > self.max_pending:
            self.dropped += len(self.pending)
            self.pending = []
            self.needs_snapshot = True
            log.warning("Redis is behind by more than %d changes: dropping them, the next snapshot "
                        "covers them", self.max_pending)

    def set_status(self, status):
        """Merge into the meta clients are given, and tell every client of every web process."""
        self.meta.update(status)
        self.last_heartbeat = float("-inf")  # web processes take meta from the heartbeat: now
        try:
            self.emit("status", status)
        except Exception as exc:  # Redis away: the heartbeat carries it once Redis is back
            log.warning("could not broadcast a status: %s", _describe(exc))

    # -- the loop ---------------------------------------------------------------------------
    def run(self, rounds=None):
        """Publish every `interval`; on a Redis error, retry with backoff and write a snapshot
        once it answers again (it may have lost everything)."""
        delay = self.interval
        for _ in iter(int, 1) if rounds is None else range(rounds):
            self.sleep(delay)
            try:
                self.publish_once()
                delay = self.interval
            except Exception as exc:
                self.errors += 1
                if self.connected or self.error is None:
                    log.warning("Redis: %s; retrying", _describe(exc))
                self.connected = False
                self.error = _describe(exc)
                self.needs_snapshot = True
                delay = min(RETRY_CEILING, max(self.interval, delay * 2))

    def publish_once(self):
        """One round: the pending batch, then a snapshot and a heartbeat when due."""
        now = self.clock()
        batch, self.pending = self.pending, []
        try:
            if batch:
                self._append(batch)
        except Exception:
            self.pending = batch + self.pending  # not written: keep them for the next round
            raise
        if self.needs_snapshot or (now - self.last_snapshot >= SNAPSHOT_EVERY
                                   and self.snapshot_seq != self.state.seq):
            self._write_snapshot()
            self.last_snapshot = now
        if now - self.last_heartbeat >= HEARTBEAT_EVERY:
            self._heartbeat()
            self.last_heartbeat = now
        if not self.connected:
            log.info("Redis: connected; publishing the model as epoch %s", self.epoch)
        self.connected, self.error = True, None

    def _append(self, batch):
        body = json.dumps([c.wire() for c in batch], separators=(",", ":"))
        self.last_entry = self.redis.xadd(
            self.keys.changes, {"epoch": self.epoch, "first": batch[0].seq, "last": batch[-1].seq,
                                "changes": body},
            maxlen=self.stream_length, approximate=True).decode()
        self.published += len(batch)

    def _write_snapshot(self):
        body = {"epoch": self.epoch, "seq": self.state.seq, "entry": self.last_entry,
                "meta": self.meta, "model": self.state.dump(), "saved": time.time()}
        self.redis.set(self.keys.snapshot, json.dumps(body, separators=(",", ":")))
        self.snapshot_seq = self.state.seq
        self.needs_snapshot = False

    def _heartbeat(self):
        body = {"epoch": self.epoch, "seq": self.state.seq, "meta": self.meta,
                "health": self.health_fn(), "time": time.time()}
        self.redis.set(self.keys.ingest, json.dumps(body, separators=(",", ":")), ex=HEARTBEAT_TTL)

    def stats(self):
        """The /healthz section."""
        return {"role": "ingest", "epoch": self.epoch, "redis": "connected" if self.connected
                else "error", "error": self.error, "pending": len(self.pending),
                "published": self.published, "dropped": self.dropped, "errors": self.errors,
                "snapshot_seq": self.snapshot_seq}


class Replica:
    """A web process's side: keeps its model equal to the ingest process's, and hands each batch
    to its relay with the ingest's numbers."""

    def __init__(self, redis_client, keys, state, relay, sleep, block_ms=1000, clock=time.monotonic,
                 on_snapshot=None):
        self.redis = redis_client
        self.keys = keys
        self.state = state
        self.relay = relay
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
        self.snapshots = 0
        self.gaps = 0
        self.batches = 0
        self.errors = 0

    def run(self, rounds=None):
        """Follow the stream; on any Redis error, say so and retry with backoff."""
        delay = 0.1
        for _ in iter(int, 1) if rounds is None else range(rounds):
            try:
                self.follow_once()
                if not self.connected:
                    log.info("Redis: following the ingest process (epoch %s, seq %d)",
                             self.epoch, self.state.seq)
                    self._set_cluster_status(None)
                self.connected, self.error = True, None
                delay = 0.1
            except Exception as exc:
                self.errors += 1
                if self.connected or self.error is None:
                    log.warning("Redis: %s; retrying", _describe(exc))
                self.connected, self.error = False, _describe(exc)
                self.ingest = None
                self._set_cluster_status("Redis cannot be reached: the live feed is paused")
                self.sleep(delay)
                delay = min(RETRY_CEILING, delay * 2)

    def follow_once(self):
        """One round: check the heartbeat (at most every second), load a snapshot if needed, then
        read the stream (blocking up to block_ms)."""
        now = self.clock()
        if now - self.last_check >= HEARTBEAT_EVERY:
            self.last_check = now
            self._check_ingest()
        if self.epoch is None:
            if not self._load_snapshot("start"):
                self.sleep(0.5)  # nothing published yet: the ingest process is not up
                return
        reply = self.redis.xread({self.keys.changes: self.entry}, count=200, block=self.block_ms)
        for _, entries in reply or ():
            for entry_id, fields in entries:
                if not self._apply(entry_id.decode(), fields):
                    self._load_snapshot("gap")
                    return

    def _check_ingest(self):
        raw = self.redis.get(self.keys.ingest)
        self.ingest = json.loads(raw) if raw else None
        if self.ingest is None:
            self._set_cluster_status("the ingest process is not running: no new events")
            return
        self._set_cluster_status(None)
        meta = {k: v for k, v in self.ingest["meta"].items() if k != "epoch"}
        if "lava" in meta and meta["lava"] != self.relay.meta.get("lava"):
            # Normally already told through the message queue; this covers a message it lost
            # (its listener reconnects on its own schedule after a Redis outage).
            self.relay.set_status({"lava": meta["lava"]})
        self.relay.meta.update(meta)
        if self.epoch is not None and self.ingest["epoch"] != self.epoch:
            self._load_snapshot("ingest restarted")

    def _apply(self, entry_id, fields):
        epoch = fields[b"epoch"].decode()
        first, last = int(fields[b"first"]), int(fields[b"last"])
        if epoch == self.epoch and last <= self.state.seq:
            self.entry = entry_id  # already in the snapshot we loaded
            return True
        if epoch != self.epoch or first != self.state.seq + 1:
            self.gaps += 1
            log.info("stream entry %s (epoch %s, seq %d-%d) does not follow seq %d of epoch %s: "
                     "loading the snapshot", entry_id, epoch, first, last, self.state.seq, self.epoch)
            return False
        changes = self.state.follow(json.loads(fields[b"changes"]))
        self.entry = entry_id
        self.batches += 1
        self.relay.push(changes)
        return True

    def _load_snapshot(self, reason):
        raw = self.redis.get(self.keys.snapshot)
        if not raw:
            return False
        body = json.loads(raw)
        self.state.restore(body["model"])
        self.entry = body["entry"]
        self.snapshots += 1
        first = self.epoch is None
        self.epoch = body["epoch"]
        self.relay.meta.update(body["meta"])
        self.relay.restart(self.epoch, reason)
        if self.on_snapshot:
            self.on_snapshot(body["meta"])
        log.log(logging.INFO if first else logging.WARNING,
                "loaded the model's snapshot (%s): epoch %s, seq %d", reason, self.epoch, self.state.seq)
        return True

    def _set_cluster_status(self, problem):
        """Tell this process's clients (and new ones, through meta) whether the feed is live."""
        status = {"state": "error", "error": problem} if problem else {"state": "ok", "error": None}
        if self.relay.meta.get("cluster") != status:
            self.relay.set_status({"cluster": status})

    def degraded(self):
        """What /healthz lists as degraded."""
        out = []
        if not self.connected:
            out.append("redis")
        elif self.ingest is None:
            out.append("ingest")
        else:
            out.extend("ingest:" + name for name in self.ingest["health"].get("degraded", []))
        return out

    def stats(self):
        """The /healthz section."""
        lag = None
        if self.ingest is not None and self.ingest["epoch"] == self.epoch:
            lag = max(0, self.ingest["seq"] - self.state.seq)
        return {"role": "web", "epoch": self.epoch, "redis": "connected" if self.connected
                else "error", "error": self.error, "entry": self.entry, "lag": lag,
                "snapshots": self.snapshots, "gaps": self.gaps, "batches": self.batches,
                "errors": self.errors, "ingest": self.ingest and {
                    k: self.ingest[k] for k in ("epoch", "seq", "health", "time")}}
