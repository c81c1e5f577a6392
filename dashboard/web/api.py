"""JSON endpoints: /healthz and the read-only REST API. One error shape: {"ok": false, "error"}."""
from flask import Blueprint, jsonify
from werkzeug.exceptions import HTTPException

from dashboard.core.redact import redact
from dashboard.live.health import labs_summary, store_health, summary as health_summary
from dashboard.web.auth import viewing
from dashboard.web.context import error_body, model, services
from dashboard.web.params import BadParameter

bp = Blueprint("api", __name__)
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "too_large",
              500: "internal_error", 401: "unauthorized", 403: "forbidden", 429: "too_many"}


@bp.app_errorhandler(BadParameter)
def bad_parameter(exc):
    """Every bad query parameter, anywhere: 400 with the one error shape."""
    return error_body(400, str(exc), exc.code)


@bp.get("/healthz")
def healthz():
    """Sources, counters, relay and model sizes; `status` is degraded while a source is not connected."""
    ext = services()
    state = ext.state
    degraded = health_summary(ext)["degraded"]
    reconciler = ext.reconciler
    cluster = ext.publisher or ext.replica
    store = ext.store
    body = ext.health.as_dict({
        "status": "degraded" if degraded else "ok",
        "degraded": degraded,
        "role": ext.role,
        "epoch": ext.meta["epoch"],
        "simulated": ext.meta["simulated"],
        "async_mode": ext.settings["async_mode"],
        "seq": state.seq,
        "model": {"devices": len(state.devices), "jobs": len(state.jobs),
                  "workers": len(state.workers), "duplicates": state.duplicates},
        # (An ingest process relays through Redis: of the relay, it has only what it refused.)
        "relay": ext.relay.stats() if ext.relay else (ext.socket_refusals.stats()
                                                      if ext.socket_refusals else None),
        "access": dict(ext.access.stats(), job_lookups=ext.job_visibility.stats()
                       if ext.job_visibility else None),
        "cluster": dict(cluster.stats(), message_queue=redact(ext.settings["message_queue"]))
        if cluster else None,
        "lava": reconciler.as_dict() if reconciler else None,
        "store": store_health(store, ext.keeper),
        "server": dict(ext.connections.stats(), errors=ext.wsgi_errors.errors,
                       metrics_apart=ext.metrics_connections.stats()
                       if ext.metrics_connections else None)
        if ext.connections else None,
        "alerts": ext.alerts.stats() if ext.alerts else None,
        "job_logs": ext.logtail.stats() if ext.logtail else None,
        # Several labs (docs/labs.md): each one's sources, LAVA API, store and alerts; the
        # sections above then count every lab together and `lava`, `store`, `alerts` are null.
        "labs": labs_summary(ext),
    })
    body["counters"]["over_limit"] = state.over_limit  # objects the model's limits kept out
    body["ok"] = not degraded
    return jsonify(body)


@bp.get("/api/v1/state")
def whole_state():
    """The whole live model with its sequence number."""
    view = viewing()
    state = model()  # the `lab` parameter's, or every lab's
    snapshot = view.snapshot(state.snapshot())
    snapshot["workers"] = [state.with_devices(w) for w in snapshot["workers"]]
    return jsonify({"ok": True, **snapshot})


@bp.app_errorhandler(HTTPException)
def http_error(exc):
    """Errors as JSON everywhere: this app has no HTML error pages worth showing."""
    return error_body(exc.code, exc.description, HTTP_CODES.get(exc.code, "http_error"))
