"""Reliability reports (core.reports) over a period, per device, device type or worker: JSON at
GET /api/v1/reports, CSV at /export/reports.csv. Read from the stored transitions, the same rows
the charts read, so that for the same period the figures agree."""
import csv
import io
import json
import time

from flask import Blueprint, Response, jsonify, request

from dashboard.core import reports
from dashboard.core.events import parse_time
from dashboard.web import params
from dashboard.web.context import in_thread, require_store
from dashboard.web.protocol import stored_kind

bp = Blueprint("reports", __name__)
DEFAULT_DAYS = 30
MAX_DAYS = 366
DEVICE_COLUMNS = ("ts", "device", "device_type", "worker", "state", "health")
JOB = stored_kind("job")


def _period(args):
    until = params.timestamp(args, "until")
    until = time.time() if until is None else until
    since = params.timestamp(args, "since")
    since = until - DEFAULT_DAYS * 86400 if since is None else since
    if since >= until:
        raise params.BadParameter("since: must be before until")
    if until - since > MAX_DAYS * 86400:
        raise params.BadParameter(f"the period is at most {MAX_DAYS} days")
    return since, until


def _ts(text):
    try:
        return parse_time(text).timestamp() if text else None
    except (ValueError, TypeError, OverflowError):
        return None


def finished_jobs(rows):
    """Each job's first Finished row, with what its data says (health check, submit and start)."""
    seen, out = set(), []
    for row in rows:
        if row["state"] != "Finished" or row["job"] is None or row["job"] in seen:
            continue
        seen.add(row["job"])
        try:
            data = json.loads(row["data"]) if isinstance(row["data"], str) else (row["data"] or {})
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        record = data.get("record") if isinstance(data.get("record"), dict) else data  # a correction
        out.append({"ts": row["ts"], "job": row["job"], "device": row["device"],
                    "device_type": row["device_type"], "worker": row["worker"],
                    "health": row["health"], "health_check": record.get("health_check") is True,
                    "submit_ts": _ts(record.get("submit_time")),
                    "start_ts": _ts(record.get("start_time"))})
    return out


def report(store, since, until, group):
    """{name: figures} of one period (blocking: run it in a thread)."""
    before = store.state_before("device", "device", since, columns=DEVICE_COLUMNS)
    rows = store.rows("device", since, until, columns=DEVICE_COLUMNS)
    jobs = finished_jobs(store.rows(JOB, since, until, columns=(
        "ts", "job", "device", "device_type", "worker", "state", "health", "data")))
    return reports.reliability(before, rows, jobs, since, until, group)


def _query():
    since, until = _period(request.args)
    group = params.choice(request.args, "group", reports.GROUPS, "device")
    store = require_store()
    rows = in_thread(report, store, since, until, group)
    return since, until, group, [{"name": name, **figures} for name, figures in rows.items()]


@bp.get("/api/v1/reports")
def reliability():
    """Availability, utilisation, failures, MTBF, MTTR, health checks, jobs and queue waits."""
    since, until, group, rows = _query()
    return jsonify({"ok": True, "group": group, "from": since, "to": until, "rows": rows})


@bp.get("/export/reports.csv")
def reliability_csv():
    """The same report as CSV."""
    since, until, group, rows = _query()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow((group, *reports.FIELDS))
    for row in rows:
        writer.writerow((row["name"], *("" if row[f] is None else row[f] for f in reports.FIELDS)))
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=report-{group}.csv"})
