"""JSON endpoints: /healthz and the read-only REST API. One error shape: {"ok": false, "error"}.

/api/v1/state reads the whole model: at 20,000 devices and 40,000 jobs, building and encoding it
in one go held the event loop (every client, every source) for a quarter of a second or more, and
any viewer could ask again and again. So it is built in slices that give the loop back
(live.limits.Pause), once for everyone who asks the same at the same moment, kept while the model
and what LAVA said of private jobs are unchanged (live.limits.BuiltOnce), and at most
MAX_BUILDS_PER_ADDRESS are built at once for one client address (more: 429 `too_many`, with
`retry_after`). docs/performance.md, "Whole-model answers".
"""
import types

import orjson
from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from dashboard.core import jsontext
from dashboard.core.redact import redact
from dashboard.live import gcpause
from dashboard.live.health import labs_summary, store_health, summary as health_summary
from dashboard.live.limits import BuiltOnce, Busy, Pause, PerAddress
from dashboard.web.auth import client_address, viewing
from dashboard.web.context import (StoreUnreadable, error_body, lab_name, model, services,
                                   store_of_request, store_read_failed)
from dashboard.web.params import BadParameter

bp = Blueprint("api", __name__)
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "too_large",
              500: "internal_error", 401: "unauthorized", 403: "forbidden", 429: "too_many"}
MAX_BUILDS_PER_ADDRESS = 2  # whole-model answers being built at once for one client address
CHUNK = 500  # objects judged and encoded between two looks at the clock (Pause)
# How long a built answer is kept, at most, while its tag holds. A viewer who sees everything sees
# what the model's seq says; another's answer also depends on what LAVA said of private jobs,
# whose answers lapse with age (core.visibility.MAX_AGE) without any change being numbered.
KEEP_SEEING_ALL = 60.0
KEEP_PER_VIEWER = 5.0
SECTIONS = ("devices", "jobs", "workers", "events")  # of a snapshot, in the answer's order
_EMPTY = dict.fromkeys(SECTIONS, ())


@bp.app_errorhandler(BadParameter)
def bad_parameter(exc):
    """Every bad query parameter, anywhere: 400 with the one error shape."""
    return error_body(400, str(exc), exc.code)


STORE_RETRY_AFTER = 10  # seconds: a client asking again sooner would find the store as it is


def store_unreadable(exc):
    """A read of the store that failed because the store cannot be read now (its PostgreSQL server
    down, its file locked or unreadable: EventStore.cannot_read): 503 in the one error shape,
    `store_unavailable`, with Retry-After; counted in /healthz (`store.read_failures`, `store`
    degraded for a minute) and said in the log at most once a minute. The live view reads
    nothing of the store and is not affected. Any other store error is a defect: Flask's 500."""
    try:
        store = store_of_request()
    except Exception:  # (the request's lab could not be chosen: not a store that failed)
        store = None
    if store is None or not store.cannot_read(exc):
        raise exc
    store_read_failed(store, exc)
    return store_unavailable(exc)


@bp.app_errorhandler(StoreUnreadable)
def store_unavailable(exc):
    """503 `store_unavailable` with Retry-After (store_unreadable), the failure counted already."""
    body, status = error_body(503, "the event store cannot be read now (its database did not "
                              "answer); the live view is not affected: try again later",
                              "store_unavailable")
    body.headers["Retry-After"] = str(STORE_RETRY_AFTER)
    return body, status


def answer_store_errors(app, stores):
    """Answer a read's failure in these stores with store_unreadable: the exception classes each
    says its reads raise (EventStore.read_errors; psycopg's only with PostgreSQL, whose import
    costs start-up a quarter of a second)."""
    for kind in {kind for store in stores if store is not None for kind in store.read_errors()}:
        app.register_error_handler(kind, store_unreadable)


# What a cluster's web process says, in a header of every API answer, while its model may be out of
# date (/healthz `degraded`): REST clients, which have no Socket.IO meta, were not told (an audit).
STALE_BECAUSE = {"redis": "Redis cannot be reached: this model may be out of date",
                 "ingest": "no heartbeat from the ingest process: this model may be out of date",
                 "stream": "the change stream cannot be read: this model may be out of date"}


@bp.after_app_request
def say_stale(response):
    replica = services().replica if request.path.startswith("/api/v1/") else None
    if replica is not None:
        why = [STALE_BECAUSE[name] for name in replica.degraded() if name in STALE_BECAUSE]
        if why:
            response.headers["X-Dashboard-Stale"] = why[0]
    return response


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
        "whole_model": whole_model_stats(),
        "exports": _export_stats(),
        "gc": gcpause.stats(),  # the collector's pauses of the loop (live/gcpause.py)
        # Several labs (docs/labs.md): each one's sources, LAVA API, store and alerts; the
        # sections above then count every lab together and `lava`, `store`, `alerts` are null.
        "labs": labs_summary(ext),
    })
    body["counters"]["over_limit"] = state.over_limit  # objects the model's limits kept out
    body["ok"] = not degraded
    return jsonify(body)


def whole_model_answers():
    """This app's kept whole-model answers and its bound per address (made at first use)."""
    ext = current_app.extensions
    answers = ext.get("whole_model_answers")
    if answers is None:
        socketio = ext["socketio"]  # the async mode's sleep and events
        answers = ext["whole_model_answers"] = types.SimpleNamespace(
            sleep=socketio.sleep, state=BuiltOnce(socketio.server.eio.create_event),
            builds=PerAddress(MAX_BUILDS_PER_ADDRESS))
    return answers


def _export_stats():
    """For /healthz: the exports under way, and those refused (web.feeds.MAX_EXPORTS_PER_ADDRESS)."""
    from dashboard.web.feeds import export_slots
    return export_slots().stats()


def whole_model_stats():
    """For /healthz: the whole-model answers built, reused and shared, and those refused."""
    answers = whole_model_answers()
    metrics = current_app.extensions.get("metrics_registry")
    return {"state": answers.state.stats(), "builds": answers.builds.stats(),
            "metrics": metrics.dashboard.figures.stats() if metrics is not None else None}


@bp.get("/api/v1/state")
def whole_state():
    """The whole live model with its sequence number, as this viewer may see it (built in slices,
    once for all who ask the same at one seq; module docstring)."""
    view = viewing(stored=False)
    state = model()  # the `lab` parameter's, or every lab's
    answers = whole_model_answers()
    address = client_address()
    # Everything that changes what this request is shown: the lab, the viewer (who they are, a
    # wall link's name) and a wall link's filter; the model (epoch and seq); and, unless they
    # see everything, what LAVA has said of private jobs. Different viewers never share.
    key = (lab_name(), view.viewer, view.limit.key if view.limit is not None else None)
    tag = (services().meta["epoch"], state.seq,
           None if view.sees_all else view.visibility.version)

    def build():
        if not answers.builds.enter(address):
            raise Busy(f"this address has {MAX_BUILDS_PER_ADDRESS} answers of the whole model "
                       f"being built already: wait for them", answers.state.retry_after())
        try:
            # The snapshot is taken at once (consistent, one seq); reading it yields.
            return state_body(view, state.snapshot(), Pause(answers.sleep))
        finally:
            answers.builds.leave(address)

    try:
        pieces = answers.state.get(key, tag, build,
                                   KEEP_SEEING_ALL if view.sees_all else KEEP_PER_VIEWER,
                                   size=lambda body: sum(map(len, body)))
    except Busy as busy:
        return too_many(str(busy), busy.retry_after)
    return Response(pieces, mimetype="application/json")  # (a list: Content-Length is set)


def state_body(view, snapshot, pause):
    """{"ok": true, "seq", "devices", "jobs", "workers", "events"} of a LabState.snapshot() as
    `view` (core.visibility.Viewing, the one place that says what a viewer sees) shows it, as
    JSON in pieces (bytes). CHUNK objects at a time are judged and encoded, then pause() may give
    the event loop back. A worker lists its devices (sorted), from the same snapshot's devices."""
    on_worker = {}  # (lab, worker) → hostnames of its devices, as LabState.devices_of says them
    devices = snapshot["devices"]
    for start in range(0, len(devices), CHUNK):
        for device in devices[start:start + CHUNK]:
            if device.get("worker") is not None:
                on_worker.setdefault((device.get("lab") or "", device["worker"]),
                                     []).append(device["hostname"])
        pause()
    pieces = [b'{"ok":true,"seq":%d' % snapshot["seq"]]
    for name in SECTIONS:
        pieces.append(b',"%s":[' % name.encode())
        items, first = snapshot[name], True
        for start in range(0, len(items), CHUNK):
            shown = view.snapshot(dict(_EMPTY, **{name: items[start:start + CHUNK]}))[name]
            if name == "workers":
                shown = [{**w, "devices": sorted(on_worker.get((w.get("lab") or "",
                                                                w["hostname"]), ()))}
                         for w in shown]
            if shown:
                text = _json(shown)[1:-1]  # the objects, without their list's brackets
                pieces.extend((text,) if first else (b",", text))
                first = False
            pause()
        pieces.append(b"]")
    pieces.append(b"}")
    return pieces


def _json(value):
    """Compact JSON (bytes): orjson's, or Python's where orjson cannot write it exactly
    (core.jsontext)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return jsontext.dumps(value).encode()


def too_many(message, retry_after):
    """429 in the one error shape, with `retry_after` (seconds) and the Retry-After header."""
    response = jsonify({"ok": False, "error": message, "code": "too_many",
                        "retry_after": retry_after})
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


@bp.app_errorhandler(HTTPException)
def http_error(exc):
    """Errors as JSON everywhere: this app has no HTML error pages worth showing."""
    return error_body(exc.code, exc.description, HTTP_CODES.get(exc.code, "http_error"))
