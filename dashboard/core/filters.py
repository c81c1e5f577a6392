"""Subscription filters: validate what a client asks for, and decide what it may receive. Pure.

A criterion constrains only the kinds of object that carry its attribute (see docs/protocol.md):
an empty filter matches everything; several criteria must all hold.
"""
import json

KINDS = ("device", "job", "worker", "event")
MAX_VALUES = 1000
MAX_VALUE_LENGTH = 200

# criterion → {kind: field of that kind's object it is compared with}
CRITERIA = {
    "kinds": None,  # compared with the change's kind itself
    "device_types": {"device": "device_type", "job": "device_type", "event": "device_type"},
    "devices": {"device": "hostname", "job": "device", "event": "device"},
    "workers": {"device": "worker", "job": "worker", "worker": "hostname", "event": "worker"},
    "submitters": {"job": "submitter", "event": "submitter"},
    # A message (event) has no health: the health of its job's device when it arrived.
    "health": {"device": "health", "job": "health", "worker": "health", "event": "device_health"},
    # Several labs (docs/labs.md): every object says its lab; one unnamed lab's objects say none.
    "labs": {"device": "lab", "job": "lab", "worker": "lab", "event": "lab"},
}


class FilterError(ValueError):
    """A filter that cannot be understood; the message says why."""


class Filter:
    """A validated, canonical filter. Equal filters have equal `key`s (used to group clients)."""

    def __init__(self, criteria):
        self.criteria = criteria  # name → frozenset, only non-empty ones
        self.key = json.dumps({k: sorted(v) for k, v in sorted(criteria.items())},
                              separators=(",", ":"))

    def as_dict(self):
        """The filter in the shape a client sends it."""
        return {k: sorted(v) for k, v in self.criteria.items()}

    def matches(self, kind, obj):
        """Does this object of this kind pass every criterion that applies to its kind?"""
        for name, values in self.criteria.items():
            fields = CRITERIA[name]
            if fields is None:
                if kind not in values:
                    return False
                continue
            field = fields.get(kind)
            if field is not None and obj.get(field) not in values:
                return False
        return True

    def matches_without(self, kind, obj, ignore):
        """matches(), the criteria named in `ignore` left out (a job's removal decided without
        what a redacted job hides: live/relay.py select)."""
        return Filter({k: v for k, v in self.criteria.items() if k not in ignore}).matches(kind, obj)


def parse_filter(raw):
    """A client's filter (a dict of lists of strings, or None) → Filter, or raise FilterError."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise FilterError("filter must be an object")
    criteria = {}
    for name, values in raw.items():
        if name not in CRITERIA:
            raise FilterError(f"unknown filter {str(name)[:40]!r}; known: {', '.join(CRITERIA)}")
        if values is None:
            continue
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list):
            raise FilterError(f"filter {name!r} must be a list of strings")
        if len(values) > MAX_VALUES:
            raise FilterError(f"filter {name!r} has more than {MAX_VALUES} values")
        for value in values:
            if not isinstance(value, str) or not value or len(value) > MAX_VALUE_LENGTH:
                raise FilterError(f"filter {name!r} values must be non-empty strings of at most "
                                  f"{MAX_VALUE_LENGTH} characters")
        if name == "kinds":
            unknown = set(values) - set(KINDS)
            if unknown:
                raise FilterError(f"unknown kind {sorted(unknown)[0]!r}; known: {', '.join(KINDS)}")
        if values:
            criteria[name] = frozenset(values)
    return Filter(criteria)
