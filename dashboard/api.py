"""JSON endpoints: /healthz and the read-only REST API. One error shape: {"ok": false, "error"}."""
from flask import Blueprint, current_app, jsonify
from werkzeug.exceptions import HTTPException

from dashboard.params import BadParameter
from dashboard.urls import redact

bp = Blueprint("api", __name__)


def _ext():
    return current_app.extensions["dashboard"]


def error_body(status, message):
    """The one error shape of this API."""
    return jsonify({"ok": False, "error": message}), status


def require_store():
    """The event store, or a BadParameter (400) when history is off."""
    store = _ext()["store"]
    if store is None:
        raise BadParameter("history is off on this dashboard (--no-store)")
    return store


def in_thread(fn, *args, **kwargs):
    """Store work (SQLite or PostgreSQL) off the green hub, in a real thread (dashboard/green.py)."""
    from dashboard import green
    return green.run_in_thread(_ext()["settings"]["async_mode"], lambda: fn(*args, **kwargs))


def health_summary(ext):
    """What is degraded, and why: /healthz, and the ingest process's heartbeat for web processes."""
    degraded = [s.name for s in ext["health"].sources if s.state != "connected"]
    reconciler = ext["reconciler"]
    if reconciler and reconciler.state_name != "ok":
        degraded.append("lava-api")
    if "discovery_error" in ext:
        degraded.append("event-socket-discovery")
    if ext["keeper"] and ext["store"].failing:
        degraded.append("store")
    if ext["publisher"] and ext["publisher"].rival:
        degraded.append("another-ingest")
    elif ext["publisher"] and not ext["publisher"].connected:
        degraded.append("redis")
    if ext["replica"]:
        degraded.extend(ext["replica"].degraded())
    return {"degraded": degraded, "accepted": ext["health"].accepted}


@bp.app_errorhandler(BadParameter)
def bad_parameter(exc):
    """Every bad query parameter, anywhere: 400 with the one error shape."""
    return error_body(400, str(exc))


@bp.get("/healthz")
def healthz():
    """Sources, counters, relay and model sizes; `status` is degraded while a source is not connected."""
    ext = _ext()
    state = ext["state"]
    degraded = health_summary(ext)["degraded"]
    reconciler = ext["reconciler"]
    cluster = ext["publisher"] or ext["replica"]
    store = ext["store"]
    body = ext["health"].as_dict({
        "status": "degraded" if degraded else "ok",
        "degraded": degraded,
        "role": ext["role"],
        "epoch": ext["meta"]["epoch"],
        "simulated": ext["meta"]["simulated"],
        "async_mode": ext["settings"]["async_mode"],
        "seq": state.seq,
        "model": {"devices": len(state.devices), "jobs": len(state.jobs),
                  "workers": len(state.workers), "duplicates": state.duplicates},
        "relay": ext["relay"].stats() if ext["relay"] else None,
        "cluster": dict(cluster.stats(), message_queue=redact(ext["settings"]["message_queue"]))
        if cluster else None,
        "lava": reconciler.as_dict() if reconciler else None,
        "store": dict(store.stats(), restored=ext["keeper"].restored if ext["keeper"] else None)
        if store else None,
    })
    body["ok"] = not degraded
    return jsonify(body)


@bp.get("/api/v1/state")
def whole_state():
    """The whole live model with its sequence number."""
    snapshot = _ext()["state"].snapshot()
    return jsonify({"ok": True, **snapshot})


@bp.app_errorhandler(HTTPException)
def http_error(exc):
    """Errors as JSON everywhere: this app has no HTML error pages worth showing."""
    return error_body(exc.code, exc.description)
