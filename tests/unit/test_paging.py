"""Pages of stored events for a viewer who may not see every job (dashboard/web/paging.py), over a
real SQLite file: where a page ends, and its cursor, never depend on rows the viewer may not see."""
import json
import time

import pytest

from dashboard.core.events import parse_frames
from dashboard.core.visibility import ANONYMOUS, EVERYONE, PUBLIC, Viewing, Visibility
from dashboard.storage.store import EventStore, row_for
from dashboard.web import paging

pytestmark = pytest.mark.unit
JOBS = {903: {"id": 903, "visibility": PUBLIC, "submitter": "priv-alice"},
        902: {"id": 902, "visibility": "private", "submitter": "priv-carol"},
        901: {"id": 901, "visibility": "private", "submitter": "priv-alice"}}


def now(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def job_rows(job, submitter, n):
    """A job's state change, then `n` test-shell messages and `n` more state changes of it."""
    stamp = "2026-12-03T08:00:00+00:00"
    state = {"job": job, "state": "Running", "health": "Unknown", "submitter": submitter,
             "description": f"SECRET-{job}"}
    out = [[b"org.lavasoftware.testjob", f"j-{job}".encode(), stamp.encode(), submitter.encode(),
            json.dumps(state).encode()]]
    for i in range(n):
        out.append([b"org.lavasoftware.event", f"e-{job}-{i}".encode(), stamp.encode(),
                    b"lavaserver", json.dumps({"job": job, "message": f"SECRET-SHELL-{i}"}).encode()])
        out.append([b"org.lavasoftware.testjob", f"j-{job}-{i}".encode(), stamp.encode(),
                    submitter.encode(), json.dumps(state).encode()])
    return out


@pytest.fixture
def store(tmp_path):
    store = EventStore(str(tmp_path / "events.sqlite3"))
    for frames in job_rows(903, "priv-alice", 1) + job_rows(902, "priv-carol", 30) \
            + job_rows(901, "priv-alice", 30):
        store.enqueue(row_for(parse_frames(frames), frames, {}, time.time()))
    while store.queue:
        store.flush()
    yield store
    store.close()


def ids_of(store, job):
    return [r["id"] for r in store.events({"job": job}, limit=1000)]


def page(store, filters, before, limit, view=None):
    view = view or Viewing(ANONYMOUS, JOBS, Visibility())
    return paging.visible_page(store, view, filters, None, None, before, limit, run=now)


def test_a_query_by_submitter_answers_the_same_whoever_a_private_job_is(store):
    """Right after each private job's rows, `submitter=priv-alice&limit=1` answers with the same
    older row of her public job: it used to end empty after alice's own private job, which told
    that the job was hers (the rows read were hidden rows of hers)."""
    answers = {}
    for job in (902, 901):
        shown, cursor = page(store, {"submitter": "priv-alice"}, max(ids_of(store, job)) + 1, 1)
        answers[job] = ([(r["job"], r["submitter"]) for r in shown], cursor)
    assert answers[901] == answers[902]
    assert answers[901][0] == [(903, "priv-alice")]


def test_a_cursor_moves_by_a_fixed_span_of_ids_not_by_hidden_rows(store, monkeypatch):
    monkeypatch.setattr(paging, "MIN_SPAN", 10)
    monkeypatch.setattr(paging, "HIDDEN_PAGES", 1)
    oldest, newest = store.id_bounds()
    shown, cursor = page(store, {"job": 901, "kind": "event"}, None, 1)
    assert shown == [] and cursor == newest + 1 - 10  # past the span: not the last row read
    shown, cursor = page(store, {"job": 901, "kind": "event"}, cursor, 1)
    assert shown == [] and cursor == newest + 1 - 20
    # A page's own rows: the newest the viewer may see in its span, and the cursor their last.
    shown, cursor = page(store, {"kind": "testjob"}, None, 3)
    assert [r["job"] for r in shown] == [901, 901, 901] and all(r.get("hidden") for r in shown)
    assert cursor == shown[-1]["id"]
    # The oldest span says there is nothing older.
    assert page(store, {}, oldest + 5, 10)[1] is None


def test_a_viewer_who_sees_everything_pages_as_before(store):
    view = Viewing(EVERYONE, JOBS, Visibility())
    shown, cursor = page(store, {"submitter": "priv-alice"}, None, 5, view)
    assert len(shown) == 5 and cursor == shown[-1]["id"] and shown[0]["submitter"] == "priv-alice"


def export(store, filters, view, most, page=7, after=0):
    """(the plan, the rows) of an export of everything stored."""
    plan = paging.plan_export(store, filters, None, None, view, most, after, run=now)
    return plan, ([] if plan is None else
                  list(paging.export_rows(store, filters, None, None, view, plan, page, run=now)))


def test_an_export_for_a_restricted_viewer_reads_a_fixed_span_of_ids(store):
    view = Viewing(ANONYMOUS, JOBS, Visibility())
    plan, rows = export(store, {"submitter": "priv-alice"}, view, 1000)
    assert [r["job"] for r in rows] == [903, 903]  # her private job's rows are not there at all
    assert plan.rest is None  # the whole range
    oldest, newest = store.id_bounds()
    plan, rows = export(store, {}, view, 3, page=2)
    assert [r["id"] for r in rows] == [oldest, oldest + 1, oldest + 2]
    assert plan.rest == oldest + 2  # more in the range: the next part is after this id
    shown = json.dumps(export(store, {}, view, 1000)[1])
    assert "SECRET-903" in shown and "SECRET-901" not in shown and "SECRET-902" not in shown


def test_where_a_restricted_export_ends_does_not_depend_on_hidden_rows(store):
    """With a submitter filter, alice's private job's rows are left out whole, and the export
    still ends at the same id (so its `rest` says nothing of whose the job is)."""
    view = Viewing(ANONYMOUS, JOBS, Visibility())
    alice, carol = (export(store, {"submitter": who}, view, 40)[0] for who in ("priv-alice",
                                                                               "priv-carol"))
    assert alice == carol and alice.rest is not None


def test_an_export_in_parts_holds_every_row_once(store):
    """Following each part's `rest` gives every row of the range once, in order, for a viewer who
    sees everything (cut at the `most`-th matching row) and for one who does not (cut every
    `most` ids)."""
    for view, filters in ((Viewing(EVERYONE, JOBS, Visibility()), {"kind": "testjob"}),
                          (Viewing(ANONYMOUS, JOBS, Visibility()), {})):
        expected = [r["id"] for r in store.events(filters, limit=10_000, newest_first=False)
                    if view.row(r, False) is not None]
        got, after, parts = [], 0, 0
        while after is not None and parts < 100:
            plan, rows = export(store, filters, view, 10, page=4, after=after)
            got += [r["id"] for r in rows]
            after, parts = plan.rest, parts + 1
        assert got == expected and parts > 2, (view.viewer, parts)
        if view.sees_all:  # each part but the last holds exactly `most` rows
            assert len(got) - 10 * (parts - 1) in range(1, 11)


def test_an_export_of_nothing_plans_nothing(store):
    _, newest = store.id_bounds()
    view = Viewing(EVERYONE, JOBS, Visibility())
    assert paging.plan_export(store, {}, None, None, view, 10, newest, run=now) is None
    assert paging.plan_export(store, {}, time.time() + 3600, None, view, 10, run=now).rest is None


def timed_rows(t0):
    """A device event every 10 s from t0, but at +10 s and +60 s a message of private job 901."""
    out = []
    for i in range(12):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t0 + 10 * i)).encode()
        if i in (1, 6):
            out.append([b"org.lavasoftware.event", f"m-{i}".encode(), stamp, b"lavaserver",
                        json.dumps({"job": 901, "message": f"SECRET-SHELL-{i}"}).encode()])
        else:
            out.append([b"org.lavasoftware.device", f"d-{i}".encode(), stamp, b"lavaserver",
                        json.dumps({"device": "qemu-01", "device_type": "qemu", "state": "Idle",
                                    "health": "Good"}).encode()])
    return out


def test_a_restricted_export_is_planned_from_rows_every_viewer_is_shown(tmp_path, monkeypatch):
    """Moving `since` or `until` across a private job's message changes nothing of a restricted
    viewer's export: where it starts and ends, and whether it says it goes on. (Planned from all
    rows, it did, and told when the message was written.) Across a device's event, it may."""
    monkeypatch.setattr(paging, "MARGIN", 0)
    t0 = 1_796_284_800  # 2026-12-03T08:00:00Z
    store = EventStore(str(tmp_path / "events.sqlite3"))
    try:
        for frames in timed_rows(t0):
            store.enqueue(row_for(parse_frames(frames), frames, {}, time.time()))
        while store.queue:
            store.flush()
        view = Viewing(ANONYMOUS, JOBS, Visibility())

        def plan(since, until, most=3):
            return paging.plan_export(store, {}, t0 + since, t0 + until, view, most, run=now)
        # since across the message at +10 s; until across the one at +60 s.
        assert plan(5, 100) == plan(15, 100) and plan(5, 55) == plan(5, 65)
        assert plan(5, 55, most=100) == plan(5, 65, most=100)
        assert plan(5, 100) != plan(25, 100)  # across a device's event: it starts later
        # And every row the viewer may see of the range is in its parts, once.
        got, after = [], 0
        for _ in range(20):
            part = paging.plan_export(store, {}, t0 + 5, t0 + 100, view, 3, after, run=now)
            if part is None:
                break
            got += [r["uuid"] for r in paging.export_rows(store, {}, t0 + 5, t0 + 100, view, part,
                                                           2, run=now)]
            if part.rest is None:
                break
            after = part.rest
        assert got == [f"d-{i}" for i in range(1, 10) if i not in (1, 6)]  # until is not in it
    finally:
        store.close()


def test_a_hidden_correction_does_not_move_a_restricted_export(tmp_path, monkeypatch):
    """A correction of private job 901's description alone (shown to no one who may not see the
    job) at +30 s: moving `since` across it changes nothing of a restricted viewer's export. (It
    was an anchor, "an event every viewer is shown", and the export's start moved with it.)"""
    import datetime as dt

    from dashboard.core.events import Event
    from dashboard.core.state import correction_data, correction_topic

    monkeypatch.setattr(paging, "MARGIN", 0)
    t0 = 1_796_284_800  # 2026-12-03T08:00:00Z
    store = EventStore(str(tmp_path / "events.sqlite3"))
    try:
        for i, frames in enumerate(timed_rows(t0)):
            if i == 3:
                when = dt.datetime.fromtimestamp(t0 + 30, dt.timezone.utc)
                data = correction_data({"kind": "job", "id": 901,
                                        "fields": {"description": ["a", "b"]}}, {"id": 901})
                event = Event(kind="correction", topic=correction_topic("job"), uuid="c-3",
                              time=when, username="", data=data)
                frames = [event.topic, event.uuid, when.isoformat(), "", json.dumps(data)]
                store.enqueue(row_for(event, frames, {}, time.time()))
                continue
            store.enqueue(row_for(parse_frames(frames), frames, {}, time.time()))
        while store.queue:
            store.flush()
        view = Viewing(ANONYMOUS, JOBS, Visibility())
        assert view.row(store.events({"kind": "correction"}, limit=1)[0]) is None

        def plan(since, until, most=3):
            return paging.plan_export(store, {}, t0 + since, t0 + until, view, most, run=now)
        assert plan(25, 100) == plan(35, 100) and plan(25, 25 + 5) == plan(25, 35)
        assert plan(15, 100) != plan(25, 100)  # across a device's event at +20 s: it may move
    finally:
        store.close()
