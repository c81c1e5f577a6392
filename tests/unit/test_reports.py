"""Reliability reports on a small fixed history, in a real SQLite store, against figures worked out
by hand; and the same period's charts (core.statistics over the same rows) agree."""
import datetime as dt
import itertools
import json

import pytest

from dashboard.core import statistics
from dashboard.core.events import parse_frames
from dashboard.core.reports import percentile
from dashboard.storage.store import EventStore, row_for
from dashboard.web.reports import report

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc).timestamp()
H = 3600.0
_ids = itertools.count()


def at(hours):
    return dt.datetime.fromtimestamp(T0 + hours * H, dt.timezone.utc).isoformat()


def msg(kind, hours, **data):
    return [f"org.lavasoftware.{kind}".encode(), f"r-{next(_ids)}".encode(), at(hours).encode(),
            b"lavaserver", json.dumps(data).encode()]


def dev(host, hours, state, health, worker):
    return msg("device", hours, device=host, device_type="qemu", state=state, health=health,
               worker=worker)


def job(i, host, worker, submit, start, end, health, check):
    return msg("testjob", end, job=i, state="Finished", health=health, device=host,
               device_type="qemu", worker=worker, health_check=check, submit_time=at(submit),
               start_time=at(start), end_time=at(end), description="x", submitter="alice")


HISTORY = [
    dev("a", -1, "Idle", "Good", "w1"),       # before the period: its state at the start
    dev("a", 1, "Running", "Good", "w1"),
    job(1, "a", "w1", 0.5, 1, 3, "Incomplete", True),
    dev("a", 3, "Idle", "Bad", "w1"),         # failure 1 of a
    dev("a", 4, "Idle", "Good", "w1"),        # repaired after 1 h
    job(2, "a", "w1", 4, 4.5, 5, "Complete", True),
    dev("b", 5, "Idle", "Good", "w2"),        # b first known at 5 h
    dev("a", 6, "Idle", "Maintenance", "w1"),
    dev("a", 7, "Idle", "Good", "w1"),
    job(3, "b", "w2", 5, 7, 7.5, "Complete", False),
    dev("b", 8, "Idle", "Bad", "w2"),         # failure of b, not repaired in the period
    dev("a", 11, "Idle", "Bad", "w1"),        # after the period: not counted
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = EventStore(str(tmp_path_factory.mktemp("reports") / "events.sqlite3"))
    for frames in HISTORY:
        store.enqueue(row_for(parse_frames(frames), frames, {}, 0.0))
    while store.queue:
        store.flush()
    return store


def test_per_device_figures_worked_out_by_hand(store):
    r = report(store, T0, T0 + 10 * H, "device")
    # a: 10 h known; available 1 + 2 + 2 + 3 = 8 h; Running 2 h; one failure, repaired in 1 h.
    assert r["a"]["known_hours"] == 10
    assert r["a"]["availability"] == 0.8 and r["a"]["utilisation"] == 0.2
    assert r["a"]["failures"] == 1 and r["a"]["mtbf_hours"] == 8 and r["a"]["mttr_hours"] == 1
    assert r["a"]["health_checks"] == 2 and r["a"]["health_check_pass_rate"] == 0.5
    assert r["a"]["jobs_run"] == 2 and r["a"]["jobs_completed"] == 1
    assert r["a"]["queue_wait_p50_s"] is None  # a device type's figure (jobs wait for a type)
    # b: known from 5 h: 5 h; available 3 h; one failure not repaired: no MTTR.
    assert r["b"]["known_hours"] == 5 and r["b"]["availability"] == 0.6
    assert r["b"]["failures"] == 1 and r["b"]["mtbf_hours"] == 3 and r["b"]["mttr_hours"] is None
    assert r["b"]["health_checks"] == 0 and r["b"]["health_check_pass_rate"] is None
    assert r["b"]["queue_wait_p95_s"] is None


def test_per_type_and_worker(store):
    qemu = report(store, T0, T0 + 10 * H, "device_type")["qemu"]
    assert qemu["known_hours"] == 15 and qemu["availability"] == round(11 / 15, 4)
    assert qemu["utilisation"] == round(2 / 15, 4)
    assert qemu["failures"] == 2 and qemu["mtbf_hours"] == 5.5 and qemu["mttr_hours"] == 1
    assert qemu["jobs_run"] == 3 and qemu["jobs_completed"] == 2
    # 1800 and 1800 + 0.9 × 5400, within the histogram's half bucket (0.5 %)
    assert qemu["queue_wait_p50_s"] == pytest.approx(1800, rel=0.005)
    assert qemu["queue_wait_p95_s"] == pytest.approx(6660, rel=0.005)
    workers = report(store, T0, T0 + 10 * H, "worker")
    assert set(workers) == {"w1", "w2"} and workers["w1"]["availability"] == 0.8


def test_the_report_agrees_with_the_charts_for_the_same_period(store):
    start, end = T0, T0 + 10 * H
    chart = statistics.utilisation(store.state_before("device", "device", start),
                                   store.rows("device", start, end), start, end)["qemu"]
    qemu = report(store, start, end, "device_type")["qemu"]
    assert qemu["availability"] == pytest.approx(chart["Running"] + chart["Idle"], abs=1e-4)
    assert qemu["utilisation"] == pytest.approx(chart["Running"], abs=1e-4)
    assert qemu["known_hours"] == pytest.approx(chart["seconds"] / H)
    outcomes = statistics.outcomes_per_day(store.outcomes(start, end))
    assert sum(day.get("Complete", 0) for day in outcomes.values()) == qemu["jobs_completed"]


def test_percentile():
    from dashboard.core.rollups import histogram_percentiles, wait_bucket

    for values in ([5], [1800, 1800, 7200], [0, 3, 60, 61, 3600, 86400, 40], list(range(0, 7200, 7))):
        counts = {}
        for v in values:
            counts[wait_bucket(v)] = counts.get(wait_bucket(v), 0) + 1
        got = histogram_percentiles(counts)
        for f in (0.5, 0.95):
            assert got[f] == pytest.approx(percentile(values, f * 100), rel=0.006, abs=0.01), (values, f)
    assert histogram_percentiles({}) == {}
    assert percentile([], 50) is None
    assert percentile([5], 95) == 5
    assert percentile([1, 2, 3, 4], 50) == 2.5


def test_a_period_wholly_ahead_is_refused_and_one_before_any_event_starts_at_the_earliest():
    """A new-user audit: `?since=9999-12-30T00:00:00Z&until=9999-12-31T23:00:00Z` was answered 200
    with a period in year 9999 (the docs say never past now), and `?until=0001-01-01T00:00:00Z` with
    one starting before year 1."""
    from dashboard.core.events import EARLIEST
    from dashboard.web.params import BadParameter
    from dashboard.web.reports import _period, period

    now = T0 + 100 * H
    with pytest.raises(BadParameter, match="since: must be before now"):
        _period({"since": "9999-12-30T00:00:00Z", "until": "9999-12-31T23:00:00Z"}, now=now)
    with pytest.raises(BadParameter, match="since: must be before now"):
        _period({"since": at(101), "until": at(102)}, now=now)
    since, until = _period({"since": at(99), "until": at(200)}, now=now)  # (until past now: cut)
    assert period(since, until, now=now) == (T0 + 99 * H, now)
    since, until = _period({"until": "0001-01-01T00:00:00Z"}, now=now)
    lo, hi = period(since, until, now=now)
    assert lo == hi == EARLIEST.timestamp()  # an empty period, at the earliest a roll-up can be
