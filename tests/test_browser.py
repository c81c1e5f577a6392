"""What a person sees: Debian's Chromium, driven by Playwright, against the app as a subprocess."""
import json
import time

import pytest

from dashboard.core.events import parse_time
from tests.helpers import ROOT, AppProcess, TestPublisher, wait_until

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and page.errors.append(msg.text))
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def send(publisher, kind, uuid, data, user="lavaserver"):
    publisher.send([f"org.lavasoftware.{kind}".encode(), uuid.encode(),
                    b"2026-11-27T17:38:37.638687", user.encode(), json.dumps(data).encode()])


def test_a_published_event_appears_on_the_page(page):
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint)
    try:
        publisher.wait_for_subscriber()
        page.goto(app.url + "/")
        page.wait_for_selector("#connection[data-state=live]", timeout=10000)
        send(publisher, "device", "b-1", {"device": "qemu-01", "device_type": "qemu", "state": "Idle",
                                          "health": "Good", "worker": "lab-worker-01"})
        page.wait_for_selector('[data-device="qemu-01"][data-state="Idle"][data-health="Good"]',
                               timeout=5000)
        send(publisher, "device", "b-2", {"device": "qemu-01", "device_type": "qemu",
                                          "state": "Running", "health": "Good",
                                          "worker": "lab-worker-01", "job": 42})
        send(publisher, "testjob", "b-3", {"job": 42, "state": "Running", "health": "Unknown",
                                           "description": "<img src=x onerror=alert(1)>",
                                           "submitter": "alice", "device_type": "qemu",
                                           "device": "qemu-01", "worker": "lab-worker-01",
                                           "priority": 50, "health_check": False,
                                           "submit_time": "2026-11-27T17:38:30+00:00",
                                           "start_time": "2026-11-27T17:38:36+00:00"}, user="alice")
        page.wait_for_selector('[data-device="qemu-01"][data-state="Running"]', timeout=5000)
        row = page.wait_for_selector('[data-job="42"][data-state="Running"]', timeout=5000)
        # LAVA's strings are text, never HTML: the description shows literally and runs nothing.
        assert "<img src=x onerror=alert(1)>" in row.inner_text()
        assert page.query_selector('[data-job="42"] img') is None
        assert page.dialogs == []
        page.screenshot(path=str(ARTIFACTS / "live-event.png"))
        assert page.errors == [], page.errors
        assert app.json("/healthz")["relay"]["clients"] == 1
    finally:
        app.stop()
        publisher.close()


def test_the_simulated_lab_says_so_and_fills_the_board(page):
    app = AppProcess("--sim-seed", "7", "--sim-speed", "5")
    try:
        page.goto(app.url + "/")
        page.wait_for_selector("#simulated-banner", timeout=10000)
        wait_until(lambda: len(page.query_selector_all("[data-device]")) >= 40, timeout=20,
                   what="the simulated devices on the board")
        page.wait_for_selector("#connection[data-state=live]")
        page.wait_for_timeout(1500)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "simulated-lab.png"), full_page=False)
        assert page.errors == [], page.errors
        health = app.json("/healthz")
        assert health["simulated"] is True and health["model"]["devices"] >= 40
        # --sim-speed 5: the lab lives five times faster, its events stamped with the real time.
        # (Its clock ran five times faster once: seconds into the run, its events were ahead.)
        stored = wait_until(lambda: app.json("/api/v1/events?limit=100")["events"], timeout=10,
                            what="stored events")
        newest = max(parse_time(e["time"]).timestamp() for e in stored)
        assert newest <= time.time() + 1, newest - time.time()
    finally:
        app.stop()


def test_page_is_served_under_a_strict_content_security_policy():
    app = AppProcess("--zmq", "tcp://127.0.0.1:9")  # nothing listens there: the page still loads
    try:
        status, headers, body = app.get("/")
        assert status == 200
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        # What a viewer is shown is theirs: no cache between them and the dashboard may keep it.
        assert headers["Cache-Control"] == "private, no-store"
        for path in ("/api/v1/devices", "/healthz", "/feeds/events.atom", "/no-such-page"):
            assert app.get(path)[1]["Cache-Control"] == "private, no-store", path
        assert "no-store" not in app.get("/static/js/main.js")[1].get("Cache-Control", "")
        assert "<script>" not in body.replace(" ", "").lower()
        assert 'data-simulated="false"' in body  # a real source is configured
    finally:
        app.stop()


def test_the_page_says_when_lava_s_api_fails_and_recovers(page):
    from tests.fake_lava import FakeLava

    lava = FakeLava()
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--lava-url", lava.url,
                     "--reconcile-interval", "0.5", "--lava-timeout", "1")
    try:
        publisher.wait_for_subscriber()
        wait_until(lambda: app.json("/healthz")["lava"]["loaded"], timeout=20, what="loaded")
        page.goto(app.url + "/")
        page.wait_for_selector('[data-device="qemu-05"][data-health="Retired"]', timeout=10000)
        assert page.query_selector("#lava-status") is None
        lava.fault = "500"
        banner = page.wait_for_selector("#lava-status", timeout=15000)
        assert "may be stale" in banner.inner_text() and "HTTP 500" in banner.inner_text()
        # The last known state is still on the page.
        assert page.query_selector('[data-device="qemu-05"][data-health="Retired"]')
        lava.fault = None
        page.wait_for_selector("#lava-status", state="detached", timeout=20000)
        assert page.errors == [], page.errors
    finally:
        app.stop()
        publisher.close()
        lava.close()
