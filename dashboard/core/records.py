"""LAVA REST answers → records in the live model's shape. Pure: takes lists, returns a Snapshot.

REST and events name things differently (`worker_host` vs `worker`, `actual_device` vs `device`,
`requested_device_type` vs `device_type`) and spell times differently (`Z` vs `+00:00`); this is the one
place that maps the first onto the second, and checks the shape of what LAVA answered: the same types,
enumerations and length limits as events (core/events.py, core/limits.py), each failure a ShapeError
that names the field. A wrong type let in here would reach every flush (an unhashable list compared
with a filter's set), so nothing passes unchecked.

A record of the wrong shape is left out alone (Skipped), not the whole answer: one device's health
from a newer LAVA must not stop every other device from being repaired. What was left out must not
look gone, so its identity, when it can be read, is kept; when it cannot, nothing of its kind may be
taken as gone this time.
"""
import collections
import dataclasses
import datetime as dt

from dashboard.core.events import (DEVICE_HEALTHS, DEVICE_STATES, EARLIEST, JOB_HEALTHS, JOB_STATES,
                                   MAX_AHEAD, MAX_INT, MIN_INT, WORKER_HEALTHS, WORKER_STATES, job_id,
                                   parse_time)
from dashboard.core.limits import MAX_NAME_LENGTH, MAX_TEXT_LENGTH
from dashboard.core.redact import quoted
from dashboard.core.state import ACTIVE_JOB_STATES


class ShapeError(ValueError):
    """LAVA answered JSON, but not of the shape its API documents. `reason` is one of the parser's
    reason codes (missing_field, bad_type, bad_value, too_long, not_utf8), or duplicate (a record
    listed again); the message names the field."""

    def __init__(self, message, reason="bad_type", field=None):
        super().__init__(message)
        self.reason = reason
        self.field = field  # the field at fault, when there is one


MAX_SKIPPED_SAMPLES = 5


@dataclasses.dataclass
class Skipped:
    """Records one snapshot left out for their shape. `keep` maps device and worker to the
    hostnames of those left out (they are not gone); `unknown` names the kinds with a record whose
    hostname could not be read (none of that kind may be taken as gone); `samples` holds the first
    few as (kind, message, what an open page may say: a job's id and values left out, for the job
may be private)."""

    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    keep: dict = dataclasses.field(default_factory=lambda: {"device": set(), "worker": set()})
    unknown: set = dataclasses.field(default_factory=set)
    samples: list = dataclasses.field(default_factory=list)
    # A job's times out of range (before EARLIEST, after `latest`), by field: the job kept, those
    # times unknown (None), as the event parser does (core/events.py); not records left out.
    unusable_times: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def __len__(self):
        return sum(self.counts.values())

    def add(self, kind, err, ident, kept=False):
        """Count one record of `kind` left out for `err`; `ident` its identity, None if unread.
        `kept`: another record of it is kept (a copy listed twice): not noted as left out."""
        self.counts[(kind, err.reason)] += 1
        if ident is None:
            self.unknown.add(kind)
        elif kind in self.keep and not kept:
            self.keep[kind].add(ident)
        if len(self.samples) < MAX_SKIPPED_SAMPLES:
            said = str(err) if kind != "job" else f"a job's {err.field or 'record'} ({err.reason})"
            self.samples.append((kind, str(err), said))


@dataclasses.dataclass
class Snapshot:
    """What one REST fetch saw. `gone_jobs` are ids LAVA answered 404 for, and those taken as gone
    unasked (`gone_unchecked` of them: past the lookups' bound); `skipped` what was left out of
    the lists for its shape."""

    devices: list
    workers: list
    jobs: list
    gone_jobs: list = dataclasses.field(default_factory=list)
    skipped: Skipped = dataclasses.field(default_factory=Skipped)
    gone_unchecked: int = 0


_NAME = (MAX_NAME_LENGTH, "name")
_TEXT = (MAX_TEXT_LENGTH, "text")


def _need(obj, field, types, what, limit=_NAME):
    """obj[field], which must be there and of one of `types` (bool is not an int)."""
    if not isinstance(obj, dict) or field not in obj:
        raise ShapeError(f"{what} without {field!r}", "missing_field", field)
    if obj[field] == "" and limit is _NAME:  # a name the model, its filters and its URLs cannot use
        raise ShapeError(f"{what}.{field} is empty", "bad_value", field)
    return _typed(obj[field], field, types, what, limit)


def _may(obj, field, types, what, limit=_NAME):
    """obj[field] if there and not null (then of one of `types`), else None."""
    return _typed(obj.get(field), field, types + (type(None),), what, limit)


def _may_name(obj, field, what):
    """An object's name that LAVA may leave null (a device's worker, a job's device or type): not
    empty when given, as the event parser says of the same names."""
    value = _may(obj, field, (str,), what)
    if value == "":
        raise ShapeError(f"{what}.{field} is empty", "bad_value", field)
    return value


def _typed(value, field, types, what, limit):
    if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
        raise ShapeError(f"{what}.{field} is a {type(value).__name__}", "bad_type", field)
    if value.__class__ is int and not MIN_INT <= value <= MAX_INT:  # (as the event parser)
        raise ShapeError(f"{what}.{field} is an integer beyond 64 bits", "bad_value", field)
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # half a surrogate pair, from a "\ud800" escape
            raise ShapeError(f"{what}.{field} is not text (a lone surrogate)", "not_utf8",
                             field) from None
    if isinstance(value, str) and len(value) > limit[0]:
        raise ShapeError(f"{what}.{field} has {len(value)} characters, more than a {limit[1]} may "
                         f"({limit[0]})", "too_long", field)
    if limit is _NAME and isinstance(value, str) and not value.isprintable():
        # As the event parser: no newline, escape or right-to-left override in a name.
        raise ShapeError(f"{what}.{field} holds a control or format character (names may not)",
                         "bad_value", field)
    return value


def _enum(obj, field, allowed, what):
    value = _need(obj, field, (str,), what)
    if value not in allowed:
        # Quoted whole or not at all: the caller scrubs its token from the message, and a token a
        # LAVA echoed into a field, cut short, would no longer be found to be taken out.
        raise ShapeError(f"{what}.{field} {quoted(value)} is not one of {', '.join(allowed)}",
                         "bad_value", field)
    return value


def _time(obj, field, what, latest=None, unusable=None):
    """obj[field] as ISO 8601 in one spelling, or None. With `latest`: a time before EARLIEST or
    after `latest` is None too, counted in `unusable` (a Counter) by field."""
    value = _may(obj, field, (str,), what)
    if value is None:
        return None
    try:
        when = parse_time(value)
    except ValueError:
        raise ShapeError(f"{what}.{field} is not an ISO 8601 time", "bad_value", field) from None
    if latest is not None and not EARLIEST <= when <= latest:
        unusable[field] += 1
        return None
    return when.isoformat()


def device_record(d):
    """One /devices/ result → {hostname, device_type, state, health, worker}."""
    host = _need(d, "hostname", (str,), "device")
    what = f"device {host}"
    return {"hostname": host, "device_type": _need(d, "device_type", (str,), what),
            "state": _enum(d, "state", DEVICE_STATES, what),
            "health": _enum(d, "health", DEVICE_HEALTHS, what),
            "worker": _may_name(d, "worker_host", what)}


def worker_record(w):
    """One /workers/ result → {hostname, state, health, offline_since}; never its token.
    `offline_since`: an Offline worker's `last_ping` (ISO 8601), when it last spoke to LAVA: about
    when it went Offline (None for one Online, or a `last_ping` missing or not a time, which is
    no reason to leave the worker out)."""
    host = _need(w, "hostname", (str,), "worker")
    state = _enum(w, "state", WORKER_STATES, f"worker {host}")
    offline_since = None
    if state == "Offline":
        try:
            offline_since = _time(w, "last_ping", f"worker {host}")
        except ShapeError:
            pass
    return {"hostname": host, "state": state,
            "health": _enum(w, "health", WORKER_HEALTHS, f"worker {host}"),
            "offline_since": offline_since}


def job_record(j, worker_of, latest=None, unusable=None):
    """One /jobs/ result → the model's job fields; `worker_of` maps device hostname → worker. With
    `latest` (a datetime) and `unusable` (a Counter): a time of the job out of range is None,
    counted there by field (_time)."""
    ident = _need(j, "id", (int,), "job")
    if job_id(ident) is None:
        raise ShapeError(f"job {ident} is not a job id", "bad_value", "id")
    what = f"job {ident}"
    device = _may_name(j, "actual_device", what)
    out = collections.Counter()  # (counted in `unusable` once the whole record is of its shape)
    record = {"id": ident, "submitter": _may(j, "submitter", (str,), what),
              "description": _may(j, "description", (str,), what, _TEXT),
              "state": _enum(j, "state", JOB_STATES, what),
              "health": _enum(j, "health", JOB_HEALTHS, what),
              "priority": _may(j, "priority", (int,), what),
              "health_check": _may(j, "health_check", (bool,), what),
              "submit_time": _time(j, "submit_time", what, latest, out),
              "start_time": _time(j, "start_time", what, latest, out),
              "end_time": _time(j, "end_time", what, latest, out),
              "device_type": _may_name(j, "requested_device_type", what), "device": device,
              "worker": worker_of.get(device) if device else None}
    if out:
        unusable.update(out)
    return record


def _identity(result, field, types):
    """result[field] if it is of a shape the model could hold, else None."""
    try:
        return _need(result, field, types, "")
    except ShapeError:
        return None


def _each(results, make, kind, field, types, skipped):
    """make(result) for each result; one of the wrong shape is counted in `skipped` and left out.
    One listed again (the same `field`) is too, the last copy kept: LAVA's lists are read page by
    page (limit and offset), and a list that changes meanwhile shows a record twice, the later page
    the newer (an audit: two records of a board, applied in turn, corrected it back and forth at
    every reconciliation, and a flapping alert fired)."""
    made = {}
    for result in results:
        try:
            record = make(result)
        except ShapeError as err:
            ident = _identity(result, field, types)
            skipped.add(kind, err, None if kind == "job" and job_id(ident) is None else ident)
            continue
        key = record[field]
        if key in made:
            skipped.add(kind, ShapeError(f"{kind} {quoted(str(key))} listed twice (LAVA's list changed "
                                         f"while it was read, page by page?): the last kept",
                                         "duplicate", field), key, kept=True)
            del made[key]  # (the last copy, in its own place)
        made[key] = record
    return list(made.values())


def build(devices, workers, jobs, gone_jobs=(), now=None):
    """Lists of REST results → a Snapshot whose device records carry their current job; records
    of the wrong shape are left out one by one (Snapshot.skipped). A job's time before EARLIEST or
    more than MAX_AHEAD after `now` (an aware datetime; this clock's time when None) is None,
    counted in Snapshot.skipped.unusable_times: an event's time is (core/events.py)."""
    skipped = Skipped()
    latest = (now or dt.datetime.now(dt.timezone.utc)) + MAX_AHEAD
    device_records = _each(devices, device_record, "device", "hostname", (str,), skipped)
    worker_of = {d["hostname"]: d["worker"] for d in device_records}
    job_records = _each(jobs, lambda j: job_record(j, worker_of, latest, skipped.unusable_times),
                        "job", "id", (int,), skipped)
    current = {j["device"]: j["id"] for j in job_records
               if j["device"] and j["state"] in ACTIVE_JOB_STATES}
    for d in device_records:
        d["job"] = current.get(d["hostname"]) if d["state"] != "Idle" else None
    worker_records = _each(workers, worker_record, "worker", "hostname", (str,), skipped)
    return Snapshot(device_records, worker_records, job_records, list(gone_jobs), skipped)
