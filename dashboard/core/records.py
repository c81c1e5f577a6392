"""LAVA REST answers → records in the live model's shape. Pure: takes lists, returns a Snapshot.

REST and events name things differently (`worker_host` vs `worker`, `actual_device` vs `device`,
`requested_device_type` vs `device_type`) and spell times differently (`Z` vs `+00:00`); this is the one
place that maps the first onto the second, and checks the shape of what LAVA answered: the same types,
enumerations and length limits as events (core/events.py, core/limits.py), each failure a ShapeError
that names the field. A wrong type let in here would reach every flush (an unhashable list compared
with a filter's set), so nothing passes unchecked.
"""
import dataclasses

from dashboard.core.events import (DEVICE_HEALTHS, DEVICE_STATES, JOB_HEALTHS, JOB_STATES,
                                   WORKER_HEALTHS, WORKER_STATES, job_id, parse_time)
from dashboard.core.limits import MAX_NAME_LENGTH, MAX_TEXT_LENGTH
from dashboard.core.state import ACTIVE_JOB_STATES


class ShapeError(ValueError):
    """LAVA answered JSON, but not of the shape its API documents. `reason` is one of the parser's
    reason codes (missing_field, bad_type, bad_value, too_long, not_utf8); the message names the
    field."""

    def __init__(self, message, reason="bad_type"):
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass
class Snapshot:
    """What one REST fetch saw. `gone_jobs` are ids LAVA answered 404 for."""

    devices: list
    workers: list
    jobs: list
    gone_jobs: list = dataclasses.field(default_factory=list)


_NAME = (MAX_NAME_LENGTH, "name")
_TEXT = (MAX_TEXT_LENGTH, "text")


def _need(obj, field, types, what, limit=_NAME):
    """obj[field], which must be there and of one of `types` (bool is not an int)."""
    if not isinstance(obj, dict) or field not in obj:
        raise ShapeError(f"{what} without {field!r}", "missing_field")
    return _typed(obj[field], field, types, what, limit)


def _may(obj, field, types, what, limit=_NAME):
    """obj[field] if there and not null (then of one of `types`), else None."""
    return _typed(obj.get(field), field, types + (type(None),), what, limit)


def _typed(value, field, types, what, limit):
    if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
        raise ShapeError(f"{what}.{field} is a {type(value).__name__}", "bad_type")
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # half a surrogate pair, from a "\ud800" escape
            raise ShapeError(f"{what}.{field} is not text (a lone surrogate)", "not_utf8") from None
    if isinstance(value, str) and len(value) > limit[0]:
        raise ShapeError(f"{what}.{field} has {len(value)} characters, more than a {limit[1]} may "
                         f"({limit[0]})", "too_long")
    return value


def _enum(obj, field, allowed, what):
    value = _need(obj, field, (str,), what)
    if value not in allowed:
        raise ShapeError(f"{what}.{field} {value[:40]!r} is not one of {', '.join(allowed)}",
                         "bad_value")
    return value


def _time(obj, field, what):
    value = _may(obj, field, (str,), what)
    if value is None:
        return None
    try:
        return parse_time(value).isoformat()
    except ValueError:
        raise ShapeError(f"{what}.{field} is not an ISO 8601 time", "bad_value") from None


def device_record(d):
    """One /devices/ result → {hostname, device_type, state, health, worker}."""
    host = _need(d, "hostname", (str,), "device")
    what = f"device {host}"
    return {"hostname": host, "device_type": _need(d, "device_type", (str,), what),
            "state": _enum(d, "state", DEVICE_STATES, what),
            "health": _enum(d, "health", DEVICE_HEALTHS, what),
            "worker": _may(d, "worker_host", (str,), what)}


def worker_record(w):
    """One /workers/ result → {hostname, state, health}; never its token."""
    host = _need(w, "hostname", (str,), "worker")
    return {"hostname": host, "state": _enum(w, "state", WORKER_STATES, f"worker {host}"),
            "health": _enum(w, "health", WORKER_HEALTHS, f"worker {host}")}


def job_record(j, worker_of):
    """One /jobs/ result → the model's job fields; `worker_of` maps device hostname → worker."""
    ident = _need(j, "id", (int,), "job")
    if job_id(ident) is None:
        raise ShapeError(f"job {ident} is not a job id", "bad_value")
    what = f"job {ident}"
    device = _may(j, "actual_device", (str,), what)
    return {"id": ident, "submitter": _may(j, "submitter", (str,), what),
            "description": _may(j, "description", (str,), what, _TEXT),
            "state": _enum(j, "state", JOB_STATES, what),
            "health": _enum(j, "health", JOB_HEALTHS, what),
            "priority": _may(j, "priority", (int,), what),
            "health_check": _may(j, "health_check", (bool,), what),
            "submit_time": _time(j, "submit_time", what),
            "start_time": _time(j, "start_time", what),
            "end_time": _time(j, "end_time", what),
            "device_type": _may(j, "requested_device_type", (str,), what), "device": device,
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
