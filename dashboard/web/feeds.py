"""An Atom feed of stored events, and CSV/JSON exports of a time range; same filters as the API."""
import csv
import datetime as dt
import io
import json
import re
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request, stream_with_context
from werkzeug.wsgi import ClosingIterator

from dashboard.live.limits import PerAddress
from dashboard.web import params
from dashboard.web.context import chosen_lab, lab_name
from dashboard.web.context import require_store as _store
from dashboard.web.context import services, store_read_failed
from dashboard.web.auth import client_address, viewing
from dashboard.web.paging import export_rows, plan_export, visible_page
from dashboard.web.protocol import public_event

bp = Blueprint("feeds", __name__)
FEED_ENTRIES = 100
EXPORT_PAGE = 2000
# Exports under way at once for one client address: each holds a page of rows (EXPORT_PAGE) and a
# connection while its client reads, so a client that opens many and reads none held about 8 MB
# each (an audit: 60 of them, 475 MB, and the API slowed to seconds). More are answered 429.
MAX_EXPORTS_PER_ADDRESS = 2
CSV_FIELDS = ("id", "time", "kind", "topic", "username", "job", "device", "worker", "submitter",
              "device_type", "state", "health", "data")
ATOM = "http://www.w3.org/2005/Atom"
# The characters XML 1.0 forbids (outside its Char production): C0 controls but tab, LF and CR,
# lone surrogates, U+FFFE and U+FFFF. ElementTree writes them as they are, and one such character
# in one event's text makes the whole feed not XML, for every reader.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text):
    """`text` with each character XML 1.0 forbids replaced by U+FFFD. Pure; run on a feed's whole
    serialised document, whose only such characters come from its text and attribute values (the
    tags and the markup are ours), so every value is cleaned, and the stored event is not."""
    return NOT_XML.sub("\ufffd", text)


def title(row):
    """One line that says what happened (`row` as the API shows it: a job's kind is `job`)."""
    kind, name = row["kind"], row["device"] or row["worker"] or ""
    if kind == "device":
        return f"device {name}: {row['state']} / {row['health']}"
    if kind == "worker":
        return f"worker {row['worker']}: {row['state']} / {row['health']}"
    if kind == "job":
        return f"job {row['job']}: {row['state']} / {row['health']}"
    if kind == "correction":  # what the reconciler found wrong, as LAVA's REST API says
        return f"correction: {row['data'].get('message', row['topic'])}"
    message = row["data"].get("message") if isinstance(row["data"], dict) else None
    return f"{kind} (job {row['job']}): {message}" if message else f"{kind} {row['topic']}"


@bp.get("/feeds/events.atom")
def atom():
    """The newest events as an Atom feed (all text escaped by the XML writer, and what XML
    cannot hold replaced: xml_text)."""
    filters, since, until = params.event_filters(request.args)
    rows, _ = visible_page(_store(), viewing(), filters, since, until, None, FEED_ENTRIES)
    feed = ET.Element("feed", xmlns=ATOM)
    lab = chosen_lab(required=True)
    ET.SubElement(feed, "title").text = "LAVA Live Dashboard events" + (f" of lab {lab.name}"
                                                                       if lab else "")
    ET.SubElement(feed, "id").text = request.url
    ET.SubElement(feed, "updated").text = rows[0]["time"] if rows else _now()
    ET.SubElement(feed, "link", rel="self", href=request.url)
    # The lab's LAVA URL from the meta: a web process of a cluster has no LAVA client of its own.
    lava = (lab.meta.get("lava_url") or "") if lab else services().meta["lava_url"]
    # A stored event's id is unique in its lab's store only: a named lab's tag says the lab.
    tag = f"tag:lava-live-dashboard,event:{lab.name + ':' if lab else ''}"
    for row in (public_event(r, lab.name if lab else "") for r in rows):
        entry = ET.SubElement(feed, "entry")
        ET.SubElement(entry, "id").text = f"urn:uuid:{row['uuid']}" if _is_uuid(row["uuid"]) else f"{tag}{row['id']}"
        ET.SubElement(entry, "title").text = (f"[{lab.name}] " if lab else "") + title(row)
        ET.SubElement(entry, "updated").text = row["time"]
        ET.SubElement(entry, "author").append(_name(row["username"] or "lavaserver"))
        ET.SubElement(entry, "category", term=row["kind"])
        ET.SubElement(entry, "content", type="text").text = json.dumps(row["data"], sort_keys=True)
        if lava and row["job"] is not None:
            ET.SubElement(entry, "link", href=f"{lava}/scheduler/job/{row['job']}")
    body = xml_text(ET.tostring(feed, encoding="unicode", xml_declaration=True))
    return Response(body, mimetype="application/atom+xml")


def _name(text):
    name = ET.Element("name")
    name.text = text
    return name


def _is_uuid(value):
    return len(value) == 36 and value.count("-") == 4


def _now():
    return dt.datetime.now(dt.timezone.utc).isoformat()


class Export:
    """One export request: its range, filters and plan (which ids it holds: paging.plan_export),
    and the headers that say whether it holds the whole range and where the rest starts."""

    def __init__(self, args, filename):
        self.filters, since, until = params.event_filters(args)
        # A day unless asked otherwise (exports stay bounded); the next part's link says it.
        # (Whole seconds: the Link says it to the microsecond, and every part has the same range.)
        self.since = float(int(time.time()) - 86400) if since is None else since
        self.until = until
        self.store, self.view, self.lab = _store(), viewing(), lab_name(required=True)
        after = params.integer(args, "after_id", 0, 0, params.MAX_EVENT_ID)
        self.plan = plan_export(self.store, self.filters, self.since, until, self.view,
                                services().settings["export_max"], after)
        self.filename = filename

    def rows(self):
        """Events oldest first, as the viewer may see them (each saying its lab, when they are a
        named lab's)."""
        if self.plan is None:
            return
        try:
            for row in export_rows(self.store, self.filters, self.since, self.until, self.view,
                                   self.plan, EXPORT_PAGE):
                yield public_event(row, self.lab)
        except Exception as exc:
            # Its headers are sent: raised on, the answer ends without its last chunk, which every
            # client sees as a transfer cut short (curl: exit 18), never as a whole export. A
            # store that cannot be read now is counted and said as the 503s are (web/api.py).
            if self.store.cannot_read(exc):
                store_read_failed(self.store, exc)
            raise

    def headers(self):
        """`X-Export-Complete`, and when the range holds more, a `Link` to the next part: the
        same request from `after_id` on, its `since` given."""
        rest = self.plan.rest if self.plan is not None else None
        headers = {"Content-Disposition": f"attachment; filename={self.filename}",
                   "X-Export-Complete": "false" if rest is not None else "true"}
        if rest is not None:
            args = {k: v for k, v in request.args.items() if k not in ("after_id", "since")}
            args["since"] = dt.datetime.fromtimestamp(self.since, dt.timezone.utc).isoformat()
            args["after_id"] = str(rest)
            headers["Link"] = f'<{request.base_url}?{urlencode(args)}>; rel="next"'
        return headers


def export_slots():
    """This app's exports under way, per client address (made at first use)."""
    slots = current_app.extensions.get("export_slots")
    if slots is None:
        slots = current_app.extensions["export_slots"] = PerAddress(MAX_EXPORTS_PER_ADDRESS)
    return slots


def exported(filename, body):
    """An export's answer: `body(export)` streamed, while this address holds one of its
    MAX_EXPORTS_PER_ADDRESS places (given back when the answer ends or its client goes), or 429."""
    from dashboard.web.api import too_many

    slots, address = export_slots(), client_address()
    if not slots.enter(address):
        return too_many(f"this address has {MAX_EXPORTS_PER_ADDRESS} exports under way already: "
                        "wait for them to end", 5)
    left = []

    def leave():
        if not left:  # once, whichever comes first: the end, the close, a bad parameter
            left.append(True)
            slots.leave(address)

    try:
        export = Export(request.args, filename)
        stream = stream_with_context(body(export))
        # The place first, then the stream's close: a close that raised (a teardown's error)
        # would otherwise keep the place for ever.
        response = Response(ClosingIterator(map(_same, stream), [leave, stream.close]),
                            mimetype=MIMETYPES[filename.rpartition(".")[2]], headers=export.headers())
    except BaseException:
        leave()
        raise
    return response


MIMETYPES = {"csv": "text/csv", "json": "application/json"}


def _same(chunk):
    return chunk


@bp.get("/export/events.csv")
def export_csv():
    """Events of a time range (default: the last day) as CSV, at most --export-max rows."""
    return exported("events.csv", _csv)


def _csv(export):
    fields = CSV_FIELDS + (("lab",) if export.lab else ())

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(fields)
    for row in export.rows():
        writer.writerow([json.dumps(row[f]) if f == "data" else row[f] for f in fields])
        if buf.tell() > 65536:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


@bp.get("/export/events.json")
def export_json():
    """Events of a time range (default: the last day) as a JSON array, at most --export-max."""
    return exported("events.json", _json)


def _json(export):
    yield "["
    first = True
    for row in export.rows():
        yield ("" if first else ",\n") + json.dumps(row)
        first = False
    yield "]\n"
