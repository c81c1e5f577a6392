"""Query-string parameters of the REST API: parsed and checked in one place; a bad one is a
BadParameter, which the API answers with 400 and the one error shape."""
import re

from dashboard.core.events import MAX_JOB_ID, parse_time
from dashboard.core.limits import MAX_NAME_LENGTH
from dashboard.storage.store import FILTERS as FILTER_NAMES  # noqa: F401 (history.py reads it here)
from dashboard.web.protocol import stored_kind

# A name (hostname, device type, submitter, state...): no NUL (PostgreSQL's text cannot hold it)
# nor other control character, and no longer than any name the model or the store keeps.
NAME = re.compile(rf"[^\x00-\x1f\x7f]{{1,{MAX_NAME_LENGTH}}}")
KIND = re.compile(r"[A-Za-z0-9_-]{1,40}")
# What each pattern takes, in words, for the error that refuses a value (an audit: "not a valid
# value" alone did not say what would be).
TAKES = {NAME: f"1 to {MAX_NAME_LENGTH} characters, no control characters",
         KIND: "1 to 40 letters, digits, '_' or '-'"}
MAX_EVENT_ID = 2**62  # a stored event's id (a cursor), within the databases' integers
DURATIONS = {"24h": 86400, "7d": 604800}


class BadParameter(ValueError):
    """A query parameter that cannot be used; the message names it and says why, `code` is the
    machine-readable kind (bad_parameter, or history_off when the store is off)."""

    def __init__(self, message, code="bad_parameter"):
        super().__init__(message)
        self.code = code


def text(args, name, pattern=NAME):
    """An optional string parameter."""
    value = args.get(name)
    if value is None:
        return None
    if not pattern.fullmatch(value):
        takes = TAKES.get(pattern)
        raise BadParameter(f"{name}: not a valid value" + (f" ({takes})" if takes else ""))
    return value


def path_name(value, name="hostname"):
    """A name from the URL's path (a device's or a worker's), checked as a query's names are: a
    BadParameter (400) for one that no object can have, never a query the database refuses."""
    if len(value) > MAX_NAME_LENGTH or not NAME.fullmatch(value):
        raise BadParameter(f"{name}: not a valid name (1 to {MAX_NAME_LENGTH} characters, no "
                           f"control characters)")
    return value


def integer(args, name, default=None, low=None, high=None):
    """An optional integer parameter within [low, high]."""
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(f"{name}: expected an integer, got {raw[:40]!r}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise BadParameter(f"{name}: must be between {low} and {high}")
    return value


def timestamp(args, name):
    """An optional ISO 8601 time (no zone means UTC) → epoch seconds."""
    raw = args.get(name)
    if raw is None:
        return None
    try:
        return parse_time(raw).timestamp()
    except (ValueError, OverflowError):
        raise BadParameter(f"{name}: expected an ISO 8601 time such as 2026-11-27T17:00:00Z") from None


def choice(args, name, choices, default):
    """An optional parameter from a fixed list."""
    value = args.get(name, default)
    if value not in choices:
        raise BadParameter(f"{name}: expected one of {', '.join(choices)}")
    return value


def event_filters(args):
    """The filters shared by /api/v1/events, the feed, the export and the charts. `kind=job` and
    `kind=testjob` both mean the stored kind testjob (LAVA's topic suffix)."""
    kind = text(args, "kind", KIND)
    filters = {"kind": stored_kind(kind) if kind is not None else None, "device": text(args, "device"),
               "worker": text(args, "worker"), "submitter": text(args, "submitter"),
               "device_type": text(args, "device_type"),
               "job": integer(args, "job", low=0, high=MAX_JOB_ID)}
    since, until = timestamp(args, "since"), timestamp(args, "until")
    if since is not None and until is not None and since > until:
        raise BadParameter("since: must not be after until")
    return {k: v for k, v in filters.items() if v is not None}, since, until
