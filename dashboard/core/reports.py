"""Reliability reports from stored transitions. Pure: rows in, figures out.

Per device, device type or worker, over [start, end):
- availability: the share of known time a board was usable: not Bad, not in Maintenance (or
  Looping), not Retired (the charts' Running + Idle: core.statistics.device_category);
- utilisation: the share of known time Running (or Reserved), as the charts say;
- failures: transitions into Bad; MTBF: available hours per failure; MTTR: the mean hours from a
  transition into Bad to the next transition out of it, for repairs completed in the period;
- health checks: finished Complete / (Complete + Incomplete) of health-check jobs;
- jobs run (finished on a board) and completed; queue wait p50 and p95 (start − submit, seconds).

Time before a board's first known state in the period is not counted (as in the charts).

`from_rollups` makes the figures from the time roll-ups (core.rollups), as the report does;
`reliability` from the transitions themselves (a scan), the baseline the roll-ups are checked and
measured against. They agree, except that the scan knows when a board went Bad only if it was in
the period: its MTTR counts the repairs of failures in the period, the roll-ups' every repair
completed in it. And a job counts where it first finished: the scan sees only the period, so a
later correction of a job that finished before it would count there again.
"""
import math

from dashboard.core.rollups import DAY, SECONDS, SUMS
from dashboard.core.statistics import device_category

GROUPS = ("device", "device_type", "worker")
FIELDS = ("availability", "utilisation", "failures", "mtbf_hours", "mttr_hours",
          "health_checks", "health_check_pass_rate", "jobs_run", "jobs_completed",
          "queue_wait_p50_s", "queue_wait_p95_s", "known_hours")


def percentile(values, p):
    """The p-th percentile (0–100) by linear interpolation between closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * (p / 100)  # p / 100: the same double as the store's fraction
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _blank():
    return {"seconds": 0.0, "available": 0.0, "running": 0.0, "failures": 0, "repairs": [],
            "checks": 0, "passed": 0, "run": 0, "completed": 0, "waits": []}


def reliability(before, rows, jobs, start, end, group):
    """{group value: figures}. `before`: each device's last device row before `start`; `rows`:
    device rows in [start, end), oldest first (ts, device, device_type, worker, state, health);
    `jobs`: each finished job once (core.rollups.finished_job: ts, job, device, device_type,
    worker, health, health_check, wait_s)."""
    assert group in GROUPS
    out = {}
    current = {}  # device → [since, state, health, key]
    bad_since = {}  # device → when it went Bad (in the period)

    def bucket(key):
        return out.setdefault(key if key is not None else "unknown", _blank())

    def spend(device, until):
        since, state, health, key = current[device]
        duration = max(0.0, until - since)
        b = bucket(key)
        b["seconds"] += duration
        category = device_category(state, health)
        if category in ("Running", "Idle"):
            b["available"] += duration
        if category == "Running":
            b["running"] += duration

    for row in before:
        current[row["device"]] = [start, row["state"], row["health"], row.get(group)]
        if row["health"] == "Bad":
            bad_since[row["device"]] = None  # Bad since before the period: not a failure in it
    for row in rows:
        device, ts = row["device"], min(max(row["ts"], start), end)
        prev = current.get(device)
        if prev is not None:
            spend(device, ts)
        key = row.get(group) if row.get(group) is not None else (prev[3] if prev else None)
        was_bad = prev is not None and prev[2] == "Bad"
        if row["health"] == "Bad" and not was_bad:
            bucket(key)["failures"] += 1
            bad_since[device] = ts
        elif row["health"] != "Bad" and was_bad:
            went = bad_since.pop(device, None)
            if went is not None:
                bucket(key)["repairs"].append(ts - went)
        current[device] = [ts, row["state"], row["health"], key]
    for device in list(current):
        spend(device, end)
    for job in jobs:
        b = bucket(job.get(group))
        if job.get("device"):
            b["run"] += 1
            b["completed"] += job["health"] == "Complete"
        if job.get("health_check") and job["health"] in ("Complete", "Incomplete"):
            b["checks"] += 1
            b["passed"] += job["health"] == "Complete"
        if job.get("wait_s") is not None:
            b["waits"].append(job["wait_s"])
    return {key: _figures(b["seconds"], b["available"], b["running"], b["failures"],
                          len(b["repairs"]), sum(b["repairs"]), b["checks"], b["passed"],
                          b["run"], b["completed"], percentile(b["waits"], 50),
                          percentile(b["waits"], 95)) for key, b in sorted(out.items())}


def from_rollups(totals, days, open_days, waits, start, end):
    """{group value: figures and "days"} from the roll-ups of [start, end): `totals` {group value:
    {sum: total}} and `days` {(group value, UTC day): [available s, known s]} of the closed spans
    (store.time_sums: the jobs' counts among the sums), `open_days` {(group value, day): {sum: s}}
    of the open ones (core.rollups.open_spans), `waits` {group value: {0.5: s, 0.95: s}}. "days"
    is each UTC day's availability ([day, share or None]), for sparklines."""
    def name(key):
        return key if key not in (None, "") else "unknown"

    merged = {}
    for key, sums in totals.items():
        bucket = merged.setdefault(name(key), dict.fromkeys(SUMS, 0))
        for c, value in sums.items():
            bucket[c] += value
    per_day = {}
    for (key, day), (available, known) in days.items():
        entry = per_day.setdefault(name(key), {}).setdefault(day, [0.0, 0.0])
        entry[0] += available
        entry[1] += known
    for (key, day), sums in open_days.items():
        bucket = merged.setdefault(name(key), dict.fromkeys(SUMS, 0))
        entry = per_day.setdefault(name(key), {}).setdefault(day, [0.0, 0.0])
        for c, value in sums.items():
            bucket[c] += value
            entry[1] += value
            if c in ("running_s", "idle_s"):
                entry[0] += value
    for key in waits:
        merged.setdefault(name(key), dict.fromkeys(SUMS, 0))
    waits = {name(k): v for k, v in waits.items()}
    first = int(start // DAY * DAY)
    span = range(first, int(end), DAY) if end > first else range(0)
    out = {}
    for key, t in sorted(merged.items()):
        w = waits.get(key, {})
        known = sum(t[c] for c in SECONDS.values())
        figures = _figures(known, t["running_s"] + t["idle_s"], t["running_s"], t["failures"],
                           t["repairs"], t["repair_s"], t["checks"], t["passed"], t["jobs_run"],
                           t["jobs_completed"], w.get(0.5), w.get(0.95))
        mine = per_day.get(key, {})
        figures["days"] = [[day, _share(mine.get(day))] for day in span][-400:]
        out[key] = figures
    return out


def _share(entry):
    if not entry or not entry[1]:
        return None
    return round(entry[0] / entry[1], 4)


def _figures(seconds, available, running, failures, repairs, repair_s, checks, passed, run,
             completed, p50, p95):
    return {
        "availability": round(available / seconds, 4) if seconds else None,
        "utilisation": round(running / seconds, 4) if seconds else None,
        "failures": failures,
        "mtbf_hours": round(available / 3600 / failures, 3) if failures else None,
        "mttr_hours": round(repair_s / repairs / 3600, 3) if repairs else None,
        "health_checks": checks,
        "health_check_pass_rate": round(passed / checks, 4) if checks else None,
        "jobs_run": run,
        "jobs_completed": completed,
        "queue_wait_p50_s": _round(p50),
        "queue_wait_p95_s": _round(p95),
        "known_hours": round(seconds / 3600, 3),
    }


def _round(value):
    return None if value is None else round(value, 3)
