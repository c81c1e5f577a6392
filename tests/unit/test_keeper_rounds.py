"""The store's writer rounds (storage/keeper.py): what a round commits, in what transactions, and when
the next one starts. A real SQLite store in a temporary folder; the thread pool is a plain call
and the clock a fake one, so that the rounds' timing is exact."""
import json

import pytest

from dashboard.core.events import parse_frames
from dashboard.core.state import LabState
from dashboard.storage import keeper as keeper_module
from dashboard.storage.keeper import FLUSH_ROWS, WRITE_EVERY, WRITE_SOON, StoreKeeper
from dashboard.storage.store import EventStore, row_for

pytestmark = pytest.mark.unit


def rows(n, start=0):
    out = []
    for i in range(start, start + n):
        frames = [b"org.lavasoftware.device", f"k-{i}".encode(), b"2026-11-27T10:00:00.000001",
                  b"lavaserver", json.dumps({"device": f"d{i % 7}", "device_type": "qemu",
                                             "state": "Idle", "health": "Good"}).encode()]
        out.append(row_for(parse_frames(frames), frames, {}, 0.0))
    return out


class Rig:
    """A keeper on a real store; each flush takes `flush_s` of the fake clock, and the first
    `arriving` flushes are each followed by `per_flush` new rows (events that came meanwhile)."""

    def __init__(self, tmp_path, flush_s=0.0, arriving=0, per_flush=0, snapshot_interval=3600):
        self.store = EventStore(str(tmp_path / "events.sqlite3"))
        self.now = 1000.0
        self.sizes, self.sleeps = [], []
        self.flush_s, self.arriving, self.per_flush = flush_s, arriving, per_flush
        self.next_row = 10**6
        self.keeper = StoreKeeper(self.store, LabState(), {"snapshot_interval": snapshot_interval},
                                  self.run, self.sleep, clock=lambda: self.now)

    def run(self, fn, *args):
        result = fn(*args)
        if fn == self.store.flush:
            self.sizes.append(result)
            self.now += self.flush_s
            if len(self.sizes) <= self.arriving:
                self.queue(self.per_flush)
        return result

    def queue(self, n):
        for row in rows(n, self.next_row):
            assert self.store.enqueue(row)
        self.next_row += n

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        if len(self.sleeps) > 4:
            raise StopIteration  # the end of the test's rounds


def test_a_round_makes_the_transactions_that_what_was_queued_when_it_began_needs(tmp_path):
    """Each as full as the queue allows, but no more of them: what comes after waits for the next
    round, instead of a tail of ever smaller transactions (each costs a commit) while events keep
    coming."""
    rig = Rig(tmp_path, arriving=5, per_flush=300)
    rig.queue(2 * FLUSH_ROWS + 2000)
    wrote, _ = rig.keeper.write_round(last_save=rig.now)
    # Three transactions for 12,000 rows; the third also takes the 600 that came meanwhile.
    assert rig.sizes == [FLUSH_ROWS, FLUSH_ROWS, 2600] and wrote == 2 * FLUSH_ROWS + 2600
    assert len(rig.store.queue) == 300  # came during the last one: the next round's
    assert rig.store.count() == wrote
    wrote, _ = rig.keeper.write_round(last_save=rig.now)
    assert rig.sizes[3:] == [300] and wrote == 300  # and 300 more meanwhile, for the round after
    assert len(rig.store.queue) == 300


def test_a_round_that_saves_the_model_first_empties_the_queue(tmp_path):
    """The saved model must match the store exactly: that round writes until nothing is queued,
    what came during it too, then saves."""
    rig = Rig(tmp_path, arriving=3, per_flush=300, snapshot_interval=60)
    rig.queue(FLUSH_ROWS + 10)
    wrote, last_save = rig.keeper.write_round(last_save=rig.now - 61)
    assert rig.sizes == [FLUSH_ROWS, 310, 300, 300] and wrote == FLUSH_ROWS + 910
    assert not rig.store.queue and last_save == rig.now
    body, last_id = rig.store.load_model()
    assert body and last_id == rig.store.last_id()


def test_rounds_start_a_period_apart_and_at_once_after_one_that_overran(tmp_path):
    """A round every WRITE_SOON seconds from the start of the one before, every WRITE_EVERY once a
    round wrote BUSY_ROUND rows or more; a round that took longer than its period is followed at
    once (sleep 0: the hub still runs everything else in between)."""
    rig = Rig(tmp_path, flush_s=0.2, arriving=3, per_flush=300)
    rig.queue(2 * FLUSH_ROWS + 2000)
    with pytest.raises(StopIteration):
        rig.keeper.run_writer()
    # 1: WRITE_SOON from the start. The round's three flushes take 0.6 s, more than WRITE_EVERY:
    # 2: at once. That round (300 rows, 0.2 s) leaves WRITE_EVERY - 0.2 s to wait: 3. Then
    # nothing is queued: WRITE_SOON, 4 and 5.
    assert rig.sleeps == [WRITE_SOON, 0.0, round(WRITE_EVERY - 0.2, 6), WRITE_SOON, WRITE_SOON]
    assert rig.sizes == [FLUSH_ROWS, FLUSH_ROWS, 2600, 300]
    assert rig.store.count() == 2 * FLUSH_ROWS + 2900 and not rig.store.queue


def test_a_failing_round_is_reported_and_the_rounds_go_on(tmp_path, caplog):
    rig = Rig(tmp_path)
    rig.queue(10)

    def broken(max_rows):
        raise OSError("disk full")
    rig.store.flush = broken
    with pytest.raises(StopIteration):
        rig.keeper.run_writer()
    assert len(rig.sleeps) == 5  # every round ran, each failing
    assert [r.getMessage() for r in caplog.records if r.name == keeper_module.log.name] == [
        "store writer: OSError: disk full"]  # once: rate-limited
