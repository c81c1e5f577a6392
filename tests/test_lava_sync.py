"""Start from LAVA's real state and repair what events miss: the app as a subprocess, the fake LAVA
server, a real ZMQ publisher, real Socket.IO clients."""
import json

import pytest

from tests.fake_lava import FakeLava
from tests.fixtures import captured_frames, rest
from tests.helpers import AppProcess, LiveView, TestPublisher, model_view, wait_until

TOKEN = "tok-S3CRET-9f8e7d6c5b4a"


@pytest.fixture
def setup(tmp_path):
    """A fake LAVA (token required), a publisher, and a factory for the app pointed at both."""
    lava = FakeLava(token=TOKEN)
    publisher = TestPublisher()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    made = []

    def start(*extra):
        app = AppProcess("--lava-url", lava.url, "--lava-token-file", str(token_file),
                         "--zmq", publisher.endpoint, *extra)
        made.append(app)
        publisher.wait_for_subscriber()
        return app

    yield lava, publisher, start
    for app in made:
        app.stop()
    publisher.close()
    lava.close()


def lava_health(app):
    return app.json("/healthz")["lava"]


def lava_state(status):
    """What a `status` message says of LAVA, or None: a status tells only what changed (the event
    sources' part, say), and may say nothing of LAVA."""
    return status.get("lava", {}).get("state")


def test_start_up_state_equals_the_rest_state(setup):
    lava, _, start = setup
    app = start()
    wait_until(lambda: lava_health(app)["loaded"], timeout=20, what="LAVA's state loaded")
    state = app.json("/api/v1/state")
    want = {d["hostname"]: (d["device_type"], d["state"], d["health"], d["worker_host"])
            for d in rest("devices_all")["results"]}
    got = {d["hostname"]: (d["device_type"], d["state"], d["health"], d["worker"]) for d in state["devices"]}
    assert got == want  # retired qemu-05 included
    assert {w["hostname"]: (w["state"], w["health"]) for w in state["workers"]} == {
        w["hostname"]: (w["state"], w["health"]) for w in rest("workers")["results"]}
    assert sorted(j["id"] for j in state["jobs"]) == list(range(1, 15))
    # Our token, or none at all: the anonymous reads that tell which jobs are public.
    auths = {auth for path, _, auth in lava.requests if path.startswith("/api/")}
    assert auths == {f"Token {TOKEN}", None}
    # Loaded is not yet all well: the event source may still be connecting (a loaded machine).
    health = wait_until(lambda: (lambda h: h if h["status"] == "ok" else None)(app.json("/healthz")),
                        timeout=15, what="/healthz ok")
    assert health["lava"]["state"] == "ok" and health["degraded"] == []


@pytest.mark.parametrize("access", ["open", "lava"])
def test_events_published_during_a_slow_snapshot_are_applied_exactly_once(setup, access):
    lava, publisher, start = setup
    lava.hold()  # LAVA answers nothing until release(): the load is running while events arrive
    app = start("--access", access)
    wait_until(lambda: lava.requests, what="the load's first request")
    frames = captured_frames()
    for f in frames:  # the history that led to the REST state, arriving while it loads
        publisher.send(f)
    # ... and a change newer than anything the fetch will read:
    publisher.send([b"org.lavasoftware.device", b"newer-1", b"2026-11-27T17:42:00", b"lavaserver",
                    json.dumps({"device": "qemu-03", "device_type": "qemu", "state": "Reserved",
                                "health": "Good", "worker": "lab-worker-01"}).encode()])
    if access == "open":
        wait_until(lambda: app.json("/healthz")["counters"]["accepted"] == len(frames) + 1,
                   timeout=20, what="every event accepted")
    else:  # held until LAVA has said which devices it shows anonymously (core/screen.py); a
        # worker's event, and a message of no job, are let in at once
        wait_until(lambda: (lambda h: h["lava"]["screen"]["events_held"] + h["counters"]["accepted"])(
            app.json("/healthz")) == len(frames) + 1, timeout=20, what="every event held or in")
        assert lava_health(app)["screen"]["events_held"] > len(frames) // 2
    assert lava_health(app)["loaded"] is False  # /healthz says the load is still running
    lava.release()
    wait_until(lambda: lava_health(app)["loaded"], timeout=30, what="load finished")
    health = app.json("/healthz")
    assert health["counters"]["accepted"] == len(frames) + 1
    if access == "lava":
        assert health["lava"]["screen"]["events_held"] == 0
        # Stored once each: the history has every one of them (the devices' and jobs' in the
        # order they came, then the messages held, once their jobs were in the model).
        rows = wait_until(lambda: (lambda rows: rows if len(rows) == len(frames) + 1 else None)(
            app.json("/api/v1/events?limit=1000")["events"]), timeout=10, what="the held events stored")
        assert sorted(r["uuid"] for r in rows) == sorted(f[1].decode() for f in frames + [[
            b"", b"newer-1"]])
        objects = [f[1].decode() for f in frames if f[0].endswith((b".device", b".testjob"))]
        stored = sorted(rows, key=lambda r: r["id"])  # (in the order stored)
        assert [r["uuid"] for r in stored if r["topic"].endswith((".device", ".testjob"))] \
            == objects + ["newer-1"]
    assert health["counters"]["duplicates"] == 0 and health["lava"]["corrections"] == 0
    state = app.json("/api/v1/state")
    devices = {d["hostname"]: d for d in state["devices"]}
    assert (devices["qemu-03"]["state"], devices["qemu-03"]["health"]) == ("Reserved", "Good")
    for d in rest("devices_all")["results"]:
        if d["hostname"] != "qemu-03":
            assert (devices[d["hostname"]]["state"], devices[d["hostname"]]["health"]) == (
                d["state"], d["health"]), d["hostname"]
    assert devices["qemu-01"]["job"] == 14 and devices["qemu-02"]["job"] == 13


def test_a_change_without_an_event_is_corrected_and_clients_receive_it(setup):
    lava, _, start = setup
    app = start("--reconcile-interval", "1")
    wait_until(lambda: lava_health(app)["loaded"], timeout=20, what="loaded")
    view = LiveView(app.url, {"kinds": ["device", "job"]}).connect()
    try:
        # Retire qemu-02 while job 13 runs on it: LAVA sends no event for that.
        lava.device("qemu-02").update(state="Idle", health="Retired")
        lava.job(13).update(state="Finished", health="Canceled", end_time="2026-11-27T17:45:00Z")
        wait_until(lambda: view.objects["device"].get("qemu-02", {}).get("health") == "Retired",
                   timeout=15, what="the client sees the correction")
        assert view.objects["device"]["qemu-02"]["job"] is None
        assert view.objects["job"][13]["state"] == "Finished"
        assert lava_health(app)["corrections"] >= 2
        assert view.state() == model_view(app.json("/api/v1/state"), {"kinds": ["device", "job"]})
        wait_until(lambda: "corrected device qemu-02" in app.log_text(), what="the correction logged")
        assert "health 'Unknown' → 'Retired'" in app.log_text()
    finally:
        view.close()


FAULTS = [
    ("down", "unreachable"),
    ("slow", "timeout"),
    ("500", "server_error"),
    ("badjson", "bad_json"),
    ("badshape", "bad_shape"),
    ("auth", "auth"),
]


def test_each_fault_shows_keeps_serving_and_recovers(setup):
    lava, publisher, start = setup
    app = start("--reconcile-interval", "0.5", "--lava-timeout", "1")
    wait_until(lambda: lava_health(app)["loaded"], timeout=20, what="loaded")
    view = LiveView(app.url).connect()
    statuses = []
    view.client.on("status", statuses.append)
    try:
        for fault, kind in FAULTS:
            statuses.clear()  # what comes now is about this fault
            if fault == "down":
                lava.stop()
            elif fault == "slow":
                lava.delay = 2.0
            else:
                lava.fault = fault
            health = wait_until(lambda: (lambda h: h if h["lava"]["error_kind"] == kind else None)(
                app.json("/healthz")), timeout=20, what=f"fault {fault} reported")
            assert health["status"] == "degraded" and "lava-api" in health["degraded"]
            assert health["lava"]["state"] == "error" and health["lava"]["error"]
            # Still serving the last known state, and still applying events.
            assert len(app.json("/api/v1/state")["devices"]) == 8
            publisher.send([b"org.lavasoftware.worker", f"during-{fault}".encode(),
                            b"2026-11-27T17:50:00", b"lavaserver",
                            json.dumps({"hostname": f"w-{fault}", "state": "Online",
                                        "health": "Active"}).encode()])
            wait_until(lambda: f"w-{fault}" in view.objects["worker"], what="event during fault")
            wait_until(lambda: any(lava_state(s) == "error" for s in statuses),
                       what="clients told of the fault")
            # Cleared before LAVA is back: the next reconcile (every 0.5 s) may tell the clients
            # ok before this thread runs again on a loaded machine, and it says so only once.
            statuses.clear()
            if fault == "down":
                lava.start()
            lava.delay, lava.fault = 0, None
            wait_until(lambda: lava_health(app)["state"] == "ok", timeout=30, what=f"recovery from {fault}")
            wait_until(lambda: any(lava_state(s) == "ok" for s in statuses), what="clients told ok")
        assert app.alive()
        assert set(lava_health(app)["failures"]) == {kind for _, kind in FAULTS}
    finally:
        view.close()


def test_the_token_never_leaks(setup, tmp_path):
    lava, publisher, start = setup
    app = start("--reconcile-interval", "0.5")
    wait_until(lambda: lava_health(app)["loaded"], timeout=20, what="loaded")
    view = LiveView(app.url).connect()
    seen = []
    view.client.on("status", lambda s: seen.append(json.dumps(s)))
    lava.fault = "echo"  # LAVA quotes the token in a field: the skipped record's message must not
    wait_until(lambda: any("<token>" in s for s in (lava_health(app)["skipped"] or {}).get(
        "samples", ())), timeout=20, what="the field quoted, the token taken out")
    wait_until(lambda: "<token>" in app.log_text(), what="the log line, the token taken out")
    bodies = [json.dumps(app.json("/healthz"))]
    lava.fault = None
    lava.token = "another-token"  # now LAVA refuses ours: errors get logged and shown
    wait_until(lambda: lava_health(app)["error_kind"] == "auth", timeout=20, what="auth failure")
    for path in ("/", "/healthz", "/api/v1/state", "/static/js/main.js", "/nope"):
        status, headers, body = app.get(path)
        bodies.append(json.dumps(body) if not isinstance(body, str) else body)
        bodies.append(json.dumps(headers))
    with view.lock:
        bodies.append(json.dumps(view.objects))
    bodies += seen
    bodies.append(app.log_text())
    view.close()
    for text in bodies:
        assert TOKEN not in text
    assert any(auth == f"Token {TOKEN}" for _, _, auth in lava.requests)


def test_event_socket_is_discovered_from_the_server(tmp_path):
    publisher = TestPublisher()
    lava = FakeLava(event_socket=f"tcp://*:{publisher.port}")
    app = AppProcess("--lava-url", lava.url)
    try:
        publisher.wait_for_subscriber()
        wait_until(lambda: app.json("/healthz")["status"] == "ok", timeout=20, what="all healthy")
        publisher.send(captured_frames()[0])
        wait_until(lambda: app.json("/healthz")["counters"]["accepted"] == 1, what="event arrived")
        health = app.json("/healthz")
        assert health["sources"][0]["name"] == f"tcp://127.0.0.1:{publisher.port}"
        assert health["simulated"] is False
    finally:
        app.stop()
        lava.close()
        publisher.close()


@pytest.mark.parametrize("fault", ["500", "maintenance"])
def test_a_lava_failing_at_the_start_is_asked_again_and_its_zmq_socket_used(tmp_path, fault):
    """LAVA answers HTTP 500 to the REST API and to XML-RPC when the dashboard starts: the
    discovery is asked again, and once LAVA answers its ZMQ socket is used. Before (an audit),
    XML-RPC's failure sent the dashboard to LAVA's WebSocket for good. The same for a maintenance
    page (HTML, 200) at every path (before, a reach audit: the WebSocket for good)."""
    publisher = TestPublisher()
    lava = FakeLava(event_socket=f"tcp://*:{publisher.port}")
    lava.fault = fault
    app = AppProcess("--lava-url", lava.url)
    try:
        wait_until(lambda: any(path == "/RPC2" for path, _, _ in lava.requests), timeout=20,
                   what="both ways of discovery tried")
        wait_until(lambda: "event-socket-discovery" in app.json("/healthz")["degraded"],
                   timeout=20, what="the discovery failing, said")
        lava.fault = None
        publisher.wait_for_subscriber()
        wait_until(lambda: app.json("/healthz")["sources"], timeout=20, what="a source")
        assert [s["name"] for s in app.json("/healthz")["sources"]] == [
            f"tcp://127.0.0.1:{publisher.port}"]
        assert "using LAVA's WebSocket" not in app.log_text()
    finally:
        app.stop()
        lava.close()
        publisher.close()


@pytest.mark.parametrize("access", ["open", "lava"])
def test_corrections_are_history_and_survive_a_crash(setup, access):
    """A change LAVA made without an event is stored as a correction: the feed, the device's
    transitions and timeline and /api/v1/events show it, and a crashed dashboard replays it. With
    access control and no saved model (so no saved answer of which devices LAVA shows anonymous
    users: core/screen.py) it shows no device until LAVA answers, then LAVA's."""
    lava, _, start = setup
    app = start("--reconcile-interval", "1", "--snapshot-interval", "3600", "--access", access)
    wait_until(lambda: lava_health(app)["loaded"], timeout=20, what="loaded")
    view = LiveView(app.url, {"kinds": ["device", "event"]}).connect()
    try:
        before = app.json("/api/v1/devices/qemu-02")["device"]["health"]
        lava.device("qemu-02").update(state="Idle", health="Retired")
        corrections = wait_until(
            lambda: [c["data"] for c in view.received if c["kind"] == "event"
                     and c["data"] and c["data"]["type"] == "correction"],
            timeout=15, what="a correction in the live feed")
        entry = corrections[0]
        assert entry["device"] == "qemu-02" and "corrected device qemu-02" in entry["message"]
        rows = wait_until(lambda: app.json("/api/v1/events?kind=correction&device=qemu-02")["events"],
                          timeout=10, what="the correction stored")
        assert rows[0]["health"] == "Retired" and rows[0]["topic"] == "dashboard.device.correction"
        assert rows[0]["data"]["fields"]["health"] == [before, "Retired"]
        transitions = app.json("/api/v1/devices/qemu-02")["transitions"]
        assert transitions[0]["correction"] is True and transitions[0]["health"] == "Retired"
        bands = app.json("/api/v1/devices/qemu-02/timeline")["bands"]
        assert bands[-1]["health"] == "Retired"
        _, _, atom = app.get("/feeds/events.atom")
        assert "correction: corrected device qemu-02" in atom
    finally:
        view.close()
    # A crash (no model saved: --snapshot-interval 3600): the restart replays the stored
    # correction, and shows it while LAVA cannot be reached.
    app.kill()
    lava.fault = "500"
    again = start("--data-dir", app.data_dir, "--reconcile-interval", "3600", "--access", access)
    if access == "lava":  # no saved model, so no saved answer of which devices LAVA shows
        # anonymous users (core/screen.py): no device until LAVA answers, nor the stored history
        # of one (core/withheld.py); the history stays whole in the store, and shows once LAVA
        # has answered
        assert again.get("/api/v1/devices/qemu-02")[0] == 404
        assert again.json("/api/v1/events?device=qemu-02")["events"] == []
        assert again.json("/api/v1/state")["devices"] == []
        assert "device-screen" in again.json("/healthz")["degraded"]
        lava.fault = None
        wait_until(lambda: again.get("/api/v1/devices/qemu-02")[0] == 200
                   and again.json("/api/v1/devices/qemu-02")["device"], timeout=40,
                   what="the devices once LAVA answers")
        assert again.json("/api/v1/devices/qemu-02")["transitions"][0]["health"] == "Retired"
    assert again.json("/api/v1/devices/qemu-02")["device"]["health"] == "Retired"
    feed = [e.get("type") for e in again.json("/api/v1/state")["events"]]
    # (With access control and nothing known, the stored correction was not replayed into the
    # live model: its feed has it only without.)
    assert ("correction" in feed) is (access == "open")
