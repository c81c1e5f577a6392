"""The store's background work: batched writes, pruning, saving the model; and the restore at start."""
import logging
import time

from dashboard.core.events import ParseError, parse_frames
from dashboard.core.state import OverLimit

log = logging.getLogger("dashboard.storage.store")
WRITE_EVERY = 0.5
PRUNE_EVERY = 60.0


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

    def restore(self, max_replay=1_000_000):
        """Load the saved model, then replay the events stored after it (before any source starts)."""
        body, last_id = self.store.load_model()
        if body:
            self.state.restore(body)
        replayed = 0
        for _, frames in self.store.frames_after(last_id, max_replay):
            try:
                self.state.apply(parse_frames(frames, self.settings["max_message_size"]))
                replayed += 1
            except (ParseError, OverLimit):  # stored before today's limits: skipped as it came
                continue
        self.restored = {"from_snapshot": bool(body), "replayed": replayed}
        if body or replayed:
            log.info("restored the model from the store: %d devices, %d jobs, %d workers "
                     "(%d events replayed after the saved model)", len(self.state.devices),
                     len(self.state.jobs), len(self.state.workers), replayed)
        return self.restored

    def run_writer(self):
        """Commit queued events every WRITE_EVERY seconds, in batches."""
        last_save = self.clock()
        while True:
            self.sleep(WRITE_EVERY)
            try:
                while self.store.queue:
                    self.run_in_thread(self.store.flush)
                if self.clock() - last_save >= self.settings["snapshot_interval"]:
                    if self.save_model():
                        last_save = self.clock()
            except Exception:
                log.exception("store writer")

    def save_model(self):
        """Save the model when it matches the store exactly (nothing queued or in flight)."""
        if self.store.queue or self.store.in_flight:
            return False
        body = self.state.dump()  # taken in the hub: consistent with what is committed
        last_id = self.run_in_thread(self.store.last_id)
        self.run_in_thread(self.store.save_model, body, last_id)
        return True

    def close(self):
        """At exit: commit everything queued, then save the model (plain calls: the hub is ending)."""
        for _ in range(1000):
            if not self.store.queue:
                break
            self.store.flush()
        self.store.save_model(self.state.dump(), self.store.last_id())

    def run_pruner(self):
        """Apply retention every PRUNE_EVERY seconds."""
        while True:
            try:
                deleted = self.run_in_thread(self.store.prune, self.settings["retention_days"] * 86400,
                                             self.settings["max_events"])
                if deleted:
                    log.info("pruned %d stored events (retention)", deleted)
            except Exception:
                log.exception("store pruner")
            self.sleep(PRUNE_EVERY)
