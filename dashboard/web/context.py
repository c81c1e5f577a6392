"""What every blueprint needs: this process's services, the one error shape, store access, and
which lab a request is about (docs/labs.md)."""
import logging

from flask import current_app, jsonify, request

from dashboard.live.health import RateLimitedLog
from dashboard.web.params import BadParameter


def services():
    """This process's factory.Services."""
    return current_app.extensions["dashboard"]


def error_body(status, message, code):
    """The one error shape of this API: {"ok": false, "error": text, "code": machine-readable}."""
    return jsonify({"ok": False, "error": message, "code": code}), status


def chosen_lab(required=False):
    """The named lab (factory.LabParts) of the request's `lab` parameter. None for a dashboard of
    one unnamed lab (which takes no `lab`), and for all labs together when none is given and the
    answer does not need one lab (`required` false). A bad or missing one: BadParameter (400)."""
    ext = services()
    raw = request.args.get("lab")
    if not ext.named:
        if raw is not None:
            raise BadParameter("lab: this dashboard watches one lab, which has no name (docs/labs.md)")
        return None
    names = ", ".join(lab.name for lab in ext.labs)
    if raw is None:
        if len(ext.labs) == 1:
            return ext.labs[0]
        if required:
            raise BadParameter(f"lab: this dashboard watches several labs ({names}); its history "
                               f"is kept per lab: give lab=NAME", code="lab_required")
        return None
    lab = ext.lab(raw)
    if lab is None:
        raise BadParameter(f"lab: no lab {raw[:40]!r} here; known: {names}")
    return lab


def lab_name(required=False):
    """The name of the request's lab (chosen_lab), or "" (one unnamed lab, or every lab)."""
    lab = chosen_lab(required)
    return lab.name if lab is not None else ""


def model(required=False):
    """The live model a request reads: its lab's (`lab` parameter), or every lab's together."""
    lab = chosen_lab(required)
    return services().state if lab is None else lab.state


def store_of_request():
    """The event store a request reads (its lab's), or None when history is off."""
    lab = chosen_lab(required=True)
    return services().store if lab is None else lab.store


def require_store():
    """The event store (the request's lab's: chosen_lab), or a BadParameter (400, code
    `history_off`) when history is off."""
    store = store_of_request()
    if store is None:
        raise BadParameter("history is off on this dashboard (--no-store)", code="history_off")
    return store


class StoreUnreadable(Exception):
    """A read of a lab's store failed for EventStore.cannot_read's reasons, and was counted
    (store_read_failed): the answer is 503 `store_unavailable` (web/api.py). For a read whose
    store the request's `lab` does not name (several labs' alerts)."""


_store_log = RateLimitedLog(logging.getLogger("dashboard.store"), interval=60.0)


def store_read_failed(store, exc):
    """Count a read of `store` that failed for EventStore.cannot_read's reasons (answered 503, or
    an export cut short), and say it in the log at most once a minute."""
    store.note_read_failure(exc)
    _store_log.warning(f"read:{store.display_name}", "the event store %s cannot be read now (%s): "
                       "its outputs answer 503 until it can; the live view is not affected",
                       store.display_name, store.last_read_failure["error"])


def in_thread(fn, *args, **kwargs):
    """Store work (SQLite or PostgreSQL) off the green hub, in a real thread (dashboard/green.py)."""
    return services().run_in_thread(lambda: fn(*args, **kwargs))
