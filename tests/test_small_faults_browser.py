"""Small faults of issue 13 (item 6), each as a person would meet it, in Debian's Chromium against
the app fed by a real ZMQ publisher: one 24-hour time form, a filter value never seen warns,
health= narrows the feed's messages (on the server, so a busy lab's other messages do not push a
Bad device's out of the page's bounded feed), stale data framed on the board, not on the charts, and
faded nowhere, phone tabs all
reachable, "N canceled" readable (>= 4.5:1) in both themes; the filter fields' suggestions, and the
"just changed" mark an outline (no fill) on the desk and off on a wall.
"""
import pytest

from tests.helpers import AppProcess, LiveView, TestPublisher, wait_until
from tests.test_app_browser import device, job, open_page, send

CONTRAST = """(el) => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => { const v = c.map((x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  let bgEl = el; let bg = 'rgba(0, 0, 0, 0)';
  while (bgEl && (bg === 'rgba(0, 0, 0, 0)' || bg === 'transparent')) { bg = getComputedStyle(bgEl).backgroundColor; bgEl = bgEl.parentElement; }
  const a = lum(rgb(getComputedStyle(el).color)); const b = lum(rgb(bg));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.fixture
def lab():
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--access", "open")
    try:
        publisher.wait_for_subscriber()
        send(publisher, "device", "d1", device("qemu-01", "qemu", "w-1", "Running", "Good", job=10))
        send(publisher, "device", "d2", device("bbb-01", "bbb", "w-1", "Running", "Bad", job=11))
        send(publisher, "testjob", "j1", job(10, "qemu", "alice", "Running", "qemu-01", "w-1"))
        send(publisher, "testjob", "j2", job(11, "bbb", "alice", "Running", "bbb-01", "w-1"))
        send(publisher, "event", "e1", {"job": 10, "message": "message of the Good device"})
        send(publisher, "event", "e2", {"job": 11, "message": "message of the Bad device"})
        wait_until(lambda: len(app.json("/api/v1/state")["events"]) == 2, timeout=10, what="2 events")
        yield publisher, app
    finally:
        app.stop()
        publisher.close()


def test_small_faults(lab, browser):
    publisher, app = lab
    page = open_page(browser, width=1280, height=800)
    try:
        # One time form: 24-hour, local, ISO in the tooltip.
        page.goto(app.url + "/?detail=device:qemu-01")
        page.wait_for_selector("#connection[data-state=live]", timeout=10000)
        stamp = page.wait_for_selector('#detail [data-field="updated"] time', timeout=5000)
        assert page.evaluate("""() => { const t = document.querySelector('#detail [data-field="updated"] time');
          return /^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d/.test(t.textContent); }""")
        assert "T" in stamp.get_attribute("title") and "M" not in stamp.inner_text().split("(")[0]
        got = page.evaluate("""async () => { const t = await import('/static/js/time.js');
          return t.formatDateTime(new Date(2026, 10, 30, 16, 40, 57).getTime()); }""")
        assert got == "2026-11-30 16:40:57"

        # A device type never seen warns; a known one does not.
        page.goto(app.url + "/")
        page.wait_for_selector("[data-device]", timeout=10000)
        page.click("summary:has-text('Filters')") if page.is_visible("summary:has-text('Filters')") else None
        page.fill("#filter-device_type", "qemuu")
        page.press("#filter-device_type", "Enter")
        warning = page.wait_for_selector("#filter-device_type-warning", timeout=5000)
        assert "qemuu" in warning.inner_text()
        page.goto(app.url + "/?device_type=qemu")
        page.wait_for_selector("[data-device]", timeout=10000)
        page.fill("#filter-device_type", "bbb")
        page.press("#filter-device_type", "Enter")
        page.wait_for_function("() => location.search.includes('bbb')", timeout=5000)
        # Known values are learnt from what the page has received: a page loaded with qemu alone
        # learns bbb from the snapshot that the new filter brings, and the warning goes.
        page.wait_for_selector('[data-device="bbb-01"]', timeout=5000)
        page.wait_for_function("() => !document.querySelector('#filter-device_type-warning')", timeout=5000)

        # health=Bad: the feed keeps the Bad device's message, not the Good one's.
        page.goto(app.url + "/?health=Bad&view=feed")
        page.wait_for_selector("#connection[data-state=live]", timeout=10000)
        page.wait_for_selector("text=message of the Bad device", timeout=5000)
        assert "message of the Good device" not in page.inner_text("#feed")

        # Stale data frames the board (a dashed outline), never the charts (they come from the REST
        # API); nothing is faded (opacity and grayscale took the words under AA contrast).
        for view, framed in (("charts", False), ("all", True)):
            page.goto(app.url + f"/?view={view}")
            # The board once there: before its first snapshot the page shows a waiting <main>
            # (App.js), which is no board and has no frame (the test read that one now and then).
            page.wait_for_selector("#main:not(.waiting)", timeout=10000)
            # Marked and read in one task: no render in between sets the element's class anew.
            style = page.evaluate("""() => {
              document.getElementById('dashboard').classList.add('is-stale');
              const s = getComputedStyle(document.getElementById('main'));
              return [s.outlineStyle, s.opacity, s.filter]; }""")
            assert (style[0] == "dashed") == framed and style[1:] == ["1", "none"], (view, style)

        # "N canceled" (and every outcome counter) readable in both themes.
        for theme in ("light", "dark"):
            page.goto(app.url + f"/?theme={theme}")
            page.wait_for_selector('[data-counter="jobs-hour-Canceled"]', timeout=10000)
            for name in ("jobs-hour-Canceled", "jobs-hour-Complete", "workers-Offline", "device-health-Retired"):
                ratio = page.eval_on_selector(f'[data-counter="{name}"] .counter-word', CONTRAST)
                assert ratio >= 4.5, (theme, name, ratio)
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()

    phone = open_page(browser, width=375, height=740, is_mobile=True, has_touch=True)
    try:
        phone.goto(app.url + "/")
        phone.wait_for_selector(".view-tab", timeout=10000)
        tabs = phone.evaluate("""() => [...document.querySelectorAll('.view-tab')].map((el) => {
          const r = el.getBoundingClientRect(); return [el.textContent.trim(), r.left >= 0 && r.right <= innerWidth]; })""")
        names = [name for name, _ in tabs]
        assert {"Live feed", "Charts", "Alerts", "Reports"} <= set(names), names  # every view, the last ones too
        assert all(inside for _, inside in tabs), tabs
        assert phone.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    finally:
        phone.context.close()


def test_a_health_filter_keeps_the_bad_devices_messages_past_the_feeds_bound(lab, browser):
    """A Bad device's message, then 250 of a Good device's (more than the page's 200 feed rows):
    the server sends a health=Bad subscriber only the Bad device's, so none is pushed out."""
    publisher, app = lab
    view = LiveView(app.url, {"health": ["Bad"]}).connect()
    page = open_page(browser, width=1280, height=800)
    try:
        page.goto(app.url + "/?health=Bad&view=feed")
        page.wait_for_selector("#connection[data-state=live]", timeout=10000)
        send(publisher, "event", "bad-first", {"job": 11, "message": "first Bad message"})
        for i in range(250):
            send(publisher, "event", f"good-{i}", {"job": 10, "message": f"Good message {i}"})
        send(publisher, "event", "bad-last", {"job": 11, "message": "last Bad message"})
        wait_until(lambda: any(c["kind"] == "event" and c["data"]["message"] == "last Bad message"
                               for c in view.received), timeout=20, what="the last Bad message")
        events = [c["data"] for c in view.received if c["kind"] == "event"]
        assert [e["message"] for e in events] == ["first Bad message", "last Bad message"]
        assert all(e["device"] == "bbb-01" and e["device_health"] == "Bad" for e in events)
        page.wait_for_selector("#feed >> text=last Bad message", timeout=10000)
        feed = page.inner_text("#feed")
        assert "first Bad message" in feed and "message of the Bad device" in feed
        assert "Good message" not in feed and "message of the Good device" not in feed
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()
        view.close()


TILE_LOOK = """(el) => { const s = getComputedStyle(el);
  return {flash: el.classList.contains('tile-flash'), outline: s.outlineStyle, width: s.outlineWidth,
          fill: s.backgroundColor, image: s.backgroundImage, shadow: s.boxShadow}; }"""


def test_filter_suggestions_and_the_just_changed_mark(lab, browser):
    publisher, app = lab
    page = open_page(browser, width=1280, height=800)
    try:
        # Each filter field suggests the values the page has seen, through its own <datalist>.
        page.goto(app.url + "/")
        page.wait_for_selector("[data-device]", timeout=10000)
        suggestions = """() => Object.fromEntries([...document.querySelectorAll('.filter-field input[list]')].map((input) =>
          [input.id, [...document.getElementById(input.getAttribute('list')).options].map((o) => o.value)]))"""
        page.wait_for_function(f"() => ({suggestions})()['filter-submitter'].length > 0", timeout=15000)
        assert page.evaluate(suggestions) == {"filter-device_type": ["bbb", "qemu"], "filter-worker": ["w-1"],
                                              "filter-submitter": ["alice"]}
        # A value chosen is no longer suggested; the others are still (remembered from before).
        page.fill("#filter-device_type", "qemu")
        page.press("#filter-device_type", "Enter")
        page.wait_for_function("() => location.search.includes('device_type=qemu')", timeout=5000)
        page.wait_for_selector('[data-device="qemu-01"]', timeout=10000)
        page.wait_for_function(f"() => ({suggestions})()['filter-device_type'].join() === 'bbb'", timeout=5000)

        # "Just changed": an outline, never a fill, on the desk; nothing at all on a wall.
        wall = open_page(browser, width=1920, height=1080)
        try:
            for view, url, state in ((page, "/", "Idle"), (wall, "/?wall=1", "Running")):
                view.goto(app.url + url)
                view.wait_for_selector("#connection[data-state=live]", timeout=10000)
                tile = view.wait_for_selector('[data-device="qemu-01"]', timeout=10000)
                view.wait_for_timeout(300)
                send(publisher, "device", f"flash-{state}", device("qemu-01", "qemu", "w-1", state, "Good"))
                view.wait_for_selector(f'[data-device="qemu-01"][data-state="{state}"].tile-flash', timeout=5000)
                lit = tile.evaluate(TILE_LOOK)
                view.wait_for_selector(f'[data-device="qemu-01"][data-state="{state}"]:not(.tile-flash)', timeout=5000)
                after = tile.evaluate(TILE_LOOK)
                assert lit["flash"] and not after["flash"]
                # The same ground, image and shadow as once the mark is gone: no fill.
                assert {k: lit[k] for k in ("fill", "image", "shadow")} == {k: after[k] for k in ("fill", "image", "shadow")}
                if url == "/":
                    assert lit["outline"] == "dashed" and lit["width"] == "2px", lit
                    assert after["outline"] == "none", after
                else:
                    assert lit["outline"] == "none", lit
                    # A focused tile keeps its focus ring while it changes (an audit: it lost it).
                    tile.query_selector(".tile-open").focus()
                    send(publisher, "device", "flash-focused", device("qemu-01", "qemu", "w-1", "Idle", "Good"))
                    view.wait_for_selector('[data-device="qemu-01"][data-state="Idle"].tile-flash', timeout=5000)
                    focused = tile.evaluate(TILE_LOOK)
                    # (On a wall, a ring of 3 to 6 px: seen from across a room.)
                    assert focused["flash"] and focused["outline"] == "solid", focused
                    assert 3 <= float(focused["width"].removesuffix("px")) <= 6, focused
                assert view.errors == []
        finally:
            wall.context.close()
    finally:
        page.context.close()


def test_the_desks_side_feed_shows_fifty_rows_while_live_and_all_when_paused(lab, browser):
    """Past 50 changes the desk's side feed renders the newest 50 and says so (a busy lab would
    otherwise mount and unmount 200 rows on every render); Pause shows all of them, Resume says how
    many came meanwhile, and the note's link opens the Live feed view, which shows all."""
    publisher, app = lab
    page = open_page(browser, width=1280, height=800)
    try:
        page.goto(app.url + "/")
        page.wait_for_selector("#connection[data-state=live]", timeout=10000)
        assert page.query_selector(".feed-more") is None  # 2 feed items: all shown, nothing to say
        for i in range(80):
            send(publisher, "event", f"many-{i}", {"job": 10, "message": f"step {i}"})
        page.wait_for_selector("#feed >> text=step 79", timeout=15000)
        total = int(page.inner_text("#feed .panel-count"))
        assert total == 82  # the 80 messages, and the 2 of the snapshot
        assert page.eval_on_selector_all("#feed .feed-item", "els => els.length") == 50
        note = page.inner_text("#feed .feed-more")
        assert f"The newest 50 of {total} are shown while the feed is live" in note, note
        assert page.eval_on_selector("#feed .feed-more", CONTRAST) >= 4.5

        page.click("#feed .pause")
        assert page.eval_on_selector_all("#feed .feed-item", "els => els.length") == total
        assert page.query_selector(".feed-more") is None
        for i in range(3):
            send(publisher, "event", f"later-{i}", {"job": 10, "message": f"later {i}"})
        page.wait_for_selector("#feed .pause >> text=Resume (3 new)", timeout=10000)
        # Its words say what it does next; no pressed state beside them to contradict them (an
        # audit: "Resume (3 new), pressed").
        assert page.get_attribute("#feed .pause", "aria-pressed") is None
        assert "later 2" not in page.inner_text("#feed")  # paused: what is shown stays
        page.click("#feed .pause")
        page.wait_for_selector("#feed >> text=later 2", timeout=5000)
        assert page.eval_on_selector_all("#feed .feed-item", "els => els.length") == 50

        link = page.wait_for_selector("#feed .feed-more a", timeout=5000)
        assert "view=feed" in link.get_attribute("href")
        # A link in text is told apart by more than its colour.
        assert link.evaluate("(el) => getComputedStyle(el).textDecorationLine") == "underline"
        link.focus()
        page.keyboard.press("Enter")  # a link: the keyboard opens it too
        page.wait_for_function("() => location.search.includes('view=feed')", timeout=5000)
        # The link is gone with the note: the focus is on the view's tab, not lost to the page.
        assert page.evaluate("() => document.activeElement.dataset.viewTab") == "feed"
        page.wait_for_function(f"() => document.querySelectorAll('#feed .feed-item').length === {total + 3}",
                               timeout=5000)
        assert page.query_selector(".feed-more") is None
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()
