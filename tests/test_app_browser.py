"""The single-page app as a person (and a wall) sees it: Debian's Chromium driven by Playwright,
against the app run as a subprocess and fed by a real ZMQ publisher.

Screenshots land in test-artifacts/screenshots/ (git-ignored); with UPDATE_SCREENSHOTS=1 the ones
the README shows are copied to docs/screenshots/ as well.
"""
import json
import os
import re
import shutil

import pytest

from dashboard.core.filters import parse_filter
from tests.helpers import ROOT, AppProcess, TestPublisher, free_port, wait_until

SHOTS = ROOT / "test-artifacts" / "screenshots"
DOCS_SHOTS = ROOT / "docs" / "screenshots"
STAMP = b"2026-11-27T17:38:37.638687"
XSS = "<img src=x onerror=alert(1)>"

# Recorded before any page script runs: a CSP violation means the page relies on something the
# policy forbids (an inline script or style), or that something hostile tried to run.
RECORD_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


def open_page(browser, width=1280, height=800, **context_args):
    """A page that records errors, dialogs, CSP violations and every Socket.IO frame."""
    context = browser.new_context(viewport={"width": width, "height": height}, **context_args)
    page = context.new_page()
    page.add_init_script(RECORD_CSP)
    page.errors, page.dialogs, page.frames_in, page.frames_out = [], [], [], []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and page.errors.append(msg.text))
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))

    def on_websocket(ws):
        # Playwright needs real functions here (it tags them), not bound built-ins.
        ws.on("framereceived", lambda payload: page.frames_in.append(payload))
        ws.on("framesent", lambda payload: page.frames_out.append(payload))

    page.on("websocket", on_websocket)
    return page


@pytest.fixture
def pages(browser):
    opened = []

    def make(**kwargs):
        page = open_page(browser, **kwargs)
        opened.append(page)
        return page

    yield make
    for page in opened:
        page.context.close()


def send(publisher, kind, uuid, data, user="lavaserver"):
    publisher.send([f"org.lavasoftware.{kind}".encode(), uuid.encode(), STAMP, user.encode(),
                    json.dumps(data).encode()])


def device(hostname, device_type, worker, state="Idle", health="Good", job=None):
    data = {"device": hostname, "device_type": device_type, "state": state, "health": health,
            "worker": worker}
    if job is not None:
        data["job"] = job
    return data


def job(job_id, device_type, submitter, state="Running", device_name=None, worker=None,
        description="ltp fs", health_check=False):
    data = {"job": job_id, "state": state, "health": "Unknown", "description": description,
            "priority": 50, "submit_time": "2026-11-27T17:38:30+00:00", "submitter": submitter,
            "health_check": health_check, "device_type": device_type}
    if device_name:
        data.update(device=device_name, worker=worker, start_time="2026-11-27T17:38:36+00:00")
    return data


def socketio_events(frames):
    """Socket.IO event packets ("42[name, payload]", or "42<ack id>[...]") among raw WebSocket
    frames → [(name, payload)]."""
    events = []
    for frame in frames:
        match = isinstance(frame, str) and re.match(r"42\d*(\[.*)", frame, re.S)
        if match:
            name, *args = json.loads(match.group(1))
            events.append((name, args[0] if args else None))
    return events


def objects_in(events):
    """Every (kind, object) the server sent in snapshots and changes; removals (data null) skipped."""
    for name, payload in events:
        if name == "snapshot":
            for kind, key in (("device", "devices"), ("job", "jobs"), ("worker", "workers"),
                              ("event", "events")):
                for obj in payload[key]:
                    yield kind, obj
        elif name == "changes":
            for change in payload["changes"]:
                if change["data"] is not None:
                    yield change["kind"], change["data"]


def shown(page, selector, attribute):
    return sorted(el.get_attribute(attribute) for el in page.query_selector_all(selector))


@pytest.fixture
def lab():
    """A publisher and the app subscribed to it, with a LAVA URL for the links (nothing listens
    there: the app serves events alone, as when LAVA's API is down)."""
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--lava-url", f"http://127.0.0.1:{free_port()}",
                     "--access", "open")  # the URL is for links only: nobody to ask who may see
    try:
        publisher.wait_for_subscriber()
        yield publisher, app
    finally:
        app.stop()
        publisher.close()


def wait_for_model(app, devices=0, jobs=0):
    wait_until(lambda: (lambda s: len(s["devices"]) >= devices and len(s["jobs"]) >= jobs)(
        app.json("/api/v1/state")), timeout=10, what=f"{devices} devices and {jobs} jobs in the model")


def test_an_event_changes_the_right_tile_and_opens_in_details(lab, pages):
    publisher, app = lab
    for i in (1, 2, 3):
        send(publisher, "device", f"t-{i}", device(f"alpha-0{i}", "alpha", "w-1"))
    wait_for_model(app, devices=3)
    page = pages()
    page.goto(app.url + "/")
    page.wait_for_selector("#connection[data-state=live]", timeout=10000)
    wait_until(lambda: len(page.query_selector_all("[data-device]")) == 3, timeout=5, what="3 tiles")

    # How fast is measured in bench/ (publish to client: bench/fanout.py); here, only what changes.
    send(publisher, "device", "t-4", device("alpha-02", "alpha", "w-1", "Running", "Bad", job=7))
    # Only that tile changed; it is highlighted for a moment (1.6 to 2.6 s after the render: looked
    # for with the change itself, not after it) and says what it is in words.
    page.wait_for_selector('[data-device="alpha-02"][data-state="Running"][data-health="Bad"]'
                           '.tile-flash.tile-alert', timeout=10000)
    assert shown(page, '[data-device][data-state="Idle"][data-health="Good"]', "data-device") == [
        "alpha-01", "alpha-03"]
    text = page.inner_text('[data-device="alpha-02"]')
    assert "Running" in text and "Bad" in text and "#7" in text

    # By keyboard: the tile's button opens the details, Escape closes them and focus comes back.
    page.focus('[data-device="alpha-02"] .tile-open')
    page.keyboard.press("Enter")
    panel = page.wait_for_selector('#detail[data-kind="device"][data-id="alpha-02"]', timeout=2000)
    assert "detail=device:alpha-02" in page.evaluate("location.search")
    assert page.get_attribute("#detail-lava-link", "href").endswith("/scheduler/device/alpha-02")
    history = panel.inner_text()
    assert "state: Idle → Running" in history and "health: Good → Bad" in history
    page.keyboard.press("Escape")
    page.wait_for_selector("#detail", state="detached", timeout=2000)
    assert "detail=" not in page.evaluate("location.search")
    wait_until(lambda: page.evaluate("document.activeElement.closest('[data-device]')?.dataset.device")
               == "alpha-02", timeout=2, what="focus back on the tile")
    assert page.errors == [] and page.evaluate("window.__csp") == []


def test_a_correction_from_lava_is_shown_as_one_in_the_feed_and_in_the_jobs_path(pages):
    """The reconciler finds qemu-02 retired and job 13 canceled, which no event said: the live
    feed labels those entries "correction" with what was wrong, and job 13's path marks the step
    that came from LAVA's REST API in words."""
    from tests.fake_lava import FakeLava
    from tests.fixtures import captured_frames
    lava = FakeLava()
    publisher = TestPublisher()
    app = AppProcess("--lava-url", lava.url, "--zmq", publisher.endpoint, "--reconcile-interval", "1")
    try:
        publisher.wait_for_subscriber()
        frames = captured_frames()  # the history that led to the fake LAVA's state
        for f in frames:
            publisher.send(f)
        wait_until(lambda: app.json("/healthz")["store"]["written"] >= len(frames), timeout=20,
                   what="the captured events stored")
        wait_until(lambda: app.json("/healthz")["lava"]["loaded"], timeout=20, what="LAVA's state loaded")
        page = pages()
        page.goto(app.url + "/?view=feed")
        page.wait_for_selector("#connection[data-state=live]", timeout=10000)
        lava.device("qemu-02").update(state="Idle", health="Retired")
        lava.job(13).update(state="Finished", health="Canceled", end_time="2026-11-27T17:45:00Z")
        lava.device("qemu-01").update(health="Bad")  # while job 14 runs on it
        item = page.wait_for_selector('.feed-item[data-label="correction"]:has-text("qemu-02")', timeout=15000)
        assert item.get_attribute("data-kind") == "event"
        assert item.query_selector(".feed-kind").text_content() == "correction"
        text = item.query_selector(".feed-text").text_content()
        assert text.startswith("corrected device qemu-02 from LAVA") and "'Retired'" in text
        assert item.query_selector(".feed-subject").text_content() == "qemu-02"
        # The plain test-shell messages keep their own label.
        assert {el.text_content() for el in page.query_selector_all('.feed-item[data-label="event"] .feed-kind')} <= {"event"}

        wait_until(lambda: any(p["correction"] for p in app.json("/api/v1/jobs/13")["path"]),
                   timeout=10, what="job 13's correction stored")
        # A device's correction is the device's history, not its job's, though it names the job.
        wait_until(lambda: any(t["correction"] and t["job"] == 14
                               for t in app.json("/api/v1/devices/qemu-01")["transitions"]),
                   timeout=10, what="qemu-01's correction stored")
        path14 = app.json("/api/v1/jobs/14")["path"]
        assert path14 and not any(p["correction"] or p["health"] == "Bad" for p in path14), path14
        page.goto(app.url + "/?view=jobs&detail=job:13")
        page.wait_for_selector('#job-path .job-path-step[data-state="Finished"]', timeout=10000)
        steps = page.query_selector_all("#job-path .job-path-step")
        marks = [(s.get_attribute("data-state"), s.get_attribute("data-correction")) for s in steps]
        assert marks[-1] == ("Finished", "true") and ("Running", "false") in marks, marks
        assert "(corrected from LAVA)" in steps[-1].inner_text()
        assert all("corrected" not in s.inner_text() for s in steps[:-1])
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        app.stop()
        publisher.close()
        lava.close()


def test_a_url_filter_shows_only_what_matches_and_the_server_sends_nothing_else(lab, pages):
    publisher, app = lab
    n = iter(range(1000))
    for host, dtype, worker, health in (("q-1", "qemu", "w-1", "Good"), ("q-2", "qemu", "w-2", "Bad"),
                                        ("b-1", "bbb", "w-1", "Good"), ("b-2", "bbb", "w-2", "Good")):
        send(publisher, "device", f"f-{next(n)}", device(host, dtype, worker, health=health))
    for worker in ("w-1", "w-2"):
        send(publisher, "worker", f"f-{next(n)}", {"hostname": worker, "state": "Online", "health": "Active"})
    send(publisher, "testjob", f"f-{next(n)}", job(101, "qemu", "alice", device_name="q-1", worker="w-1"), "alice")
    send(publisher, "testjob", f"f-{next(n)}", job(102, "bbb", "bob", device_name="b-1", worker="w-1"), "bob")
    wait_for_model(app, devices=4, jobs=2)

    page = pages()
    url_filter = {"device_types": ["qemu"], "workers": ["w-1"]}
    page.goto(app.url + "/?device_type=qemu&worker=w-1")
    page.wait_for_selector("#connection[data-state=live]", timeout=10000)
    page.wait_for_selector('[data-device="q-1"]')
    # Changes after the page loaded, matching and not.
    send(publisher, "device", f"f-{next(n)}", device("b-1", "bbb", "w-1", "Running", job=102))
    send(publisher, "device", f"f-{next(n)}", device("q-2", "qemu", "w-2", "Running", "Good", job=5))
    send(publisher, "testjob", f"f-{next(n)}", job(103, "bbb", "bob", state="Submitted"), "bob")
    send(publisher, "device", f"f-{next(n)}", device("q-1", "qemu", "w-1", "Running", job=101))
    page.wait_for_selector('[data-device="q-1"][data-state="Running"]', timeout=3000)
    page.wait_for_timeout(400)  # let any stray batch arrive

    assert shown(page, "[data-device]", "data-device") == ["q-1"]
    assert shown(page, "[data-job]", "data-job") == ["101"]
    assert shown(page, "[data-worker]", "data-worker") == ["w-1"]
    # The page asked the server for exactly the URL's filter...
    subscribes = [p for name, p in socketio_events(page.frames_out) if name == "subscribe"]
    assert subscribes and subscribes[0]["filter"] == url_filter
    # ...and every object the server sent matches it (docs/protocol.md's rules, as the server has them).
    events = socketio_events(page.frames_in)
    assert [name for name, _ in events].count("snapshot") == 1
    matches = parse_filter(url_filter).matches
    sent = list(objects_in(events))
    assert sent and all(matches(kind, obj) for kind, obj in sent), [
        (kind, obj) for kind, obj in sent if not matches(kind, obj)]
    assert {obj.get("hostname") for kind, obj in sent if kind == "device"} == {"q-1"}

    # Changing a filter in the page rewrites the URL and subscribes again with it.
    page.click('[data-filter="filter-worker"] .filter-chip-remove')
    page.wait_for_selector('[data-device="q-2"]', timeout=3000)
    search = page.evaluate("location.search")
    assert "worker=" not in search and "device_type=qemu" in search
    assert shown(page, "[data-device]", "data-device") == ["q-1", "q-2"]
    # A worker's devices are the devices' own `worker` (workers do not list them): a move between
    # workers is one device change, and both rows follow it.
    def chips(worker):
        return page.eval_on_selector_all(f'[data-worker="{worker}"] .chip',
                                         "els => els.map(e => e.textContent.trim().split(' ')[0])")
    assert chips("w-1") == ["q-1"] and chips("w-2") == ["q-2"]
    send(publisher, "device", f"f-{next(n)}", device("q-2", "qemu", "w-1", "Idle", "Good"))
    page.wait_for_function("""() => document.querySelectorAll('[data-worker="w-1"] .chip').length === 2""",
                           timeout=3000)
    assert chips("w-1") == ["q-1", "q-2"] and chips("w-2") == []
    assert page.text_content('[data-worker="w-2"] .worker-device-count') == "0"
    # The free-text search narrows the page without asking the server.
    before = len(page.frames_out)
    page.fill("#search", "q-2")
    page.wait_for_function("() => location.search.includes('q=q-2')", timeout=3000)
    page.wait_for_function("() => document.querySelectorAll('[data-device]').length === 1", timeout=3000)
    assert shown(page, "[data-device]", "data-device") == ["q-2"]
    assert not [f for f in page.frames_out[before:] if isinstance(f, str) and "subscribe" in f]
    assert page.errors == [] and page.evaluate("window.__csp") == []


def test_wall_mode_shows_300_devices_at_1920x1080_without_scrolling(lab, pages):
    publisher, app = lab
    types = ["qemu", "bbb", "rpi4b", "x86", "imx8mm-evk", "juno-r2"]
    states = [("Idle", "Good"), ("Running", "Good"), ("Idle", "Bad"), ("Running", "Unknown"),
              ("Idle", "Maintenance"), ("Reserved", "Looping")]
    for i in range(300):
        state, health = states[i % len(states)] if i % 7 == 0 else states[i % 2]
        send(publisher, "device", f"wall-{i}", device(
            f"{types[i % 6]}-{i:03d}", types[i % 6], f"worker-{i % 10}", state, health,
            job=1000 + i if state == "Running" else None))
    wait_for_model(app, devices=300)

    page = pages(width=1920, height=1080)
    page.goto(app.url + "/?wall=1")
    page.wait_for_selector("#connection[data-state=live]", timeout=10000)
    page.wait_for_function("() => document.querySelectorAll('[data-device]').length === 300", timeout=10000)
    page.wait_for_function("() => document.querySelector('.device-groups.is-fit') !== null", timeout=5000)
    page.wait_for_timeout(300)
    layout = page.evaluate("""() => {
      const doc = document.documentElement;
      const tiles = [...document.querySelectorAll('[data-device]')].map((el) => el.getBoundingClientRect());
      const host = getComputedStyle(document.querySelector('[data-device] .tile-host'));
      return {scrollW: doc.scrollWidth, scrollH: doc.scrollHeight, w: innerWidth, h: innerHeight,
        outside: tiles.filter((r) => r.top < 0 || r.left < 0 || r.bottom > innerHeight + 0.5
          || r.right > innerWidth + 0.5 || r.width < 10 || r.height < 10).length,
        font: parseFloat(host.fontSize), theme: doc.dataset.theme,
        chrome: document.querySelectorAll('.filter-bar, .view-tabs, .skip-link').length};
    }""")
    assert layout["scrollW"] <= layout["w"] and layout["scrollH"] <= layout["h"], layout
    assert layout["outside"] == 0, layout
    assert layout["font"] >= 11, layout  # hostnames legible from a few metres
    assert layout["theme"] == "dark" and layout["chrome"] == 0
    assert page.is_visible("#connection")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "wall-300.png"))
    assert page.errors == [] and page.evaluate("window.__csp") == []


def test_a_hostile_description_is_shown_as_text_and_runs_nothing(lab, pages):
    publisher, app = lab
    evil_host = '"><svg onload=alert(3)>'
    send(publisher, "device", "x-1", device(evil_host, "qemu", "w-1", "Running", job=66))
    send(publisher, "testjob", "x-2", job(66, "qemu", "<b>mallory</b>", device_name=evil_host,
                                          worker="w-1", description=XSS), "mallory")
    send(publisher, "event", "x-3", {"job": 66, "message": "<script>alert(2)</script>"})
    wait_for_model(app, devices=1, jobs=1)
    page = pages()
    page.goto(app.url + "/")
    page.wait_for_selector("#connection[data-state=live]", timeout=10000)
    row = page.wait_for_selector('[data-job="66"]', timeout=5000)
    assert XSS in row.inner_text() and "<b>mallory</b>" in row.inner_text()
    assert evil_host in page.inner_text(".panel-devices")
    assert "<script>alert(2)</script>" in page.inner_text("#feed")
    page.click('[data-job="66"] .job-id')
    panel = page.wait_for_selector('#detail[data-kind="job"]', timeout=2000)
    assert XSS in panel.inner_text()
    page.wait_for_timeout(300)
    assert page.query_selector_all("#dashboard img, #dashboard svg, #dashboard script, #dashboard b") == []
    assert page.dialogs == []
    assert page.errors == [] and page.evaluate("window.__csp") == []


def test_killing_and_restarting_the_server_goes_offline_then_live_again_without_a_reload(pages):
    publisher = TestPublisher()
    port = free_port()
    app = AppProcess("--zmq", publisher.endpoint, port=port)
    restarted = None
    try:
        publisher.wait_for_subscriber()
        send(publisher, "device", "r-1", device("rs-01", "qemu", "w-1"))
        wait_for_model(app, devices=1)
        page = pages()
        page.goto(app.url + "/")
        page.wait_for_selector('#connection[data-state=live]', timeout=10000)
        page.wait_for_selector('[data-device="rs-01"][data-state="Idle"]')
        page.evaluate("window.__sameDocument = 42")

        app.proc.kill()  # a crash: no goodbye to the clients
        app.proc.wait(10)
        page.wait_for_selector("#connection[data-state=offline]", timeout=10000)
        page.wait_for_selector('#dashboard[data-stale="true"]', timeout=2000)
        assert page.query_selector('[data-device="rs-01"]') is not None  # stale, still shown

        # The page stays away until the restarted server has both boards: a page back first got
        # a snapshot without rs-01 (a new, empty model), and its history began again (a CI-like
        # run saw "appeared" where "Idle → Running" was to be).
        page.context.set_offline(True)
        restarted = AppProcess("--zmq", publisher.endpoint, port=port)
        publisher.wait_for_subscriber()
        send(publisher, "device", "r-2", device("rs-01", "qemu", "w-1", "Running", "Bad", job=9))
        send(publisher, "device", "r-3", device("rs-02", "qemu", "w-1"))
        wait_for_model(restarted, devices=2)
        page.context.set_offline(False)
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        page.wait_for_selector('[data-device="rs-01"][data-state="Running"][data-health="Bad"]', timeout=5000)
        page.wait_for_selector('[data-device="rs-02"]', timeout=5000)
        page.wait_for_selector('#dashboard[data-stale="false"]', timeout=2000)
        assert page.evaluate("window.__sameDocument") == 42  # no reload
        page.click('[data-device="rs-01"] .tile-open')
        assert "state: Idle → Running" in page.inner_text("#detail")
        assert all("WebSocket" in e or "ERR_CONNECTION_REFUSED" in e or "ERR_INTERNET_DISCONNECTED" in e
                   for e in page.errors), page.errors
    finally:
        app.stop()
        if restarted:
            restarted.stop()
        publisher.close()


def test_memory_stays_flat_while_job_rows_come_and_go(lab, pages):
    """Rows mount and unmount all day on a wall; the DOM kept alive must not grow with them (the
    htm static-element cache once chained every past generation of rows: static/js/html.js)."""
    publisher, app = lab
    page = pages()
    page.goto(app.url + "/?view=jobs")
    page.wait_for_selector("#connection[data-state=live]", timeout=10000)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def dom_nodes():
        cdp.send("HeapProfiler.collectGarbage")
        return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "Nodes")

    def move(batch, state):
        for k in range(25):
            job_id = 5000 + batch * 100 + k
            data = job(job_id, "qemu", "alice", state=state, worker="w-1", health_check=k % 3 == 0,
                       device_name=None if state == "Submitted" else f"churn-{k}")
            if state == "Finished":
                data.update(health="Complete", end_time="2026-11-27T17:40:00+00:00")
            send(publisher, "testjob", f"c-{job_id}-{state}", data, "alice")

    # A pipeline, as in a real lab: each step submits a batch, starts the previous one and finishes
    # the one before, so rows stay (memoized, not re-rendered) while their neighbours come and go.
    counts = []
    for step in range(24):
        move(step, "Submitted")
        if step >= 1:
            move(step - 1, "Running")
        if step >= 2:
            move(step - 2, "Finished")
        # The step's last event shown means every one before it is (they arrive in order). A
        # locator, not wait_for_selector: an element handle would keep its row alive itself.
        batch, state = [(step, "Submitted"), (step - 1, "Running"), (step - 2, "Finished")][min(step, 2)]
        page.locator(f'[data-job="{5000 + batch * 100 + 24}"][data-state="{state}"]').wait_for(
            timeout=10000)
        if step % 4 == 3:
            counts.append(dom_nodes())
    # By step 3 every list is full; after that the count stays put (it grew by a third, and kept
    # growing, with the bundle's caching `html`).
    assert counts[-1] <= counts[0] * 1.1 + 50, counts
    assert page.errors == []


def test_screenshots_of_each_view_on_the_simulated_lab(pages):
    app = AppProcess("--sim-seed", "7", "--sim-speed", "5")
    SHOTS.mkdir(parents=True, exist_ok=True)
    views = [("dashboard", "/", {}), ("dark", "/?theme=dark", {}),
             ("wall", "/?wall=1", {"width": 1920, "height": 1080}),
             ("phone", "/", {"width": 390, "height": 844, "reduced_motion": "reduce", "is_mobile": True})]
    try:
        for name, path, size in views:
            page = pages(**size)
            page.goto(app.url + path)
            page.wait_for_selector("#connection[data-state=live]", timeout=10000)
            page.wait_for_function("() => document.querySelectorAll('[data-device]').length >= 40", timeout=15000)
            page.wait_for_timeout(2500)  # some jobs run, some finish
            if name == "phone":
                # One column, nothing wider than the screen, and no movement asked for.
                assert page.evaluate("document.documentElement.scrollWidth") <= 390
                assert page.evaluate(
                    "getComputedStyle(document.querySelector('.connection-dot')).animationName") == "none"
            page.screenshot(path=str(SHOTS / f"{name}.png"))
            assert page.errors == [] and page.evaluate("window.__csp") == [], (name, page.errors)
        if os.environ.get("UPDATE_SCREENSHOTS"):
            DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
            for name, _, _ in views:
                shutil.copyfile(SHOTS / f"{name}.png", DOCS_SHOTS / f"{name}.png")
    finally:
        app.stop()


def test_the_pure_modules_in_the_browser(pages):
    """URL round trips, the wall's fit and hostname abbreviation, run in Chromium itself."""
    app = AppProcess("--zmq", "tcp://127.0.0.1:9")
    try:
        page = pages()
        page.goto(app.url + "/")
        result = page.evaluate("""async () => {
          const url = await import('/static/js/url.js');
          const filter = await import('/static/js/filter.js');
          const { fitTiles } = await import('/static/js/fit.js');
          const { abbreviate } = await import('/static/js/abbreviate.js');
          const o = url.parseOptions('?device_type=qemu,bbb&device_type=x86&health=Bad&wall=1&rotate=2&q=%20ltp%20&detail=job:42&bogus=1');
          const fits = [[300, 6, 1892, 880], [2000, 12, 1892, 880], [50, 5, 1892, 880], [2000, 40, 1200, 500]].map(
            ([n, g, w, h]) => { const sizes = Array.from({length: g}, (_, i) => Math.floor(n / g) + (i < n % g ? 1 : 0));
              const f = fitTiles(sizes, w, h); return {n, ok: f.rows * f.tileHeight + (f.rows - 1) * f.gap <= h + 0.01
                && f.columns * f.tileWidth + (f.columns - 1) * f.gap <= w + 0.01, detail: f.detail, font: f.fontPx}; });
          // With labels of two cells, placed as the grid places them (a label cannot start in a
          // row's last column): never more rows than the fit says (an audit: an 800x480 wall's last
          // row was off the screen).
          const placed = (sizes, f) => { let cell = 0; for (const n of sizes) {
            if (f.flow === 'continuous') { const c = cell % f.columns; if (c > f.columns - f.labelCells) cell += f.columns - c; }
            else if (cell % f.columns) cell += f.columns - (cell % f.columns);
            cell += f.labelCells + n; } return Math.ceil(cell / f.columns); };
          const holes = [];
          for (let w = 300; w <= 1900; w += 40) for (let h = 120; h <= 1000; h += 60) {
            const sizes = [8, 9, 10, 14, 9];
            const f = fitTiles(sizes, w, h, {labelCells: 2});
            if (f && placed(sizes, f) > f.rows) holes.push([w, h, f.columns, f.rows, placed(sizes, f)]);
          }
          return {
            holes,
            options: o, again: url.parseOptions(url.serializeOptions(o)), search: url.serializeOptions(o),
            sub: filter.subscriptionFilter(o), view: url.effectiveView(o), theme: url.effectiveTheme(o), fits,
            health: url.parseOptions('?health=bad,LOOPING,Bad,bogus').filter.health,
            abbr: [abbreviate('qemu-07', 'qemu', 4), abbreviate('imx8mm-evk-sam-03', null, 8),
                   abbreviate('db.lab.example.org', null, 6), abbreviate('short', null, 10)],
          };
        }""")
        assert result["options"]["filter"]["device_types"] == ["qemu", "bbb", "x86"]
        assert result["options"]["rotate"] == 5 and result["options"]["q"] == "ltp"
        assert result["options"]["detail"] == {"kind": "job", "id": "42"}
        assert result["again"] == result["options"]
        assert result["search"] == ("?wall=1&rotate=5&device_type=qemu,bbb,x86&health=Bad&q=ltp"
                                    "&detail=job:42")
        assert result["sub"] == {"device_types": ["bbb", "qemu", "x86"], "health": ["Bad"]}
        # A health in any case is LAVA's (an audit's ?health=bad showed nothing); others stay.
        assert result["health"] == ["Bad", "Looping", "bogus"], result["health"]
        assert result["view"] == "devices" and result["theme"] == "dark"
        assert all(f["ok"] for f in result["fits"]), result["fits"]
        assert result["holes"] == [], result["holes"][:5]
        # docs/frontend.md: 300 devices in 6 groups get whole hostnames in 15 px type, 2,000 in 12
        # groups 7 px type (three characters and a symbol).
        assert (result["fits"][0]["font"], result["fits"][1]["font"]) == (15, 7), result["fits"]
        assert result["abbr"] == ["07", "im…am-03", "db", "short"]
    finally:
        app.stop()


def test_a_health_lava_never_gives_is_said_to_be_one_in_the_filter_bar(pages):
    """?health=bogus matches no device: its chip says why in words (it showed a bare "bogus", and
    empty panels with no reason)."""
    app = AppProcess("--zmq", "tcp://127.0.0.1:9")
    try:
        page = pages()
        page.goto(app.url + "/?health=bogus")
        chip = page.wait_for_selector(".filter-health .toggle-button.is-unknown", state="attached", timeout=10000)
        assert chip.text_content() == "bogus (not a health LAVA gives)"
        assert chip.get_attribute("aria-pressed") == "true"
        assert page.errors == []
    finally:
        app.stop()


def test_no_test_app_gets_a_port_chromium_refuses(browser, monkeypatch):
    """A full run failed once: an app under test got port 10080, from which Chromium refuses to
    load a page (ERR_UNSAFE_PORT). free_port never hands out such a port."""
    import socket

    from tests import helpers

    page = open_page(browser)
    try:
        with pytest.raises(Exception, match="ERR_UNSAFE_PORT"):
            page.goto("http://127.0.0.1:10080/")
    finally:
        page.context.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        spare = s.getsockname()[1]
    picks = iter([10080, 6000, spare])
    monkeypatch.setattr(helpers.random, "randrange", lambda low, high: next(picks))
    assert helpers.free_port() == spare
