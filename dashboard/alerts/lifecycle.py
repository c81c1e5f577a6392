"""Alerts' lifecycle (pure): firing, then resolved; one alert per episode of a key; re-notified
while it fires (unless acknowledged); acknowledged by a named viewer. Times are epoch seconds
passed in."""
import hashlib

MAX_FIRING = 50_000
# What an alert says of itself that a later "fire" of its episode does not change.
FIXED = ("rule", "subject_kind", "subject", "device_type", "severity")


def alert_id(key, fired_at):
    """A stable id of one episode of a key (the store's primary key, the URL's part)."""
    return hashlib.sha256(f"{key}@{fired_at!r}".encode()).hexdigest()[:16]


class AlertBook:
    """The alerts firing now, by key. Each method returns what happened, for the store and the
    notifier: (alert, what) with what in fired, renotify, resolved, acknowledged."""

    def __init__(self, config):
        self.config = config
        self.firing = {}  # key → alert dict
        self.fired = 0
        self.resolved = 0

    def restore(self, alerts):
        """The alerts a previous run left firing (from the store): they do not fire again."""
        for alert in alerts:
            if alert.get("status") == "firing":
                self.firing[alert["key"]] = dict(alert)

    def apply(self, transitions, now):
        """[(alert, what)] of the rules' transitions."""
        out = []
        for verb, key, info in transitions:
            if verb == "fire" and key not in self.firing and len(self.firing) < MAX_FIRING:
                alert = {"id": alert_id(key, now), "key": key, **info, "status": "firing",
                         "fired_at": now, "resolved_at": None, "acked_by": None,
                         "acked_at": None, "notified_at": now, "notifications": 1}
                self.firing[key] = alert
                self.fired += 1
                out.append((dict(alert), "fired"))
            elif verb == "fire" and key in self.firing:
                # The same episode: it fires once, but says what the rule says now ("for 52
                # minutes", not the figure of when it fired: an audit), in memory only; the
                # store keeps it with the next save of the alert (a re-notification, say).
                self.firing[key].update({k: v for k, v in info.items() if k not in FIXED})
            elif verb == "resolve" and key in self.firing:
                alert = self.firing.pop(key)
                alert.update(status="resolved", resolved_at=now)
                self.resolved += 1
                out.append((dict(alert), "resolved"))
        return out

    def due(self, now):
        """[(alert, "renotify")] of unacknowledged alerts whose re-notify interval has passed."""
        out = []
        for alert in self.firing.values():
            minutes = self.config.get(alert["rule"], "renotify_minutes", alert.get("device_type"))
            if not minutes or alert.get("acked_by"):
                continue
            if now - alert["notified_at"] >= minutes * 60:
                alert["notified_at"] = now
                alert["notifications"] += 1
                out.append((dict(alert), "renotify"))
        return out

    def acknowledge(self, ident, username, now):
        """(alert, "acknowledged") when a firing alert with this id is acknowledged now, else None."""
        for alert in self.firing.values():
            if alert["id"] == ident:
                if alert.get("acked_by"):
                    return dict(alert), None  # already: the first name stays
                alert.update(acked_by=username, acked_at=now)
                return dict(alert), "acknowledged"
        return None, None
