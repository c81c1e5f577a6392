"""Alerts out of the dashboard, through Apprise (Slack, Matrix, Teams, e-mail, webhooks, ...).

A bounded queue (MAX_QUEUE notifications) and a green thread of its own, which sends to each
destination on its own: MAX_SENDING sends at once, one per destination, each a task of its own
that waits in a real thread (run_in_thread) for a child process (sender.py), so that a slow, dead
or hostile destination costs SEND_DEADLINE seconds and SEND_MEMORY_MIB of memory at most, and
never holds up another destination, ingest or the page: Apprise bounds neither (a webhook that
answers a byte at a time, or an endless answer). Each destination of a notification has its own
backoff, up to MAX_ATTEMPTS; a destination whose last attempt failed gets MAX_SENDING - 1 of the
slots at most, so that one is always kept for those that answer; an alert's notifications reach a
destination in order (a RESOLVED never before its FIRING). Per rule: a rate limit (FIRING and
STILL FIRING per hour; a RESOLVED is neither held to it nor counted, and is skipped only when its
FIRING was not sent) and de-duplication (one send per alert, transition and notification count).
A full queue makes room at a failing destination's expense (_make_room) before it drops a new
notification. What a send did is counted for /healthz.

What is still to go out is the store's to keep (the engine saves it with its alert: state_of),
so that a restart sends it (restore), to the destinations that had not taken it only.

Apprise URLs hold tokens: they are never logged, kept, counted by name or shown (the store keeps a
digest of each, salted with its alert's id); errors are scrubbed. A named lab's (--labs)
notifications and log lines say their lab ("[east] ...").
"""
import collections
import hashlib
import logging
import re
import threading
import time
import urllib.parse

from dashboard.alerts.sender import send_in_children
from dashboard.core.redact import scrub, split_secrets
from dashboard.core.state import BoundedSet

log = logging.getLogger("dashboard.alerts.delivery")
MAX_QUEUE = 1000  # notifications waiting (each to the destinations that have not taken it)
MAX_SENDING = 4  # destinations sent to at once (a real thread and a child process each)
MAX_UNANNOUNCED = 20_000  # alerts remembered whose FIRING was not sent (their RESOLVED is not)
STOP_WAIT = 1.5  # s, at a stop, for the sends under way to end (within --shutdown-timeout)
MAX_ATTEMPTS = 8
MAX_BACKOFF = 300.0
SEND_DEADLINE = 30.0  # s, of each URL of a send, from its start: then it is killed, counts failed
SEND_MEMORY_MIB = 256  # of each URL's sending process; Python and Apprise take ~60 MiB of it
SENT_TYPES = {"fired": "FIRING", "renotify": "STILL FIRING", "resolved": "RESOLVED"}


# A piece of an Apprise URL that may be a token: Apprise puts them anywhere (slack://TA/TB/TC,
# discord://id/token, tgram://bottoken/chat, gotify://host/token, ntfy://topic), and logs the URLs
# it makes of them at DEBUG ("Slack POST URL: https://hooks.slack.com/services/TA/TB/TC").
# - The host part: unless it is a host name or an address (a dot or a colon in it), a token when
#   it has 4 characters or more.
# - Every other piece: a token when it has 6 characters or more with a digit or a capital in them,
#   or 12 or more. Short lower-case words (api, alerts) stay readable in the log.
_PIECES = re.compile(r"[^/:@?&=#\s]+")


def _may_be_token(piece):
    return len(piece) >= 12 or (len(piece) >= 6 and any(c.isdigit() or c.isupper() for c in piece))


def _tokens_in(url):
    rest = url.partition("://")[2]
    netloc, _, path = rest.partition("/")
    userinfo, _, hostport = netloc.rpartition("@")
    host, _, port = hostport.partition(":")
    found = set()
    if len(host) >= 4 and "." not in host:  # not a host name: slack://TA..., tgram://bot...
        found.add(host)
    for text in (userinfo, port, path, urllib.parse.unquote(path)):
        found.update(p for p in _PIECES.findall(text) if _may_be_token(p))
    return found


def secrets_of(urls):
    """What to take out of any text: the URLs whole, their passwords, and every piece of them
    that may be a token, longest first (a token that holds another is taken out whole)."""
    out = list(urls)
    pieces = set()
    for url in urls:
        out += [v for v in split_secrets(url)[1].values() if v]
        pieces |= _tokens_in(url)
    return out + sorted((p for p in pieces if p), key=len, reverse=True)


def destinations_of(urls):
    """Where each URL sends (its host, and host:port), longest first: last_error, which /healthz
    shows to anyone, never names a destination (Apprise's reasons do: "… sending JSON
    notification to hooks.example.org.")."""
    out = set()
    for url in urls:
        hostport = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0].rpartition("@")[2]
        host = (hostport[1:].partition("]")[0] if hostport.startswith("[")
                else hostport.partition(":")[0])
        out |= {h for h in (hostport, host) if len(h) >= 3}
    return sorted(out, key=len, reverse=True)


def unnamed(text, destinations):
    """`text` with every destination of destinations_of taken out (whatever its letters' case),
    and the start of one that ends a reason (the sending child cuts each reason at 300
    characters: the cut may fall inside a host)."""
    for where in destinations:
        text = re.sub(re.escape(where), "<destination>", text, flags=re.IGNORECASE)
    for where in destinations:
        for k in range(len(where) - 1, 2, -1):
            text = re.sub(re.escape(where[:k]) + r"(?=;|$)", "<destination>", text,
                          flags=re.IGNORECASE)
    return text


def apprise_send(urls, title, body, severity):
    """One notification to each URL through Apprise, each in a child process bounded in time and
    memory (sender.py; blocking: run it in a real thread). Returns {url: why} of the URLs that did
    not take it, for them alone to be tried again. The reasons may hold pieces of the URLs."""
    return send_in_children(urls, title, body, severity, deadline=SEND_DEADLINE,
                            memory_mib=SEND_MEMORY_MIB)


# Schemes whose URL starts with the host of a server (scheme://[user:pass@]host[:port]/...): a
# URL of one without a host is certainly wrong, though Apprise takes its path's first piece for the
# host (`json:///x` posts to http://x/). Other schemes' "host" may be a token or an id
# (tgram://bottoken/chatid, ntfy://topic): only Apprise knows them.
HOST_SCHEMES = frozenset(f"{name}{tls}" for tls in ("", "s") for name in (
    "json", "xml", "form", "apprise", "gotify", "mmost", "ncloud", "hassio", "kodi", "xbmc",
    "enigma2", "synology"))


def _wrong_shape(url, notify):
    """Why an Apprise URL cannot be sent to (None when it can): `notify` is Apprise's object of
    it (None: Apprise cannot use it). Never the URL, nor a piece of it: it may hold a token."""
    if notify is None:
        return "that Apprise cannot use"
    port = getattr(notify, "port", None)  # as Apprise reads it (a query's ?port= too)
    if isinstance(port, int) and not isinstance(port, bool) and not 1 <= port <= 65535:
        return "whose port is not from 1 to 65535"
    scheme, _, rest = url.partition("://")
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if scheme.lower() in HOST_SCHEMES and not netloc.rpartition("@")[2].strip():
        return "without a host"
    return None


def unusable_destinations(config):
    """Where each Apprise URL is set that cannot be sent to (an unknown scheme, a URL of the
    wrong shape, a port out of range, no host where its scheme needs one), and which entry of
    that list it is (from 1), by its scheme only: the URL holds a token. Apprise logs such a URL
    at ERROR, so this runs once the log is scrubbed of the file's URLs."""
    import apprise

    out, entries = [], collections.Counter()
    for where, url in config.destinations():
        entries[where] += 1
        why = _wrong_shape(url, apprise.Apprise.instantiate(url, suppress_exceptions=True))
        if why:
            out.append(f"{where}: a {url.partition('://')[0][:20]!r} URL {why} "
                       f"(entry {entries[where]})")
    return out


def message_of(alert, what, base_url="", lab=""):
    """(title, body) of a notification: what the alert says, never a job's details (the message
    names boards, workers and device types only); a named lab's title begins with it, as its
    alerts feed's entries do ("[east] [FIRING] device_bad: d1")."""
    title = (f"[{lab}] " if lab else "") + f"[{SENT_TYPES[what]}] {alert['rule']}: {alert['subject']}"
    body = alert["message"]
    if what == "resolved":  # the message is the rule's last word on it, its figures then
        body = (f"resolved after firing for {(alert['resolved_at'] - alert['fired_at']) / 60:.0f}"
                f" minutes; it last said: {body}")
    if base_url:
        body += f"\n{base_url.rstrip('/')}/#/alerts"
    return title, body


def _failure(failed):
    """What went wrong, for last_error: how many did not take it, and why (a send may say why as
    {url: why}; an injected one may give a list of URLs only)."""
    whys = list(dict.fromkeys(failed.values())) if isinstance(failed, dict) else []
    return (f"{len(failed)} of its destinations did not take the notification"
            + (": " + "; ".join(str(why) for why in whys[:3]) if whys else ""))


def destination_digest(alert_id, url):
    """How the store names one destination of an alert's notification still to go out: never the
    URL (it holds a token), a digest of it salted with the alert's id."""
    return hashlib.sha256(f"{alert_id}\n{url}".encode()).hexdigest()[:16]


def _start_task(fn, *args):
    """Run fn(*args) concurrently: a green thread once eventlet or gevent has patched threading
    (as the app is), a thread otherwise."""
    threading.Thread(target=fn, args=args, daemon=True).start()


class Notifier:
    """Sends alerts to their rule's destinations, each destination on its own."""

    def __init__(self, config, run_in_thread, sleep, make_event, clock=time.time,
                 send=apprise_send, base_url="", max_queue=MAX_QUEUE, lab="", spawn=_start_task):
        self.config = config
        self.lab = lab  # a named lab's (--labs) name; "" for the unnamed lab
        self.run_in_thread = run_in_thread
        self.sleep = sleep
        self.clock = clock
        self.send = send
        self.spawn = spawn
        self.base_url = base_url
        self.max_queue = max_queue
        # [due, attempt, alert, what, urls, {url: [due, attempts]}, some gave up], oldest first:
        # `urls` are the destinations that have not taken it yet, each with its own backoff.
        self.pending = []
        self.on_change = None  # (alert id) → None: what of its notifications is to go out changed
        # () → whether this process is the one to send (a standby ingest process is not: the
        # one publishing sends, and two would send each alert twice). None: always.
        self.active = None
        self._by_alert = {}  # alert id → its items in self.pending, oldest first
        self._wake = make_event()
        self._sent_at = collections.defaultdict(collections.deque)  # rule → send times (an hour)
        self._seen = BoundedSet(20_000)
        self._unannounced = collections.OrderedDict()  # alert ids whose FIRING was not sent
        self._unheard = collections.OrderedDict()  # ... of those, resolved (their RESOLVED skipped)
        self._sending = set()  # (id(item), url) under way
        self._failing = set()  # destinations whose last attempt failed
        self._finished = collections.deque()  # sends that ended: (item, urls, failed, error)
        self._stopping = False
        self._secrets = secrets_of(config.urls())
        self._where = destinations_of(config.urls())
        self.counts = collections.Counter(delivered=0, failed=0, retries=0, gave_up=0,
                                          rate_limited=0, resolved_skipped=0, deduplicated=0,
                                          dropped=0, crowded_out=0, restored=0,
                                          restore_dropped=0, standby=0, recalled=0)
        self.last_error = None

    # -- what is queued ------------------------------------------------------------------------
    def submit(self, alert, what):
        """Queue a notification of this alert's transition, if its rule has destinations and its
        rate limit allows; never blocks. The limit counts FIRING and STILL FIRING; a RESOLVED is
        neither held to it nor counted, and is sent when its alert's FIRING was (else skipped)."""
        if what not in SENT_TYPES:
            return False
        rule, dtype = alert["rule"], alert.get("device_type")
        urls = self._destinations(alert)
        if not urls:
            return False
        if self.active is not None and not self.active():
            self.counts["standby"] += 1  # the ingest process that publishes sends it
            return False
        if not self._seen.add((alert["id"], what, alert.get("notifications"))):
            self.counts["deduplicated"] += 1
            return False
        if what == "resolved":
            if alert["id"] in self._unannounced:  # nobody heard it fire: its end is no news
                del self._unannounced[alert["id"]]
                # ... and its kept body says so (state_of), or a restart's recall would count
                # its last notification as sent (a review)
                self._unheard[alert["id"]] = True
                while len(self._unheard) > MAX_UNANNOUNCED:
                    self._unheard.popitem(last=False)
                self.counts["resolved_skipped"] += 1
                return False
            return self._queue(alert, what, urls)
        now = self.clock()
        sent = self._sent_at[rule]
        while sent and sent[0] <= now - 3600:
            sent.popleft()
        limit = self.config.get(rule, "rate_limit_per_hour", dtype)
        if limit and len(sent) >= limit:
            self.counts["rate_limited"] += 1
            self._unannounce(alert["id"], what)
            return False
        if not self._queue(alert, what, urls):
            self._unannounce(alert["id"], what)
            return False
        sent.append(now)
        self._unannounced.pop(alert["id"], None)  # it is heard of now (a STILL FIRING too)
        return True

    def _destinations(self, alert):
        """Its rule's URLs (none for a rule this version no longer has, taken back from the store)."""
        if alert.get("rule") not in self.config.rules:
            return []
        return self.config.get(alert["rule"], "notify", alert.get("device_type")) or []

    def _unannounce(self, ident, what):
        if what == "fired":
            self._unannounced[ident] = True
            while len(self._unannounced) > MAX_UNANNOUNCED:
                self._unannounced.popitem(last=False)

    def _queue(self, alert, what, urls, attempts=None):
        if len(self.pending) >= self.max_queue:
            urls = self._make_room(urls, alert)
            if not urls:
                self.counts["dropped"] += 1
                return False
        now = self.clock()
        attempts = attempts or {}
        tries = {url: [now, attempts.get(url, 0)] for url in urls}
        item = [now, max(attempts.values(), default=0), alert, what, list(urls), tries, False]
        self.pending.append(item)
        self._by_alert.setdefault(alert["id"], []).append(item)
        self._wake.set()
        return True

    def _make_room(self, urls, alert):
        """The queue is full: the destinations to queue a new notification for ([]: none, it is
        dropped). A destination whose last attempt failed, with the most notifications waiting for
        it, gives way: its oldest that waits for it alone (and is not being sent) is given up, and
        the new one is not queued for it. A dead or hanging destination takes up to 8 attempts of
        30 s for each (about 15 an hour): it held the queue until every new notification was
        dropped for every destination (an audit); now the others' still go out."""
        waiting = collections.Counter(url for item in self.pending for url in item[4])
        hog = next((url for url, _ in waiting.most_common() if url in self._failing), None)
        kept = [url for url in urls if url != hog]
        if hog is None or not kept:
            return []
        for item in self.pending:
            if item[4] == [hog] and (id(item), hog) not in self._sending:
                self._forget(item)
                self.counts["crowded_out"] += 1 + (len(kept) < len(urls))
                if self.on_change is not None:  # what the store keeps of it changed
                    self.on_change(item[2]["id"])
                if len(kept) < len(urls):
                    self._unsend(alert["id"], hog)
                return kept
        return []

    def _unsend(self, ident, url):
        """The destination gave way for an alert's newest notification: what of the alert still
        waits for it goes too (a review: its FIRING, sent once it answered again, and never the
        RESOLVED after it). Not a send under way."""
        for item in list(self._by_alert.get(ident, ())):
            if url in item[4] and (id(item), url) not in self._sending:
                item[4].remove(url)
                item[5].pop(url, None)
                if not item[4]:
                    self._forget(item)
                if self.on_change is not None:
                    self.on_change(ident)

    def _forget(self, item):
        self.pending.remove(item)
        items = self._by_alert.get(item[2]["id"], [])
        if item in items:
            items.remove(item)
        if not items:
            self._by_alert.pop(item[2]["id"], None)

    def state_of(self, ident):
        """What the store keeps of an alert's notifications (None when there is nothing to keep):
        those still to go out ("unsent": each with the digests of its destinations that have not
        taken it, and their attempts so far), and whether its FIRING was not sent."""
        unsent = [{"what": item[3], "n": item[2].get("notifications"),
                   "to": {destination_digest(ident, url): item[5][url][1] for url in item[4]}}
                  for item in self._by_alert.get(ident, ())]
        state = {"unsent": unsent} if unsent else {}
        if ident in self._unannounced or ident in self._unheard:
            state["unannounced"] = True
        return state or None

    def restore(self, alert, state):
        """Take back what the store kept of an alert's notifications (state_of) when the dashboard
        stopped: each still to go out, to the destinations of its rule that had not taken it (by
        their digests), its attempts counted on. Returns how many were queued."""
        if not isinstance(state, dict):
            return 0
        if state.get("unannounced") is True and alert.get("status") != "resolved":
            # (A resolved one's RESOLVED was skipped already: nothing of it is to go out, and
            # its mark is for recall alone. Taken back, many such marks pushed the firing
            # alerts' out of the bounded list: a review.)
            self._unannounce(alert["id"], "fired")
        queued = 0
        for entry in state.get("unsent") or []:
            if not isinstance(entry, dict) or entry.get("what") not in SENT_TYPES:
                continue
            to = entry.get("to") if isinstance(entry.get("to"), dict) else {}
            urls = self._destinations(alert)
            by_digest = {destination_digest(alert["id"], url): url for url in urls}
            attempts = {by_digest[d]: n for d, n in to.items()
                        if d in by_digest and isinstance(n, int) and 0 <= n < MAX_ATTEMPTS}
            self.counts["restore_dropped"] += len(to) - len(attempts)  # not in the file any more
            n = entry.get("n") if isinstance(entry.get("n"), int) else None
            alert = dict(alert, notifications=n)
            self._seen.add((alert["id"], entry["what"], n))
            if attempts and self._queue(alert, entry["what"], list(attempts), attempts):
                self.counts["restored"] += 1
                queued += 1
        return queued

    def recall(self, alerts):
        """Count against their rules' hourly limits (rate_limit_per_hour) the notifications a run
        before sent in the last hour, from the kept alerts (with their DELIVERY state): each
        alert's last one (`notified_at`), unless its FIRING was never sent ("unannounced").
        Without it a restart forgot every send, and a dashboard in a crash loop sent without
        limit. An alert re-notified twice within the hour counts once; one rate-limited while
        it was re-notified counts as sent (the store does not say): after a restart the limit
        errs towards fewer messages. Returns how many were counted."""
        now = self.clock()
        recalled, touched = 0, set()
        for alert in alerts:
            at, n = alert.get("notified_at"), alert.get("notifications")
            if (not isinstance(at, (int, float)) or not isinstance(n, int) or n < 1
                    or not now - 3600 < at <= now or not self._destinations(alert)):
                continue
            state = alert.get("delivery")
            if isinstance(state, dict) and state.get("unannounced") is True:
                continue
            if not self._seen.add((alert["id"], "fired" if n == 1 else "renotify", n)):
                continue  # this process counted it when it was submitted
            # Every send of the rule, whatever its device type's own limit (as submit counts)
            self._sent_at[alert["rule"]].append(at)
            recalled += 1
            touched.add(alert["rule"])
        for rule in touched:  # oldest first, as submit keeps them: sorted once (a review)
            ordered = sorted(self._sent_at[rule])
            self._sent_at[rule].clear()
            self._sent_at[rule].extend(ordered)
        self.counts["recalled"] += recalled
        return recalled

    # -- sending -------------------------------------------------------------------------------
    def run(self, rounds=None):
        """Send what is due, each destination on its own (MAX_SENDING at once, one per
        destination), retrying failures with backoff. Never returns (unless `rounds`)."""
        count = 0
        while rounds is None or count < rounds:
            count += 1
            self._settle_finished()
            now = self.clock()
            if not self._stopping:
                self._start_due(now)
            self._wake.wait(max(0.05, min(5.0, self._soonest(now) - now)))
            self._wake.clear()

    def _soonest(self, now):
        """When the next send falls due (one due already waits for a send under way to end,
        which wakes the loop)."""
        return min((item[5][url][0] for item in self.pending for url in item[4]
                    if item[5][url][0] > now), default=now + 5.0)

    def _start_due(self, now):
        """Start the sends that are due, oldest first, within the bounds: MAX_SENDING at once, one
        per destination, MAX_SENDING - 1 at most to destinations whose last attempt failed (one is
        kept for those that answer), and an alert's notifications to a destination in order."""
        busy = {url for _, url in self._sending}
        failing = sum(1 for url in busy if url in self._failing)
        for item in self.pending:
            for url in item[4]:
                if len(self._sending) >= MAX_SENDING:
                    return
                if (item[5][url][0] > now or url in busy
                        or url in self._failing and failing >= MAX_SENDING - 1
                        or self._earlier_waits(item, url)):
                    continue
                busy.add(url)
                failing += url in self._failing
                self._sending.add((id(item), url))
                try:
                    self.spawn(self._send_one, item, url)
                except Exception as exc:  # (no thread to be had) counted as a failed attempt
                    self._finished.append((item, [url], [url], f"{type(exc).__name__}: {exc}"))

    def _earlier_waits(self, item, url):
        """Whether an earlier notification of the same alert is still to go to this destination
        (a RESOLVED never arrives before its FIRING)."""
        for earlier in self._by_alert.get(item[2]["id"], ()):
            if earlier is item:
                return False
            if url in earlier[4]:
                return True
        return False

    def _send_one(self, item, url):
        """One attempt at one destination (its own task); the loop settles it."""
        failed, error = [url], "the send did not end"
        try:
            failed, error = self._attempt(item, [url])
        finally:
            self._finished.append((item, [url], failed, error))
            self._wake.set()

    def _settle_finished(self):
        while self._finished:
            item, urls, failed, error = self._finished.popleft()
            for url in urls:
                self._sending.discard((id(item), url))
            self._settle(item, urls, failed, error)

    def stop(self, timeout=STOP_WAIT):
        """The dashboard is stopping: start no more sends, and give those under way `timeout`
        seconds to end, so that what they delivered is known (and kept) before it exits."""
        self._stopping = True
        until = time.monotonic() + timeout
        while self._sending and time.monotonic() < until:
            self.sleep(0.05)
            self._settle_finished()
        self._settle_finished()

    def _attempt(self, item, urls):
        """(failed, error) of one attempt at `urls` of a queued notification (in a real thread)."""
        alert, what = item[2], item[3]
        title, body = message_of(alert, what, self.base_url, self.lab)
        try:
            failed = self.run_in_thread(self.send, urls, title, body, alert.get("severity"))
            return failed or {}, _failure(failed) if failed else None
        except Exception as exc:  # nobody can tell which took it: all are tried again
            return list(urls), f"{type(exc).__name__}: {exc}"

    def deliver(self, item):
        """One attempt at one queued notification, to all of its destinations still to be served
        at once (the loop, run, sends to each on its own). True once every one took it."""
        urls = list(item[4])
        return self._settle(item, urls, *self._attempt(item, urls))

    def _settle(self, item, urls, failed, error):
        """Count an attempt at `urls` of an item: those that took it are done; the others are
        retried with backoff, each on its own, or given up after MAX_ATTEMPTS."""
        alert, tries = item[2], item[5]
        named = f"[{self.lab}] " if self.lab else ""  # a named lab's log lines begin with it
        retry, gave_up = [], []
        for url in urls:
            if url not in item[4]:
                continue
            if url not in failed:
                item[4].remove(url)
                self._failing.discard(url)
                continue
            self._failing.add(url)
            tries[url][1] += 1
            if tries[url][1] >= MAX_ATTEMPTS:
                item[4].remove(url)
                gave_up.append(url)
            else:
                tries[url][0] = self.clock() + min(MAX_BACKOFF, 2.0 ** tries[url][1])
                retry.append(url)
        for url in list(tries):
            if url not in item[4]:
                del tries[url]
        if failed:
            self.counts["failed"] += 1
            self.last_error = unnamed(scrub(error, self._secrets), self._where)[:300]
        if gave_up:
            item[6] = True  # some destination never took it
            self.counts["gave_up"] += len(gave_up)
            log.warning("%sgave up notifying %s after %d attempts (%d of its destinations): %s",
                        named, alert["key"], MAX_ATTEMPTS, len(gave_up), self.last_error)
        if retry:
            self.counts["retries"] += 1
            wait = min(tries[url][0] for url in retry) - self.clock()
            log.warning("%snotifying %s failed (attempt %d; retrying in %.0f s): %s", named,
                        alert["key"], max(tries[url][1] for url in retry), wait, self.last_error)
        done = not item[4]
        if done:
            self._forget(item)
            if not item[6]:
                self.counts["delivered"] += 1
        else:
            item[0] = min(tries[url][0] for url in item[4])
            item[1] = max(tries[url][1] for url in item[4])
        if self.on_change is not None:  # what the store keeps of it changed
            self.on_change(alert["id"])
        return done and not failed

    def stats(self):
        """The /healthz section: counts only, never a destination."""
        return {"queued": len(self.pending), "sending": len(self._sending), **self.counts,
                "last_error": self.last_error}
