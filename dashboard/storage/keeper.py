"""The store's background work: batched writes, pruning, saving the model; and the restore at start."""
import logging
import time

from dashboard.core.events import ParseError, parse_frames
from dashboard.core.ratelimit import RateLimiter
from dashboard.core.screen import Screened
from dashboard.core.state import LabState, OverLimit

log = logging.getLogger("dashboard.storage.store")
WRITE_EVERY = 0.5  # under load: fewer, larger transactions (--store-write-every, this its default)
WRITE_SOON = 0.1  # at a lab's usual rates: what a SIGKILL can lose is at most this much
# A round that wrote at least this many rows means load: the next waits WRITE_EVERY (or
# --store-write-every, W). From WRITE_SOON rounds that takes 1,000 events/s; once in W rounds,
# STAY_BUSY events/s stay there (W × STAY_BUSY rows a round, 100 at 0.5 s), whatever W is.
# Much of a commit's cost is the pages it dirties
# (eight indexes and the roll-ups) whatever its rows: 25,000 events of 10 s written 250 rows a
# commit took 1.3-1.7 times the CPU per row of 1,250 a commit (EventStore.flush alone, in one process, on this 2-core machine).
BUSY_ROUND = 100
STAY_BUSY = 200  # events/s
PRUNE_EVERY = 60.0
# Seconds between two looks at how many rows were written since the last round of retention: one
# tenth of --max-events written brings the next round forward (a store audit: at 8,000 events/s a
# store of --max-events 5000 held 472,036 rows between two rounds a minute apart).
PRUNE_CHECK = 5.0
WATCH_EVERY = 5.0  # seconds between two looks at the store's batch and file (run_watch)


class StoreKeeper:
    """Runs the store's loops in the app's green threads, its database work in real threads."""

    def __init__(self, store, state, settings, run_in_thread, sleep, clock=time.monotonic):
        self.store = store
        self.state = state
        self.settings = settings
        self.run_in_thread = run_in_thread
        self.sleep = sleep
        self.clock = clock
        self.restored = None
        self.recovered = None  # {"reason", "moved_to"} when the store was unusable at start
        self.errors = RateLimiter(30.0, clock)
        # () → whether another ingest process writes the shared store now (cluster_ingest.py's
        # ModelPublisher.standing_by): this one then holds its newest rows instead of writing them,
        # saves no model, prunes nothing, and writes what the other did not store once it stops.
        self.standing_by = lambda: False
        self.stood_by = False
        self.other_seen = False  # stood by for another process, not only at the start
        # () → whether another ingest process was ever seen publishing (ModelPublisher.rival_seen),
        # even between two of this one's looks
        self.rival_seen = lambda: False

    def restore(self, max_replay=1_000_000):
        """Load the saved model, then replay the events stored after it (before any source starts)."""
        skipped = 0
        try:
            body, last_id = self.store.load_model()
            if body:
                self.state.restore(body)
                # LAVA's answers are not kept across a restart: a job made private while the
                # dashboard was down would stay shown as public for as long as LAVA cannot be
                # asked. Private until the start-up reconciliation asks again (docs/security.md).
                self.state.forget_visibility()
        except (ValueError, KeyError, TypeError) as exc:  # unreadable: replay everything instead
            log.error("the saved model is unreadable (%s): replaying the stored events instead",
                      type(exc).__name__)
            self.state.restore(LabState().dump())
            body, last_id, skipped = None, 0, 1
        replayed = 0
        # (With the device screen not known, a saved model from before it or none saved, only
        # workers' events and messages of no job go in: the others wait for LAVA's answer, and
        # the first reconciliation loads what it shows. core/screen.py; docs/security.md.)
        for _, frames in self.store.frames_after(last_id, max_replay):
            try:
                if frames is None:
                    raise ParseError("not_json", "a stored row's frames are unreadable")
                self.state.apply(parse_frames(frames, self.settings["max_message_size"]))
                replayed += 1
            except (OverLimit, Screened):  # beyond today's --max-* limits, or kept out (LAVA
                continue  # hides it from anonymous users): skipped as it would be now
            except Exception:  # one bad row costs only itself
                skipped += 1
        if skipped:
            log.error("%d unreadable stored rows (or model) skipped during the restore", skipped)
        self.restored = {"from_snapshot": bool(body), "replayed": replayed, "skipped": skipped}
        if body or replayed:
            log.info("restored the model from the store: %d devices, %d jobs, %d workers "
                     "(%d events replayed after the saved model)", len(self.state.devices),
                     len(self.state.jobs), len(self.state.workers), replayed)
        return self.restored

    def run_writer(self):
        """Commit queued events in batches: every WRITE_SOON seconds, every --store-write-every
        (WRITE_EVERY) under load."""
        last_save = self.clock()
        under_load = self.settings.get("store_write_every", WRITE_EVERY)
        wrote, pause = 0, WRITE_SOON
        while True:
            busy = wrote >= (BUSY_ROUND if pause == WRITE_SOON else STAY_BUSY * under_load)
            pause = under_load if busy else WRITE_SOON
            self.sleep(pause)
            wrote = 0
            try:
                if self._hold():
                    continue
                while self.store.queue:
                    wrote += self.run_in_thread(self.store.flush) or 0
                if self.clock() - last_save >= self.settings["snapshot_interval"]:
                    if self.save_model():
                        last_save = self.clock()
            except Exception as exc:  # a full disk: say so every 30 s, not every round
                self._error("writer", exc)

    def _hold(self):
        """While standing by, hold the queued rows (True); at the takeover, first write what was
        held and the other did not store."""
        why = self.standing_by()
        if why:  # (the publisher says why in the log)
            self.stood_by = True
            self.other_seen = self.other_seen or why != "unknown"
            self.store.hold()
            # It writes nothing while it stands by: a batch that failed before is not its news
            # (the store_failing alert, /healthz; a review).
            self.store.failing = False
            return True
        if self.stood_by:
            self.run_in_thread(self.store.take_over, self.other_seen or self.rival_seen())
            self.stood_by = self.other_seen = False
        return False

    def save_model(self):
        """Save the model when it matches the store exactly (nothing queued or in flight)."""
        if self.store.queue or self.store.in_flight:
            return False
        body = self.state.dump()  # taken in the hub: consistent with what is committed
        last_id = self.run_in_thread(self.store.last_id)
        self.run_in_thread(self.store.save_model, body, last_id)
        # Written, as its batches are (no writer process: PostgreSQL, or SQLite written in the
        # app): the store keeps what it is given again, though no event came since its last batch
        # failed (a quiet lab after an outage: /healthz and the store_failing alert said so until
        # the next event). A writer process's batches are not proved by this write (a review).
        if self.store.remote is None:
            self.store.failing = False
        return True

    def _error(self, what, exc):
        speak, held = self.errors.allow(what)
        if speak:
            log.error("store %s: %s: %s%s", what, type(exc).__name__, str(exc)[:300],
                      f" ({held} more since the last report)" if held else "")

    def close(self):
        """At exit: commit everything queued, then save the model (plain calls: the hub is ending).
        A standby writes nothing: the store is the other ingest process's. Returns whether it
        wrote."""
        if self.stood_by or self.standing_by():
            self.store.close()
            return False
        for _ in range(1000):
            # A flush of the keeper's own may be under way in its pool thread, with rows it took
            # from the queue: this one waits for it (one flush at a time), then writes the rest.
            if not self.store.queue and self.store.idle():
                break
            self.store.flush()
        self.store.save_model(self.state.dump(), self.store.last_id())
        self.store.close()
        return True

    def run_pruner(self, rounds=None):
        """Apply retention every PRUNE_EVERY seconds: to events, and to resolved alerts (a firing
        one is kept however old: it still needs a person)."""
        done = 0
        while rounds is None or done < rounds:
            max_age = self.settings["retention_days"] * 86400
            written, deleted = self.store.written, 0
            try:
                deleted = self._prune(max_age)
            except Exception as exc:
                self._error("pruner", exc)
            done += 1
            if rounds is None or done < rounds:
                self._wait_for_pruning(written, full=bool(deleted))

    def run_watch(self, rounds=None):
        """Every WATCH_EVERY seconds, the store's watch (a batch stalled, its file gone: logged and
        kept for /healthz), in a thread: a hung disk holds that thread, not the loop's hub."""
        done = 0
        while rounds is None or done < rounds:
            try:
                self.run_in_thread(self.store.watch)
            except Exception as exc:
                self._error("watch", exc)
            done += 1
            if rounds is None or done < rounds:
                self.sleep(WATCH_EVERY)

    def _wait_for_pruning(self, written, full):
        """Sleep until the next round is due: PRUNE_EVERY seconds, or sooner once rows past the
        bound are sure: a tenth of --max-events written since the last round (`written`: the count
        of rows written then) when that round found the store at its bound (`full`), else the
        whole of --max-events (before it, a round may find nothing to do)."""
        bound = self.settings["max_events"]
        enough = max(1, bound // 10 if full else bound)
        waited = 0.0
        while waited < PRUNE_EVERY and self.store.written - written < enough:
            self.sleep(PRUNE_CHECK)
            waited += PRUNE_CHECK

    def _prune(self, max_age):
        """One round of retention, unless another ingest process keeps it (standing by); returns
        how many events it deleted."""
        if self.stood_by or self.standing_by():
            return 0
        deleted = self.run_in_thread(self.store.prune, max_age, self.settings["max_events"])
        if deleted:
            log.info("pruned %d stored events (retention)", deleted)
        alerts = self.run_in_thread(self.store.prune_alerts, time.time() - max_age)
        if alerts:
            log.info("pruned %d resolved alerts (retention)", alerts)
        return deleted
