"""The Reports view as a person sees it: a row per board from the stored transitions, sortable,
with a sparkline of availability per day, and CSV and JSON links for the same period."""
import re

from tests.helpers import ROOT, AppProcess, TestPublisher, wait_until
from tests.test_alerts import device

ARTIFACTS = ROOT / "test-artifacts"


def test_reports_view_shows_sortable_rows_and_exports(browser):
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        publisher.wait_for_subscriber()
        for host, health in (("qemu-01", "Good"), ("qemu-02", "Bad")):
            publisher.send(device(host, health))
        wait_until(lambda: app.json("/healthz")["store"]["written"] >= 2, timeout=15,
                   what="events stored")
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(app.url + "/?view=reports")
        page.wait_for_selector('[data-report-row="qemu-02"]', timeout=15000)
        assert page.inner_text('[data-report-row="qemu-01"] [data-field="availability"]').startswith("100.0 %")
        assert page.inner_text('[data-report-row="qemu-02"] [data-field="availability"]').startswith("0.0 %")
        # A new user's walk-through read "100.0 %" over 30 days as a month's figure, after minutes:
        # each row says how long it is known, and the view says the figures cover that time only.
        known = page.inner_text('[data-report-row="qemu-01"] [data-field="known_hours"]')
        assert float(known) < 1.0, known
        coverage = page.inner_text(".report-coverage")
        # (A new user's walk-through read "at most 0.0 h" beside "100.0 %": under an hour, minutes.)
        assert re.match(r"Known for (less than a minute|at most [1-9]\d? min) of this period's 72\d h: "
                        r"each row's figures cover only its known hours", coverage), coverage
        # Each row's availability per day: a bar for the one day known, in words as well.
        spark = '[data-report-row="qemu-02"] [data-field="days"] svg'
        label = page.get_attribute(spark, "aria-label")
        assert re.fullmatch(r"Availability per day over \d+ days: lowest 0\.0 % on \d{4}-\d\d-\d\d, "
                            r"highest 0\.0 % on \d{4}-\d\d-\d\d, \d+ not known", label), label
        assert page.locator(f"{spark} rect.low").count() == 1
        assert page.locator('[data-report-row="qemu-01"] [data-field="days"] svg rect:not(.low)').count() == 1
        first = lambda: page.get_attribute(".report-table tbody tr", "data-report-row")  # noqa: E731
        assert first() == "qemu-02"  # by availability, the worst board first
        page.click('button[data-sort="availability"]')
        assert first() == "qemu-01"
        page.click('button[data-sort="name"]')
        assert first() == "qemu-01"
        csv_href = page.get_attribute('a[href^="/export/reports.csv"]', "href")
        status, headers, body = app.get(csv_href)
        assert status == 200 and headers["Content-Type"].startswith("text/csv")
        assert body.splitlines()[0].startswith("device,availability,utilisation")
        page.select_option("#report-group", "device_type")
        page.wait_for_selector('[data-report-row="qemu"]', timeout=10000)
        # A type's known hours are its boards' together (a review: ten boards known for three
        # days made "720 h" of a 30-day period): said so, and no coverage drawn from them.
        assert "Board-hours known" in page.inner_text(".report-table thead")
        assert page.query_selector(".report-coverage") is None
        page.screenshot(path=str(ARTIFACTS / "reports-view.png"))
        assert errors == [], errors
    finally:
        context.close()
        app.stop()
        publisher.close()


# The view's panel, its scrolling region and the page's footer, measured in one task.
MEASURE_PANEL = """(panel) => {
  const view = document.querySelector(panel);
  const region = view.querySelector('.panel-body');
  const footer = document.querySelector('#access-note');
  const box = (el) => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom}; };
  return {panel: box(view), footer: box(footer), windowH: innerHeight, docH: document.documentElement.scrollHeight,
    region: region && {box: box(region), scrollH: region.scrollHeight, clientH: region.clientHeight,
      overflowY: getComputedStyle(region).overflowY, tabindex: region.getAttribute('tabindex'),
      role: region.getAttribute('role'), name: region.getAttribute('aria-label')
        || (region.getAttribute('aria-labelledby') && document.getElementById(region.getAttribute('aria-labelledby'))
          && document.getElementById(region.getAttribute('aria-labelledby')).textContent)}};
}"""


def assert_scrolls_inside_its_panel(page, panel, last_row):
    """At a desk size the panel ends above the footer and its content scrolls in its own region,
    by the keyboard too: focused, End reaches the last row, inside the region."""
    got = page.evaluate(MEASURE_PANEL, panel)
    assert got["panel"]["bottom"] <= got["footer"]["top"] + 0.5, got
    assert got["footer"]["bottom"] <= got["windowH"] + 0.5 and got["docH"] <= got["windowH"], got
    region = got["region"]
    assert region is not None, got
    assert region["scrollH"] > region["clientH"] and region["overflowY"] in ("auto", "scroll"), got
    assert region["tabindex"] == "0" and region["role"] == "region" and region["name"], got
    page.focus(f"{panel} .panel-body")
    page.keyboard.press("End")
    page.wait_for_function("""([panel, row]) => {
      const region = document.querySelector(panel + ' .panel-body');
      const r = document.querySelector(row).getBoundingClientRect(), b = region.getBoundingClientRect();
      return region.scrollTop > 0 && r.bottom <= b.bottom + 0.5 && r.top >= b.top - 0.5;
    }""", arg=[panel, last_row], timeout=5000)


def test_a_long_report_scrolls_inside_its_panel_above_the_footer(browser):
    """A new user's walkthrough: at 1440×900 the report's table (1,466 px of it) spilled out of its
    601 px panel over the page's footer; the desk layout scrolls only a panel's .panel-body."""
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        publisher.wait_for_subscriber()
        hosts = [f"qemu-{i:02d}" for i in range(60)]
        for i, host in enumerate(hosts):
            publisher.send(device(host, "Bad" if i % 7 == 0 else "Good"))
        wait_until(lambda: app.json("/healthz")["store"]["written"] >= len(hosts), timeout=15,
                   what="events stored")
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(app.url + "/?view=reports")
        page.wait_for_function(f"() => document.querySelectorAll('[data-report-row]').length === {len(hosts)}",
                               timeout=15000)
        page.wait_for_selector("#access-note", timeout=5000)
        page.click('button[data-sort="name"]')  # qemu-59 last
        assert_scrolls_inside_its_panel(page, "#reports-view", '[data-report-row="qemu-59"]')
        assert errors == [], errors
    finally:
        context.close()
        app.stop()
        publisher.close()
