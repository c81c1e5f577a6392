"""What the processes of a cluster read from Redis, checked for the shape dashboard/live/cluster_ingest.py
writes (pure: bytes and dicts in, values or Malformed out). Another version, or a person's XADD or
SET, may put anything there; each parser says what is wrong, never the value (it may hold anything).
"""
import collections
import json

CHANGE_KINDS = ("device", "job", "worker", "event")


class Malformed(ValueError):
    """Something read from Redis is not of the shape this module writes; says what, never the
    value (it may hold anything)."""


def _json(raw, what):
    """JSON `raw` (bytes), or Malformed naming `what`."""
    try:
        return json.loads(raw)
    except (TypeError, ValueError):  # (UnicodeDecodeError and JSONDecodeError are ValueErrors)
        raise Malformed(f"{what} is not JSON") from None


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _claiming(raw):
    """A heartbeat's body with its epoch, or Malformed."""
    body = _json(raw, "the heartbeat")
    if not isinstance(body, dict) or not isinstance(body.get("epoch"), str):
        raise Malformed("the heartbeat has no epoch")
    return body


def parse_claim(raw):
    """The epoch a heartbeat claims the prefix for; Malformed when it claims nothing readable:
    a heartbeat of another shape than parse_heartbeat's (web processes count it malformed) is no
    claim (an audit: `{"epoch": "zzz"}` with a TTL held a running ingest process standing by)."""
    return parse_heartbeat(raw)["epoch"]


def parse_heartbeat(raw):
    """The heartbeat's body (epoch, seq, meta, health, time) if of this module's shape, else
    Malformed: a web process reads every one of these."""
    body = _claiming(raw)
    health = body.get("health")
    if (not _is_int(body.get("seq")) or not isinstance(body.get("meta"), dict)
            or not isinstance(health, dict)
            or not isinstance(health.get("degraded", []), list)
            or not all(isinstance(name, str) for name in health.get("degraded", []))):
        raise Malformed("the heartbeat lacks seq, meta or health")
    return body


def _is_change(c):
    """A change in wire form (Change.wire()) that state.follow() can take."""
    return (isinstance(c, dict) and _is_int(c.get("seq")) and c.get("kind") in CHANGE_KINDS
            and (isinstance(c.get("id"), str) or _is_int(c.get("id")))
            and (isinstance(c.get("data"), dict) or c.get("data") is None and c["kind"] != "event")
            and isinstance(c.get("lab", ""), str) and isinstance(c.get("screened", False), bool))


def parse_batch(fields):
    """(epoch, first, last, changes) of a stream entry's fields, or Malformed."""
    try:
        epoch = fields[b"epoch"].decode()
        first, last = int(fields[b"first"]), int(fields[b"last"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise Malformed("no epoch, first or last") from None
    changes = _json(fields.get(b"changes"), "changes")
    if first > last or not isinstance(changes, list) or not all(map(_is_change, changes)):
        raise Malformed("changes of another shape")
    return epoch, first, last, changes


def parse_snapshot(raw):
    """(epoch, entry, body) of the snapshot hash, or Malformed; the model is checked as far as
    state.restore() reads it, so that it never fails halfway through."""
    try:
        epoch, entry = raw[b"epoch"].decode(), raw[b"entry"].decode()
    except (KeyError, AttributeError, ValueError):
        raise Malformed("the snapshot has no epoch or entry") from None
    body = _json(raw.get(b"body"), "the snapshot")
    if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
        raise Malformed("the snapshot has no meta")
    model = body.get("model")
    parts = (model.get("labs") if isinstance(model, dict) and "labs" in model else {"": model})
    if (not isinstance(model, dict) or not _is_int(model.get("seq")) or not isinstance(parts, dict)
            or not all(map(_is_dump, parts.values()))):
        raise Malformed("the snapshot's model is of another shape")
    return epoch, entry, body


def parse_kept(version, jobs):
    """(version, {lab: [job id, ...]}) of the snapshot's `kept_version` and `kept_out` fields
    (bytes; None: absent, as in a snapshot an older version wrote: (None, {})), or Malformed.
    The ids are checked by whoever takes them (LabState.learn_kept_out)."""
    if version is None or jobs is None:
        return None, {}
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise Malformed("the snapshot's kept_version is not a number") from None
    body = _json(jobs, "the snapshot's kept_out")
    if not isinstance(body, dict) or not all(isinstance(lab, str) and isinstance(ids, list)
                                             for lab, ids in body.items()):
        raise Malformed("the snapshot's kept_out is of another shape")
    return version, body


def _is_dump(part):
    """A LabState.dump() that restore() can take (None: a lab the dump does not have)."""
    if part is None:
        return True
    lists = ("devices", "jobs", "workers", "finished", "recent_events")
    if not isinstance(part, dict) or not _is_int(part.get("seq")) or not all(
            isinstance(part.get(name), list) for name in lists):
        return False
    return (all(isinstance(d, dict) and isinstance(d.get("hostname"), str)
                for d in part["devices"] + part["workers"])
            and all(isinstance(j, dict) and _is_int(j.get("id")) for j in part["jobs"])
            and all(_is_int(i) for i in part["finished"])
            and all(isinstance(e, dict) for e in part["recent_events"]))


# -- the change stream's bound in bytes ---------------------------------------------------------
def split_encoded(encoded, max_bytes):
    """Consecutive runs [(start, end)] of encoded changes (JSON texts) whose JSON list is at most
    `max_bytes` long; a change longer than that alone in its run."""
    runs, start, size = [], 0, 2  # "[" and "]"
    for i, text in enumerate(encoded):
        grow = len(text) + (1 if i > start else 0)  # the comma
        if i > start and size + grow > max_bytes:
            runs.append((start, i))
            start, size, grow = i, 2, len(text)
        size += grow
    if encoded:
        runs.append((start, len(encoded)))
    return runs


class ByteWindow:
    """The sizes of a stream's newest entries (at most `max_entries`, as its MAXLEN keeps), to bound
    it in bytes: add() says the oldest entry to keep when older ones are to go."""

    def __init__(self, max_bytes, max_entries):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.entries = collections.deque()  # (entry id, bytes), oldest first
        self.total = 0

    def add(self, entry_id, size):
        """Count a new entry; returns the id of the oldest entry to keep when the older ones are
        to be trimmed (all but the newest hold more than max_bytes), else None."""
        self.entries.append((entry_id, size))
        self.total += size
        while len(self.entries) > self.max_entries:  # gone by the stream's MAXLEN already
            self.total -= self.entries.popleft()[1]
        trim = False
        while self.total > self.max_bytes and len(self.entries) > 1:
            self.total -= self.entries.popleft()[1]
            trim = True
        return self.entries[0][0] if trim else None


# -- acknowledgements a web process forwards to the ingest process ------------------------------
ACK_FIELD_LIMIT = 256  # characters of a lab's name, an alert's id or a username


def ack_request(request_id, lab, ident, username):
    """The fields of a forwarded acknowledgement's stream entry."""
    return {"request": request_id, "lab": lab, "alert": ident, "user": username}


def parse_ack_request(fields):
    """(request id, lab, alert id, username) of a forwarded acknowledgement, or Malformed."""
    try:
        values = [fields[name].decode() for name in (b"request", b"lab", b"alert", b"user")]
    except (KeyError, AttributeError, TypeError, ValueError):
        raise Malformed("no request, lab, alert or user") from None
    request_id, lab, ident, username = values
    if (not request_id.isalnum() or len(request_id) > 64 or not ident or not username
            or any(len(v) > ACK_FIELD_LIMIT for v in values)):
        raise Malformed("an acknowledgement of another shape")
    return request_id, lab, ident, username


def parse_ack_reply(raw):
    """The ingest process's answer to a forwarded acknowledgement: {"ok": true, "alert": dict} or
    {"ok": false, "code": str, "error": str}; Malformed otherwise."""
    body = _json(raw, "the answer")
    if isinstance(body, dict) and body.get("ok") is True and isinstance(body.get("alert"), dict):
        return body
    if (isinstance(body, dict) and body.get("ok") is False and isinstance(body.get("code"), str)
            and isinstance(body.get("error"), str)):
        return body
    raise Malformed("an answer of another shape")
