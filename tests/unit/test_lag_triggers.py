"""Reconciles asked for by suspected losses (live/reconcile.py, LagTriggers), with a made-up clock:
the first at once, later ones at most one per LAG_GAP, none lost, none cutting LAVA's back-off."""
import datetime as dt
import json
import types

import pytest

from dashboard.core import records
from dashboard.core.state import LabState
from dashboard.live.health import Health
from dashboard.live.ingest import Ingest
from dashboard.live.meta import Meta
from dashboard.live.reconcile import LAG_GAP, LagTriggers, Reconciler
from dashboard.sources.rest import LavaError

pytestmark = pytest.mark.unit

SETTINGS = {"reconcile_interval": 300, "silence_timeout": 0, "max_finished_jobs": 10}


class Clock:
    def __init__(self, now=1_764_000_000.0):  # (2025: the parser refuses times a day ahead)
        self.now = now

    def __call__(self):
        return self.now


class FakeEvent:
    """The reconciler's wake-up; a wait moves the made-up clock on instead of sleeping."""

    def __init__(self, clock):
        self.clock, self.flag = clock, False

    def set(self):
        self.flag = True

    def clear(self):
        self.flag = False

    def wait(self, timeout):
        if not self.flag:
            self.clock.now += timeout
        return self.flag


class FixedRest:
    base = "http://lava.invalid"

    def fetch_snapshot(self, max_finished, unfinished, crowded=False):
        return records.build([], [], [])


class Relay:
    def push(self, changes):
        pass


def reconciler_on(clock):
    """A Reconciler on `clock` that counts its triggers instead of waking a loop."""
    reconciler = Reconciler(LabState(), Relay(), Meta(), FixedRest(), SETTINGS,
                            lambda: FakeEvent(clock), clock=clock)
    reconciler.triggered = []
    reconciler.trigger = lambda reason: reconciler.triggered.append((clock.now, reason))
    return reconciler


def test_the_first_ask_goes_at_once_later_ones_fold_into_one_at_the_gap_end():
    lag = LagTriggers(gap=30)
    assert lag.ask(100) is True  # after a quiet spell: at once
    assert [lag.ask(t) for t in (101, 110, 129)] == [False] * 3
    assert lag.due == 130 and not lag.is_due(129.9) and lag.is_due(130)
    lag.started(130)  # the folded asks' reconcile
    assert lag.due is None and lag.ask(140) is False and lag.due == 160
    lag.started(150)  # a scheduled one: it answers the ask before it, and counts for the gap
    assert lag.due is None and lag.ask(170) is False and lag.due == 180
    assert lag.as_dict() == {"asked": 6, "folded": 5, "gap": 30, "pending": True}


def test_messages_late_by_turns_start_a_reconcile_per_gap_not_per_episode():
    # The reviewer's case: publish times alternate between now and 6 s ago, two a second for
    # 100 s: an episode of running behind every other message, a hundred in all.
    clock = Clock()
    reconciler = reconciler_on(clock)
    health = Health()
    source = health.add_source("tcp://lava:5500", "zmq")
    ingest = Ingest(LabState(), Relay(), health, 1 << 20, clock=clock)
    ingest.on_behind.append(lambda name: reconciler.behind())  # as factory._build_lab wires it
    started = []
    for i in range(200):
        clock.now += 0.5
        stamp = dt.datetime.fromtimestamp(clock.now - (6 if i % 2 else 0), dt.timezone.utc)
        data = json.dumps({"device": f"d{i % 5}", "state": "Idle",
                           "health": ("Good", "Bad")[i % 2]})
        asked = len(reconciler.triggered)
        ingest.handle(source, [b"org.lavasoftware.device", f"u{i}".encode(),
                               stamp.isoformat().encode(), b"lavaserver", data.encode()])
        # A reconcile starts when triggered, or when the loop's wait finds folded asks due.
        if len(reconciler.triggered) > asked or reconciler.lag.is_due(clock.now):
            started.append(clock.now)
            reconciler.lag.started(clock.now)
    assert health.suspected_losses == 100
    assert len(started) == 4  # at 1, 31, 61 and 91 s of the 100
    assert all(b - a >= LAG_GAP for a, b in zip(started, started[1:]))
    stats = reconciler.as_dict()["behind"]
    assert stats["asked"] == 100 and stats["folded"] == 99  # all but the first waited
    assert stats["pending"]  # the last episodes are still answered, at the next gap's end


def test_the_wait_ends_when_folded_asks_are_due():
    clock = Clock(1000.0)
    reconciler = Reconciler(LabState(), Relay(), Meta(), FixedRest(), SETTINGS,
                            lambda: FakeEvent(clock), clock=clock)
    reconciler.reconcile_once("start-up")
    reconciler.behind()  # within the gap of nothing: at once
    assert reconciler._reason == "behind"
    reconciler._reason = None
    reconciler._wake.clear()
    reconciler.reconcile_once("behind")
    clock.now += 5
    reconciler.behind()  # folded: due at the gap's end
    assert reconciler._reason is None and not reconciler._wake.flag
    reconciler._wait(300)
    assert reconciler._reason == "behind" and clock.now == pytest.approx(1000.0 + LAG_GAP)


def test_asks_while_lava_fails_leave_the_back_off_alone():
    clock = Clock(1000.0)
    reconciler = reconciler_on(clock)
    reconciler.record_failure(LavaError("timeout", "LAVA did not answer"))
    reconciler.behind()
    clock.now += 1
    reconciler.behind()
    assert reconciler.triggered == []  # no reconcile at once: the back-off decides
    reconciler._wait(60)  # the back-off's wait runs out; a due ask does not end it early
    assert reconciler._reason is None and clock.now == pytest.approx(1061.0)
    reconciler.reconcile_once("retry")  # the back-off's attempt answers the asks before it
    assert reconciler.lag.due is None


def test_a_check_that_fails_in_the_wait_does_not_end_the_reconciles():
    """A hardening audit: the wait between two reconciles (its silence and lag checks) ran outside
    the loop's catch-all, so a bug there ended reconciliation for good while /healthz said ok.
    Here the silence check meets a source that has no time at all (a TypeError)."""
    clock = Clock()

    class Stop(BaseException):  # ends the otherwise endless loop after its third fetch
        pass

    class CountingRest(FixedRest):
        calls = 0

        def fetch_snapshot(self, max_finished, unfinished, crowded=False):
            self.calls += 1
            if self.calls == 3:
                raise Stop
            return records.build([], [], [])

    rest = CountingRest()
    reconciler = Reconciler(LabState(), Relay(), Meta(), rest, dict(SETTINGS, silence_timeout=10),
                            lambda: FakeEvent(clock), clock=clock)
    reconciler.sources = [types.SimpleNamespace(changed_at=None, last_message_at=None)]
    with pytest.raises(Stop):
        reconciler.run()
    assert rest.calls == 3 and reconciler.runs == 2
    assert reconciler.as_dict()["wait_errors"] == 2  # counted in /healthz (logged every 10 min at most)
    assert clock.now >= 1_764_000_000.0 + 2 * SETTINGS["reconcile_interval"]  # each waited its interval


def test_records_left_out_are_logged_per_kind_of_the_first(caplog):
    """A reconcile that read LAVA while its answers changed left one job's record out; the next
    left a device's out: its line was held back 10 minutes behind the job's (a full test run: a
    token LAVA quoted in a device's field, taken out, was not in the log to check). Each kind of
    first record left out is said at once, then at most every 10 minutes."""
    clock = Clock()
    reconciler = reconciler_on(clock)
    job_first = records.build([], [], [{"id": 3, "state": "Bogus", "health": "Unknown"}])
    device_first = records.build([{"hostname": "d1", "device_type": "qemu", "state": "Bogus",
                                   "health": "Good", "worker_host": None}], [], [])
    with caplog.at_level("WARNING", logger="dashboard.live.reconcile"):
        reconciler._note_skipped(job_first.skipped)
        reconciler._note_skipped(device_first.skipped)
        reconciler._note_skipped(device_first.skipped)  # the same again: within 10 minutes
    said = [r.getMessage() for r in caplog.records if "unexpected shape" in r.getMessage()]
    assert len(said) == 2, said
    assert "job 3.state" in said[0] and "device d1.state" in said[1], said
