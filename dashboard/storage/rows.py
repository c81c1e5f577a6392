"""An accepted event's stored row (storage/schema.py's COLUMNS), made on the loop for every
stored event: pure, values in, a tuple out."""
from dashboard.core import jsontext
from dashboard.core.events import job_id
from dashboard.core.limits import MAX_NAME_LENGTH
from dashboard.core.state import CORRECTION_KIND, STORED_KIND


def row_for(event, frames, context, received):
    """The stored row of one accepted event; `context` fills what the event itself does not say
    (a test-shell message's job's device, worker and submitter). `frames` are the event's frames as
    received: an event parse_frames made carries their text (Event.text), which is used instead."""
    if event.kind in CHECKED_KINDS:  # (most events: what the parser checked, not checked again)
        return _checked_row(event, frames, received)
    return _any_row(event, frames, context, received)


def _any_row(event, frames, context, received):
    """row_for of an event of any kind: each column value checked."""
    d = event.data
    kind = event.kind
    if kind == CORRECTION_KIND:  # the columns describe the corrected object, as LAVA has it now
        kind, d = _correction_columns(d)
    job = job_id(d.get("job"))  # beyond the columns' integers: kept in `data` only
    device = d.get("device") if kind in ("device", "testjob") else context.get("device")
    worker = d.get("hostname") if kind == "worker" else d.get("worker", context.get("worker"))
    submitter = d.get("submitter") if kind == "testjob" else context.get("submitter")
    if kind == "testjob" and submitter is None:
        submitter = event.username
    device_type = d.get("device_type", context.get("device_type"))
    state, health = d.get("state"), d.get("health")
    # Unknown topics (and `event`) may carry anything under these names, unchecked by the parser:
    # only text of a name's length goes into the columns, which are keys of the roll-ups and of
    # the indexes (`data` and `frames` keep the event as received).
    # (Written out, not as a loop: every stored event comes through here, on the loop.)
    device = device if isinstance(device, str) and len(device) <= MAX_NAME_LENGTH else None
    worker = worker if isinstance(worker, str) and len(worker) <= MAX_NAME_LENGTH else None
    submitter = submitter if isinstance(submitter, str) and len(submitter) <= MAX_NAME_LENGTH else None
    device_type = (device_type if isinstance(device_type, str) and len(device_type) <= MAX_NAME_LENGTH
                   else None)
    state = state if isinstance(state, str) and len(state) <= MAX_NAME_LENGTH else None
    health = health if isinstance(health, str) and len(health) <= MAX_NAME_LENGTH else None
    columns = (event.uuid, event.iso, event.time.timestamp(), received, event.kind, event.topic,
               event.username, job, device, worker, submitter, device_type, state, health)
    # PostgreSQL's text cannot hold NUL: the column copies lose it on both backends (data and frames
    # keep it, JSON-escaped), so that both store the same event.
    # (One search of the text columns together: the ISO time has no NUL, and the kind is the
    # topic's last part.)
    if ("\0" in f"{event.uuid}{event.topic}{event.username}{device}{worker}"
            or "\0" in f"{submitter}{device_type}{state}{health}"):
        columns = tuple(v.replace("\0", "\ufffd") if isinstance(v, str) else v for v in columns)
    return (*columns, jsontext.dumps(event.data), _frames_json(event, frames))


# Kinds whose every column value the parser has checked (core/events.py's SCHEMAS and ENUMS: a
# name a string of at most MAX_NAME_LENGTH printable characters, so without NUL; state and health
# one of LAVA's values; the username frame printable) and whose row takes nothing from the model.
CHECKED_KINDS = frozenset(("device", "testjob"))


def _checked_row(event, frames, received):
    """row_for of a device or testjob message (CHECKED_KINDS) as parse_frames made it: the same
    row as _any_row's (tests/unit/test_store.py compares them), without its checks."""
    d = event.data
    job = job_id(d.get("job"))
    submitter = None
    if event.kind == "testjob":
        submitter = d.get("submitter")
        if submitter is None:
            submitter = event.username
    return (event.uuid, event.iso, event.time.timestamp(), received, event.kind, event.topic,
            event.username, job, d.get("device"), d.get("worker"), submitter, d.get("device_type"),
            d.get("state"), d.get("health"), jsontext.dumps(d), _frames_json(event, frames))


def _frames_json(event, frames):
    """The frames as a JSON list of text: the event's own text of them, when the parser made it
    (the same, decoded once)."""
    return jsontext.dumps(event.text or [
        f.decode("utf-8", "replace") if type(f) is bytes
        else f if isinstance(f, str) else bytes(f).decode("utf-8", "replace") for f in frames])


def _correction_columns(data):
    """(stored kind, data in that kind's event shape) of a correction's object."""
    kind = STORED_KIND.get(data.get("object"), "event")
    record = data.get("record") if isinstance(data.get("record"), dict) else {}
    key = {"device": "device", "testjob": "job", "worker": "hostname"}.get(kind, "id")
    return kind, {**{k: v for k, v in record.items() if k not in ("id", "hostname")},
                  key: data.get("id")}
