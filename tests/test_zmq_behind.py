"""Never lose what lava-publisher sent without saying so: the app is stopped (SIGSTOP, a process
starved of CPU) while a real ZMQ publisher floods it past its high-water mark, so that the publisher
drops messages for it, silently, as PUB sockets do. When the app runs again it reads what was queued
late: it counts a suspected loss in /healthz and checks its model against LAVA's REST API at once,
which repairs what the dropped messages would have said."""
import datetime as dt
import json
import os
import signal
import time
import uuid

from dashboard.core import lag
from tests.fake_lava import FakeLava
from tests.helpers import AppProcess, TestPublisher, wait_until


def device(host, health, n):
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    return [b"org.lavasoftware.device", f"{uuid.uuid4().hex}-{n}".encode(), now.encode(),
            b"lavaserver", json.dumps({"device": host, "device_type": "qemu", "state": "Idle",
                                       "health": health, "worker": "lab-worker-01"}).encode()]


def test_a_flood_while_starved_is_counted_as_a_suspected_loss_and_repaired():
    lava = FakeLava()
    publisher = TestPublisher()
    app = AppProcess("--lava-url", lava.url, "--zmq", publisher.endpoint, "--access", "open",
                     "--reconcile-interval", "3600", "--no-store")
    try:
        publisher.wait_for_subscriber()
        wait_until(lambda: app.json("/healthz")["lava"]["runs"] >= 1, timeout=15, what="LAVA loaded")
        publisher.send(device("qemu-01", "Good", 0))
        wait_until(lambda: app.json("/healthz")["counters"]["accepted"] >= 1, what="a first event")
        runs = app.json("/healthz")["lava"]["runs"]
        assert app.json("/healthz")["counters"]["suspected_losses"] == 0

        host = next(d for d in lava.devices if d["hostname"] == "qemu-02")
        os.kill(app.proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            host["health"] = "Bad"  # what LAVA knows now; its event is among those dropped
            sent, deadline = 0, time.monotonic() + 4.0
            while time.monotonic() < deadline and sent < 400_000:
                publisher.send(device(f"flood-{sent % 50:02d}", ("Good", "Unknown")[sent % 2], sent))
                sent += 1
            publisher.send(device("qemu-02", "Bad", sent))
            sent += 1
            # Stopped past the lag watch's threshold (5 s) whatever the publisher managed to send:
            # on a loaded machine it sends fewer in its 4 s, and the app, let go at once, caught up
            # within the threshold (this test failed so, now and then, in clean runs).
            time.sleep(max(0.0, stopped + lag.THRESHOLD + 1.5 - time.monotonic()))
        finally:
            os.kill(app.proc.pid, signal.SIGCONT)

        wait_until(lambda: app.json("/healthz")["counters"]["suspected_losses"] >= 1, timeout=30,
                   what="a suspected loss counted")
        wait_until(lambda: app.json("/healthz")["lava"]["runs"] > runs, timeout=30,
                   what="a reconcile at once")
        health = app.json("/healthz")
        [source] = health["sources"]
        assert source["lag"]["max_behind_s"] >= 3 and source["lag"]["episodes"] >= 1
        wait_until(lambda: {d["hostname"]: d["health"] for d in app.json("/api/v1/state")["devices"]}
                   .get("qemu-02") == "Bad", timeout=30, what="the model repaired")
        assert "suspected loss" in app.log_text()
    finally:
        app.stop()
        publisher.close()
        lava.close()
