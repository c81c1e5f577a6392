"""A standby ingest process's side of the store (docs/deployment.md: a second ingest process on the
same --redis-prefix). While another ingest process publishes, it is the one that writes the shared
store: this process's keeper holds the newest rows instead of writing them (hold), and when it takes
over writes those the other did not store (take_over), once each. A mixin of EventStore
(storage/store.py), whose queue, transactions and roll-ups it uses."""
import collections
import logging

from dashboard.core import rollups
from dashboard.core.state import CORRECTION_KIND

log = logging.getLogger("dashboard.storage.store")
# The newest rows a standby holds (the rest are the publishing process's to store): they cover the
# time between its last write and the takeover (its heartbeat expires 5 s after a crash) at 2,500
# events/s, and at a lab's usual few a second, hours. Bounded in characters too: a row may be up to
# --max-message-size twice (data and frames).
HELD_ROWS = 30_000
HELD_CHARS = 32 << 20
TAKE_OVER_ROWS = 2_000  # rows a request at the takeover (a request to the writer process is pickled)
UUIDS_A_QUERY = 400  # uuids looked up in one statement (below SQLite's oldest limit of 999 variables)


class Standby:
    """EventStore's hold and take_over (this module's docstring)."""

    def _init_standby(self):
        self.held = collections.deque()
        self._held_chars = 0
        self.standby = {"held": 0, "let_go": 0, "takeovers": 0, "already_stored": 0,
                        "written": 0, "corrections_skipped": 0}

    def hold(self):
        """Take the queued rows into the held ones (standing by: another process writes them);
        beyond HELD_ROWS or HELD_CHARS, the oldest held are let go. Runs on the loop: moves
        references only."""
        queue, held = self.queue, self.held
        while queue:
            row = queue.popleft()
            size = len(row[-1]) + len(row[-2])
            self._chars_out += size  # off the queue's bound, onto the held's own
            held.append(row)
            self._held_chars += size
        while held and (len(held) > HELD_ROWS or self._held_chars > HELD_CHARS):
            row = held.popleft()
            self._held_chars -= len(row[-1]) + len(row[-2])
            self.standby["let_go"] += 1
        self.standby["held"] = len(held)

    def take_over(self, from_another=True):
        """This process now writes the store: the held rows (and those queued since) that the
        other did not store are written, in order; corrections are left out (the other's
        reconciler kept its own). Returns (written, already stored). In a real thread.
        `from_another`: False at the end of a start's wait for Redis (not counted as a takeover,
        nor logged)."""
        self.hold()
        rows, self.held, self._held_chars = list(self.held), collections.deque(), 0
        self.standby["held"] = 0
        self.standby["takeovers"] += bool(from_another)
        events = [row for row in rows if row[4] != CORRECTION_KIND]
        self.standby["corrections_skipped"] += len(rows) - len(events)
        written = known = 0
        for i in range(0, len(events), TAKE_OVER_ROWS):
            part = events[i:i + TAKE_OVER_ROWS]
            first = i == 0  # the spans are read again once, before the first part
            try:
                if self.remote is not None:
                    done, stored = self._remote_call("insert_missing", part, first)
                else:
                    done, stored = self.insert_missing(part, first)
            except Exception as exc:  # the writer process gone twice, the database away
                self.last_error = self._scrub(f"{type(exc).__name__}: {exc}")
                self._drop(len(part), "takeover", "could not store %d held events at the "
                           "takeover: %s", len(part), self.last_error)
                continue
            written += done
            known += stored
        self.standby["written"] += written
        self.standby["already_stored"] += known
        self.written += written
        if from_another:
            log.info("taking over the store: %d held events written, %d already stored by the "
                     "other ingest process, %d corrections left out", written, known,
                     len(rows) - len(events))
        return written, known

    def insert_missing(self, rows, reread=True):
        """(written, already stored) of rows another process may have stored: those whose uuid is
        stored are left out, the rest inserted. With `reread`, the open spans and queue are read
        again first (the other process's writes moved them on). Where the batches are written."""
        with self._write_lock:
            if reread:
                self._tracker = rollups.Tracker(self._open_spans(), self._queued())
            stored = self._stored_uuids(rows)
            missing = [row for row in rows if row[0] not in stored]
            return (self._insert(missing) if missing else 0), len(rows) - len(missing)

    def _stored_uuids(self, rows):
        """The uuids of these rows that the store holds, each looked up at its own time (ts)."""
        found = set()
        for i in range(0, len(rows), UUIDS_A_QUERY // 2):
            part = rows[i:i + UUIDS_A_QUERY // 2]
            times = sorted({row[2] for row in part})
            uuids = [row[0] for row in part]
            found.update(r["uuid"] for r in self._rows(
                f"SELECT uuid FROM events WHERE ts IN ({', '.join('?' * len(times))}) "
                f"AND uuid IN ({', '.join('?' * len(uuids))})", (*times, *uuids)))
        return found
