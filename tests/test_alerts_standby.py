"""A standby ingest process's alerts (alerts/engine.py): two engines over one SQLite store, as two
ingest processes on one data directory. The standby's rules run, but it keeps nothing and takes
back no notification of the other's; when it takes over it adopts the alerts the other kept (one
record per episode), and tells what only it saw."""
import types

from dashboard.alerts.delivery import Notifier, destination_digest
from dashboard.alerts.engine import AlertEngine
from dashboard.alerts.rules import parse_config
from dashboard.storage.store import EventStore
from tests.unit.test_alert_rules import T0, device

URL = "json://127.0.0.1:9/hook"
RULES = f'[rules.device_bad]\nminutes = 1\nrenotify_minutes = 0\nnotify = ["{URL}"]\n'


def quiet_event():
    return types.SimpleNamespace(set=lambda: None, wait=lambda seconds: None, clear=lambda: None)


class Process:
    """One ingest process's engine (and notifier) over the shared store, its clock in `now`."""

    def __init__(self, store, standing_by=None):
        from dashboard.core.state import LabState
        self.now = [T0]
        self.sent = []
        config = parse_config(RULES)
        self.notifier = Notifier(config, lambda fn, *a: fn(*a), lambda s: None, quiet_event,
                                 clock=lambda: self.now[0], send=self.send,
                                 spawn=lambda fn, *a: fn(*a))
        self.engine = AlertEngine(LabState(), types.SimpleNamespace(push=lambda changes: None),
                                  config, store, self.notifier, lambda fn, *a: fn(*a),
                                  lambda s: None, quiet_event, lambda: (None, True), lambda: None,
                                  clock=lambda: self.now[0], standing_by=standing_by)
        if standing_by is not None:
            self.notifier.active = lambda: not standing_by()

    def send(self, urls, title, body, severity):
        self.sent += [title for _ in urls]
        return {}

    def see(self, *events):
        for event in events:
            self.engine.push(self.engine.state.apply(event))

    def at(self, seconds):
        self.now[0] = T0 + seconds
        self.engine.tick()
        while self.engine.drain():
            pass
        self.notifier.run(rounds=2)  # sends, then what ended is taken off
        self.engine.drain()  # and what the sends delivered is kept (the engine's next round)


def firing(store):
    return sorted((a["key"], a["id"]) for a in store.alerts(status="firing", limit=100))


def test_the_standby_keeps_nothing_then_adopts_the_kept_alerts_and_tells_only_what_it_alone_saw(
        tmp_path):
    store = EventStore(str(tmp_path / "events.sqlite3"))
    active = Process(store)
    standing = [True]
    standby = Process(store, standing_by=lambda: standing[0])
    standby.engine.restore()
    assert standby.engine.stats()["standing_by"] is True

    active.see(device("a", 0, "Bad"))
    standby.see(device("a", 0, "Bad"), device("b", 0, "Bad"))  # b: only the standby heard it
    active.at(120)
    standby.at(125)  # its own episode of a (another id), and b's
    assert set(standby.engine.book.firing) == {"device_bad/a", "device_bad/b"}
    kept = firing(store)
    assert [k for k, _ in kept] == ["device_bad/a"]  # the standby kept nothing
    assert active.sent and not standby.sent  # and sent nothing
    assert standby.notifier.counts["standby"] == 2

    standing[0] = False  # the other stops: this one takes over at its next round
    standby.at(130)
    assert standby.engine.takeovers == 1 and standby.engine.stats()["standing_by"] is False
    # a: the other's episode (its id), once; b: this one's own, kept and told now.
    assert standby.engine.book.firing["device_bad/a"]["id"] == kept[0][1]
    assert [k for k, _ in firing(store)] == ["device_bad/a", "device_bad/b"]
    assert len(store.alerts(limit=100)) == 2
    assert len(standby.sent) == 1 and "b" in standby.sent[0]

    standby.see(device("a", 200, "Good"))  # a resolves: the one record says so
    standby.at(210)
    records = [x for x in store.alerts(limit=100) if x["key"] == "device_bad/a"]
    assert len(records) == 1 and records[0]["status"] == "resolved"
    assert records[0]["id"] == kept[0][1]


def test_a_standby_takes_back_the_other_s_unsent_notifications_only_when_it_takes_over(tmp_path):
    """At start, a standby reads the other's firing alerts (they do not fire again) but leaves
    their notifications still to go out to the other; they are its own once it takes over."""
    store = EventStore(str(tmp_path / "events.sqlite3"))
    ident = "a" * 16
    store.save_alerts([{
        "id": ident, "key": "device_bad/a", "rule": "device_bad", "subject": "a",
        "subject_kind": "device", "device_type": "qemu", "severity": "warning", "message": "a is Bad",
        "status": "firing", "fired_at": T0, "resolved_at": None, "acked_by": None, "acked_at": None,
        "notified_at": T0, "notifications": 1,
        "delivery": {"unsent": [{"what": "fired", "n": 1, "to": {destination_digest(ident, URL): 1}}]}}])
    standing = [True]
    standby = Process(store, standing_by=lambda: standing[0])
    standby.engine.restore()
    standby.see(device("a", 0, "Bad"))  # still Bad
    assert list(standby.engine.book.firing) == ["device_bad/a"]
    assert standby.notifier.pending == [] and standby.notifier.counts["restored"] == 0
    standby.at(10)
    assert standby.sent == []
    standing[0] = False
    standby.at(20)
    assert standby.notifier.counts["restored"] == 1
    assert len(standby.sent) == 1 and firing(store) == [("device_bad/a", ident)]


def test_an_alert_the_other_resolved_meanwhile_is_not_told_again_as_this_one_s_own(tmp_path):
    store = EventStore(str(tmp_path / "events.sqlite3"))
    first = Process(store)
    first.see(device("a", 0, "Bad"))
    first.at(120)
    [(key, ident)] = firing(store)
    standing = [True]
    standby = Process(store, standing_by=lambda: standing[0])
    standby.engine.restore()  # adopts the first's episode of a
    standby.see(device("a", 0, "Bad"))
    standby.at(125)
    first.see(device("a", 130, "Good"))  # the first resolves it; the standby did not hear it
    first.at(131)
    assert firing(store) == []
    standing[0] = False
    standby.at(140)
    assert standby.engine.takeovers == 1 and standby.sent == []  # nobody told of it twice
    assert [(x["id"], x["status"]) for x in store.alerts(limit=100)] == [(ident, "resolved")]


def test_the_end_of_a_start_s_wait_for_redis_tells_what_fired_meanwhile_but_is_no_takeover(
        tmp_path, caplog):
    store = EventStore(str(tmp_path / "events.sqlite3"))
    why = ["unknown"]  # Redis has not yet said whether another ingest process publishes
    process = Process(store, standing_by=lambda: why[0])
    process.engine.restore()
    process.see(device("a", 0, "Bad"))
    process.at(120)
    assert firing(store) == [] and process.sent == []  # held while it does not know
    caplog.set_level("INFO", logger="dashboard.alerts")
    why[0] = ""  # nobody else publishes
    process.at(125)
    assert [k for k, _ in firing(store)] == ["device_bad/a"] and len(process.sent) == 1
    assert process.engine.takeovers == 0
    assert not [r for r in caplog.records if "taking over" in r.getMessage()]


def test_a_takeover_soon_after_the_start_is_seen_as_one_between_two_ticks(tmp_path, caplog):
    """Redis first says "unknown", then that another publishes, then the other stops, all within
    the engine's tick interval (15 s): its run loop looks at the role every ROLE_CHECK while it
    stands by, so the takeover is adopted (the other's notifications still to go out sent) within
    a second, not 15 s later."""
    from dashboard.alerts.engine import ROLE_CHECK

    store = EventStore(str(tmp_path / "events.sqlite3"))
    other = Process(store)
    other.see(device("a", 0, "Bad"))
    other.at(120)  # the other keeps a firing alert
    now = [0.0]  # the loop's waits move this clock: Redis's answers follow it
    waits = []

    def wait(seconds):
        waits.append(seconds)
        now[0] += seconds

    process = Process(store, standing_by=lambda: "unknown" if now[0] < 0.5 else
                      "another" if now[0] < 2.5 else "")
    process.see(device("a", 0, "Bad"))
    process.engine._wake = types.SimpleNamespace(set=lambda: None, clear=lambda: None, wait=wait)
    process.engine.restore()
    caplog.set_level("INFO", logger="dashboard.alerts")
    process.engine.run(rounds=5)  # one tick (the first round), then rounds of the role alone
    assert process.engine.interval == 15.0
    assert waits == [ROLE_CHECK] * 3 + [15.0] * 2  # (stood by at 0, 1 and 2 s; took over at 3)
    assert process.engine.takeovers == 1 and process.engine.stats()["standing_by"] is False
    assert [k for k in process.engine.book.firing] == ["device_bad/a"]  # the other's, adopted
    assert [k for k, _ in firing(store)] == ["device_bad/a"]  # one record of it, the other's
    assert [r for r in caplog.records if "taking over the alerts: 1 kept" in r.getMessage()]


def test_a_rival_seen_only_between_two_looks_still_makes_its_end_a_takeover(tmp_path, caplog):
    """The other published and stopped between the engine's looks (a takeover within a second of
    the start, as a real standby met it): the publisher's rival_seen makes it a takeover, counted
    and logged, not the end of a start's wait."""
    store = EventStore(str(tmp_path / "events.sqlite3"))
    other = Process(store)
    other.see(device("a", 0, "Bad"))
    other.at(120)
    why, seen = ["unknown"], [False]
    process = Process(store, standing_by=lambda: why[0])
    process.engine.restore()  # it saw "unknown" only
    why[0], seen[0] = "", True  # another published and stopped meanwhile
    caplog.set_level("INFO", logger="dashboard.alerts")
    process.at(121)
    assert process.engine.takeovers == 0  # without the publisher's word: the end of a start's wait
    process = Process(store, standing_by=lambda: why[0])
    why[0] = "unknown"
    process.engine.restore()
    process.engine.rival_seen = lambda: seen[0]
    why[0] = ""
    process.at(121)
    assert process.engine.takeovers == 1
    assert [r for r in caplog.records if "taking over the alerts" in r.getMessage()]
