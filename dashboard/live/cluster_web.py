"""A web process's side of a cluster: it follows the ingest process's model through Redis (loads
its snapshot, applies its change batches in order, watches its heartbeat), serves nothing while its
access would be less strict than the ingest process's, and forwards acknowledgements. What Redis
holds, and what both sides share: live/cluster.py; docs/deployment.md."""
import logging
import time
import uuid

from dashboard.core.clusterwire import (Malformed, ack_request, parse_ack_reply, parse_batch,
                                        parse_heartbeat, parse_kept, parse_snapshot)
from dashboard.core.state import LabState
from dashboard.live.cluster import (ACCESS_RANK, ACK_LOG, ACK_WAIT, HEARTBEAT_EVERY, OWN_META,
                                    STALLED_AFTER, UNKNOWN_ACCESS, Problem, _describe, _get,
                                    _retry_forever, _typed, log)
from dashboard.live.health import RateLimitedLog


MAX_LABS = 32  # labs compared at most (dashboard.labs.MAX_LABS: this layer may not import it)


def lava_servers(meta):
    """(lab name, LAVA URL) of each lab a meta names (its `labs`), or of its one lab; None when
    `meta` is not a meta. What a web process compares with the ingest process's."""
    if not isinstance(meta, dict):
        return None
    labs = meta.get("labs")
    if isinstance(labs, list) and labs:
        return tuple((str(lab.get("name")), str(lab.get("lava_url") or "").rstrip("/"))
                     for lab in labs[:MAX_LABS] if isinstance(lab, dict))
    return (("", str(meta.get("lava_url") or "").rstrip("/")),)


class Replica:
    """A web process's side: keeps its model equal to the ingest process's, and hands each batch
    to its relay with the ingest's numbers."""

    def __init__(self, redis_client, keys, state, relay, meta, sleep, block_ms=1000,
                 clock=time.monotonic, on_snapshot=None, access=None, lava=None):
        self.redis = redis_client
        # This process's --access (None: not checked). A web process whose access lets anyone see
        # more than the ingest process's would (a web process started without the --lava-url the
        # ingest process has is `open`) loads no model and serves nothing but why (access_problem).
        self.access = access
        # This process's LAVA servers (lava_servers of its own meta; None: not checked). In `lava`
        # and `login` modes they must be the ingest process's: its viewers are signed in, and told
        # what they may see, by them (found by an audit: a web process given a staging LAVA's
        # --lava-url showed a staging user production's job of the same id in full).
        self.lava = lava
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
        # The ingest process's kept-out jobs' version last read (the heartbeat's `kept_out`)
        self.kept_seen = 0
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
            return
        if self.ingest.get("kept_out", 0) != self.kept_seen:
            self._read_kept()
        if self.ingest["seq"] > self.state.seq:
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
            raw = _typed(lambda: self.redis.hgetall(self.keys.snapshot), "a hash")
            epoch, entry, body = parse_snapshot(raw)
        except Malformed as exc:
            return self._bad_snapshot(exc)
        if self._access_differs(body["meta"]):
            return False
        self.state.restore(body["model"])
        self._learn_kept(raw.get(b"kept_version"), raw.get(b"kept_out"))
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
        access is taken as `login`. With access control here, an open ingest process differs too:
        the device screen and the jobs' visibility are made there, only with access control."""
        if self.access is None:
            return False
        theirs = ingest_meta.get("access") if isinstance(ingest_meta, dict) else None
        if self.access != "open" and theirs == "open":
            # (An audit: an open ingest process has no device screen and asks LAVA about no job,
            # so a `lava` web process showed everyone the boards LAVA hides, and their jobs.)
            problem = (f"this web process's access is {self.access}, the ingest process's is open: "
                       f"its model holds the devices LAVA hides from anonymous users, and it asks "
                       f"LAVA about no job, so this process would show them; it serves nothing; "
                       f"give the ingest process this one's --lava-url and --access, as "
                       f"docs/deployment.md says")
        elif ACCESS_RANK.get(self.access, 0) >= ACCESS_RANK.get(theirs, ACCESS_RANK["login"]):
            if (self.lava is None or self.access == "open"
                    or lava_servers(ingest_meta) == self.lava):
                if self.mismatch:
                    log.info("access: this process's (%s) is now as strict as the ingest "
                             "process's, with the same LAVA", self.access)
                self.access_problem, self.mismatch = None, False
                return False
            problem = ("this web process follows another LAVA server than the ingest process: "
                       "viewers would be signed in, and told what they may see, by a LAVA that "
                       "does not hold the jobs shown, so it serves nothing; give it the ingest "
                       "process's --lava-url (or --labs), as docs/deployment.md says")
        else:
            theirs = theirs if theirs in ACCESS_RANK else "unknown"
            problem = (f"this web process's access is {self.access}, the ingest process's is "
                       f"{theirs}: it would show viewers what LAVA does not show them, so it "
                       f"serves nothing; give it the ingest process's --lava-url (and --access), "
                       f"as docs/deployment.md says")
        self.access_problem = problem
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

    def _read_kept(self):
        """The jobs the ingest process's screen keeps out, written beside its snapshot, read
        again: the heartbeat says they grew. Of this epoch's snapshot only."""
        try:
            epoch, version, jobs = _typed(lambda: self.redis.hmget(
                self.keys.snapshot, "epoch", "kept_version", "kept_out"), "a hash")
        except Malformed as exc:
            self._bad_snapshot(exc)
            return
        if epoch is not None and epoch.decode("utf-8", "replace") == self.epoch:
            self._learn_kept(version, jobs)

    def _learn_kept(self, version, jobs):
        """Into the model's followed screens (LabState.learn_kept_out); of another shape: counted
        among the snapshots, and read again at the next heartbeat."""
        try:
            version, by_lab = parse_kept(version, jobs)
        except Malformed as exc:
            self._bad_snapshot(exc)
            return
        self.state.learn_kept_out(by_lab)
        self.kept_seen = version if version is not None else 0

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
