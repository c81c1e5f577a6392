"""Bounds on what enters the model from outside (events and REST answers alike). Pure.

Python's json module recurses once per nesting level: about 1,000 levels raise RecursionError when
parsing, and far fewer, once wrapped in a snapshot and a Socket.IO packet, break the encoder for
every client. So the depth is measured before parsing, in one linear pass.
"""
import itertools
import json
import re

MAX_DEPTH = 32  # nesting levels of a JSON document; LAVA's deepest (a REST page) has 4
MAX_NAME_LENGTH = 200  # hostnames, device types, submitters, worker names, topics, uuids
MAX_TEXT_LENGTH = 4096  # job descriptions, test-event messages

# A JSON string, its escapes included: the brackets inside it are not nesting. Unrolled, DOTALL (an
# escaped newline cannot shift the match), and the closing quote optional: a string that never ends
# runs to the end of the text (as it does for the parser, which stops there), so that no match is
# ever tried and abandoned: abandoned tries from every quote of '"\\"\\"\\"...' were quadratic.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text):
    """The deepest nesting of brackets outside strings in `text` (a JSON document, or not).

    For valid JSON this is the document's depth. For invalid JSON it is at least the depth the
    parser reaches before it finds the error, because up to that point both see the same strings:
    so `json_depth(text) <= n` guarantees json.loads(text) never nests deeper than n."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(0, max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0))


def too_deep(text, limit=MAX_DEPTH):
    """True when `text` nests more than `limit` levels (cheap when it has few brackets at all)."""
    if text.count("[") + text.count("{") <= limit:  # the common case: no scan needed
        return False
    return json_depth(text) > limit


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def has_lone_surrogate(text, value):
    """True when JSON `text`, parsed into `value`, holds a string with half a UTF-16 pair
    ("\\ud800" alone): not text, and neither UTF-8 (the store) nor a browser can take it.
    Only texts that escape a surrogate at all are checked, in one pass of the encoder."""
    if not _SURROGATE_ESCAPE.search(text):
        return False
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def too_long(value, limit):
    """True when `value` is a string longer than `limit` characters."""
    return isinstance(value, str) and len(value) > limit
