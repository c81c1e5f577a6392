"""How the store writes a sustained stream: large transactions, and WAL checkpoints that copy a page
once for several commits (docs/performance.md, "Fewer pages written"). A real SQLite store in a
temporary folder; the keeper's thread pool is a plain call."""
import os
import sqlite3

import pytest

from dashboard.core.events import parse_frames
from dashboard.core.state import LabState
from dashboard.storage.keeper import StoreKeeper
from dashboard.storage.store import FLUSH_ROWS, PAGE_SIZE, WAL_CHECKPOINT_BYTES, EventStore, row_for
from tests.helpers import message

pytestmark = pytest.mark.unit


def rows(n):
    """n stored rows of device messages over 50 boards."""
    out = []
    for i in range(n):
        frames = message("device", "2026-11-27T10:00:00.000001", f"b-{i}", device=f"d{i % 50}",
                         device_type="qemu", state="Idle", health="Good")
        out.append(row_for(parse_frames(frames), frames, {}, 0.0))
    return out


class Stop(Exception):
    pass


def test_a_round_writes_a_backlog_of_12000_rows_in_one_transaction(tmp_path):
    store = EventStore(str(tmp_path / "events.sqlite3"))
    for row in rows(12_000):
        assert store.enqueue(row)
    batches = []

    def run(fn, *args):
        result = fn(*args)
        if fn == store.flush:
            batches.append(result)
        return result

    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 2:  # after the first round
            raise Stop
    keeper = StoreKeeper(store, LabState(), {"snapshot_interval": 3600}, run, sleep)
    with pytest.raises(Stop):
        keeper.run_writer()
    assert FLUSH_ROWS >= 12_000 and batches == [12_000]
    assert store.count() == 12_000 and not store.queue


def test_a_new_store_has_16_kib_pages_and_checkpoints_the_wal_every_40_mb(tmp_path):
    """SQLite's default (1,000 pages) checkpointed after every commit of a batch; its 4 KiB pages
    cost the writer more CPU per row (docs/performance.md, "The file's page size")."""
    store = EventStore(str(tmp_path / "events.sqlite3"))
    assert PAGE_SIZE == 16384 and WAL_CHECKPOINT_BYTES == 10_000 * 4096
    with store._transaction() as writer:  # the connection that commits batches
        assert writer.execute("PRAGMA page_size").fetchone()[0] == 16384
        assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 2_500
    assert store._conn().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 2_500
    # And it holds: a batch that dirties more than SQLite's 1,000 pages stays in the WAL after its
    # commit (it was copied into the database file at once before), and reads see it.
    path = store.path
    before = os.path.getsize(path)
    for _ in range(2):  # (one batch fills about 12 MB of 16 KiB pages)
        for row in rows(FLUSH_ROWS):
            store.enqueue(row)
        assert store.flush() == FLUSH_ROWS
    assert store.count() == 2 * FLUSH_ROWS
    wal = os.path.getsize(path + "-wal")
    assert wal > 1_000 * 16384 and os.path.getsize(path) == before  # not copied yet
    store._conn().execute("PRAGMA wal_checkpoint(PASSIVE)")
    assert os.path.getsize(path) > before + wal // 2  # a checkpoint copies them


def test_a_store_made_with_4_kib_pages_keeps_them_and_checkpoints_every_10000(tmp_path):
    """A file made before (SQLite's 4 KiB pages) is opened as it is: SQLite cannot change a WAL
    file's page size, and its checkpoint stays at the same 40 MB."""
    path = str(tmp_path / "events.sqlite3")
    conn = sqlite3.connect(path)  # as an older build made it
    conn.execute("PRAGMA page_size=4096")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE older (x)")
    conn.commit()
    conn.close()
    store = EventStore(path)
    with store._transaction() as writer:
        assert writer.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 10_000
    store.enqueue(rows(1)[0])
    assert store.flush() == 1 and store.count() == 1


@pytest.mark.parametrize("every", [0.5, 2.0])
def test_under_load_the_keeper_writes_every_store_write_every_seconds(tmp_path, every):
    """100 rows in a 0.1 s round (1,000 events/s) is load: the next rounds wait
    --store-write-every, for as long as the stream keeps 200 events/s (every × 200 rows a round,
    whatever the interval); then 0.1 s again (what a SIGKILL can lose at a lab's usual rates)."""
    store = EventStore(str(tmp_path / "events.sqlite3"))
    sleeps = []
    stay = int(every * 200)
    # Rows that arrive during each sleep: load, 200 events/s, just under it, then quiet.
    arriving = [150, stay, stay - 1, 1, 0]

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) > len(arriving):
            raise Stop
        for row in rows(arriving[len(sleeps) - 1]):
            store.enqueue(row)
    keeper = StoreKeeper(store, LabState(), {"snapshot_interval": 3600, "store_write_every": every},
                         lambda fn, *args: fn(*args), sleep)
    with pytest.raises(Stop):
        keeper.run_writer()
    assert sleeps == [0.1, every, every, 0.1, 0.1, 0.1] and store.count() == sum(arriving)
