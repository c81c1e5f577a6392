"""The app factory: create_app(settings) wires settings → extensions → blueprints → tasks."""
import dataclasses
import functools
import logging
import os
import uuid

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask_socketio import SocketIO

from dashboard import __version__, config
from dashboard.core.redact import scrub, split_secrets
from dashboard.web import alerts as alerts_api
from dashboard.web import api, auth
from dashboard.web import feeds
from dashboard.web import metrics as metrics_api
from dashboard.web import history as history_api
from dashboard.web import openapi
from dashboard.web import reports as reports_api
from dashboard.web import views
from dashboard.web import edge
from dashboard.live.health import Health, summary as health_summary
from dashboard.live import refusals
from dashboard.live.meta import Meta
from dashboard.live.tee import Tee
from dashboard.core.jobtimes import JobTimes
from dashboard.live.ingest import Ingest
from dashboard.live.reconcile import Reconciler
from dashboard.live.relay import SESSION_ENDED, Relay
from dashboard.core.state import LabState, Sequence
from dashboard.core.screen import DeviceScreen
from dashboard.core.visibility import OPEN, Visibility

log = logging.getLogger("dashboard")

socketio = SocketIO()


class NoWebSocketCompression:
    """WSGI middleware that removes the client's offer of permessage-deflate.

    eventlet compresses every frame for every connection separately, with no option to turn it off;
    measured, that roughly tripled CPU per delivery (docs/performance.md).
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        return self.wsgi_app(environ, start_response)


class SecretScrubber(logging.Filter):
    """Takes every configured secret (the LAVA token, database and Redis passwords) and any URL's
    password out of each log line, its traceback included, whoever logs it."""

    def __init__(self, secrets):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record):
        message = record.getMessage()
        clean = scrub(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self.secrets)
        return True


def _scrub_logs(settings, extra=()):
    """Install the SecretScrubber on every handler of the root logger (once per handler), with
    the secrets it already had: every lab's token and database password (docs/labs.md)."""
    from dashboard import labs

    secrets = list(extra)
    try:
        every = [settings] + [lab.settings(settings) for lab in labs.from_settings(settings)]
    except config.ConfigError:
        every = [settings]  # said when the labs are built
    for values in every:
        try:
            secrets.append(config.lava_token(values))
        except config.ConfigError:
            pass  # said when the LAVA client is made
        for url in (values["database"], values["message_queue"]):
            try:
                secrets += [v for v in split_secrets(url)[1].values() if v] if url else []
            except ValueError:  # not a URL (said when its store or queue is made): kept whole
                secrets.append(url)
    for handler in logging.getLogger().handlers:
        kept = [s for f in handler.filters if isinstance(f, SecretScrubber) for s in f.secrets]
        handler.filters = [f for f in handler.filters if not isinstance(f, SecretScrubber)]
        handler.addFilter(SecretScrubber(list(dict.fromkeys(kept + secrets))))


@dataclasses.dataclass
class Services:
    """Everything one process runs, built once by create_app; app.extensions["dashboard"].

    A part this process's role does not run is None (a web process has no ingest, an ingest
    process no relay)."""

    settings: dict
    role: str
    meta: Meta
    state: LabState
    health: Health
    run_in_thread: object  # fn(callable, *args): blocking work (the store) off the green hub
    relay: Relay = None
    publisher: object = None  # live.cluster_ingest.ModelPublisher (an ingest process)
    replica: object = None  # live.cluster_web.Replica (a web process)
    store: object = None
    keeper: object = None
    ingest: Ingest = None
    reconciler: Reconciler = None
    access: object = None  # web.auth.Access: who is looking (sessions, tokens, wall links)
    job_visibility: object = None  # live.access.JobVisibility: which jobs are public, from LAVA
    viewer_visibility: object = None  # live.access.ViewerVisibility: what signed-in viewers see
    connections: edge.Connections = None  # per-address counts of the WSGI server (web/edge.py)
    wsgi_errors: edge.JsonErrors = None  # what escaped the app, answered 400/500 (web/edge.py)
    socket_refusals: refusals.SocketRefusals = None  # Socket.IO messages refused (live/refusals.py)
    metrics_connections: edge.Connections = None  # --metrics HOST:PORT's (server.serve_apart)
    alerts: object = None  # alerts.engine.AlertEngine (where the model is written)
    logtail: object = None  # live.logtail.LogTail: job logs followed for viewers (where browsers are)
    job_times: object = None  # core.jobtimes.JobTimes: queue waits and durations (/metrics)
    zmq_sources: list = dataclasses.field(default_factory=list)  # sources.zmq.ZmqSource (stopped)
    # Each lab's parts (docs/labs.md). One unnamed lab: its parts are also the fields above. Several
    # (--labs): `state` is a LabSet, and store, keeper, ingest, reconciler, alerts and job_times
    # above are None: each lab has its own.
    labs: list = dataclasses.field(default_factory=list)

    @property
    def named(self):
        """Whether its labs are named (--labs), rather than the one unnamed lab of the flags."""
        return bool(self.labs and self.labs[0].name)

    def lab(self, name):
        """The LabParts of the lab of this name, or None."""
        return next((lab for lab in self.labs if lab.name == name), None)


@dataclasses.dataclass
class LabParts:
    """One lab's parts: its model, LAVA client, store, alerts, job timings and loops."""

    name: str  # "" for the one unnamed lab of the single-lab flags
    settings: dict  # the dashboard's settings with this lab's URL, token and sources
    simulated: bool
    state: LabState
    rest: object = None
    store: object = None
    keeper: object = None
    ingest: Ingest = None
    reconciler: Reconciler = None
    alerts: object = None
    job_times: object = None
    job_visibility: object = None
    meta: object = None  # this lab's part of the meta (live.meta.LabMeta), or the Meta itself
    discovery_error: str = None  # why LAVA's event socket is not known yet, while it is not
    # [the model's over_limit count the last health summary saw, when it last grew] (live.health)
    over_limit_seen: list = dataclasses.field(default_factory=lambda: [0, None])


def create_app(overrides=None, settings=None):
    """Build the Flask app from settings (config.load() by default, then `overrides`)."""
    settings = dict(settings or config.load([], overrides=overrides))
    logging.basicConfig(level=settings["log_level"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _scrub_logs(settings)
    app = Flask(__name__, static_folder="../static", template_folder="../templates")
    app.json.sort_keys = False

    role = settings["role"]
    queue = {}
    if role != "all":  # Flask-SocketIO's message queue: an emit from any process reaches every client
        queue = {"message_queue": settings["message_queue"], "channel": settings["redis_prefix"]}
    # Each packet's JSON written once by orjson (live/wire.py); what a client sends is read only
    # when it is a packet of the protocol, its JSON no deeper than core.limits.MAX_DEPTH (live/refusals.py).
    socketio.init_app(app, async_mode=settings["async_mode"], logger=False, engineio_logger=False,
                      serializer=refusals.ClientPacket, json=refusals.ClientJson, **queue)
    if not settings["ws_compression"]:
        app.wsgi_app = NoWebSocketCompression(app.wsgi_app)
    from dashboard.storage import secrets

    # Signs session cookies and wall links: one key for every web process (never logged).
    from dashboard.storage import folderlock, recovery

    # (Said again by the store's keeper in /healthz and on the page: see _open_store.)
    try:
        settings["data_dir_moved"] = (recovery.ensure_folder(settings["data_dir"])
                                      if settings["role"] != "web" else None)
        key = secrets.load_or_create(settings["data_dir"], settings["secret_key"])
        if settings["role"] == "all" and settings["store"] and not settings["database"]:
            folderlock.hold(settings["data_dir"])
    except folderlock.FolderInUse as err:
        raise config.ConfigError(f"--data-dir {settings['data_dir']}: {err}: two would each store "
                                 f"every event; give each its own --data-dir (several labs: one "
                                 f"process with --labs), or see docs/deployment.md") from None
    except secrets.KeyFileError as err:
        raise config.ConfigError(str(err)) from None
    except OSError as err:  # (a traceback before: a new-user audit)
        raise config.ConfigError(f"--data-dir {settings['data_dir']}: cannot be used: "
                                 f"{err.strerror or err}"
                                 + (f" ({err.filename})" if err.filename else "")) from None
    _sessions_config(app, settings, key)
    # Outermost: nothing that escapes Flask or python-engineio reaches the client as a traceback;
    # what a view raises is logged and counted there too (a query string that is not UTF-8, which
    # request.args cannot read, is refused before the app).
    app.wsgi_app = errors = edge.JsonErrors(
        app.wsgi_app, settings["async_mode"],
        edge.Connections(settings["max_connections_per_address"]))
    app.log_exception = errors.log_exception
    errors.poll_limit = int(socketio.server.eio.max_http_buffer_size)
    app.register_error_handler(edge.BodyTimeout, edge.body_timeout_answer)
    edge.guard_websockets(socketio.server.eio, errors.connections)
    edge.guard_polls(socketio.server.eio, errors.connections)
    app.extensions["dashboard"] = services = _build_services(settings, key, errors)
    # After the relay's message budget, which it wraps: a malformed Socket.IO message, an event
    # with the wrong arguments or none of ours, refused in the one error shape (live/refusals.py).
    services.socket_refusals = refusals.SocketRefusals()
    services.socket_refusals.install(socketio)
    if services.relay:
        services.relay.refusals = services.socket_refusals  # its counters in /healthz, /metrics
    if settings["role"] == "ingest":
        socketio.on_event("connect", functools.partial(_ingest_refuses_browsers, services.socket_refusals))
    for blueprint in (auth.bp, api.bp, history_api.bp, feeds.bp, openapi.bp, views.bp,
                      alerts_api.bp, reports_api.bp, metrics_api.bp):
        app.register_blueprint(blueprint)
    api.answer_store_errors(app, [lab.store for lab in services.labs])
    if settings["metrics"] != "off":
        app.extensions["metrics_registry"] = metrics_api.registry_for(
            services, services.job_times, ",".join(lab.name for lab in services.labs)
            if settings["labs"] else metrics_api.lab_name(settings),
            sleep=socketio.sleep, make_event=socketio.server.eio.create_event)
    return app


class _SecureWhenTls(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over TLS (behind a trusted proxy:
    as X-Forwarded-Proto says)."""

    def get_cookie_secure(self, app):
        return request.is_secure


def _sessions_config(app, settings, key):
    """Signed, HttpOnly, SameSite=Lax cookies; the key shared by every web process."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.secret_key = key
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_NAME="lava_dashboard",
                      PERMANENT_SESSION_LIFETIME=int(settings["session_lifetime"]))
    app.session_interface = _SecureWhenTls()
    if settings["trusted_proxy"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)


INGEST_SERVES_NO_BROWSERS = ("this is the dashboard's ingest process (--role ingest): it serves no "
                             "browsers; open a web process (--role web, behind nginx)")


def _ingest_refuses_browsers(refusals, auth=None):
    """Socket.IO's connect on an ingest process: refused, saying where to go (a new operator's
    walkthrough: the page connected, and every subscribe was an 'unknown event'), and counted
    (`ingest_connect`: a proxy sending browsers here shows in /healthz)."""
    from flask import request
    from socketio.exceptions import ConnectionRefusedError as Refused  # (python-socketio's: it says why)
    refusals.refuse("ingest_connect", INGEST_SERVES_NO_BROWSERS, request.remote_addr)
    raise Refused(INGEST_SERVES_NO_BROWSERS)


def _build_services(settings, key, wsgi_errors):
    """The services of this process's role, in one pass, from the bottom up. `wsgi_errors` is the
    outermost WSGI wrapper (edge.JsonErrors, with the server's Connections), made first because
    it wraps the app itself. Each lab (one unnamed lab, or those of --labs: docs/labs.md) gets its
    own model, LAVA client, store, alerts and loops; the relay, the meta, health and access are
    shared."""
    from dashboard import green
    from dashboard import labs as lab_config
    from dashboard.core.labset import LabSet
    from dashboard.live.meta import LabMeta

    role = settings["role"]
    several = bool(settings["labs"])
    sequence = Sequence() if several else None
    labs = []
    for lab in lab_config.from_settings(settings):
        lab_settings = lab.settings(settings)
        labs.append(LabParts(
            # A web process learns whether the one unnamed lab is simulated from the ingest
            # process's snapshot; a named lab says so in the labs file every process reads.
            lab.name, lab_settings, simulated=(role != "web" or bool(lab.name)) and lab.simulated,
            rest=_lava_client(lab_settings, lab.name) if role != "web" else None,
            state=LabState(max_finished_jobs=settings["max_finished_jobs"],
                           max_devices=settings["max_devices"], max_workers=settings["max_workers"],
                           max_jobs=settings["max_jobs"], name=lab.name, sequence=sequence)))
    for lab in labs:
        if settings["access"] != OPEN and role != "web" and lab.settings["lava_url"]:
            # Devices LAVA hides from anonymous users stay out of the model (core/screen.py), from
            # before the store's restore on.
            lab.state.screen = DeviceScreen()
        elif settings["access"] != OPEN and lab.settings["lava_url"]:
            # A web process: the jobs the ingest process's screen keeps out, as its model says.
            lab.state.followed_screen = DeviceScreen()
    first = labs[0]
    meta = Meta(simulated=all(lab.simulated for lab in labs),
                lava_url=first.rest.base if first.rest and not several else "", version=__version__,
                # A web process has no epoch until its first snapshot: no client can catch up.
                epoch=uuid.uuid4().hex[:12] if role != "web" else None,
                max_finished_jobs=settings["max_finished_jobs"],
                labs=[{"name": lab.name, "lava_url": lab.rest.base if lab.rest else "",
                       "simulated": lab.simulated, "lava": None} for lab in labs if several])
    for lab in labs:
        lab.meta = LabMeta(meta, lab.name) if several else meta
    state = LabSet([lab.state for lab in labs]) if several else first.state
    health = Health()
    visibility = Visibility()  # what LAVA said about who may see which job (docs/security.md)
    parts = {}
    if role != "ingest":
        parts["relay"] = Relay(socketio, state, meta, interval=settings["batch_interval"],
                               max_pending=settings["max_pending_changes"],
                               mode=settings["relay_mode"], log_size=settings["change_log"],
                               identify=auth.identify_connection, visibility=visibility,
                               subscribe_burst=settings["subscribe_burst"],
                               subscribe_rate=settings["subscribe_rate"],
                               max_sessions_per_address=settings["max_sessions_per_address"],
                               max_queue=settings["max_client_queue"],
                               max_messages=settings["max_client_messages"],
                               floor=settings["batch_floor"], budget=settings["batch_budget"],
                               knee=settings["batch_knee"], direct=_direct(settings))
    if role == "ingest":  # late-bound: the summary reads the services built below
        parts["publisher"] = _publisher(settings, state, meta, lambda: health_summary(services))
    elif role == "web":
        parts["replica"] = _replica(settings, state, parts["relay"], meta, lambda: services)
    if settings["store"]:
        for lab in labs:
            lab.store, lab.keeper = _open_store(lab.settings, lab.state, lab.simulated,
                                                writer=role != "web", lab=lab.name)
        if not several:
            meta.update({"store_file": os.path.basename(first.store.path)
                         if not settings["database"] else None}, notify=False)
            if first.keeper and first.keeper.recovered:  # the page says so, as /healthz does
                meta.update({"store_recovered": first.keeper.recovered}, notify=False)
    sink = parts.get("publisher") or parts.get("relay")  # where the model's changes go
    access_parts = _access(settings, labs, parts.get("relay"), key, visibility)
    if role != "ingest":
        parts["logtail"] = _logtail(settings, labs, parts["relay"], visibility)
    for lab in labs:
        _build_lab(lab, settings, sink, health, visibility,
                   [part.name for part in labs] if several else None)
    if parts.get("publisher"):  # a standby ingest process (another publishes) neither writes
        # the shared store nor sends a notification (docs/deployment.md)
        publisher = parts["publisher"]
        standing_by, rival_seen = publisher.standing_by, lambda: publisher.rival_seen
        for lab in labs:
            if lab.keeper:
                lab.keeper.standing_by, lab.keeper.rival_seen = standing_by, rival_seen
            if lab.alerts:
                lab.alerts.rival_seen = rival_seen
            if lab.alerts and lab.alerts.notifier:
                lab.alerts.notifier.active = lambda: not standing_by()
    meta.update({"access": settings["access"]}, notify=False)
    if not several:  # the one lab's parts are the services' own
        parts.update(store=first.store, keeper=first.keeper, ingest=first.ingest,
                     reconciler=first.reconciler, alerts=first.alerts, job_times=first.job_times,
                     job_visibility=first.job_visibility)
    services = Services(settings=settings, role=role, meta=meta, state=state, health=health,
                        run_in_thread=lambda fn, *a: green.run_in_thread(settings["async_mode"], fn, *a),
                        connections=wsgi_errors.connections,
                        wsgi_errors=wsgi_errors, labs=labs, **parts, **access_parts)
    if services.publisher:  # it answers the acknowledgements web processes forward
        from dashboard.web.alerts import answer_forwarded
        services.publisher.acknowledge = lambda lab, ident, user: answer_forwarded(
            services, lab, ident, user)
    return services


def _build_lab(lab, settings, sink, health, visibility, lab_names=None):
    """One lab's job visibility, alerts, job timings, ingest and reconciler, its changes going
    to `sink`. `lab_names`: every lab's (--labs)."""
    from dashboard.live.access import JobVisibility
    from dashboard.sources.rest import LavaRest

    role = settings["role"]
    public = None
    # Whether another ingest process publishes: the publisher's own (an ingest process), taken
    # before anything wraps the sink (found by an audit: behind JobVisibility, with access lava or
    # login, a standby's alerts never stood by).
    standing_by = getattr(sink, "standing_by", None)
    if settings["access"] != OPEN and role != "web":  # learns who may see each new job
        anonymous = LavaRest(lab.settings["lava_url"], "", settings["lava_timeout"],
                             ca_file=lab.settings["lava_ca_file"])
        lab.job_visibility = sink = JobVisibility(lab.state, sink, anonymous, visibility,
                                                  socketio.sleep, socketio.server.eio.create_event)
        public = (anonymous, lab.job_visibility)
    if role != "web" and settings["alerts"]:  # rules see every change on its way out
        lab.alerts = sink = _alerts(lab, sink, health, lab_names, standing_by)
    if role != "web":  # job timings for /metrics, from the changes on their way out
        lab.job_times = JobTimes()
        sink = Tee(sink, lab.job_times)
    if role != "web":
        lab.ingest = Ingest(lab.state, sink, health, settings["max_message_size"], lab.store,
                            watch_lag=not lab.simulated)
    if lab.rest:
        lab.reconciler = Reconciler(lab.state, sink, lab.meta, lab.rest, lab.settings,
                                    socketio.server.eio.create_event, store=lab.store,
                                    public=public, lab=lab.name)
        if lab.ingest:  # a suspected loss: check the model against LAVA (at most every 30 s)
            lab.ingest.on_behind.append(lambda name: lab.reconciler.behind())
            lab.reconciler.ingest = lab.ingest  # applies what it held once the screen is known


def _access(settings, labs, relay, key, visibility):
    """Who may see what (docs/security.md): the Access of this process, and (where browsers are)
    the loop that asks LAVA what signed-in viewers may see. A token is only ever sent to its own
    lab's LAVA (docs/labs.md). Which jobs are public is learnt per lab (_build_lab)."""
    from dashboard.live.access import ViewerVisibility
    from dashboard.web.sessions import Sessions

    mode, role = settings["access"], settings["role"]
    sessions = Sessions(settings["session_idle"], settings["session_lifetime"])
    out = {}
    rest_for_token = None
    if mode != OPEN:
        from dashboard.sources.rest import LavaRest

        urls = {lab.name: lab.settings["lava_url"] for lab in labs}
        ca_files = {lab.name: lab.settings["lava_ca_file"] for lab in labs}

        def rest_for_token(token, lab=""):
            return LavaRest(urls[lab], token, settings["lava_timeout"], ca_file=ca_files[lab])

    out["access"] = auth.Access(mode, sessions, visibility, rest_for_token, key,
                                settings["data_dir"])
    if relay is not None:  # a client of an ended session is disconnected (docs/security.md)
        relay.sessions = sessions
    if mode != OPEN and role != "ingest":
        out["viewer_visibility"] = out["access"].viewer_visibility = ViewerVisibility(
            rest_for_token, visibility, out["access"].token_of, relay.refresh_viewer,
            socketio.sleep, socketio.server.eio.create_event)
        relay.want = out["viewer_visibility"].want
    if mode == OPEN:
        log.warning("access is OPEN: everyone who reaches this dashboard sees everything it knows "
                    "(--access lava or login with --lava-url; docs/security.md)")
    return out


def _logtail(settings, labs, relay, visibility):
    """The live tail of job logs (live/logtail.py), read with the dashboard's own token and shown
    only to viewers who may see the job; its Socket.IO events `log_follow` and `log_unfollow`.
    Several labs: one tail per lab, reading its own LAVA (live.logtail.LabTails)."""
    from dashboard.core.visibility import may_see_job
    from dashboard.live.logtail import LabTails, LogTail

    def may_see(sid, job):
        viewer, wall = relay.viewer_of(sid)
        # A wall link's screen shows its live view only: no job's log (docs/security.md).
        return wall is None and not viewer.wall and may_see_job(viewer, job, visibility)

    def client_of(sid):  # one follow budget per address and viewer, as subscribe's
        return relay.shares.address_of(sid), relay.viewer_of(sid)[0].key

    def tail_of(lab):
        return LogTail(_lava_client(lab.settings, lab.name), lab.state.jobs.get, may_see,
                       relay.send, socketio.server.eio.create_event, ask=relay.ask_about_job,
                       poll=settings["job_log_poll"], max_jobs=settings["job_logs_max"],
                       lab=lab.name, client_of=client_of, queued=relay.outbox.queued)

    tail = tail_of(labs[0]) if not labs[0].name else LabTails({lab.name: tail_of(lab)
                                                                for lab in labs})

    def follow(message=None):
        if not relay.note_activity(request.sid):  # its session ended: disconnected
            return {"ok": False, "code": "session_ended", "error": SESSION_ENDED}
        why = relay.refusal(unknown_too=True)
        if why:  # a web process less strict than its ingest process (live/cluster_web.py)
            return {"ok": False, "code": "access_mismatch", "error": why}
        return tail.follow(request.sid, message)

    socketio.on_event("log_follow", follow)
    socketio.on_event("log_unfollow", lambda message=None: tail.unfollow(request.sid, message))
    relay.on_leave.append(tail.forget)
    return tail


def _alerts(lab, sink, health, lab_names=None, standing_by=None):
    """A lab's alert engine (docs/alerts.md): rules from --alerts-config, kept in its store,
    delivered through Apprise. `lab_names`: every lab's (--labs), whose tables alone the file
    may hold. `standing_by`: the publisher's (cluster_ingest.py), in an ingest process."""
    import time
    import urllib.parse

    from dashboard import green
    from dashboard.alerts.delivery import Notifier, secrets_of, unusable_destinations
    from dashboard.alerts.engine import AlertEngine
    from dashboard.alerts.rules import AlertsConfigError, parse_config

    settings, state, store, rest = lab.settings, lab.state, lab.store, lab.rest
    text, path = "", settings["alerts_config"]
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise config.ConfigError(f"alerts_config: cannot read {path!r}: "
                                     f"{getattr(exc, 'strerror', None) or 'not UTF-8'}") from None
    # Rules name a lab by its name (--labs), else by its LAVA server's host.
    name = lab.name or ((urllib.parse.urlsplit(rest.base).hostname or "") if rest else "")
    try:
        rules = parse_config(text, name, lab_names)
    except AlertsConfigError as err:
        raise config.ConfigError(f"alerts_config: {err}") from None
    _scrub_logs(settings, secrets_of(rules.urls()))  # Apprise URLs hold tokens
    unusable = unusable_destinations(rules) if rules.urls() else []
    if unusable:  # else Apprise would drop them at each send, and a send would count delivered
        raise config.ConfigError(f"alerts_config: {'; '.join(unusable[:5])}")

    def run_in_thread(fn, *args):
        return green.run_in_thread(settings["async_mode"], fn, *args)

    def silence():
        """(Seconds since any source last spoke (or since start, before the first message),
        whether any has spoken since start)."""
        sources = [s for s in health.sources if s.lab == lab.name]  # this lab's
        if not sources:
            return None, False
        last = max((s.last_message_at or health.started) for s in sources)
        return health.clock() - last, any(s.last_message_at for s in sources)

    def api_state():
        return lab.reconciler.state_name if lab.reconciler else None

    def clock_offset():
        watched = not lab.simulated and any(s.lab == lab.name for s in health.sources)
        return health.clock_offset(lab.name, time.time()), watched

    lost_before = []

    def store_failing():
        """Whether the store fails to keep events now: its last batch wrote nothing, or rows
        were lost (a batch that failed, its queue full) since the engine last looked."""
        if store is None:
            return None
        lost = store.lost()
        grew = bool(lost_before) and lost > lost_before[0]
        lost_before[:] = [lost]
        return store.failing or grew

    # A named lab's notifications and log lines say its name (not the host `name` falls back to).
    notifier = Notifier(rules, run_in_thread, socketio.sleep, socketio.server.eio.create_event,
                        lab=lab.name, spawn=socketio.start_background_task)
    engine = AlertEngine(state, sink, rules, store, notifier, run_in_thread, socketio.sleep,
                         socketio.server.eio.create_event, silence, api_state, time.time,
                         settings["alerts_interval"], lab=lab.name,
                         standing_by=standing_by, clock_offset=clock_offset,
                         store_failing=store_failing)
    engine.restore()  # before any source starts: what already fired does not fire again
    return engine


def _open_store(settings, state, simulated, writer, lab=""):
    """The event store, and (for a process that writes it) its keeper, after restoring the model.
    A named lab (--labs) keeps its own file: events-NAME.sqlite3 (simulated-NAME.sqlite3)."""
    from dashboard import green
    from dashboard.storage import recovery
    from dashboard.storage.keeper import StoreKeeper
    from dashboard.storage.store import open_store

    # The simulated lab starts afresh each time, so its history is kept apart and its old
    # model is not restored (its jobs would be stale forever).
    if simulated and settings["database"]:
        raise config.ConfigError("database: a simulated lab keeps its history apart, in SQLite; "
                                 "give --event-source or --lava-url to store a real lab's events there")
    name = ("simulated" if simulated else "events") + (f"-{lab}" if lab else "") + ".sqlite3"
    path, recovered = os.path.join(settings["data_dir"], name), None
    try:
        if settings["database"] or not writer:
            store = open_store(settings["database"], path)
        else:  # the process that writes the file checks it, and starts afresh if it is unusable
            store, recovered = recovery.open_checked(path)
            if recovered is None and settings.get("data_dir_moved"):  # the folder was a file
                recovered = {"reason": "the data folder was a file",
                             "moved_to": settings["data_dir_moved"]}
    except (ValueError, ConnectionError) as err:  # an unknown kind, or a server we cannot use
        raise config.ConfigError(f"database: {err}") from None
    except recovery.StoreUnavailable as err:  # (the machine, not the file: it stays as it is)
        raise config.ConfigError(f"the event store cannot be opened: {err}; fix that (free space, "
                                 f"the folder's permissions), or start with --no-store") from None
    if not writer:
        return store, None  # a web process only reads the history the ingest process writes
    # (Where: --data-dir is relative to the folder the app was started in.)
    log.info("history%s kept in %s", f" of lab {lab}" if lab else "",
             "the PostgreSQL database of --database" if settings["database"] else os.path.abspath(path))
    if store.ensure_rollups():  # a store from before the roll-ups: counted once, at start
        log.info("hourly roll-ups rebuilt from the stored events")
    if not settings["database"] and settings["store_writer"] == "process":
        store.write_in_process()  # after the rebuilds: the child starts with their open spans
    keeper = StoreKeeper(store, state, settings,
                         lambda fn, *a: green.run_in_thread(settings["async_mode"], fn, *a),
                         socketio.sleep)
    keeper.recovered = recovered
    if not simulated:
        keeper.restore()  # before any source starts: a restart does not come back empty
    return store, keeper


def _direct(settings):
    """Nagle off on every WebSocket; live.direct.Direct for the relay's batches, or None
    (--no-direct-send, or gevent)."""
    from dashboard.live import direct

    direct.install(socketio.server.eio)  # Nagle off on every WebSocket, in every mode
    if settings["direct_send"] and settings["async_mode"] == "eventlet":
        return direct.Direct(socketio.server)
    return None


def _publisher(settings, state, meta, health_fn):
    from dashboard.live import cluster
    from dashboard.live.cluster_ingest import ModelPublisher

    return ModelPublisher(cluster.connect(settings["message_queue"]),
                          cluster.Keys(settings["redis_prefix"]), state, meta, meta["epoch"],
                          socketio.sleep, socketio.emit, health_fn,
                          interval=settings["batch_interval"],
                          max_pending=settings["max_pending_changes"],
                          stream_length=settings["change_log"])


def _replica(settings, state, relay, meta, services):
    from dashboard.live import cluster
    from dashboard.live.cluster_web import Replica

    def follow_store_file(ingest_meta):
        """A simulated ingest process writes simulated.sqlite3: read the file it writes."""
        store, name = services().store, ingest_meta.get("store_file")
        if store is not None and name and not settings["database"] \
                and os.path.basename(store.path) != name:
            services().store, _ = _open_store(settings, state, name == "simulated.sqlite3",
                                              writer=False)

    replica = Replica(cluster.connect(settings["message_queue"]),
                      cluster.Keys(settings["redis_prefix"]), state, relay, meta,
                      socketio.sleep, on_snapshot=follow_store_file, access=settings["access"],
                      lava=_lava_servers(settings))
    relay.refusal = replica.refusal
    return replica


def start_background_tasks(app):
    """Start the relay's flush loop (or the Redis publisher or follower of a cluster role), the
    REST reconciler, and the event sources (the simulated lab when neither --event-source nor --lava-url is
    given). A web process starts no source: it follows the ingest process."""
    services = app.extensions["dashboard"]
    settings = services.settings
    if settings["metrics"] not in ("on", "off"):  # HOST:PORT: /metrics there, not on the app's port
        _serve_metrics_apart(app, settings["metrics"])
    if services.relay:
        socketio.start_background_task(services.relay.run)
    if services.publisher:
        socketio.start_background_task(services.publisher.run)
    if services.viewer_visibility:
        socketio.start_background_task(services.viewer_visibility.run)
    if services.access and services.access.mode != OPEN:  # forgets ended sessions and tokens
        socketio.start_background_task(services.access.run_sweeper, socketio.sleep, services.relay)
    if services.logtail:  # one tail, or one per lab (live.logtail.LabTails)
        for tail in getattr(services.logtail, "tails", {"": services.logtail}).values():
            if tail.rest:
                socketio.start_background_task(tail.run)
    if services.replica:
        socketio.start_background_task(services.replica.run)
        return
    for lab in services.labs:
        _start_lab(app, lab)


def _start_lab(app, lab):
    """A lab's loops: its store's keeper, reconciler, alerts and event sources (a simulated lab
    when it has neither event sources nor a LAVA URL)."""
    settings = lab.settings
    if not settings["lava_url"] and (settings.get("lava_token_file") or settings.get("lava_token")):
        # (A typo in the file's name would go unnoticed: nothing reads it.)
        log.warning("%sa LAVA token is given (%s) without --lava-url: it is not read, and nothing "
                    "asks LAVA", _lab_said(lab), "--lava-token-file " + settings["lava_token_file"]
                    if settings.get("lava_token_file") else "--lava-token")
    if lab.keeper:
        socketio.start_background_task(lab.keeper.run_writer)
        socketio.start_background_task(lab.keeper.run_pruner)
        socketio.start_background_task(lab.keeper.run_watch)
    if lab.reconciler:
        socketio.start_background_task(lab.reconciler.run)
    if lab.job_visibility:
        socketio.start_background_task(lab.job_visibility.run)
    if lab.alerts:
        socketio.start_background_task(lab.alerts.run)
        socketio.start_background_task(lab.alerts.notifier.run)
    if lab.settings["event_source"]:
        for url in lab.settings["event_source"]:
            _start_source(app, lab, url, lab.settings["topic_prefix"])
    elif lab.reconciler:
        socketio.start_background_task(_discover_event_socket, app, lab)
    else:
        _start_zmq_source(app, lab, _start_simulated_lab(lab.settings, lab.name),
                          lab.settings["topic_prefix"])


def shutdown(app):
    """Write what the store still holds and save the model, so that a restart loses nothing; an
    ingest process then withdraws its heartbeat."""
    services = app.extensions["dashboard"]
    for source in services.zmq_sources:  # their threads close their sockets meanwhile
        source.stop()
    for lab in services.labs:
        if lab.alerts:
            lab.alerts.close()
        if lab.keeper:
            wrote = lab.keeper.close()
            log.info("%s%s", "store flushed and model saved" if wrote else
                     "store left to the ingest process that publishes (this one stood by)",
                     f" (lab {lab.name})" if lab.name else "")
    if services.publisher:
        services.publisher.close()
    from dashboard.storage import folderlock

    folderlock.release()  # (the store is flushed: another may take the folder now)


def _serve_metrics_apart(app, address):
    """/metrics on HOST:PORT, served with the app's limits (server.serve_apart), not on its port."""
    from prometheus_client import make_wsgi_app

    from dashboard import server

    host, _, port = address.rpartition(":")
    metrics = app.extensions.pop("metrics_registry")  # the app's own /metrics answers 404 then
    services = app.extensions["dashboard"]
    try:
        services.metrics_connections = server.serve_apart(
            make_wsgi_app(metrics.registry()), host.strip("[]") or "127.0.0.1", int(port),
            services.settings, socketio.start_background_task)
    except server.ListenError as exc:
        raise config.ConfigError(f"--metrics {address}: {exc}") from None
    log.info("Prometheus metrics at http://%s/metrics", address)


def _start_source(app, lab, url, topic_prefix):
    """A ZMQ source for tcp://, a WebSocket source for ws:// and wss://, feeding this lab."""
    if url.lower().startswith(("ws://", "wss://")):
        _start_ws_source(app, lab, url, topic_prefix)
    else:
        _start_zmq_source(app, lab, url, topic_prefix)


def _source_status(services, lab, name, kind):
    status = services.health.add_source(name, kind, lab.name)

    def tell_clients():  # the page's line about where events come from, and their state
        services.meta.update({"sources": [s.brief() for s in services.health.sources]})
    status.on_state.append(tell_clients)
    tell_clients()
    if lab.reconciler:
        status.on_reconnect.append(lambda: lab.reconciler.trigger("reconnect"))
        lab.reconciler.sources.append(status)
    return status


def _start_ws_source(app, lab, url, topic_prefix):
    from dashboard.sources import ws

    services = app.extensions["dashboard"]
    settings = lab.settings
    status = _source_status(services, lab, ws.public_name(url), "websocket")
    token = config.lava_token(settings) if settings["lava_url"] else ""  # read now: errors show now
    why_not = ws.token_refused_for(url, settings["lava_url"]) if token else None
    if why_not:  # the token is for --lava-url's server alone, and never in clear across a network
        log.warning("%s: connecting anonymously (public objects only): %s", ws.public_name(url),
                    why_not)
        token = ""
    source = ws.WsSource(url, topic_prefix, socketio.sleep, status, settings["max_message_size"],
                         headers=_ws_credentials(lab, token), secrets=[token],
                         ca_file=settings["lava_ca_file"])
    log.info("%sreceiving lava-publisher's WebSocket at %s (topic prefix %r) %s", _lab_said(lab),
             source.name, topic_prefix, "with the LAVA token" if token else "anonymously")
    socketio.start_background_task(source.run, lab.ingest.handle)


def _lab_said(lab):
    """How a log line names a lab: "lab east: ", or nothing for the one unnamed lab."""
    return f"lab {lab.name}: " if lab.name else ""


def _ws_credentials(lab, token):
    """lava-publisher's WebSocket takes Basic user:token, the user being whoever LAVA says owns the
    token: asked before each connection until LAVA has said (meanwhile 'Token <token>')."""
    from dashboard.sources import ws

    from dashboard.live.health import RateLimitedLog
    from dashboard.sources.rest import LavaError

    known, said = {}, RateLimitedLog(log, 300.0)
    rest = lab.reconciler.rest if lab.reconciler else None

    def headers():
        if rest is not None and rest.redirect_unresolved:
            return {}  # LAVA's URL redirected elsewhere: no token until it answers with one again
        if token and "user" not in known and rest is not None:
            try:
                known["user"] = rest.whoami()
            except Exception as err:  # LAVA down now: asked again at the next connection
                # (at most one line in 5 minutes: a refused token asked every 10 s made 36)
                why = str(err) if isinstance(err, LavaError) else type(err).__name__
                said.warning("whoami", "%scould not ask LAVA whose token this is (%s); the "
                             "WebSocket gets 'Authorization: Token' for now", _lab_said(lab), why)
        return ws.authorization(known.get("user"), token)
    return headers


def _start_zmq_source(app, lab, endpoint, topic_prefix):
    import zmq  # plain pyzmq: the socket is read by a real OS thread (sources/zmq.py)

    from dashboard import green
    from dashboard.sources.zmq import ZmqSource

    services = app.extensions["dashboard"]
    settings = services.settings
    status = _source_status(services, lab, endpoint, "zmq")
    source = ZmqSource(endpoint, topic_prefix, zmq, socketio.sleep,
                       green.OsThreads(settings["async_mode"]), status, settings["max_message_size"],
                       gather=settings["zmq_gather"], gather_max=settings["zmq_gather_max"])
    services.zmq_sources.append(source)
    socketio.start_background_task(source.run, lab.ingest.handle_many)
    log.info("%ssubscribed to lava-publisher at %s (topic prefix %r)", _lab_said(lab), endpoint,
             topic_prefix)


def _discover_event_socket(app, lab):
    """Ask LAVA where its publisher is, retrying with backoff while LAVA cannot be reached. Its ZMQ
    socket when that can be reached within --discovery-timeout; else (firewalled, or LAVA names
    none) its WebSocket next to the REST API. The log says which, and why."""
    from dashboard.core.backoff import Backoff
    from dashboard.sources import ws
    from dashboard.sources import zmq as zmq_source
    from dashboard.sources.rest import TRANSIENT_DISCOVERY, LavaError

    services = app.extensions["dashboard"]
    rest, backoff = lab.reconciler.rest, Backoff(ceiling=120)
    endpoint = topic = None
    while True:
        try:
            endpoint, topic = rest.discover_event_socket()
            break
        except LavaError as err:
            if err.kind not in TRANSIENT_DISCOVERY:
                why = f"LAVA names no usable event socket ({err})"
                break  # LAVA answers, but names no ZMQ socket: its WebSocket, then
            message = str(err)
        except Exception as err:  # whatever it is, keep trying: without it there is no live feed
            message = f"internal error ({type(err).__name__})"
        delay = backoff.next()
        log.warning("%sevent socket discovery failed: %s; retrying in %.0f s", _lab_said(lab),
                    message, delay)
        lab.discovery_error = message
        socketio.sleep(delay)
    lab.discovery_error = None
    prefix = lab.settings["topic_prefix"] or topic or ""
    if endpoint is not None:
        why = zmq_source.reachable(endpoint, services.settings["discovery_timeout"])
        if why is None:
            log.info("%sLAVA publishes its events at %s (topic %r): using that ZMQ socket",
                     _lab_said(lab), endpoint, topic)
            _start_zmq_source(app, lab, endpoint, prefix)
            return
        why = (f"its ZMQ socket {endpoint} cannot be reached within "
               f"{services.settings['discovery_timeout']:g} s ({why})")
    url = ws.websocket_url(rest.base)
    log.warning("%susing LAVA's WebSocket %s for events: %s", _lab_said(lab), url, why)
    _start_ws_source(app, lab, url, prefix)


def _lava_servers(settings):
    """(lab name, LAVA URL) of each lab these settings name, as an ingest process's meta says them
    (cluster_web.lava_servers): a web process has no REST client of its own to say them."""
    from dashboard import labs as lab_config
    from dashboard.live.cluster_web import lava_servers
    from dashboard.sources.rest import LavaRest

    labs = [{"name": lab.name, "lava_url": LavaRest(url).base if url else ""}
            for lab in lab_config.from_settings(settings)
            for url in [lab.settings(settings)["lava_url"]]]
    return lava_servers({"labs": labs} if settings["labs"] else {"lava_url": labs[0]["lava_url"]})


def _lava_client(settings, lab=""):
    if not settings["lava_url"]:
        return None
    from dashboard.sources.rest import LavaRest

    where = f"labs.{lab}" if lab else "lava_url"
    try:
        client = LavaRest(settings["lava_url"], config.lava_token(settings),
                          settings["lava_timeout"], ca_file=settings["lava_ca_file"])
    except config.ConfigError as err:  # (a ValueError too: before the clause below)
        if lab:  # the labs file's own name for it
            raise config.ConfigError(f"{where}: {str(err).replace('lava_token_file:', 'token_file:', 1)}") from None
        raise config.ConfigError(str(err)) from None
    except ValueError as err:
        raise config.ConfigError(f"{where}: {err}") from None
    if client.api_path_dropped:
        log.warning("%s: LAVA's own address is meant, not its API's: %s is asked (give it without "
                    "%s)", where, client.base, "/api/v0.2/")
    if client.has_credentials:  # (a reach audit: dropped unsaid, a proxy's 401 was a puzzle)
        log.warning("%s: the user and password in the URL are not sent to LAVA (it takes a "
                    "token: %s); LAVA is asked at %s", where,
                    "token_file" if lab else "--lava-token-file", client.base)
    return client


def _start_simulated_lab(settings, name=""):
    import datetime as dt
    import random

    from dashboard import green
    from dashboard.sources.simulator import LabPublisher, SimLab

    zmq = green.zmq_module(settings["async_mode"])
    seed = settings["sim_seed"] or random.SystemRandom().randrange(1, 2**31)
    lab = SimLab(random.Random(seed), n_devices=settings["sim_devices"],
                 start=dt.datetime.now(dt.timezone.utc), pace=settings["sim_speed"])
    publisher = LabPublisher(lab, "tcp://127.0.0.1:*", zmq, socketio.sleep)
    socketio.start_background_task(publisher.run)
    if name:
        log.warning("lab %s: SIMULATED (%d devices, seed %d), published at %s", name,
                    settings["sim_devices"], seed, publisher.endpoint)
    else:
        log.warning("neither --event-source nor --lava-url given: running on a SIMULATED lab (%d "
                    "devices, seed %d) published at %s", settings["sim_devices"], seed,
                    publisher.endpoint)
    return publisher.endpoint
