"""Alerts end to end, with real parts: events through a real ZMQ publisher into the app (a
subprocess), notifications through Apprise's json:// to a webhook receiver this test runs on
127.0.0.1, alerts kept in the store across a restart."""
import datetime as dt
import json
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from tests.helpers import ROOT, AppProcess, TestPublisher, free_port, wait_until


def now_iso(offset=0.0):
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset)).isoformat()


def frames(kind, data, user="lavaserver"):
    return [f"org.lavasoftware.{kind}".encode(), uuid.uuid4().hex.encode(), now_iso().encode(),
            user.encode(), json.dumps(data).encode()]


def device(host, health, state="Idle", dtype="qemu"):
    return frames("device", {"device": host, "device_type": dtype, "state": state,
                             "health": health, "worker": "w1"})


class Receiver:
    """A webhook receiver on 127.0.0.1 (tests/webhook.py, a process of its own): `received` is
    each JSON body posted to it, in order; stop() takes it down (connections refused), start()
    brings it back on the same port."""

    def __init__(self, tls=()):
        self.port = free_port()
        self.path = pathlib.Path(tempfile.mkstemp(prefix="webhook-", suffix=".jsonl")[1])
        self.tls = [str(p) for p in tls]  # (certificate, key): https://
        self.proc = None
        self.start()

    @property
    def received(self):
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.webhook", str(self.port),
                                      str(self.path), *(["--tls", *self.tls] if self.tls else [])],
                                     cwd=ROOT)
        wait_until(self._listening, timeout=15, what=f"the webhook receiver on port {self.port}")

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"the webhook receiver exited with {self.proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def titles(self):
        return [m["title"] for m in self.received]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def lab(tmp_path):
    publisher = TestPublisher()
    apps = []

    def start(config, *extra, constants=None):
        path = tmp_path / "alerts.toml"
        path.write_text(config)
        app = AppProcess("--zmq", publisher.endpoint, "--data-dir", str(tmp_path / "data"),
                         "--alerts-config", str(path), "--alerts-interval", "0.2", *extra,
                         constants=constants)
        apps.append(app)
        publisher.wait_for_subscriber()
        return app

    yield publisher, start
    for app in apps:
        app.stop()
    publisher.close()


def firing(app):
    return {a["key"]: a for a in app.json("/api/v1/alerts?status=firing")["alerts"]}


def resolved_keys(app):
    return [a["key"] for a in app.json("/api/v1/alerts?status=resolved")["alerts"]]


def hook(receiver, rule, extra="", renotify=0.05):
    return (f'[rules.{rule}]\nnotify = ["json://127.0.0.1:{receiver.port}/hook?token=SECRET-TOKEN-1"]\n'
            f'renotify_minutes = {renotify}\n{extra}')


# Per rule: the config, the events that make it fire, and those that resolve it.
def _health_checks(health, job):
    return [frames("testjob", {"job": job, "state": "Finished", "health": health,
                               "health_check": True, "device": "qemu-01", "device_type": "qemu",
                               "submit_time": now_iso(), "description": "hc"})]


RULES = {
    "device_bad": ("minutes = 0.02\n", lambda: [device("qemu-01", "Bad")],
                   lambda: [device("qemu-01", "Good")], "device_bad/qemu-01"),
    "device_maintenance": ("minutes = 0.02\n", lambda: [device("qemu-01", "Maintenance")],
                           lambda: [device("qemu-01", "Good")], "device_maintenance/qemu-01"),
    "health_checks_failed": ("count = 2\n", lambda: _health_checks("Incomplete", 11)
                             + _health_checks("Incomplete", 12),
                             lambda: _health_checks("Complete", 13), "health_checks_failed/qemu-01"),
    "flapping": ("changes = 2\nminutes = 0.3\n",
                 lambda: [device("qemu-01", h) for h in ("Good", "Unknown", "Good", "Unknown")],
                 lambda: [], "flapping/qemu-01"),  # resolves when the window has passed
    "queue_starving": ("minutes = 0.02\n", lambda: [
        device("qemu-01", "Good", state="Running"),
        frames("testjob", {"job": 77, "state": "Submitted", "health": "Unknown",
                           "device_type": "qemu", "submit_time": now_iso(), "description": "x"})],
        lambda: [device("qemu-01", "Good", state="Idle")], "queue_starving/qemu"),
    "worker_offline": ("minutes = 0.02\n", lambda: [frames("worker", {
        "hostname": "w9", "state": "Offline", "health": "Active"})],
        lambda: [frames("worker", {"hostname": "w9", "state": "Online", "health": "Active"})],
        "worker_offline/w9"),
    "stream_silent": ("minutes = 0.05\n", lambda: [], lambda: [device("qemu-02", "Good")],
                      "stream_silent/lab"),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_each_rule_fires_once_renotifies_resolves_and_survives_a_restart(lab, receiver, rule):
    config, fire, resolve, key = RULES[rule]
    publisher, start = lab
    # Only the rule under test: the others would fire on the same events.
    others = "".join(f"[rules.{r}]\nenabled = false\n" for r in RULES if r != rule)
    text = hook(receiver, rule, config) + others + "[rules.lava_api_failing]\nenabled = false\n"
    app = start(text)
    for f in fire():
        publisher.send(f)
    wait_until(lambda: key in firing(app), timeout=15, what=f"{key} firing")
    wait_until(lambda: "[STILL FIRING]" in " ".join(receiver.titles()), timeout=15,
               what="a re-notification")
    fired = [t for t in receiver.titles() if t.startswith("[FIRING]")]
    assert fired == [f"[FIRING] {rule}: {key.split('/')[1]}"]  # once per episode
    # The receiver answers before the app counts the delivery: wait for the count.
    wait_until(lambda: app.json("/healthz")["alerts"]["delivery"]["delivered"] >= 2, timeout=10,
               what="two deliveries counted")
    health = app.json("/healthz")
    assert health["alerts"]["fired"] == 1
    assert "SECRET-TOKEN-1" not in json.dumps(health) and "SECRET-TOKEN-1" not in app.log_text()

    # A restart: the alert is still firing, from the store, and does not fire again.
    app.stop()
    app = start(text)
    assert key in firing(app)
    time.sleep(1.0)
    assert app.json("/healthz")["alerts"]["fired"] == 0
    assert [t for t in receiver.titles() if t.startswith("[FIRING]")] == fired

    episode = firing(app)[key]["id"]
    for f in resolve():
        publisher.send(f)
    wait_until(lambda: key in resolved_keys(app), timeout=40, what=f"{key} resolved")
    wait_until(lambda: any(t.startswith("[RESOLVED]") for t in receiver.titles()), timeout=15,
               what="the resolution notified")
    # That episode is over (stream_silent's next one may have begun: 3 s of silence again)
    assert episode not in {a["id"] for a in firing(app).values()}


def test_payload_rate_limit_and_a_receiver_that_is_down_then_back(lab, receiver):
    publisher, start = lab
    text = hook(receiver, "device_bad", "minutes = 0\nrate_limit_per_hour = 2\n", renotify=0)
    app = start(text)
    publisher.send(device("qemu-01", "Bad"))
    wait_until(lambda: receiver.received, timeout=15, what="a notification")
    [payload] = receiver.received
    assert payload["title"] == "[FIRING] device_bad: qemu-01"
    assert "qemu-01 has been Bad" in payload["message"] and payload["type"] == "warning"

    receiver.stop()  # down: deliveries fail, are retried with backoff, and counted
    publisher.send(device("qemu-01", "Good"))
    wait_until(lambda: app.json("/healthz")["alerts"]["delivery"]["failed"] >= 1, timeout=15,
               what="a failed delivery counted")
    delivery = app.json("/healthz")["alerts"]["delivery"]
    assert delivery["retries"] >= 1 and delivery["queued"] == 1
    assert "SECRET-TOKEN-1" not in json.dumps(delivery)
    receiver.start()  # back: the retry gets through
    wait_until(lambda: len(receiver.received) == 2, timeout=20, what="the retried notification")
    assert receiver.received[1]["title"] == "[RESOLVED] device_bad: qemu-01"

    # Second episode: its FIRING is the second of the limit (2 an hour); its RESOLVED is not held
    # to the limit (whoever heard it fire hears it end). The third FIRING is over the limit, and
    # its RESOLVED is then skipped: nobody heard it fire.
    publisher.send(device("qemu-01", "Bad"))
    wait_until(lambda: len(receiver.received) == 3, timeout=15, what="the third notification")
    publisher.send(device("qemu-01", "Good"))
    wait_until(lambda: len(receiver.received) == 4, timeout=15, what="the second RESOLVED")
    assert receiver.received[3]["title"] == "[RESOLVED] device_bad: qemu-01"
    publisher.send(device("qemu-01", "Bad"))
    wait_until(lambda: app.json("/healthz")["alerts"]["delivery"]["rate_limited"] == 1,
               timeout=15, what="the rate limit")
    publisher.send(device("qemu-01", "Good"))
    wait_until(lambda: app.json("/healthz")["alerts"]["delivery"]["resolved_skipped"] == 1,
               timeout=15, what="the RESOLVED of an alert nobody heard fire, skipped")
    time.sleep(0.5)
    assert len(receiver.received) == 4
    assert "SECRET-TOKEN-1" not in app.log_text()


def test_alerts_feed_and_api_shape(lab, receiver):
    publisher, start = lab
    app = start(hook(receiver, "device_bad", "minutes = 0\n"))
    publisher.send(device("qemu-01", "Bad"))
    wait_until(lambda: firing(app), timeout=15, what="an alert")
    status, headers, body = app.get("/feeds/alerts.atom")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    assert "[FIRING] device_bad: qemu-01" in body
    status, _, body = app.get("/api/v1/alerts?status=bogus")
    assert status == 400 and body["code"] == "bad_parameter"
    status, _, body = app.get("/api/v1/alerts")
    [alert] = body["alerts"]
    assert body["firing"] == 1 and alert["fired_at"].endswith("+00:00") and alert["jobs"] == []


def test_lava_s_clock_ahead_is_said_once_its_messages_show_it(lab):
    """A LAVA server whose clock is 10 minutes fast: every message is stamped 600 s after it
    arrives. Once the messages have shown it for long enough, /healthz says the offset, and
    `lava_clock_skew` fires (the durations the page and the other rules count from LAVA's times are
    off by as much). That is a minute of messages (tests/unit/test_lag.py); here 5 s
    (tests/patched_app.py), so that the test does not wait out the minute."""
    publisher, start = lab
    after = 5.0
    app = start("[rules.lava_clock_skew]\nseconds = 120\n",
                constants={"dashboard.core.lag.OFFSET_AFTER": after})

    def stamped_ahead(n):
        return [b"org.lavasoftware.device", uuid.uuid4().hex.encode(), now_iso(600).encode(),
                b"lavaserver", json.dumps({"device": f"qemu-{n % 3:02d}", "device_type": "qemu",
                                           "state": "Idle", "health": "Good", "worker": "w1"}).encode()]

    def lag():
        [source] = app.json("/healthz")["sources"]
        return source["lag"] or {}

    started = time.monotonic()
    for n in range(100):  # a message every 0.2 s for at most 20 s: the offset is known after 5
        publisher.send(stamped_ahead(n))
        if lag().get("clock_offset_s") is not None:
            break
        assert time.monotonic() - started < 20, "no clock offset after 20 s of messages"
        time.sleep(0.2)
    assert time.monotonic() - started >= after - 0.5  # not before that time of them
    assert -605 < lag()["clock_offset_s"] < -599 and lag()["clock_moves"] == 0
    status, _, text = app.get("/metrics")
    [gauge] = [line for line in text.splitlines()
               if line.startswith("dashboard_source_clock_offset_seconds{")]
    assert status == 200 and -605 < float(gauge.rsplit(" ", 1)[1]) < -599, gauge
    publisher.send(stamped_ahead(0))
    alert = wait_until(lambda: firing(app).get("lava_clock_skew/lab"), timeout=10,
                       what="the clock skew alert")
    assert alert["message"].startswith("LAVA's clock is 10 minutes ahead of this dashboard's")
    assert alert["subject_kind"] == "lab" and alert["severity"] == "warning"
    assert app.json("/healthz")["counters"]["suspected_losses"] == 0  # an offset is no lateness
