"""What every blueprint needs: this process's services, the one error shape, store access."""
from flask import current_app, jsonify

from dashboard.web.params import BadParameter


def services():
    """This process's factory.Services."""
    return current_app.extensions["dashboard"]


def error_body(status, message, code):
    """The one error shape of this API: {"ok": false, "error": text, "code": machine-readable}."""
    return jsonify({"ok": False, "error": message, "code": code}), status


def require_store():
    """The event store, or a BadParameter (400, code `history_off`) when history is off."""
    store = services().store
    if store is None:
        raise BadParameter("history is off on this dashboard (--no-store)", code="history_off")
    return store


def in_thread(fn, *args, **kwargs):
    """Store work (SQLite or PostgreSQL) off the green hub, in a real thread (dashboard/green.py)."""
    return services().run_in_thread(lambda: fn(*args, **kwargs))
