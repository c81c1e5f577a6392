"""The store's writer process (--store-writer process, the default for SQLite): a real child process
writing a real SQLite file, fed by the app (a subprocess with a real ZMQ publisher) or by an
EventStore in this process."""
import gc
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest

from dashboard.core.events import parse_frames
from dashboard.storage.store import EventStore, row_for
from dashboard.storage.writer import PICKLED, insert_request, read_request
from tests.hostile import device_frames
from tests.helpers import AppProcess, TestPublisher, wait_until


def _gone(proc):
    """Ended: no longer running, or a zombie its parent has not reaped yet."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _rows(n, start=0, devices=range(40)):
    """n device and job messages a minute apart from message `start` on, over `devices`."""
    out = []
    for i in range(start, start + n):
        device = f"dev-{devices[i % len(devices)]:02d}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(1_790_000_000 + 60 * i))
        if i % 4 == 3:  # a job on that device: queued, then finished
            topic, data = b"org.lavasoftware.testjob", {
                "job": i, "state": "Finished" if i % 8 == 7 else "Submitted", "health": "Complete",
                "device": device, "device_type": "qemu", "submitter": "ci", "submit_time": stamp}
        else:
            topic, data = b"org.lavasoftware.device", {
                "device": device, "device_type": "qemu", "worker": "worker-1", "state": "Idle",
                "health": ["Good", "Bad", "Maintenance"][i % 3]}
        frames = [topic, f"w-{i}".encode(), stamp.encode(), b"lavaserver", json.dumps(data).encode()]
        out.append(row_for(parse_frames(frames), frames, {}, 0.0))
    return out


def _tables(path):
    """Every row of every table but the saved model and the writer process's request number: what
    the two writers must agree on."""
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT IN ('model_snapshot', 'sqlite_sequence', 'writer_progress')")]
        return {name: sorted(conn.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
                for name in sorted(names)}
    finally:
        conn.close()


def test_the_writer_process_writes_and_prunes_exactly_as_the_thread_does(tmp_path):
    here = EventStore(str(tmp_path / "thread.sqlite3"))
    there = EventStore(str(tmp_path / "process.sqlite3"))
    there.write_in_process()
    try:
        def write(rows):
            for store in (here, there):
                for row in rows:
                    store.enqueue(row)
                while store.queue:
                    store.flush(max_rows=250)

        write(_rows(600))
        write(_rows(300, start=600, devices=range(20)))  # devices 20-39 fall silent
        assert here.written == there.written == 900
        assert there.stats()["writer_process"]["pid"] is not None
        # Retention runs where the open spans are: in the child.
        now = time.time()
        assert here.prune(0, 300, now=now) == there.prune(0, 300, now=now) == 600
        assert there.pruned == 600
        # What retention made the writer forget (devices 20-39 are older than what is kept) must
        # be forgotten where the next batches are counted.
        os.kill(there.remote.pid, signal.SIGKILL)  # a new child takes over where it left off
        write(_rows(300, start=900, devices=range(20, 40)))
        assert there.remote.restarts == 1 and there.written == here.written == 1200
        assert _tables(here.path) == _tables(there.path)
        assert there.stats()["rollup_out_of_order"] == here.stats()["rollup_out_of_order"]
        assert there.stats()["dropped"] == 0 and there.stats()["failing"] is False
    finally:
        there.close()


def test_an_insert_sent_again_after_its_commit_is_not_stored_twice(tmp_path):
    """What a new writer process does with the request a dead one had committed but not answered:
    the request's number (token, seq) was committed with its rows."""
    store = EventStore(str(tmp_path / "events.sqlite3"))
    first, second = _rows(3), _rows(2, start=3)
    assert store.insert_once(first, "run-a", 1) == 3
    assert store.insert_once(first, "run-a", 1) == 3  # sent again: already there
    assert store.insert_once(second, "run-a", 2) == 2
    assert store.insert_once(second, "run-b", 1) == 2  # another app run numbers from 1 again
    conn = sqlite3.connect(store.path)
    uuids = [r[0] for r in conn.execute("SELECT uuid FROM events ORDER BY id")]
    conn.close()
    assert uuids == [r[0] for r in first + second + second]


def test_a_request_sent_again_after_a_death_in_its_row_by_row_fallback_stores_no_row_twice(
        tmp_path, monkeypatch):
    """A batch with a row SQLite refuses is written row by row, each row with its progress. A child
    that dies there (here: an interrupt at the fourth row) is sent the whole request again, by a new
    child: the rows committed before are not stored again, the refused one is not tried again but
    counted (the dead child's report of it is lost), the rest are stored."""
    store = EventStore(str(tmp_path / "events.sqlite3"))  # the child that dies
    rows = _rows(6)
    rows[2] = (None, *rows[2][1:])  # no uuid: refused alone
    count_rollups = store._count_rollups
    calls = []

    def dying(conn, some):
        calls.append(len(some))
        if len(calls) == 5:  # the whole batch once, then rows 0, 1, 2 (refused), 3: the child dies
            raise KeyboardInterrupt
        return count_rollups(conn, some)
    monkeypatch.setattr(store, "_count_rollups", dying)
    with pytest.raises(KeyboardInterrupt):
        store.insert_once(rows, "run-a", 1)
    new = EventStore(store.path)  # the next child
    assert new.insert_once(rows, "run-a", 1) == 5  # 2 stored before, row 2 refused, 3 now
    assert new.dropped == 1
    conn = sqlite3.connect(store.path)
    uuids = [r[0] for r in conn.execute("SELECT uuid FROM events ORDER BY id")]
    hourly = conn.execute("SELECT SUM(n) FROM rollup_hourly WHERE device = '*'").fetchone()[0]
    conn.close()
    assert uuids == [r[0] for r in rows if r[0] is not None]  # each once, in order
    assert hourly == 5  # and counted once in the roll-ups
    assert new.dropped == 1  # the refused row, once


def test_rows_go_to_the_writer_marshalled_and_what_marshal_cannot_write_pickled(tmp_path):
    """An insert's rows are marshalled (cheaper for the app than pickle); a row holding an object
    marshal cannot write goes pickled, and the child's store refuses that row alone."""
    rows = _rows(3)
    request = insert_request(rows)
    assert not request.startswith(PICKLED) and read_request(request) == ("insert", (rows,))
    odd = [*rows[:1], (*rows[1][:3], object(), *rows[1][4:]), *rows[2:]]
    assert insert_request(odd).startswith(PICKLED)
    with pytest.raises(ValueError):
        read_request(b"x" + request[1:])
    store = EventStore(str(tmp_path / "events.sqlite3"))
    store.write_in_process()
    try:
        for row in odd:
            store.enqueue(row)
        assert store.flush() == 2 and store.stats()["dropped"] == 1
        for row in _rows(2, start=3):  # marshalled again, to the same child
            store.enqueue(row)
        assert store.flush() == 2 and store.remote.restarts == 0
    finally:
        store.close()
    conn = sqlite3.connect(store.path)
    stored = [r[0] for r in conn.execute("SELECT uuid FROM events ORDER BY id")]
    conn.close()
    assert stored == [rows[0][0], rows[2][0], *[r[0] for r in _rows(2, start=3)]]


def test_a_batch_larger_than_a_request_goes_in_parts_in_order(tmp_path):
    store = EventStore(str(tmp_path / "events.sqlite3"))
    store.write_in_process()
    try:
        store.remote.split_at = 4000  # bytes: a few rows a request
        rows = _rows(60)
        for row in rows:
            store.enqueue(row)
        assert store.flush() == 60
        whole = len(insert_request(rows))
        conn = sqlite3.connect(store.path)
        stored = [r[0] for r in conn.execute("SELECT uuid FROM events ORDER BY id")]
        requests = conn.execute("SELECT seq FROM writer_progress").fetchone()[0]  # numbered from 1
        conn.close()
        assert whole > 4 * 4000 and requests >= whole // 4000  # in parts, each committed
        assert stored == [row[0] for row in rows]  # every row once, in the order queued
    finally:
        store.close()


def _open_fds():
    gc.collect()  # (earlier tests' stores, closed when collected: not this test's)
    return len(os.listdir("/proc/self/fd"))


def test_a_writer_process_that_cannot_start_loses_its_batch_counted_said_and_leaks_nothing(
        tmp_path, caplog):
    store = EventStore(str(tmp_path / "events.sqlite3"))
    store.write_in_process()
    try:
        fds = _open_fds()
        store.remote.path = str(tmp_path)  # a folder: the child's SQLite cannot open it
        for row in _rows(50):
            store.enqueue(row)
        assert store.flush() == 0
        stats = store.stats()
        assert stats["dropped"] == 50 and stats["written"] == 0 and stats["failing"] is True
        assert "could not open the store" in stats["last_error"]
        assert str(tmp_path) not in json.dumps(stats)  # the folder never shows in /healthz
        assert any("could not store 50 events" in r.getMessage() for r in caplog.records)
        store.remote.executable = str(tmp_path / "no-python")  # cannot even be spawned
        for rounds in range(3):
            store.enqueue(_rows(1, start=50 + rounds)[0])
            assert store.flush() == 0
        stats = store.stats()
        assert stats["dropped"] == 53  # each lost row once: no report of a dead child counted again
        assert "FileNotFoundError" in stats["last_error"] and str(tmp_path) not in stats["last_error"]
        assert _open_fds() == fds and store.remote.pid is None  # no pipe, no child left behind
        assert store.remote.restarts == 0  # no child was running, none was lost
        store.remote.path, store.remote.executable = store.path, sys.executable
        for row in _rows(10, start=60):
            store.enqueue(row)
        assert store.flush() == 10 and store.stats()["failing"] is False
        assert store.stats()["dropped"] == 53
    finally:
        store.close()
    # Closed (the app is ending): a late batch starts no child to outlive the app.
    store.enqueue(_rows(1, start=70)[0])
    assert store.flush() == 0 and store.remote.pid is None and store.stats()["dropped"] == 54


def test_what_each_writer_process_drops_counts_once(tmp_path):
    store = EventStore(str(tmp_path / "events.sqlite3"))
    store.write_in_process()
    try:
        bad = (None, *_rows(1)[0][1:])  # no uuid: SQLite refuses this row alone, and it is lost
        for row in [*_rows(5), bad]:
            store.enqueue(row)
        assert store.flush() == 5 and store.stats()["dropped"] == 1
        first = psutil.Process(store.remote.pid)
        first.kill()
        wait_until(lambda: _gone(first), timeout=10, what="the first child killed")
        for row in [*_rows(5, start=5), bad]:
            store.enqueue(row)
        assert store.flush() == 5
        assert store.remote.restarts == 1 and store.stats()["dropped"] == 2  # the new child's too
    finally:
        store.close()


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_a_killed_writer_process_is_started_again_and_nothing_is_lost(async_mode):
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, async_mode=async_mode)
    try:
        publisher.wait_for_subscriber()
        for i in range(200):
            publisher.send(device_frames(i, uuid_prefix="first"))
        wait_until(lambda: app.json("/healthz")["store"]["written"] >= 200, timeout=30,
                   what="the first 200 written")
        writer = app.json("/healthz")["store"]["writer_process"]
        child = psutil.Process(writer["pid"])
        assert child.ppid() == app.proc.pid and "dashboard.storage.writer" in child.cmdline()
        assert writer["restarts"] == 0
        # History waits for the live view when the cores are busy.
        assert child.nice() == min(19, psutil.Process(app.proc.pid).nice() + 10)
        # Ctrl+C at a terminal reaches the whole group: the child stays for the app's last flush.
        os.kill(child.pid, signal.SIGINT)
        os.kill(child.pid, signal.SIGTERM)
        time.sleep(0.5)
        assert child.is_running() and child.status() != psutil.STATUS_ZOMBIE
        child.kill()
        wait_until(lambda: _gone(child), timeout=10, what="the child killed")
        for i in range(200):
            publisher.send(device_frames(i, uuid_prefix="second"))
        wait_until(lambda: app.json("/healthz")["store"]["written"] >= 400, timeout=30,
                   what="the next 200 written by a new child")
        store = app.json("/healthz")["store"]
        assert store["writer_process"]["restarts"] == 1, store
        assert store["writer_process"]["pid"] not in (None, child.pid), store
        assert store["dropped"] == 0 and store["queued"] == 0, store
        assert "writer process ended unexpectedly" in app.log_text()
        status, _, metrics = app.get("/metrics")
        assert status == 200 and "\ndashboard_store_writer_restarts_total 1.0\n" in metrics
        conn = sqlite3.connect(os.path.join(app.data_dir, "events.sqlite3"))
        uuids = [r[0] for r in conn.execute("SELECT uuid FROM events WHERE kind = 'device'")]
        conn.close()
        assert len(uuids) == len(set(uuids)) == 400
    finally:
        app.stop()
        publisher.close()


def test_the_writer_process_ends_with_the_app():
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint)
    try:
        publisher.wait_for_subscriber()
        publisher.send(device_frames(1))
        wait_until(lambda: (app.json("/healthz")["store"]["writer_process"] or {}).get("pid"),
                   timeout=30, what="a writer process")
        child = psutil.Process(app.json("/healthz")["store"]["writer_process"]["pid"])
        app.kill()  # a crash: nobody tells the child; its pipe closing does
        wait_until(lambda: _gone(child), timeout=10, what="the child ended with the app")
    finally:
        app.stop()
        publisher.close()


def test_a_writer_process_busy_in_a_request_ends_once_the_app_is_gone(tmp_path):
    """Found by an audit: a child in the middle of a long request never read its pipe's end, and
    ignores SIGTERM, so it ran on after the app was killed. `_end_with` (what the child's main
    starts) ends it within a second of its parent's end, busy or not. Here the parent is a real
    process whose child sleeps, as in a request that will not end."""
    script = ("import os, subprocess, sys, time\n"
              "child = subprocess.Popen([sys.executable, '-c', 'import os, time\\n"
              "from dashboard.storage.writer import _end_with\\n"
              "_end_with(os.getppid(), 0.1)\\nprint(\\'watching\\', flush=True)\\n"
              "time.sleep(120)'])\n"
              "print(child.pid, flush=True)\ntime.sleep(120)\n")
    # (Unbuffered: a raw readline takes no more than its line, so select() sees the next one.)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, bufsize=0,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        # Its watch has seen the parent (it says so on the parent's output: a fixed wait of 0.5 s
        # for its start was short on a loaded machine, a review found)
        assert select.select([parent.stdout], [], [], 30)[0], "the child never said it watches"
        assert parent.stdout.readline().strip() == b"watching"
        assert not _gone(child)
        parent.kill()
        parent.wait(timeout=10)
        wait_until(lambda: _gone(child), timeout=10, what="the busy child ended with its parent")
    finally:
        parent.kill()
        parent.stdout.close()


def test_store_writer_thread_writes_in_the_app():
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--store-writer", "thread")
    try:
        publisher.wait_for_subscriber()
        for i in range(50):
            publisher.send(device_frames(i))
        wait_until(lambda: app.json("/healthz")["store"]["written"] >= 50, timeout=30,
                   what="50 written")
        assert app.json("/healthz")["store"]["writer_process"] is None
        assert not psutil.Process(app.proc.pid).children()
        status, _, body = app.get("/api/v1/events?limit=5")
        assert status == 200 and len(body["events"]) == 5, json.dumps(body)[:300]
    finally:
        app.stop()
        publisher.close()
