"""Alerts for people: GET /api/v1/alerts (firing and past), an Atom feed of them, and a signed-in
viewer's acknowledgement. Every alert goes out through the viewer's view: the jobs it refers to are
listed only where the viewer may see them (its message never names a job)."""
import datetime as dt
import hmac
import logging
import xml.etree.ElementTree as ET

from flask import Blueprint, Response, abort, jsonify, request, session

from dashboard.core.events import job_id
from dashboard.live.health import RateLimitedLog
from dashboard.web import params
from dashboard.web.auth import is_token, request_viewer, viewing
from dashboard.web.context import (StoreUnreadable, chosen_lab, error_body, in_thread, services,
                                   store_read_failed)
from dashboard.web.feeds import xml_text
from dashboard.web.withheld import lab_withheld

bp = Blueprint("alerts", __name__)
STATUSES = ("firing", "resolved", "all")
ATOM = "http://www.w3.org/2005/Atom"
FIELDS = ("id", "key", "rule", "subject_kind", "subject", "device_type", "severity", "message",
          "status", "acked_by", "notifications")
# Several labs (docs/labs.md): each keeps its own alerts, so an alert's id is unique in its lab only.
# A store whose alerts cannot be read: said at most once a minute
log = RateLimitedLog(logging.getLogger("dashboard.web.alerts"), interval=60.0)
MAX_READ = 1000  # alerts read at most for one answer (a wall link's, or its count of those firing)


def _iso(ts):
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()


def public_alert(alert, view):
    """An alert as this viewer may see it: times in ISO 8601, jobs only where visible, and who
    acknowledged it only to a viewer its lab's LAVA knows (a LAVA username is not for anonymous
    visitors, or for another lab's viewers: `acked` says whether it is acknowledged)."""
    out = {f: alert.get(f) for f in FIELDS}
    out["acked"] = bool(alert.get("acked_by"))
    viewer = view.viewer
    if not (viewer.sees_all or (viewer.username and viewer.lab == (alert.get("lab") or ""))):
        out["acked_by"] = None
    if alert.get("lab"):
        out["lab"] = alert["lab"]
    out.update(fired_at=_iso(alert["fired_at"]), resolved_at=_iso(alert.get("resolved_at")),
               acked_at=_iso(alert.get("acked_at")))
    jobs = [j for j in alert.get("jobs") or [] if job_id(j) is not None]
    shown = [j for j in jobs if view.job_visible(j, alert.get("lab") or "")]
    out["jobs"], out["hidden_jobs"] = shown, len(jobs) - len(shown)
    return out


def _alerts(status, since, until, limit):
    """(kept alerts (the store), or, without a store, what this process remembers; of the
    request's lab, or (several labs, none chosen) of every lab, each saying its lab; whether
    some were left out as withheld: a short read is then not the whole of them)."""
    ext = services()
    lab = chosen_lab()
    if lab is None and ext.named:
        parts = [_lab_alerts(part, status, since, until, limit) for part in ext.labs]
        rows = [a for found, _ in parts for a in found]
        return (sorted(rows, key=lambda a: -a["fired_at"])[:limit],
                any(left_out for _, left_out in parts))
    return _lab_alerts(lab or ext, status, since, until, limit)


def _lab_alerts(lab, status, since, until, limit):
    """(the alerts of one lab (factory.LabParts), or of the one unnamed lab (factory.Services),
    but those about a board LAVA hides now, or a device type only such boards have
    (core.withheld): shown to no one; whether any were left out so)."""
    withheld = lab_withheld(getattr(lab, "name", ""))
    rows = _lab_alerts_all(lab, status, since, until, limit)
    if withheld is None:
        return rows, False

    def shown(rows):
        return [a for a in rows if not withheld.row(
            a.get("subject") if a.get("subject_kind") == "device" else a.get("device"),
            a.get("device_type"))]
    found = shown(rows)
    left_out = len(found) < len(rows)
    if left_out and len(rows) == limit < MAX_READ:
        # Some left out of a full read: read more, so that `limit` of those shown are found.
        found = shown(_lab_alerts_all(lab, status, since, until, MAX_READ))
    return found[:limit], left_out


def _lab_alerts_all(lab, status, since, until, limit):
    name = getattr(lab, "name", "")
    rows = None
    if lab.store is not None:
        try:
            rows = in_thread(lab.store.alerts, None if status == "all" else status, since, until,
                             limit)
        except Exception as exc:
            if lab.alerts is None:  # (a web process: the ingest process's engine holds them)
                if lab.store.cannot_read(exc):  # 503, counted against this lab's store
                    store_read_failed(lab.store, exc)
                    raise StoreUnreadable(lab.name) from exc
                raise
            # The store cannot be read (its server down): what this process's engine holds, the
            # firing ones and the newest resolved, so that a wall's banner still says them.
            log.warning("store", "cannot read the stored alerts (%s): answering from memory",
                        type(exc).__name__)
    if rows is not None:
        if lab.alerts is not None:
            # A firing alert says what its rule says now (its current figure) in this process's
            # engine; the store gets it at the alert's next save (docs/alerts.md, "Lifecycle").
            live = lab.alerts.book.firing
            rows = [live.get(a["key"], a) if live.get(a["key"], {}).get("id") == a["id"] else a
                    for a in rows]
        return [dict(a, lab=name) for a in rows] if name else rows
    if lab.alerts is None:
        return []
    found = {a["id"]: dict(a, lab=name) if name else a for a in lab.alerts.recent}
    found.update({a["id"]: dict(a, lab=name) if name else a for a in lab.alerts.current()})
    rows = [a for a in found.values() if (status == "all" or a["status"] == status)
            and (since is None or a["fired_at"] >= since) and (until is None or a["fired_at"] < until)]
    return sorted(rows, key=lambda a: -a["fired_at"])[:limit]


def _query():
    status = params.choice(request.args, "status", STATUSES, "all")
    since, until = params.timestamp(request.args, "since"), params.timestamp(request.args, "until")
    if since is not None and until is not None and since > until:
        raise params.BadParameter("since: must not be after until")
    limit = params.integer(request.args, "limit", 100, 1, 1000)
    return status, since, until, limit


@bp.get("/api/v1/alerts")
def list_alerts():
    """Alerts, newest first: `status` firing, resolved or all (default), fired in [since, until)."""
    status, since, until, limit = _query()
    view = viewing(stored=False)
    devices = services().state.devices
    # A wall link's screen: read more, so that `limit` of its own are found among the others.
    asked = limit if view.limit is None else MAX_READ
    read, left_out = _alerts(status, since, until, asked)
    found = [a for a in read if view.alert_in_limit(a, devices)]
    rows = [public_alert(a, view) for a in found[:limit]]
    # Every firing alert this viewer may see, not only the listed rows: one that fired before the
    # `limit` newest is firing still (an audit: past 200 newer alerts, the page's count and banner
    # lost it). The page asks for them (`status=firing`) when the rows hold fewer. Read again only
    # when the first read may have left some out (it was full) or held none (`resolved`).
    complete = status != "resolved" and len(read) < asked and not left_out
    firing = sum(1 for a in (found if complete else _alerts("firing", since, until, MAX_READ)[0])
                 if a["status"] == "firing" and (complete or view.alert_in_limit(a, devices)))
    return jsonify({"ok": True, "alerts": rows, "firing": firing})


@bp.post("/api/v1/alerts/<ident>/ack")
def acknowledge(ident):
    """A signed-in viewer acknowledges a firing alert: named on it, its re-notifications stop."""
    viewer, _ = request_viewer()
    if not viewer.username or viewer.wall:
        return error_body(403, "acknowledging an alert needs a signed-in viewer (with --access "
                          "lava or login), who is named on it", "forbidden")
    # Only a viewer who came with a LAVA token (an API client) goes without it: one who came by the
    # session cookie needs it, whatever else the request carries (a proxy's Basic, which the
    # browser adds to any request, a forged one's too).
    if not is_token(request.headers.get("Authorization")) and not hmac.compare_digest(
            str(request.headers.get("X-CSRF-Token", "")), str(session.get("csrf", "-"))):
        return error_body(400, "missing or stale X-CSRF-Token (GET /api/v1/whoami gives it)",
                          "bad_request")
    lab = chosen_lab(required=True)
    if lab is not None and viewer.lab != lab.name:
        return error_body(403, f"you are signed in to lab {viewer.lab or '(none)'}, and are an "
                          f"anonymous visitor to lab {lab.name}: sign in there to acknowledge its "
                          f"alerts (docs/labs.md)", "forbidden")
    engine = (lab or services()).alerts
    if engine is None and services().replica is not None:  # a web process: the ingest's engine
        return _forwarded(lab, ident, viewer.username)
    if engine is None:
        return error_body(400, "alerts are off in this dashboard (--no-alerts)", "bad_request")
    alert = engine.acknowledge(ident, viewer.username)
    if alert is None:
        abort(404, "no firing alert has this id")
    # The engine's alert does not say its lab; the list's do (public_alert finds its jobs by it).
    return jsonify({"ok": True, "alert": public_alert(dict(alert, lab=lab.name) if lab else alert,
                                                      viewing(stored=False))})


def _forwarded(lab, ident, username):
    """A web process's acknowledgement (the viewer checked above, as in one process): the ingest
    process, which evaluates alerts, acknowledges through Redis (live/cluster_ingest.py) and answers."""
    import redis

    try:
        answer = services().replica.acknowledge(lab.name if lab else "", ident, username)
    except (redis.RedisError, OSError):
        return error_body(503, "Redis cannot be reached, so the ingest process (which evaluates "
                          "alerts) cannot be asked: try again later", "unavailable")
    if answer is None:
        return error_body(503, "the ingest process (which evaluates alerts) did not answer: it "
                          "may be restarting; try again in a moment", "unavailable")
    if not answer["ok"]:
        status = 404 if answer["code"] == "not_found" else 400
        return error_body(status, answer["error"], "not_found" if status == 404 else "bad_request")
    alert = answer["alert"]
    return jsonify({"ok": True, "alert": public_alert(dict(alert, lab=lab.name) if lab else alert,
                                                      viewing(stored=False))})


def answer_forwarded(ext, lab_name, ident, username):
    """In the ingest process: acknowledge for a web process (whose viewer it checked), in the
    shape clusterwire.parse_ack_reply reads."""
    lab = ext.lab(lab_name) if ext.named else None
    if ext.named and lab is None:
        return {"ok": False, "code": "not_found", "error": "no lab has this name"}
    engine = (lab or ext).alerts
    if engine is None:
        return {"ok": False, "code": "no_alerts",
                "error": "alerts are off in this dashboard (--no-alerts)"}
    alert = engine.acknowledge(ident, username)
    if alert is None:
        return {"ok": False, "code": "not_found", "error": "no firing alert has this id"}
    return {"ok": True, "alert": alert}


@bp.get("/feeds/alerts.atom")
def atom():
    """The newest alerts (fired and resolved) as an Atom feed."""
    status, since, until, limit = _query()
    view = viewing(stored=False)
    rows = [public_alert(a, view) for a in _alerts(status, since, until, min(limit, 100))[0]]
    feed = ET.Element("feed", xmlns=ATOM)
    ET.SubElement(feed, "title").text = "LAVA Live Dashboard alerts"
    ET.SubElement(feed, "id").text = request.url
    ET.SubElement(feed, "updated").text = (rows[0]["resolved_at"] or rows[0]["fired_at"]) if rows \
        else dt.datetime.now(dt.timezone.utc).isoformat()
    ET.SubElement(feed, "link", rel="self", href=request.url)
    for alert in rows:
        entry = ET.SubElement(feed, "entry")
        # One entry per episode and state: a resolution is news of its own.
        # An alert's id is unique in its lab only (several labs): the tag and title say the lab.
        lab = alert.get("lab")
        ET.SubElement(entry, "id").text = (f"tag:lava-live-dashboard,alert:{lab + ':' if lab else ''}"
                                           f"{alert['id']}:{alert['status']}")
        state = "RESOLVED" if alert["status"] == "resolved" else "FIRING"
        ET.SubElement(entry, "title").text = (f"[{state}] {f'[{lab}] ' if lab else ''}"
                                              f"{alert['rule']}: {alert['subject']}")
        ET.SubElement(entry, "updated").text = alert["resolved_at"] or alert["fired_at"]
        author = ET.SubElement(entry, "author")
        ET.SubElement(author, "name").text = "lava-live-dashboard"
        ET.SubElement(entry, "category", term=alert["rule"])
        ET.SubElement(entry, "content", type="text").text = alert["message"]
    # A device's or worker's name, or a message, may hold a character XML cannot: replaced.
    body = xml_text(ET.tostring(feed, encoding="unicode", xml_declaration=True))
    return Response(body, mimetype="application/atom+xml")
