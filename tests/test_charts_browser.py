"""The Charts view and the history in the details panel, as a person sees them: Debian's Chromium
driven by Playwright, against the app run as a subprocess with its own store, fed by a real ZMQ
publisher with the captured LAVA 2023.01 events and with events stamped with the current time (the
charts' windows end now).

Chromium is the session-wide `browser` fixture (tests/conftest.py). Screenshots land in
test-artifacts/screenshots/ (git-ignored). The README's charts.png, over a week of history, comes
from scripts/screenshot_charts.py.
"""
import datetime as dt
import json
import re
import time
import urllib.parse
import uuid

import pytest

from tests.fixtures import captured_frames
from tests.helpers import ROOT, AppProcess, TestPublisher, wait_until

SHOTS = ROOT / "test-artifacts" / "screenshots"
RECORD_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""
NOW = dt.datetime.now(dt.timezone.utc)
CHARTS = ["events-hour", "events-day", "outcomes", "utilisation", "queue"]
CANVAS_CHARTS = ["events-hour", "events-day", "outcomes", "queue"]

# charts-qemu-01 goes Idle → Running → Bad → Maintenance → Idle over the last 50 minutes.
DEVICE_STEPS = [(50, "Idle", "Good"), (40, "Running", "Good"), (30, "Idle", "Bad"),
                (20, "Idle", "Maintenance"), (10, "Idle", "Good")]
CATEGORIES = ["Idle", "Running", "Bad", "Maintenance", "Idle"]
# Job 9101 ran on it; job 9102 (bbb, bob) still waits.
JOB_STEPS = [(45 * 60, "Submitted", "Unknown"), (45 * 60 - 3, "Scheduled", "Unknown"),
             (40 * 60, "Running", "Unknown"), (38 * 60, "Finished", "Complete")]


def frames(kind, seconds_ago, data, user="lavaserver"):
    """The five frames lava-publisher sends, stamped `seconds_ago` before now."""
    when = (NOW - dt.timedelta(seconds=seconds_ago)).isoformat()
    return [f"org.lavasoftware.{kind}".encode(), str(uuid.uuid4()).encode(), when.encode(),
            user.encode(), json.dumps(data).encode()]


def recent_events():
    """Every kind, with the current time: what the 24 h and 30 day windows must show."""
    out = [frames("worker", 55 * 60, {"hostname": "charts-w-1", "state": "Online", "health": "Active"}),
           frames("device", 55 * 60, {"device": "charts-bbb-01", "device_type": "bbb", "state": "Idle",
                                 "health": "Good", "worker": "charts-w-2"})]
    out += [frames("device", m * 60, {"device": "charts-qemu-01", "device_type": "qemu", "state": s,
                                 "health": h, "worker": "charts-w-1"}) for m, s, h in DEVICE_STEPS]
    for seconds, state, health in JOB_STEPS:
        data = {"job": 9101, "state": state, "health": health, "description": "charts boot",
                "priority": 50, "submitter": "alice", "health_check": False, "device_type": "qemu",
                "submit_time": (NOW - dt.timedelta(minutes=45)).isoformat()}
        if state in ("Scheduled", "Running", "Finished"):
            data.update(device="charts-qemu-01", worker="charts-w-1")
        out.append(frames("testjob", seconds, data, "alice"))
    out.append(frames("event", 39 * 60, {"message": "charts job 9101 booted", "job": 9101}))
    out.append(frames("testjob", 5 * 60, {"job": 9102, "state": "Submitted", "health": "Unknown",
                                     "description": "bbb smoke", "priority": 50, "submitter": "bob",
                                     "health_check": False, "device_type": "bbb"}, "bob"))
    return sorted(out, key=lambda f: f[2])


@pytest.fixture
def pages(browser):
    opened = []

    def make(width=1280, height=800):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.add_init_script(RECORD_CSP)
        page.errors, page.requests = [], []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on("console", lambda msg: msg.type == "error" and page.errors.append(msg.text))
        page.on("request", lambda request: page.requests.append(request.url))
        opened.append(context)
        return page

    yield make
    for context in opened:
        context.close()


@pytest.fixture(scope="module")
def lab():
    """The app with a store, fed the 127 captured messages and then the recent ones above."""
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint)
    try:
        publisher.wait_for_subscriber()
        sent = captured_frames() + recent_events()
        for message in sent:
            publisher.send(message)
        wait_until(lambda: app.json("/healthz")["store"]["written"] >= len(sent), timeout=15,
                   what=f"{len(sent)} events in the store")
        yield app
    finally:
        app.stop()
        publisher.close()


def stats_requests(page):
    """The charts' statistics requests the page made: [(endpoint, {param: value})]. The one
    events-per-minute request of a page load (bucket=second, main.js) is the meter's, not a chart's."""
    out = []
    for url in page.requests:
        parts = urllib.parse.urlsplit(url)
        if parts.path.startswith("/api/v1/stats/") and "bucket=second" not in parts.query:
            out.append((parts.path.rsplit("/", 1)[1], dict(urllib.parse.parse_qsl(parts.query))))
    return out


def number_after(prefix, text):
    """The whole number written right after `prefix` in `text`."""
    return int(re.search(re.escape(prefix) + r"(\d+)", text).group(1))


def wait_for_charts(page, status="ok"):
    for chart in CHARTS:
        page.wait_for_selector(f'.chart[data-chart="{chart}"][data-status="{status}"]', timeout=10000)


def legend(page, chart):
    return page.eval_on_selector_all(f'.chart[data-chart="{chart}"] .u-legend .u-series .u-label',
                                     "els => els.map((el) => el.textContent)")


def test_each_chart_draws_the_stored_events(lab, pages):
    page = pages()
    page.goto(lab.url + "/?view=charts")
    page.wait_for_selector('[data-view-tab="charts"][aria-current="page"]', timeout=10000)
    wait_for_charts(page)
    for chart in CANVAS_CHARTS:
        page.wait_for_selector(f'.chart[data-chart="{chart}"] canvas', timeout=5000)
    # Every kind published in the last hour is a named line, in both event charts.
    for chart in ("events-hour", "events-day"):
        assert legend(page, chart)[1:] == ["Device", "Job", "Worker", "Test shell"], legend(page, chart)
    label = page.get_attribute('.chart[data-chart="events-hour"] .chart-box', "aria-label")
    assert int(label.split(": ")[1].split(" ")[0]) >= len(recent_events()), label
    assert legend(page, "outcomes")[1:] == ["Complete", "Incomplete", "Canceled"]
    # The captured jobs count too while they are less than 30 days old.
    assert number_after("Complete ", page.get_attribute('.chart[data-chart="outcomes"] .chart-box', "aria-label")) >= 1
    # Its axis ends with today (UTC), never with tomorrow, and begins 30 days back.
    host = page.wait_for_selector('.chart[data-chart="outcomes"] .chart-host[data-x-max]', timeout=5000)
    x_min, x_max = float(host.get_attribute("data-x-min")), float(host.get_attribute("data-x-max"))
    end_of_today = (time.time() // 86400 + 1) * 86400
    assert end_of_today - 3600 < x_max <= end_of_today, (x_max, end_of_today)
    assert x_min == end_of_today - 30 * 86400, (x_min, end_of_today)
    # Utilisation: one row per device type, the shares as coloured parts and as words.
    rows = page.eval_on_selector_all(".utilisation-row", "els => els.map((el) => el.dataset.deviceType)")
    assert {"qemu", "bbb"} <= set(rows), rows
    bbb = page.inner_text('.utilisation-row[data-device-type="bbb"]')
    assert "Idle 100%" in bbb, bbb
    assert page.query_selector_all('.utilisation-row[data-device-type="qemu"] .utilisation-part[data-category="Running"]')
    assert "Most jobs queued" in legend(page, "queue")  # each step's maximum
    assert number_after("at most ", page.get_attribute('.chart[data-chart="queue"] .chart-box', "aria-label")) >= 1

    # No filter in the URL, none in the requests; one request per chart so far (no storm).
    requested = stats_requests(page)
    assert sorted(name for name, _ in requested) == ["events", "events", "outcomes", "queue", "utilisation"]
    assert all(set(params) <= {"bucket", "days", "window"} for _, params in requested), requested

    # The window switch asks again, for 7 days.
    with page.expect_response(lambda r: "/api/v1/stats/utilisation?window=7d" in r.url, timeout=5000):
        page.click('#chart-utilisation [aria-label="Window"] button:has-text("7 days")')
    page.wait_for_selector('.chart[data-chart="utilisation"][data-status="ok"][aria-busy="false"] .utilisation-row',
                           timeout=5000)
    assert page.get_attribute('#chart-utilisation button:has-text("7 days")', "aria-pressed") == "true"

    # Dark theme: the charts are drawn again in its colours, with no error.
    page.select_option(".theme-choice select", "dark")
    page.wait_for_function("document.documentElement.dataset.theme === 'dark'", timeout=3000)
    page.wait_for_selector('.chart[data-chart="events-hour"] canvas', timeout=5000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "charts-dark.png"))
    page.select_option(".theme-choice select", "light")
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "charts.png"))
    assert page.errors == [] and page.evaluate("window.__csp") == [], (page.errors, page.evaluate("window.__csp"))


def test_the_charts_follow_the_url_filters(lab, pages):
    page = pages()
    page.goto(lab.url + "/?view=charts&device_type=qemu&worker=charts-w-1")
    wait_for_charts(page)
    requested = stats_requests(page)
    assert len(requested) == 5, requested
    for name, params in requested:
        assert params["device_type"] == "qemu", (name, params)
        # The queue and outcomes statistics have no worker; the page says so rather than ignore it.
        assert ("worker" in params) == (name in ("events", "utilisation")), (name, params)
    assert "Not narrowed by worker" in page.inner_text('.chart[data-chart="queue"]')
    rows = page.eval_on_selector_all(".utilisation-row", "els => els.map((el) => el.dataset.deviceType)")
    assert rows == ["qemu"]

    # Several values of one key: one request per value, added up.
    page = pages()
    page.goto(lab.url + "/?view=charts&device_type=qemu,bbb")
    wait_for_charts(page)
    utilisation = [p for name, p in stats_requests(page) if name == "utilisation"]
    assert sorted(p["device_type"] for p in utilisation) == ["bbb", "qemu"]
    rows = page.eval_on_selector_all(".utilisation-row", "els => els.map((el) => el.dataset.deviceType)")
    assert rows == ["bbb", "qemu"]
    assert number_after("at most ", page.get_attribute('.chart[data-chart="queue"] .chart-box', "aria-label")) >= 1

    # Filters the statistics cannot follow are named; health is one.
    page = pages()
    page.goto(lab.url + "/?view=charts&health=Bad")
    wait_for_charts(page)
    assert "do not follow health" in page.inner_text(".charts-note")
    assert all("health" not in params for _, params in stats_requests(page))
    assert page.errors == [] and page.evaluate("window.__csp") == []


def test_a_devices_panel_shows_its_timeline(lab, pages):
    page = pages()
    page.goto(lab.url + "/?view=devices&detail=device:charts-qemu-01")
    page.wait_for_selector('#detail[data-kind="device"] .timeline-band', timeout=10000)
    bands = page.eval_on_selector_all("#detail .timeline-band", """els => els.map((el) => ({
        category: el.dataset.category, state: el.dataset.state, health: el.dataset.health,
        title: el.title, left: parseFloat(el.style.left), width: parseFloat(el.style.width)}))""")
    assert [b["category"] for b in bands] == CATEGORIES, bands
    assert [(b["state"], b["health"]) for b in bands] == [(s, h) for _, s, h in DEVICE_STEPS]
    assert all(f"{b['state']} / {b['health']}" in b["title"] for b in bands)
    # Placed in time: the last 50 minutes of 24 h, one after the other, the last up to now.
    assert 95 < bands[0]["left"] < 97.5 and abs(bands[-1]["left"] + bands[-1]["width"] - 100) < 0.1, bands
    assert all(abs(a["left"] + a["width"] - b["left"]) < 0.01 for a, b in zip(bands, bands[1:]))
    legend_text = page.inner_text("#device-timeline .category-legend")
    for category in ("Running", "Idle", "Bad", "Maintenance", "No record"):
        assert category in legend_text, legend_text

    with page.expect_response(lambda r: "/timeline?window=7d" in r.url, timeout=5000):
        page.click('#device-timeline button:has-text("7 days")')
    page.wait_for_function("""() => { const b = document.querySelector('#detail .timeline-band');
        return b && parseFloat(b.style.left) > 99; }""", timeout=5000)
    assert len(page.query_selector_all("#detail .timeline-band")) == len(CATEGORIES)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "device-timeline.png"))
    assert page.errors == [] and page.evaluate("window.__csp") == []


def test_a_jobs_panel_shows_its_path_through_the_states(lab, pages):
    page = pages()
    page.goto(lab.url + "/?view=jobs&detail=job:9101")
    page.wait_for_selector('#job-path .job-path-step', timeout=10000)
    steps = page.eval_on_selector_all("#job-path .job-path-step", "els => els.map((el) => el.innerText)")
    assert [s.split(" ", 1)[1].split()[0] for s in steps] == ["Submitted", "Scheduled", "Running", "Finished"], steps
    assert "Finished Complete" in steps[3]
    assert "(+3 s)" in steps[1] and "(+4 m 57 s)" in steps[2] and "(+2 m 00 s)" in steps[3], steps
    assert "on charts-qemu-01" in steps[1]
    assert "7 m 00 s" in page.inner_text("#job-path .job-path-total")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "job-path.png"))
    assert page.errors == [] and page.evaluate("window.__csp") == []


def test_without_a_store_the_charts_say_history_is_off(pages):
    app = AppProcess("--zmq", "tcp://127.0.0.1:9", "--no-store")
    try:
        page = pages()
        page.goto(app.url + "/?view=charts")
        wait_for_charts(page, status="off")
        for chart in CHARTS:
            assert "History is off" in page.inner_text(f'.chart[data-chart="{chart}"]')
        # 400 answers show in the console as failed loads; nothing else may.
        assert all("400" in e for e in page.errors), page.errors
        assert page.evaluate("window.__csp") == []
    finally:
        app.stop()


def test_the_chart_modules_in_the_browser(lab, pages):
    """The pure modules' tables (stats.js, timeline.js), run in Chromium itself."""
    page = pages()
    page.goto(lab.url + "/?view=devices")
    result = page.evaluate("""async () => {
      const s = await import('/static/js/stats.js');
      const t = await import('/static/js/timeline.js');
      const many = s.statsRequests('queue', {window: '24h'},
        {device_types: ['a', 'b', 'c'], submitters: ['x', 'y', 'z'], workers: ['w']});
      const both = s.statsRequests('outcomes', {days: 30}, {device_types: ['a', 'b'], submitters: ['x'], health: ['Bad']});
      return {
        many: [many.tooMany, many.urls.length, many.ignored],
        both: [both.urls, both.ignored],
        events: s.eventsColumns([{from: 7200.5, to: 18000, series: {worker: [[7200, 1]], device: [[10800, 2]]}},
                                 {from: 7200.5, to: 18000, series: {device: [[10800, 3], [14400, 1]]}}], 'hour'),
        util: s.mergeUtilisation([{device_types: {q: {seconds: 100, Running: 1, Idle: 0}}},
                                  {device_types: {q: {seconds: 300, Running: 0, Idle: 1}}}]).q,
        outcomes: s.outcomeColumns([{days: {'1970-01-02': {Complete: 2, Unknown: 1}}},
                                    {days: {'1970-01-02': {Complete: 1}, '1970-01-03': {Canceled: 4}}}], 3, 2.5 * 86400000),
        queue: s.queueColumns([{points: [[1, 0], [2, 3]]}, {points: [[1, 1], [2, 1]]}]),
        stacked: s.stack([[1, 2], [3, 4], [0, 1]]),
        bands: t.placeBands([{from: 0, to: 50, category: 'Idle'}, {from: 50, to: 250, category: 'Bad'}], 100, 200),
        totals: t.categoryTotals(t.placeBands([{from: 0, to: 30, category: 'Bad'}, {from: 30, to: 100, category: 'Running'}], 0, 100)),
        steps: t.jobSteps([{time: '2026-11-27T10:00:01Z', state: 'Submitted', health: 'Unknown'},
                           {time: '2026-11-27T10:00:02Z', state: 'Submitted', health: 'Unknown'},
                           {time: '2026-11-27T10:00:04Z', state: 'Scheduled', health: 'Unknown', device: 'q-1'},
                           {time: '2026-11-27T10:00:09Z', state: 'Running', health: 'Unknown', device: 'q-1'},
                           {time: '2026-11-27T10:02:09Z', state: 'Finished', health: 'Complete', device: 'q-1'},
                           {time: '2026-11-27T10:03:00Z', state: 'Finished', health: 'Complete', device: 'q-1', correction: true}]),
        corrected: t.jobSteps([{time: '2026-11-27T10:00:01Z', state: 'Running', health: 'Unknown'},
                               {time: '2026-11-27T10:05:00Z', state: 'Finished', health: 'Canceled', correction: true}])
          .map((s) => [s.state, s.correction]),
      };
    }""")
    assert result["many"] == [True, 0, ["workers"]]
    assert result["both"][1] == ["health"]
    assert [urllib.parse.parse_qsl(urllib.parse.urlsplit(u).query) for u in result["both"][0]] == [
        [("days", "30"), ("device_type", "a"), ("submitter", "x")],
        [("days", "30"), ("device_type", "b"), ("submitter", "x")]]
    events = result["events"]
    assert events["kinds"] == ["device", "worker"] and events["x"] == [9000, 12600, 16200, 19800]
    assert events["ys"] == [[0, 5, 1, 0], [1, 0, 0, 0]] and events["total"] == 7
    assert result["util"]["seconds"] == 400 and result["util"]["Running"] == 0.25 and result["util"]["Idle"] == 0.75
    outcomes = result["outcomes"]
    assert outcomes["outcomes"] == ["Complete", "Incomplete", "Canceled", "Unknown"]
    assert outcomes["x"] == [43200, 129600, 216000] and outcomes["ys"][0] == [0, 3, 0]
    assert outcomes["ys"][2] == [0, 0, 4] and outcomes["total"] == 8
    assert result["queue"] == {"x": [1, 2], "y": [1, 4], "max": 4}
    assert result["stacked"] == [[1, 2], [4, 6], [4, 7]]
    assert [(b["left"], b["width"], b["category"]) for b in result["bands"]] == [(0, 100, "Bad")]
    assert result["totals"] == [{"category": "Running", "seconds": 70, "share": 0.7},
                                {"category": "Bad", "seconds": 30, "share": 0.3}]
    steps = result["steps"]
    assert [(s["state"], s["delta"], s["device"], s["correction"]) for s in steps] == [
        ("Submitted", None, None, False), ("Scheduled", 3000, "q-1", False), ("Running", 5000, None, False),
        ("Finished", 120000, None, True)], "a correction folded into a step marks it"
    assert result["corrected"] == [["Running", False], ["Finished", True]]
    assert page.errors == []
