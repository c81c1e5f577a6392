"""Prometheus metrics at /metrics (docs/metrics.md): lab gauges read from the live model at scrape
time, job-time histograms (core/jobtimes.py, fed by the model's changes), and the dashboard's own
health. Built per scrape by a custom collector: nothing costs anything between scrapes.

The lab gauges read every device, worker and job: at 20,000 devices and 40,000 jobs that held the
event loop for a tenth of a second. They are counted in slices that give the loop back
(live.limits.Pause), from the model's objects as they were when the count began (one seq), once
per seq however many scrape at once, and kept while the seq holds (live.limits.BuiltOnce); the
oldest wait is taken from the oldest submit time at each scrape.

/metrics holds counts by device type, state and health, and names of devices' types, workers and
sources (URLs without credentials): no job descriptions, submitters or tokens, so access control
does not apply to it. `--metrics off` turns it off; `--metrics HOST:PORT` serves it on another
address instead (e.g. one only the Prometheus server reaches).
"""
import collections
import datetime as dt
import threading
import time
import urllib.parse

from flask import Blueprint, Response, current_app

from dashboard.core.events import parse_time
from dashboard.live.limits import BuiltOnce, Pause
from dashboard.web.context import error_body

bp = Blueprint("metrics", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_SERIES = 20_000  # label combinations per family, whatever the lab sends
CHUNK = 1000  # objects counted between two looks at the clock (Pause)
KEEP = 60.0  # a lab's figures are kept at most this long while its seq holds


def lab_name(settings):
    """The `lab` label: the LAVA server's host, or "simulated"."""
    if settings.get("lava_url"):
        return urllib.parse.urlsplit(settings["lava_url"]).hostname or "lab"
    if settings.get("event_source"):
        return urllib.parse.urlsplit(settings["event_source"][0]).hostname or "lab"
    return "simulated"


class DashboardCollector:
    """prometheus_client collector over one process's services (factory.Services)."""

    def __init__(self, services, job_times, lab, sleep=None, make_event=threading.Event):
        self.services = services
        self.job_times = job_times
        self.lab = lab
        # The async mode's sleep (None: never pause) and events; a scrape of --metrics HOST:PORT
        # is served by prometheus-client's WSGI app, outside Flask.
        self.sleep = sleep
        # Each lab's figures (LabFigures) by seq: counted once however many scrape at once.
        self.figures = BuiltOnce(make_event)

    def collect(self):
        from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                            HistogramMetricFamily, InfoMetricFamily)

        s = self.services
        yield InfoMetricFamily("dashboard", "This dashboard process.",
                               value={"role": s.role, "lab": self.lab,
                                      "version": str(s.meta.get("version", ""))})
        if s.role != "web":  # the lab gauges: from the process that writes the model
            yield from self._lab(GaugeMetricFamily, HistogramMetricFamily)
            yield from self._ingest(CounterMetricFamily, GaugeMetricFamily)
        if s.relay is not None:
            r = s.relay.stats()
            yield _gauge(GaugeMetricFamily, "dashboard_relay_clients", "Socket.IO clients connected.",
                         r["clients"])
            yield _gauge(GaugeMetricFamily, "dashboard_relay_groups",
                         "Distinct filters among the clients.", r["filters"])
            for name, key, text in (("batches", "batches_sent", "Batches of changes sent."),
                                    ("overflows", "overflows", "Times the pending changes overflowed "
                                     "and every client was asked to resync."),
                                    ("catchups", "catchups", "Reconnecting clients caught up from "
                                     "the change log instead of a snapshot."),
                                    ("rate_limited", "rate_limited", "Subscribe requests refused "
                                     "by the per-client rate limit.")):
                yield _counter(CounterMetricFamily, f"dashboard_relay_{name}", text, r[key])
        if s.socket_refusals is not None:  # every role: an ingest process's too (it has no relay)
            r = s.socket_refusals.stats()
            family = CounterMetricFamily("dashboard_relay_bad_messages", "Socket.IO messages "
                                         "refused, by kind: not JSON, nested too deep, not a "
                                         "packet of the protocol, wrong arguments, unknown "
                                         "event.", labels=["kind"])
            for kind, n in r["bad_messages_by_kind"].items():
                family.add_metric([kind], n)
            yield family
            yield _counter(CounterMetricFamily, "dashboard_relay_handler_errors", "Socket.IO "
                           "handlers that failed (answered internal_error).",
                           r["handler_errors"])

    def _labs(self):
        """(the `lab` label, model, job timings) of each lab: one, or those of --labs."""
        s = self.services
        if s.named:
            return [(lab.name, lab.state, lab.job_times) for lab in s.labs]
        return [(self.lab, s.state, self.job_times)]

    def _lab(self, Gauge, Histogram):
        from prometheus_client.utils import floatToGoString

        labs = self._labs()
        device_family = Gauge("lava_devices", "Devices by device type, state and health.",
                              labels=["lab", "device_type", "state", "health"])
        worker_family = Gauge("lava_workers", "Workers by state and health.",
                              labels=["lab", "state", "health"])
        queued_family = Gauge("lava_jobs_queued", "Jobs waiting (Submitted) by device type.",
                              labels=["lab", "device_type"])
        running_family = Gauge("lava_jobs_running", "Jobs Running by device type.",
                               labels=["lab", "device_type"])
        oldest_family = Gauge("lava_queue_oldest_wait_seconds", "How long the oldest queued job "
                              "of each device type has waited.", labels=["lab", "device_type"])
        pause = Pause(self.sleep) if self.sleep is not None else (lambda: None)
        figures = [(lab, self._figures(lab, state, pause)) for lab, state, _ in labs]
        now = dt.datetime.now(dt.timezone.utc)
        for lab, counted in figures:
            for (dtype, st, health), n in list(counted.devices.items())[:MAX_SERIES]:
                device_family.add_metric([lab, dtype, st, health], n)
            for (st, health), n in counted.workers.items():
                worker_family.add_metric([lab, st, health], n)
            oldest = {dtype: max(0.0, (now - submitted).total_seconds())
                      for dtype, submitted in counted.oldest_submit.items()}
            for family, counts in ((queued_family, counted.queued),
                                   (running_family, counted.running), (oldest_family, oldest)):
                for dtype, n in list(counts.items())[:MAX_SERIES]:
                    family.add_metric([lab, dtype], round(n, 3))
        yield from (device_family, worker_family, queued_family, running_family, oldest_family)
        for name, which, label, text in (
                ("lava_job_queue_wait_seconds", "wait", "device_type",
                 "Queue wait of jobs that started (submit to start), seen by this process."),
                ("lava_job_duration_seconds", "duration", "outcome",
                 "Duration of jobs that finished (start to end), by outcome.")):
            family = Histogram(name, text, labels=["lab", label])
            for lab, state, job_times in labs:
                hist = getattr(job_times, which)
                shown = (lambda value, state=state: type_shown(state, value)) if which == "wait" else None
                for value, buckets, total in hist.exported(shown):
                    buckets = [(b if b == "+Inf" else floatToGoString(float(b)), n)
                               for b, n in buckets]
                    family.add_metric([lab, value], buckets, total)
            yield family

    def _figures(self, lab, state, pause):
        """The lab's LabFigures at its seq: kept, being counted for another scrape, or counted."""
        tag = (self.services.meta["epoch"], state.seq, id(state))
        return self.figures.get(lab, tag, lambda: lab_figures(state, pause), KEEP,
                                size=lambda figures: 0)

    def _ingest(self, Counter, Gauge):
        s = self.services
        h = s.health
        yield _counter(Counter, "dashboard_events_accepted", "Events accepted into the model.", h.accepted)
        yield _counter(Counter, "dashboard_events_duplicate", "Events dropped as duplicates (uuid).",
                       h.duplicates)
        family = Counter("dashboard_events_rejected", "Events rejected, by reason.", labels=["reason"])
        for reason, n in h.rejected.items():
            family.add_metric([reason], n)
        yield family
        yield _counter(Counter, "dashboard_events_over_limit", "Events dropped by the model's "
                       "limits on devices, workers and jobs.", s.state.over_limit)
        yield _counter(Counter, "dashboard_events_suspected_loss", "Times a source was read so far "
                       "behind its publisher that it may have dropped messages.", h.suspected_losses)
        reconcilers = [lab.reconciler for lab in s.labs if lab.reconciler is not None]
        family = Counter("dashboard_job_times_unusable", "A job's submit, start or end times LAVA "
                         "gave out of range (before 2010, or more than a day ahead), kept as "
                         "unknown; by where they came from.", labels=["via"])
        family.add_metric(["events"], h.unusable_times)
        family.add_metric(["rest"], sum(r.unusable_times for r in reconcilers))
        yield family
        up = Gauge("dashboard_source_up", "1 when the event source is connected.",
                   labels=["source", "kind"])
        age = Gauge("dashboard_source_last_message_age_seconds", "Seconds since the source's last "
                    "message.", labels=["source", "kind"])
        drops = Counter("dashboard_source_disconnects", "Times the source lost its connection.",
                        labels=["source", "kind"])
        behind = Gauge("dashboard_source_behind_seconds", "How far behind its publisher the source's "
                       "last message was read.", labels=["source", "kind"])
        offset = Gauge("dashboard_source_clock_offset_seconds", "How far the publisher's clock is "
                       "behind this one (negative: ahead), by a minute of its messages' times; none "
                       "while not known.", labels=["source", "kind"])
        queued = Gauge("dashboard_source_queued_messages", "Messages the source's socket thread has "
                       "read that the loop has not ingested yet (a ZMQ source).", labels=["source", "kind"])
        now, epoch = h.clock(), time.time()
        for source in h.sources:
            labels = [source.name, source.kind]
            up.add_metric(labels, 1 if source.state == "connected" else 0)
            if source.last_message_at is not None:
                age.add_metric(labels, round(now - source.last_message_at, 3))
            drops.add_metric(labels, source.disconnects)
            if source.lag is not None:
                behind.add_metric(labels, round(source.lag.last_behind, 3))
                known = source.lag.offset(epoch)
                if known is not None:
                    offset.add_metric(labels, round(known, 3))
            if source.reader is not None:
                queued.add_metric(labels, source.reader.as_dict()["queued"])
        yield up
        yield behind
        yield offset
        yield queued
        yield age
        yield drops
        # Several labs: the corrections and store figures of every lab together (each lab's
        # apart: /healthz `labs`).
        if reconcilers:
            family = Counter("dashboard_reconcile_corrections", "What the REST reconciler found "
                             "wrong in the model, by kind of object.", labels=["kind"])
            for kind in ("device", "job", "worker"):
                family.add_metric([kind], sum(r.corrections_by_kind.get(kind, 0)
                                              for r in reconcilers))
            yield family
            family = Counter("dashboard_reconcile_skipped_records", "Records in LAVA's REST "
                             "answers left out for their shape, every reconcile, by kind of "
                             "object.", labels=["kind"])
            for kind in ("device", "job", "worker"):
                family.add_metric([kind], sum(n for r in reconcilers
                                              for key, n in r.skipped_total.items()
                                              if key.startswith(kind + "/")))
            yield family
        stores = [lab.store.stats() for lab in s.labs if lab.store is not None]
        if stores:
            stats = {k: sum(st[k] for st in stores) for k in ("queued", "written", "dropped")}
            yield _gauge(Gauge, "dashboard_store_queue_rows", "Events waiting to be written.",
                         stats["queued"])
            yield _counter(Counter, "dashboard_store_written_rows", "Events written to the store.",
                           stats["written"])
            yield _counter(Counter, "dashboard_store_dropped_rows", "Events the store could not keep.",
                           stats["dropped"])
            yield _counter(Counter, "dashboard_store_writer_restarts", "Times the store's writer "
                           "process ended unexpectedly and was started again.",
                           sum((st["writer_process"] or {}).get("restarts", 0) for st in stores))


class LabFigures:
    """What the lab gauges count of one model: devices by (device type, state, health), workers by
    (state, health), and per device type the jobs queued and running and the oldest queued job's
    submit time."""

    def __init__(self):
        self.devices, self.workers = collections.Counter(), collections.Counter()
        self.queued, self.running = collections.Counter(), collections.Counter()
        self.oldest_submit = {}  # device type → datetime


def lab_figures(state, pause):
    """A model's LabFigures, counted CHUNK objects at a time (pause() between them) from its
    objects as they were when it began: one seq, whatever changes meanwhile (the model replaces
    an object that changes; it never changes one in place)."""
    devices, workers, jobs = (list(state.devices.values()), list(state.workers.values()),
                              list(state.jobs.values()))
    out = LabFigures()
    for start in range(0, len(devices), CHUNK):
        out.devices.update((d.get("device_type") or "", d.get("state") or "", d.get("health") or "")
                           for d in devices[start:start + CHUNK])
        pause()
    out.workers.update((w.get("state") or "", w.get("health") or "") for w in workers)
    pause()
    for start in range(0, len(jobs), CHUNK):
        for job in jobs[start:start + CHUNK]:
            dtype = job.get("device_type") or ""
            if job.get("state") == "Submitted":
                out.queued[dtype] += 1
                try:
                    submitted = parse_time(job.get("submit_time"))
                except ValueError:
                    submitted = None
                if submitted is not None and (dtype not in out.oldest_submit
                                              or submitted < out.oldest_submit[dtype]):
                    out.oldest_submit[dtype] = submitted
            elif job.get("state") == "Running":
                out.running[dtype] += 1
        pause()
    return out


def _gauge(Gauge, name, text, value):
    family = Gauge(name, text)
    family.add_metric([], value)
    return family


def _counter(Counter, name, text, value):
    family = Counter(name, text)
    family.add_metric([], value)
    return family


class Metrics:
    """One process's /metrics: its collector (`dashboard`, made at start: /healthz reads its
    figures), and the registry over it, made at the first scrape (prometheus-client is imported
    then, not at every start, as requirements.txt says: 70 ms by python -X importtime, within
    bench/startup.py's spread)."""

    def __init__(self, collector):
        self.dashboard = collector
        self._registry = None

    def registry(self):
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            registry = CollectorRegistry(auto_describe=False)
            registry.register(self.dashboard)
            self._registry = registry
        return self._registry


def type_shown(state, device_type):
    """Whether a device type's series may be exported: with the device screen (--access lava or
    login), only a type LAVA shows anonymously now (an audit: a type all of whose boards LAVA hid
    later kept its queue waits here, /metrics being open). (The pooled series, "unknown" and the
    overflow's "other", name no type and are not asked about: core/jobtimes.py; before, a hidden
    type named "unknown" or "other" was taken for them and shown.)"""
    screen = getattr(state, "screen", None)
    return screen is None or screen.admits_job(None, device_type)


def registry_for(services, job_times, lab, sleep=None, make_event=threading.Event):
    """The Metrics of /metrics; `sleep` and `make_event`: the async mode's (Flask-SocketIO's)."""
    return Metrics(DashboardCollector(services, job_times, lab, sleep, make_event))


@bp.get("/metrics")
def metrics():
    """The Prometheus text format (0.0.4)."""
    from prometheus_client import generate_latest

    metrics = current_app.extensions.get("metrics_registry")
    if metrics is None:  # (in the one error shape, as every other answer of the app's)
        return error_body(404, "metrics are off (--metrics off) or served on another address "
                          "(--metrics HOST:PORT)", "not_found")
    return Response(generate_latest(metrics.registry()), content_type=CONTENT_TYPE)

