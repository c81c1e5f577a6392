"""Alert rules, lifecycle and delivery after an audit, pure (a clock passed in): a worker offline on
purpose (Retired, Maintenance) raises nothing; `first_seen` forgets removed boards and is bounded;
counts are whole numbers and a URL that cannot be sent to stops the start; a firing alert says its
current figures (a STILL FIRING, the API); a named lab's log lines begin with the lab."""
import copy
import logging

import pytest

from dashboard.alerts import rules as rules_module
from dashboard.alerts.delivery import Notifier, message_of, unusable_destinations
from dashboard.alerts.engine import AlertEngine
from dashboard.alerts.rules import AlertsConfigError, parse_config
from dashboard.core import records
from tests.fixtures import rest
from tests.unit.test_alert_rules import (T0, Lab, _Event, _Store, at, device, engine_with, ev,
                                         restored)

WORKERS = {w["hostname"]: w for w in rest("workers")["results"]}  # every one Offline


def bootstrapped(text="", devices=None, workers=None):
    """A Lab whose model LAVA's REST answers loaded at T0 (no `since`: counted from first seen)."""
    lab = Lab(text)
    snap = records.build(rest("devices_all")["results"] if devices is None else devices,
                         list(WORKERS.values()) if workers is None else workers, [])
    changes, _ = lab.state.reconcile(snap, at(0), initial=True)
    lab.book.apply(lab.rules.on_changes(changes, T0), T0)
    lab.tick(0)  # the rules see it first: durations count from here
    return lab


# -- 1. worker_offline: not for a worker offline on purpose ------------------------------------
def test_a_retired_worker_of_the_real_rest_answer_never_fires_worker_offline():
    """lab-worker-04 is Retired (and so Offline for ever): it used to re-notify every hour."""
    assert WORKERS["lab-worker-04"]["health"] == "Retired"
    lab = bootstrapped("[rules.worker_offline]\nminutes = 10\nrenotify_minutes = 60\n")
    lab.tick(600)
    fired = {key for what, key in lab.what() if key.startswith("worker_offline/")}
    assert fired == {f"worker_offline/{host}" for host, w in WORKERS.items()
                     if w["health"] == "Active"}
    lab.tick(86_400)
    assert ("fired", "worker_offline/lab-worker-04") not in lab.what()
    assert "worker_offline/lab-worker-04" not in lab.book.firing


@pytest.mark.parametrize("health", ["Retired", "Maintenance"])
def test_a_worker_put_out_of_service_while_offline_resolves_and_stays_quiet(health):
    lab = Lab("[rules.worker_offline]\nminutes = 10\n")
    lab.apply(ev("worker", 0, hostname="w1", state="Offline", health="Active"))
    lab.tick(600)
    assert lab.what() == [("fired", "worker_offline/w1")]
    # The admin retires it, or puts it in Maintenance: still Offline, on purpose now.
    lab.apply(ev("worker", 700, hostname="w1", state="Offline", health=health))
    assert lab.what() == [("resolved", "worker_offline/w1")]
    lab.tick(700 + 86_400)
    assert lab.what() == []
    # Back in service and still Offline: counted from then, a new episode.
    lab.apply(ev("worker", 90_000, hostname="w1", state="Offline", health="Active"))
    lab.tick(90_000 + 599)
    assert lab.what() == []
    lab.tick(90_000 + 600)
    assert lab.what() == [("fired", "worker_offline/w1")]


# -- 2. first_seen: forgotten with its board, and bounded --------------------------------------
def test_first_seen_forgets_a_board_that_leaves_the_model():
    lab = bootstrapped()
    lab.tick(60)  # docker-02 Bad, x86-01 in Maintenance: LAVA's REST says no `since`
    assert {("device_bad", "docker-02"), ("device_maintenance", "x86-01")} <= set(lab.rules.first_seen)
    kept = [d for d in rest("devices_all")["results"]
            if d["hostname"] not in ("docker-02", "x86-01")]
    changes, _ = lab.state.reconcile(records.build(kept, list(WORKERS.values()), []), at(120))
    lab.rules.on_changes(changes, T0 + 120)
    assert not [k for k in lab.rules.first_seen if k[1] in ("docker-02", "x86-01")]


def test_first_seen_is_bounded(monkeypatch):
    monkeypatch.setattr(rules_module, "MAX_TRACKED", 3)
    template = next(d for d in rest("devices_all")["results"] if d["health"] == "Bad")
    boards = [dict(copy.deepcopy(template), hostname=f"bad-{i}") for i in range(10)]
    lab = bootstrapped(devices=boards, workers=[])
    lab.tick(60)
    assert len(lab.rules.first_seen) == 3
    assert ("device_bad", "bad-9") in lab.rules.first_seen  # the newest stay


# -- 3. the file: whole counts; URLs that cannot be sent to ------------------------------------
@pytest.mark.parametrize("text, message", [
    ("[rules.health_checks_failed]\ncount = 0\n",
     r"rules.health_checks_failed.count: a number from 1 to 1,000, a whole one, got 0"),
    ("[rules.health_checks_failed]\ncount = 2.5\n", r"count: a number from 1 to 1,000, a whole one"),
    ("[rules.health_checks_failed]\ncount = 3.0\n", r"count: .* a whole one, got 3.0"),
    ('[rules.health_checks_failed.device_type."qemu"]\ncount = 0\n', r"count: a number from 1"),
    ("[rules.flapping]\nchanges = 1.5\n",
     r"rules.flapping.changes: a number from 0 to 1,000, a whole one \(0: every health change "
     r"fires\), got 1.5"),
    ("[rules.device_bad]\nrate_limit_per_hour = 0.5\n",
     r"rules.device_bad.rate_limit_per_hour: a number from 0 to 3,600, a whole one \(0: no "
     r"limit\), got 0.5"),
    ('[labs.east.rules.flapping]\nchanges = 2.5\n', r"rules.flapping.changes: .* a whole one"),
])
def test_counts_are_whole_numbers(text, message):
    with pytest.raises(AlertsConfigError, match=message):
        parse_config(text)
    # What 0 means where it is allowed (and 1, the least count) is still accepted.
    config = parse_config("[rules.health_checks_failed]\ncount = 1\n[rules.flapping]\nchanges = 0\n"
                          "[rules.device_bad]\nrate_limit_per_hour = 0\n")
    assert config.get("flapping", "changes") == 0 and config.get("device_bad", "rate_limit_per_hour") == 0


def test_a_url_with_a_port_out_of_range_or_no_host_is_refused_by_where_and_entry_only():
    secret = "Tok3nSecret"
    config = parse_config(
        f'[notify]\nurls = ["json://127.0.0.1:8080/{secret}", "json://127.0.0.1:99999/{secret}",'
        f' "jsons://hooks.example.org:0/{secret}"]\n'
        f'[rules.device_bad]\nnotify = ["xml:///{secret}", "form://hooks.example.org/x?port=70000"]\n'
        # Apprise's URLs whose "host" is a token or an id, or that name no port: accepted.
        f'[rules.flapping]\nnotify = ["tgram://123456789:AAH{secret}/12345", '
        f'"mailto://user:pass@gmail.com", "ntfy://{secret}", "slack://T000/B000/{secret}", '
        f'"json://[::1]:65535/x", "json://u:p@h:1/x"]\n')
    problems = unusable_destinations(config)
    assert problems == [
        "notify.urls: a 'json' URL whose port is not from 1 to 65535 (entry 2)",
        "notify.urls: a 'jsons' URL whose port is not from 1 to 65535 (entry 3)",
        "rules.device_bad.notify: a 'xml' URL without a host (entry 1)",
        "rules.device_bad.notify: a 'form' URL whose port is not from 1 to 65535 (entry 2)",
    ]
    for text in problems:
        assert secret not in text and "99999" not in text and "hooks.example.org" not in text
    # json:///x: Apprise would post to the host "x"; a host-less URL is refused whatever its case.
    assert unusable_destinations(parse_config('[notify]\nurls = ["JSON:///nohost"]\n')) == [
        "notify.urls: a 'JSON' URL without a host (entry 1)"]


# -- 4. a firing alert says its current figures ------------------------------------------------
def engine_over(state, store, now, text="[rules.device_bad]\nminutes = 30\nrenotify_minutes = 60\n",
                lab=""):
    return AlertEngine(state, None, parse_config(text), store, None, lambda fn, *a: fn(*a),
                       lambda s: None, _Event, lambda: (None, True), lambda: None,
                       clock=lambda: now[0], lab=lab)


def test_a_still_firing_alert_says_how_long_now_and_the_store_is_written_only_when_it_was_anyway():
    lab = Lab()
    lab.apply(device("qemu-01", 0, "Bad"))
    now, store = [T0 + 1800], _Store()
    engine = engine_over(lab.state, store, now)
    engine.tick()
    engine.drain()
    [[fired]] = store.saved
    assert fired["message"] == "qemu-01 has been Bad for 30 minutes (threshold 30)"
    now[0] = T0 + 2400
    engine.tick()
    assert engine.drain() == 0 and len(store.saved) == 1  # no store write per tick
    [current] = engine.current()  # what the API says
    assert current["message"] == "qemu-01 has been Bad for 40 minutes (threshold 30)"
    now[0] = T0 + 1800 + 3600
    engine.tick()
    [(renotified, what)] = list(engine.outbox)
    assert what == "renotify"
    assert renotified["message"] == "qemu-01 has been Bad for 90 minutes (threshold 30)"
    engine.drain()
    assert store.saved[-1][0]["message"] == renotified["message"]  # kept with the save it made
    assert renotified["id"] == fired["id"] and renotified["fired_at"] == fired["fired_at"]
    # RESOLVED: how long it fired, and the rule's last word (not the figure of when it fired).
    lab.state.apply(device("qemu-01", 5500, "Good"))
    now[0] = T0 + 5500
    engine.tick()
    [(resolved, what)] = list(engine.outbox)
    _, body = message_of(resolved, what)
    assert body == ("resolved after firing for 62 minutes; it last said: qemu-01 has been Bad "
                    "for 90 minutes (threshold 30)")


def test_after_a_restart_a_board_rest_loaded_counts_on_from_its_alert_s_since():
    """A restart loads the board from LAVA's REST (no `since`): the alert taken back from the
    store says since when it holds, and its message counts on from there, not from the restart."""
    lab = bootstrapped()  # docker-02 is Bad, since unknown
    alert = dict(restored("device_bad", "docker-02", "docker"), since=T0, notified_at=T0 + 5000,
                 message="docker-02 has been Bad for 30 minutes (threshold 30)")
    now = [T0 + 5400]
    engine = engine_over(lab.state, _Store([alert]), now,
                         "[rules.device_bad]\nminutes = 30\nrenotify_minutes = 60\n"
                         "[rules.worker_offline]\nenabled = false\n")  # (Offline since November)
    engine.restore()
    engine.tick()
    assert [what for _, what in engine.outbox] == []  # the same episode: nothing fires
    [current] = engine.current()
    assert current["id"] == alert["id"]
    assert current["message"] == "docker-02 has been Bad for 90 minutes (threshold 30)"


# -- 5. a named lab's log lines begin with the lab ---------------------------------------------
def test_a_named_lab_s_alert_and_delivery_log_lines_begin_with_the_lab(caplog):
    caplog.set_level(logging.INFO, logger="dashboard")
    lab = Lab()
    lab.apply(device("qemu-01", 0, "Bad"))
    now = [T0 + 1800]
    engine = engine_over(lab.state, None, now, lab="east")
    engine.tick()
    engine.drain()
    url = "json://127.0.0.1:24999/hook"
    config = parse_config(f'[notify]\nurls = ["{url}"]\n')
    notifier = Notifier(config, lambda fn, *a: fn(*a), lambda s: None, _Event, clock=lambda: now[0],
                        send=lambda urls, *rest: {u: "refused" for u in urls}, lab="east")
    [alert] = list(engine.recent)
    assert notifier.submit(alert, "fired")
    for _ in range(8):  # retried, then given up
        now[0] = notifier.pending[0][0]
        notifier.deliver(notifier.pending[0])
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("dashboard.alerts")]
    assert lines[0].startswith("[east] alert fired: device_bad/qemu-01 (qemu-01 has been Bad")
    assert lines[1].startswith("[east] notifying device_bad/qemu-01 failed (attempt 1;")
    assert lines[-1].startswith("[east] gave up notifying device_bad/qemu-01 after 8 attempts")
    assert all(line.startswith("[east] ") for line in lines), lines

    # The unnamed lab's have no prefix.
    caplog.clear()
    engine = engine_over(lab.state, None, now)
    engine.tick()
    engine.drain()
    [line] = [r.getMessage() for r in caplog.records if r.name.startswith("dashboard.alerts")]
    assert line.startswith("alert fired: device_bad/qemu-01 (")


# -- 6. what a restart remembers: the boards' stored health, the hour's sends ------------------
def test_a_board_loaded_from_rest_counts_from_when_the_store_saw_its_health_begin():
    """LAVA's REST says no `since`: a board in Maintenance for a day, whose alert had not fired
    when the dashboard restarted, counted from the restart (a daily restart never said it)."""
    lab = Lab("[rules.device_bad]\nminutes = 30\n[rules.device_maintenance]\nminutes = 1440\n"
              "[rules.worker_offline]\nenabled = false\n")
    lab.rules.remember([("x86-01", "Maintenance", T0 - 86_400),
                        ("docker-02", "Bad", T0 - 600),
                        ("docker-01", "Bad", T0 - 7200),  # Good now (it changed while down)
                        ("qemu-03", "Unknown", T0 - 9e5),  # no rule counts it
                        ("gone", "Bad", "yesterday")])  # not a time: not taken
    assert set(lab.rules.stored) == {("device_maintenance", "x86-01"), ("device_bad", "docker-02"),
                                     ("device_bad", "docker-01")}
    snap = records.build(rest("devices_all")["results"], list(WORKERS.values()), [])
    changes, _ = lab.state.reconcile(snap, at(0), initial=True)
    lab.book.apply(lab.rules.on_changes(changes, T0), T0)
    assert ("device_bad", "docker-01") not in lab.rules.stored  # REST says Good
    lab.tick(0)
    assert lab.what() == [("fired", "device_maintenance/x86-01")]
    assert lab.book.firing["device_maintenance/x86-01"]["message"].startswith(
        "x86-01 has been Maintenance for 1440 minutes")
    lab.tick(20 * 60)  # docker-02: Bad since 10 minutes before the restart
    assert lab.what() == [("fired", "device_bad/docker-02")]
    # docker-01 goes Bad again, and LAVA gives no time: counted from now, not from the store's
    lab.state.devices["docker-01"] = dict(lab.state.devices["docker-01"], health="Bad", since=None)
    lab.tick(21 * 60)
    lab.tick(21 * 60 + 29 * 60)
    assert lab.what() == []
    lab.tick(21 * 60 + 30 * 60)
    assert lab.what() == [("fired", "device_bad/docker-01")]


def test_the_engine_takes_the_boards_stored_health_from_the_store_and_survives_a_failing_read():
    class Spans(_Store):
        def __init__(self, spans):
            super().__init__()
            self.spans, self.asked = spans, []

        def health_spans(self, healths, limit):
            self.asked.append((healths, limit))
            if isinstance(self.spans, Exception):
                raise self.spans
            return self.spans

    now = [T0]
    store = Spans([("docker-02", "Bad", T0 - 3600)])
    engine = engine_over(Lab().state, store, now)
    engine.restore()
    assert store.asked == [(("Bad", "Maintenance"), rules_module.MAX_TRACKED)]
    assert engine.rules.stored == {("device_bad", "docker-02"): T0 - 3600}
    engine = engine_over(Lab().state, Spans(OSError("disk I/O error")), now)
    engine.restore()  # durations count from now, as before
    assert engine.store_errors == 1 and engine.rules.stored == {}


def _sent(ident, rule, at_, n=1, unannounced=False, dtype="qemu"):
    alert = {"id": ident, "key": f"{rule}/{ident}", "rule": rule, "subject": ident,
             "device_type": dtype, "status": "resolved", "fired_at": at_, "notified_at": at_,
             "notifications": n, "message": "m", "severity": "warning"}
    if unannounced:
        alert["delivery"] = {"unannounced": True}
    return alert


def test_the_hourly_limit_counts_the_last_hour_s_sends_of_a_run_before():
    url = "json://127.0.0.1:24999/hook"
    config = parse_config(f'[rules.device_bad]\nrate_limit_per_hour = 2\nnotify = ["{url}"]\n'
                          f'[rules.worker_offline]\nnotify = ["{url}"]\n'
                          '[rules.flapping]\nrate_limit_per_hour = 5\n')  # no destination
    now = [T0]
    notifier = Notifier(config, lambda fn, *a: fn(*a), lambda s: None, _Event,
                        clock=lambda: now[0], send=lambda urls, *rest: {})
    kept = [_sent("a", "device_bad", T0 - 3000),
            _sent("b", "device_bad", T0 - 4000),  # over an hour ago
            _sent("c", "device_bad", T0 - 100, unannounced=True),  # its FIRING was never sent
            _sent("d", "worker_offline", T0 - 100),  # its own limit (20 an hour by default)
            _sent("e", "flapping", T0 - 100),  # no destination: never sent
            _sent("f", "device_bad", T0 + 60),  # in the future: a clock that jumped
            dict(_sent("g", "device_bad", T0 - 2000), notified_at="soon")]
    assert notifier.recall(kept) == 2
    assert notifier.recall(kept) == 0  # a second look (a takeover) counts nothing twice
    assert notifier.counts["recalled"] == 2
    assert {rule: list(times) for rule, times in notifier._sent_at.items()} == {
        "device_bad": [T0 - 3000], "worker_offline": [T0 - 100]}
    fresh = dict(_sent("h", "device_bad", T0), status="firing")
    assert notifier.submit(fresh, "fired")  # 2 an hour: the recalled one and this one
    assert not notifier.submit(dict(fresh, id="i"), "fired")
    assert notifier.counts["rate_limited"] == 1
    now[0] = T0 + 601  # "a" is an hour old: room for one again
    assert notifier.submit(dict(fresh, id="j"), "fired")


def _worker(host, state, last_ping):
    return {"hostname": host, "state": state, "health": "Active", "last_ping": last_ping,
            "description": None, "job_limit": 0, "version": None, "token": "<redacted>"}


def test_an_offline_worker_loaded_from_rest_counts_from_its_last_ping():
    """LAVA's REST says when each worker last spoke to it (`last_ping`): an Offline worker's is
    about when it went Offline. The model and the rules counted from the restart instead (and
    a reconciliation that found a worker Offline, from the reconciliation)."""
    ping = lambda minutes: at(-minutes * 60).isoformat()  # noqa: E731
    snap = records.build([], [_worker("w-old", "Offline", ping(45)),
                              _worker("w-on", "Online", ping(0.2)),
                              _worker("w-odd", "Offline", "not a time"),
                              _worker("w-ahead", "Offline", at(600).isoformat())], [])
    assert len(snap.skipped) == 0  # a last_ping that is not a time leaves no worker out
    by_host = {w["hostname"]: w for w in snap.workers}
    assert by_host["w-old"]["offline_since"] == ping(45)
    assert by_host["w-on"]["offline_since"] is None  # Online: its ping says nothing of a change
    assert by_host["w-odd"]["offline_since"] is None  # kept, with no figure
    lab = Lab("[rules.worker_offline]\nminutes = 30\n")
    changes, _ = lab.state.reconcile(snap, at(0), initial=True)
    lab.book.apply(lab.rules.on_changes(changes, T0), T0)
    workers = lab.state.workers
    assert workers["w-old"]["since"] == ping(45)
    assert workers["w-on"]["since"] is None and workers["w-odd"]["since"] is None
    assert workers["w-ahead"]["since"] == at(0).isoformat()  # a clock ahead: not in the future
    lab.tick(0)
    assert lab.what() == [("fired", "worker_offline/w-old")]  # w-ahead: Offline from now
    assert lab.book.firing["worker_offline/w-old"]["message"].startswith(
        "worker w-old has been Offline for 45 minutes")
    # A reconciliation finds w-on Offline (its event was missed): from its last ping, not from now
    later = records.build([], [_worker("w-old", "Offline", ping(45)),
                               _worker("w-on", "Offline", ping(40)),
                               _worker("w-odd", "Offline", "not a time"),
                               _worker("w-ahead", "Offline", at(600).isoformat())], [])
    changes, corrections = lab.state.reconcile(later, at(60))
    assert [c["id"] for c in corrections] == ["w-on"]
    assert workers["w-on"]["since"] == ping(40)
    lab.book.apply(lab.rules.on_changes(changes, T0 + 60), T0 + 60)
    lab.tick(60)
    assert lab.what() == [("fired", "worker_offline/w-on")]


def _bad(ident, at_, dtype="qemu"):
    return {"id": ident, "key": f"device_bad/{ident}", "rule": "device_bad", "subject": ident,
            "device_type": dtype, "status": "firing", "fired_at": at_, "notified_at": at_,
            "notifications": 1, "message": "m", "severity": "warning"}


def _notifier(text, now):
    return Notifier(parse_config(text), lambda fn, *a: fn(*a), lambda s: None, _Event,
                    clock=lambda: now[0], send=lambda urls, *rest: {})


def test_a_resolved_alert_whose_firing_the_limit_held_back_is_not_recalled_as_sent():
    """(A review.) Its RESOLVED is skipped, and its kept body says that nobody heard it fire:
    before, a restart counted it as sent, and held back real alerts for up to an hour."""
    url = "json://127.0.0.1:24999/hook"
    text = f'[rules.device_bad]\nrate_limit_per_hour = 2\nnotify = ["{url}"]\n'
    now = [T0]
    notifier = _notifier(text, now)
    kept = []
    for i in range(2):
        assert notifier.submit(_bad(f"sent-{i}", T0), "fired")
        kept.append(dict(_bad(f"sent-{i}", T0), status="resolved"))
    for i in range(5):  # over the limit, then resolved within minutes
        now[0] = T0 + 3000 + i
        alert = _bad(f"held-{i}", now[0])
        assert not notifier.submit(alert, "fired")
        resolved = dict(alert, status="resolved", resolved_at=now[0] + 10)
        assert not notifier.submit(resolved, "resolved")
        assert notifier.state_of(alert["id"]) == {"unannounced": True}  # what the store keeps
        kept.append(dict(resolved, delivery=notifier.state_of(alert["id"])))
    now[0] = T0 + 3700  # the restart: the two real sends are over an hour old
    restarted = _notifier(text, now)
    assert restarted.recall(kept) == 0
    assert restarted.submit(_bad("new", now[0]), "fired")


def test_one_device_type_s_limit_does_not_cut_what_the_rule_counts_for_the_others():
    """(A review.) The rule counts its sends together; a device type's lower limit trimmed that
    count at a recall, and the other types' alerts were let past their own limit."""
    url = "json://127.0.0.1:24999/hook"
    now = [T0]
    notifier = _notifier(f'[rules.device_bad]\nrate_limit_per_hour = 5\nnotify = ["{url}"]\n'
                         '[rules.device_bad.device_type.rpi]\nrate_limit_per_hour = 1\n', now)
    kept = [_bad(f"q{i}", T0 - 100 - i) for i in range(5)] + [_bad("r", T0 - 50, "rpi")]
    assert notifier.recall(kept) == 6
    assert not notifier.submit(_bad("q-new", T0), "fired")  # 5 qemu sent in the hour: its limit


def test_the_stored_health_of_a_board_the_restored_model_lacks_or_sees_otherwise_is_not_taken():
    """(A review.) A board removed from LAVA keeps its last span; were it to come back through
    LAVA's REST, it would have counted from its old start."""
    class Spans(_Store):
        def health_spans(self, healths, limit):
            return [("qemu-01", "Bad", T0 - 600), ("qemu-02", "Bad", T0 - 600),
                    ("gone", "Maintenance", T0 - 86_400)]

    lab = Lab()
    lab.apply(device("qemu-01", -60, "Bad"))
    lab.apply(device("qemu-02", -60, "Good"))  # Good now: the span is of an older change
    engine = engine_over(lab.state, Spans(), [T0])
    engine.restore()
    assert engine.rules.stored == {("device_bad", "qemu-01"): T0 - 600}
    engine = engine_over(Lab().state, Spans(), [T0])  # no model restored: LAVA's REST will say
    engine.restore()
    assert set(engine.rules.stored) == {("device_bad", "qemu-01"), ("device_bad", "qemu-02"),
                                        ("device_maintenance", "gone")}


def test_resolved_alerts_nobody_heard_fire_taken_back_leave_the_firing_ones_marks_alone():
    """(A review.) Each kept resolved alert whose FIRING the limit held back says so; taken back
    at a start (with its DELIVERY), 20,000 of them pushed the firing alerts' marks out of the
    bounded list, and a firing alert nobody heard fire had its RESOLVED sent."""
    from dashboard.alerts.delivery import MAX_UNANNOUNCED
    url = "json://127.0.0.1:24999/hook"
    now = [T0]
    notifier = _notifier(f'[rules.device_bad]\nnotify = ["{url}"]\n', now)
    held = _bad("held", T0 - 60)
    notifier.restore(held, {"unannounced": True})
    for i in range(MAX_UNANNOUNCED):
        notifier.restore(dict(_bad(f"old-{i}", T0 - 7200), status="resolved"), {"unannounced": True})
    assert "held" in notifier._unannounced and len(notifier._unannounced) == 1
    assert not notifier.submit(dict(held, status="resolved"), "resolved")  # nobody heard it fire
    assert notifier.counts["resolved_skipped"] == 1


def test_a_device_type_without_a_limit_still_counts_in_its_rule_s_sends_after_a_restart():
    """(A review.) While running, every send of a rule counts against the rule's limit, whatever
    its device type's own; the recall skipped those of a type with no limit."""
    url = "json://127.0.0.1:24999/hook"
    now = [T0]
    text = (f'[rules.device_bad]\nrate_limit_per_hour = 5\nnotify = ["{url}"]\n'
            '[rules.device_bad.device_type.rpi]\nrate_limit_per_hour = 0\n')
    notifier = _notifier(text, now)
    assert notifier.recall([_bad(f"r{i}", T0 - 100 - i, "rpi") for i in range(5)]) == 5
    assert not notifier.submit(_bad("q-new", T0), "fired")  # qemu: 5 of the rule's in the hour
    assert notifier.submit(_bad("r-new", T0, "rpi"), "fired")  # rpi: no limit of its own


def test_a_worker_the_saved_model_holds_offline_with_no_since_takes_its_last_ping():
    """A worker LAVA's REST loaded before this version (no `since`), kept in the saved model: at
    the next start the reconcile found nothing to correct, and it counted from the restart."""
    ping = at(-45 * 60).isoformat()
    lab = Lab("[rules.worker_offline]\nminutes = 30\n")
    lab.state.restore({"seq": 5, "devices": [], "jobs": [], "finished": [], "recent_events": [],
                       "workers": [{"hostname": "w-old", "state": "Offline", "health": "Active",
                                    "since": None, "updated": at(-3600).isoformat()},
                                   {"hostname": "w-known", "state": "Offline", "health": "Active",
                                    "since": at(-600).isoformat(), "updated": at(-600).isoformat()}]})
    snap = records.build([], [_worker("w-old", "Offline", ping), _worker("w-known", "Offline", ping)], [])
    changes, corrections = lab.state.reconcile(snap, at(0))
    assert corrections == [] and [c.id for c in changes] == ["w-old"]  # a fill, not a correction
    assert lab.state.workers["w-old"]["since"] == ping
    assert lab.state.workers["w-known"]["since"] == at(-600).isoformat()  # an event said: kept
    lab.book.apply(lab.rules.on_changes(changes, T0), T0)
    lab.tick(0)
    assert lab.what() == [("fired", "worker_offline/w-old")]
    assert lab.state.reconcile(snap, at(60))[0] == []  # once only


# -- health checks a reconcile brings, newest first; a board retired while it fails ----------------
def _check(job, end, health):
    """A finished health check on qemu-01 as LAVA's REST lists it, ended `end` s after T0."""
    return {"id": job, "state": "Finished", "health": health, "health_check": True,
            "actual_device": "qemu-01", "requested_device_type": "qemu", "submitter": "lava-health",
            "description": "health check", "priority": 50, "submit_time": None, "start_time": None,
            "end_time": at(end).isoformat()}


def test_failed_health_checks_a_reconcile_brings_newest_first_are_counted_in_their_order():
    """An audit: a reconcile lists LAVA's finished jobs newest first; the rule took the newest and
    dropped the two before it as older than the newest counted, so three failed checks fired
    nothing (and the alert came two failures later, a day or two with daily checks)."""
    lab = Lab("[rules.health_checks_failed]\ncount = 3\n")
    devices = [d for d in rest("devices_all")["results"] if d["hostname"] == "qemu-01"]
    checks = [_check(303, 30, "Incomplete"), _check(302, 20, "Incomplete"),
              _check(301, 10, "Incomplete")]
    snap = records.build(devices, [], checks)
    changes, _ = lab.state.reconcile(snap, at(40), initial=True)
    lab.log += lab.book.apply(lab.rules.on_changes(changes, T0 + 40), T0 + 40)
    assert ("fired", "health_checks_failed/qemu-01") in lab.what()
    assert lab.book.firing["health_checks_failed/qemu-01"]["jobs"] == [301, 302, 303]
    # An older check (a pass) that comes later says nothing of the board now: the newest three
    # are counted, it is not among them.
    lab.apply(ev("testjob", 50, job=300, state="Finished", health="Complete", health_check=True,
                 device="qemu-01", device_type="qemu", end_time=at(5).isoformat()))
    assert lab.what() == [] and "health_checks_failed/qemu-01" in lab.book.firing


def test_a_pass_older_than_the_failures_in_a_short_count_takes_its_place_and_fires_nothing():
    lab = Lab("[rules.health_checks_failed]\ncount = 3\n")
    for job, end, health in ((202, 20, "Incomplete"), (201, 10, "Complete"), (203, 30, "Incomplete")):
        lab.apply(ev("testjob", 40, job=job, state="Finished", health=health, health_check=True,
                     device="qemu-01", device_type="qemu", end_time=at(end).isoformat()))
    assert lab.what() == []  # the last three: a pass, then two failures
    assert [job for job, _, _ in lab.rules.checks["qemu-01"]] == [201, 202, 203]


def test_a_board_retired_while_its_health_checks_fail_resolves_and_stays_quiet():
    """An audit: a Retired board runs no more checks, so no Complete one ever came to resolve
    `health_checks_failed`, and LAVA keeps listing it: it re-notified for ever."""
    lab = Lab("[rules.health_checks_failed]\ncount = 2\nrenotify_minutes = 1\n"
              "[rules.flapping]\nchanges = 2\nminutes = 60\n")
    lab.apply(device("qemu-01", 0, "Good"))
    for i in range(2):
        lab.apply(ev("testjob", 10 + i, job=100 + i, state="Finished", health="Incomplete",
                     health_check=True, device="qemu-01", device_type="qemu"))
    lab.apply(device("qemu-01", 20, "Bad"))
    assert lab.what() == [("fired", "health_checks_failed/qemu-01")]
    lab.apply(device("qemu-01", 30, "Retired"))  # the third change of health: not flapping
    assert lab.what() == [("resolved", "health_checks_failed/qemu-01")]
    lab.tick(30 + 86_400)
    assert lab.what() == [] and not lab.book.firing
    # Restored firing (retired while the dashboard was down): the engine's sweep resolves it.
    engine = engine_with("", lab.state, [restored("health_checks_failed", "qemu-01"),
                                         restored("flapping", "qemu-01")], api="ok")
    engine.tick()
    assert {alert["key"] for alert, what in engine.outbox if what == "resolved"} == {
        "health_checks_failed/qemu-01", "flapping/qemu-01"}


def test_a_message_says_one_minute_and_less_than_a_minute_in_words():
    """A rule set to a minute said "has been Bad for 1 minutes", and one set to half a minute
    "for 0 minutes" (a wall audit: the banner shows the message)."""
    lab = Lab('[rules.device_bad]\nminutes = 1\n[rules.worker_offline]\nminutes = 0.5\n'
              '[rules.flapping]\nminutes = 1\nchanges = 2\n')
    lab.apply(device("qemu-01", 0, "Bad"))
    lab.apply(ev("worker", 0, hostname="w9", state="Offline", health="Active"))
    lab.tick(30)
    assert lab.book.firing["worker_offline/w9"]["message"] == (
        "worker w9 has been Offline for less than a minute (threshold 0.5)")
    lab.tick(65)
    assert lab.book.firing["device_bad/qemu-01"]["message"] == (
        "qemu-01 has been Bad for 1 minute (threshold 1)")
    assert lab.book.firing["worker_offline/w9"]["message"] == (
        "worker w9 has been Offline for 1 minute (threshold 0.5)")
    lab.tick(150)
    assert lab.book.firing["device_bad/qemu-01"]["message"].endswith("for 2 minutes (threshold 1)")
    for second, health in ((200, "Good"), (210, "Bad"), (220, "Good"), (230, "Bad")):
        lab.apply(device("qemu-02", second, health))
    assert lab.book.firing["flapping/qemu-02"]["message"] == (
        "qemu-02 changed health more than 2 times in 1 minute")
