"""REST API v1 (read-only): objects with their history, events with cursor pagination, statistics.

Documented by /api/v1/openapi.json (dashboard/web/openapi.py). Errors: {"ok": false, "error"}; 400 for a
bad parameter, 404 for an unknown object, never a 500 for user input.
"""
import collections
import json
import math
import time

from urllib.parse import urlencode

from flask import Blueprint, jsonify, request

from dashboard.core import statistics as history
from dashboard.core.events import ENUMS, job_id as valid_job_id
from dashboard.core.state import CORRECTION_KIND
from dashboard.web import params, reports
from dashboard.web.context import error_body, in_thread as _in_thread, require_store as _store
from dashboard.web.context import lab_name, model, services, store_of_request
from dashboard.core.visibility import corrects_only_hidden, redact_job
from dashboard.web.auth import ask_about, viewing
from dashboard.web.paging import visible_page
from dashboard.web.withheld import lab_withheld
from dashboard.web.protocol import public_event, public_kind, stored_kind

bp = Blueprint("history_api", __name__)
PAGE_MAX = 1000
TRANSITIONS = 100
# Counts by bucket, kind and job a restricted viewer's chart reads (stats_events), at most.
MAX_COUNTED_GROUPS = 100_000
# Corrections a restricted viewer's chart reads (stats_events), at most: a reconciliation makes a
# handful, and each is read whole (which of them the viewer is shown is in its data).
MAX_COUNTED_CORRECTIONS = 20_000
# The kinds of objects' own changes (and the dashboard's corrections of them): what anyone may
# see of a job (its state changes), counted from the roll-ups for everyone.
STORED_OBJECT_KINDS = ("device", "testjob", "worker", CORRECTION_KIND)
OBJECT_KINDS = tuple(public_kind(kind) for kind in STORED_OBJECT_KINDS)
JOB = stored_kind("job")  # as the store keeps a job's events (LAVA's topic suffix, testjob)


def _listing(name, table, key, fields, kind):
    """The objects of one table of the live model whose `fields` equal the query's, by `key`, as
    this viewer may see them (a filter matches what they may see, never a hidden field)."""
    wanted = {f: params.text(request.args, f) for f in fields}
    for f, allowed in ENUMS[stored_kind(kind)].items():  # the model holds no other value
        if wanted.get(f) is not None and wanted[f] not in allowed:
            raise params.BadParameter(f"{f}: expected one of {', '.join(allowed)}")
    view = viewing(stored=False)
    shown = (view.obj(kind, v) for v in table.values())
    out = [v for v in shown if v is not None
           and all(w is None or v.get(f) == w for f, w in wanted.items())]
    if kind == "worker":  # with their devices, sorted now (the model keeps them as a set)
        out = [model().with_devices(w) for w in out]
    # Several labs: by lab, then id (ids are unique within a lab only).
    return jsonify({"ok": True, "seq": services().state.seq,
                    name: sorted(out, key=lambda o: (o.get("lab", ""), o[key]))})


@bp.get("/api/v1/devices")
def devices():
    """Devices of the live model, optionally filtered."""
    return _listing("devices", model().devices, "hostname",
                    ("device_type", "worker", "health", "state"), "device")


@bp.get("/api/v1/devices/<hostname>")
def device(hostname):
    """One device with its recent transitions (newest first) and since when it has its health."""
    hostname = params.path_name(hostname)
    if _withheld_device(hostname):  # as of a board never known (LAVA answers 404 too)
        return error_body(404, f"no device {hostname!r}", "not_found")
    return _with_transitions("device", model(required=True).devices, hostname)


def _withheld():
    """The request's lab's stored history withheld from everyone (core.withheld), or None."""
    return lab_withheld(lab_name(required=True))


def _withheld_device(hostname):
    """Whether everything about this board is withheld here: LAVA hides it now."""
    withheld = _withheld()
    return withheld is not None and withheld.device(hostname)


def _withheld_filter(filters):
    """Whether a query's device, device_type or job filter names what is withheld here (its
    answer is then that of a board, type or job with no history)."""
    withheld = _withheld()
    return withheld is not None and (
        (filters.get("device") is not None and withheld.device(filters["device"]))
        or (filters.get("device_type") is not None and withheld.device_type(filters["device_type"]))
        or (filters.get("job") is not None and withheld.job(filters["job"])))


def _excluded(body=None):
    """(the request's lab's withheld boards and types for an aggregate's query, or None; False
    when there are too many to leave out: the aggregate is not given, and `body` says why)."""
    withheld = _withheld()
    if withheld is None:
        return None
    if withheld.too_many:
        if body is not None:
            body.setdefault("left_out", {})["withheld"] = withheld.why()
        return False
    return withheld.excluded


DEVICE_JOBS_MAX = 50
DEVICE_JOB_ROWS = 2000  # stored job rows read to find them (a job leaves a handful)
JOB_SUMMARY = ("state", "health", "health_check", "description", "submitter", "device_type",
               "submit_time", "start_time", "end_time")


@bp.get("/api/v1/devices/<hostname>/jobs")
def device_jobs(hostname):
    """The last jobs that ran on one device, newest first, each as its last stored state (a
    private job the viewer may not see: its id, state and outcome only, as LAVA's device page
    shows it), and the device's last finished health check among the rows read."""
    hostname = params.path_name(hostname)
    limit = params.integer(request.args, "limit", 10, 1, DEVICE_JOBS_MAX)
    store = _store()
    if _withheld_device(hostname):  # as of a board with no stored jobs
        return jsonify({"ok": True, "device": hostname, "jobs": [], "last_health_check": None})
    rows = _in_thread(store.events, {"kind": JOB, "device": hostname}, limit=DEVICE_JOB_ROWS)
    latest = {}
    for row in rows:  # newest first: the first row of each job is its last state
        if row["job"] is not None and row["job"] not in latest:
            latest[row["job"]] = row
    view = viewing(list(latest))

    def summary(job_id, row):
        data = row["data"] or {}
        job = {"id": job_id, "time": row["time"], **{f: data.get(f) for f in JOB_SUMMARY}}
        # Whether it was a health check stays: LAVA's device pages show that of every job.
        return job if view.job_visible(job_id) else dict(redact_job(job), health_check=job["health_check"])
    jobs = [summary(job_id, row) for job_id, row in latest.items()]
    check = next((j for j in jobs if j.get("health_check") and j.get("state") == "Finished"), None)
    return jsonify({"ok": True, "device": hostname, "jobs": jobs[:limit], "last_health_check": check})


def _with_transitions(kind, table, hostname):
    """A device or worker of the model and its last stored transitions; 404 if neither knows it."""
    obj = table.get(hostname)
    if kind == "worker":
        obj = model(required=True).with_devices(obj)
    rows, since = [], None
    store = store_of_request()
    if store is not None:
        def read():
            return (store.events({"kind": kind, kind: hostname}, limit=TRANSITIONS, corrections=True),
                    store.health_since(hostname) if kind == "device" else None)
        rows, since = _in_thread(read)
    if obj is None and not rows:
        return error_body(404, f"no {kind} {hostname!r}", "not_found")
    out = {"ok": True, kind: obj, "transitions": [_transition(r) for r in rows]}
    if kind == "device":
        # From the store, not the model's `since` (which any state change moves, and a REST
        # reconcile leaves null); null when the store's last health is not the model's. Without
        # a store the model's `since` is all there is.
        agrees = since is not None and (obj is None or obj.get("health") == since[0])
        out["health_since"] = ((obj or {}).get("since") if store is None
                               else since[1] if agrees else None)
    return jsonify(out)


@bp.get("/api/v1/devices/<hostname>/timeline")
def device_timeline(hostname):
    """State and health bands of one device over a window (24h by default)."""
    hostname = params.path_name(hostname)
    window = params.DURATIONS[params.choice(request.args, "window", ("24h", "7d"), "24h")]
    end = time.time()
    start = end - window
    store = _store()
    if _withheld_device(hostname):  # as of a board never known
        return error_body(404, f"no device {hostname!r}", "not_found")

    def read():
        before = store.state_before("device", "device", start, {"device": hostname})
        rows = store.rows("device", start, end, {"device": hostname})
        return history.device_timeline(before, rows, start, end)
    bands = _in_thread(read)
    if not bands and hostname not in model(required=True).devices:
        return error_body(404, f"no device {hostname!r}", "not_found")
    return jsonify({"ok": True, "device": hostname, "from": start, "to": end, "bands": bands})


def _transition(row):
    return {"id": row["id"], "time": row["time"], "state": row["state"], "health": row["health"],
            "worker": row["worker"], "job": row["job"], "correction": row["kind"] == CORRECTION_KIND}


@bp.get("/api/v1/jobs")
def jobs():
    """Jobs of the live model (unfinished and recently finished), optionally filtered."""
    return _listing("jobs", model().jobs, "id",
                    ("state", "submitter", "device_type", "device"), "job")


NOT_MESSAGES = (JOB, "device", "worker", CORRECTION_KIND)  # a job's rows that are not its messages


@bp.get("/api/v1/jobs/<job_id>")
def job(job_id):
    """One job with its path through the states and its newest PAGE_MAX messages, oldest first
    (`truncated` and `left_out` say how many older ones are not in the answer)."""
    if not (job_id.isascii() and job_id.isdigit()):  # "abc", "-1", "1.5": no job id at all
        raise params.BadParameter("job_id: expected a job's id, a whole number from 0")
    if len(job_id) > 19 or valid_job_id(int(job_id)) is None:  # past the store's integers
        return error_body(404, f"no job {job_id[:40]}", "not_found")
    job_id = int(job_id)
    view = viewing()
    visible = view.job_visible(job_id)
    obj = model(required=True).jobs.get(job_id)
    store = store_of_request()
    steps, rows, total = [], [], 0

    def read():
        # Its state changes and their corrections (a handful), then its messages, newest first.
        steps = store.events({"job": job_id, "kind": JOB}, limit=PAGE_MAX, newest_first=False,
                             corrections=True)
        if not visible:  # what LAVA's device pages show of it, and no messages
            return [r for r in steps if not corrects_only_hidden(r)], [], 0
        rows = store.events({"job": job_id}, limit=PAGE_MAX, exclude_kinds=NOT_MESSAGES)
        total = len(rows) if len(rows) < PAGE_MAX else store.count({"job": job_id}, NOT_MESSAGES)
        return steps, rows[::-1], total
    if store is not None:
        steps, rows, total = _in_thread(read)
    if not visible and (obj is not None or steps):  # a job it knows: asked about, for next time
        ask_about([job_id])
    if obj is None:
        last = [r for r in steps if r["kind"] == JOB]
        withheld = view.withheld
        if not last or (withheld is not None and any(
                withheld.row(r["device"], r["device_type"], job_id) for r in steps)):
            # (A job on a board LAVA hides now, or queued for a type only such boards have: as
            # of a job never known.)
            return error_body(404, f"no job {job_id}", "not_found")
        obj = dict(last[-1]["data"], id=job_id)
        obj.pop("job", None)
    if not visible:
        obj = redact_job(obj)
    path = [{"time": r["time"], "state": r["state"], "health": r["health"], "device": r["device"],
             "correction": r["kind"] == CORRECTION_KIND} for r in steps]
    messages = [{"time": r["time"], "message": r["data"].get("message"), "kind": r["kind"]}
                for r in rows]
    left_out = max(0, total - len(messages))
    return jsonify({"ok": True, "job": obj, "path": path, "messages": messages,
                    "truncated": left_out > 0, "left_out": left_out})


@bp.get("/api/v1/workers")
def workers():
    """Workers of the live model, optionally filtered."""
    return _listing("workers", model().workers, "hostname", ("state", "health"), "worker")


@bp.get("/api/v1/workers/<hostname>")
def worker(hostname):
    """One worker with its recent transitions (newest first)."""
    hostname = params.path_name(hostname)
    return _with_transitions("worker", model(required=True).workers, hostname)


@bp.get("/api/v1/events")
def events():
    """Stored events, newest first, filtered; `next` is the URL of the following page."""
    a = request.args
    filters, since, until = params.event_filters(a)
    limit = params.integer(a, "limit", 100, 1, PAGE_MAX)
    before = params.integer(a, "before", None, 0, params.MAX_EVENT_ID)
    view = viewing()
    shown, cursor = visible_page(_store(), view, filters, since, until, before, limit)
    nxt = None
    if cursor is not None:
        # Only our own parameters: anything else in the query string is ignored, never echoed.
        known = {k: a[k] for k in (*params.FILTER_NAMES, "since", "until", "limit", "lab")
                 if k in a}
        nxt = request.path + "?" + urlencode(dict(known, before=cursor))
    lab = lab_name(required=True)
    return jsonify({"ok": True, "events": [public_event(r, lab) for r in shown], "next": nxt})


@bp.get("/api/v1/stats/events")
def stats_events():
    """Events per hour (last 24 h), per day (last 30 days) or per second (last minute, at most an
    hour: the page's events-per-minute meter after a reload), by kind."""
    a = request.args
    bucket = params.choice(a, "bucket", ("hour", "day", "second"), "hour")
    width, default = {"hour": (3600, 86400), "day": (86400, 30 * 86400), "second": (1, 60)}[bucket]
    filters, since, until = params.event_filters(a)
    # (`is None`, not `or`: epoch 0, since=1970-01-01T00:00:00Z, is a time that was given.)
    until = time.time() if until is None else until
    since = until - default if since is None else since
    if bucket == "second" and until - since > 3600:
        raise params.BadParameter("bucket=second covers at most an hour (since to until)")
    store = _store()  # first: several labs and no `lab` is a 400, whatever else is asked
    view = viewing()
    if "submitter" in filters and not view.sees_all:
        # Counts by submitter would include private jobs' rows, which cannot be told apart here.
        return error_body(403, "events per hour by submitter need a viewer who may see every "
                          "job (docs/security.md)", "forbidden")
    if filters.get("job") is not None and not view.job_visible(filters["job"]):
        # A job's test-shell messages per hour are its data: not for a viewer who may not see it.
        return error_body(403, "events per hour of a job need a viewer who may see that job "
                          "(docs/security.md)", "forbidden")
    body = {"ok": True, "bucket": bucket, "from": since, "to": until}
    exclude = _excluded(body)  # the boards LAVA hides now: counted for no one
    if exclude is False or _withheld_filter(filters):
        return jsonify(dict(body, series=history.series_by_kind([])))
    rows = [(ts, public_kind(kind), n) for ts, kind, n in _in_thread(
        store.buckets, width, since, until, filters, exclude=exclude)]
    if not view.sees_all:
        # The roll-ups count every job's test-shell messages (and other topics naming a job),
        # private ones too: how many messages a job the viewer may not see sent, second by second,
        # is its data. For such a viewer those kinds are counted from the rows, by job, only the
        # jobs they may see; past MAX_COUNTED_GROUPS (bucket, kind, job) counts in the window
        # they are left out, and the answer says why.
        # Corrections too are counted from the rows: one of a private job's hidden fields alone is
        # shown to no such viewer, not even that it happened (core.visibility.corrects_only_hidden).
        rows = [row for row in rows if row[1] in OBJECT_KINDS and row[1] != CORRECTION_KIND]
        if filters.get("kind") in (None, CORRECTION_KIND):
            shown = _in_thread(_shown_corrections, store, width, since, until, filters, view,
                               exclude=exclude)
            if shown is None:
                body["left_out"] = {CORRECTION_KIND: f"more than {MAX_COUNTED_CORRECTIONS:,} "
                                    "corrections in the window: counted only for a viewer who "
                                    "may see every job (docs/security.md)"}
            else:
                rows = sorted(rows + shown)
        if filters.get("kind") not in STORED_OBJECT_KINDS:
            shown = _in_thread(_shown_messages, store, width, since, until, filters, view,
                               exclude=exclude)
            if shown is None:
                body.setdefault("left_out", {})["event"] = (
                    f"more than {MAX_COUNTED_GROUPS:,} counts of jobs' messages in the window: "
                    "counted only for a viewer who may see every job (docs/security.md)")
            else:
                rows = sorted(rows + shown)
    return jsonify(dict(body, series=history.series_by_kind(rows)))


def _shown_messages(store, width, since, until, filters, view, most=None, exclude=None):
    """[(bucket start, kind, n)] of the events other than objects' (test-shell messages, other
    topics) of jobs the viewer may see (or of no job), or None when the window holds more than
    `most` (MAX_COUNTED_GROUPS) counts by bucket, kind and job."""
    most = MAX_COUNTED_GROUPS if most is None else most
    groups = store.job_buckets(width, since, until, filters, STORED_OBJECT_KINDS, limit=most + 1,
                               exclude=exclude)
    if len(groups) > most:
        return None
    counts, visible = collections.Counter(), {}
    for b, kind, job, n in groups:
        if job not in visible:
            visible[job] = job is None or view.job_visible(job)
        if visible[job]:
            counts[(b, public_kind(kind))] += n
    return [(b, kind, n) for (b, kind), n in counts.items()]


def _shown_corrections(store, width, since, until, filters, view, most=None, exclude=None):
    """[(bucket start, "correction", n)] of the stored corrections this viewer is shown (as
    /api/v1/events shows them), or None when the window holds more than `most`
    (MAX_COUNTED_CORRECTIONS) corrections. Their rows are read (a reconciliation makes a
    handful at most), and the data of a job's alone decoded."""
    most = MAX_COUNTED_CORRECTIONS if most is None else most
    found = store.rows(CORRECTION_KIND, since, until, {k: v for k, v in filters.items()
                                                       if k != "kind"},
                       columns=("ts", "kind", "job", "data"), limit=most + 1,
                       exclude=exclude)
    if len(found) > most:
        return None
    counts = collections.Counter(
        math.floor(row["ts"] / width) * width for row in found
        if row["job"] is None or view.row(dict(row, data=json.loads(row["data"]))) is not None)
    return [(b, CORRECTION_KIND, n) for b, n in counts.items()]


def _window(a):
    window = params.DURATIONS[params.choice(a, "window", ("24h", "7d"), "24h")]
    end = time.time()
    return end - window, end


@bp.get("/api/v1/stats/utilisation")
def stats_utilisation():
    """Share of time Running, Idle, Maintenance, Bad, Retired per device type over 24 h or 7 days."""
    a = request.args
    start, end = _window(a)
    filters = {k: params.text(a, k) for k in ("device_type", "worker", "device")}
    filters = {k: v for k, v in filters.items() if v}
    store = _store()
    body = {"ok": True}
    withheld, exclude = _withheld(), _excluded(body)
    if exclude is False or _withheld_filter(filters):  # (as of a board or type never known)
        lo, hi = reports.period(start, end)
        return jsonify(dict(body, **{"from": lo, "to": hi, "device_types": {}}))
    # From the time roll-ups, over whole hours (as the reports): the window starts at the hour.
    shares, start, end = _in_thread(reports.utilisation, store, start, end, filters,
                                    withheld=withheld)
    return jsonify(dict(body, **{"from": start, "to": end, "device_types": shares}))


@bp.get("/api/v1/stats/outcomes")
def stats_outcomes():
    """Finished jobs per UTC day and outcome over the last `days` days (whole days)."""
    a = request.args
    days = params.integer(a, "days", 30, 1, 365)
    filters = {k: params.text(a, k) for k in ("device_type", "submitter", "device")}
    filters = {k: v for k, v in filters.items() if v}
    end = time.time()
    since = (end - days * 86400) // 86400 * 86400  # whole UTC days: the first one's start
    store = _store()
    body = {"ok": True}
    exclude = _excluded(body)  # the boards LAVA hides now: counted for no one
    if exclude is False or _withheld_filter(filters):
        return jsonify(dict(body, days={}))
    if "submitter" not in filters:  # from the outcomes' roll-up
        return jsonify(dict(body, days=_in_thread(store.outcome_days, since, end, filters,
                                                  exclude=exclude)))
    rows = _in_thread(store.outcomes, since, end, filters, exclude=exclude)
    view = viewing()  # only the jobs this viewer may see are theirs to count by submitter
    rows = [r for r in rows if view.job_visible(r["job"])]
    return jsonify(dict(body, days=history.outcomes_per_day(rows)))


def queue_of_shown_types(store, withheld, start, end, step):
    """The queue of every type together without the types withheld (core.withheld): that of all
    types, when no job of theirs was queued in the window; else the sum of each shown type's
    most queued in each step (their peaks may fall at different moments of a step: never less
    than the true most, and never a withheld type's job)."""
    hidden = store.queue_points_of(withheld.types, start, end, step)
    if not any(n for points in hidden.values() for _, n in points):
        return store.queue_points(None, start, end, step)
    steps = [t for t, _ in next(iter(hidden.values()))]  # (every type's: the same steps)
    total = [0] * len(steps)
    for points in store.queue_points_of([t for t in withheld.shown_types if t], start, end,
                                        step).values():
        for i, (_, n) in enumerate(points):
            total[i] += n
    return list(zip(steps, total))


@bp.get("/api/v1/stats/queue")
def stats_queue():
    """Jobs waiting in the queue over time (24 h in 15-minute steps, or 7 days hourly)."""
    a = request.args
    start, end = _window(a)
    step = 900 if end - start <= 86400 else 3600
    filters = {k: params.text(a, k) for k in ("device_type", "submitter")}
    filters = {k: v for k, v in filters.items() if v}
    store = _store()
    start = start // step * step  # in steps from a whole step, either way
    body = {"ok": True, "step": step}
    exclude = _excluded(body)  # the boards LAVA hides now: counted for no one
    if exclude is False or _withheld_filter(filters):
        return jsonify(dict(body, points=[]))
    if "submitter" not in filters:  # from the queue's roll-up
        if exclude and exclude[1] and "device_type" not in filters:
            # Every type's queue together holds those of the types LAVA hides now
            points = _in_thread(queue_of_shown_types, store, _withheld(), start, end, step)
        else:
            points = _in_thread(store.queue_points, filters.get("device_type"), start, end, step)
        return jsonify(dict(body, points=points))
    view = viewing()
    # ... its last step the one in progress, stamped at its end, as the roll-up's (an audit found
    # a submitter's chart 421 s off the steps, and a point short)
    last = -(-end // step) * step

    # (A submitter's: only the types' rows left out; a job's rows on a board LAVA hides now left
    # out would make its row from before, queued, its last one.)
    types_only = ((), exclude[1]) if exclude and exclude[1] else None

    def read():
        # A job queued for over a week before the window is not counted: bounded work per request.
        before = store.state_before(JOB, "job", start, filters, lookback=7 * 86400,
                                    exclude=types_only)
        rows = store.rows(JOB, start, end, filters, columns=("ts", "job", "state"),
                          exclude=types_only)
        if "submitter" in filters:  # only the jobs this viewer may see are theirs to count
            before = [r for r in before if view.job_visible(r["job"])]
            rows = [r for r in rows if view.job_visible(r["job"])]
        if view.withheld is not None:  # nor those that ran on a withheld board, or kept out
            before = [r for r in before if not view.withheld.job(r["job"])]
            rows = [r for r in rows if not view.withheld.job(r["job"])]
        return history.queue_length(before, rows, start, last, step)
    return jsonify(dict(body, points=_in_thread(read)))
