"""The event store without a server: a real SQLite file (the same behaviour on PostgreSQL:
tests/test_pgstore.py), and the database setting's checks."""
import copy
import dataclasses
import json
import sqlite3
import threading
import time

import pytest

from dashboard.core import records
from dashboard.core.events import ParseError, parse_frames
from dashboard.core.limits import MAX_NAME_LENGTH
from dashboard.core.state import CORRECTION_KIND, LabState
from dashboard.live.meta import Meta
from dashboard.live.reconcile import Reconciler
from dashboard.live.relay import Relay
from dashboard.storage.store import COLUMNS, EventStore, open_store, row_for
from tests.fixtures import captured_frames, rest
from tests.helpers import RecordingSocketIO


def fill(store, frames_list):
    for frames in frames_list:
        store.enqueue(row_for(parse_frames(frames), frames, {}, time.time()))
    while store.queue:
        store.flush()


def test_store_keeps_events_as_received_and_as_parsed(tmp_path):
    store = EventStore(str(tmp_path / "events.sqlite3"))
    frames = captured_frames()
    fill(store, frames)
    assert store.count() == 127
    newest = store.events(limit=1)[0]
    assert newest["frames"] == [f.decode() for f in frames[-1]]
    assert newest["data"] == json.loads(frames[-1][4]) and newest["kind"] == "worker"


def test_one_odd_event_loses_only_itself(tmp_path):
    store = EventStore(str(tmp_path / "events.sqlite3"))
    frames = captured_frames()[:10]
    rows = [row_for(parse_frames(f), f, {}, time.time()) for f in frames]
    odd = list(rows[3])
    odd[COLUMNS.index("received") - 1] = object()  # something SQLite cannot bind
    rows[3] = tuple(odd)
    store.queue.extend(rows)
    assert store.flush() == 9 and store.dropped == 1 and store.in_flight == 0
    assert store.count() == 9 and "Error" in store.last_error
    # Unknown topics may put anything under the column names: only text reaches the columns.
    weird = parse_frames([b"org.lavasoftware.custom", b"w-1", b"2026-11-27T10:00:00", b"lavaserver",
                          b'{"state": {"nested": 1}, "device": [1], "job": 5}'])
    row = row_for(weird, [b"a"] * 5, {}, 0)
    assert row[COLUMNS.index("state") - 1] is None and row[COLUMNS.index("device") - 1] is None


@pytest.mark.parametrize("column", ["uuid", "topic", "username", "device", "worker", "submitter",
                                    "device_type", "state", "health"])
def test_a_nul_in_any_text_column_is_replaced_there_and_kept_in_the_data(column):
    """PostgreSQL's text cannot hold NUL: row_for replaces it in every text column (both backends
    store the same), and the data and frames keep it. A device or testjob message that holds one
    in a column's value is refused by the parser: its row is made without looking again
    (storage/rows.py's CHECKED_KINDS); the replacement is that of every other kind's row."""
    from dashboard.storage.rows import _any_row

    frame = {"uuid": 1, "topic": 0, "username": 3}
    frames = [b"org.lavasoftware.testjob", b"j-1", b"2026-11-27T10:00:00", b"admin",
              b'{"job": 7, "state": "Running", "health": "Unknown", "device": "qemu-1", '
              b'"worker": "w-1", "submitter": "admin", "device_type": "qemu"}']
    clean = list(frames)
    if column in frame:
        frames[frame[column]] = frames[frame[column]].replace(b".testjob", b"\0.testjob") \
            if column == "topic" else frames[frame[column]] + b"\0"
    else:
        data = json.loads(frames[4])
        data[column] += "\0" if column not in ("state", "health") else ""
        frames[4] = json.dumps(data).encode()
    if column in ("state", "health"):  # enumerated for a job: a custom topic carries free text
        frames[0] = b"org.lavasoftware.custom"
        frames[4] = json.dumps({column: "odd\0"}).encode()
    if column not in ("state", "health"):
        # A name, or the topic, uuid or username frame, holding a control character is refused
        # since (an audit): row_for's replacement stays for whatever else brings one.
        with pytest.raises(ParseError) as err:
            parse_frames(frames)
        assert err.value.reason == "bad_value" and "control or format character" in str(err.value)
        event = parse_frames(clean)
        if column in frame:
            event = dataclasses.replace(event, **{column: getattr(event, column).replace(
                ".testjob", "\0.testjob") if column == "topic" else getattr(event, column) + "\0"},
                text=tuple(f.decode() for f in frames))
        else:
            event = dataclasses.replace(event, data=json.loads(frames[4]),
                                        text=tuple(f.decode() for f in frames))
        make = _any_row  # (an event no parser made: the checked kinds' rows do not look)
    else:
        event = parse_frames(frames)
        make = row_for  # (a kind the parser does not check the columns of: the checked path)
    row = dict(zip(COLUMNS[1:], make(event, frames, {}, 0)))
    assert "\0" not in row[column] and "\ufffd" in row[column]
    assert not any("\0" in v for v in row.values() if isinstance(v, str) and v not in (row["data"], row["frames"]))
    assert "\\u0000" in row["frames"]  # JSON-escaped, kept


def test_pruning_keeps_the_limits(tmp_path):
    store = EventStore(str(tmp_path / "events.sqlite3"))
    fill(store, captured_frames())
    assert store.prune(max_age_s=0, max_rows=100, chunk=7) == 27
    assert store.count() == 100 and store.events(limit=1, newest_first=False)[0]["id"] == 28
    ages = [e["time"] for e in store.events(limit=1000)]
    cutoff = sorted(ages)[50]
    from dashboard.core.events import parse_time
    now = time.time()
    assert store.prune(max_age_s=now - parse_time(cutoff).timestamp(), max_rows=0, now=now) == 50
    assert min(parse_time(t) for t in (e["time"] for e in store.events(limit=1000))) >= parse_time(cutoff)


@pytest.mark.parametrize("database", ["mysql://root:hunter2@db/x", "sqlite:///x.sqlite3",
                                      "events.sqlite3", "postgresql://u:hunter2@[::1/db",
                                      "postgresql://u:hunter2@h/db?foo=1"])
def test_a_bad_database_setting_is_a_clear_error(database, tmp_path):
    with pytest.raises(ValueError, match="not supported: give a postgresql://|not a valid PostgreSQL URL") as err:
        open_store(database, str(tmp_path / "events.sqlite3"))
    assert "hunter2" not in str(err.value)


def test_health_since_is_the_first_transition_into_the_current_health(tmp_path):
    """A state change keeps it; a correction is a transition; another device's rows do not count."""
    from dashboard.core.events import Event, parse_time
    from dashboard.core.state import CORRECTION_KIND, correction_data, correction_topic
    store = EventStore(str(tmp_path / "events.sqlite3"))
    assert store.health_since("qemu-01") is None

    def device(minute, state, health, hostname="qemu-01"):
        data = {"device": hostname, "device_type": "qemu", "worker": "w1", "state": state, "health": health}
        return Event("device", "org.lavasoftware.device", f"{hostname}{minute}",
                     parse_time(f"2026-11-27T10:{minute:02d}:00+00:00"), "lavaserver", data)

    def corrected(minute, health):
        record = {"hostname": "qemu-01", "device_type": "qemu", "worker": "w1", "state": "Idle",
                  "health": health}
        data = correction_data({"kind": "device", "id": "qemu-01", "fields": {"health": ["?", health]}},
                               record)
        return Event(CORRECTION_KIND, correction_topic("device"), f"c{minute}",
                     parse_time(f"2026-11-27T10:{minute:02d}:00+00:00"), "", data)

    def add(*events):
        for e in events:
            store.enqueue(row_for(e, [b""] * 5, {}, time.time()))
        store.flush()

    add(device(1, "Idle", "Good"), device(2, "Idle", "Bad"), device(3, "Reserved", "Bad"),
        device(4, "Idle", "Good", hostname="qemu-02"))
    assert store.health_since("qemu-01") == ("Bad", "2026-11-27T10:02:00+00:00")
    add(corrected(5, "Good"), device(6, "Running", "Good"))
    assert store.health_since("qemu-01") == ("Good", "2026-11-27T10:05:00+00:00")
    add(corrected(7, "Bad"))
    assert store.health_since("qemu-01") == ("Bad", "2026-11-27T10:07:00+00:00")
    assert store.health_since("qemu-02") == ("Good", "2026-11-27T10:04:00+00:00")


class FixedRest:
    """Stands in for LavaRest: always the same snapshot."""

    def __init__(self, snap):
        self.snap = snap

    def fetch_snapshot(self, max_finished, unfinished, crowded=False):
        return self.snap


def test_corrections_are_history_for_outcomes_timelines_and_the_state_before(tmp_path):
    """A job finished (Complete) and a device retired with no event: the reconciler's corrections
    (core.state.correction_data under correction_topic, stored through row_for) are rows that
    outcomes(), rows() and state_before() count as the job's and the device's own."""
    store = EventStore(str(tmp_path / "events.sqlite3"))
    state = LabState()
    frames = captured_frames()
    for f in frames:  # the history as events told it: job 13 runs on qemu-02
        state.apply(parse_frames(f))
    fill(store, frames)
    since, until = 0.0, time.time() + 3600

    def job13():
        return store.rows("testjob", since, until, {"job": 13})

    def qemu02_before():
        return [r for r in store.state_before("device", "device", until) if r["device"] == "qemu-02"]

    assert 13 not in {r["job"] for r in store.outcomes(since, until)}
    assert all(r["state"] != "Finished" for r in job13())
    assert qemu02_before()[0]["health"] != "Retired"

    devices = copy.deepcopy(rest("devices_all")["results"])
    jobs = copy.deepcopy(rest("jobs")["results"])
    for d in devices:
        if d["hostname"] == "qemu-02":
            d.update(state="Idle", health="Retired")
    for j in jobs:
        if j["id"] == 13:
            j.update(state="Finished", health="Complete", end_time="2026-11-27T17:59:00Z")
    snap = records.build(devices, rest("workers")["results"], jobs)
    meta = Meta()
    settings = {"reconcile_interval": 3600, "silence_timeout": 0, "max_finished_jobs": 500}
    reconciler = Reconciler(state, Relay(RecordingSocketIO(), state, meta), meta, FixedRest(snap),
                            settings, threading.Event, store=store)
    reconciler.reconcile_once("test")
    assert reconciler.corrections_by_kind == {"device": 1, "job": 1}
    while store.queue:
        store.flush()

    stored = store.events({"kind": CORRECTION_KIND})
    assert {r["topic"] for r in stored} == {"dashboard.device.correction", "dashboard.testjob.correction"}
    outcome = [r for r in store.outcomes(since, until) if r["job"] == 13]
    assert [(r["state"], r["health"]) for r in outcome] == [("Finished", "Complete")]
    assert (job13()[-1]["state"], job13()[-1]["health"]) == ("Finished", "Complete")
    timeline = store.rows("device", since, until, {"device": "qemu-02"})
    assert timeline[-1]["health"] == "Retired" and timeline[-1]["ts"] > time.time() - 60
    assert [(r["state"], r["health"]) for r in qemu02_before()] == [("Idle", "Retired")]
    job_before = [r for r in store.state_before("testjob", "job", until) if r["job"] == 13]
    assert [(r["state"], r["health"]) for r in job_before] == [("Finished", "Complete")]


@pytest.mark.parametrize("topic", ["org.lavasoftware.event", "org.lavasoftware.custom"])
def test_a_name_longer_than_a_name_is_not_a_column_nor_a_rollup_key(topic, tmp_path):
    """`event` and unknown topics are not checked by the parser beyond their message: a worker,
    device type, state or health longer than MAX_NAME_LENGTH stays out of its column (None, as a
    non-string does), so it never becomes an index or roll-up key; the data and frames keep it."""
    long, over, limit = "w" * 300_000, "x" * (MAX_NAME_LENGTH + 1), "x" * MAX_NAME_LENGTH
    data = {"job": 5, "message": "hello", "worker": long, "device_type": over, "state": over,
            "health": over}
    frames = [topic.encode(), b"long-1", b"2026-11-27T10:00:00", b"lavaserver", json.dumps(data).encode()]
    row = dict(zip(COLUMNS[1:], row_for(parse_frames(frames), frames, {}, 0)))
    assert [row[c] for c in ("worker", "device_type", "state", "health")] == [None] * 4
    assert json.loads(row["data"]) == data and json.loads(row["frames"])[4] == frames[4].decode()
    # At the limit, a name is a name.
    fits = dict(data, worker=limit, device_type=limit, state=limit, health=limit)
    frames_fit = [*frames[:4], json.dumps(fits).encode()]
    frames_fit[1] = b"fits-1"
    row = dict(zip(COLUMNS[1:], row_for(parse_frames(frames_fit), frames_fit, {}, 0)))
    assert [row[c] for c in ("worker", "device_type", "state", "health")] == [limit] * 4

    path = tmp_path / "events.sqlite3"
    store = EventStore(str(path))
    fill(store, [frames, frames_fit])
    (stored,) = store.events({"job": 5, "kind": topic.rsplit(".", 1)[1]}, limit=1, before=2)
    assert stored["worker"] is None and stored["data"]["worker"] == long
    assert store.events({"worker": limit})[0]["uuid"] == "fits-1"
    with sqlite3.connect(path) as conn:  # the store's own file: the roll-ups' keys
        keys = conn.execute("SELECT MAX(LENGTH(worker)), MAX(LENGTH(device_type)) FROM rollup_hourly"
                            ).fetchone()
    assert keys == (MAX_NAME_LENGTH, MAX_NAME_LENGTH)


def test_a_restricted_viewers_message_counts_are_those_of_jobs_they_may_see_or_none_past_the_most(tmp_path):
    """/api/v1/stats/events for a viewer who may not see every job counts the events that name a
    job (test-shell messages, other topics) by job, from the rows (the roll-ups hold private jobs'
    too), up to a bound; past it, none (the API then says why). A real SQLite file, the web
    layer's own function."""
    from dashboard.core.visibility import ANONYMOUS, PUBLIC, Viewing, Visibility
    from dashboard.web.history import _shown_messages

    store = EventStore(str(tmp_path / "events.sqlite3"))
    stamp = "2026-12-03T08:00:{:02d}+00:00"
    messages = [[f"org.lavasoftware.{topic}".encode(), f"m-{i}".encode(), stamp.format(i).encode(),
                 b"lavaserver", json.dumps({"job": job, "message": "m"}).encode()]
                for i, (topic, job) in enumerate([("event", 1), ("event", 1), ("event", 2), ("event", 2),
                                                  ("event", 3), ("notification", 1),
                                                  ("notification", 2)])]  # job 1 public, 2 private, 3 unknown
    messages.append([b"org.lavasoftware.device", b"d-1", stamp.format(9).encode(), b"lavaserver",
                     json.dumps({"device": "qemu-01", "state": "Idle", "health": "Good"}).encode()])
    fill(store, messages)
    view = Viewing(ANONYMOUS, {1: {"id": 1, "visibility": PUBLIC}, 2: {"id": 2, "visibility": "private"}},
                   Visibility())
    t0 = parse_frames(messages[0]).time.timestamp()
    counts = _shown_messages(store, 1, t0, t0 + 60, {}, view)
    assert sorted(counts) == [(t0, "event", 1), (t0 + 1, "event", 1), (t0 + 5, "notification", 1)]
    hour = t0 // 3600 * 3600  # one bucket: groups (event, 1), (event, 2), (event, 3), (notification, 1), (notification, 2)
    assert sorted(_shown_messages(store, 3600, t0, t0 + 60, {}, view, most=5)) == [
        (hour, "event", 2), (hour, "notification", 1)]
    assert _shown_messages(store, 3600, t0, t0 + 60, {}, view, most=4) is None
    assert _shown_messages(store, 3600, t0, t0 + 60, {"kind": "event"}, view) == [(hour, "event", 2)]


def test_a_restricted_viewers_correction_counts_are_those_it_is_shown_or_none_past_the_most(tmp_path):
    """/api/v1/stats/events for a viewer who may not see every job counts corrections from the
    rows, as /api/v1/events shows them: a private job's correction of hidden fields alone is not
    counted (the roll-ups count it), one of what is shown is, and a device's is."""
    import datetime as dt

    from dashboard.core.events import Event
    from dashboard.core.state import correction_data, correction_topic
    from dashboard.core.visibility import ANONYMOUS, EVERYONE, PRIVATE, Viewing, Visibility
    from dashboard.web.history import _shown_corrections

    store = EventStore(str(tmp_path / "events.sqlite3"))
    t0 = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.timezone.utc)
    job = {"id": 7, "state": "Running", "health": "Unknown", "submitter": "s", "description": "d"}
    device = {"hostname": "qemu-01", "device_type": "qemu", "state": "Idle", "health": "Good",
              "worker": "w", "job": None}
    for i, (kind, fields, record) in enumerate([
            ("job", {"description": ["a", "d"]}, job),  # hidden alone
            ("job", {"description": ["a", "d"], "priority": [1, 2]}, job),  # hidden alone
            ("job", {"state": ["Submitted", "Running"]}, job),  # shown
            ("device", {"health": ["Bad", "Good"]}, device)]):
        when = t0 + dt.timedelta(seconds=i)
        data = correction_data({"kind": kind, "id": record.get("id", "qemu-01"), "fields": fields},
                               record)
        event = Event(kind="correction", topic=correction_topic(kind), uuid=f"c{i}", time=when,
                      username="", data=data)
        store.enqueue(row_for(event, [event.topic, event.uuid, when.isoformat(), "",
                                      json.dumps(data)], {}, time.time()))
    while store.queue:
        store.flush()
    jobs = {7: dict(job, visibility=PRIVATE)}
    since, until = t0.timestamp(), t0.timestamp() + 60
    anonymous = Viewing(ANONYMOUS, jobs, Visibility())
    assert sorted(_shown_corrections(store, 1, since, until, {}, anonymous)) == [
        (since + 2, "correction", 1), (since + 3, "correction", 1)]
    assert _shown_corrections(store, 60, since, until, {}, Viewing(EVERYONE, jobs, Visibility())) == [
        (since, "correction", 4)]
    assert _shown_corrections(store, 60, since, until, {}, anonymous, most=4) == [(since, "correction", 2)]
    assert _shown_corrections(store, 60, since, until, {}, anonymous, most=3) is None
    assert _shown_corrections(store, 60, since, until, {"device": "qemu-01"}, anonymous) == [
        (since, "correction", 1)]


def test_the_queue_is_bounded_in_characters_too_and_a_dropped_row_is_counted(tmp_path):
    """A message may be up to --max-message-size: the rows waiting for the writer are bounded by
    their stored text as well as by their number. Full: the next row is dropped and counted;
    written: there is room again."""
    store = EventStore(str(tmp_path / "events.sqlite3"), max_queue_chars=100_000)
    big = [row_for(parse_frames(f), f, {}, 0.0) for f in (
        [b"org.lavasoftware.notification", f"big-{i}".encode(), b"2026-12-03T08:00:00+00:00",
         b"lavaserver", json.dumps({"note": "n" * 20_000}).encode()] for i in range(5))]
    size = len(big[0][-1]) + len(big[0][-2])
    assert 40_000 < size < 50_000  # the text twice: data, and the frames that hold it again
    assert store.enqueue(big[0]) and store.enqueue(big[1])
    assert not store.enqueue(big[2])  # a third would pass 100,000 characters
    stats = store.stats()
    assert stats["queued"] == 2 and stats["queued_chars"] == 2 * size and stats["dropped"] == 1
    assert store.flush() == 2 and store.stats()["queued_chars"] == 0
    assert store.enqueue(big[3]) and store.flush() == 1
    assert store.count() == 3 and store.stats()["dropped"] == 1


def test_the_last_flush_at_shutdown_waits_for_one_under_way_and_nothing_is_lost(tmp_path):
    """SIGTERM while the keeper's pool thread is inside a flush, with rows it took from the queue:
    the shutdown's own flush waits for it (one at a time) before the store closes, so that its rows
    are written, not refused by a closed writer (a flaky loss of a whole batch at shutdown)."""
    from dashboard.storage.keeper import StoreKeeper

    entered, go_on = threading.Event(), threading.Event()

    class SlowStore(EventStore):
        def _insert(self, rows, marker=None):
            entered.set()
            go_on.wait(10)
            return super()._insert(rows, marker)

    store = SlowStore(str(tmp_path / "events.sqlite3"))
    store.write_in_process()  # as the app has it: closed, its writer refuses what comes after
    rows = [row_for(parse_frames(f), f, {}, 0.0) for f in captured_frames()[:50]]
    for row in rows[:30]:
        store.enqueue(row)
    keeper = StoreKeeper(store, LabState(), {"snapshot_interval": 60}, None, time.sleep)
    pool = threading.Thread(target=store.flush)  # the keeper's round, in its pool thread
    pool.start()
    assert entered.wait(10) and not store.queue and not store.idle()  # its rows taken, unwritten
    for row in rows[30:]:
        store.enqueue(row)
    threading.Timer(0.3, go_on.set).start()
    keeper.close()  # waits for the pool thread's flush, then writes the other 20
    pool.join(10)
    assert store.idle() and store.count() == 50 and store.stats()["dropped"] == 0


def test_a_restart_forgets_what_lava_said_of_who_may_see_each_job(tmp_path):
    """A job LAVA called public before a restart may have been made private meanwhile: the restored
    model holds no answer, so the job is private (default deny) until LAVA is asked again, however
    long LAVA stays away. The rest of the job is restored as it was."""
    from dashboard.core.visibility import ANONYMOUS, Visibility, may_see_job
    from dashboard.storage.keeper import StoreKeeper

    store = EventStore(str(tmp_path / "events.sqlite3"))
    state = LabState()
    for frames in captured_frames():
        state.apply(parse_frames(frames))
    job_id = next(iter(state.jobs))
    state.set_visibility(job_id, "public")
    assert may_see_job(ANONYMOUS, state.jobs[job_id], Visibility())
    store.save_model(state.dump(), store.last_id())
    restored = LabState()
    StoreKeeper(store, restored, {"snapshot_interval": 60, "max_message_size": 1 << 20}, None,
                time.sleep).restore()
    job = restored.jobs[job_id]
    assert "visibility" not in job and not may_see_job(ANONYMOUS, job, Visibility())
    assert job == {k: v for k, v in state.jobs[job_id].items() if k != "visibility"}
    assert not any("visibility" in j for j in restored.jobs.values())
    restored.set_visibility(job_id, "public")  # LAVA answered again
    assert may_see_job(ANONYMOUS, restored.jobs[job_id], Visibility())


def test_the_rows_of_device_and_testjob_messages_skip_no_check_they_need():
    """A device or testjob message's row is made without checking again what the parser checked
    (storage/rows.py's CHECKED_KINDS; bench/hotpath.py's row step): the same row, column by
    column, as the path that checks every value, for LAVA's captured messages and for messages
    at the parser's edges."""
    from bench.store import messages
    from dashboard.storage.rows import CHECKED_KINDS, _any_row, _checked_row

    edge = [  # (kind, data, username): the longest names, no submitter, legacy status, nulls
        ("device", {"device": "d" * MAX_NAME_LENGTH, "device_type": "t" * MAX_NAME_LENGTH,
                    "state": "Idle", "health": "Good", "worker": "w" * MAX_NAME_LENGTH,
                    "job": None}, "lavaserver"),
        ("device", {"device": "qemu-é-01", "status": "Offline", "device_type": None,
                    "worker": None}, ""),
        ("testjob", {"job": 7, "status": "Complete", "description": "x" * 4096},
         "u" * MAX_NAME_LENGTH),
        ("testjob", {"job": 2**62, "state": "Running", "submitter": None, "device": "qemu-01",
                     "device_type": "qemu", "worker": "w-1", "sub_id": "7.1",
                     "health_check": True}, "bob"),
        ("testjob", {"job": 8, "state": "Submitted", "submitter": "ärger", "priority": -3}, "alice"),
    ]
    frames_list = captured_frames()
    for i, (kind, data, user) in enumerate(edge):
        frames_list.append([f"org.lavasoftware.{kind}".encode(), f"edge-{i}".encode(),
                            b"2026-11-27T10:00:00", user.encode(), json.dumps(data).encode()])
    now = time.time()
    frames_list += list(messages(2000, now - 86400, now))
    checked = 0
    for frames in frames_list:
        event = parse_frames(frames)
        if event.kind not in CHECKED_KINDS:
            continue
        assert _checked_row(event, frames, 1.5) == _any_row(event, frames, {}, 1.5), frames
        assert row_for(event, frames, {}, 1.5) == _any_row(event, frames, {}, 1.5)
        checked += 1
    assert checked > 1800  # (the synthetic lab's are nine in ten device or testjob messages)
    # The comparison can fail: a row _any_row would make otherwise (a name the parser let through
    # longer than the columns take) is not the fast path's.
    event = parse_frames(frames_list[-1])
    assert event.kind in CHECKED_KINDS
    longer = dataclasses.replace(event, data={**event.data, "device": "d" * (MAX_NAME_LENGTH + 1)})
    assert _checked_row(longer, frames_list[-1], 1.5) != _any_row(longer, frames_list[-1], {}, 1.5)
