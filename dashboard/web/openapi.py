"""The OpenAPI 3.0 document of the read-only REST API, served at /api/v1/openapi.json.

A test runs schemathesis against it: every response must match what is written here.
"""
from flask import Blueprint, jsonify

from dashboard.core.events import ENUMS
from dashboard.web.context import services
from dashboard.web.params import MAX_EVENT_ID, MAX_JOB_ID

bp = Blueprint("openapi", __name__)


def _obj(required=(), **props):
    return {"type": "object", "required": list(required), "properties": props}


STR = {"type": "string"}
NSTR = {"type": "string", "nullable": True}
NINT = {"type": "integer", "nullable": True}
NUM = {"type": "number"}
ANY = {}
DEVICE = _obj(("hostname", "state", "health"), hostname=STR, device_type=NSTR, state=NSTR,
              health=NSTR, worker=NSTR, job=NINT, since=NSTR, updated=NSTR)
JOB = _obj(("id", "state", "health"), id={"type": "integer"}, submitter=NSTR, description=NSTR,
           state=NSTR, health=NSTR, priority=NINT, submit_time=NSTR, start_time=NSTR,
           end_time=NSTR, health_check={"type": "boolean", "nullable": True}, device_type=NSTR,
           device=NSTR, worker=NSTR)
WORKER = _obj(("hostname", "state", "health", "devices"), hostname=STR, state=NSTR, health=NSTR,
              devices={"type": "array", "items": STR}, since=NSTR, updated=NSTR)
EVENT = _obj(("id", "uuid", "time", "kind", "topic", "data", "frames"), id={"type": "integer"},
             uuid=STR, time=STR, kind={"type": "string", "description": "device, job, worker, "
                                       "event, correction, or another topic suffix"}, topic=STR, username=NSTR, job=NINT, device=NSTR,
             worker=NSTR, submitter=NSTR, device_type=NSTR, state=NSTR, health=NSTR,
             data={"type": "object"}, frames={"type": "array", "items": STR, "minItems": 5, "maxItems": 5})
DEVICE_JOB = _obj(("id", "time"), id={"type": "integer"}, time=STR, state=NSTR, health=NSTR,
                  health_check={"type": "boolean", "nullable": True}, description=NSTR, submitter=NSTR,
                  device_type=NSTR, submit_time=NSTR, start_time=NSTR, end_time=NSTR,
                  hidden={"type": "boolean"})
TRANSITION = _obj(("id", "time"), id={"type": "integer"}, time=STR, state=NSTR, health=NSTR,
                  worker=NSTR, job=NINT, correction={"type": "boolean"})
NNUM = {"type": "number", "nullable": True}
ALERT = _obj(("id", "key", "rule", "subject", "status", "message", "fired_at", "jobs", "hidden_jobs"),
             id=STR, key=STR, rule=STR, subject_kind=NSTR, subject=STR, device_type=NSTR,
             severity=NSTR, message=STR, status={"type": "string", "enum": ["firing", "resolved"]},
             fired_at=STR, resolved_at=NSTR, acked_at=NSTR, notifications=NINT,
             acked={"type": "boolean", "description": "acknowledged by someone"},
             acked_by={"type": "string", "nullable": True,
                       "description": "who acknowledged it: null to a viewer its lab's LAVA does "
                                      "not know, even when `acked`"},
             jobs={"type": "array", "items": {"type": "integer"}},
             hidden_jobs={"type": "integer", "description": "jobs this viewer may not see"})
ALERT_PARAMS = [
    {"name": "status", "in": "query", "required": False,
     "schema": {"type": "string", "enum": ["firing", "resolved", "all"]}, "description": "default all"},
    {"name": "since", "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"},
     "description": "fired at or after this time"},
    {"name": "until", "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"},
     "description": "fired before this time"},
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 1000}, "description": "at most (100)"},
]
REPORT_ROW = _obj(("name", "availability", "utilisation", "failures", "jobs_run"), name=STR,
                  availability=NNUM, utilisation=NNUM, failures={"type": "integer"},
                  mtbf_hours=NNUM, mttr_hours=NNUM, health_checks={"type": "integer"},
                  health_check_pass_rate=NNUM, jobs_run={"type": "integer"},
                  jobs_completed={"type": "integer"}, queue_wait_p50_s=NNUM, queue_wait_p95_s=NNUM,
                  known_hours=NUM, days={"type": "array", "description": "[UTC day (epoch), "
                                         "availability or null] for each day of the period",
                                         "items": {"type": "array", "items": NNUM}})
REPORT_PARAMS = [
    {"name": "since", "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"},
     "description": "start of the period (default: 30 days before `until`), rounded down to the hour"},
    {"name": "until", "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"},
     "description": "end of the period, exclusive (default: now), rounded up to the hour and never "
                    "past now; at most 366 days after `since`"},
    {"name": "group", "in": "query", "required": False,
     "schema": {"type": "string", "enum": ["device", "device_type", "worker"]}, "description": "default device"},
]
ERROR_CODES = ["bad_parameter", "history_off", "lab_required", "not_found", "unauthorized", "forbidden",
               "method_not_allowed", "bad_request", "too_large", "too_many", "wall_link", "lava_unavailable",
               "internal_error", "http_error", "access_mismatch", "body_timeout", "unavailable",
               "store_unavailable"]
ERROR = _obj(("ok", "error", "code"), ok={"type": "boolean", "enum": [False]}, error=STR,
             code={"type": "string", "enum": ERROR_CODES})


def _ok(**props):
    return _obj(["ok", *props], ok={"type": "boolean", "enum": [True]}, **props)


def _q(name, schema, description):
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path(name):
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


NAME_Q = {"type": "string", "minLength": 1, "maxLength": 200}


def _one_of(kind, field):
    """A live listing's state or health: one of the values LAVA gives (others are a 400)."""
    return {"type": "string", "enum": list(ENUMS[kind][field])}


FILTER_PARAMS = [
    _q("kind", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
       "device, job (or its alias testjob, LAVA's topic suffix), worker, event, correction, "
       "or another topic suffix"),
    _q("device", NAME_Q, "device hostname"),
    _q("job", {"type": "integer", "minimum": 0, "maximum": MAX_JOB_ID}, "job id"),
    _q("worker", NAME_Q, "worker hostname"),
    _q("submitter", NAME_Q, "job submitter"),
    _q("device_type", NAME_Q, "device type"),
    _q("since", {"type": "string", "format": "date-time"}, "from this time (ISO 8601, inclusive)"),
    _q("until", {"type": "string", "format": "date-time"}, "up to this time (exclusive)"),
]
WINDOW = _q("window", {"type": "string", "enum": ["24h", "7d"]}, "time window")
# Several labs (docs/labs.md): which lab; a dashboard of one unnamed lab answers 400 to it.
LAB = _q("lab", {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$"},
         "several labs (docs/labs.md): the lab (needed by one object and by history; the live "
         "lists without it are every lab's); it also names the LAVA that checks a token, "
         "unless token_lab does")
TOKEN_LAB = _q("token_lab", {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$"},
               "several labs (docs/labs.md): the lab whose LAVA checks the Authorization: Token "
               "(else `lab`), so that one lab's token reads another lab's data as its anonymous "
               "visitors see it, and is never sent to that lab's LAVA")


def _export(summary, schema, media="application/json"):
    """An export: the filters and `after_id`, and the headers that say whether it is whole."""
    params = FILTER_PARAMS + [_q("after_id", {"type": "integer", "minimum": 0,
                                              "maximum": MAX_EVENT_ID},
                                 "start after this event id (the next part of a cut export)")]
    operation = _get(summary, schema, params, media)
    operation["get"]["responses"]["200"]["headers"] = {
        "X-Export-Complete": {"schema": {"type": "string", "enum": ["true", "false"]},
                              "description": "false: the range holds more than this export "
                                             "(--export-max); Link gives the next part"},
        "Link": {"schema": STR, "description": '<next part>; rel="next", when not complete'}}
    return operation


def _get(summary, schema, params=(), media="application/json", not_found=False, forbidden=False):
    responses = {"200": {"description": "OK", "content": {media: {"schema": schema}}},
                 "400": {"description": "A bad parameter", "content": {"application/json": {"schema": ERROR}}}}
    # The WSGI server refuses request lines over 8 KB before the app sees them.
    responses["414"] = {"description": "URI too long (answered by the web server itself)"}
    # --access login without a viewer, or a token LAVA does not know (docs/security.md).
    responses["401"] = {"description": "Sign in first", "content": {"application/json": {"schema": ERROR}}}
    if forbidden:
        responses["403"] = {"description": "Not for this viewer (docs/security.md)",
                            "content": {"application/json": {"schema": ERROR}}}
    if not_found:
        responses["404"] = {"description": "Unknown object", "content": {"application/json": {"schema": ERROR}}}
    responses["503"] = {"description": "The event store cannot be read now (`store_unavailable`, "
                                       "with Retry-After: an output that reads it), or a cluster's "
                                       "web process serves nothing (`access_mismatch`: docs/security.md)",
                        "content": {"application/json": {"schema": ERROR}}}
    return {"get": {"summary": summary, "parameters": list(params), "responses": responses}}


def _ack():
    """POST /api/v1/alerts/<id>/ack (docs/alerts.md): a signed-in viewer acknowledges a firing
    alert; a page signed in by its cookie sends the X-CSRF-Token that /api/v1/whoami gives."""
    def error(description):
        return {"description": description, "content": {"application/json": {"schema": ERROR}}}
    return {"post": {
        "summary": "Acknowledge a firing alert (a signed-in viewer, named on it)",
        "parameters": [_path("id"), LAB,
                       {"name": "X-CSRF-Token", "in": "header", "required": False,
                        "schema": {"type": "string"},
                        "description": "needed with the session cookie (GET /api/v1/whoami)"}],
        "responses": {"200": {"description": "Acknowledged", "content": {"application/json": {
                          "schema": _ok(alert=ALERT)}}},
                      "400": error("Alerts off, a bad lab, or a missing or stale X-CSRF-Token"),
                      "401": error("Sign in first"),
                      "403": error("Not a signed-in viewer of this lab (docs/security.md)"),
                      "404": error("No firing alert has this id"),
                      "429": error("Too many tokens LAVA refused from this address"),
                      "503": error("The ingest process, or LAVA, cannot answer now")}}}


def _busy(path):
    """A path whose answers one address may have at most a few built at once (web/api.py): more
    are answered 429 `too_many`, with `retry_after` and Retry-After."""
    path["get"]["responses"]["429"] = {
        "description": "This address has answers of the whole model being built already: ask "
                       "again after retry_after seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": ERROR}}}
    return path


def with_labs(doc):
    """The document of a dashboard of several labs: every path takes `lab` (docs/labs.md). (One
    unnamed lab's takes none: it answers 400 to it.)"""
    for path in doc["paths"].values():
        for method, operation in path.items():
            if method in ("get", "post"):  # (a path's own `parameters` is a list)
                operation["parameters"] = [*operation.get("parameters", []), LAB, TOKEN_LAB]
    return doc


def document():
    """The OpenAPI document as a dict."""
    arr = lambda item: {"type": "array", "items": item}  # noqa: E731
    return {
        "openapi": "3.0.3",
        "info": {"title": "LAVA Live Dashboard API", "version": "1",
                 "description": "Read-only. Live objects use LAVA's field names; errors are "
                                "{\"ok\": false, \"error\": \"...\", \"code\": \"...\"} "
                                "(code bad_parameter, history_off, not_found, ...). A job's events "
                                "have the kind `job` (LAVA's topic says testjob). The live protocol "
                                "is Socket.IO: see docs/protocol.md."},
        "paths": {
            "/api/v1/state": _busy(_get("The whole live model with its sequence number",
                                        _ok(seq={"type": "integer"}, devices=arr(DEVICE),
                                            jobs=arr(JOB), workers=arr(WORKER),
                                            events=arr({"type": "object"})))),
            "/api/v1/devices": _get("Devices", _ok(seq={"type": "integer"}, devices=arr(DEVICE)), [
                _q("device_type", NAME_Q, ""), _q("worker", NAME_Q, ""),
                _q("health", _one_of("device", "health"), ""), _q("state", _one_of("device", "state"), "")]),
            "/api/v1/devices/{hostname}": {**_get("One device, its recent transitions and since "
                                                  "when it has its health (from the store)",
                                                  _ok(device={**DEVICE, "nullable": True},
                                                      transitions=arr(TRANSITION),
                                                      health_since={**NSTR, "description": (
                                                          "when it entered its current health: its first "
                                                          "stored transition into it after its last one "
                                                          "with another (corrections count); null when "
                                                          "the store has no health of it, or another than "
                                                          "the model's; without a store, the model's since")}),
                                                  not_found=True),
                                           "parameters": [_path("hostname")]},
            "/api/v1/devices/{hostname}/timeline": {**_get(
                "State and health bands of one device",
                _ok(device=STR, bands=arr(_obj(("from", "to", "state", "health", "category"),
                                               **{"from": NUM, "to": NUM, "state": NSTR,
                                                  "health": NSTR, "category": STR}))),
                [WINDOW], not_found=True), "parameters": [_path("hostname")]},
            "/api/v1/devices/{hostname}/jobs": {**_get(
                "The last jobs that ran on one device (from the store, newest first) and its last "
                "finished health check; a private job the viewer may not see: id, state, outcome",
                _ok(device=STR, jobs=arr(DEVICE_JOB), last_health_check={**DEVICE_JOB, "nullable": True}),
                [_q("limit", {"type": "integer", "minimum": 1, "maximum": 50}, "how many jobs (10)")]),
                "parameters": [_path("hostname")]},
            "/api/v1/jobs": _get("Jobs of the live model", _ok(seq={"type": "integer"}, jobs=arr(JOB)), [
                _q("state", _one_of("testjob", "state"), ""), _q("submitter", NAME_Q, ""),
                _q("device_type", NAME_Q, ""), _q("device", NAME_Q, "")]),
            "/api/v1/jobs/{job_id}": {**_get("One job, its path through the states and its newest "
                                             "1,000 messages (oldest first)",
                                             _ok(job={"type": "object"}, path=arr({"type": "object"}),
                                                 messages=arr({"type": "object"}),
                                                 truncated={"type": "boolean", "description":
                                                            "older messages are left out"},
                                                 left_out={"type": "integer", "minimum": 0,
                                                           "description": "how many"}),
                                             not_found=True),
                                      "parameters": [{"name": "job_id", "in": "path", "required": True,
                                                      "schema": {"type": "integer", "minimum": 0}}]},
            "/api/v1/workers": _get("Workers", _ok(seq={"type": "integer"}, workers=arr(WORKER)), [
                _q("state", _one_of("worker", "state"), ""), _q("health", _one_of("worker", "health"), "")]),
            "/api/v1/workers/{hostname}": {**_get("One worker and its recent transitions",
                                                  _ok(worker={**WORKER, "nullable": True},
                                                      transitions=arr(TRANSITION)), not_found=True),
                                           "parameters": [_path("hostname")]},
            "/api/v1/events": _get("Stored events, newest first, with cursor pagination",
                                   _ok(events=arr(EVENT), next=NSTR), [
                                       *FILTER_PARAMS,
                                       _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"),
                                       _q("before", {"type": "integer", "minimum": 0, "maximum": MAX_EVENT_ID},
                                          "cursor: events with a smaller id (use `next`)")]),
            "/api/v1/stats/events": _get("Events per hour or per day, by kind",
                                         _ok(bucket=STR, series={"type": "object"}),
                                         [*FILTER_PARAMS, _q("bucket", {"type": "string", "enum": ["hour", "day", "second"]}, "second: the last minute by default, at most an hour")],
                                         forbidden=True),
            "/api/v1/stats/utilisation": _get("Share of time per category and device type",
                                              _ok(device_types={"type": "object"}),
                                              [WINDOW, _q("device_type", NAME_Q, ""), _q("worker", NAME_Q, ""),
                                               _q("device", NAME_Q, "")]),
            "/api/v1/stats/outcomes": _get("Finished jobs per day and outcome", _ok(days={"type": "object"}),
                                           [_q("days", {"type": "integer", "minimum": 1, "maximum": 365}, ""),
                                            _q("device_type", NAME_Q, ""), _q("submitter", NAME_Q, ""),
                                            _q("device", NAME_Q, "")]),
            "/api/v1/stats/queue": _get("Queued jobs over time", _ok(step={"type": "integer"}, points=arr(arr(NUM))),
                                        [WINDOW, _q("device_type", NAME_Q, ""), _q("submitter", NAME_Q, "")]),
            "/api/v1/alerts": _get("Alerts, firing and past, newest first (docs/alerts.md)",
                                   _ok(alerts=arr(ALERT), firing={"type": "integer"}), ALERT_PARAMS),
            "/api/v1/alerts/{id}/ack": _ack(),
            "/api/v1/reports": _get("Reliability per device, device type or worker over a period "
                                    "(docs/api.md)", _ok(group=STR, rows=arr(REPORT_ROW),
                                                          **{"from": NUM, "to": NUM}), REPORT_PARAMS),
            "/export/reports.csv": _get("The reliability report as CSV", STR, REPORT_PARAMS,
                                        media="text/csv"),
            "/api/v1/whoami": _get("Who the request is seen as, and the CSRF token a signed-in "
                                   "page sends with its changes",
                                   _ok(access=STR, username=NSTR, lab=NSTR, wall=NSTR,
                                       filter={"type": "object", "nullable": True}, csrf=STR)),
            "/healthz": _get("The dashboard's own health: sources, relay, store, LAVA API, "
                             "cluster, alerts (docs/api.md); open in every access mode",
                             _obj(["status", "ok", "degraded"], status={"type": "string",
                                  "enum": ["ok", "degraded"]}, ok={"type": "boolean"},
                                  degraded=arr(STR))),
            "/feeds/alerts.atom": _get("The newest alerts as an Atom feed", STR, ALERT_PARAMS,
                                       media="application/atom+xml"),
            "/feeds/events.atom": _get("The newest events as an Atom feed", STR, FILTER_PARAMS,
                                       media="application/atom+xml"),
            "/export/events.csv": _export("Events of a time range as CSV (default: the last "
                                          "day)", STR, media="text/csv"),
            "/export/events.json": _export("Events of a time range as JSON (default: the last "
                                           "day)", arr(EVENT)),
        },
    }


@bp.get("/api/v1/openapi.json")
def openapi_json():
    """The document."""
    return jsonify(with_labs(document()) if services().named else document())
