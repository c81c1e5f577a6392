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
        page.screenshot(path=str(ARTIFACTS / "reports-view.png"))
        assert errors == [], errors
    finally:
        context.close()
        app.stop()
        publisher.close()
