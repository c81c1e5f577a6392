"""The keyboard's focus stays on the same item while the live data moves it (an accessibility audit):
Preact moves a keyed element (a tile put first by `sort=problems`) or makes a new one (a job moving
from Queued to Running), and Chromium drops the focus to <body> either way. In Debian's Chromium,
against the app fed by a real ZMQ publisher: the focus follows the tile and the job; when the job
a details panel shows is gone, the focus goes to the panel's heading and the live region says so.
"""
import pytest

from tests.helpers import AppProcess, TestPublisher, wait_until
from tests.test_app_browser import device, job, open_page, send

# What has the focus: "body" when it fell, else the item (tile or job row) and the control.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return {on: 'body'};
  const item = el.closest('[data-focus-key], [data-device], [data-job]');
  return {on: el.id || el.className, item: item ? (item.dataset.device || item.dataset.job) : null,
    section: el.closest('section') ? el.closest('section').id : null};
}"""


@pytest.fixture
def lab():
    """A publisher and the app, which keeps a single finished job (so that finishing another one
    removes the first from the page)."""
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--max-finished-jobs", "1")
    try:
        publisher.wait_for_subscriber()
        for i in range(6):
            send(publisher, "device", f"d{i}", device(f"qemu-{i:02d}", "qemu", "w-1"))
        wait_until(lambda: len(app.json("/api/v1/state")["devices"]) == 6, what="6 devices")
        yield publisher, app
    finally:
        app.stop()
        publisher.close()


def focused(page):
    return page.evaluate(FOCUSED)


def test_a_focused_tile_keeps_the_focus_when_problems_first_moves_it(lab, browser):
    publisher, app = lab
    page = open_page(browser)
    try:
        page.goto(app.url + "/?sort=problems")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        page.wait_for_selector('[data-device="qemu-05"]', timeout=10000)
        last = page.evaluate("() => [...document.querySelectorAll('[data-device]')].pop().dataset.device")
        assert last == "qemu-05"  # the last tile, before it goes Bad
        page.focus('[data-device="qemu-05"] .tile-open')
        send(publisher, "device", "d5b", device("qemu-05", "qemu", "w-1", "Idle", "Bad"))
        page.wait_for_selector('[data-device="qemu-05"][data-health="Bad"]', timeout=10000)
        first = page.evaluate("() => document.querySelector('[data-device]').dataset.device")
        assert first == "qemu-05"  # it moved: problems first
        wait_until(lambda: focused(page)["item"] == "qemu-05", timeout=5, what="the focus on the moved tile")
        assert focused(page)["on"] == "tile-open"
        # And the keyboard goes on from there: Enter opens its details.
        page.keyboard.press("Enter")
        page.wait_for_selector('#detail[data-kind="device"][data-id="qemu-05"]', timeout=5000)
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()


def test_a_focused_job_keeps_the_focus_when_it_moves_from_queued_to_running(lab, browser):
    publisher, app = lab
    send(publisher, "testjob", "j1", job(1234, "qemu", "alice", state="Submitted"))
    wait_until(lambda: len(app.json("/api/v1/state")["jobs"]) == 1, what="job 1234")
    page = open_page(browser)
    try:
        page.goto(app.url + "/?view=jobs")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        page.wait_for_selector('#jobs-queued [data-job="1234"]', timeout=10000)
        page.focus('[data-job="1234"] .job-id')
        send(publisher, "testjob", "j1b", job(1234, "qemu", "alice", state="Running", device_name="qemu-01",
                                              worker="w-1"))
        page.wait_for_selector('#jobs-running [data-job="1234"]', timeout=10000)
        wait_until(lambda: focused(page)["item"] == "1234", timeout=5, what="the focus on job 1234")
        got = focused(page)
        assert got["section"] == "jobs-running" and "job-id" in got["on"], got
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()


def finish(publisher, uuid, job_id, device_name, end):
    data = job(job_id, "qemu", "alice", state="Finished", device_name=device_name, worker="w-1")
    data.update(health="Complete", end_time=f"2026-11-27T17:{end}:00+00:00")
    send(publisher, "testjob", uuid, data)


@pytest.mark.parametrize("where", ["panel", "list"])
def test_when_the_job_a_panel_shows_is_gone_the_focus_goes_to_its_heading_and_it_is_said(lab, browser, where):
    """Job 1300 running, its details open; the focus on its device's button in the panel (`panel`),
    or back on its row in the list (`list`). It finishes, then job 1301 finishes: the app keeps one
    finished job, so 1300 is gone from the page."""
    publisher, app = lab
    send(publisher, "testjob", "j0", job(1300, "qemu", "alice", state="Running", device_name="qemu-02",
                                         worker="w-1"))
    send(publisher, "testjob", "j1", job(1301, "qemu", "alice", state="Running", device_name="qemu-03",
                                         worker="w-1"))
    wait_until(lambda: len(app.json("/api/v1/state")["jobs"]) == 2, what="jobs 1300 and 1301")
    page = open_page(browser)
    try:
        page.goto(app.url + "/")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        page.focus('[data-job="1300"] .job-id')
        page.keyboard.press("Enter")
        page.wait_for_selector('#detail[data-kind="job"][data-id="1300"]', timeout=5000)
        wait_until(lambda: focused(page)["on"] == "detail-title", timeout=5, what="the focus in the panel")
        if where == "panel":
            page.focus('#detail [data-field="device"] button')
        else:
            page.focus('[data-job="1300"] .job-id')
        finish(publisher, "j0b", 1300, "qemu-02", "40")
        page.wait_for_selector('[data-job="1300"][data-state="Finished"]', timeout=10000)
        assert focused(page)["on"] != "body"
        finish(publisher, "j1b", 1301, "qemu-03", "41")
        page.wait_for_selector("#detail .detail-gone", timeout=10000)
        page.wait_for_selector('[data-job="1300"]', state="detached", timeout=10000)
        wait_until(lambda: focused(page)["on"] == "detail-title", timeout=5, what="the focus on the panel's heading")
        # Said in words, in the polite live region.
        region = page.evaluate("""() => { const el = document.getElementById('announcer');
          return el && {text: el.textContent, role: el.getAttribute('role')}; }""")
        assert region == {"text": "Job 1300 is no longer shown", "role": "status"}, region
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()


# Whether the focused element shows whole: within its nearest scrolling panel and the window.
FOCUSED_IN_VIEW = """() => {
  const el = document.activeElement;
  const r = el.getBoundingClientRect();
  let top = 0, bottom = window.innerHeight;
  for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    const y = getComputedStyle(p).overflowY;
    if ((y === 'auto' || y === 'scroll') && p.scrollHeight > p.clientHeight) {
      const b = p.getBoundingClientRect();
      top = Math.max(top, b.top); bottom = Math.min(bottom, b.bottom);
      break;
    }
  }
  return r.top >= top - 1 && r.bottom <= bottom + 1;
}"""


def test_a_focused_tile_moved_out_of_view_is_scrolled_back_into_it(browser):
    """A Bad board shown first (`sort=problems`) and focused goes back to its place, far below, when
    it is Good again: the focus follows it and the page scrolls it into view. One the person
    scrolled away from is left where it is."""
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint)
    page = open_page(browser, width=1024, height=600)
    try:
        publisher.wait_for_subscriber()
        for i in range(80):
            send(publisher, "device", f"d{i}", device(f"qemu-{i:02d}", "qemu", "w-1"))
        send(publisher, "device", "bad", device("qemu-79", "qemu", "w-1", "Idle", "Bad"))
        wait_until(lambda: len(app.json("/api/v1/state")["devices"]) == 80, what="80 devices")
        page.goto(app.url + "/?sort=problems")
        page.wait_for_selector('[data-device="qemu-79"][data-health="Bad"]', timeout=15000)
        assert page.evaluate("() => document.querySelector('[data-device]').dataset.device") == "qemu-79"
        page.focus('[data-device="qemu-79"] .tile-open')
        assert page.evaluate(FOCUSED_IN_VIEW)
        send(publisher, "device", "good", device("qemu-79", "qemu", "w-1", "Idle", "Good"))
        page.wait_for_selector('[data-device="qemu-79"][data-health="Good"]', timeout=10000)
        assert page.evaluate("() => [...document.querySelectorAll('[data-device]')].pop().dataset.device") \
            == "qemu-79"  # back at the end, below the fold
        wait_until(lambda: focused(page)["item"] == "qemu-79", timeout=5, what="the focus on the moved tile")
        wait_until(lambda: page.evaluate(FOCUSED_IN_VIEW), timeout=5, what="the focused tile in view")
        # Scrolled away by the person (the wheel, not the focus): a move does not bring it back.
        page.evaluate("() => window.scrollTo(0, 0)")
        page.evaluate("""() => { for (let p = document.activeElement.parentElement; p; p = p.parentElement)
                                   if (p.scrollTop) p.scrollTop = 0; }""")
        assert not page.evaluate(FOCUSED_IN_VIEW)
        # Ten new boards named to sort before it push it further down, out of view still.
        before = page.evaluate("() => document.activeElement.getBoundingClientRect().top")
        for i in range(10):
            send(publisher, "device", f"n{i}", device(f"qemu-05{chr(97 + i)}", "qemu", "w-1"))
        page.wait_for_selector('[data-device="qemu-05j"]', timeout=10000)
        wait_until(lambda: page.evaluate("() => document.activeElement.getBoundingClientRect().top") > before,
                   timeout=5, what="the focused tile moved down")
        assert focused(page)["item"] == "qemu-79"
        assert not page.evaluate(FOCUSED_IN_VIEW)  # left where the person put it
        assert page.errors == []
    finally:
        page.context.close()
        app.stop()
        publisher.close()


def test_a_focused_attention_item_keeps_the_focus_and_its_end_is_said(lab, browser):
    """An audit: the focus on an attention strip's item fell to <body> when the strip changed (a
    worse problem put first, the problem mended), and nothing was said. It stays on its item while
    the item is shown; once it is gone, it goes to the board and the live region says so."""
    publisher, app = lab
    send(publisher, "device", "b2", device("qemu-02", "qemu", "w-1", "Idle", "Bad"))
    send(publisher, "device", "b3", device("qemu-03", "qemu", "w-1", "Idle", "Bad"))
    page = open_page(browser)
    item = '.attention-item[data-kind="device"][data-id="qemu-02"] .attention-open'
    try:
        page.goto(app.url + "/")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        page.wait_for_selector(item, timeout=10000)
        page.focus(item)
        # A worse problem comes first: an Offline worker with a board of its own.
        send(publisher, "device", "d9", device("qemu-09", "qemu", "w-2"))
        send(publisher, "worker", "w2", {"hostname": "w-2", "state": "Offline", "health": "Active"})
        page.wait_for_selector('.attention-item[data-kind="worker"]', timeout=10000)
        assert page.evaluate("() => document.querySelector('.attention-item').dataset.kind") == "worker"
        assert page.evaluate("() => document.activeElement.closest('.attention-item')?.dataset.id") == "qemu-02"
        # Mended: the item is gone, the focus goes to the board, and it is said.
        send(publisher, "device", "g2", device("qemu-02", "qemu", "w-1", "Idle", "Good"))
        page.wait_for_selector('.attention-item[data-id="qemu-02"]', state="detached", timeout=10000)
        wait_until(lambda: page.evaluate("() => document.activeElement.id") == "main", timeout=5,
                   what="the focus on the board")
        assert page.inner_text("#announcer") == "qemu-02 (needs attention) is no longer shown"
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()


def test_words_said_in_the_same_moment_are_each_left_in_the_live_region_for_a_while(lab, browser):
    """Two things said at once (an alert firing as a focused item goes) used to share the one polite
    region: the second replaced the first within a frame, before a screen reader read it. Now each
    stays there at least 1.5 s (SAY_GAP_MS) before the next takes its place; the same words
    waiting twice are said once."""
    publisher, app = lab
    page = open_page(browser)
    try:
        page.goto(app.url + "/")
        page.wait_for_selector("#connection[data-state=live]", timeout=10000)
        page.evaluate("""async () => {
          const region = document.getElementById('announcer');
          window.__said = [];
          new MutationObserver(() => {
            if (region.textContent) window.__said.push([region.textContent, performance.now()]);
          }).observe(region, {childList: true, characterData: true, subtree: true});
          const f = await import('/static/js/focus.js');
          f.announce('Alert firing: qemu-01 is Bad');
          f.announce('Job 7 is no longer shown');
          f.announce('Job 7 is no longer shown');
        }""")
        page.wait_for_function("() => window.__said.length >= 2", timeout=10000)
        page.wait_for_timeout(2000)  # nothing more comes
        said = page.evaluate("window.__said")
        assert [text for text, _ in said] == ["Alert firing: qemu-01 is Bad", "Job 7 is no longer shown"]
        assert said[1][1] - said[0][1] >= 1400, said  # the first had its moment (a lower bound)
        assert page.errors == []
    finally:
        page.context.close()


def test_the_keyboard_s_focus_is_seen_and_kept_in_the_details_the_filters_and_the_feed(lab, browser):
    """A keyboard audit of the desk: the details' heading, where Enter puts the focus, showed no
    ring; Escape in the search box (which clears it) also closed the details and took the focus
    out of the box; "Clear filters" and a filter chip's remove button, each gone once used, left
    the focus on <body>; and a focused live feed row lost the focus to the feed's heading as new
    rows came, silently (its rows had no data-focus-key)."""
    publisher, app = lab
    page = open_page(browser, width=1280, height=800)
    tile = '.tile[data-device="qemu-01"] .tile-open'
    try:
        page.goto(app.url + "/")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        page.focus(tile)
        page.keyboard.press("Enter")
        page.wait_for_selector("#detail-title", timeout=10000)
        ring = page.evaluate("""() => { const el = document.activeElement, s = getComputedStyle(el);
          return [el.id, s.outlineStyle, parseFloat(s.outlineWidth)]; }""")
        assert ring[0] == "detail-title" and ring[1] != "none" and ring[2] >= 2, ring
        page.focus("#search")
        page.keyboard.type("qemu")
        page.keyboard.press("Escape")  # the field's own (Chromium clears a search box)
        assert page.query_selector("#detail") is not None, "Escape in the field closed the details"
        assert page.evaluate("() => document.activeElement.id") == "search"
        page.focus(tile)
        page.keyboard.press("Escape")  # elsewhere, it closes them as before
        page.wait_for_selector("#detail", state="detached", timeout=5000)

        page.goto(app.url + "/?health=Bad")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        page.evaluate("() => { const d = document.querySelector('details.filters, details'); if (d) d.open = true; }")
        page.focus("#filter-device_type")
        page.keyboard.type("qemu")
        page.keyboard.press("Enter")
        page.wait_for_selector(".filter-chip-remove", timeout=5000)
        page.focus(".filter-chip-remove")
        page.keyboard.press("Enter")
        page.wait_for_selector(".filter-chip-remove", state="detached", timeout=5000)
        wait_until(lambda: page.evaluate("() => document.activeElement.id") == "filter-device_type",
                   timeout=5, what="the focus in the field whose chip went")
        page.focus(".clear-filters")
        page.keyboard.press("Enter")
        page.wait_for_selector(".clear-filters", state="detached", timeout=5000)
        wait_until(lambda: page.evaluate("() => document.activeElement.id") == "filter-device_type",
                   timeout=5, what="the focus in the first filter once the filters were cleared")

        page.goto(app.url + "/")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        for i in range(3):  # (a change each: a feed row)
            send(publisher, "device", f"f{i}", device(f"qemu-0{i}", "qemu", "w-1", "Idle", "Maintenance"))
        page.wait_for_function("() => document.querySelectorAll('#feed .feed-item .feed-subject').length >= 3",
                               timeout=10000)
        page.focus("#feed .feed-item .feed-subject")
        key = page.evaluate("() => document.activeElement.closest('.feed-item').dataset.focusKey")
        assert key and key.startswith("feed:"), key
        for i in range(3, 6):  # new rows come above it
            send(publisher, "device", f"g{i}", device(f"qemu-0{i}", "qemu", "w-1", "Idle", "Maintenance"))
        page.wait_for_function(f"() => document.querySelector('#feed .feed-item').dataset.focusKey !== {key!r}",
                               timeout=10000)
        page.wait_for_timeout(500)
        assert page.evaluate("() => document.activeElement.closest('.feed-item')?.dataset.focusKey") == key
        assert page.errors == []
    finally:
        page.context.close()


# Where the focus is, against the details panel, once the browser has scrolled it into view and
# the page has moved it on: [which element, where] with where one of inside the panel, in the header,
# elsewhere and seen, or hidden (none of five points across its middle shows it: the panel, or
# another part of the page, is drawn there).
AGAINST_PANEL = """async () => {
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const el = document.activeElement, panel = document.getElementById('detail');
  const path = (n) => n.id || (n.parentElement ? path(n.parentElement) + '>' +
    [...n.parentElement.children].indexOf(n) : n.tagName);
  if (!el || el === document.body) return ['body', 'body'];
  if (panel.contains(el)) return [path(el), 'panel'];
  if (el.closest('.topbar')) return [path(el), 'header'];
  if (el.classList.contains('skip-link')) return [path(el), 'skip link'];  // (drawn above the panel)
  const r = el.getBoundingClientRect(), y = r.top + r.height / 2;
  const seen = [0.05, 0.25, 0.5, 0.75, 0.95].some((f) => {
    const top = document.elementFromPoint(r.left + f * r.width, y);
    return top && (top === el || el.contains(top));
  });
  return [path(el), seen ? 'page' : 'hidden: ' + (el.className || el.tagName)];
}"""


@pytest.mark.parametrize("width, height, scale, query, beside", [
    (1920, 1080, 1, "", True),  # a wide desk: the page laid out beside the panel
    (1280, 800, 1, "", False),  # a laptop's desk: the panel over the page's right side
    (640, 400, 2, "", False),  # the same at 200 %
    (640, 400, 2, "?view=workers", False),  # its workers' table, which scrolls sideways
    (390, 800, 1, "?view=workers", False),  # a phone: the panel is the whole width
    (1280, 720, 1, "?wall=1&view=workers", False),  # a wall keeps its board's size
], ids=["desk-wide", "desk", "desk-200%", "workers-200%", "phone-workers", "wall-workers"])
def test_the_details_never_hide_the_control_the_keyboard_is_on(lab, browser, width, height, scale,
                                                                  query, beside):
    """WCAG 2.4.11 (an audit: with the details open, Tab reached controls the fixed panel covered:
    4 stops of 70 at 1280×800, 32 at 200 %; a review: then slivers, and controls a table scrolled
    under it). Where there is room the page is laid out beside the panel; where there is not, the
    panel starts below the header and Tab, either way, passes over what it hides, what shows beside
    it still reached; closing gives the focus back to the tile."""
    publisher, app = lab
    for i in range(30):  # three workers' chips in the workers' table
        send(publisher, "device", f"more{i}", device(f"board-{i:02d}", "bbb", f"worker-{i % 3}"))
    wait_until(lambda: len(app.json("/api/v1/state")["devices"]) == 36, what="36 devices")
    page = open_page(browser, width=width, height=height, device_scale_factor=scale)
    try:
        page.goto(app.url + "/" + query)
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        opener = ('.worker-name >> nth=0' if "workers" in query else '.tile[data-device="qemu-01"] .tile-open')
        page.focus(opener)
        page.keyboard.press("Enter")
        page.wait_for_selector("#detail-title", timeout=10000)
        stops = {}
        for key in ("Tab", "Shift+Tab"):
            stops[key] = []
            for _ in range(40):
                page.keyboard.press(key)
                stops[key].append(page.evaluate(AGAINST_PANEL))
        every = stops["Tab"] + stops["Shift+Tab"]
        assert not [s for s in every if s[1].startswith("hidden")], every
        for key, seen in stops.items():  # each press moved the focus (never held in one place)
            assert all(a[0] != b[0] for a, b in zip(seen, seen[1:])), (key, seen)
        assert "panel" in [s[1] for s in every]
        geometry = page.evaluate("""() => ({panel: document.getElementById('detail').getBoundingClientRect().toJSON(),
          header: document.querySelector('.topbar').getBoundingClientRect().toJSON(),
          main: document.getElementById('main').getBoundingClientRect().toJSON()})""")
        if beside:
            assert geometry["main"]["right"] <= geometry["panel"]["left"] + 1, geometry
        else:
            assert geometry["panel"]["top"] >= geometry["header"]["bottom"] - 1, geometry
        if width >= 1280 and "wall" not in query:  # what shows beside the panel is still reached
            assert "page" in [s[1] for s in every], every
        if width < 500:  # a phone: Tab goes round the page's few controls it does not hide, the
            # skip link among them, either way (drawn above the panel; before, passed on the way)
            assert all("skip link" in [s[1] for s in seen] for seen in stops.values()), "\n".join(
                key + ": " + ", ".join(f"{s[0]} {s[1]}" for s in seen) for key, seen in stops.items())
        page.focus("#detail-title")  # (not in a field, whose Escape is its own)
        page.keyboard.press("Escape")
        page.wait_for_selector("#detail", state="detached", timeout=5000)
        assert page.evaluate("() => document.activeElement.closest('[data-focus-key]') !== null"), \
            "the focus back on the item that opened the details"
    finally:
        page.context.close()
