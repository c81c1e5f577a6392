"""A standby ingest process and the shared store (storage/standby.py, storage/keeper.py), on both
backends (a SQLite file and a real PostgreSQL server): two processes' stores on one database. The
standby holds what the publishing one writes; when it takes over it writes only what the other did
not store, and the roll-ups then say what one writer's would."""
import pytest

from dashboard.core.state import CORRECTION_KIND, LabState
from dashboard.storage import standby as standby_module
from dashboard.storage.keeper import StoreKeeper
from dashboard.storage.store import EventStore
from dashboard.web.reports import period, report, scan_report
from tests.test_pgstore import pg, reopen  # noqa: F401 (fixtures)
from tests.test_time_rollups import NOW, T0, fill, history, same


def stored_uuids(store):
    return [r["uuid"] for r in store._rows("SELECT uuid FROM events ORDER BY id")]


def test_the_standby_writes_only_what_the_other_did_not_store_and_the_rollups_agree(reopen,
                                                                                     monkeypatch):
    monkeypatch.setattr(standby_module, "TAKE_OVER_ROWS", 20)  # in many parts, spans read once
    rows = history(900, seed=3)
    active, standby = reopen(), reopen()  # two ingest processes, one database
    fill(active, rows[:600])  # then it stops (or dies): 600 stored
    for row in rows[:650]:  # the standby received the same events, and 50 more in the gap
        standby.enqueue(row)
    standby.hold()
    assert not standby.queue and len(standby.held) == 650
    assert len(stored_uuids(active)) == 600  # holding writes nothing

    def corrections_in(part):
        return sum(1 for row in part if row[4] == CORRECTION_KIND)
    corrections = corrections_in(rows[600:650])
    assert 0 < corrections < 50  # the history has some in the gap: they are left out
    written, known = standby.take_over()
    assert (written, known) == (50 - corrections, 600 - corrections_in(rows[:600]))
    fill(standby, rows[650:])  # from now on it writes as the only writer

    uuids = stored_uuids(standby)
    assert len(uuids) == len(set(uuids)) == 900 - corrections  # each event once
    assert standby.stats()["standby"] == {"held": 0, "let_go": 0, "takeovers": 1,
                                          "already_stored": known, "written": written,
                                          "corrections_skipped": corrections_in(rows[:650])}
    # Its roll-ups went on from the other's (spans and queue read again at the takeover): the
    # reports from them say what a scan of the stored transitions says.
    for since, until in ((T0, NOW), (T0 + 86400, T0 + 3 * 86400)):
        lo, hi = period(since, until, now=NOW)
        for group in ("device", "worker"):
            same(report(standby, since, until, group, now=NOW), scan_report(standby, lo, hi, group),
                 skip=("mttr_hours",), group=group)


def test_through_the_writer_process_too(tmp_path):
    """SQLite's writes go through a writer process: the takeover's insert is a request to it."""
    rows = history(300, seed=4)
    path = str(tmp_path / "events.sqlite3")
    active, standby = EventStore(path), EventStore(path)
    standby.write_in_process()
    try:
        fill(active, rows[:200])
        for row in rows:
            standby.enqueue(row)
        standby.hold()
        corrections = sum(1 for row in rows[200:] if row[4] == CORRECTION_KIND)
        before = sum(1 for row in rows[:200] if row[4] == CORRECTION_KIND)
        assert standby.take_over() == (100 - corrections, 200 - before)
        uuids = stored_uuids(active)
        assert len(uuids) == len(set(uuids)) == 300 - corrections
        assert standby.remote.pid is not None and standby.stats()["dropped"] == 0
    finally:
        standby.close()


def test_what_it_holds_is_bounded_in_rows_and_in_characters(tmp_path, monkeypatch):
    rows = history(120, seed=6)
    store = EventStore(str(tmp_path / "events.sqlite3"))
    monkeypatch.setattr(standby_module, "HELD_ROWS", 50)
    for row in rows:
        store.enqueue(row)
    store.hold()
    assert list(store.held) == rows[-50:]  # the newest
    assert store.stats()["standby"]["let_go"] == 70 and store.stats()["queued_chars"] == 0
    size = sum(len(row[-1]) + len(row[-2]) for row in rows[-10:])
    monkeypatch.setattr(standby_module, "HELD_CHARS", size)
    store.hold()
    assert list(store.held) == rows[-10:] and store._held_chars == size
    # The queue's own bound no longer counts what was held: the queue takes rows again.
    assert store.enqueue(rows[0]) and store.stats()["queued"] == 1


def test_the_keeper_of_a_standby_writes_saves_and_prunes_nothing_until_it_takes_over(tmp_path):
    path = str(tmp_path / "events.sqlite3")
    rows = history(200, seed=8)
    active = EventStore(path)
    fill(active, rows[:150])
    store = EventStore(path)
    settings = {"snapshot_interval": 0, "retention_days": 1, "max_events": 10}
    keeper = StoreKeeper(store, LabState(), settings, lambda fn, *a: fn(*a), lambda s: None)
    why = ["another"]  # another ingest process publishes
    keeper.standing_by = lambda: why[0]
    for row in rows:
        store.enqueue(row)
    store.failing = True  # its last batch, before it stood by, wrote nothing
    assert keeper._hold() is True and len(store.held) == 200 and not store.queue
    # It writes nothing while it stands by: that failure is not its news (the store_failing alert
    # and /healthz do not go on saying it)
    assert store.failing is False
    keeper._prune(max_age=365 * 86400)  # the other keeps the retention: 10 rows at most
    assert len(stored_uuids(store)) == 150
    why[0] = ""  # the other stopped
    assert keeper._hold() is False
    assert len(stored_uuids(store)) == 200 - sum(1 for r in rows[150:] if r[4] == CORRECTION_KIND)
    assert keeper.stood_by is False and store.stats()["standby"]["takeovers"] == 1
    keeper._prune(max_age=365 * 86400)  # its own now: the retention applies
    assert len(stored_uuids(store)) == 10


def test_a_standby_that_stops_leaves_the_store_and_the_saved_model_alone(tmp_path):
    path = str(tmp_path / "events.sqlite3")
    rows = history(60, seed=2)
    store = EventStore(path)
    keeper = StoreKeeper(store, LabState(), {"snapshot_interval": 0}, lambda fn, *a: fn(*a),
                         lambda s: None)
    keeper.standing_by = lambda: "another"
    for row in rows:
        store.enqueue(row)
    assert keeper._hold() is True
    assert keeper.close() is False
    assert stored_uuids(store) == [] and store.load_model() == (None, 0)
    # A keeper that publishes (the default) writes and saves at its close.
    other = StoreKeeper(EventStore(path), LabState(), {"snapshot_interval": 0},
                        lambda fn, *a: fn(*a), lambda s: None)
    for row in rows:
        other.store.enqueue(row)
    assert other.close() is True and len(stored_uuids(store)) == 60
    assert store.load_model()[1] == store.last_id()


@pytest.mark.parametrize("n", [1, 401, 2_001])
def test_the_uuid_lookup_finds_each_stored_row_across_its_statements(tmp_path, n):
    """One row, rows sharing one time, more rows than one statement looks up: each found."""
    rows = history(max(n, 1), seed=1)[:n]
    same_time = [(row[0], row[1], 1_800_000_000.0, *row[3:]) for row in rows]
    store = EventStore(str(tmp_path / "events.sqlite3"))
    fill(store, same_time[: n // 2])
    assert store._stored_uuids(same_time) == {row[0] for row in same_time[: n // 2]}
    assert store.insert_missing(same_time) == (n - n // 2, n // 2)
    assert len(set(stored_uuids(store))) == len(stored_uuids(store)) == n


def test_held_events_that_cannot_be_written_at_the_takeover_are_counted_as_lost(tmp_path):
    rows = [row for row in history(40, seed=12) if row[4] != CORRECTION_KIND]
    store = EventStore(str(tmp_path / "events.sqlite3"))
    store.write_in_process()
    store.remote.executable = str(tmp_path / "no-such-python")  # its writer process cannot start
    try:
        for row in rows:
            store.enqueue(row)
        store.hold()
        assert store.take_over() == (0, 0)
        stats = store.stats()
        assert stats["dropped"] == len(rows) and stats["last_dropped"] is not None
        assert "no-such-python" in stats["last_error"] and not store.held
    finally:
        store.close()


def test_the_end_of_a_start_s_wait_for_redis_is_written_but_no_takeover(tmp_path, caplog):
    """Until Redis says whether another publishes, an ingest process holds its rows ("unknown");
    then it writes them as at a takeover, but counts and logs none."""
    rows = [row for row in history(30, seed=13) if row[4] != CORRECTION_KIND]
    store = EventStore(str(tmp_path / "events.sqlite3"))
    keeper = StoreKeeper(store, LabState(), {"snapshot_interval": 0}, lambda fn, *a: fn(*a),
                         lambda s: None)
    why = ["unknown"]
    keeper.standing_by = lambda: why[0]
    for row in rows:
        store.enqueue(row)
    caplog.set_level("INFO", logger="dashboard.storage.store")
    assert keeper._hold() is True and stored_uuids(store) == []
    why[0] = ""  # Redis answered: nobody else publishes
    assert keeper._hold() is False
    assert len(stored_uuids(store)) == len(rows)
    assert store.stats()["standby"]["takeovers"] == 0 and store.stats()["standby"]["written"] == len(rows)
    assert not [r for r in caplog.records if "taking over" in r.getMessage()]
