"""Time roll-ups: where each board's time went, hour by hour, kept as events are stored. Pure.

A board's time between two of its stored transitions is a *span* in one state and health. When the
next transition closes a span, its seconds are added to the hours (and the UTC days) it covers, per
category (core.statistics.device_category), under the board's type and worker of that span. A
transition into Bad is a failure in its hour; a transition out of Bad is a repair in its hour, with
its duration from the failure (which may lie before any period a report asks about). The span still
open (each board's last transition) is kept apart, so that a report up to now adds it up to now.

Finished jobs are kept one row each (the first Finished of a job), and counted in the time roll-ups
of their hour and day (run, completed, health check, passed); their queue waits (start − submit)
go to a histogram per device type, hour and day, whose percentiles the reports give. The queue: per device type and in
all, the most jobs waiting (Submitted) in each 15 minutes, and how many at the step's last change,
so that the queue chart reads a row per step instead of every job's transitions.

Nothing here does I/O: the store feeds rows in and writes what comes out, in the transaction that
stores the rows; `Tracker.plan` changes nothing until `commit`, so a failed transaction loses no
state.
"""
import collections
import math

import orjson

from dashboard.core import jsontext
from dashboard.core.events import parse_time
from dashboard.core.statistics import device_category

HOUR = 3600
DAY = 86400
QUEUE_STEP = 900  # the queue's roll-up: the most jobs queued in each 15 minutes, per device type
ALL = "*"  # ...and in all (no LAVA device type is named "*")
# The sums kept per (period, device, device type, worker): seconds per category, then counts.
SECONDS = {"Running": "running_s", "Idle": "idle_s", "Maintenance": "maintenance_s",
           "Bad": "bad_s", "Retired": "retired_s"}
JOB_COUNTS = ("jobs_run", "jobs_completed", "checks", "passed")
SUMS = (*SECONDS.values(), "failures", "repairs", "repair_s", *JOB_COUNTS)
COUNTS = frozenset(("failures", "repairs", *JOB_COUNTS))  # integers; the rest are seconds
# Queue waits are kept as a histogram per device type: bucket b holds waits w with
# floor(log1p(w) / log(WAIT_RATIO)) == b, so a percentile read from it is within half a bucket
# (0.5 %) of the exact one.
WAIT_RATIO = 1.01
# The most of a span the roll-ups count: its last 400 days (9,600 hours and 400 days of buckets),
# longer than any retention but a deliberate one. The parser refuses events from before 2010 or
# a day ahead; before it did, one event of year 9999 made the writer count millions of hours,
# without end (found by an audit).
MAX_SPAN = 400 * DAY


def pieces(start, end, width):
    """[(period start, seconds)] of [start, end) cut at multiples of width."""
    out = []
    t = start
    while t < end:
        period = t // width * width
        nxt = min(end, period + width)
        out.append((int(period), nxt - t))
        t = nxt
    return out


class Tracker:
    """Each board's open span: device → (ts, state, health, device_type, worker, bad_since,
    health_since: when it entered that health); and
    the queue: job → (device type or "", since) of the jobs whose last state is Submitted."""

    def __init__(self, last=None, queued=None):
        self.last = dict(last or {})
        self.out_of_order = 0  # transitions older than their board's last one (counted as at it)
        self.queued = dict(queued or {})
        self.counts = collections.Counter()  # queued jobs per device type, and in all (ALL)
        for device_type, _ in self.queued.values():
            self.counts[device_type] += 1
            self.counts[ALL] += 1

    def plan(self, rows):
        """(contributions, updates, late) of device rows (dicts with ts, device, device_type,
        worker, state, health), oldest first. Contributions: {(width, period, device, type,
        worker): {sum: amount}} for width HOUR and DAY; updates: the boards' new open spans; late:
        how many rows were older than their board's last transition (left out). Nothing changes
        until commit."""
        sums = {}
        updates = {}
        late = 0
        last = self.last

        def add(ts_from, ts_to, span, device):
            if ts_to <= ts_from:  # no time: no bucket (as pieces gives none)
                return
            ts_from = max(ts_from, ts_to - MAX_SPAN)  # (its hours before are pruned long since)
            category = SECONDS[device_category(span[1], span[2])]
            device_type, worker = span[3] or "", span[4] or ""
            for width in (HOUR, DAY):
                period = ts_from // width * width
                # Within one period, as most spans of a busy board are: pieces' one piece, written
                # out (the writer process runs this for every stored device event).
                parts = (((int(period), ts_to - ts_from),) if ts_to <= period + width
                         else pieces(ts_from, ts_to, width))
                for period, seconds in parts:
                    key = (width, period, device, device_type, worker)
                    bucket = sums.get(key)
                    if bucket is None:
                        sums[key] = {category: 0.0 + seconds}
                    else:
                        bucket[category] = bucket.get(category, 0.0) + seconds

        def count(ts, span, device, name, amount):
            for width in (HOUR, DAY):
                key = (width, int(ts // width * width), device, span[3] or "", span[4] or "")
                bucket = sums.setdefault(key, {})
                bucket[name] = bucket.get(name, 0) + amount

        for row in rows:
            device = row.get("device")
            if not isinstance(device, str) or not device:
                continue
            prev = updates.get(device) or last.get(device)
            ts = float(row["ts"])
            if prev is not None and ts < prev[0]:
                late += 1  # older than the board's last transition: it changes nothing here
                continue
            device_type = row.get("device_type") or (prev[3] if prev else None)
            worker = row.get("worker") or (prev[4] if prev else None)
            health = row.get("health")
            bad_since = prev[5] if prev else None
            health_since = prev[6] if prev is not None and prev[2] == health else ts
            span = (ts, row.get("state"), health, device_type, worker, bad_since, health_since)
            if prev is not None:
                add(prev[0], ts, prev, device)
            was_bad = prev is not None and prev[2] == "Bad"
            if health == "Bad" and not was_bad:
                count(ts, span, device, "failures", 1)
                bad_since = ts
            elif health != "Bad" and was_bad:
                if bad_since is not None:
                    count(ts, span, device, "repairs", 1)
                    count(ts, span, device, "repair_s", ts - bad_since)
                bad_since = None
            updates[device] = span[:5] + (bad_since, health_since)
        return sums, updates, late

    def plan_queue(self, jobs):
        """(steps, overlay, counts) of testjob rows (dicts with ts, job, state, device_type),
        oldest first: steps {(device type or ALL, step start): [most queued in the step, queued
        at its last change]}; overlay {job: (device type, since), or None once it left the queue};
        counts: the queue lengths after them. Nothing changes until commit."""
        steps, overlay, counts = {}, {}, collections.Counter(self.counts)
        for row in jobs:
            job = row.get("job")
            if job is None:
                continue
            was = overlay[job] if job in overlay else self.queued.get(job)
            queued = row.get("state") == "Submitted"
            if queued == (was is not None):
                continue
            if queued:
                device_type = row.get("device_type") or ""
                overlay[job], delta = (device_type, row["ts"]), 1
            else:
                device_type = was[0]
                overlay[job], delta = None, -1
            step = int(row["ts"] // QUEUE_STEP * QUEUE_STEP)
            for key in (device_type, ALL):
                before = counts[key]
                counts[key] += delta
                entry = steps.get((key, step))
                if entry is None:  # the step's first change: the queue it started with counts too
                    steps[(key, step)] = [max(before, counts[key]), counts[key]]
                else:
                    entry[0], entry[1] = max(entry[0], counts[key]), counts[key]
        return steps, overlay, counts

    def commit(self, updates, late=0, overlay=None, counts=None):
        self.last.update(updates)
        self.out_of_order += late
        for job, entry in (overlay or {}).items():
            if entry is None:
                self.queued.pop(job, None)
            else:
                self.queued[job] = entry
        if counts is not None:
            self.counts = counts

    def forget_before(self, ts):
        """Drop the open spans of boards silent since before ts, and the jobs queued since before
        it (retention removed their history); returns {queue key: (length before, after)} of the
        queue lengths that changed."""
        for device in [d for d, span in self.last.items() if span[0] < ts]:
            del self.last[device]
        before = collections.Counter(self.counts)
        for job in [j for j, (_, since) in self.queued.items() if since < ts]:
            device_type, _ = self.queued.pop(job)
            self.counts[device_type] -= 1
            self.counts[ALL] -= 1
        return {key: (before[key], n) for key, n in self.counts.items() if n != before[key]}


def queue_points(carry, rows, start, end, step):
    """The queue chart's points [(step end, most queued in it)] from `carry` (queued at start) and
    the roll-up's rows [(step start, most, last)] in [start, end), oldest first; `step` a multiple
    of QUEUE_STEP (start too): what core.statistics.queue_length says of the transitions."""
    out, i = [], 0
    t = start
    while t < end and len(out) < 10_000:
        most = carry
        while i < len(rows) and rows[i][0] < t + step:
            most, carry = max(most, rows[i][1]), rows[i][2]
            i += 1
        out.append((round(t + step, 3), most))
        t += step
    return out


def finished_job(row):
    """The finished-job record of a testjob row (a dict with ts, job, device, device_type, worker,
    state, health, data), or None when the row is not a Finished one. `data` may be the stored
    JSON text; a correction's data holds what LAVA said under `record`."""
    if row.get("state") != "Finished" or row.get("job") is None:
        return None
    data = row.get("data")
    if isinstance(data, str):
        try:
            data = _object(data)
        except (ValueError, RecursionError):  # json recurses: a row too deep costs only its data
            data = {}
    data = data if isinstance(data, dict) else {}
    record = data.get("record") if isinstance(data.get("record"), dict) else data
    submit, start = _ts(record.get("submit_time")), _ts(record.get("start_time"))
    wait = max(0.0, start - submit) if submit is not None and start is not None else None
    return {"job": row["job"], "ts": row["ts"], "device": row.get("device"),
            "device_type": row.get("device_type"), "worker": row.get("worker"),
            "health": row.get("health"), "health_check": record.get("health_check") is True,
            "wait_s": wait}


def _object(text):
    """The JSON value of `text`, as far as finished_job reads it: orjson alone when it takes the
    text, which it reads as `json` does but for integers beyond 64 bits (a float then), none of
    which finished_job reads; what orjson refuses goes to jsontext (`json`), which may raise
    ValueError. Without jsontext's search for long numbers: the writer process parses every
    Finished job's data here."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return jsontext.loads(text)


def _ts(text):
    try:
        return parse_time(text).timestamp() if isinstance(text, str) and text else None
    except (ValueError, TypeError, OverflowError):
        return None


def open_spans(last, start, end, group):
    """{(group value, UTC day): {sum: seconds}} of the open spans (device → span) clipped to
    [start, end): the boards whose last transition is before end are still in it."""
    days = {}
    index = {"device": None, "device_type": 3, "worker": 4}[group]
    for device, span in last.items():
        if span[0] >= end:
            continue
        key = device if index is None else (span[index] or "")
        category = SECONDS[device_category(span[1], span[2])]
        for day, seconds in pieces(max(span[0], start), end, DAY):
            bucket = days.setdefault((key, day), {})
            bucket[category] = bucket.get(category, 0.0) + seconds
    return days


def shares(totals, open_days):
    """{group value: {"seconds": known, category: share}} from the closed spans' totals ({group
    value: {sum: s}}, store.time_sums) and the open ones ({(group value, day): {sum: s}}): what
    core.statistics.utilisation says, from the roll-ups."""
    merged = {}
    sources = [(key, sums) for key, sums in totals.items()]
    sources += [(key, sums) for (key, _), sums in open_days.items()]
    for key, sums in sources:
        bucket = merged.setdefault(key or "unknown", dict.fromkeys(SECONDS, 0.0))
        for category, column in SECONDS.items():
            bucket[category] += sums.get(column, 0.0)
    out = {}
    for key, bucket in merged.items():
        total = sum(bucket.values())
        if total or key in totals:
            out[key] = {"seconds": round(total, 3),
                        **{c: round(v / total, 4) if total else 0.0 for c, v in bucket.items()}}
    return out


def wait_bucket(wait):
    """The histogram bucket of a queue wait in seconds (None: no wait known)."""
    return None if wait is None else int(math.log1p(max(0.0, wait)) // math.log(WAIT_RATIO))


def bucket_wait(bucket):
    """The wait a bucket stands for: the middle of its range (geometrically)."""
    return math.expm1((bucket + 0.5) * math.log(WAIT_RATIO))


def job_counts(job):
    """{count: 1} of a finished job (core.rollups.finished_job) for the time roll-ups."""
    out = {}
    if job.get("device"):
        out["jobs_run"] = 1
        if job["health"] == "Complete":
            out["jobs_completed"] = 1
    if job.get("health_check") and job["health"] in ("Complete", "Incomplete"):
        out["checks"] = 1
        if job["health"] == "Complete":
            out["passed"] = 1
    return out


def histogram_percentiles(counts, fractions=(0.5, 0.95)):
    """{fraction: wait} from {bucket: n}, by linear interpolation between closest ranks, as
    core.reports.percentile does between the values themselves; {} when empty."""
    total = sum(counts.values())
    if not total:
        return {}
    ordered = sorted(counts.items())

    def at(rank):  # the value of 0-based rank `rank`
        seen = 0
        for bucket, n in ordered:
            seen += n
            if rank < seen:
                return bucket_wait(bucket)
        return bucket_wait(ordered[-1][0])

    out = {}
    for f in fractions:
        k = (total - 1) * f
        lo = math.floor(k)
        low, high = at(lo), at(min(lo + 1, total - 1))
        out[f] = low + (high - low) * (k - lo)
    return out
