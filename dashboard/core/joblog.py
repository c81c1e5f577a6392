"""A LAVA job log (output.yaml, as /api/v0.2/jobs/<id>/logs/ serves it) → bounded lines. Pure.

Each line of LAVA's log is one YAML flow mapping in a list, which LAVA writes as JSON:

    - {"dt": "2023-01-23T10:15:42.123456", "lvl": "info", "msg": "start: 1 tftp-deploy"}
    - {"dt": "...", "lvl": "results", "msg": {"case": "validate", "result": "pass"}}

A line that is not of that form is kept as it is (level "raw"), never dropped: it is the log. A
message that is not text (a result) becomes compact JSON. Every message is cut at `max_chars`.
"""
import json

MAX_CHARS = 1000  # of one line's message, once parsed
LEVELS = ("debug", "info", "warning", "error", "exception", "results", "target", "input",
          "feedback", "raw")


def _text(value, max_chars):
    if not isinstance(value, str):
        value = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return value if len(value) <= max_chars else value[:max_chars - 1] + "…"


def parse_line(text, number, max_chars=MAX_CHARS):
    """One line of the log (without its newline), the `number`-th of the log (from 0)."""
    body = text[2:] if text.startswith("- ") else None
    record = None
    if body and body.startswith("{") and len(body) <= 64 * max_chars:
        try:
            record = json.loads(body)
        except (ValueError, RecursionError):
            record = None
    if not isinstance(record, dict) or "msg" not in record:
        return {"n": number, "dt": None, "lvl": "raw", "msg": _text(text, max_chars)}
    level = record.get("lvl")
    dt = record.get("dt")
    return {"n": number, "dt": dt[:40] if isinstance(dt, str) else None,
            "lvl": level if level in LEVELS else "raw", "msg": _text(record["msg"], max_chars)}


def parse(text, start, max_chars=MAX_CHARS, most=None):
    """The complete lines of a piece of the log that begins at line `start` → (lines, next line
    number). A last line without its newline is left for the next read (LAVA may be writing it),
    unless it is the only one. `most`: at most this many lines, the rest left for the next read
    (the lines asked for: an answer that ignores its `end` was 512 KiB of empty lines, half a
    million dicts sent in one message; an audit)."""
    pieces = text.split("\n") if most is None else text.split("\n", most)
    if len(pieces) > 1:
        pieces = pieces[:-1]  # what follows the last newline: not complete yet ("" when it is)
    elif not pieces[0]:
        return [], start
    lines = [parse_line(p.rstrip("\r"), start + i, max_chars) for i, p in enumerate(pieces)]
    return lines, start + len(lines)
