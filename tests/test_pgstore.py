"""The event store on both backends, a SQLite file and a real PostgreSQL server (tests/pgserver.py):
the same behaviour and the same numbers; a server that is away at start or restarts while the store
is open; the app keeping its history in PostgreSQL under eventlet and gevent."""
import collections
import concurrent.futures
import dataclasses
import datetime as dt
import json
import math
import socket
import time
import urllib.parse

import pytest

from dashboard.core import events as events_module
from dashboard.core.events import parse_frames
from dashboard.storage.rows import _any_row
from dashboard.storage.store import COLUMNS, open_store, row_for
from tests.fixtures import captured_frames
from tests.helpers import AppProcess, TestPublisher, free_port, message, wait_until
from tests.pgserver import PostgresServer

DEVICE_COLUMNS = ("ts", "device", "device_type", "state", "health", "job")


@pytest.fixture(scope="module")
def pg():
    """One server for the module; each test takes a fresh database of its own."""
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def reopen(request, tmp_path):
    """Opens (again) the store on one fresh database of the backend under test."""
    database = "" if request.param == "sqlite" else request.getfixturevalue("pg").create_database()
    return lambda: open_store(database, str(tmp_path / "events.sqlite3"))


@pytest.fixture
def store(reopen):
    return reopen()


def some_message(i, when):
    """A valid message of one of three kinds, by i."""
    data = ({"device": "qemu-01", "state": "Idle", "health": "Good"}, {"hostname": "w-1", "state": "Online"},
            {"job": 1, "message": "hello"})[i % 3]
    return message(("device", "worker", "event")[i % 3], when, f"m-{i}", **data)


def rows_of(frames_list):
    return [row_for(parse_frames(f), f, {}, 0.0) for f in frames_list]


def fill(store, rows):
    for row in rows:
        store.enqueue(row)
    while store.queue:
        store.flush()


def as_dicts(rows):
    """Inserted rows as the store numbers them (ids from 1), for expectations computed here."""
    return [dict(zip(COLUMNS, (i, *row))) for i, row in enumerate(rows, 1)]


# -- writing ---------------------------------------------------------------------------------


def test_events_are_kept_as_received_and_as_parsed(store):
    frames = captured_frames()
    fill(store, rows_of(frames))
    assert store.count() == 127 and store.last_id() == 127
    newest = store.events(limit=1)[0]
    assert newest["frames"] == [f.decode() for f in frames[-1]]
    assert newest["data"] == json.loads(frames[-1][4]) and newest["kind"] == "worker"
    stats = store.stats()
    assert (stats["written"], stats["dropped"], stats["queued"], store.in_flight) == (127, 0, 0, 0)
    assert store.last_batch == 127 and stats["last_error"] is None


def test_a_bad_row_loses_only_itself(store):
    rows = rows_of(captured_frames()[:10])
    odd = list(rows[3])
    odd[COLUMNS.index("received") - 1] = object()  # something no driver can bind
    rows[3] = tuple(odd)
    # A NUL cannot be in PostgreSQL's text: kept, replaced, in the columns. (A lone surrogate, which
    # no driver can encode, is refused by the parser now: core/limits.has_lone_surrogate.)
    # (The parser refuses a name with a control character since an audit: the event is made as it
    # would be, for whatever else brings one.)
    clean = message("device", "2026-11-27T10:00:01", "nul-1", device="qemu-9", state="Idle")
    event = parse_frames(clean)
    event = dataclasses.replace(event, data=dict(event.data, device="qemu\0-9"), text=())
    # (Through the path that checks every value: row_for takes the parser's word for a device
    # message's names, and no parser made this one: storage/rows.py.)
    rows.append(_any_row(event, clean, {}, 0.0))
    store.queue.extend(rows)
    assert store.flush() == 10 and store.dropped == 1 and store.in_flight == 0
    assert store.count() == 10 and "Error" in store.last_error
    kept = store.events({"device": "qemu\ufffd-9"})
    assert len(kept) == 1 and kept[0]["data"]["device"] == "qemu\0-9"  # the data keeps it
    assert store.enqueue(rows[0]) and store.flush() == 1  # and the store carries on


def test_pruning_keeps_the_limits(store):
    rows = rows_of(captured_frames())
    fill(store, rows)
    assert store.prune(max_age_s=0, max_rows=100, chunk=7) == 27 and store.pruned == 27
    assert store.count() == 100 and store.events(limit=1, newest_first=False)[0]["id"] == 28
    cutoff = sorted(r["ts"] for r in as_dicts(rows)[27:])[50]
    now = time.time()
    assert store.prune(max_age_s=now - cutoff, max_rows=0, now=now) == 50
    kept = store.rows("device", None, None) + store.rows("testjob", None, None)
    assert min(r["ts"] for r in kept) >= cutoff and store.count() == 50


def test_the_model_is_saved_and_loaded(reopen):
    store = reopen()
    assert store.load_model() == (None, 0)
    store.save_model({"devices": {"qemu-01": {"state": "Idle"}}}, 5)
    store.save_model({"devices": {"qemu-02": {"state": "Running"}}}, 9)  # replaces the first
    assert reopen().load_model() == ({"devices": {"qemu-02": {"state": "Running"}}}, 9)


def test_frames_after_replays_in_order_across_pages(store):
    frames = (captured_frames() * 17)[:2100]
    fill(store, rows_of(frames))
    got = list(store.frames_after(50, limit=2000))
    assert [i for i, _ in got] == list(range(51, 2051))
    assert [f for _, f in got] == frames[50:2050]
    assert len(list(store.frames_after(0))) == 2100 and list(store.frames_after(2100)) == []


# -- reading ---------------------------------------------------------------------------------


def test_cursor_pages_are_stable_while_events_arrive(store):
    rows = rows_of(captured_frames())
    fill(store, rows[:60])
    seen, before = [], None
    for i in range(100):
        page = store.events(before=before, limit=7)
        seen += [e["id"] for e in page]
        if i < 9:
            fill(store, rows[60 + i * 7:60 + (i + 1) * 7])  # newer events keep arriving
        if len(page) < 7:
            break
        before = page[-1]["id"]
    assert seen == list(range(60, 0, -1))


def test_event_filters_ranges_and_order(store):
    rows = as_dicts(rows_of(captured_frames()))
    fill(store, [tuple(r[c] for c in COLUMNS[1:]) for r in rows])
    for field, value in [("kind", "testjob"), ("device", "qemu-02"), ("job", 13), ("worker", "lab-worker-01"),
                         ("submitter", "admin"), ("device_type", "qemu")]:
        want = [r["id"] for r in reversed(rows) if r[field] == value]
        assert want and [e["id"] for e in store.events({field: value}, limit=1000)] == want, field
    since, until = rows[40]["ts"], rows[90]["ts"]
    want = [r["id"] for r in rows if since <= r["ts"] < until and r["kind"] == "device"]
    got = store.events({"kind": "device"}, since, until, after=want[2], limit=5, newest_first=False)
    assert [e["id"] for e in got] == want[3:8]


def test_buckets_round_down_also_before_1970(store, monkeypatch):
    # (The parser refuses times before 2010 since an audit; the store's rounding holds for any.)
    monkeypatch.setattr(events_module, "EARLIEST", dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc))
    times = ["1969-12-31T22:59:59+00:00", "1969-12-31T23:00:00+00:00", "1969-12-31T23:59:59.5+00:00",
             "1970-01-01T00:00:00+00:00", "1970-01-01T00:00:06.999+00:00", "1970-01-01T00:00:07+00:00",
             "1970-01-02T00:00:00.25+00:00"]
    frames = [some_message(i, t) for i, t in enumerate(times)] + captured_frames()
    rows = as_dicts(rows_of(frames))
    fill(store, [tuple(r[c] for c in COLUMNS[1:]) for r in rows])
    for width, since, until in [(3600, -7200, 90000), (86400, None, None), (7, -10, 10), (0.5, -2, 2),
                                (3600, 1795798800, 1795806000)]:
        counts = collections.Counter(
            (math.floor(r["ts"] / width) * width, r["kind"]) for r in rows
            if (since is None or r["ts"] >= since) and (until is None or r["ts"] < until))
        got = store.buckets(width, since, until)
        assert got == [(b, kind, n) for (b, kind), n in sorted(counts.items())], (width, since)
        assert all(type(b) is type(width) for b, _, _ in got)  # ints stay ints (JSON: 3600, not 3600.0)
    assert store.buckets(3600, -7200, 90000, {"kind": "device"}) == [
        (-7200, "device", 1), (0, "device", 1), (86400, "device", 1)]


def pick(row, columns=DEVICE_COLUMNS):
    return {c: row[c] for c in columns}


def test_rows_outcomes_and_state_before(store):
    rows = as_dicts(rows_of(captured_frames()))
    fill(store, [tuple(r[c] for c in COLUMNS[1:]) for r in rows])
    mid = rows[70]["ts"]
    by_time = sorted(rows, key=lambda r: (r["ts"], r["id"]))

    assert store.rows("device", mid, None) == [
        pick(r) for r in by_time if r["kind"] == "device" and r["ts"] >= mid]
    assert store.rows("testjob", None, mid, columns=("ts", "job", "state")) == [
        pick(r, ("ts", "job", "state")) for r in by_time if r["kind"] == "testjob" and r["ts"] < mid]

    first_finish = {}
    for r in by_time:
        if r["kind"] == "testjob" and r["state"] == "Finished":
            first_finish.setdefault(r["job"], r)
    want = sorted(first_finish.values(), key=lambda r: (r["ts"], r["job"]))
    assert want and store.outcomes(None, None) == [pick(r, ("ts", "job", "health", "state")) for r in want]

    last = {}
    for r in rows:  # in id order: the last one wins
        if r["kind"] == "device" and r["ts"] < mid:
            last[r["device"]] = r
    by_device = sorted(store.state_before("device", "device", mid), key=lambda r: r["device"] or "")
    assert by_device == sorted((pick(r) for r in last.values()), key=lambda r: r["device"] or "")
    newest = max((r for r in rows if r["device"] == "qemu-02" and r["kind"] == "device" and r["ts"] < mid),
                 key=lambda r: r["ts"])
    assert store.state_before("device", "device", mid, {"device": "qemu-02"}) == [pick(newest)]
    since = rows[30]["ts"]
    queued = store.state_before("testjob", "job", mid, lookback=mid - since)
    want = {r["job"] for r in rows if r["kind"] == "testjob" and since <= r["ts"] < mid}
    assert want and {r["job"] for r in queued} == want


def test_both_backends_give_the_same_answers(pg, tmp_path):
    rows = rows_of(captured_frames())
    stores = [open_store("", str(tmp_path / "events.sqlite3")), open_store(pg.create_database(), "")]
    for store in stores:
        fill(store, rows)
    t = as_dicts(rows)[64]["ts"]
    asks = [lambda s: s.events(limit=1000), lambda s: s.events({"job": 13}, newest_first=False),
            lambda s: s.buckets(3600, 0, 2e9),
            lambda s: s.buckets(60, t - 600, t + 600, {"device": "qemu-02"}),
            lambda s: s.rows("device", None, None), lambda s: s.outcomes(None, None),
            lambda s: sorted(s.state_before("testjob", "job", t), key=lambda r: r["job"]),
            lambda s: list(s.frames_after(100)), lambda s: (s.count(), s.last_id()),
            # An export's plan (web/paging.py): the ids nearest a time, and where 10 rows end.
            lambda s: (s.anchor_id(t, "before"), s.anchor_id(t, "after"), s.anchor_id(0, "before")),
            lambda s: [s.cut_id({"kind": "device"}, None, None, 0, most, 10**6) for most in (10, 10**5)]]
    for i, ask in enumerate(asks):
        assert ask(stores[0]) == ask(stores[1]), i


# -- PostgreSQL: settings, and a server that is away -------------------------------------------


def quoted_password(pg):
    return urllib.parse.quote(pg.password, safe="")


def test_stats_show_the_url_without_its_password(pg):
    store = open_store(pg.url, "")
    assert store.stats()["file"] == store.path == f"postgresql://dashboard@127.0.0.1:{pg.port}/dashboard"
    in_query = (f"postgres://dashboard@127.0.0.1:{pg.port}/dashboard?application_name=a%20b"
                f"&password={quoted_password(pg)}")
    other = open_store(in_query, "")
    assert other.count() == 0 and other.path == (
        f"postgres://dashboard@127.0.0.1:{pg.port}/dashboard?application_name=a%20b")
    for text in (json.dumps(store.stats()), json.dumps(other.stats())):
        assert "s3cret" not in text and quoted_password(pg) not in text


def test_a_server_away_or_silent_at_start_is_a_clear_error():
    url = f"postgresql://u:hunter2@127.0.0.1:{free_port()}/db"  # nobody listens there
    with pytest.raises(ConnectionError, match="cannot use the database postgresql://u@127.0.0.1:.*refused"):
        open_store(url, "")
    with socket.socket() as silent:  # accepts connections, never answers: the connect timeout ends it
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(ConnectionError, match="cannot use the database .*timeout") as err:
            open_store(f"postgresql://u:hunter2@127.0.0.1:{silent.getsockname()[1]}/db?connect_timeout=2", "")
        assert "hunter2" not in str(err.value)


def test_the_writer_survives_a_server_restart():
    server = PostgresServer()
    try:
        store = open_store(server.start().url, "")
        rows = rows_of(captured_frames())
        fill(store, rows[:10])
        server.stop()
        store.queue.extend(rows[10:15])
        assert store.flush() == 0  # no exception: the batch is dropped and counted
        assert store.dropped == 5 and store.in_flight == 0
        assert "connect" in store.last_error and not store.queue
        server.start()
        store.queue.extend(rows[15:20])
        assert store.flush() == 5 and store.count() == 15  # the next flush connected again
        with concurrent.futures.ThreadPoolExecutor(1) as reader:  # a thread with its own connection
            assert reader.submit(store.count).result() == 15
            server.stop()
            server.start()  # nothing written meanwhile: stale connections are replaced, nothing lost
            store.queue.extend(rows[20:25])
            assert store.flush() == 5 and store.dropped == 5
            assert reader.submit(store.count).result() == 20  # a read, too, without an error
        assert [e["uuid"] for e in store.events(limit=3)] == [r[0] for r in rows[24:21:-1]]
    finally:
        server.cleanup()


# -- the app on PostgreSQL ---------------------------------------------------------------------


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_the_app_keeps_its_history_in_postgresql(pg, async_mode):
    url = pg.create_database()
    frames = captured_frames()
    publisher = TestPublisher()
    apps = []

    def start():
        apps.append(AppProcess("--zmq", publisher.endpoint, "--database", url, async_mode=async_mode))
        publisher.wait_for_subscriber()
        return apps[-1]

    def publish(app, batch):
        store = app.json("/healthz")["store"]
        done = store["written"] + store["dropped"]
        for f in batch:
            publisher.send(f)
        wait_until(lambda: sum(app.json("/healthz")["store"][k] for k in ("written", "dropped"))
                   >= done + len(batch), timeout=20, what="events stored or dropped")

    try:
        app = start()
        publish(app, frames[:100])
        store = app.json("/healthz")["store"]
        assert (store["written"], store["dropped"]) == (100, 0)
        assert store["file"] == url.replace(":" + quoted_password(pg), "")
        events = app.json("/api/v1/events?limit=1000")["events"]
        assert [e["uuid"] for e in reversed(events)] == [f[1].decode() for f in frames[:100]]
        assert open_store(url, "").count() == 100  # in the server, for any other process to read

        pg.stop()  # the server goes away while the app runs ...
        publish(app, frames[100:110])
        assert app.json("/healthz")["store"]["dropped"] == 10 and app.alive()
        health = app.json("/healthz")
        assert health["store"]["failing"] and "store" in health["degraded"]
        pg.start()  # ... and comes back: the writer carries on
        publish(app, frames[110:])
        health = app.json("/healthz")
        assert health["store"]["written"] == 117
        # Writing again, and the loss still told: degraded for 10 minutes after rows were dropped.
        assert not health["store"]["failing"] and health["store"]["last_dropped"]
        assert "store" in health["degraded"]
        assert len(app.json("/api/v1/events?limit=1000")["events"]) == 117

        before = app.json("/api/v1/state")
        app.stop()  # writes the model to the server, from which the next process starts
        again = start()
        assert again.json("/healthz")["store"]["restored"] == {"from_snapshot": True, "replayed": 0,
                                                               "skipped": 0}
        after = again.json("/api/v1/state")
        assert all(after[k] == before[k] for k in ("seq", "devices", "jobs", "workers"))
    finally:
        for app in apps:
            app.stop()
        publisher.close()
