"""Faults of alert delivery with real parts: the app as a subprocess (tests/helpers.AppProcess) with
its SQLite store, events from a real ZMQ publisher, Apprise's json:// to webhooks on 127.0.0.1.

- A notification not yet delivered when the app stops (a webhook down) is sent after the restart,
  to the destinations that had not taken it only (before, it lived in memory and was lost).
- A webhook that never answers holds up no other destination (before, one send at a time: every
  other notification waited for its 30 s deadline).
- The rate limit never drops a RESOLVED of an alert whose FIRING was sent (before, the operator
  heard "firing" and never "resolved"); a RESOLVED of one it never sent is skipped, and counted.
"""
import json
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, wait_until
from tests.test_alerts import Receiver, device, frames, lab  # noqa: F401 (fixture)

OTHERS = ("device_maintenance", "health_checks_failed", "flapping", "queue_starving",
          "stream_silent", "lava_api_failing")
DISABLED = "".join(f"[rules.{rule}]\nenabled = false\n" for rule in OTHERS)


def delivery(app):
    return app.json("/healthz")["alerts"]["delivery"]


def kept(data_dir):
    """{key: body} of the alerts the app's SQLite store keeps now (read from its file), with what
    of their notifications is still to go out (`delivery`)."""
    conn = sqlite3.connect(data_dir / "events.sqlite3", timeout=5)
    try:
        return {key: json.loads(body) for key, body
                in conn.execute("SELECT alert_key, body FROM alerts")}
    except sqlite3.OperationalError:  # no alerts table yet
        return {}
    finally:
        conn.close()


class Hanging(Receiver):
    """A webhook on 127.0.0.1 (tests/webhook.py --hang, a process of its own) that answers 200
    and then a byte a second, never ending its answer (120 s at most): each wait for a byte is
    short of Apprise's timeout, so a send to it lasts until the app kills it (SEND_DEADLINE, 30 s).
    `taken`: the connections it took."""

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.webhook", str(self.port),
                                      str(self.path), "--hang"], cwd=ROOT)
        wait_until(self._listening, timeout=15, what=f"the hanging webhook on port {self.port}")

    @property
    def taken(self):
        return self.path.read_text().splitlines()


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_notification_not_yet_delivered_is_sent_after_a_restart_once(lab, how, tmp_path):
    publisher, start = lab
    up, down = Receiver(), Receiver()
    down.stop()  # refuses connections: the notification waits for a retry
    try:
        config = ('[rules.device_bad]\nminutes = 0\nrenotify_minutes = 0\n'
                  f'notify = ["json://127.0.0.1:{up.port}/up", '
                  f'"json://127.0.0.1:{down.port}/down?token=SeCrEt-9x"]\n')
        app = start(config + DISABLED)
        publisher.send(device("qemu-01", "Bad"))
        wait_until(lambda: up.received, timeout=20, what="the destination that is up")
        wait_until(lambda: delivery(app)["failed"] >= 1, timeout=20, what="a failed attempt")

        def only_down_left():  # what it did is kept (the engine's next drain, in a thread)
            unsent = kept(tmp_path / "data").get("device_bad/qemu-01", {}).get("delivery", {})
            unsent = unsent.get("unsent") or []
            return len(unsent) == 1 and len(unsent[0]["to"]) == 1
        wait_until(only_down_left, timeout=20, what="the notification kept as still to go out "
                   "to the destination that is down only")
        app.kill() if how == "kill" else app.stop()

        down.start()
        app = start(config + DISABLED)
        wait_until(lambda: down.received, timeout=20, what="the notification after the restart")
        time.sleep(2.0)  # nothing else comes
        assert down.titles() == ["[FIRING] device_bad: qemu-01"]
        assert up.titles() == ["[FIRING] device_bad: qemu-01"]  # it took it before: not again
        stats = app.json("/healthz")["alerts"]
        assert stats["fired"] == 0 and stats["delivery"]["restored"] == 1
        wait_until(lambda: delivery(app)["queued"] == 0, timeout=10, what="an empty queue")
        assert "SeCrEt-9x" not in app.log_text()

        app.stop()  # delivered: a further restart sends nothing
        app = start(config + DISABLED)
        time.sleep(2.0)
        assert len(up.received) == 1 and len(down.received) == 1
        assert delivery(app)["restored"] == 0
    finally:
        up.stop()
        down.stop()


def test_a_destination_that_never_answers_holds_up_no_other(lab):
    publisher, start = lab
    hanging, receiver = Hanging(), Receiver()
    try:
        app = start(DISABLED + '[rules.device_bad]\nminutes = 0\nrenotify_minutes = 0\n'
                    f'notify = ["json://127.0.0.1:{hanging.port}/hook"]\n'
                    '[rules.worker_offline]\nminutes = 0\nrenotify_minutes = 0\n'
                    f'notify = ["json://127.0.0.1:{receiver.port}/hook"]\n')
        publisher.send(device("qemu-01", "Bad"))
        wait_until(lambda: hanging.taken, timeout=20, what="the send to the hanging webhook")
        began = time.monotonic()
        publisher.send(frames("worker", {"hostname": "w9", "state": "Offline",
                                         "health": "Active"}))
        wait_until(lambda: receiver.received, timeout=10, what="the other rule's notification")
        assert time.monotonic() - began < 10  # not after the hanging send's 30 s deadline
        assert len(hanging.taken) == 1  # still under way
        assert receiver.titles() == ["[FIRING] worker_offline: w9"]
        # The receiver answers before the app counts it: wait for the count.
        wait_until(lambda: delivery(app)["delivered"] == 1, timeout=10, what="the count")
        stats = delivery(app)
        assert stats["sending"] == 1 and stats["failed"] == 0, stats  # the hanging one: under way
    finally:
        hanging.stop()
        receiver.stop()


def test_the_rate_limit_never_drops_a_resolved_whose_firing_was_sent(lab):
    publisher, start = lab
    receiver = Receiver()
    try:
        app = start(DISABLED + '[rules.device_bad]\nminutes = 0\nrenotify_minutes = 0\n'
                    'rate_limit_per_hour = 1\n'
                    f'notify = ["json://127.0.0.1:{receiver.port}/hook"]\n')
        publisher.send(device("qemu-01", "Bad"))
        wait_until(lambda: len(receiver.received) == 1, timeout=20, what="the FIRING")
        publisher.send(device("qemu-01", "Good"))  # the limit (1 an hour) is reached
        wait_until(lambda: len(receiver.received) == 2, timeout=20, what="the RESOLVED")
        publisher.send(device("qemu-01", "Bad"))  # a second episode: over the limit
        wait_until(lambda: delivery(app)["rate_limited"] == 1, timeout=20, what="the rate limit")
        publisher.send(device("qemu-01", "Good"))  # its end: nobody heard it fire
        wait_until(lambda: delivery(app)["resolved_skipped"] == 1, timeout=20,
                   what="the RESOLVED of the unsent FIRING skipped")
        time.sleep(0.5)
        assert receiver.titles() == ["[FIRING] device_bad: qemu-01",
                                     "[RESOLVED] device_bad: qemu-01"]
        # The receiver answers before the app counts it (a clean-clone run read 1): wait for it.
        wait_until(lambda: delivery(app)["delivered"] == 2, timeout=10, what="the count")
        stats = delivery(app)
        assert stats["delivered"] == 2 and stats["dropped"] == 0, stats
    finally:
        receiver.stop()
