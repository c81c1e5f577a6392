"""Reliability reports (core.reports) over a period, per device, device type or worker: JSON at
GET /api/v1/reports, CSV at /export/reports.csv. Read from the time roll-ups the store keeps as it
stores each transition (core.rollups), over whole hours; for the same period the figures agree with
the charts, which read the same transitions (tests/unit/test_reports.py checks both)."""
import csv
import io
import time

from flask import Blueprint, Response, jsonify, request

from dashboard.core import reports, rollups
from dashboard.core.events import EARLIEST as EARLIEST_TIME
from dashboard.web import params
from dashboard.web.context import in_thread, lab_name, require_store
from dashboard.web.withheld import lab_withheld
from dashboard.web.protocol import stored_kind

bp = Blueprint("reports", __name__)
DEFAULT_DAYS = 30
MAX_DAYS = 366
DEVICE_COLUMNS = ("ts", "device", "device_type", "worker", "state", "health")
JOB = stored_kind("job")
EARLIEST = EARLIEST_TIME.timestamp()


def _period(args, now=None):
    now = time.time() if now is None else now
    until = params.timestamp(args, "until")
    until = now if until is None else until
    since = params.timestamp(args, "since")
    since = until - DEFAULT_DAYS * 86400 if since is None else since
    if since >= until:
        raise params.BadParameter("since: must be before until")
    if since >= now:  # (a period wholly ahead was answered as an empty one there: an audit)
        raise params.BadParameter("since: must be before now: a report covers what has happened")
    if until - since > MAX_DAYS * 86400:
        raise params.BadParameter(f"the period is at most {MAX_DAYS} days")
    return since, until


def period(since, until, now=None):
    """The report's period, in whole hours ([since, until) rounded out), never past now, nor
    before the earliest time an event may have (core.events.EARLIEST: no roll-up is older)."""
    now = time.time() if now is None else now
    lo = max(since, EARLIEST) // rollups.HOUR * rollups.HOUR
    hi = min(now, -(-until // rollups.HOUR) * rollups.HOUR)
    return lo, max(lo, hi)


def report(store, since, until, group, now=None, withheld=None):
    """{name: figures} of one period, from the roll-ups (blocking: run it in a thread). The
    period is `period(since, until)`: whole hours, up to now at most. `withheld`: the boards LAVA
    hides now (core.withheld; not too many to leave out), left out of every figure."""
    lo, hi = period(since, until, now)
    table_hi = -(-hi // rollups.HOUR) * rollups.HOUR
    open_days = rollups.open_spans(_shown_spans(store.open_spans(), withheld), lo, hi, group)
    # Queue waits are a device type's figure: jobs wait for a type, not for the board that ran them.
    waits = store.wait_percentiles(int(lo), int(table_hi)) if group == "device_type" else {}
    if withheld is not None and waits:
        # Kept per type only: a type whose jobs ran on a board LAVA hides now mixes their waits
        # in, so it has none here (nor has a type no board shown has).
        mixed = store.job_types_of(withheld.names, int(lo), int(table_hi))
        waits = {t: w for t, w in waits.items() if t not in mixed and not withheld.device_type(t)}
    totals, days = store.time_sums(group, int(lo), int(table_hi),
                                   exclude=withheld.excluded if withheld is not None else None)
    return reports.from_rollups(totals, days, open_days, waits, lo, hi)


def _shown_spans(spans, withheld):
    """The open spans ({device: span}) of the boards not withheld."""
    if withheld is None:
        return spans
    return {d: span for d, span in spans.items() if not withheld.device(d)}


def utilisation(store, since, until, filters=None, now=None, withheld=None):
    """The utilisation chart's figures ({device type: {"seconds", category: share}}) over
    `period(since, until)`, from the time roll-ups: (figures, from, to); `withheld` as report's."""
    lo, hi = period(since, until, now)
    table_hi = -(-hi // rollups.HOUR) * rollups.HOUR
    closed, _ = store.time_sums("device_type", int(lo), int(table_hi), filters, with_days=False,
                                exclude=withheld.excluded if withheld is not None else None)
    opened = rollups.open_spans(_shown_spans(store.open_spans(filters), withheld), lo, hi,
                                "device_type")
    return rollups.shares(closed, opened), lo, hi


def scan_report(store, since, until, group):
    """The same figures by reading every transition of the period: the baseline (bench/store.py,
    tests) the roll-ups are checked against."""
    before = store.state_before("device", "device", since, columns=DEVICE_COLUMNS)
    rows = store.rows("device", since, until, columns=DEVICE_COLUMNS)
    seen, jobs = set(), []
    for row in store.rows(JOB, since, until, columns=(
            "ts", "job", "device", "device_type", "worker", "state", "health", "data")):
        record = rollups.finished_job(row)
        if record is not None and record["job"] not in seen:
            seen.add(record["job"])
            jobs.append(record)
    return reports.reliability(before, rows, jobs, since, until, group)


def _query():
    """(since, until, group, rows, what was left out and why: {} or {"withheld": why})."""
    since, until = _period(request.args)
    group = params.choice(request.args, "group", reports.GROUPS, "device")
    store = require_store()
    since, until = period(since, until)
    withheld = lab_withheld(lab_name(required=True))  # the boards LAVA hides now: for no one
    if withheld is not None and withheld.too_many:
        return since, until, group, [], {"withheld": withheld.why()}
    rows = in_thread(report, store, since, until, group, withheld=withheld)
    return since, until, group, [{"name": name, **figures} for name, figures in rows.items()], {}


@bp.get("/api/v1/reports")
def reliability():
    """Availability, utilisation, failures, MTBF, MTTR, health checks, jobs and queue waits."""
    since, until, group, rows, left_out = _query()
    body = {"ok": True, "group": group, "from": since, "to": until, "rows": rows}
    return jsonify(dict(body, left_out=left_out) if left_out else body)


@bp.get("/export/reports.csv")
def reliability_csv():
    """The same report as CSV."""
    since, until, group, rows, _ = _query()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow((group, *reports.FIELDS))
    for row in rows:  # (without the days: the JSON has them)
        writer.writerow((row["name"], *("" if row[f] is None else row[f] for f in reports.FIELDS)))
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=report-{group}.csv"})
