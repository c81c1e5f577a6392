"""Where rules meet the running dashboard: AlertEngine wraps the model's sink (the relay or Redis
publisher), so that it sees every change as it flows, and runs the duration rules on a slow timer.

push() is on the ingest path: it runs the rules (pure, in memory) and queues what happened; it never
waits for the store or a notification. run() (its own green thread) keeps alerts in the store, in
a real thread, and hands them to the Notifier.

Each kept alert says what of its notifications is still to go out (its DELIVERY field: the
Notifier's state_of), saved when it is handed over and again as its sends end, so that a restart
(restore) sends what was neither delivered nor given up, and nothing that was.
"""
import collections
import logging
import time

from dashboard.alerts.lifecycle import AlertBook
from dashboard.core.state import BoundedSet
from dashboard.alerts.rules import HEALTH_RULES, MAX_TRACKED, Rules

log = logging.getLogger("dashboard.alerts")
MAX_OUTBOX = 10_000
MAX_RESTORED = 50_000
# Resolved alerts read at a start (or a takeover) whose last notification may count against
# their rule's rate_limit_per_hour: those resolved in the last hour (by when they resolved, not
# when they fired: a review found a day's Maintenance re-notified 10 minutes before it resolved
# left out), at most RECALL_READ (the store gives those that fired last).
RECALL_SPAN = 3600
RECALL_READ = 10_000
DELIVERY = "delivery"  # a kept alert's field: what of its notifications is still to go out
# Seconds between two looks at whether another ingest process still publishes, while this one
# stands by: a takeover adopts the other's alerts (and sends its notifications still to go out)
# within this, not at the next tick (`interval`, 15 s).
ROLE_CHECK = 1.0


class AlertEngine:
    """Rules over changes, their lifecycle, the store and the notifier."""

    def __init__(self, state, sink, config, store, notifier, run_in_thread, sleep, make_event,
                 silence, api_state, clock=time.time, interval=15.0, lab="", standing_by=None,
                 clock_offset=None, store_failing=None):
        self.state = state
        self.lab = lab  # a named lab's (--labs) name, said in the log; "" for the unnamed lab
        self.sink = sink
        self.rules = Rules(config)
        self.book = AlertBook(config)
        self.rules.firing = self.book.firing
        self.store = store
        self.notifier = notifier
        self.run_in_thread = run_in_thread
        self.sleep = sleep
        self.silence = silence  # () → (seconds the event stream has been silent or None, whether
        #                             it has said anything since this process started)
        self.api_state = api_state  # () → the reconciler's state name, or None
        # () → (seconds LAVA's clock is behind this one by its events' stamps, or None while not
        # known; whether any of the lab's sources can tell)
        self.clock_offset = clock_offset or (lambda: (None, True))
        # () → whether the event store is failing to keep events now (None: there is none)
        self.store_failing = store_failing or (lambda: None)
        self._store_failing_since = None
        self.clock = clock
        self.interval = interval
        self.outbox = collections.deque()
        self.recent = collections.deque(maxlen=500)  # what happened, for a dashboard without a store
        self._wake = make_event()
        self._api_error_since = None
        self.errors = 0
        self.dropped = 0
        self.ticks = 0
        self.store_errors = 0
        self._unsettled = {}  # alert id → the alert as last kept, while some notification of it waits
        self._changed = set()  # ids of those whose delivery changed since they were kept
        self._saving = False  # a drain's save is under way (in a real thread)
        if notifier is not None:
            notifier.on_change = self._delivery_changed
        # () → whether another ingest process publishes (cluster_ingest.py's ModelPublisher.standing_by):
        # it keeps the alerts in the shared store and sends their notifications. This one's rules
        # run meanwhile, but it keeps nothing; when it takes over it adopts what the other kept.
        self.standing_by = standing_by or (lambda: False)
        self._stood_by = False
        self._other_seen = False  # stood by for another process, not only at the start
        # () → whether another ingest process was ever seen publishing (ModelPublisher.rival_seen),
        # even between two of this one's looks
        self.rival_seen = lambda: False
        self.takeovers = 0
        # Ids of the alerts taken from the store (at the start, at a takeover): the other's, or a
        # run's before; at a takeover, this one's own are those it alone had (bounded as the book).
        self._adopted = BoundedSet(MAX_RESTORED)

    def _named(self):
        """The lab's name as every log line of this engine starts: "[east] ", or "" for the
        unnamed lab (several labs share one log)."""
        return f"[{self.lab}] " if self.lab else ""

    def restore(self):
        """Alerts still firing when the dashboard stopped: they do not fire again. Notifications
        that were still to go out (of those, or of resolved alerts) are handed to the notifier,
        unless another ingest process publishes: they are its to send (_take_over)."""
        if self.store is not None:
            why = self.standing_by()
            self._stood_by, self._other_seen = bool(why), bool(why) and why != "unknown"
            alerts = self._stored(self.store.alerts, deliveries=not why)
            for alert in alerts:
                self._adopted.add(alert["id"])
            self.book.restore(alerts)
            self.rules.restore(alerts)
            self._restore_api_error(self.book.firing.get("lava_api_failing/lab"))
            try:  # since when boards have been Bad or in Maintenance, by the stored transitions
                spans = self.store.health_spans(tuple(HEALTH_RULES), MAX_TRACKED)
                if self.state.devices:  # a restored model: of its boards, in the same health
                    spans = [(d, h, t) for d, h, t in spans
                             if (self.state.devices.get(d) or {}).get("health") == h]
                self.rules.remember(spans)
            except Exception:
                self.store_errors += 1
                log.exception("%sthe stored health of the boards could not be read: durations "
                              "count from now", self._named())
            if self.book.firing:
                log.info("%s%d alerts still firing from before the restart", self._named(),
                         len(self.book.firing))

    def _stored(self, read, deliveries):
        """The firing alerts the store keeps (`read`: store.alerts, or a call of it in a real
        thread), without their DELIVERY; with `deliveries`, what of their notifications (and of
        resolved alerts') was still to go out is queued again."""
        firing = read(status="firing", limit=MAX_RESTORED)
        if deliveries and self.notifier is not None:
            # What was sent in the last hour counts against the rules' hourly limits again
            recent = read(status="resolved", resolved_since=self.clock() - RECALL_SPAN,
                          limit=RECALL_READ)
            self.notifier.recall(firing + recent)
        alerts = [self._take_back(a, deliveries) for a in firing]
        if deliveries and self.notifier is not None:  # a RESOLVED still to go out
            for alert in read(status="resolved", limit=MAX_RESTORED, with_delivery=True):
                if alert.get(DELIVERY):
                    self._take_back(alert)
        return alerts

    def _take_over(self, from_another=True):
        """Another ingest process published until now: adopt the alerts it kept firing (their
        ids, times and acknowledgements; its notifications still to go out are queued here), in
        place of this one's of the same keys. This one's own alerts that it kept no record of were
        told to nobody: they are kept, and sent, now. `from_another`: False at the end of a
        start's wait for Redis (the same steps; not counted as a takeover, nor logged)."""
        if self.store is None:
            return
        kept = self._stored(lambda **kw: self.run_in_thread(lambda: self.store.alerts(**kw)),
                            deliveries=True)
        keys = {alert["key"] for alert in kept}
        own = [dict(alert) for key, alert in self.book.firing.items()
               if key not in keys and alert["id"] not in self._adopted]
        for alert in kept:
            self._adopted.add(alert["id"])
        self.book.restore(kept)
        self.rules.restore(kept)
        self._restore_api_error(self.book.firing.get("lava_api_failing/lab"))
        if from_another:
            self.takeovers += 1
            log.info("%staking over the alerts: %d kept by the other ingest process, %d of this "
                     "one's own told now", self._named(), len(kept), len(own))
        self._queue([(alert, "fired") for alert in own])

    def _follow_role(self):
        """Whether this process stands by (another publishes); adopts the other's alerts once
        it no longer does."""
        why = self.standing_by()
        if why:
            self._stood_by = True
            self._other_seen = self._other_seen or why != "unknown"
            return True
        if self._stood_by:
            # (if it fails, the next round tries again)
            self._take_over(self._other_seen or self.rival_seen())
            self._stood_by = self._other_seen = False
        return False

    def _take_back(self, kept, deliveries=True):
        """An alert from the store, without its DELIVERY; what of its notifications was still
        to go out is queued again (with `deliveries`)."""
        state = kept.get(DELIVERY)
        alert = {k: v for k, v in kept.items() if k != DELIVERY}
        if state and deliveries and self.notifier is not None:
            queued = self.notifier.restore(alert, state)
            if queued:
                self._unsettled[alert["id"]] = alert
                log.info("%s%d notifications of %s still to go out from before the restart",
                         self._named(), queued, alert["key"])
        return alert

    def _delivery_changed(self, ident):
        """The notifier's: a send of this alert ended (it is kept again at the next drain)."""
        if ident in self._unsettled:
            self._changed.add(ident)
            self._wake.set()

    def _kept(self, alert):
        """The alert as the store keeps it: with what of its notifications is still to go out."""
        body = {k: v for k, v in alert.items() if k != DELIVERY}
        state = self.notifier.state_of(alert["id"]) if self.notifier is not None else None
        if state:
            body[DELIVERY] = state
        if state and state.get("unsent"):
            self._unsettled[alert["id"]] = body
        else:
            self._unsettled.pop(alert["id"], None)
        self._changed.discard(alert["id"])
        return body

    def _restore_api_error(self, alert):
        """A firing `lava_api_failing` taken back: the outage started a threshold before it fired,
        so that it keeps firing (the same episode) while the API still fails after the restart."""
        if alert is not None and alert.get("fired_at") is not None:
            minutes = self.rules.config.get("lava_api_failing", "minutes")
            self._api_error_since = alert["fired_at"] - minutes * 60

    # -- the sink's interface (the ingest path) ------------------------------------------------
    def push(self, changes):
        """Pass the changes on, then run the change-driven rules over them."""
        self.sink.push(changes)
        try:
            self._queue(self.book.apply(self.rules.on_changes(changes, self.clock()), self.clock()))
        except Exception:  # a rule's bug must not stop ingest
            self.errors += 1
            log.exception("%salert rules failed on a batch of changes", self._named())

    def _queue(self, happened):
        for item in happened:
            if len(self.outbox) >= MAX_OUTBOX:
                self.dropped += 1
                continue
            self.outbox.append(item)
        if happened:
            self._wake.set()

    # -- its own green thread ----------------------------------------------------------------
    def tick(self):
        """The duration rules, re-notification, and alerts about objects the model lost."""
        self._follow_role()
        now = self.clock()
        self.ticks += 1
        api = self.api_state()
        if api == "error":
            self._api_error_since = self._api_error_since or now
        elif api in ("ok", None):  # it answers, or there is no LAVA API
            self._api_error_since = None
        # else ("loading" after a restart, or a state this version does not know): neither
        # failing nor answering: what is known of the outage stays, and nothing resolves.
        silence, heard = self.silence()
        offset, watched = self.clock_offset()
        failing_for = now - self._api_error_since if self._api_error_since is not None else None
        if self.store_failing():
            self._store_failing_since = self._store_failing_since or now
        else:
            self._store_failing_since = None
        transitions = self.rules.tick(self.state, now, silence,
                                      failing_for if api == "error" else None,
                                      api_answers=api in ("ok", None),
                                      clock_offset=offset, clock_watched=watched,
                                      store_failing_for=None if self._store_failing_since is None
                                      else now - self._store_failing_since)
        if not heard:  # restarted, nothing heard yet: a silence that fired before still holds
            transitions = [t for t in transitions if t[:2] != ("resolve", "stream_silent/lab")]
        # Boards and workers the model no longer has (gone while the dashboard was down), and
        # alerts of a rule turned off since (taken back from the store at a restart).
        devices, workers = self.state.devices, self.state.workers
        tables = {"device_bad": devices, "device_maintenance": devices, "worker_offline": workers}
        if api == "ok":  # the model holds LAVA's every board, not only those events named
            tables.update(flapping=devices, health_checks_failed=devices)
        screen = getattr(self.state, "screen", None)
        if screen is not None and not screen.known:  # no board is in the model until LAVA says
            # which it shows anonymous users (core/screen.py): none is gone for that
            for rule in ("device_bad", "device_maintenance", "flapping", "health_checks_failed"):
                tables.pop(rule, None)
        config = self.rules.config
        for key, alert in list(self.book.firing.items()):
            rule, table = alert["rule"], tables.get(alert["rule"])
            if (table is not None and alert["subject"] not in table
                    or rule not in config.rules
                    or not config.enabled(rule, alert.get("device_type"))
                    # (a board Retired since, while the dashboard was down: rules._on_device)
                    or rule in ("flapping", "health_checks_failed")
                    and (devices.get(alert["subject"]) or {}).get("health") == "Retired"):
                transitions.append(("resolve", key, None))
        self._queue(self.book.apply(transitions, now))
        self._queue(self.book.due(now))

    def acknowledge(self, ident, username):
        """A signed-in viewer acknowledges a firing alert (its re-notifications stop)."""
        alert, what = self.book.acknowledge(ident, username, self.clock())
        if what:
            self._queue([(alert, what)])
        return alert

    def drain(self):
        """Hand what happened to the notifier and keep it in the store (one transaction), with
        what of its notifications is still to go out, and so again the alerts whose sends ended."""
        standing_by = self._follow_role()
        batch = []
        while self.outbox and len(batch) < 1000:
            batch.append(self.outbox.popleft())
        if not batch and not self._changed:
            return 0
        self.recent.extend(alert for alert, _ in batch)
        for alert, what in batch:
            log.info("%salert %s: %s (%s)", self._named(), what, alert["key"], alert["message"])
            if self.notifier is not None:
                self.notifier.submit(alert, what)
        # Kept after it is handed over: a send that ends meanwhile is kept again at the next drain.
        bodies = [self._kept(alert) for alert, _ in batch]
        bodies += [self._kept(self._unsettled[i]) for i in list(self._changed) if i in self._unsettled]
        self._changed.clear()
        if self.store is not None and bodies and not standing_by:  # else the other keeps them
            self._saving = True
            try:
                self.run_in_thread(self.store.save_alerts, bodies)
            except Exception as exc:  # counted; the alerts still go out
                self.store_errors += 1
                log.warning("%scould not keep %d alerts in the store: %s", self._named(),
                            len(bodies), type(exc).__name__)
            finally:
                self._saving = False
        return len(bodies)

    def run(self, rounds=None):
        """Tick every `interval` seconds; drain as soon as something happened. Never returns
        (unless `rounds` is given)."""
        last_tick = 0.0
        count = 0
        while rounds is None or count < rounds:
            count += 1
            try:
                if time.monotonic() - last_tick >= self.interval:
                    last_tick = time.monotonic()
                    self.tick()
                while self.drain():
                    self.sleep(0)
            except Exception:
                self.errors += 1
                log.exception("%salert engine round failed", self._named())
            # (drain() looked at the role: while standing by, look again soon.)
            self._wake.wait(min(self.interval, ROLE_CHECK) if self._stood_by else self.interval)
            self._wake.clear()

    def close(self):
        """Keep what is still queued (the process is stopping), and what of its notifications is
        still to go out: the sends under way get a moment to end (Notifier.stop), so that what
        they delivered is not sent again after the restart."""
        if self.notifier is not None:
            self.notifier.stop()
        until = time.monotonic() + 1.0
        while self._saving and time.monotonic() < until:  # a drain's older bodies land first
            self.sleep(0.02)
        if self.notifier is not None:
            for alert, what in self.outbox:  # queued, not sent: kept as still to go out
                self.notifier.submit(alert, what)
        bodies = [self._kept(alert) for alert, _ in self.outbox]
        bodies += [self._kept(self._unsettled[i]) for i in list(self._changed) if i in self._unsettled]
        self._changed.clear()
        self.outbox.clear()
        if self.store is not None and bodies and not self._stood_by and not self.standing_by():
            self.store.save_alerts(bodies)

    def current(self):
        """The alerts firing now, newest first."""
        return sorted(self.book.firing.values(), key=lambda a: -a["fired_at"])

    def stats(self):
        """The /healthz section (no destinations: Apprise URLs hold tokens)."""
        return {"firing": len(self.book.firing), "fired": self.book.fired,
                "resolved": self.book.resolved, "queued": len(self.outbox),
                "dropped": self.dropped, "errors": self.errors, "store_errors": self.store_errors,
                "ticks": self.ticks, "standing_by": self._stood_by, "takeovers": self.takeovers,
                "delivery": self.notifier.stats() if self.notifier is not None else None}
