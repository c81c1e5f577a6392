"""Counters and source status behind /healthz, and a logger that speaks at most once per interval."""
import collections
import datetime as dt
import logging
import time

from dashboard.core.events import EARLIEST, ERROR_REASONS, MAX_AHEAD
from dashboard.core.ratelimit import RateLimiter

log = logging.getLogger("dashboard.live.ingest")


def iso_now():
    """Now, in ISO 8601 (UTC, to the second), as the page reads a time: when a source or the
    LAVA API entered its state (`since`)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class RateLimitedLog:
    """Logs a warning per key at most once every `interval` seconds, with how many were suppressed."""

    def __init__(self, logger, interval=5.0, clock=time.monotonic):
        self.logger = logger
        self.limiter = RateLimiter(interval, clock)

    def warning(self, key, message, *args):
        """Log now if this key has been quiet long enough; otherwise count it as suppressed."""
        speak, suppressed = self.limiter.allow(key)
        if not speak:
            return False
        suffix = f" ({suppressed} more like this since the last report)" if suppressed else ""
        self.logger.warning(message + suffix, *args)
        return True


class SourceStatus:
    """What /healthz says about one event source."""

    def __init__(self, name, kind, clock=time.monotonic, lab=""):
        self.name = name
        self.kind = kind
        self.lab = lab  # the named lab it feeds (docs/labs.md); "" for the one unnamed lab
        self.clock = clock
        self.state = "connecting"
        self.changed_at = clock()
        # When it last connected or stopped being connected (ISO 8601, for the page: brief): the
        # retries of a source that cannot connect do not move it.
        self.since = iso_now()
        self.last_message_at = None
        self.received = 0
        self.rejected = 0
        self.disconnects = 0
        self.detail = None
        # Why it is not connected, in one word of a fixed set (a failure's kind: "tls", "refused",
        # "status", ...; never a URL or a server's words), or None: what the page may say of it
        self.problem = None
        self.on_reconnect = []  # callables, run when the source connects again after a loss
        self.on_state = []  # callables, run after every change of state (the page's sources line)
        self.lag = None  # core.lag.LagWatch, set by the ingest path
        # When the message being handled left its socket (epoch s), if the source knows (a ZMQ
        # source, read by a thread of its own): the lag watch's arrival time. None: now.
        self.read_at = None
        self.reader = None  # a ZMQ source: as_dict() of its hand-off and its gathering wait
        self.failures = None  # a WebSocket source: its failed handshakes by kind (a Counter)
        self.on_reject = None  # set by Health.add_source: counts what the source itself refused

    def set_state(self, state, detail=None, problem=None):
        """Record a connection state change (connecting, connected, disconnected, stopped), and
        why it is not connected (`problem`: see __init__). A new problem alone tells the
        listeners too: a source that has never connected stays "connecting" while its reason
        changes (an audit: a wall said "connecting" for ever of a lab whose TLS was refused)."""
        problem = None if state == "connected" else problem
        callbacks = []
        if state != self.state:
            if state == "disconnected":
                self.disconnects += 1
            if state == "connected" or self.state == "connected":  # connected, or not, since when
                self.since = iso_now()
            self.state = state
            self.changed_at = self.clock()
            callbacks = list(self.on_state)
            if state == "connected" and self.disconnects:
                callbacks = list(self.on_reconnect) + callbacks
        elif problem != self.problem:
            callbacks = list(self.on_state)
        self.problem = problem
        self.detail = detail
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a listener's bug must not stop the source that calls this
                log.exception("a listener of %s's state failed", self.name)

    def reject(self, error):
        """A message the source refused before it could be parsed (a ParseError), e.g. a frame
        over ZMQ_MAXMSGSIZE that made libzmq drop the connection: counted like a parser's reject."""
        if self.on_reject is not None:
            self.on_reject(error)
        else:
            self.rejected += 1

    def brief(self):
        """What the page is told: name (never a secret: a URL without credentials), kind, state,
        and since when it is connected or not (ISO 8601: a source still connecting after a while
        is a problem the wall's attention strip says, as one that was lost), and why it is not
        (`problem`, when known)."""
        out = {"name": self.name, "kind": self.kind, "state": self.state, "since": self.since,
               # It was connected, and is not now: down (however it is trying to come back).
               "lost": self.disconnects > 0 and self.state != "connected"}
        if self.problem:
            out["problem"] = self.problem
        if self.lab:
            out["lab"] = self.lab
        return out

    def as_dict(self):
        """JSON-ready status; ages in seconds."""
        now = self.clock()
        return {"name": self.name, "kind": self.kind, "lab": self.lab, "state": self.state,
                "state_age": round(now - self.changed_at, 3), "detail": self.detail,
                "last_message_age": None if self.last_message_at is None
                else round(now - self.last_message_at, 3),
                "received": self.received, "rejected": self.rejected,
                "disconnects": self.disconnects,
                # (the lag watch's times are epoch seconds, as the messages' are)
                "lag": self.lag.as_dict(time.time()) if self.lag is not None else None,
                "reader": self.reader.as_dict() if self.reader is not None else None,
                "failures": dict(self.failures) if self.failures is not None else None}


class Health:
    """Ingest counters: accepted, duplicates, rejected by reason, internal errors; source statuses."""

    def __init__(self, clock=time.monotonic, log_interval=5.0):
        self.clock = clock
        self.started = clock()
        self.accepted = 0
        self.duplicates = 0
        self.internal_errors = 0
        self.suspected_losses = 0
        # A job's times out of range (core/events.py), left out of messages otherwise accepted
        self.unusable_times = 0
        self.rejected = collections.Counter({reason: 0 for reason in ERROR_REASONS})
        self.sources = []
        self.log = RateLimitedLog(log, log_interval, clock)

    def clock_offset(self, lab, now):
        """Seconds lab `lab`'s LAVA clock is behind this one (negative: ahead), by the stamps of
        its sources' messages (core/lag.py's `offset`): the smallest of the sources that know
        one, since a source read late only adds to it. None: none knows."""
        known = [o for o in (s.lag.offset(now) for s in self.sources if s.lab == lab and s.lag)
                 if o is not None]
        return min(known, key=abs) if known else None

    def add_source(self, name, kind, lab=""):
        """Register a source (of this named lab); returns its SourceStatus for the source to update."""
        status = SourceStatus(name, kind, self.clock, lab)
        status.on_reject = lambda error: self.reject(status, error, ())
        self.sources.append(status)
        return status

    def message(self, source):
        """A message arrived from source (good or bad)."""
        source.received += 1
        source.last_message_at = self.clock()

    def reject(self, source, error, frames):
        """Count a rejected message and log a sample of it, rate-limited per reason."""
        self.rejected[error.reason] += 1
        source.rejected += 1
        self.log.warning("reject:" + error.reason, "dropped message from %s: %s; sample: %s",
                         source.name, error, _sample(frames))

    def suspected_loss(self, source, behind):
        """The reader ran `behind` seconds behind the source's publisher: lava-publisher may have
        dropped messages for it (its PUB socket drops past its high-water mark, silently)."""
        self.suspected_losses += 1
        self.log.warning("behind", "%s: reading %.1f s behind its publisher, which may have dropped "
                         "messages (a suspected loss; the model is checked against LAVA's REST API "
                         "when --lava-url is given)", source.name, behind)

    def unusable_time(self, source, event):
        """Count the job times out of range of a message the model took: the message kept, those
        times left out (unknown). Logged by its uuid and source: never its job's values, which may
        be private."""
        self.unusable_times += len(event.unusable)
        self.log.warning("unusable_time", "message %r from %s: a job's %s out of range (before %d "
                         "or more than %d day ahead of this clock): the message kept, that time "
                         "left out as unknown (was LAVA's clock set when it recorded it?)",
                         event.uuid[:80], source.name, " and ".join(event.unusable), EARLIEST.year,
                         MAX_AHEAD.days)

    def internal_error(self, source, exc):
        """Count an unexpected exception while handling a message (the loop goes on)."""
        self.internal_errors += 1
        self.log.warning("internal", "error handling a message from %s: %r", source.name, exc)

    def as_dict(self, extra=None):
        """The /healthz body."""
        body = {"ok": True, "uptime": round(self.clock() - self.started, 3),
                "sources": [s.as_dict() for s in self.sources],
                "counters": {"accepted": self.accepted, "duplicates": self.duplicates,
                             "rejected": dict(self.rejected),
                             "rejected_total": sum(self.rejected.values()),
                             "internal_errors": self.internal_errors,
                             "suspected_losses": self.suspected_losses,
                             "unusable_times": self.unusable_times}}
        body.update(extra or {})
        return body


# How long a lab stays degraded ("model-limits") after its model last kept an object out.
OVER_LIMIT_DEGRADES_S = 600.0


def _over_limit_recently(lab, now):
    """Whether the lab's model kept a device, worker or job out (--max-devices, ...) in the last
    OVER_LIMIT_DEGRADES_S, as far as the summaries have seen: its count is compared with the one
    the last summary saw (lab.over_limit_seen: [count, when it last grew]). Its live view then
    misses objects: an operator must raise the limit (an audit found it said nowhere but a
    counter)."""
    seen = lab.over_limit_seen
    if lab.state.over_limit != seen[0]:
        seen[0], seen[1] = lab.state.over_limit, now
    return seen[1] is not None and now - seen[1] < OVER_LIMIT_DEGRADES_S


def summary(services, clock=time.monotonic):
    """What is degraded, and why: /healthz, and the ingest process's heartbeat for web processes.
    `services` is the app's factory.Services."""
    degraded = [_in_lab(s.lab, s.name) for s in services.health.sources if s.state != "connected"]
    for lab in services.labs:  # one lab being down degrades that lab only, and says which
        if lab.reconciler and lab.reconciler.state_name != "ok":
            degraded.append(_in_lab(lab.name, "lava-api"))
        if lab.discovery_error:
            degraded.append(_in_lab(lab.name, "event-socket-discovery"))
        if (lab.keeper and (lab.store.failing or lab.store.dropped_recently()
                            or lab.keeper.recovered or lab.store.stalled()
                            or lab.store.file_gone)
                or lab.store is not None and lab.store.read_failed_recently()):
            degraded.append(_in_lab(lab.name, "store"))
        if _over_limit_recently(lab, clock()):
            degraded.append(_in_lab(lab.name, "model-limits"))
        screen = getattr(lab.state, "screen", None)
        if screen is not None and (not screen.known
                                   or (lab.reconciler and lab.reconciler.screen_error)):
            degraded.append(_in_lab(lab.name, "device-screen"))
    if services.publisher and services.publisher.rival:
        degraded.append("another-ingest")
    # (Both at once: a standby keeps its rival while Redis is away, and says each.)
    if (services.publisher and not services.publisher.connected
            and not services.publisher.failed_on_rival):
        degraded.append("redis")
    if services.replica:
        degraded.extend(services.replica.degraded())
    return {"degraded": degraded, "accepted": services.health.accepted}


def _in_lab(lab, part):
    """A degraded part's name: "east:lava-api" for a named lab, "lava-api" for the one unnamed."""
    return f"{lab}:{part}" if lab else part


def store_health(store, keeper):
    """The /healthz section of a store and its keeper (None: no store)."""
    if store is None:
        return None
    return dict(store.stats(), restored=keeper.restored if keeper else None,
                recovered=keeper.recovered if keeper else None)


def labs_summary(services):
    """Each named lab's status for /healthz: its sources, LAVA API, discovery and store."""
    out = []
    for lab in services.labs:
        if not lab.name:
            continue
        sources = [s.as_dict() for s in services.health.sources if s.lab == lab.name]
        out.append({"name": lab.name, "simulated": lab.simulated,
                    "lava_url": lab.meta.get("lava_url") or None,
                    "lava": lab.reconciler.as_dict() if lab.reconciler else None,
                    "discovery_error": lab.discovery_error,
                    "sources": sources,
                    "store": store_health(lab.store, lab.keeper),
                    "alerts": lab.alerts.stats() if lab.alerts else None,
                    "objects": {"devices": len(lab.state.devices), "jobs": len(lab.state.jobs),
                                "workers": len(lab.state.workers)}})
    return out


def _sample(frames, limit=160):
    """A short, printable excerpt of a message for the log: its topic and uuid, and the size of
    each other frame. Never their text: a private job's submitter (the username frame) or its
    description and test-shell messages (the data) must not reach the log (docs/security.md)."""
    try:
        quoted = 2 if len(frames) == 5 else 1  # the uuid only where a uuid is: frame 2 of 5
        parts = [repr(bytes(f)[:limit]) if i < quoted else f"<{len(bytes(f))} bytes>"
                 for i, f in enumerate(frames[:6])]
    except TypeError:
        return f"<not frames: {type(frames).__name__}>"
    return "[" + ", ".join(parts) + (", ...]" if len(frames) > 6 else "]")
