"""The roll-ups' Python as the writer process runs it for every stored event (docs/performance.md,
"The roll-ups' Python"): a span within one period is counted without `pieces`, yet as `pieces` counts
it; a Finished job's data is read by orjson alone when it can be, and by `json` when orjson refuses
it; the hourly counts give one entry a key. Pure, but for one real SQLite store."""
import json
import math
import random

import pytest

from dashboard.core import rollups
from dashboard.core.events import parse_frames
from dashboard.storage.store import ROLLUP_UPSERT, TOTAL, EventStore, row_for
from tests.helpers import message

pytestmark = pytest.mark.unit

H, D = rollups.HOUR, rollups.DAY
T0 = 1_790_000_000 // D * D  # a UTC midnight


def reference(rows):
    """What Tracker.plan's sums of seconds must be: every closed span cut by `pieces` alone."""
    sums, last = {}, {}
    for row in rows:
        prev = last.get(row["device"])
        if prev is not None:
            category = rollups.SECONDS[rollups.device_category(prev["state"], prev["health"])]
            for width in (H, D):
                for period, seconds in rollups.pieces(prev["ts"], row["ts"], width):
                    key = (width, period, row["device"], prev["device_type"], prev["worker"])
                    bucket = sums.setdefault(key, {})
                    bucket[category] = bucket.get(category, 0.0) + seconds
        last[row["device"]] = row
    return sums


def spans(seed):
    """Rows of two boards whose spans are long and short, end on an hour's or a day's edge, cross
    them, and last no time at all."""
    rng = random.Random(seed)
    rows, ts = [], float(T0)
    for i in range(400):
        # the last: to the next midnight
        step = rng.choice((0.0, 0.25, 59.5, H, H - 0.5, D, 3 * H + 0.75, D - ts % D))
        ts = max(ts, ts + step)
        rows.append({"ts": ts, "device": f"b{i % 2}", "device_type": "qemu", "worker": "w1",
                     "state": rng.choice(("Idle", "Running")), "health": "Good"})
    return rows


@pytest.mark.parametrize("seed", range(5))
def test_spans_within_one_period_count_as_pieces_counts_them(seed):
    rows = spans(seed)
    sums, _, late = rollups.Tracker().plan(rows)
    assert late == 0
    want = reference(rows)
    assert sums.keys() == want.keys()  # no bucket for a span of no time, as pieces gives none
    for key, bucket in want.items():
        assert sums[key] == bucket, key  # the same float operations: the same sums, exactly


def test_a_span_that_ends_on_the_hour_is_one_piece_and_one_that_lasts_nothing_is_none():
    rows = [{"ts": T0 + 600.0, "device": "b", "device_type": "qemu", "worker": "w",
             "state": "Running", "health": "Good"},
            {"ts": T0 + H, "device": "b", "device_type": "qemu", "worker": "w",
             "state": "Idle", "health": "Good"},
            {"ts": T0 + H, "device": "b", "device_type": "qemu", "worker": "w",
             "state": "Running", "health": "Good"}]
    sums, updates, _ = rollups.Tracker().plan(rows)
    assert sums == {(H, T0, "b", "qemu", "w"): {"running_s": 3000.0},
                    (D, T0, "b", "qemu", "w"): {"running_s": 3000.0}}
    assert updates["b"][:3] == (T0 + H, "Running", "Good")


def job(data):
    return {"ts": 100.0, "job": 7, "device": "b", "device_type": "qemu", "worker": "w",
            "state": "Finished", "health": "Complete", "data": data}


@pytest.mark.parametrize("data, wait, check", [
    # what orjson reads
    ({"submit_time": "2026-12-01T10:00:00+00:00", "start_time": "2026-12-01T10:00:30+00:00",
      "health_check": True}, 30.0, True),
    # NaN: orjson refuses it, json reads it
    ({"submit_time": "2026-12-01T10:00:00", "start_time": "2026-12-01T10:01:00",
      "health_check": False, "x": math.nan}, 60.0, False),
    # an integer beyond 64 bits, in a field finished_job does not read
    ({"submit_time": "2026-12-01T10:00:00", "start_time": "2026-12-01T10:00:05",
      "health_check": True, "big": 2 ** 70}, 5.0, True),
    # a correction: what LAVA said is under `record`
    ({"record": {"submit_time": "2026-12-01T10:00:00", "start_time": "2026-12-01T10:00:02",
                 "health_check": True}}, 2.0, True),
])
def test_a_finished_jobs_data_is_read_whatever_library_reads_it(data, wait, check):
    record = rollups.finished_job(job(json.dumps(data)))
    assert record["wait_s"] == pytest.approx(wait)
    assert record["health_check"] is check
    assert record["job"] == 7 and record["health"] == "Complete"


@pytest.mark.parametrize("text", ['{"submit_time": "2026-12-01T10:00:00", ', "[1, 2]", "null",
                                  '"\\ud800"',
                                  # deeper than either library reads (json: RecursionError)
                                  pytest.param('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}",
                                               id="deep")])
def test_data_that_is_no_object_gives_a_record_without_a_wait(text):
    record = rollups.finished_job(job(text))
    assert record["wait_s"] is None and record["health_check"] is False


def device_row(i, host, device_type, worker):
    frames = message("device", "2026-12-01T10:00:00.000001", f"u{i}", device=host,
                     device_type=device_type, worker=worker, state="Idle", health="Good")
    return row_for(parse_frames(frames), frames, {}, 0.0)


def test_the_hourly_counts_give_one_entry_a_key_even_where_a_board_is_named_like_the_totals(
        tmp_path):
    # PostgreSQL refuses to update one row twice in one statement: a board "*" of type "*" on
    # worker "*" must be counted with the totals, not beside them.
    store = EventStore(str(tmp_path / "events.sqlite3"))
    written = []
    write_many = store._write_many

    def spy(conn, sql, rows):
        if sql == ROLLUP_UPSERT:
            written.extend(rows)
        return write_many(conn, sql, rows)

    store._write_many = spy
    rows = [device_row(0, TOTAL, TOTAL, TOTAL), device_row(1, "b1", "qemu", "w1"),
            device_row(2, "b1", "qemu", "w1")]
    assert store._insert(rows) == 3
    keys = [row[:5] for row in written]
    assert len(keys) == len(set(keys))
    hour = int(rows[0][2] // H * H)
    assert {row[:5]: row[5] for row in written} == {
        (hour, "device", TOTAL, TOTAL, TOTAL): 4,  # the board "*" once, and the three in all
        (hour, "device", "b1", "qemu", "w1"): 2}


def test_a_span_longer_than_max_span_counts_its_last_max_span_only():
    """Found by an audit: a board's span from 1970 (or to year 9999) made plan count every hour
    of it, millions of buckets and gigabytes, without end. Now its last MAX_SPAN is counted."""
    rows = [{"ts": 0.0, "device": "b", "device_type": "qemu", "worker": "w", "state": "Idle",
             "health": "Good"},
            {"ts": float(T0), "device": "b", "device_type": "qemu", "worker": "w",
             "state": "Running", "health": "Good"}]
    sums, updates, late = rollups.Tracker().plan(rows)
    hours = [k for k in sums if k[0] == H]
    assert len(hours) == rollups.MAX_SPAN // H and late == 0
    assert min(k[1] for k in hours) == T0 - rollups.MAX_SPAN
    assert sum(b["idle_s"] for k, b in sums.items() if k[0] == D) == rollups.MAX_SPAN
    assert updates["b"][:2] == (float(T0), "Running")
