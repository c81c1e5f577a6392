"""Regressions of the alert rules found by an audit, pure (a clock passed in): a health check the
model forgot and a reconcile brought back is not counted again, and a restart while LAVA's API
still fails neither resolves `lava_api_failing` nor fires it again with a new id."""
import datetime as dt

from dashboard.alerts.engine import AlertEngine
from dashboard.alerts.rules import Rules, parse_config
from dashboard.core.state import Change, LabState
from tests.unit import test_alert_rules as rules_tests

T0 = 1_800_000_000.0


def iso(seconds):
    return dt.datetime.fromtimestamp(T0 + seconds, dt.timezone.utc).isoformat()


def check(job, health, ended, host="qemu-hc"):
    """A finished health check on `host` as the model says it when it is new (prev None)."""
    return Change(seq=0, kind="job", id=job, data={
        "id": job, "state": "Finished", "health": health, "health_check": True, "device": host,
        "device_type": "qemu", "end_time": iso(ended) if ended is not None else None}, prev=None)


def transitions(rules, *changes, now=T0 + 3600):
    return [(verb, key) for verb, key, _ in rules.on_changes(list(changes), now)]


def test_the_same_failed_health_check_added_again_is_counted_once():
    rules = Rules(parse_config("[rules.health_checks_failed]\ncount = 3\n"))
    for _ in range(3):  # evicted by the model and added back by each reconcile
        assert transitions(rules, check(100, "Incomplete", 60)) == []
    assert [job for job, *_ in rules.checks["qemu-hc"]] == [100]


def test_two_more_failures_still_fire_once_with_three_different_jobs():
    rules = Rules(parse_config("[rules.health_checks_failed]\ncount = 3\n"))
    out = rules.on_changes([check(100, "Incomplete", 60), check(100, "Incomplete", 60),
                            check(101, "Incomplete", 120), check(102, "Incomplete", 180)], T0)
    [(verb, key, info)] = out
    assert (verb, key) == ("fire", "health_checks_failed/qemu-hc")
    assert info["jobs"] == [100, 101, 102]


def test_an_old_passing_check_added_back_does_not_resolve():
    rules = Rules(parse_config("[rules.health_checks_failed]\ncount = 3\n"))
    rules.firing = {"health_checks_failed/qemu-hc": {}}
    assert transitions(rules, check(90, "Complete", 10)) == [
        ("resolve", "health_checks_failed/qemu-hc")]
    fired = transitions(rules, *(check(j, "Incomplete", 60 * (j - 99)) for j in (100, 101, 102)))
    assert fired == [("fire", "health_checks_failed/qemu-hc")]
    # A reconcile adds back the passing check 90 (it ended before the failures): nothing resolves.
    assert transitions(rules, check(90, "Complete", 10)) == []
    # Nor does a passing check without an end time but an older id.
    assert transitions(rules, check(95, "Complete", None)) == []
    assert [job for job, *_ in rules.checks["qemu-hc"]] == [100, 101, 102]
    # A new passing check does.
    assert transitions(rules, check(103, "Complete", 300)) == [
        ("resolve", "health_checks_failed/qemu-hc")]


class _Store(rules_tests._Store):
    """The engine's store: its firing alerts from before a restart; saving does nothing."""

    def save_alerts(self, alerts):
        pass


class _Event:
    def set(self):
        pass


def test_a_restart_while_the_api_still_fails_keeps_the_alert_and_its_id():
    fired_at = T0 - 3600
    alert = {"id": "before-the-restart", "key": "lava_api_failing/lab", "rule": "lava_api_failing",
             "subject": "lab", "subject_kind": "lab", "device_type": None, "status": "firing",
             "fired_at": fired_at, "notified_at": fired_at, "notifications": 1,
             "message": "the LAVA API has been failing for 10 minutes", "severity": "warning",
             "resolved_at": None, "acked_by": None, "acked_at": None}
    api, now = ["loading"], [T0]
    engine = AlertEngine(LabState(), None, parse_config(
        "[rules.lava_api_failing]\nminutes = 10\nrenotify_minutes = 0\n"
        "[rules.stream_silent]\nenabled = false\n"), _Store([alert]), None,
        lambda fn, *a: fn(*a), lambda s: None, _Event, lambda: (None, False), lambda: api[0],
        clock=lambda: now[0])
    engine.restore()
    for state in ("loading", "loading", "error", "error", "loading", "error"):
        api[0] = state
        now[0] += 15
        engine.tick()
        assert list(engine.outbox) == [], state  # no RESOLVED, no new FIRING
        assert engine.book.firing["lava_api_failing/lab"]["id"] == "before-the-restart"
    assert engine.book.fired == 0 and engine.book.resolved == 0
    api[0] = "ok"
    now[0] += 15
    engine.tick()
    [(resolved, what)] = list(engine.outbox)
    assert what == "resolved" and resolved["id"] == "before-the-restart"
    assert "lava_api_failing/lab" not in engine.book.firing


def test_a_restart_then_a_new_outage_fires_after_its_own_threshold():
    """Seeded from the restored alert only: once resolved, a new outage counts from its start."""
    api, now = ["error"], [T0]
    engine = AlertEngine(LabState(), None, parse_config("[rules.lava_api_failing]\nminutes = 10\n"
                                                        "[rules.stream_silent]\nenabled = false\n"),
                         _Store([]), None, lambda fn, *a: fn(*a), lambda s: None, _Event,
                         lambda: (None, False), lambda: api[0], clock=lambda: now[0])
    engine.restore()
    engine.tick()
    now[0] += 599
    engine.tick()
    assert list(engine.outbox) == []
    now[0] += 1
    engine.tick()
    assert [what for _, what in engine.outbox] == ["fired"]
