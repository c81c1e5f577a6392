"""The protocol's constants as the page needs them, from their one source in core/: the page reads
this (templates/index.html, `<script type="application/json" id="bootstrap">`) instead of writing
them again in JavaScript (static/js/protocol.js)."""
from dashboard.core import events, filters, statistics
from dashboard.core.state import STORED_KIND

# The REST API's names of the stored kinds (the store keeps LAVA's topic suffix, "testjob").
PUBLIC_KIND = {stored: public for public, stored in STORED_KIND.items()}
ALIASES = {**{public: stored for public, stored in STORED_KIND.items()},
           **{stored: stored for stored in STORED_KIND.values()}}


def stored_kind(kind):
    """A `kind` query parameter → the stored kind it means: job and testjob are the same."""
    return ALIASES.get(kind, kind)


def public_kind(kind):
    """A stored kind → the name the API gives it (testjob → job; others unchanged)."""
    return PUBLIC_KIND.get(kind, kind)


def public_event(row, lab=""):
    """A stored event as the API shows it: its kind by the API's name, and its lab when it was
    read from a named lab's store (docs/labs.md)."""
    kind = public_kind(row["kind"])
    if kind == row["kind"] and not lab:
        return row
    return {**row, "kind": kind, **({"lab": lab} if lab else {})}


def bootstrap(meta):
    """Everything the page must agree on with the server: kinds, filter criteria (which field of
    which kind each compares), the enumerations of states and healths, the utilisation categories,
    the bound on finished jobs (--max-finished-jobs), and the labs."""
    return {
        "kinds": list(filters.KINDS),
        # Flask's `tojson` sorts the keys of objects: the order of the filter keys goes as a list.
        "filter_keys": list(filters.CRITERIA),
        "criteria": {name: dict(fields) if fields is not None else None
                     for name, fields in filters.CRITERIA.items()},
        "objects": {
            "device": {"states": list(events.DEVICE_STATES), "healths": list(events.DEVICE_HEALTHS)},
            "job": {"states": list(events.JOB_STATES), "healths": list(events.JOB_HEALTHS)},
            "worker": {"states": list(events.WORKER_STATES), "healths": list(events.WORKER_HEALTHS)},
        },
        "categories": list(statistics.CATEGORIES),
        "max_finished_jobs": meta["max_finished_jobs"],
        # Several labs (docs/labs.md): their names and LAVA URLs, before the first snapshot says
        # more; empty for one unnamed lab.
        "labs": [{k: lab.get(k) for k in ("name", "lava_url", "simulated")}
                 for lab in meta.get("labs") or ()],
    }
