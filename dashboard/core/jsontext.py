"""JSON text on the hot path: orjson where it gives what the standard library gives, the standard
library wherever the two could differ. Pure.

orjson (C) parses and writes JSON several times faster than `json`. Where they differ, `json` is the
reference, so that nothing the dashboard accepts, rejects, stores or sends changes with the library:
- parsing: orjson refuses what `json` refuses (NaN, Infinity, broken text, half a surrogate pair),
  but `json` then says why; and it reads an integer beyond 64 bits as a float, so a number with 19
  digits or more is left to `json` (which keeps it an int);
- writing: orjson refuses what it cannot write exactly (bytes, integers beyond 64 bits, keys that
  are not strings, half a surrogate pair): `json` writes those as it always did. orjson writes
  non-ASCII characters as UTF-8 instead of `\\uXXXX` escapes: the same JSON value. Two values
  `json` cannot write as JSON at all come out differently: NaN and ±Infinity become null (`json`
  writes NaN, which no browser parses; the parser keeps them out of the model anyway), and a
  datetime or dataclass is written (`json` raises).
"""
import json

import orjson

from dashboard.core.redact import quoted

# A number that may not fit in 64 bits is 19 digits in a row or more (also found inside strings:
# harmless). JSON's digits are ASCII. The search is one pass of bytes.translate (every ASCII digit
# made "0") and one of `in`, both in C; a regular expression ([0-9]{19}) tries a match at every
# character, and took longer than orjson's parse of the message itself (bench/hotpath.py's parse
# step, docs/performance.md).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def has_long_number(text):
    """True when `text` (str, or bytes-like) holds 19 ASCII digits in a row."""
    if isinstance(text, str):  # (surrogatepass: a str may hold half a pair; never a digit)
        text = text.encode("utf-8", "surrogatepass")
    elif not isinstance(text, (bytes, bytearray)):
        text = memoryview(text).tobytes()  # a buffer (not bytes(n) of an int: a TypeError)
    return _LONG_RUN in text.translate(_DIGITS_AS_ZERO)


# json.loads options orjson's reading needs no help with: NaN and Infinity, which parse_constant
# sees, orjson refuses (json then decides); integers parse_int might guard against are long, and a
# text with a long number goes to json. parse_float too when it is FINITE's: a number too large
# for a float (1e999) orjson refuses as well, and its other floats are float(text), as json's. Any
# other option goes to json.
_SAME_ON_ORJSON = frozenset(("parse_constant", "parse_int"))
_SAME_WITH_FINITE = _SAME_ON_ORJSON | {"parse_float"}


def _no_constant(name):
    """NaN and Infinity are not JSON: passed on, they would break every browser's JSON.parse."""
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text):
    """A JSON number's float; one too large for a float (1e999) is refused, not read as Infinity:
    the model would keep it, and `/api/v1/state` write it as no browser's JSON.parse reads it
    (found by an audit)."""
    value = float(text)
    if value in (_INF, -_INF):
        raise ValueError(f"{quoted(text)} is too large a number for a float")
    return value


_INF = float("inf")
# loads() (or json.loads) options for text from outside: no NaN, Infinity or number beyond a
# float's range gets in (each a ValueError).
FINITE = {"parse_constant": _no_constant, "parse_float": _finite_float}


def loads(text, **kwargs):
    """json.loads(text, **kwargs), faster: orjson unless it would read the text differently.
    `text` is a str, or bytes as json.loads takes them (a Socket.IO message queue's message)."""
    if ((kwargs.keys() <= _SAME_ON_ORJSON or kwargs.keys() <= _SAME_WITH_FINITE
         and kwargs["parse_float"] is _finite_float) and not has_long_number(text)):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # not JSON, or JSON orjson does not take: the reference decides, and says why
    return json.loads(text, **kwargs)


def dumps(value, **kwargs):
    """Compact JSON text of `value` (str). Without kwargs other than the compact separators, orjson
    writes it; otherwise, or when orjson refuses the value, json.dumps(value, **kwargs)."""
    if not kwargs or kwargs == {"separators": (",", ":")}:
        text = compact(value)
        if text is not None:
            return text
        kwargs.setdefault("separators", (",", ":"))
    return json.dumps(value, **kwargs)


def compact(value):
    """orjson's compact JSON text of `value`, or None when orjson cannot write it exactly (bytes,
    an integer beyond 64 bits, a non-string key, half a surrogate pair, an unknown type)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None
