"""Alerts out of the dashboard, through Apprise (Slack, Matrix, Teams, e-mail, webhooks, ...).

A bounded queue and a green thread of its own; each send runs in a real thread (run_in_thread),
so that a slow or dead destination never holds up ingest or the page, and each of its URLs in a
child process of its own (sender.py), so that a hostile one costs SEND_DEADLINE seconds and
SEND_MEMORY_MIB of memory at most: Apprise bounds neither (a webhook that answers a byte at a time,
or an endless answer). Per rule: a rate limit (sends per hour) and de-duplication (one send per
alert, transition and notification count). A failed send is retried with backoff, up to
MAX_ATTEMPTS, to the destinations that did not take it only, and counted for /healthz.

One send at a time: a destination that never answers delays every later notification by up to
SEND_DEADLINE at each of its attempts (a send of more than sender.MAX_CHILDREN URLs, as many
times over as it has groups of them: docs/alerts.md).

Apprise URLs hold tokens: they are never logged, counted by name or shown; errors are scrubbed.
A named lab's (--labs) notifications and log lines say their lab ("[east] ...").
"""
import collections
import logging
import re
import time
import urllib.parse

from dashboard.alerts.sender import send_in_children
from dashboard.core.redact import scrub, split_secrets
from dashboard.core.state import BoundedSet

log = logging.getLogger("dashboard.alerts.delivery")
MAX_QUEUE = 1000
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


def apprise_send(urls, title, body, severity):
    """One notification to each URL through Apprise, each in a child process bounded in time and
    memory (sender.py; blocking: run it in a real thread). Returns {url: why} of the URLs that did
    not take it, for them alone to be tried again. The reasons may hold pieces of the URLs."""
    return send_in_children(urls, title, body, severity, deadline=SEND_DEADLINE,
                            memory_mib=SEND_MEMORY_MIB)


def unusable_destinations(config):
    """Where each Apprise URL is set that Apprise cannot use (an unknown scheme, a URL of the
    wrong shape), by its scheme only: the URL holds a token. Apprise logs such a URL at ERROR,
    so this runs once the log is scrubbed of the file's URLs."""
    import apprise

    return [f"{where}: a {url.partition('://')[0][:20]!r} URL that Apprise cannot use"
            for where, url in config.destinations()
            if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None]


def message_of(alert, what, base_url="", lab=""):
    """(title, body) of a notification: what the alert says, never a job's details (the message
    names boards, workers and device types only); a named lab's title begins with it, as its
    alerts feed's entries do ("[east] [FIRING] device_bad: d1")."""
    title = (f"[{lab}] " if lab else "") + f"[{SENT_TYPES[what]}] {alert['rule']}: {alert['subject']}"
    body = alert["message"]
    if what == "resolved":
        body = f"resolved after {(alert['resolved_at'] - alert['fired_at']) / 60:.0f} minutes: {body}"
    if base_url:
        body += f"\n{base_url.rstrip('/')}/#/alerts"
    return title, body


def _failure(failed):
    """What went wrong, for last_error: how many did not take it, and why (a send may say why as
    {url: why}; an injected one may give a list of URLs only)."""
    whys = list(dict.fromkeys(failed.values())) if isinstance(failed, dict) else []
    return (f"{len(failed)} of its destinations did not take the notification"
            + (": " + "; ".join(str(why) for why in whys[:3]) if whys else ""))


class Notifier:
    """Sends alerts to their rule's destinations."""

    def __init__(self, config, run_in_thread, sleep, make_event, clock=time.time,
                 send=apprise_send, base_url="", max_queue=MAX_QUEUE, lab=""):
        self.config = config
        self.lab = lab  # a named lab's (--labs) name; "" for the unnamed lab
        self.run_in_thread = run_in_thread
        self.sleep = sleep
        self.clock = clock
        self.send = send
        self.base_url = base_url
        self.max_queue = max_queue
        self.pending = []  # [due, attempt, alert, what, urls]
        self._wake = make_event()
        self._sent_at = collections.defaultdict(collections.deque)  # rule → send times (an hour)
        self._seen = BoundedSet(20_000)
        self._secrets = secrets_of(config.urls())
        self.counts = collections.Counter(delivered=0, failed=0, retries=0, gave_up=0,
                                          rate_limited=0, deduplicated=0, dropped=0)
        self.last_error = None

    def submit(self, alert, what):
        """Queue a notification of this alert's transition, if its rule has destinations and its
        rate limit allows; never blocks."""
        if what not in SENT_TYPES:
            return False
        rule, dtype = alert["rule"], alert.get("device_type")
        urls = self.config.get(rule, "notify", dtype)
        if not urls:
            return False
        if not self._seen.add((alert["id"], what, alert.get("notifications"))):
            self.counts["deduplicated"] += 1
            return False
        now = self.clock()
        sent = self._sent_at[rule]
        while sent and sent[0] <= now - 3600:
            sent.popleft()
        limit = self.config.get(rule, "rate_limit_per_hour", dtype)
        if limit and len(sent) >= limit:
            self.counts["rate_limited"] += 1
            return False
        if len(self.pending) >= self.max_queue:
            self.counts["dropped"] += 1
            return False
        sent.append(now)
        self.pending.append([now, 0, alert, what, list(urls)])
        self._wake.set()
        return True

    def _next(self, now):
        due = [item for item in self.pending if item[0] <= now]
        return min(due, key=lambda item: item[0]) if due else None

    def run(self, rounds=None):
        """Send what is due, retrying failures with backoff. Never returns (unless `rounds`)."""
        count = 0
        while rounds is None or count < rounds:
            count += 1
            now = self.clock()
            item = self._next(now)
            if item is None:
                soonest = min((i[0] for i in self.pending), default=now + 5.0)
                self._wake.wait(max(0.05, min(5.0, soonest - now)))
                self._wake.clear()
                continue
            self.deliver(item)

    def deliver(self, item):
        """One attempt at one queued notification."""
        _, attempt, alert, what, urls = item
        title, body = message_of(alert, what, self.base_url, self.lab)
        try:
            failed = self.run_in_thread(self.send, urls, title, body, alert.get("severity"))
            error = _failure(failed) if failed else None
        except Exception as exc:  # nobody can tell which took it: all are tried again
            failed, error = urls, f"{type(exc).__name__}: {exc}"
        if not failed:
            self.counts["delivered"] += 1
            self.pending.remove(item)
            return True
        item[4] = [url for url in urls if url in failed]  # the others took it
        self.counts["failed"] += 1
        self.last_error = scrub(error, self._secrets)[:300]
        item[1] = attempt = attempt + 1
        name = (f"[{self.lab}] " if self.lab else "") + alert["key"]
        if attempt >= MAX_ATTEMPTS:
            self.counts["gave_up"] += 1
            self.pending.remove(item)
            log.warning("gave up notifying %s after %d attempts: %s", name, attempt,
                        self.last_error)
            return False
        self.counts["retries"] += 1
        item[0] = self.clock() + min(MAX_BACKOFF, 2.0 ** attempt)
        log.warning("notifying %s failed (attempt %d; retrying in %.0f s): %s", name,
                    attempt, item[0] - self.clock(), self.last_error)
        return False

    def stats(self):
        """The /healthz section: counts only, never a destination."""
        return {"queued": len(self.pending), **self.counts, "last_error": self.last_error}
