"""Every setting of the dashboard, declared once: name, default, environment variable, flag, help.

Layering: defaults, then ``DASHBOARD_*`` environment variables, then command-line flags (or a test
dict). This module imports only the standard library so that ``app.py`` can read the settings before
it monkey-patches anything.
"""
import argparse
import dataclasses
import os
import urllib.parse

ENV_PREFIX = "DASHBOARD_"


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: its name, type, default and the help text shown by --help and in the README."""

    name: str
    default: object
    help: str
    type: type = str
    choices: tuple = ()
    multiple: bool = False  # repeatable flag; comma-separated in the environment

    @property
    def env(self):
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")


SETTINGS = (
    Setting("role", "all", "all (default): one process does everything. ingest: sources, model and "
            "store, publishing numbered changes to --message-queue. web: pages, REST and Socket.IO, "
            "following the ingest process through --message-queue (see docs/deployment.md).",
            choices=("all", "ingest", "web")),
    Setting("message_queue", "", "Redis URL that ingest and web processes share, e.g. "
            "redis://127.0.0.1:6379/0 (needed by --role ingest and web; unused by all)."),
    Setting("redis_prefix", "lava-dashboard", "Prefix of this dashboard's Redis keys and channel "
            "(several dashboards can share one Redis)."),
    Setting("change_log", 5000, "Change batches kept in Redis, and numbered changes kept by each "
            "process that serves browsers, so that a client that reconnects catches up instead of "
            "taking a snapshot.", int),
    Setting("database", "", "Event store: empty for SQLite in --data-dir, or a PostgreSQL URL "
            "(postgresql://user:password@host/db) that processes on several machines share (not "
            "for the simulated lab, which keeps its history in SQLite)."),
    Setting("host", "127.0.0.1", "Address the web server listens on."),
    Setting("port", 5000, "Port the web server listens on.", int),
    Setting("zmq", [], "lava-publisher's ZMQ endpoint, e.g. tcp://lava.example.org:5500: the same as "
            "--event-source for tcp:// (kept as an alias). Repeat for several servers. With no event "
            "source and no --lava-url, a simulated lab is started.", str, multiple=True),
    Setting("event_source", [], "Where to receive LAVA's events: tcp://HOST:5500 or ipc://PATH "
            "(lava-publisher's ZMQ socket; --zmq is the same), or ws://HOST/ws/ or wss://HOST/ws/ (its WebSocket, next "
            "to the REST API, for a lab whose port 5500 is firewalled). Repeat for several. With "
            "--lava-url and none given, LAVA's ZMQ socket is used, or its /ws/ when that socket cannot "
            "be reached within --discovery-timeout.", str, multiple=True),
    Setting("discovery_timeout", 10.0, "Seconds to reach the ZMQ socket LAVA names (with --lava-url "
            "and no --event-source) before using LAVA's WebSocket instead.", float),
    Setting("metrics", "on", "Prometheus metrics (docs/metrics.md): 'on' serves /metrics on the "
            "dashboard's port, open to everyone who reaches it (it holds counts and names of device "
            "types, workers and sources, never jobs' descriptions, submitters or tokens); 'off'; or "
            "HOST:PORT to serve it there instead (e.g. an address only Prometheus reaches)."),
    Setting("topic_prefix", "", "Only receive messages whose topic starts with this prefix "
            "(e.g. org.lavasoftware). Empty receives everything, or, when the event socket is found "
            "through --lava-url, what LAVA says its topic is."),
    Setting("lava_url", "", "Base URL of the LAVA server (e.g. https://lava.example.org). The "
            "dashboard loads the current state from its REST API at start, reconciles with it, finds "
            "the event socket there when no --event-source is given, and links objects to their LAVA pages."),
    Setting("lava_token", "", "LAVA API token (sent as 'Authorization: Token ...' to the REST API, "
            "and as Basic user:token to lava-publisher's WebSocket on --lava-url's host only; never "
            "logged or sent to browsers). A flag's value shows in `ps`: prefer --lava-token-file or the "
            "environment variable. Anonymous reads see public objects only."),
    Setting("lava_token_file", "", "Read the LAVA API token from this file instead."),
    Setting("lava_ca_file", "", "CA bundle (PEM) that LAVA's certificate is checked against, for "
            "a LAVA behind a private CA or with a self-signed certificate: the REST API over "
            "https:// and the WebSocket over wss:// then trust its CAs alone. Read at start; empty: "
            "the system's CAs (SSL_CERT_FILE replaces those for the whole process)."),
    Setting("labs", "", "TOML file naming several labs, each with its own LAVA URL, token file, "
            "CA bundle and event sources (docs/labs.md), instead of the single-lab flags "
            "--lava-url, --event-source, --lava-token-file, --lava-ca-file and --topic-prefix."),
    Setting("access", "", "Who may see what (docs/security.md). open: everyone sees everything. "
            "lava: each viewer sees what LAVA shows them (anonymous, or signed in with their LAVA "
            "username and token); private jobs are redacted. login: like lava, but nothing is shown "
            "without signing in (signed wall links excepted). Empty: lava with --lava-url or --labs, "
            "else open.",
            choices=("", "open", "lava", "login")),
    Setting("trusted_proxy", False, "Trust the reverse proxy's X-Forwarded-Proto and "
            "X-Forwarded-For: session cookies are then Secure behind TLS, and per-address limits "
            "count the client's address. Only behind a proxy that sets them.", bool),
    Setting("session_idle", 3600.0, "Seconds a signed-in viewer's session lasts unused.", float),
    Setting("session_lifetime", 43200.0, "Seconds a signed-in viewer's session lasts at most.",
            float),
    Setting("secret_key", "", "Key that signs session cookies and wall links; every web process "
            "of a cluster needs the same. Empty: the key in --data-dir/secret_key, created (mode "
            "0600) on first start. Give it in the environment, not on the command line."),
    Setting("lava_timeout", 15.0, "Seconds one read from the LAVA API may wait; a whole answer must be complete within twice this.", float),
    Setting("reconcile_interval", 300.0, "Seconds between two reconciliations with the REST API "
            "(one also runs when the event source reconnects or has been silent too long).", float),
    Setting("job_log_poll", 2.0, "Seconds between two reads of a followed job's log from LAVA (the "
            "live log tail of an open job panel; needs --lava-url).", float),
    Setting("job_logs_max", 20, "Most job logs followed at once, for all viewers together (with "
            "--labs: in each lab); the pages of one address and viewer follow at most a quarter "
            "of it (2 at least) still being read, and a log read to its end gives its place to a "
            "new one.", int),
    Setting("export_max", 100000, "Most events one CSV or JSON export holds (for a viewer who may "
            "not see every job: this many event ids at a time). When its range holds more, the "
            "answer says so and links the rest (docs/api.md).", int),
    Setting("silence_timeout", 600.0, "Reconcile when no event has arrived for this many seconds "
            "(0: never).", float),
    Setting("async_mode", "eventlet", "Concurrency library: eventlet (default) or gevent.",
            choices=("eventlet", "gevent")),
    Setting("max_finished_jobs", 500, "Finished jobs kept in the live model; older ones are "
            "forgotten so that memory stays bounded.", int),
    Setting("max_devices", 20000, "Most devices the live model holds; an event or REST record that "
            "would add one more is dropped and counted in /healthz as over_limit.", int),
    Setting("max_workers", 2000, "Most workers the live model holds (beyond: dropped, counted as "
            "over_limit).", int),
    Setting("max_jobs", 50000, "Most jobs, unfinished and finished, the live model holds (beyond: "
            "dropped, counted as over_limit).", int),
    Setting("max_message_size", 1048576, "Largest accepted lava-publisher message in bytes (all "
            "frames); larger ones are dropped and counted as oversized. ZMQ refuses a single frame "
            "over 4 times this by dropping the connection, which is then made anew.", int),
    Setting("zmq_gather", 0.002, "During a stream (a message within 5 ms of the last), how long "
            "the ZMQ reader waits for more before it wakes an idle loop, in seconds (0 to 0.05): "
            "one wake-up then serves them all, and an event of the stream may wait this much "
            "longer. A lone message goes at once. 0: the loop is woken for whatever was read. "
            "Above 125 events/s the wait grows with the stream's rate, up to --zmq-gather-max "
            "(not when 0).",
            float),
    Setting("zmq_gather_max", 0.04, "The longest the ZMQ reader's wait for more of a stream grows "
            "to (seconds, from --zmq-gather up to 0.05): in proportion to the stream's rate above "
            "125 events/s (by default 4 ms at 250, 16 at 1,000, 40 from 2,500), trading latency for "
            "CPU as the load grows. Equal to --zmq-gather: the wait never grows. The default "
            "follows a --zmq-gather set above it.", float),
    Setting("batch_interval", 0.1, "The longest a change waits for its batch, in seconds: the "
            "ceiling of adaptive batching (--batch-floor), or with --batch-floor 0 the fixed gap "
            "between two batches during a burst; a change after a quiet spell goes out at once. "
            "(An ingest process publishes to Redis every interval, which adds up to one more.)",
            float),
    Setting("batch_floor", 0.01, "Adaptive batching: the shortest gap between two batches, in "
            "seconds. The gap follows what recent batches cost to send, kept under --batch-budget, "
            "from this floor up to --batch-interval. 0: every gap is --batch-interval (the fixed "
            "interval of earlier versions).", float),
    Setting("batch_budget", 0.25, "Adaptive batching: the share of one core that sending batches "
            "may use (above 0, up to 1). The gap after a batch is its cost divided by this.", float),
    Setting("batch_knee", 300.0, "Adaptive batching: above this many changes a second, the gap "
            "grows in proportion to the stream's rate, from --batch-floor up to 40 ms (or "
            "--batch-interval, if lower): by default 33 ms at 1,000 changes a second. 0: the gap "
            "never grows with the rate.", float),
    Setting("direct_send", True, "Write each batch's WebSocket frame, built once per filter, "
            "straight to its clients' sockets when nothing else of theirs is waiting "
            "(eventlet only). --no-direct-send: every packet through python-engineio's queue and "
            "each client's writer, as earlier versions did.", bool),
    Setting("max_pending_changes", 20000, "Changes held for the next batch before clients are told "
            "to resync instead (bounds memory if sending stalls).", int),
    Setting("relay_mode", "batched", "batched (default): one encoded batch per distinct filter. "
            "naive: one emit per change per client, kept only as the benchmark baseline.",
            choices=("batched", "naive")),
    Setting("ws_compression", False, "Allow per-message WebSocket compression. Off by default: "
            "it multiplies the CPU cost of each delivery (see docs/performance.md).", bool),
    Setting("data_dir", "data", "Folder of the SQLite event store (events.sqlite3: history, and the "
            "model restored on restart; simulated.sqlite3 for the simulated lab, never restored), "
            "relative to the folder the app is started in: the log says the whole path at start. "
            "Unused with --database."),
    Setting("store", True, "Keep every accepted event in the store (--no-store: live view only, "
            "nothing written).", bool),
    Setting("store_writer", "process", "Who writes the SQLite store's batches and applies its "
            "retention: process (default): a child process of its own, so that the hub never waits "
            "for its Python; thread: a thread of the app, as before (PostgreSQL always uses one).",
            choices=("process", "thread")),
    Setting("store_write_every", 0.5, "Seconds between two writes of the store under load (from 1,000 "
            "events/s, until the stream falls below 200 events/s; otherwise every 0.1 s). Longer: fewer, larger transactions, "
            "less CPU per stored event in a steady stream (2 s: about 5 percent less at 2,500 "
            "events/s; no gain at the highest rates, docs/performance.md); a SIGKILL of the "
            "app, or a power cut, loses up to this many seconds of the history (the live view "
            "loses nothing). From 0.1 to 2.", float),
    Setting("retention_days", 30.0, "Stored events older than this many days are pruned.", float),
    Setting("max_events", 1000000, "At most this many stored events; the oldest are pruned.", int),
    Setting("snapshot_interval", 60.0, "Seconds between two saves of the live model to the store.",
            float),
    Setting("sim_devices", 50, "Devices in the simulated lab.", int),
    Setting("sim_speed", 1.0, "The simulated lab lives this many times faster (2 = jobs, outages and "
            "admin actions take half as long), its events still stamped with the real time. "
            "At most 1000.", float),
    Setting("sim_seed", 0, "Random seed of the simulated lab (0 picks one at start).", int),
    # Alerts (docs/alerts.md)
    Setting("alerts", True, "Evaluate alert rules as changes arrive (--no-alerts: none).", bool),
    Setting("alerts_config", "", "TOML file of alert thresholds, per lab and device type, rules "
            "turned off, and Apprise destinations (docs/alerts.md). Empty: the defaults, "
            "shown on the page only."),
    Setting("alerts_interval", 15.0, "Seconds between two evaluations of the rules about "
            "durations (Bad for longer than N minutes, ...).", float),
    Setting("log_level", "INFO", "Logging level.", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    # -- limits on what one client may cost (Socket.IO work, connections, slow requests) --------
    Setting("subscribe_burst", 5, "Socket.IO `subscribe` requests one client address may send at "
            "once, per viewer (signed in, anonymous, a wall link), however many connections it "
            "opens or reopens; beyond that it is answered `rate_limited` with a `retry_after`.", int),
    Setting("subscribe_rate", 1.0, "Further `subscribe` requests allowed per second, per client "
            "address and viewer (token bucket refill).", float),
    Setting("max_client_messages", 100, "Socket.IO messages one client may send at once (then a "
            "tenth of that per second); a client that sends more is disconnected.", int),
    Setting("max_client_queue", 1000, "Messages queued for one Socket.IO client before it counts as "
            "too far behind: its queue is dropped and it is disconnected (it reconnects and catches "
            "up or takes a snapshot).", int),
    Setting("max_connections_per_address", 200, "Concurrent connections from one IP address; more "
            "are answered 503 and closed (0: no limit). Behind a reverse proxy every client shares "
            "the proxy's address: with --trusted-proxy it is 0 unless given, and the proxy limits "
            "each client (deploy/nginx.conf).", int),
    # 100: a lab's wall and desks behind one NAT are tens of screens, each one session (a tab),
    # and each may hold a second while it reconnects until the first's ping times out (45 s);
    # 100 sessions cost about 1.4 MB. Without a cap, one kept-alive connection opened thousands.
    Setting("max_sessions_per_address", 100, "Concurrent Socket.IO sessions (a page, tab or "
            "screen each) from one client address; more are refused at connect (`connect_error` "
            "with code `too_many_sessions` and `retry_after`), except that a session whose client "
            "stopped answering pings gives its place up (0: no limit). Behind a reverse proxy give "
            "--trusted-proxy, or every client shares the proxy's address.", int),
    Setting("header_timeout", 10.0, "Seconds a connection has to send a request line and its "
            "headers (also how long an idle kept-alive connection waits for its next request).",
            float),
    Setting("socket_timeout", 60.0, "Seconds one read or write on a client connection may wait "
            "before the connection is closed (longer than Socket.IO's 25 s ping interval).", float),
    Setting("shutdown_timeout", 4.0, "On SIGTERM, seconds allowed to flush the store before the "
            "process exits anyway, whatever clients do.", float),
)

BY_NAME = {s.name: s for s in SETTINGS}
# Numbers that make no sense at zero or below (a loop without a pause, an empty bound).
POSITIVE = ("port", "discovery_timeout", "change_log", "max_finished_jobs", "max_devices", "max_workers", "max_jobs",
            "max_message_size", "batch_interval", "max_pending_changes",
            "lava_timeout", "reconcile_interval", "retention_days", "max_events", "snapshot_interval",
            "sim_devices", "sim_speed", "session_idle", "session_lifetime", "subscribe_burst",
            "subscribe_rate", "max_client_messages", "max_client_queue", "header_timeout",
            "socket_timeout", "shutdown_timeout", "alerts_interval", "job_log_poll", "job_logs_max",
            "export_max")


# Seconds: at 20,000 events/s (bench/store.py's rates), 2 s of events is 40,000 rows, well inside
# the store's queue (storage.store.MAX_QUEUE, 100,000) that holds them meanwhile.
MAX_STORE_WRITE_EVERY = 2.0
MAX_SIM_SPEED = 1000.0  # the simulated lab's SimLab.MAX_PACE (not imported: config stays light)
MAX_ZMQ_GATHER = 0.05  # seconds: beyond it, the wait would cost more latency than a wake-up saves
MAX_BATCH_KNEE = 1_000_000.0  # changes a second: far above any lab's (a number, not infinity)
MAX_CA_FILE_BYTES = 4 << 20  # a CA bundle: Debian's whole ca-certificates.crt is about 220 kB

EVENT_SCHEMES = ("tcp", "ipc", "ws", "wss")  # ZMQ's, then lava-publisher's WebSocket


class ConfigError(ValueError):
    """A setting's value could not be understood."""


# Every number a setting may be, at most either way (seconds, days, rates: about 31 years in
# seconds; counts); NaN, inf and beyond are refused. Before (a new-user audit), --max-events 1e23
# failed every pruning ("Python int too large to convert to SQLite INTEGER") and --change-log 1e22
# ended the start in a traceback.
MAX_FLOAT = 1e9
MAX_INT = 10**12


def _convert(setting, raw):
    if setting.type is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{setting.name} ({setting.env}): expected true or false, got {raw!r}")
    try:
        value = setting.type(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{setting.name} ({setting.env}): expected {setting.type.__name__}, "
                          f"got {raw!r}") from None
    if setting.type is int and not abs(value) <= MAX_INT:
        raise ConfigError(f"{setting.name} ({setting.env}): expected a whole number between "
                          f"-{MAX_INT:,} and {MAX_INT:,}, got {raw!r}")
    if setting.type is float and not abs(value) <= MAX_FLOAT:
        # (NaN passed every "greater than 0" check: --alerts-interval nan held the loop at 100 %
        # CPU, --shutdown-timeout nan ended the shutdown's watchdog, and 1e300 ended the shutdown
        # in a traceback: a new-user audit.)
        raise ConfigError(f"{setting.name} ({setting.env}): expected a number between -{MAX_FLOAT:,.0f} "
                          f"and {MAX_FLOAT:,.0f}, got {raw!r}")
    if setting.choices and value not in setting.choices:
        raise ConfigError(f"{setting.name} ({setting.env}): expected one of "
                          f"{', '.join(c for c in setting.choices if c)}, got {raw!r}")
    return value


def _from_env(environ):
    values = {}
    for s in SETTINGS:
        if s.env in environ:
            raw = environ[s.env]
            if s.multiple:
                values[s.name] = [_convert(s, p.strip()) for p in raw.split(",") if p.strip()]
            else:
                values[s.name] = _convert(s, raw)
    return values


def build_parser():
    """The command-line parser, generated from SETTINGS."""
    parser = argparse.ArgumentParser(
        prog="app.py", description="LAVA Live Dashboard: a live view of a LAVA lab.",
        epilog=f"Every flag can also be set through the environment variable {ENV_PREFIX}<NAME>.")
    for s in SETTINGS:
        help_text = f"{s.help} [env {s.env}; default {format_default(s)}]"
        if s.type is bool:
            parser.add_argument(s.flag, dest=s.name, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
        elif s.multiple:
            parser.add_argument(s.flag, dest=s.name, action="append", default=None,
                                metavar=s.name.upper(), help=help_text)
        else:
            parser.add_argument(s.flag, dest=s.name, default=None, metavar=s.name.upper(),
                                choices=s.choices or None, help=help_text,
                                type=lambda raw, s=s: _argparse_convert(s, raw))
    return parser


def _argparse_convert(setting, raw):
    try:
        return _convert(setting, raw)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def load(argv=(), environ=None, overrides=None):
    """Settings as a dict: defaults, then environment, then argv, then an explicit overrides dict."""
    environ = os.environ if environ is None else environ
    values = {s.name: (list(s.default) if s.multiple else s.default) for s in SETTINGS}
    from_env = _from_env(environ)
    values.update(from_env)
    args = build_parser().parse_args(list(argv))
    given = {k: v for k, v in vars(args).items() if v is not None}
    values.update(given)
    for key, value in (overrides or {}).items():
        if key not in BY_NAME:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = value
    explicit = set(from_env) | set(given) | set(overrides or {})
    if values["trusted_proxy"] and "max_connections_per_address" not in explicit:
        # Behind the proxy every connection comes from its address: a bound per address would
        # bound all viewers together (the 201st page refused, and a local /healthz probe with it).
        # The proxy bounds each client (deploy/nginx.conf); a value given still applies.
        values["max_connections_per_address"] = 0
    for name in POSITIVE:
        if values[name] <= 0:
            raise ConfigError(f"{name}: must be greater than 0, got {values[name]}")
    if not values["sim_speed"] <= MAX_SIM_SPEED:  # (NaN too: the lab would refuse it at start)
        raise ConfigError(f"sim_speed: at most {MAX_SIM_SPEED:g}, got {values['sim_speed']}")
    if "sim_devices" in explicit and values["sim_devices"] > values["max_devices"]:
        # (1e8 held the start for good: a new-user audit)
        raise ConfigError(f"sim_devices: at most --max-devices ({values['max_devices']}), got "
                          f"{values['sim_devices']}")
    if values["port"] > 65535:  # (the server took 83536 modulo 65536 and said 83536: an audit)
        raise ConfigError(f"port: a TCP port, 1 to 65535, got {values['port']}")
    if not 0 <= values["zmq_gather"] <= MAX_ZMQ_GATHER:
        raise ConfigError(f"zmq_gather: must be between 0 and {MAX_ZMQ_GATHER} (seconds), got "
                          f"{values['zmq_gather']}")
    if values["zmq_gather_max"] == BY_NAME["zmq_gather_max"].default:
        # The default ceiling follows a floor set above it.
        values["zmq_gather_max"] = max(values["zmq_gather_max"], values["zmq_gather"])
    if not values["zmq_gather"] <= values["zmq_gather_max"] <= MAX_ZMQ_GATHER:
        raise ConfigError(f"zmq_gather_max: must be between --zmq-gather ({values['zmq_gather']}) "
                          f"and {MAX_ZMQ_GATHER} (seconds), got {values['zmq_gather_max']}")
    if not 0.1 <= values["store_write_every"] <= MAX_STORE_WRITE_EVERY:
        raise ConfigError(f"store_write_every: must be from 0.1 to {MAX_STORE_WRITE_EVERY} (seconds), "
                          f"got {values['store_write_every']}")
    if not 0 <= values["batch_knee"] <= MAX_BATCH_KNEE:  # (also refuses NaN)
        raise ConfigError(f"batch_knee: must be between 0 and {MAX_BATCH_KNEE:g} (changes a second; "
                          f"0: off), got {values['batch_knee']}")
    if not 0 < values["batch_budget"] <= 1:
        raise ConfigError(f"batch_budget: must be above 0 and at most 1, got {values['batch_budget']}")
    if values["batch_floor"] == BY_NAME["batch_floor"].default and values["batch_interval"] > 0:
        # The default floor follows an interval set below it (set so before the floor existed).
        values["batch_floor"] = min(values["batch_floor"], values["batch_interval"])
    if not 0 <= values["batch_floor"] <= values["batch_interval"]:
        raise ConfigError(f"batch_floor: must be between 0 and --batch-interval "
                          f"({values['batch_interval']}), got {values['batch_floor']}")
    if values["max_sessions_per_address"] < 0:
        raise ConfigError(f"max_sessions_per_address: must be 0 (no limit) or more, got "
                          f"{values['max_sessions_per_address']}")
    if values["metrics"] not in ("on", "off"):
        host, colon, port = values["metrics"].rpartition(":")
        if not colon or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"metrics: expected on, off or HOST:PORT, got {values['metrics'][:60]!r}")
    # --zmq is --event-source for tcp:// (kept as an alias); each source says its scheme.
    values["event_source"] = list(values["zmq"]) + [
        u for u in values["event_source"] if u not in values["zmq"]]
    for url in values["event_source"]:
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in EVENT_SCHEMES:
            raise ConfigError(f"event_source: expected tcp://, ipc://, ws:// or wss://, got "
                              f"{scheme + '://...' if scheme else repr(url[:40])}")
    if values["lava_ca_file"]:
        check_ca_file("lava_ca_file", values["lava_ca_file"])
    if values["labs"]:
        _check_several_labs(values)
    if not values["access"]:  # open only where the dashboard cannot know better
        values["access"] = "lava" if values["lava_url"] or values["labs"] else "open"
    if values["access"] != "open" and not values["lava_url"] and not values["labs"]:
        raise ConfigError(f"access {values['access']}: needs --lava-url, the LAVA server that "
                          f"says who may see what")
    if values["role"] != "all" and not values["message_queue"].startswith(("redis://", "rediss://")):
        scheme = values["message_queue"].partition(":")[0][:20]  # never the rest: it may hold a password
        raise ConfigError(f"role {values['role']}: needs --message-queue redis://HOST:PORT/DB, "
                          f"got {scheme + ':...' if scheme else 'nothing'}")
    for name in ("message_queue", "database"):
        _check_server_url(name, values[name])
    return values


def _check_server_url(name, url):
    """A Redis or PostgreSQL URL that can be read, its password where it can be taken out of what
    is shown: else a ConfigError that quotes none of it (nor the parser's message: either may hold
    the password)."""
    if not url or "://" not in url:
        return  # (none, or not a URL: said where the store or the queue is made)
    netloc = url.partition("://")[2].partition("/")[0].partition("?")[0].partition("#")[0]
    if "@" not in netloc and "@" in url.partition("://")[2]:
        # user:pa/ss@host: the password is read as the path (or as the port), and would be shown.
        raise ConfigError(f"{name}: not a valid URL (a password's '/', '?', '#' or '@' must be "
                          f"%-encoded: %2F, %3F, %23, %40)")
    try:  # (the Redis client's own parse raised a traceback)
        urllib.parse.urlsplit(url).port
    except ValueError:
        raise ConfigError(f"{name}: not a valid URL (its host or port cannot be read)") from None


def _check_several_labs(values):
    """What a dashboard of several labs (--labs) does not do yet, refused with why (docs/labs.md)."""
    if values["database"]:
        raise ConfigError("labs: each lab keeps its own history: give a lab's PostgreSQL URL as "
                          "its `database` in the labs file, not --database (docs/labs.md)")


def check_ca_file(field, path):
    """A CA bundle OpenSSL can load (PEM certificates), else ConfigError naming `field` and the
    file: at start, not as a traceback (nor as an error of every connection) later."""
    try:
        with open(path, "rb") as fh:
            pem = fh.read(MAX_CA_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {path!r}: {exc.strerror}") from None
    if len(pem) > MAX_CA_FILE_BYTES:
        raise ConfigError(f"{field}: {path!r} is larger than {MAX_CA_FILE_BYTES >> 20} MiB: not a "
                          f"CA bundle")
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise ConfigError(f"{field}: {path!r} holds no certificate: a CA bundle is PEM text "
                          f"(-----BEGIN CERTIFICATE-----)")
    # Standard library, but not at the top: ssl only when a bundle is given, and this context is
    # only a check (the sources make theirs once the hub's ssl is in place: network.tls_context).
    import ssl

    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        why = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(f"{field}: OpenSSL cannot load {path!r} as a CA bundle ({why})") from None


def lava_token(values):
    """The LAVA token from --lava-token or --lava-token-file (a secret: never log or echo it)."""
    if values.get("lava_token_file"):
        try:
            with open(values["lava_token_file"], encoding="utf-8") as fh:
                token = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"lava_token_file: cannot read {values['lava_token_file']!r}: "
                              f"{getattr(exc, 'strerror', None) or 'not UTF-8 text'}") from None
    else:
        token = values.get("lava_token") or ""
    token = token.strip()  # a trailing newline from a file or a secret store is not part of it
    if values.get("lava_token_file") and not token:
        # An empty file is a secret store that wrote nothing, not a wish to be anonymous (an
        # audit: it ran anonymously, private jobs unseen, and said nothing)
        raise ConfigError(f"lava_token_file: {values['lava_token_file']!r} is empty: give a file "
                          f"holding the LAVA token, or no token file to follow LAVA anonymously")
    if any(ord(c) < 33 or ord(c) > 126 for c in token):
        # Said without the token: an HTTP header could not carry it, and errors would echo it.
        raise ConfigError("lava_token: the token has spaces, control or non-ASCII characters")
    return token


def format_default(setting):
    """The default as shown to people."""
    if setting.multiple:
        return "none"
    if setting.default == "":
        return "empty"
    return str(setting.default).lower() if setting.type is bool else str(setting.default)


def markdown_table():
    """The README's configuration table, generated from SETTINGS."""
    rows = ["| Flag | Environment | Default | Meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        flag = f"`{s.flag}`" + (" (repeatable)" if s.multiple else "")
        rows.append(f"| {flag} | `{s.env}` | `{format_default(s)}` | {s.help} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
