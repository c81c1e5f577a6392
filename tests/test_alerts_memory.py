"""What the alerts remember across a restart, with real parts: the app as a subprocess with its
SQLite store, events from a real ZMQ publisher, Apprise's json:// to a webhook on 127.0.0.1.

- A rule's hourly limit (rate_limit_per_hour) counts what the run before sent in the last hour:
  before, a restart forgot every send, and a dashboard in a crash loop sent without limit.
- A board's Maintenance counts from when its health began by the stored transitions: before, a
  restart counted from the model's `since`, which says only the last change of state (or from the
  restart itself, for a board loaded from LAVA's REST), and a dashboard restarted daily never said
  that a board had been in Maintenance for a day.
"""
import json
import time
import uuid

from tests.helpers import wait_until
from tests.test_alert_delivery_faults import DISABLED, delivery, kept
from tests.test_alerts import Receiver, device, firing, lab, now_iso  # noqa: F401 (fixture)


def test_the_hourly_limit_counts_what_was_sent_before_a_crash(lab, tmp_path):
    publisher, start = lab
    receiver = Receiver()
    try:
        config = (DISABLED + '[rules.device_bad]\nminutes = 0\nrenotify_minutes = 0\n'
                  'rate_limit_per_hour = 1\n'
                  f'notify = ["json://127.0.0.1:{receiver.port}/hook"]\n')
        app = start(config)
        publisher.send(device("qemu-01", "Bad"))
        wait_until(lambda: receiver.received, timeout=20, what="the FIRING")
        assert receiver.titles() == ["[FIRING] device_bad: qemu-01"]
        # Kept (the API reads the store), with its notification delivered: then a crash
        wait_until(lambda: "device_bad/qemu-01" in firing(app) and delivery(app)["delivered"],
                   timeout=20, what="the alert kept and its notification delivered")
        # The engine's next drain keeps what its send did (in a thread): nothing left to go out
        wait_until(lambda: "delivery" not in kept(tmp_path / "data").get("device_bad/qemu-01",
                                                                          {"delivery": None}),
                   timeout=20, what="the alert kept with its notification sent")
        app.kill()

        app = start(config)
        assert delivery(app)["recalled"] == 1
        publisher.send(device("qemu-02", "Bad"))  # over the limit of 1 an hour
        wait_until(lambda: delivery(app)["rate_limited"], timeout=20, what="the rate limit")
        assert delivery(app)["rate_limited"] == 1
        # It fires: only its message is held back. The store keeps it at the engine's next drain,
        # which may come after the limit is counted (CI saw the read between the two)
        wait_until(lambda: "device_bad/qemu-02" in firing(app), timeout=20,
                   what="device_bad/qemu-02 kept as firing")
        assert "device_bad/qemu-02" in firing(app)
        time.sleep(1.0)
        assert receiver.titles() == ["[FIRING] device_bad: qemu-01"]
    finally:
        receiver.stop()


def at(offset, host, health, state):
    """A device event that LAVA sent `offset` seconds from now."""
    data = {"device": host, "device_type": "qemu", "state": state, "health": health,
            "worker": "w1"}
    return [b"org.lavasoftware.device", uuid.uuid4().hex.encode(), now_iso(offset).encode(),
            b"lavaserver", json.dumps(data).encode()]


def test_a_board_s_maintenance_counts_from_its_stored_start_after_a_restart(lab):
    publisher, start = lab
    rule = DISABLED.replace("[rules.device_maintenance]\nenabled = false\n", "")
    app = start(rule + "[rules.device_bad]\nenabled = false\n"
                "[rules.device_maintenance]\nminutes = 100\n")
    publisher.send(at(-90 * 60, "qemu-01", "Maintenance", "Idle"))  # its Maintenance began
    publisher.send(at(-10 * 60, "qemu-01", "Maintenance", "Running"))  # a change of state only
    wait_until(lambda: len(app.json("/api/v1/events?device=qemu-01")["events"]) == 2,
               timeout=20, what="both transitions stored")
    assert len(app.json("/api/v1/events?device=qemu-01")["events"]) == 2
    time.sleep(1.0)
    assert firing(app) == {}  # 90 minutes: under 100
    app.stop()

    # The threshold is now 60 minutes: 90 minutes of Maintenance, not the 10 of its last state
    app = start(rule + "[rules.device_bad]\nenabled = false\n"
                "[rules.device_maintenance]\nminutes = 60\n")
    wait_until(lambda: "device_maintenance/qemu-01" in firing(app), timeout=20,
               what="device_maintenance firing after the restart")
    alert = firing(app)["device_maintenance/qemu-01"]
    assert alert["message"].startswith("qemu-01 has been Maintenance for 90 minutes"), alert


def test_an_alert_that_fired_days_ago_and_resolved_this_hour_counts_its_last_send(tmp_path):
    """A real SQLite store: the restart reads the resolved alerts by when they resolved (a review:
    by when they fired, a day's Maintenance re-notified 10 minutes before it resolved was left
    out), and a health read from its device_span."""
    from dashboard.alerts.delivery import Notifier
    from dashboard.alerts.engine import AlertEngine
    from dashboard.alerts.rules import parse_config
    from dashboard.core.state import LabState
    from dashboard.storage.store import open_store
    from tests.unit.test_alert_rules import _Event

    now = time.time()
    store = open_store(None, str(tmp_path / "events.sqlite3"))
    try:
        base = {"rule": "device_maintenance", "subject_kind": "device", "device_type": "qemu",
                "severity": "warning", "message": "m", "acked_by": None, "acked_at": None}
        store.save_alerts([
            dict(base, id="a1", key="device_maintenance/qemu-01", subject="qemu-01",
                 status="resolved", fired_at=now - 3 * 86_400, resolved_at=now - 300,
                 notified_at=now - 600, notifications=72),
            dict(base, id="a2", key="device_maintenance/qemu-02", subject="qemu-02",
                 status="resolved", fired_at=now - 7200, resolved_at=now - 5400,
                 notified_at=now - 5400, notifications=1)])  # its send is over an hour old
        config = parse_config('[rules.device_maintenance]\nrate_limit_per_hour = 3\n'
                              'notify = ["json://127.0.0.1:9/hook"]\n')
        notifier = Notifier(config, lambda fn, *a: fn(*a), lambda s: None, _Event,
                            send=lambda urls, *rest: {})
        engine = AlertEngine(LabState(), None, config, store, notifier, lambda fn, *a: fn(*a),
                             lambda s: None, _Event, lambda: (None, True), lambda: None)
        engine.restore()
        assert notifier.counts["recalled"] == 1 and engine.store_errors == 0
        assert list(notifier._sent_at["device_maintenance"]) == [now - 600]
    finally:
        store.close()
