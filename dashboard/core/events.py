"""lava-publisher frames → a typed Event, or a ParseError that names the reason. Nothing else.

The format is in ../shared/lava-events.md: five UTF-8 frames ``[topic, uuid, datetime, username,
data]``; the kind is the topic's last dotted part (`topic-job` for `job`: TAKEN_KINDS). Pure code:
no sockets, no clocks, no globals (but a bounded cache of normalised times, which changes no
result).
"""
import dataclasses
import datetime as dt
import functools

from dashboard.core import jsontext
from dashboard.core.redact import quoted
from dashboard.core.limits import (MAX_DEPTH, MAX_NAME_LENGTH, MAX_TEXT_LENGTH, has_lone_surrogate,
                                   too_deep)

KINDS = ("device", "testjob", "worker", "event")

DEVICE_STATES = ("Idle", "Reserved", "Running")
DEVICE_HEALTHS = ("Good", "Unknown", "Looping", "Bad", "Maintenance", "Retired")
JOB_STATES = ("Submitted", "Scheduling", "Scheduled", "Running", "Canceling", "Finished")
JOB_HEALTHS = ("Unknown", "Complete", "Incomplete", "Canceled")
WORKER_STATES = ("Online", "Offline")
WORKER_HEALTHS = ("Active", "Maintenance", "Retired")

# Before 2018.1 LAVA sent one `status` instead of `state` and `health`. None means "unchanged".
LEGACY_DEVICE_STATUS = {
    "Idle": ("Idle", None), "Reserved": ("Reserved", None), "Running": ("Running", None),
    "Offline": ("Idle", "Maintenance"), "Offlining": ("Running", "Maintenance"),
    "Retired": ("Idle", "Retired"),
}
LEGACY_JOB_STATUS = {
    "Submitted": ("Submitted", "Unknown"), "Running": ("Running", "Unknown"),
    "Canceling": ("Canceling", "Unknown"), "Complete": ("Finished", "Complete"),
    "Incomplete": ("Finished", "Incomplete"), "Canceled": ("Finished", "Canceled"),
}

# (field, accepted types, required). `int` excludes bool on purpose: see _check.
_OPT_STR = (str, type(None))
_OPT_INT = (int, type(None))
SCHEMAS = {
    "device": (("device", (str,), True), ("device_type", _OPT_STR, False),
               ("state", (str,), False), ("health", (str,), False),
               ("worker", _OPT_STR, False), ("job", _OPT_INT, False)),
    "testjob": (("job", (int,), True), ("state", (str,), False), ("health", (str,), False),
                ("description", _OPT_STR, False), ("priority", _OPT_INT, False),
                ("submit_time", _OPT_STR, False), ("start_time", _OPT_STR, False),
                ("end_time", _OPT_STR, False), ("submitter", _OPT_STR, False),
                ("health_check", (bool, type(None)), False), ("device_type", _OPT_STR, False),
                ("device", _OPT_STR, False), ("worker", _OPT_STR, False),
                ("sub_id", _OPT_STR, False)),
    "worker": (("hostname", (str,), True), ("state", (str,), False), ("health", (str,), False)),
    "event": (("job", (int,), True), ("message", _OPT_STR, False)),
}
# The values LAVA gives each kind's state and health (a message with another is refused).
ENUMS = {
    "device": {"state": DEVICE_STATES, "health": DEVICE_HEALTHS},
    "testjob": {"state": JOB_STATES, "health": JOB_HEALTHS},
    "worker": {"state": WORKER_STATES, "health": WORKER_HEALTHS},
}

MAX_JOB_ID = 2**62  # within SQLite's and PostgreSQL's integers; LAVA's ids are far below
# Every integer of a message, and of a LAVA record, within 64 bits. Beyond them, python-socketio's
# clients refuse the whole packet that holds one (past 100 digits: "Integer is too large"), so a
# message's number (a job's priority, any field of an unknown topic's data, which the feed shows)
# kept every such client from reading the snapshot; LAVA never sends one (an audit).
MIN_INT, MAX_INT = -2**63, 2**63 - 1


class BeyondInt64(ValueError):
    """A JSON integer beyond 64 bits (_int64)."""


def _int64(text):
    """json.loads's parse_int: only ever called for a text with 19 digits in a row or more (orjson
    reads the others, each within 64 bits: jsontext.loads)."""
    if len(text) <= 20:
        value = int(text)
        if MIN_INT <= value <= MAX_INT:
            return value
    raise BeyondInt64(f"an integer of {len(text.lstrip('-'))} digits is beyond 64 bits")


_PARSE = dict(jsontext.FINITE, parse_int=_int64)


def job_id(value):
    """`value` if it is a job id (an int, not a bool, 0 ≤ id ≤ MAX_JOB_ID), else None. The one
    check of a job id, for events, stored rows and the API."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_JOB_ID:
        return value
    return None


ERROR_REASONS = ("frame_count", "oversized", "not_utf8", "bad_datetime", "not_json", "not_object",
                 "missing_field", "bad_type", "bad_value", "too_deep", "too_long")
# Free text; every other string field of a known kind is a name (MAX_NAME_LENGTH), as are the topic,
# uuid and username frames.
TEXT_FIELDS = ("description", "message")


class ParseError(ValueError):
    """A message that is not a valid lava-publisher message; `reason` is one of ERROR_REASONS."""

    def __init__(self, reason, detail):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class Event:
    """One parsed lava-publisher message. `kind` is the topic's last part (TAKEN_KINDS aside);
    `data` is normalised."""

    kind: str
    topic: str
    uuid: str
    time: dt.datetime  # always timezone-aware, UTC
    username: str
    data: dict
    # The five frames as text, when parse_frames made the event (its stored row takes them from
    # here instead of decoding them again); not part of what the event is.
    text: tuple = dataclasses.field(default=(), compare=False, repr=False)
    # A job's times (submit_time, start_time, end_time) its data gave out of range, left out of
    # `data`: a LAVA whose clock was not yet set when it recorded them (docs/deployment.md,
    # "Faults"). Not a field: set by parse_frames on the rare event that has one, so that the
    # others pay nothing for it (an event made on every message).
    unusable = ()

    @property
    def known(self):
        return self.kind in KINDS

    @property
    def iso(self):
        """The time as ISO 8601 text: made once, for the model and for the stored row. (Kept in the
        instance's dict by hand: functools.cached_property takes a lock on Python 3.11.)"""
        text = self.__dict__.get("_iso")
        if text is None:
            text = self.__dict__["_iso"] = self.time.isoformat()
        return text


def parse_time(text):
    """ISO 8601 → aware UTC datetime, or ValueError; a time without a zone (LAVA 2023.01) is UTC."""
    if not isinstance(text, str) or not text:
        raise ValueError("empty")
    value = dt.datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError:  # its zone moves it before year 1 or past 9999: a bad time all the same
        raise ValueError(f"{text[:60]!r} is out of range in UTC") from None


# The times an event may have: none from before LAVA was (a publisher whose clock was never set
# says 1970), none more than a day ahead of this machine's clock. The time roll-ups count a board's
# time between its events, hour by hour: an event of year 9999 made the store's writer count
# millions of hours, and every later event of that board older than it (found by an audit).
EARLIEST = dt.datetime(2010, 1, 1, tzinfo=dt.timezone.utc)
MAX_AHEAD = dt.timedelta(days=1)


def _now():
    return dt.datetime.now(dt.timezone.utc)


def parse_frames(frames, max_size=1 << 20, max_depth=MAX_DEPTH):
    """Parse one multipart message (a list of bytes) into an Event, or raise ParseError. The data
    may nest at most `max_depth` levels: checked before parsing, which would recurse."""
    if len(frames) != 5:
        raise ParseError("frame_count", f"expected 5 frames, got {len(frames)}")
    topic, uuid, when, username, payload = frames
    # (Written out, not as loops over the frames: every message comes through here, on the loop.)
    size = len(topic) + len(uuid) + len(when) + len(username) + len(payload)  # characters for str
    if size > max_size:  # frames: close enough for a cap
        raise ParseError("oversized", f"{size} bytes > limit {max_size}")
    try:
        topic = topic if isinstance(topic, str) else bytes(topic).decode("utf-8")
        uuid = uuid if isinstance(uuid, str) else bytes(uuid).decode("utf-8")
        when = when if isinstance(when, str) else bytes(when).decode("utf-8")
        username = username if isinstance(username, str) else bytes(username).decode("utf-8")
        payload = payload if isinstance(payload, str) else bytes(payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("not_utf8", f"frame is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not topic or not uuid:
        raise ParseError("missing_field", "empty topic or uuid")
    if len(topic) > MAX_NAME_LENGTH or len(uuid) > MAX_NAME_LENGTH or len(username) > MAX_NAME_LENGTH:
        for name, value in (("topic", topic), ("uuid", uuid), ("username", username)):
            if len(value) > MAX_NAME_LENGTH:
                raise ParseError("too_long", f"{name} has {len(value)} characters > {MAX_NAME_LENGTH}")
    if not (topic.isprintable() and uuid.isprintable() and username.isprintable()):
        raise ParseError("bad_value", f"the topic, uuid or username frame holds {_UNPRINTABLE}")
    try:
        time = parse_time(when)
    except ValueError:
        raise ParseError("bad_datetime", f"not an ISO 8601 datetime: {quoted(when)}") from None
    latest = _now() + MAX_AHEAD
    if not EARLIEST <= time <= latest:
        raise ParseError("bad_datetime", f"{quoted(when)} is before {EARLIEST.year} or more than "
                         f"{MAX_AHEAD.days} day ahead of this clock")
    if too_deep(payload, max_depth):
        raise ParseError("too_deep", f"data nests deeper than {max_depth} levels")
    try:
        data = jsontext.loads(payload, **_PARSE)
    except BeyondInt64 as exc:
        raise ParseError("bad_value", f"data holds {exc}") from None
    except ValueError as exc:
        raise ParseError("not_json", f"data is not JSON ({exc})") from None
    except RecursionError:  # not reached after too_deep(); kept so that no limit change can crash
        raise ParseError("too_deep", "data nests too deep to parse") from None
    if has_lone_surrogate(payload, data):
        raise ParseError("not_utf8", "data escapes half a UTF-16 surrogate pair: not text")
    if not isinstance(data, dict):
        raise ParseError("not_object", f"data is a JSON {type(data).__name__}, not an object")
    kind = topic.rsplit(".", 1)[-1]
    kind = TAKEN_KINDS.get(kind, kind)
    unusable = ()
    if kind in SCHEMAS:
        data, unusable = _normalise(kind, data, latest)
    elif too_long_text(data.get("message")):  # the feed shows it whatever the topic
        raise ParseError("too_long", f"{kind}.message has {len(data['message'])} characters > "
                         f"{MAX_TEXT_LENGTH}")
    event = Event(kind, topic, uuid, time, username, data,  # (positional: faster)
                  (topic, uuid, when, username, payload))
    if unusable:
        object.__setattr__(event, "unusable", unusable)  # (frozen: as its own __init__ sets fields)
    return event


# A reconciliation's correction, stored and replayed as an event of its own kind ("correction"),
# its topic naming the corrected object's stored kind: the store's queries find them by it.
# (live/reconcile.py makes them; no source's message is one.)
CORRECTION_KIND = "correction"
# Kinds an unknown topic's last part cannot take as it is: `job` is the API's name of LAVA's
# testjob messages, so a message on `x.job` was shown and exported as a job's, and no `kind=`
# could find it. It is kept as kind `topic-job`; its topic and frames are unchanged. (A source's
# message of kind `correction`, the dashboard's own, is refused: live/ingest.py.)
TAKEN_KINDS = {"job": "topic-job"}


def too_long_text(value):
    """A free-text field (description, message) longer than MAX_TEXT_LENGTH."""
    return isinstance(value, str) and len(value) > MAX_TEXT_LENGTH


# What no name may hold (str.isprintable: control characters such as a newline or an escape, and
# format characters such as a right-to-left override): LAVA's names never do, and such a name in
# the model would let a message write lines of its own into the log, or turn text around on the
# page (found by an audit). Free text (TEXT_FIELDS) may hold them.
_UNPRINTABLE = "a control or format character (names may not)"


# SCHEMAS as the checks run them: (field, types, required, booleans allowed, longest string).
_CHECKS = {kind: tuple((field, types, required, bool in types,
                        MAX_TEXT_LENGTH if field in TEXT_FIELDS else MAX_NAME_LENGTH)
                       for field, types, required in fields)
           for kind, fields in SCHEMAS.items()}
_ABSENT = object()


# The names that identify an object: an empty one was kept, and then no URL, filter or lookup
# could reach it (found by an audit). (A job's device or worker is null when it has none.)
_NOT_EMPTY = frozenset({("device", "device"), ("device", "device_type"), ("device", "worker"),
                        ("testjob", "device"), ("testjob", "device_type"), ("testjob", "worker"),
                        ("worker", "hostname")})


def _check_fields(kind, data):
    """Each field of the kind's schema, in the schema's order: present when required, of its type,
    not too long. (Inline, as every event of a known kind runs it.)"""
    for field, types, required, bool_ok, limit in _CHECKS[kind]:
        value = data.get(field, _ABSENT)
        if value is _ABSENT:
            if required:
                raise ParseError("missing_field", f"{kind} message without {field!r}")
            continue
        # bool is a subclass of int in Python; a job id of `true` is a mistake, not job 1.
        if value.__class__ is bool and not bool_ok:
            raise ParseError("bad_type", f"{kind}.{field} is a boolean")
        if not isinstance(value, types):
            raise ParseError("bad_type", f"{kind}.{field} is a {type(value).__name__}")
        if isinstance(value, str) and len(value) > limit:
            raise ParseError("too_long", f"{kind}.{field} has {len(value)} characters > {limit}")
        if limit == MAX_NAME_LENGTH and isinstance(value, str) and not value.isprintable():
            raise ParseError("bad_value", f"{kind}.{field} holds {_UNPRINTABLE}")
        if value == "" and (kind, field) in _NOT_EMPTY:
            raise ParseError("bad_value", f"{kind}.{field} is empty")


CACHED_TIME_LENGTH = 64  # an ISO 8601 time is about 32 characters; a longer text is not cached


def _spelled(text):
    """(parse_time(text).isoformat(), parse_time(text)), or ValueError."""
    value = parse_time(text)
    return value.isoformat(), value


# A job's times come again in each of its events (a ValueError is raised each time, never cached).
_one_spelling = functools.lru_cache(maxsize=1024)(_spelled)


def _normalise(kind, data, latest):
    """(data normalised, the job time fields left out as out of range): `latest` the latest time
    a job's time may be (EARLIEST the earliest, as for the frame's time)."""
    data = dict(data)
    if "status" in data and "state" not in data and kind in ("device", "testjob"):
        table = LEGACY_DEVICE_STATUS if kind == "device" else LEGACY_JOB_STATUS
        status = data.pop("status")
        if not isinstance(status, str) or status not in table:
            raise ParseError("bad_value", f"{kind}.status {quoted(status)} is not known")
        state, health = table[status]
        data["state"] = state
        if health is not None and "health" not in data:
            data["health"] = health
    _check_fields(kind, data)
    job = data.get("job")
    if job is not None and job_id(job) is None:
        raise ParseError("bad_value", f"{kind}.job {quoted(job)} is not a job id")
    if kind in ENUMS and "state" not in data and "health" not in data:
        raise ParseError("missing_field", f"{kind} message without state or health")
    for field, allowed in ENUMS.get(kind, {}).items():
        if field in data and data[field] not in allowed:
            raise ParseError("bad_value", f"{kind}.{field} {quoted(data[field])} is not one of "
                             f"{', '.join(allowed)}")
    unusable = ()
    for field in ("submit_time", "start_time", "end_time"):
        value = data.get(field)
        if value is not None:
            try:
                # One spelling for every time (REST says Z, events +00:00) so values compare equal.
                # Not length-checked for every kind: only short text is cached (a key may be kept).
                text, when = (_one_spelling(value)
                              if isinstance(value, str) and len(value) <= CACHED_TIME_LENGTH
                              else _spelled(value))
            except ValueError:
                raise ParseError("bad_datetime", f"{kind}.{field} is not ISO 8601") from None
            if EARLIEST <= when <= latest:
                data[field] = text
            else:  # a time LAVA's clock could not have meant: unknown, the event kept (Event.unusable)
                del data[field]
                unusable += (field,)
    return data, unusable
