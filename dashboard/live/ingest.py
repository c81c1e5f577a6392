"""The one path every message takes: source → parse → state → (store, relay). Never lets a bad
message stop it."""
import collections
import contextlib
import time

from dashboard.core.events import ParseError, job_id as valid_job_id, parse_frames
from dashboard.core.lag import LagWatch
from dashboard.core.screen import Screened
from dashboard.core.state import CORRECTION_KIND, OverLimit
from dashboard.storage.store import row_for

# Events held while it is not known yet which devices LAVA shows anonymous users (core/screen.py):
# at most this many, and this many bytes of frames; past either the oldest go (counted). The
# reconciliation that learns it applies them; its snapshot repairs the model for those that went.
MAX_HELD = 50_000
MAX_HELD_BYTES = 64 * 2**20


class Ingest:
    """Parses frames, applies events to the model and hands the changes to the relay."""

    def __init__(self, state, relay, health, max_message_size, store=None, watch_lag=True,
                 clock=time.time):
        self.state = state
        self.relay = relay
        self.health = health
        self.max_message_size = max_message_size
        self.store = store
        # How far behind each source's publisher this reader runs (core/lag.py); not for the
        # simulated lab, whose clock is its own.
        self.watch_lag = watch_lag
        self.clock = clock
        self.on_behind = []  # callables(source name): a suspected loss (the reconciler checks LAVA)
        # (number, source, frames, size, kind, job id or None), oldest first: see MAX_HELD
        self.held = collections.deque()
        self.held_bytes = 0
        self.held_total = 0  # numbers the held events: where a reconciliation's fetch began
        self.held_dropped = 0

    def handle(self, source, frames):
        """Handle one multipart message from `source` (a SourceStatus). Never raises."""
        changes = self._take(source, frames)
        if changes:
            self._push(source, changes)

    def handle_many(self, source, messages):
        """handle() each message of a chunk in turn, then hand all their changes on at once: one
        push through the relay, the alert rules and the other observers for the chunk, not one
        per message (the loop takes a chunk without yielding, so nobody sees the difference).
        Never raises."""
        held = []
        for frames in messages:
            changes = self._take(source, frames)
            if changes:
                held.extend(changes)
        if held:
            self._push(source, held)

    def _take(self, source, frames, replay=False):
        """Parse, apply, store one message: its changes (None when it made none). Never raises.
        `replay`: a held message, counted and watched when it came."""
        if not replay:
            self.health.message(source)
        try:
            event = parse_frames(frames, self.max_message_size)
        except ParseError as error:
            self.health.reject(source, error, frames)
            return None
        except Exception as exc:  # a parser bug must not kill the loop either
            self.health.internal_error(source, exc)
            return None
        if self.watch_lag and not replay:
            self._watch(source, event)
        if event.kind == CORRECTION_KIND:  # only the reconciler writes history of that kind
            self.health.reject(source, ParseError("bad_value", "topic kind 'correction' is the "
                                                  "dashboard's own, not LAVA's"), frames)
            return None
        try:
            try:
                changes = self.state.apply(event)
            except OverLimit as err:  # counted by the model (state.over_limit); not stored either
                self.health.log.warning("over_limit", "dropped message from %s: %s", source.name, err)
                return None
            except Screened as out:  # LAVA hides it from anonymous users: not stored (core/screen.py)
                if out.held:
                    self._hold(source, frames, event.kind, valid_job_id(event.data.get("job")))
                return out.changes or None
            if changes is None:
                self.health.duplicates += 1
                return None
            self.health.accepted += 1
            if event.unusable:  # (a message kept: not a duplicate, nor one kept out)
                self.health.unusable_time(source, event)
            if self.store is not None:
                self.store.enqueue(row_for(event, frames, self.state.row_context(event), time.time()))
            return changes
        except Exception as exc:
            self.health.internal_error(source, exc)
            return None

    def _hold(self, source, frames, kind, job=None):
        size = sum(len(f) for f in frames)
        self.held_total += 1
        self.held.append((self.held_total, source, frames, size, kind, job))
        self.held_bytes += size
        while len(self.held) > MAX_HELD or self.held_bytes > MAX_HELD_BYTES:
            dropped = self.held.popleft()[3]
            self.held_bytes -= dropped
            self.held_dropped += 1
            self.health.log.warning("held", "events held until LAVA says which devices it shows "
                                    "anonymously exceed %d (or %d MB): the oldest left out "
                                    "(%d so far)", MAX_HELD, MAX_HELD_BYTES >> 20, self.held_dropped)

    def release_held(self, mark, untracked, deferring=None):
        """The screen is known now: apply the held events in the order they came, store and push
        them. Those numbered up to `mark` (held before the reconciliation's fetch began) within
        `untracked` (a context: the fetch's values win over them), those after as touches (they
        win). `deferring` (a context; the first release, before the snapshot is applied): a
        message of a job the model does not hold yet waits, held again, until an event of its
        job brings it in (then it goes in at once, before that job's later messages), else until a
        second call, after the snapshot, which may bring its job. (Reviews: held messages released
        after every job's events lost those of jobs that finished and left the model meanwhile;
        one that came before its job's first event went in after its later ones.)"""
        held, self.held, self.held_bytes = self.held, collections.deque(), 0
        if not held:
            return
        first_source = held[0][1]
        changes, waiting = [], {}  # waiting: job id → its messages held again, in order
        message_numbers = set()  # the messages held again that went in during this call

        def take(item):
            before = len(self.held)
            changes.extend(self._take(item[1], item[2], replay=True) or ())
            if len(self.held) > before and item[5] is not None:  # (held again: its job is not in)
                waiting.setdefault(item[5], []).append(self.held[-1])
            elif item[4] == "testjob" and item[5] in waiting and item[5] in self.state.jobs:
                for message in waiting.pop(item[5]):  # (its job is in the model now)
                    changes.extend(self._take(message[1], message[2], replay=True) or ())
                    message_numbers.add(message[0])

        with deferring() if deferring is not None else contextlib.nullcontext():
            with untracked():
                while held and held[0][0] <= mark:
                    take(held.popleft())
            for item in held:
                take(item)
        if message_numbers:
            self.held = collections.deque(item for item in self.held
                                          if item[0] not in message_numbers)
        self.held_bytes = sum(item[3] for item in self.held)
        if changes:
            self._push(first_source, changes)

    def held_status(self):
        """For /healthz."""
        return {"events_held": len(self.held), "held_left_out": self.held_dropped}

    def _push(self, source, changes):
        try:
            self.relay.push(changes)
        except Exception as exc:
            self.health.internal_error(source, exc)

    def _watch(self, source, event):
        watch = source.lag
        if watch is None:
            watch = source.lag = LagWatch()
        if watch.observe(event.time.timestamp(), source.read_at or self.clock()):
            self.health.suspected_loss(source, watch.last_behind)
            for callback in self.on_behind:
                callback(source.name)
