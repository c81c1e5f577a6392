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
"""
import math

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
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _blank():
    return {"seconds": 0.0, "available": 0.0, "running": 0.0, "failures": 0, "repairs": [],
            "checks": 0, "passed": 0, "run": 0, "completed": 0, "waits": []}


def reliability(before, rows, jobs, start, end, group):
    """{group value: figures}. `before`: each device's last device row before `start`; `rows`:
    device rows in [start, end), oldest first (ts, device, device_type, worker, state, health);
    `jobs`: each finished job once (ts, job, device, device_type, worker, health, health_check,
    submit_ts, start_ts)."""
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
        if job.get("submit_ts") is not None and job.get("start_ts") is not None:
            b["waits"].append(max(0.0, job["start_ts"] - job["submit_ts"]))
    return {key: _figures(b) for key, b in sorted(out.items())}


def _figures(b):
    seconds = b["seconds"]
    return {
        "availability": round(b["available"] / seconds, 4) if seconds else None,
        "utilisation": round(b["running"] / seconds, 4) if seconds else None,
        "failures": b["failures"],
        "mtbf_hours": round(b["available"] / 3600 / b["failures"], 3) if b["failures"] else None,
        "mttr_hours": round(sum(b["repairs"]) / len(b["repairs"]) / 3600, 3) if b["repairs"] else None,
        "health_checks": b["checks"],
        "health_check_pass_rate": round(b["passed"] / b["checks"], 4) if b["checks"] else None,
        "jobs_run": b["run"],
        "jobs_completed": b["completed"],
        "queue_wait_p50_s": _round(percentile(b["waits"], 50)),
        "queue_wait_p95_s": _round(percentile(b["waits"], 95)),
        "known_hours": round(seconds / 3600, 3),
    }


def _round(value):
    return None if value is None else round(value, 3)
