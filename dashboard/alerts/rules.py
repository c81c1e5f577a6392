"""Alert rules over the live model. Pure: changes and a clock value in, transitions out.

A transition is ("fire", key, info) or ("resolve", key, None); the lifecycle (lifecycle.py) turns
them into alerts that fire once per episode. Rules that depend only on what changed are evaluated
as changes arrive (health checks, flapping, and every resolution); rules about how long something
has lasted are evaluated by tick(), which the engine calls on a slow timer.
"""
import collections
import datetime as dt
import json
import math
import re
import tomllib

# Every rule, its thresholds and their defaults. `notify` lists Apprise URLs (secrets: never shown).
DEFAULTS = {
    "device_bad": {"minutes": 30.0},
    "device_maintenance": {"minutes": 1440.0},
    "health_checks_failed": {"count": 3},
    "flapping": {"changes": 6, "minutes": 60.0},
    "queue_starving": {"minutes": 60.0},
    "worker_offline": {"minutes": 10.0},
    "stream_silent": {"minutes": 15.0},
    "lava_api_failing": {"minutes": 10.0},
    "lava_clock_skew": {"seconds": 120.0},
    "store_failing": {"minutes": 5.0},
}
COMMON = {"enabled": True, "severity": "warning", "renotify_minutes": 60.0, "notify": [],
          "rate_limit_per_hour": 20}
SEVERITIES = ("info", "warning", "critical")
# Rules whose thresholds a device type may override (the others are about the whole lab).
PER_DEVICE_TYPE = ("device_bad", "device_maintenance", "health_checks_failed", "flapping",
                   "queue_starving")
# Devices remembered by the change-driven rules, and conditions by `first_seen`: more than the
# model holds by default (20,000 devices, 2,000 workers).
MAX_TRACKED = 100_000
# The largest value each number may take: a year of minutes; counts a person would choose. A count
# sizes what the rules keep per board (flapping keeps changes + 1 times).
MAX_VALUE = {"minutes": 525_600, "renotify_minutes": 525_600, "count": 1_000, "changes": 1_000,
             "rate_limit_per_hour": 3_600, "seconds": 86_400}
# Counts are whole numbers (a TOML integer: 2.5 ran as 2, and 0 checks as 1, before an audit), with
# what their smallest value means: `count` 0 would fire on no check at all.
WHOLE = {"count": (1, ""), "changes": (0, " (0: every health change fires)"),
         "rate_limit_per_hour": (0, " (0: no limit)")}
# The rules about durations whose alerts say since when their condition holds (`since`).
SINCE_RULES = ("device_bad", "device_maintenance", "worker_offline")
# Worker healths that say it is offline on purpose: an admin's Maintenance, or Retired for good.
WORKER_AWAY = ("Maintenance", "Retired")
# The device healths whose rules count a duration from when the health began (not from the
# model's `since`, which a change of state alone moves).
HEALTH_RULES = {"Bad": "device_bad", "Maintenance": "device_maintenance"}
# Seconds a board of a device type must have been Idle and Good before a starving queue of the
# type resolves while its old jobs still wait (or the rule's `minutes`, if shorter): a moment
# between two jobs is not a free board.
QUEUE_READY_QUIET = 120.0


def _key(name):
    """A TOML key as a file would write it: bare when it can be, else quoted."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


class AlertsConfigError(ValueError):
    """The alerts file could not be understood."""


class AlertsConfig:
    """Thresholds per rule: the defaults, then the file's [rules.NAME], then [labs."HOST".rules.NAME]
    for this dashboard's lab, then [rules.NAME.device_type."TYPE"] for one device type."""

    def __init__(self, data=None, lab="", known_labs=None, _others=True):
        """`known_labs`: every lab's name (--labs), when this process knows them all: a table
        of another name is refused (a misspelt lab's rules would never run)."""
        data = data or {}
        _check_keys(data, {"rules", "labs", "notify"}, "the alerts file")
        notify = _table(data, "notify", "notify")
        # (An audit: a `url = [...]` there turned every notification off, unsaid.)
        _check_keys(notify, {"urls"}, "notify")
        default_urls = _urls(notify.get("urls", []), "notify.urls")
        self.default_urls = default_urls  # (the list object every rule without its own shares)
        self.rules, self.by_type = {}, {}
        labs = _table(data, "labs", "labs")
        if _others:  # every lab's table is checked, not only this one's: a mistake stops the start
            for other in labs:
                if known_labs is not None and other not in known_labs:
                    raise AlertsConfigError(f"labs.{other[:40]!r}: no lab of that name (--labs "
                                            f"names {', '.join(sorted(known_labs))})")
                if other != lab:
                    AlertsConfig(data, other, _others=False)
        lab_table = _table(labs, lab, f"labs.{lab!r}") if lab else {}
        _check_keys(lab_table, {"rules"}, f"labs.{lab!r}")
        lab_rules = _table(lab_table, "rules", f"labs.{lab!r}.rules")
        file_rules = _table(data, "rules", "rules")
        for name in list(file_rules) + list(lab_rules):
            if name not in DEFAULTS:
                raise AlertsConfigError(f"unknown rule {name!r}; known: {', '.join(DEFAULTS)}")
        for name, defaults in DEFAULTS.items():
            merged = {**COMMON, "notify": default_urls, **defaults}
            types = {}
            for rules, where in ((file_rules, f"rules.{name}"),
                                 (lab_rules, f"labs.{lab!r}.rules.{name}")):
                source = dict(_table(rules, name, where))
                for type_name, values in _table(source, "device_type",
                                                f"{where}.device_type").items():
                    if name not in PER_DEVICE_TYPE:
                        raise AlertsConfigError(f"{where}: is about the whole lab, "
                                                f"not per device type")
                    # (Said by its own table: an audit saw rules.device_bad.minutes named for
                    # rules.device_bad.device_type.qemu's.)
                    types.setdefault(type_name, {}).update(self._checked(
                        name, values, merged, f"{where}.device_type.{_key(type_name)}"))
                source.pop("device_type", None)
                merged.update(self._checked(name, source, merged, where))
            self.rules[name] = merged
            self.by_type[name] = types

    @staticmethod
    def _checked(name, values, merged, where):
        _check_keys(values, set(merged) | {"device_type"}, where)
        out = {}
        for key, value in values.items():
            if key == "notify":
                out[key] = _urls(value, f"{where}.notify")
            elif key == "severity":
                if value not in SEVERITIES:
                    raise AlertsConfigError(f"{where}.severity: one of {', '.join(SEVERITIES)}")
                out[key] = value
            elif key == "device_type":  # (only a device type's own table can still hold one)
                raise AlertsConfigError(f"{where}.device_type: not inside a device type")
            elif key == "enabled":
                if not isinstance(value, bool):
                    raise AlertsConfigError(f"{where}.enabled: true or false")
                out[key] = value
            elif key in WHOLE:
                low, meaning = WHOLE[key]
                top = MAX_VALUE[key]
                if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
                    raise AlertsConfigError(f"{where}.{key}: a number from {low} to {top:,}, "
                                            f"a whole one{meaning}, got {str(value)[:40]}")
                out[key] = value
            else:
                top = MAX_VALUE[key]
                if (isinstance(value, bool) or not isinstance(value, (int, float))
                        or not math.isfinite(value) or not 0 <= value <= top):
                    raise AlertsConfigError(f"{where}.{key}: a number from 0 to {top:,}, "
                                            f"got {str(value)[:40]}")
                out[key] = value
        return out

    def get(self, rule, key, device_type=None):
        """A rule's setting, for one device type when given."""
        if device_type is not None:
            override = self.by_type[rule].get(device_type)
            if override and key in override:
                return override[key]
        return self.rules[rule][key]

    def enabled(self, rule, device_type=None):
        """Whether the rule runs (for this device type)."""
        return bool(self.get(rule, "enabled", device_type))

    def destinations(self):
        """(where it is set, URL) of every Apprise URL a rule sends to, device types' included:
        `notify.urls` once for the rules that use those (an audit: a bad URL there was blamed on
        each of the rules, and never on where it was written)."""
        for url in self.default_urls:
            yield "notify.urls", url
        for name, rule in self.rules.items():
            if rule["notify"] is not self.default_urls:
                for url in rule["notify"]:
                    yield f"rules.{name}.notify", url
            for type_name, override in self.by_type[name].items():
                for url in override.get("notify", ()):
                    yield f"rules.{name}.device_type.{type_name!r}.notify", url

    def urls(self):
        """Every Apprise URL of the file: secrets, for the log scrubber."""
        return sorted({url for _, url in self.destinations()})


def _table(parent, key, where):
    """parent[key], which must be a table when given ({} when not)."""
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise AlertsConfigError(f"{where}: expected a table, got {type(value).__name__}")
    return value


def _check_keys(values, known, where):
    if not isinstance(values, dict):
        raise AlertsConfigError(f"{where}: expected a table")
    unknown = set(values) - set(known)
    if unknown:
        raise AlertsConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")


def _urls(value, where):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(u, str) and "://" in u for u in value):
        raise AlertsConfigError(f"{where}: a list of Apprise URLs (scheme://...)")
    return list(value)


def parse_config(text, lab="", known_labs=None):
    """AlertsConfig from the text of a TOML file (AlertsConfigError when it is wrong)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise AlertsConfigError(f"not valid TOML: {err}") from None
    return AlertsConfig(data, lab, known_labs)


def _ts(text):
    """Epoch seconds of an ISO 8601 time (naive means UTC), or None."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _ended_before(job, ended, newest):
    """Whether a health check (its id, its end in epoch seconds or None) ended before `newest`,
    the (job id, passed, end) counted last: by end time when both say one, else by id (LAVA
    numbers jobs as they are submitted, and one board runs one check at a time)."""
    newest_job, _, newest_end = newest
    if ended is not None and newest_end is not None:
        return ended < newest_end
    try:
        return job < newest_job
    except TypeError:  # ids of different kinds: nothing to compare by
        return False


def _offline_by_surprise(worker):
    """Whether a worker is Offline and nobody meant it: not in Maintenance, not Retired (a retired
    worker stays Offline for ever: it re-notified every hour for ever, before an audit)."""
    return worker.get("state") == "Offline" and worker.get("health") not in WORKER_AWAY


def _minutes(seconds, exact=False):
    """A span as an alert's message says it: to the minute ("less than a minute", "1 minute",
    "12 minutes"), or, `exact`, as set ("0.1 minutes", "1 minute": a rule's window). Before, "for
    1 minutes" and "for 0 minutes" (a wall audit)."""
    if exact:
        text = f"{seconds / 60:g}"
        return "1 minute" if text == "1" else f"{text} minutes"
    whole = round(seconds / 60)
    return "less than a minute" if whole == 0 else "1 minute" if whole == 1 else f"{whole} minutes"


def key_of(rule, subject):
    """The alert's key: one rule about one thing (a device, worker, device type, or the lab)."""
    return f"{rule}/{subject}"


class Rules:
    """The rules' memory: recent health changes per device, recent health checks per device, and
    since when a condition holds where the model does not say (LAVA's REST gives no `since`)."""

    def __init__(self, config):
        self.config = config
        self.flaps = collections.defaultdict(collections.deque)  # device → times of health changes
        # device → (job id, passed, end) of its newest health checks, at most `count`
        self.checks = collections.defaultdict(collections.deque)
        # (rule, subject) → when the condition was first seen without `since`; dropped when the
        # condition ends or its board or worker leaves the model, and bounded (MAX_TRACKED)
        self.first_seen = {}
        # (rule, subject) → when its condition began, from the changes the rules saw: a board's
        # Bad or Maintenance health, a worker's being Offline by surprise. The model's `since`
        # moves at any change of (state, health): a board in Maintenance going from Running to
        # Idle restarted its clock (an audit). Dropped when the condition ends or its board or
        # worker leaves the model, and bounded (MAX_TRACKED).
        self.began = {}
        # (rule, board) → when its Bad or Maintenance health began by the store's last stored
        # transition of the board (remember(), at a start): a board loaded from LAVA's REST, whose
        # condition had not fired yet, counted again from the restart, and a dashboard restarted
        # daily never said that a board had been in Maintenance for a day. Dropped as `began`.
        self.stored = {}
        # The keys firing now (the lifecycle's): a resolution is said only of those. None: say all.
        self.firing = None

    def restore(self, alerts):
        """Take back what the rules knew of alerts still firing (after a restart): a flapping
        board counts as flapping until its window has passed since it fired; a condition the
        model gives no `since` for holds since the alert's."""
        for alert in alerts:
            if alert.get("rule") == "flapping" and alert.get("status") == "firing":
                changes = int(self.config.get("flapping", "changes", alert.get("device_type")))
                self.flaps[alert["subject"]] = collections.deque([alert["fired_at"]] * (changes + 1))
            elif (alert.get("rule") in SINCE_RULES and alert.get("status") == "firing"
                  and isinstance(alert.get("since"), (int, float))):
                # Where the model does not say since when (LAVA's REST), or says only its last
                # change of state (a model restored from the store), the condition has held since
                # the alert said: its message counts on from there, not from the restart.
                self.first_seen.setdefault((alert["rule"], alert["subject"]), alert["since"])
                self._bound(self.first_seen)

    def remember(self, spans):
        """Take back since when boards have had their health, by the store ([(board, health,
        since)]: its last stored transitions); a change seen later says better."""
        for device, health, since in spans:
            rule = HEALTH_RULES.get(health)
            if rule is not None and isinstance(since, (int, float)) and isinstance(device, str):
                self.stored[(rule, device)] = float(since)
                self._bound(self.stored)

    # -- as changes arrive -------------------------------------------------------------------
    def on_changes(self, changes, now):
        """Transitions the changes cause, in order."""
        out = []
        for change in changes:
            handler = self._handlers.get(change.kind)
            if handler is not None:
                handler(self, change, now, out)
        if self.firing is not None:  # the ingest path: resolutions of what does not fire are noise
            out = [t for t in out if t[0] == "fire" or t[1] in self.firing]
        return out

    def _on_device(self, change, now, out):
        host, new, prev = change.id, change.data, change.prev
        if new is None:
            for rule in ("device_bad", "device_maintenance", "flapping", "health_checks_failed"):
                out.append(("resolve", key_of(rule, host), None))
            self.flaps.pop(host, None)
            self.checks.pop(host, None)
            for rule in HEALTH_RULES.values():
                self._condition_ended(rule, host)
            self.first_seen.pop(("queue_ready", host), None)
            return
        health = new.get("health")
        if health == "Retired":
            # Retired for good: it runs no more checks, so no Complete one would ever resolve
            # `health_checks_failed`, and LAVA keeps listing it (an audit: re-notified for ever);
            # its flapping is over too. (As a Retired worker is never offline by surprise.)
            for rule in ("flapping", "health_checks_failed"):
                out.append(("resolve", key_of(rule, host), None))
            self.flaps.pop(host, None)
            self.checks.pop(host, None)
        for counted, rule in HEALTH_RULES.items():
            if health != counted:
                out.append(("resolve", key_of(rule, host), None))
                self._condition_ended(rule, host)
            elif prev is None or prev.get("health") != health:
                # The health began with this change: its `since` is the event's time (None: LAVA's
                # REST did not say, and the rules count from when they first saw it).
                self._began(rule, host, new.get("since"))
        if new.get("state") != "Idle" or health != "Good":
            self.first_seen.pop(("queue_ready", host), None)
        dtype = new.get("device_type")
        if (prev is not None and prev.get("health") != health and health != "Retired"
                and self.config.enabled("flapping", dtype)):
            window = self.config.get("flapping", "minutes", dtype) * 60
            limit = int(self.config.get("flapping", "changes", dtype))
            times = self.flaps[host]
            times.append(now)
            # Only the newest limit + 1 matter (more than `limit` in the window?): a board that
            # changes health every second for an hour keeps 7 times, not 3,600 (soak, issue 11).
            while times and (times[0] < now - window or len(times) > limit + 1):
                times.popleft()
            if len(times) > limit:
                out.append(("fire", key_of("flapping", host), self._info(
                    "flapping", "device", host, dtype, f"{host} changed health more than {limit} "
                    f"times in {_minutes(window, exact=True)}", changes=len(times))))
            self._bound(self.flaps)

    def _on_job(self, change, now, out):
        new, prev = change.data, change.prev
        if new is None or not new.get("health_check") or new.get("state") != "Finished":
            return
        if prev is not None and prev.get("state") == "Finished":
            return  # already counted
        host, dtype, health = new.get("device"), new.get("device_type"), new.get("health")
        if not host or health not in ("Complete", "Incomplete"):
            return  # canceled checks say nothing about the board
        if not self.config.enabled("health_checks_failed", dtype):
            return
        k = self.config.get("health_checks_failed", "count", dtype)  # a whole number, 1 at least
        recent = self.checks[host]  # oldest first; the newest counted check is the last
        ended = _ts(new.get("end_time"))
        # The model keeps the newest finished jobs by finish order, a reconcile reads LAVA's newest
        # by id: a check the model forgot comes back as new (prev None). Counted once only. The
        # rule counts the newest k checks by their end: an older one takes its place among them
        # (a reconcile lists LAVA's finished jobs newest first: an audit found three failed checks
        # it brought counted as one, the alert two failures late), or says nothing about the board
        # now once k newer are counted.
        if any(job == change.id for job, _, _ in recent):
            return
        check = (change.id, health == "Complete", ended)
        place = len(recent)
        while place and _ended_before(change.id, ended, recent[place - 1]):
            place -= 1
        if place == 0 and len(recent) >= k:
            return
        recent.insert(place, check)
        while len(recent) > k:
            recent.popleft()
        self._bound(self.checks)
        if health == "Complete" and recent[-1] is check:
            out.append(("resolve", key_of("health_checks_failed", host), None))
        elif len(recent) == k and not any(passed for _, passed, _ in recent):
            out.append(("fire", key_of("health_checks_failed", host), self._info(
                "health_checks_failed", "device", host, dtype,
                f"the last {k} health checks on {host} failed",
                jobs=[job for job, _, _ in recent])))

    def _on_worker(self, change, now, out):
        new, prev = change.data, change.prev
        if new is None or not _offline_by_surprise(new):
            out.append(("resolve", key_of("worker_offline", change.id), None))
            self._condition_ended("worker_offline", change.id)
        elif prev is None or not _offline_by_surprise(prev):
            # Offline by surprise from this change on; a later change of its health that keeps
            # it so (its `since` moves) does not restart the count.
            self._began("worker_offline", change.id, new.get("since"))

    def _condition_ended(self, rule, subject):
        """The condition of `rule` about `subject` holds no more (or its object is gone): what
        the rules knew of since when it held is forgotten."""
        for table in (self.first_seen, self.began, self.stored):
            table.pop((rule, subject), None)

    def _began(self, rule, subject, since_text):
        """The condition of `rule` about `subject` began at `since_text` (a change's `since`)."""
        since = _ts(since_text)
        if since is None:
            self.began.pop((rule, subject), None)
        else:
            self.began[(rule, subject)] = since
            self._bound(self.began)

    _handlers = {"device": _on_device, "job": _on_job, "worker": _on_worker}

    @staticmethod
    def _bound(table):
        while len(table) > MAX_TRACKED:
            table.pop(next(iter(table)))

    def _info(self, rule, kind, subject, dtype, message, **extra):
        return {"rule": rule, "subject_kind": kind, "subject": subject, "device_type": dtype,
                "severity": self.config.get(rule, "severity", dtype), "message": message, **extra}

    # -- on the slow timer -------------------------------------------------------------------
    def tick(self, state, now, silence=None, api_error_for=None, api_answers=True,
             clock_offset=None, clock_watched=True, store_failing_for=None):
        """Transitions of the rules about durations. `silence`: seconds since the event stream
        last said anything (None: no stream); `api_error_for`: seconds the LAVA API has been
        failing (None: not failing now); `api_answers`: whether the API is known to answer (or
        there is none). Only then does `lava_api_failing` resolve: not while the API's state is
        unknown (a restart's "loading"). `clock_offset`: seconds LAVA's clock is behind this
        one (negative: ahead) as its events' stamps say (core/lag.py), None while not known:
        `lava_clock_skew` then neither fires nor resolves; `clock_watched`: whether any source
        of the lab can tell (not a simulated lab, nor one without an event source): if none can,
        it resolves. `store_failing_for`: seconds the event store has been failing to keep events
        (None: it keeps them, or there is none)."""
        out = []
        for host, device in state.devices.items():
            dtype = device.get("device_type")
            for rule, health in (("device_bad", "Bad"), ("device_maintenance", "Maintenance")):
                if device.get("health") == health and self.config.enabled(rule, dtype):
                    since = self._since(rule, host, device.get("since"), now)
                    minutes = self.config.get(rule, "minutes", dtype)
                    if now - since >= minutes * 60:
                        out.append(("fire", key_of(rule, host), self._info(
                            rule, "device", host, dtype, f"{host} has been {health} for "
                            f"{_minutes(now - since)} (threshold {minutes:g})",
                            since=since)))
                else:  # healthy again (also after a restart, or a correction), or turned off
                    out.append(("resolve", key_of(rule, host), None))
        for host, times in list(self.flaps.items()):
            dtype = (state.devices.get(host) or {}).get("device_type")
            window = self.config.get("flapping", "minutes", dtype) * 60
            while times and times[0] < now - window:
                times.popleft()
            # Hysteresis: it fires above `changes` in the window, and resolves only once the
            # window has passed without a change (before an audit, at `changes` or fewer: a board
            # flapping just above the threshold made a new alert at nearly every change).
            if not times or not self.config.enabled("flapping", dtype):
                out.append(("resolve", key_of("flapping", host), None))
            if not times:
                del self.flaps[host]
        for host, worker in state.workers.items():
            rule = "worker_offline"
            if _offline_by_surprise(worker) and self.config.enabled(rule):
                since = self._since(rule, host, worker.get("since"), now)
                minutes = self.config.get(rule, "minutes")
                if now - since >= minutes * 60:
                    out.append(("fire", key_of(rule, host), self._info(
                        rule, "worker", host, None, f"worker {host} has been Offline for "
                        f"{_minutes(now - since)} (threshold {minutes:g})", since=since)))
            else:
                out.append(("resolve", key_of(rule, host), None))
        out += self._queues(state, now)
        for rule, seconds in (("stream_silent", silence), ("lava_api_failing", api_error_for)):
            minutes = self.config.get(rule, "minutes")
            if self.config.enabled(rule) and seconds is not None and seconds >= minutes * 60:
                what = ("the event stream has been silent" if rule == "stream_silent"
                        else "the LAVA API has been failing")
                out.append(("fire", key_of(rule, "lab"), self._info(
                    rule, "lab", "lab", None, f"{what} for {_minutes(seconds)} "
                    f"(threshold {minutes:g})")))
            elif rule == "stream_silent" or api_answers or not self.config.enabled(rule):
                out.append(("resolve", key_of(rule, "lab"), None))
        out += self._clock_skew(clock_offset, clock_watched)
        rule, minutes = "store_failing", self.config.get("store_failing", "minutes")
        if (self.config.enabled(rule) and store_failing_for is not None
                and store_failing_for >= minutes * 60):
            out.append(("fire", key_of(rule, "lab"), self._info(
                rule, "lab", "lab", None, f"the dashboard's event store has been failing to keep "
                f"events for {_minutes(store_failing_for)} (threshold {minutes:g}): their "
                "history is lost meanwhile; the live view is not affected")))
        else:
            out.append(("resolve", key_of(rule, "lab"), None))
        return out

    def _clock_skew(self, offset, watched):
        rule = "lava_clock_skew"
        seconds = self.config.get(rule, "seconds")
        if (not self.config.enabled(rule) or not watched
                or offset is not None and abs(offset) < seconds / 2):
            return [("resolve", key_of(rule, "lab"), None)]
        # Not known (quiet, or a clock just moved), or between half the threshold and it (an
        # offset that hovers at the threshold stays one episode): nothing changes.
        if offset is None or abs(offset) < seconds:
            return []
        size = f"{abs(offset) / 60:.1f}".removesuffix(".0") + " minutes" if abs(offset) >= 120 \
            else f"{abs(offset):.0f} s"
        if offset < 0:
            what = (f"LAVA's clock is {size} ahead of this dashboard's: its events carry times "
                    f"{-offset:.0f} s after they arrive")
        else:
            what = (f"LAVA's clock is {size} behind this dashboard's, or its events arrive "
                    f"{offset:.0f} s late")
        return [("fire", key_of(rule, "lab"), self._info(
            rule, "lab", "lab", None, f"{what}; durations counted from its times are off by as much "
            f"(threshold {seconds:g} s)"))]

    def _since(self, rule, subject, since_text, now):
        """Since when the condition of `rule` about `subject` holds: from the change that began it
        (`began`), else from when the rules first saw it (it was loaded from LAVA's REST, which
        says no `since`, and a later change of its state alone gave it one), else the model's
        `since`, else from now (the rules see it first). A board's health began, at a start, when
        the store last saw it change (`stored`), before the model's `since`, which says only its
        last change of state."""
        key = (rule, subject)
        since = self.began.get(key, self.first_seen.get(key, self.stored.get(key)))
        if since is None:
            since = _ts(since_text)
        if since is None:  # LAVA did not say: count from when the rules first saw it
            since = self.first_seen.setdefault((rule, subject), now)
            self._bound(self.first_seen)
        return since

    def _queues(self, state, now):
        """Per device type: the oldest job waiting, and since when a board of the type is ready
        (Idle and Good). It fires when an old job waits and no board is ready; once it fires, it
        resolves when no job waiting is older than the threshold, or a board has been ready for
        a quiet time: not at a tick that lands in the moment a busy board is Idle between two
        jobs (before an audit, each such tick resolved it and the next fired it again)."""
        oldest, waiting = {}, collections.Counter()
        for job in state.jobs.values():
            if job.get("state") == "Submitted" and job.get("device_type"):
                submitted = _ts(job.get("submit_time"))
                if submitted is None:
                    continue
                dtype = job["device_type"]
                waiting[dtype] += 1
                oldest[dtype] = min(oldest.get(dtype, submitted), submitted)
        ready = {}  # device type → since when its board ready longest has been so
        for host, device in state.devices.items():
            if device.get("state") == "Idle" and device.get("health") == "Good":
                dtype = device.get("device_type")
                # The model's `since` is when its (state, health) last changed: when it became
                # Idle and Good. LAVA's REST does not say: from when the rules first saw it so,
                # noted only while a job of its type waits, forgotten when it is no longer so.
                since = _ts(device.get("since"))
                if since is None and dtype in oldest:
                    since = self.first_seen.setdefault(("queue_ready", host), now)
                    self._bound(self.first_seen)
                ready[dtype] = min(ready.get(dtype, now), now if since is None else since)
        out = []
        known_types = {d.get("device_type") for d in state.devices.values()} | set(oldest)
        # A type that has left the model (its boards removed, its queue gone) resolves too.
        prefix = key_of("queue_starving", "")
        known_types |= {key[len(prefix):] for key in self.firing or () if key.startswith(prefix)}
        for dtype in known_types:
            if dtype is None:
                continue
            rule = "queue_starving"
            minutes = self.config.get(rule, "minutes", dtype)
            starving = (self.config.enabled(rule, dtype) and dtype in oldest
                        and now - oldest[dtype] >= minutes * 60)
            if starving and dtype not in ready:
                # Names the type and a count only: the waiting jobs may be private.
                out.append(("fire", key_of(rule, dtype), self._info(
                    rule, "device_type", dtype, dtype, f"{waiting[dtype]} {dtype} job(s) waiting, "
                    f"the oldest for {_minutes(now - oldest[dtype])}, and no {dtype} "
                    f"board is Idle and Good", waiting=waiting[dtype])))
            elif not starving or now - ready[dtype] >= min(QUEUE_READY_QUIET, minutes * 60):
                out.append(("resolve", key_of(rule, dtype), None))
            # else an old job still waits and a board was ready only just now: as it was
        return out
