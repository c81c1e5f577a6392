"""Long names (LAVA allows hostnames of some 200 characters; here 60 to 100), desk and wall, at
1280×800 and 1920×1080, in Debian's Chromium against the app fed by a real ZMQ publisher, with the
server's alerts firing about those devices. An audit found the wall's attention strip cutting the
status words off, the desk's panels scrolling sideways and the wall's `view=all` clipping a group
name. Now: no sideways scroll, the status words ("Bad", "Offline", "has been Bad", "Running")
whole and inside every box that clips them and the window, and a cut name still whole in its
tooltip and accessible name.
"""
import pytest

from tests.helpers import AppProcess, TestPublisher, wait_until
from tests.test_app_browser import device, job, open_page, send
from tests.test_wall_browser import CLIPPED

# 100 characters, differing at the end; a 70-character worker; a 60-character device type.
HOSTS = [f"lab-{'x' * 60}-bcm2711-rpi-4-b-long-device-name-{i:03d}" for i in range(12)]
WORKER = "worker-" + "y" * 63
OTHER_WORKER = "w-1"
TYPE = "type-" + "z" * 55
BAD = {0, 3, 5, 6, 8, 9, 11}  # more alerts than the wall's banner shows: the strip shows the others
ON_OFFLINE = {0, 1, 2}
SIZES = [(1280, 800), (1920, 1080)]

# Where `words` first appear in `root`'s text: "ok" if every box of them is inside the window
# (sideways; up and down too on a wall) and inside every ancestor that clips (hidden: both ways;
# a scrolling box: sideways only, as its content may be scrolled down to), else why not.
SHOWN = """([root, words, wall]) => {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  let text = '';
  while (walker.nextNode()) { nodes.push([walker.currentNode, text.length]); text += walker.currentNode.data; }
  const at = text.indexOf(words);
  if (at < 0) return `"${words}" not in "${text}"`;
  const place = (offset, end) => {
    for (const [node, start] of nodes) {
      if (offset < start + node.data.length || (end && offset === start + node.data.length)) return [node, offset - start];
    }
  };
  const range = document.createRange();
  range.setStart(...place(at, false));
  range.setEnd(...place(at + words.length, true));
  const rects = [...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0);
  if (!rects.length) return `"${words}" has no box`;
  const start = range.startContainer.parentElement;
  for (const r of rects) {
    if (r.left < -0.5 || r.right > innerWidth + 0.5) return `"${words}" outside the window sideways`;
    if (wall && (r.top < -0.5 || r.bottom > innerHeight + 0.5)) return `"${words}" outside the window`;
    for (let p = start; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
      const b = p.getBoundingClientRect();
      const scrolls = ['auto', 'scroll'].includes(s.overflowY);
      if (r.left < b.left - 0.5 || r.right > b.right + 0.5
          || (!scrolls && (r.top < b.top - 0.5 || r.bottom > b.bottom + 0.5))) {
        return `"${words}" cut by ${p.tagName}.${p.className}`;
      }
    }
  }
  return 'ok';
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    config = tmp_path_factory.mktemp("alerts") / "alerts.toml"
    config.write_text("[rules.device_bad]\nminutes = 0\n[rules.worker_offline]\nminutes = 0\n")
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--alerts-config", str(config), "--alerts-interval", "0.2")
    try:
        publisher.wait_for_subscriber()
        send(publisher, "worker", "w0", {"hostname": WORKER, "state": "Offline", "health": "Active"})
        send(publisher, "worker", "w1", {"hostname": OTHER_WORKER, "state": "Online", "health": "Active"})
        for i, host in enumerate(HOSTS):
            running = i == 4
            send(publisher, "device", f"d{i}", device(host, TYPE, WORKER if i in ON_OFFLINE else OTHER_WORKER,
                                                     "Running" if running else "Idle", "Bad" if i in BAD else "Good",
                                                     job=4242 if running else None))
        send(publisher, "testjob", "j1", job(4242, TYPE, "alice", "Running", HOSTS[4], OTHER_WORKER))
        send(publisher, "testjob", "j2", job(4243, TYPE, "alice", "Submitted"))
        wait_until(lambda: len(app.json("/api/v1/state")["devices"]) == len(HOSTS), timeout=15, what="every device")
        # Each Bad device and the worker.
        wait_until(lambda: len(app.json("/api/v1/alerts?status=firing")["alerts"]) == len(BAD) + 1, timeout=20,
                   what="the alerts firing")
        yield app
    finally:
        app.stop()
        publisher.close()


def open_at(browser, app, width, height, query):
    page = open_page(browser, width=width, height=height)
    page.goto(app.url + "/" + query)
    page.wait_for_selector("#connection[data-state=live]", timeout=15000)
    page.wait_for_function(f"() => document.querySelectorAll('[data-device]').length === {len(HOSTS)}"
                           " || !document.querySelector('.panel-devices')", timeout=15000)
    if "wall" in query:
        page.wait_for_selector("#alert-banner .alert-banner-line", timeout=15000)
        page.wait_for_function("() => !document.querySelector('.panel-devices')"
                               " || document.querySelector('.device-groups.is-fit') !== null", timeout=5000)
    else:
        page.wait_for_selector(".attention-item", timeout=15000)
    page.wait_for_timeout(800)
    return page


def shown(page, selector, words, wall):
    """Every element of `selector`: "ok" or why `words` are not shown whole."""
    return page.evaluate(f"""(arg) => [...document.querySelectorAll(arg.selector)].map((el) => ({SHOWN})([el, arg.words, arg.wall]))""",
                         {"selector": selector, "words": words, "wall": wall})


def no_sideways_scroll(page):
    return page.evaluate("""() => {
      const doc = document.documentElement;
      const boxes = [...document.querySelectorAll('.panel-body, .detail-panel, .attention, .topbar')]
        .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => `${el.className}: ${el.scrollWidth}>${el.clientWidth}`);
      return {page: doc.scrollWidth <= doc.clientWidth ? 'ok' : `${doc.scrollWidth}>${doc.clientWidth}`, boxes};
    }""")


@pytest.mark.parametrize("width, height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("query", ["?", "?view=devices", "?view=jobs", "?view=workers",
                                   "?detail=worker:" + WORKER, f"?detail=device:{HOSTS[0]}"])
def test_the_desk_never_scrolls_sideways_and_keeps_the_status_words_whole(lab, browser, width, height, query):
    page = open_at(browser, lab, width, height, query)
    try:
        assert no_sideways_scroll(page) == {"page": "ok", "boxes": []}
        # The attention strip: the health or the state after each name, whole; the name whole in
        # the button's tooltip and accessible name (the button's text, which CSS only cuts).
        for kind, words in (("device", " Bad "), ("worker", " Offline ")):
            got = shown(page, f".attention-item[data-kind={kind}] .attention-text", words.strip(), False)
            assert got and set(got) == {"ok"}, (kind, got)
        names = page.evaluate("""() => [...document.querySelectorAll('.attention-open')].map((b) =>
          [b.title, b.textContent.replace(/^\\W+/, '').trim()])""")
        assert names and all(title == text for title, text in names), names
        assert any(HOSTS[3] in title for title, _ in names) and any(WORKER in title for title, _ in names), names
        if "view=jobs" in query or query == "?":
            assert set(shown(page, '[data-job="4242"] .job-word', "Running", False)) == {"ok"}
        if "view=workers" in query or query == "?":
            assert set(shown(page, f'[data-worker="{WORKER}"] .worker-state', "Offline", False)) == {"ok"}
            label = page.get_attribute(f'[data-worker="{WORKER}"] .worker-name', "aria-label")
            assert label.startswith(f"{WORKER}: Offline"), label
        if query in ("?", "?view=devices"):
            got = shown(page, ".tile-alert .tile-health-word", "Bad", False)
            assert len(got) == len(BAD) and set(got) == {"ok"}, got
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()


@pytest.mark.parametrize("width, height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("query", ["?wall=1", "?wall=1&view=all", "?wall=1&view=jobs", "?wall=1&view=workers"])
def test_the_wall_keeps_the_status_words_whole_and_clips_nothing(lab, browser, width, height, query):
    page = open_at(browser, lab, width, height, query)
    try:
        assert no_sideways_scroll(page)["page"] == "ok"
        # The banner's lines and the strip's items: what is wrong, whole, on the screen; names cut.
        lines = shown(page, "#alert-banner .alert-banner-line", "has been", True)
        assert lines and set(lines) == {"ok"}, lines
        items = page.evaluate("""() => [...document.querySelectorAll('.attention-item')].map((el) => el.dataset.kind)""")
        assert items, "the strip shows nothing: the test would mean nothing"
        for kind, words in (("device", "Bad"), ("worker", "Offline")):
            got = shown(page, f".attention-item[data-kind={kind}]:not([data-alert]) .attention-text", words, True)
            got += shown(page, f".attention-item[data-kind={kind}][data-alert] .attention-text", "has been", True)
            assert set(got) <= {"ok"}, (kind, got)
        titles = page.evaluate("() => [...document.querySelectorAll('.attention-open, .alert-banner-line')].map((el) => el.title)")
        assert all(any(name in t for name in HOSTS + [WORKER]) for t in titles), titles
        # Tiles, group names, counters: nothing cut (the wall tests' own check), also at 1280×800.
        assert page.evaluate(CLIPPED) == [], page.evaluate(CLIPPED)
        if "view=jobs" in query or "view=all" in query:
            assert set(shown(page, '[data-job="4242"] .job-word', "Running", True)) == {"ok"}
        if "view=workers" in query:  # (sideways: a wall's list shows the rows that fit its panel)
            assert set(shown(page, f'[data-worker="{WORKER}"] .worker-state', "Offline", False)) == {"ok"}
            assert set(shown(page, ".chip-health", "Bad", False)) == {"ok"}
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()
