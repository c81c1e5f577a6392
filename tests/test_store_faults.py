"""The store says when it falls behind, and a corrupt store never blocks the live view: a real
SQLite file, and the app as a subprocess with a real ZMQ publisher and a real Socket.IO client."""
import json
import logging
import os
import sqlite3
import uuid

import pytest

from dashboard.core.events import parse_frames
from dashboard.core.state import LabState
from dashboard.storage.store import EventStore, row_for
from tests.fixtures import captured_frames
from tests.helpers import AppProcess, LiveView, TestPublisher, start_app, utc_stamp, wait_until


def rows(n, start=0):
    frames = captured_frames()
    out = []
    for i in range(n):
        f = list(frames[(start + i) % len(frames)])
        f[1] = f"u-{start + i}".encode()
        out.append(row_for(parse_frames(f), f, {}, 0.0))
    return out


def test_a_full_queue_drops_counts_dates_and_logs_once(tmp_path, caplog):
    store = EventStore(str(tmp_path / "events.sqlite3"), max_queue=10)
    caplog.set_level(logging.ERROR, logger="dashboard.store")
    for row in rows(500):
        store.enqueue(row)
    stats = store.stats()
    assert stats["dropped"] == 490 and stats["queued"] == 10
    assert stats["last_dropped"] is not None and store.dropped_recently()
    assert stats["file"] == "events.sqlite3"  # a name, never the path
    assert len([r for r in caplog.records if "queue is full" in r.getMessage()]) == 1


def test_a_full_disk_loses_rows_but_not_the_log(tmp_path, caplog):
    """SQLite's max_page_count makes the file full, as a full disk does."""
    store = EventStore(str(tmp_path / "events.sqlite3"))
    caplog.set_level(logging.ERROR, logger="dashboard.store")
    with store._transaction() as writer:  # the connection every write goes through
        pages = writer.execute("PRAGMA page_count").fetchone()[0]
        writer.execute(f"PRAGMA max_page_count = {pages + 2}")
    for row in rows(3000):
        store.enqueue(row)
    for _ in range(10):
        store.flush(max_rows=300)
    stats = store.stats()
    assert stats["dropped"] > 0 and stats["written"] + stats["dropped"] == 3000
    assert "full" in stats["last_error"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert 1 <= len(errors) <= 3, [r.getMessage() for r in errors]  # not one per lost row


def _seed_store(path):
    """A store with the captured events and a saved model that predates all of them."""
    store = EventStore(str(path))
    for row in rows(40):
        store.enqueue(row)
    store.flush()
    store.save_model(LabState().dump(), 0)
    conn = store._conn()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def corrupt_truncated(data):
    path = _seed_store(data / "events.sqlite3")
    with open(path, "r+b") as fh:
        fh.truncate(100)
    return "recovered"


def corrupt_model(data):
    path = _seed_store(data / "events.sqlite3")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE model_snapshot SET body = '{not json'")
    return "skipped"


def corrupt_frame(data):
    path = _seed_store(data / "events.sqlite3")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET frames = '[[[' WHERE id = 3")
    return "skipped"


def data_dir_is_a_file(data):
    os.rmdir(data)
    data.write_text("not a folder")
    return "recovered"


@pytest.mark.parametrize("corrupt", [corrupt_truncated, corrupt_model, corrupt_frame,
                                     data_dir_is_a_file])
def test_a_corrupt_store_never_blocks_the_live_view(tmp_path, corrupt):
    data = tmp_path / "data"
    data.mkdir()
    expected = corrupt(data)
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--data-dir", str(data))
    try:
        publisher.wait_for_subscriber()
        health = app.json("/healthz")
        store = health["store"]
        if expected == "recovered":
            assert store["recovered"]["moved_to"].startswith(("events.sqlite3.corrupt-",
                                                              "data.corrupt-"))
            assert "store" in health["degraded"]
            assert "THE EVENT STORE WAS UNUSABLE" in app.log_text() or "WAS A FILE" in app.log_text()
            assert any(name.startswith(store["recovered"]["moved_to"])
                       for name in os.listdir(data if data.is_dir() and
                                              store["recovered"]["moved_to"].startswith("events")
                                              else tmp_path))
        else:
            assert store["restored"]["skipped"] >= 1 and store["recovered"] is None
            assert store["restored"]["replayed"] >= 30  # every other row still counts
        view = LiveView(app.url, {"kinds": ["device"]}).connect()
        try:
            if expected == "recovered":
                assert view.meta["store_recovered"]["moved_to"] == store["recovered"]["moved_to"]
            frames = [b"org.lavasoftware.device", uuid.uuid4().hex.encode(),
                      utc_stamp().encode(), b"lavaserver",
                      json.dumps({"device": "after-01", "device_type": "qemu", "state": "Idle",
                                  "health": "Good"}).encode()]
            publisher.send(frames)
            wait_until(lambda: "after-01" in view.objects["device"], timeout=10,
                       what="a good event after the corrupt store reaches the client")
        finally:
            view.close()
        wait_until(lambda: app.json("/api/v1/events?device=after-01")["events"], timeout=10,
                   what="the new event stored in the fresh or repaired store")
    finally:
        app.stop()
        publisher.close()


def test_only_a_bad_file_is_moved_aside_never_a_sound_one_nor_the_data_folder(tmp_path):
    """A store audit: any SQLite error at start was taken for a bad file. A full disk moved a sound
    store aside as "unusable" (then the start failed anyway, and the next one showed an empty
    history); a folder SQLite could not create the file in was itself renamed (`move_aside` of an
    absent file renames its folder: meant for a file standing where the folder should be). Now an
    error of the machine, not the file, leaves everything as it is and says so."""
    from dashboard.storage import recovery

    good = tmp_path / "events.sqlite3"
    _seed_store(good)
    size = good.stat().st_size
    conn = sqlite3.connect(good)
    conn.execute("PRAGMA max_page_count = 1")  # (below its size: every write is "full")
    with pytest.raises(sqlite3.OperationalError) as full:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    assert full.value.sqlite_errorname == "SQLITE_FULL" and not recovery.broken(full.value)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database" * 1000)
    with pytest.raises(sqlite3.DatabaseError) as notadb:
        sqlite3.connect(garbage).execute("SELECT 1 FROM sqlite_master").fetchall()
    assert notadb.value.sqlite_errorname == "SQLITE_NOTADB" and recovery.broken(notadb.value)
    # A folder SQLite cannot create the file in (here /proc's): left as it is, in words.
    with pytest.raises(recovery.StoreUnavailable, match=r"SQLITE_CANTOPEN.*left as it is"):
        recovery.open_checked("/proc/self/events.sqlite3")
    assert os.path.isdir("/proc/self")
    folder = tmp_path / "data"
    folder.mkdir()
    with pytest.raises(recovery.StoreUnavailable, match="the data folder is a folder"):
        recovery.move_aside(str(folder / "events.sqlite3"))
    assert folder.is_dir() and list(tmp_path.glob("data.corrupt-*")) == []
    (folder / "events.sqlite3").mkdir()  # a folder where the file should be: not a file, moved
    assert recovery.move_aside(str(folder / "events.sqlite3")).startswith("events.sqlite3.corrupt-")
    store, recovered = recovery.open_checked(str(good))  # the sound one: opened as it is
    assert recovered is None and good.stat().st_size >= size and store.count() > 0


def test_a_store_the_machine_cannot_open_ends_the_start_in_one_line_and_moves_nothing(tmp_path):
    """The app, started where SQLite cannot create its file (the store's name a link into /proc,
    where no file can be made): before, it took that for a bad file and, none being there, renamed
    the data folder itself (its signing key and wall links with it); now one line says why, and
    what to do, and the folder stays."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "simulated.sqlite3").symlink_to("/proc/self/no-file-can-be-made-here")
    code, out = start_app("--data-dir", str(data))
    assert code == 1 and "Traceback" not in out, out
    assert data.is_dir() and (data / "secret_key").exists() and list(tmp_path.glob("data.corrupt-*")) == []
    assert out.strip().endswith("(SQLITE_CANTOPEN); the file was left as it is; fix that (free "
                                "space, the folder's permissions), or start with --no-store"), out


def test_a_second_dashboard_on_the_same_data_folder_is_refused_while_the_first_runs(tmp_path):
    """A store audit: two apps (`--role all`) on one --data-dir, each on its own port and the same
    publisher, stored every event twice (8,966 rows for 5,155 events after 15 s; the charts counted
    double), both saying ok. The first holds the folder until it ends; a second is refused in one
    line that names the first; once the first has ended, one may start there again."""
    data = tmp_path / "data"
    publisher = TestPublisher()
    first = AppProcess("--zmq", publisher.endpoint, "--data-dir", str(data))
    try:
        pid = (data / "dashboard.lock").read_text().strip()
        code, out = start_app("--zmq", publisher.endpoint, "--data-dir", str(data))
        assert code == 1 and "Traceback" not in out, out
        assert f"--data-dir {data}: another dashboard process (pid {pid}) uses this data folder" in out, out
        assert first.json("/healthz")["status"] == "ok"
    finally:
        first.stop()
        publisher.close()
    publisher = TestPublisher()
    again = AppProcess("--zmq", publisher.endpoint, "--data-dir", str(data))  # (the lock let go)
    try:
        assert again.json("/healthz")["store"]["file"] == "events.sqlite3"
    finally:
        again.stop()
        publisher.close()


def test_a_writer_that_stops_answering_is_said_once_its_batch_takes_a_minute(tmp_path, caplog):
    """A store audit: a writer process stopped (SIGSTOP; a hung disk alike) went unsaid: /healthz
    "ok" while its queue grew for as long as it took to fill (hours at a lab's rate), history
    standing still. Its batch under way is timed: past STALLED_AFTER_S, `stalled_s` and `store`
    degraded say so, and the log once; SIGCONT, and all is written."""
    import signal
    import threading
    import time

    from dashboard.storage import store as store_module

    store = EventStore(str(tmp_path / "events.sqlite3"))
    store.write_in_process()
    caplog.set_level(logging.ERROR, logger="dashboard.store")
    try:
        for row in rows(10):
            store.enqueue(row)
        assert store.flush() == 10 and store.stalled() == 0.0
        os.kill(store.remote.pid, signal.SIGSTOP)
        for row in rows(10, start=10):
            store.enqueue(row)
        flushing = threading.Thread(target=store.flush, daemon=True)
        flushing.start()
        wait_until(lambda: store.in_flight == 10, timeout=10, what="the batch under way")
        later = lambda: time.monotonic() + store_module.STALLED_AFTER_S + 1  # noqa: E731
        assert store.stalled() == 0.0  # (a batch under way, not yet for long)
        assert store.stalled(clock=later) > store_module.STALLED_AFTER_S
        assert store.stats()["stalled_s"] == 0.0  # (now: not yet for long)
        store.watch(clock=later)
        store.watch(clock=later)  # said once in the log, not at each look
        said = [r.getMessage() for r in caplog.records if "has not finished its batch" in r.getMessage()]
        assert len(said) == 1 and "batch of 10 rows" in said[0], said
        os.kill(store.remote.pid, signal.SIGCONT)
        flushing.join(20)
        assert not flushing.is_alive() and store.stalled(clock=later) == 0.0
        assert store.written == 20 and store.count() == 20
    finally:
        if store.remote.pid:
            os.kill(store.remote.pid, signal.SIGCONT)
        store.close()


def test_a_store_read_only_for_a_while_is_written_again_once_it_can_be(tmp_path):
    """A store audit: a store read-only at start (a mount, a folder's permissions) dropped every
    event until a restart, though writable again: SQLite's connection stays read-only. Here the
    writer connection refuses writes as such a one does (`query_only`: SQLITE_READONLY): the
    batch's rows, tried again one by one, go through a new connection (which, while the file is
    still read-only, refuses them too, and the next batch tries again)."""
    store = EventStore(str(tmp_path / "events.sqlite3"))
    with store._transaction() as writer:
        writer.execute("PRAGMA query_only = 1")
    for row in rows(5):
        store.enqueue(row)
    assert store.flush() == 5 and "readonly" in store.last_error  # (the batch's first try)
    for row in rows(5, start=5):
        store.enqueue(row)
    assert store.flush() == 5 and store.count() == 10 and store.dropped == 0 and not store.failing


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_store_file_deleted_or_replaced_while_running_is_said_and_its_reads_answer_503(
        tmp_path, caplog, how):
    """A store audit: `rm events.sqlite3*` while the dashboard ran lost every later event silently
    (the writer wrote on into the deleted file; /healthz "ok", `written` rising; on restart all of
    it gone), and history answered 500 (`no such table`: a reader had made a new, empty file).
    Now /healthz says so (`file_gone`, `store` degraded), reads answer 503 store_unavailable, and
    the log says it (every 5 minutes, not at each asking)."""
    path = tmp_path / "events.sqlite3"
    store = EventStore(str(path))
    caplog.set_level(logging.ERROR, logger="dashboard.store")
    for row in rows(5):
        store.enqueue(row)
    store.watch()
    assert store.flush() == 5 and store.moved() is None and store.stats()["file_gone"] is None
    for name in tmp_path.glob("events.sqlite3*"):
        name.unlink()
    if how == "replaced":
        EventStore(str(tmp_path / "other.sqlite3"))
        os.rename(tmp_path / "other.sqlite3", path)
    assert store.stats()["file_gone"] is None  # (kept from the keeper's last look: no I/O there)
    from dashboard.storage.keeper import StoreKeeper

    keeper = StoreKeeper(store, LabState(), {"retention_days": 30.0, "max_events": 1000},
                         lambda fn, *a: fn(*a), lambda s: None)
    keeper.run_watch(rounds=2)  # (its look every few seconds, whoever asks /healthz or not: said once)
    assert store.moved() == how and store.stats()["file_gone"] == how
    store._local.conn = None  # (a reader thread's first connection: to what is there now)
    if how == "deleted":
        with pytest.raises(sqlite3.Error) as failed:  # SQLite made an empty file: no table in it
            store.events(limit=10)
        assert "no such table" in str(failed.value)
        assert store.cannot_read(failed.value)  # answered 503 store_unavailable, not 500
        assert store.moved() == "replaced"  # (by that empty file)
    said = [r.getMessage() for r in caplog.records if "WHILE THE DASHBOARD RAN" in r.getMessage()]
    assert len(said) == 1 and "events.sqlite3" in said[0] and str(tmp_path) not in said[0], said
    for row in rows(5, start=5):  # still written, to the file it opened: why it is said
        store.enqueue(row)
    assert store.flush() == 5


def test_retention_comes_sooner_when_a_tenth_of_max_events_was_written_since(tmp_path):
    """A store audit: retention ran once a minute whatever the rate, and at 8,000 events/s a store
    of --max-events 5000 held 472,036 rows (416 MB) before each round. A tenth of --max-events
    written since the last round brings the next forward (looked at every PRUNE_CHECK s)."""
    from dashboard.storage import keeper as keeper_module
    from dashboard.storage.keeper import StoreKeeper

    store = EventStore(str(tmp_path / "events.sqlite3"))
    slept = []

    def sleep(seconds):  # the stream goes on while the pruner sleeps: 60 rows each look
        slept.append(seconds)
        for row in rows(60, start=1000 * len(slept)):
            store.enqueue(row)
        store.flush()
    keeper = StoreKeeper(store, LabState(), {"retention_days": 30.0, "max_events": 1000},
                         lambda fn, *a: fn(*a), sleep)
    for row in rows(1500):
        store.enqueue(row)
    store.flush()
    keeper.run_pruner(rounds=2)
    assert slept == [keeper_module.PRUNE_CHECK] * 2  # 120 rows written, past 100: the next round
    assert store.count() == 1000
    slept.clear()
    quiet = StoreKeeper(store, LabState(), {"retention_days": 30.0, "max_events": 100_000},
                        lambda fn, *a: fn(*a), lambda s: slept.append(s))
    quiet.run_pruner(rounds=2)
    assert sum(slept) == keeper_module.PRUNE_EVERY  # nothing written: a minute, as before
    # Below its bound, a round comes sooner only once the whole bound was written since.
    store = EventStore(str(tmp_path / "filling.sqlite3"))  # (empty: the first round finds nothing)
    filling = StoreKeeper(store, LabState(), {"retention_days": 30.0, "max_events": 200},
                          lambda fn, *a: fn(*a), sleep)
    slept.clear()
    filling.run_pruner(rounds=2)
    assert slept == [keeper_module.PRUNE_CHECK] * 4 and store.count() == 200  # 240 rows past 200


def test_the_data_folder_s_lock_goes_with_the_store_s_end_in_the_same_process(tmp_path):
    """A review: the folder's lock was let go only when the process ended, so an app made again in
    the same process (as tests and embedders do) was refused by itself. shutdown() lets it go."""
    from dashboard.factory import create_app, shutdown
    from dashboard.storage import folderlock

    app = create_app(overrides={"zmq": ["tcp://127.0.0.1:9"], "data_dir": str(tmp_path)})
    with pytest.raises(folderlock.FolderInUse, match=f"pid {os.getpid()}"):
        folderlock.hold(str(tmp_path))
    shutdown(app)
    folderlock.hold(str(tmp_path))  # (let go: held again)
    folderlock.release()
