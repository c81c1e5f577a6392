"""LAVA REST answers → records in the live model's shape. Pure: takes lists, returns a Snapshot.

REST and events name things differently (`worker_host` vs `worker`, `actual_device` vs `device`,
`requested_device_type` vs `device_type`) and spell times differently (`Z` vs `+00:00`); this is the one
place that maps the first onto the second, and checks the shape of what LAVA answered.
"""
import dataclasses

from dashboard.core.events import (DEVICE_HEALTHS, DEVICE_STATES, JOB_HEALTHS, JOB_STATES,
                              WORKER_HEALTHS, WORKER_STATES, parse_time)
from dashboard.core.state import ACTIVE_JOB_STATES


class ShapeError(ValueError):
    """LAVA answered JSON, but not of the shape its API documents."""


@dataclasses.dataclass
class Snapshot:
    """What one REST fetch saw. `gone_jobs` are ids LAVA answered 404 for."""

    devices: list
    workers: list
    jobs: list
    gone_jobs: list = dataclasses.field(default_factory=list)


def _need(obj, field, types, what):
    if not isinstance(obj, dict) or field not in obj:
        raise ShapeError(f"{what} without {field!r}")
    value = obj[field]
    if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
        raise ShapeError(f"{what}.{field} is a {type(value).__name__}")
    return value


def _enum(obj, field, allowed, what):
    value = _need(obj, field, (str,), what)
    if value not in allowed:
        raise ShapeError(f"{what}.{field} {value[:40]!r} is not one of {', '.join(allowed)}")
    return value


def _time(value, what):
    if value is None:
        return None
    try:
        return parse_time(value).isoformat()
    except (ValueError, TypeError):
        raise ShapeError(f"{what} is not an ISO 8601 time") from None


def device_record(d):
    """One /devices/ result → {hostname, device_type, state, health, worker}."""
    host = _need(d, "hostname", (str,), "device")
    worker = d.get("worker_host")
    if worker is not None and not isinstance(worker, str):
        raise ShapeError(f"device {host}: worker_host is a {type(worker).__name__}")
    return {"hostname": host, "device_type": _need(d, "device_type", (str,), f"device {host}"),
            "state": _enum(d, "state", DEVICE_STATES, f"device {host}"),
            "health": _enum(d, "health", DEVICE_HEALTHS, f"device {host}"), "worker": worker}


def worker_record(w):
    """One /workers/ result → {hostname, state, health}; never its token."""
    host = _need(w, "hostname", (str,), "worker")
    return {"hostname": host, "state": _enum(w, "state", WORKER_STATES, f"worker {host}"),
            "health": _enum(w, "health", WORKER_HEALTHS, f"worker {host}")}


def job_record(j, worker_of):
    """One /jobs/ result → the model's job fields; `worker_of` maps device hostname → worker."""
    job_id = _need(j, "id", (int,), "job")
    what = f"job {job_id}"
    device = j.get("actual_device")
    return {"id": job_id, "submitter": j.get("submitter"), "description": j.get("description"),
            "state": _enum(j, "state", JOB_STATES, what),
            "health": _enum(j, "health", JOB_HEALTHS, what),
            "priority": j.get("priority"), "health_check": j.get("health_check"),
            "submit_time": _time(j.get("submit_time"), f"{what}.submit_time"),
            "start_time": _time(j.get("start_time"), f"{what}.start_time"),
            "end_time": _time(j.get("end_time"), f"{what}.end_time"),
            "device_type": j.get("requested_device_type"), "device": device,
            "worker": worker_of.get(device) if device else None}


def build(devices, workers, jobs, gone_jobs=()):
    """Lists of REST results → a Snapshot whose device records carry their current job."""
    device_records = [device_record(d) for d in devices]
    worker_of = {d["hostname"]: d["worker"] for d in device_records}
    job_records = [job_record(j, worker_of) for j in jobs]
    current = {j["device"]: j["id"] for j in job_records
               if j["device"] and j["state"] in ACTIVE_JOB_STATES}
    for d in device_records:
        d["job"] = current.get(d["hostname"]) if d["state"] != "Idle" else None
    return Snapshot(device_records, [worker_record(w) for w in workers], job_records,
                    list(gone_jobs))
