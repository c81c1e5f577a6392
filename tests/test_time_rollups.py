"""The time roll-ups behind the reliability reports, on both backends: kept as transitions are
stored, they give the figures a scan of the same transitions gives, for any period and grouping,
with corrections, boards moving between workers, a bad row in a batch and transitions out of
order; they are rebuilt the same from the events; retention takes what it must."""
import datetime as dt
import random

import pytest

from dashboard.core import rollups
from dashboard.core.events import Event, parse_frames
from dashboard.core.reports import FIELDS
from dashboard.core.state import CORRECTION_KIND, correction_data, correction_topic
from dashboard.storage.store import row_for
from dashboard.web.reports import period, report, scan_report
from tests.test_pgstore import message, pg, reopen, store  # noqa: F401 (fixtures)

H = 3600
T0 = 1_790_000_000 // 86400 * 86400  # a UTC midnight, in the past
NOW = T0 + 6 * 86400
STATES = ("Idle", "Running", "Reserved")
HEALTHS = ("Good", "Good", "Good", "Unknown", "Bad", "Maintenance", "Retired", "Looping")


def iso(ts):
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()


def device_row(i, ts, host, device_type, worker, state, health):
    frames = message("device", iso(ts), f"d{i}", device=host, device_type=device_type,
                     worker=worker, state=state, health=health)
    return row_for(parse_frames(frames), frames, {}, 0.0)


def job_row(i, ts, job, host, device_type, worker, health, check, wait):
    frames = message("testjob", iso(ts), f"j{i}", job=job, state="Finished", health=health,
                     device=host, device_type=device_type, worker=worker, health_check=check,
                     submit_time=iso(ts - wait - 60), start_time=iso(ts - 60), end_time=iso(ts),
                     submitter="alice", description="private words")
    return row_for(parse_frames(frames), frames, {}, 0.0)


def correction_row(i, ts, kind, ident, record):
    data = correction_data({"kind": kind, "id": ident, "fields": {"health": ["Good", "Bad"]}},
                           record)
    topic = correction_topic(kind)
    event = Event(kind=CORRECTION_KIND, topic=topic, uuid=f"c{i}", time=dt.datetime.fromtimestamp(
        ts, dt.timezone.utc), username="", data=data)
    return row_for(event, [topic, f"c{i}", iso(ts), "", "{}"], {}, 0.0)


def history(n=1500, seed=7):
    """Rows over five days: six boards changing state and health (one moving between workers and
    types), jobs finishing on them, and a correction of each kind now and then."""
    rng = random.Random(seed)
    where = {f"b{d}": (("qemu", "bbb")[d % 2], f"w{d % 3}") for d in range(6)}
    rows, job = [], 0
    for i in range(n):
        ts = T0 + 5 * 86400 * i / n + rng.uniform(0, 5)
        host = f"b{rng.randrange(6)}"
        device_type, worker = where[host]
        r = rng.random()
        if r < 0.5:
            if host == "b5" and rng.random() < 0.1:  # it moves
                where[host] = (rng.choice(("qemu", "bbb", "x86")), f"w{rng.randrange(3)}")
                device_type, worker = where[host]
            rows.append(device_row(i, ts, host, device_type, worker, rng.choice(STATES),
                                   rng.choice(HEALTHS)))
        elif r < 0.9:
            job += 1
            rows.append(job_row(i, ts, job, host, device_type, worker, rng.choice(
                ("Complete", "Complete", "Incomplete", "Canceled")), rng.random() < 0.3,
                rng.uniform(0, 7200)))
        elif r < 0.95:
            rows.append(correction_row(i, ts, "device", host, {
                "hostname": host, "device_type": device_type, "worker": worker,
                "state": rng.choice(STATES), "health": rng.choice(HEALTHS)}))
        else:  # a job whose events were lost: LAVA's record is its only Finished
            job += 1
            rows.append(correction_row(i, ts, "job", job, {
                "id": job, "state": "Finished", "health": "Incomplete",
                "device": host, "device_type": device_type, "worker": worker,
                "health_check": True, "submit_time": iso(ts - 100), "start_time": iso(ts - 40)}))
    return rows


def fill(store, rows, batch=97):
    for row in rows:
        store.enqueue(row)
    while store.queue:
        store.flush(max_rows=batch)


WAITS = ("queue_wait_p50_s", "queue_wait_p95_s")


def same(got, want, skip=(), group=None):
    """The figures agree (up to float rounding in the order of the sums). Against a scan
    (`group` given), queue waits are a device type's only, and within the histogram's 0.5 %."""
    assert set(got) == set(want)
    for name in want:
        for field in FIELDS:
            if field in skip:
                continue
            a, b = got[name][field], want[name][field]
            if group is not None and field in WAITS:
                if group != "device_type":
                    assert a is None, (name, field, a)
                else:
                    assert (a is None) == (b is None) and (b is None or a == pytest.approx(
                        b, rel=0.006)), (name, field, a, b)
                continue
            if b is None:
                assert a is None, (name, field, a)
            else:
                assert a == pytest.approx(b, rel=1e-3, abs=2e-4), (name, field, a, b)


PERIODS = [(T0, NOW), (T0 + 86400, T0 + 3 * 86400), (T0 + 5 * H + 17, T0 + 2 * 86400 + 7 * H - 3),
           (T0 + 30 * H, T0 + 33 * H), (T0 - 86400, T0 + 86400 + 12 * H)]


def test_reports_from_rollups_agree_with_a_scan_of_the_transitions(store):
    fill(store, history())
    assert store.time_rollups_complete()
    for since, until in PERIODS:
        lo, hi = period(since, until, now=NOW)
        for group in ("device", "device_type", "worker"):
            got = report(store, since, until, group, now=NOW)
            # MTTR: the scan counts only the repairs of failures inside the period (see core.reports)
            same(got, scan_report(store, lo, hi, group), skip=("mttr_hours",), group=group)
            for figures in got.values():
                assert len(figures["days"]) == len(range(int(lo // 86400 * 86400), int(hi), 86400))
                assert all(v is None or 0 <= v <= 1 for _, v in figures["days"])
    whole = report(store, T0, NOW, "device_type", now=NOW)
    assert {"qemu", "bbb"} <= set(whole) and whole["qemu"]["failures"] > 0
    assert whole["qemu"]["jobs_run"] > 0 and whole["qemu"]["queue_wait_p95_s"] > 0


def test_mttr_counts_a_repair_whose_failure_began_before_the_period(store):
    fill(store, [device_row(1, T0, "a", "qemu", "w", "Idle", "Good"),
                 device_row(2, T0 + 2 * H, "a", "qemu", "w", "Idle", "Bad"),
                 device_row(3, T0 + 5 * H, "a", "qemu", "w", "Idle", "Good")])
    got = report(store, T0 + 4 * H, T0 + 6 * H, "device", now=NOW)["a"]
    assert got["mttr_hours"] == 3 and got["failures"] == 0 and got["known_hours"] == 2
    assert got["availability"] == 0.5  # Bad 4–5 h, Good 5–6 h


def test_a_bad_row_and_rows_out_of_order_lose_nothing_else(store):
    rows = history(300, seed=11)
    bad = list(rows[40])
    bad[3] = object()  # `received`: no driver can bind it, so the row is refused
    late = device_row(9999, T0 + 60, "b1", "qemu", "w1", "Idle", "Bad")  # older than b1's last
    fill(store, rows[:40] + [tuple(bad)] + rows[41:])
    b1 = store.open_spans()["b1"]
    fill(store, [late])
    assert store.dropped == 1 and store._tracker.out_of_order == 1
    assert store.stats()["rollup_out_of_order"] == 1
    assert store.open_spans()["b1"] == b1  # the late row changes nothing of the board's time
    # Only the late row is in the scan and not in the roll-ups: the other boards agree exactly.
    lo, hi = period(T0, NOW, now=NOW)
    scan = scan_report(store, lo, hi, "device")
    same({k: v for k, v in report(store, T0, NOW, "device", now=NOW).items() if k != "b1"},
         {k: v for k, v in scan.items() if k != "b1"}, skip=("mttr_hours",), group="device")


def test_rebuilt_from_the_events_they_say_the_same(store, reopen):
    fill(store, history(800, seed=5))
    before = {g: report(store, T0, NOW, g, now=NOW) for g in ("device", "worker")}
    with store._transaction() as conn:
        for table in ("rollup_time", "device_span", "finished_jobs", "rollup_time_state"):
            conn.execute(f"DELETE FROM {table}")
    again = reopen()
    assert not again.time_rollups_complete() and again.open_spans() == {}
    assert again.ensure_rollups() and again.time_rollups_complete()
    for group, want in before.items():
        got = report(again, T0, NOW, group, now=NOW)
        same(got, want)
        for name, figures in want.items():
            assert [d for d, _ in got[name]["days"]] == [d for d, _ in figures["days"]]
            assert [v for _, v in got[name]["days"]] == pytest.approx(
                [v for _, v in figures["days"]], abs=2e-4)
    # and it goes on counting from where the rebuilt spans end
    fill(again, [device_row(1, NOW - 10, "b0", "qemu", "w0", "Idle", "Retired")])
    assert again.open_spans()["b0"][2] == "Retired"


def test_retention_takes_the_rollups_of_what_it_removed(store):
    fill(store, history(600, seed=9))
    store.prune(max_age_s=None, max_rows=200)
    oldest = store._rows("SELECT MIN(ts) AS t FROM events")[0]["t"]
    assert store._rows("SELECT COUNT(*) AS n FROM rollup_time WHERE period + width <= ?",
                       (oldest,))[0]["n"] == 0
    assert store._rows("SELECT COUNT(*) AS n FROM rollup_time")[0]["n"] > 0
    assert all(span[0] >= oldest for span in store.open_spans().values())
    assert all(span[0] >= oldest for span in store._tracker.last.values())
    assert store._rows("SELECT MIN(ts) AS t FROM finished_jobs")[0]["t"] >= oldest
    store.prune(max_age_s=1, max_rows=None)  # everything
    assert store.open_spans() == {} and store._tracker.last == {}
    assert report(store, T0, NOW, "device", now=NOW) == {}


def test_a_report_covers_whole_hours_up_to_now():
    assert period(T0 + 17, T0 + H + 1, now=NOW) == (T0, T0 + 2 * H)
    assert period(T0 + 17, NOW + 5000, now=NOW + 10) == (T0, NOW + 10)
    assert period(T0, T0 + 60, now=T0 + 30) == (T0, T0 + 30)


def test_open_spans_are_clipped_and_split_by_day():
    last = {"a": (T0 - 100, "Idle", "Good", "qemu", "w", None),
            "b": (T0 + 86400 + 10, "Running", "Good", "bbb", None, None)}
    days = rollups.open_spans(last, T0, T0 + 86400 + 20, "worker")
    assert days == {("w", T0): {"idle_s": 86400}, ("w", T0 + 86400): {"idle_s": 20},
                    ("", T0 + 86400): {"running_s": 10}}


def test_the_utilisation_and_outcome_charts_read_the_rollups_and_say_what_a_scan_says(store):
    from dashboard.core import statistics
    from dashboard.web.reports import utilisation

    fill(store, history(1200, seed=13))
    for since, until in PERIODS[:4]:
        lo, hi = period(since, until, now=NOW)
        for filters in ({}, {"device_type": "qemu"}, {"worker": "w1"}, {"device": "b2"}):
            scan = statistics.utilisation(store.state_before("device", "device", lo, filters),
                                          store.rows("device", lo, hi, filters), lo, hi)
            got, frm, to = utilisation(store, since, until, filters, now=NOW)
            assert (frm, to) == (lo, hi)
            if "device_type" in filters or "worker" in filters:
                # b5 moves between types and workers: the scan counts its time after a move under
                # its last matching row's type, the roll-ups under the span's (docs/api.md).
                assert set(got) <= set(scan) | {"x86"}
                if "device_type" in filters:
                    assert set(got) == {filters["device_type"]} and got["qemu"]["seconds"] > 0
                continue
            assert set(got) == set(scan), filters
            for device_type in scan:
                for key in ("seconds", *statistics.CATEGORIES):
                    assert got[device_type][key] == pytest.approx(scan[device_type][key], abs=2e-3), \
                        (filters, device_type, key)
        for filters in ({}, {"device_type": "bbb"}, {"device": "b3"}):
            # The outcome chart counts whole UTC days, its first and its last (today) too.
            day, last = lo // 86400 * 86400, -(-hi // 86400) * 86400
            assert store.outcome_days(lo, hi, filters) == statistics.outcomes_per_day(
                store.outcomes(day, last, filters)), filters


def test_the_queue_chart_reads_its_rollup_and_says_what_a_scan_says(store, reopen):
    from dashboard.core import statistics

    rng = random.Random(21)
    rows, queued = [], {}
    for i in range(900):
        ts = T0 + 2 * 86400 * i / 900
        if queued and rng.random() < 0.45:
            job = rng.choice(sorted(queued))
            state = rng.choice(("Running", "Canceling", "Finished"))
            device_type = queued.pop(job)
        else:
            job, state = 1000 + i, "Submitted"
            device_type = queued[job] = rng.choice(("qemu", "bbb"))
        frames = message("testjob", iso(ts), f"q{i}", job=job, state=state, health="Unknown",
                         device_type=device_type)
        rows.append(row_for(parse_frames(frames), frames, {}, 0.0))
    fill(store, rows, batch=37)

    def scan(device_type, start, end, step):
        filters = {"device_type": device_type} if device_type else {}
        return statistics.queue_length(
            store.state_before("testjob", "job", start, filters, lookback=7 * 86400),
            store.rows("testjob", start, end, filters, columns=("ts", "job", "state")),
            start, end, step)

    for device_type in (None, "qemu", "bbb"):
        for start, end, step in ((T0 + 86400, T0 + 2 * 86400, 900), (T0, T0 + 2 * 86400, 3600),
                                 (T0 + 6 * 900, T0 + 30 * 900, 900)):
            got = store.queue_points(device_type, start, end, step)
            assert got == scan(device_type, start, end, step), (device_type, start, step)
            assert max(n for _, n in got) > 0
    before = store.queue_points(None, T0, T0 + 2 * 86400, 900)
    with store._transaction() as conn:
        conn.execute("DELETE FROM rollup_time_state")
    again = reopen()
    assert again.ensure_rollups()
    assert again.queue_points(None, T0, T0 + 2 * 86400, 900) == before
    assert again._tracker.counts["*"] == len(queued) == len(again._queued())
    # Retention forgets the jobs queued since before the oldest event left, and says so in a step.
    again.prune(max_age_s=None, max_rows=200)
    oldest = again._rows("SELECT MIN(ts) AS t FROM events")[0]["t"]
    assert all(since >= oldest for _, since in again._tracker.queued.values())
    assert again._tracker.counts["*"] == len(again._queued()) < len(queued)  # some were forgotten
    newest = again._rows("SELECT last FROM rollup_queue WHERE device_type = '*' ORDER BY step DESC LIMIT 1")
    assert newest[0]["last"] == again._tracker.counts["*"]


def test_time_tables_of_an_older_build_are_made_anew_and_rebuilt(store, reopen):
    fill(store, history(300, seed=17))
    want = report(store, T0, NOW, "device_type", now=NOW)
    with store._transaction() as conn:  # as this morning's build left them: no job counts
        conn.execute("DROP TABLE rollup_time")
        conn.execute("CREATE TABLE rollup_time (width INTEGER, period BIGINT, device TEXT, "
                     "device_type TEXT, worker TEXT, running_s DOUBLE PRECISION)")
    again = reopen()
    assert not again.time_rollups_complete() and again.ensure_rollups()
    same(report(again, T0, NOW, "device_type", now=NOW), want)
