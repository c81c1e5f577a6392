"""Panels made narrow by the screen, in Debian's Chromium (found by an audit): a finished job's
device keeps its name on the desk at 1280×800 (a long "took … · time" squeezed it to 0 px), and a
wall's live feed at view=all on 800×600 (about 140 px wide) wraps each entry whole instead of
setting its text one letter a line past the panel's edge."""
import pytest

from tests.helpers import AppProcess, TestPublisher, wait_until
from tests.test_app_browser import device, open_page, send


@pytest.fixture(scope="module")
def lab():
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--no-store")
    try:
        publisher.wait_for_subscriber()
        send(publisher, "worker", "w1", {"hostname": "w-1", "state": "Online", "health": "Active"})
        for i in range(1, 9):
            host = f"docker-{i:02d}"
            send(publisher, "device", f"d{i}", device(host, "docker", "w-1"))
            send(publisher, "testjob", f"j{i}", {
                "job": 22700 + i, "state": "Finished", "health": "Complete", "description": "ltp fs",
                "priority": 50, "submitter": "ci-bot", "device_type": "docker", "device": host,
                "worker": "w-1", "submit_time": "2026-11-27T17:00:00+00:00",
                "start_time": "2026-11-27T17:00:05+00:00", "end_time": "2026-11-27T17:12:35+00:00"})
        wait_until(lambda: len(app.json("/api/v1/state")["jobs"]) == 8, timeout=15, what="8 finished jobs")
        yield publisher, app
    finally:
        app.stop()
        publisher.close()


def test_a_finished_jobs_device_keeps_its_name_on_a_1280_desk(lab, browser):
    publisher, app = lab
    page = open_page(browser, width=1280, height=800)
    try:
        page.goto(app.url + "/")
        page.wait_for_selector(".job-section-finished .job-device", state="attached", timeout=15000)
        got = page.evaluate("""() => [...document.querySelectorAll('.job-section-finished .job-row')].map((row) => {
          const device = row.querySelector('.job-device'), time = row.querySelector('.job-time');
          const r = row.getBoundingClientRect(), t = time.getBoundingClientRect();
          return {device: device.textContent, whole: device.scrollWidth <= device.clientWidth + 1,
                  width: device.getBoundingClientRect().width, timeInside: t.right <= r.right + 0.5};
        })""")
        assert len(got) == 8, got
        for row in got:  # the whole name (9 letters here), and the time on the row
            assert row["whole"] and row["width"] > 30 and row["timeInside"], row
        assert page.errors == []
    finally:
        page.context.close()


def test_a_narrow_wall_feed_wraps_each_entry_whole(lab, browser):
    publisher, app = lab
    page = open_page(browser, width=800, height=600)
    try:
        page.goto(app.url + "/?wall=1&view=all")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        send(publisher, "device", "d-late", device("docker-01", "docker", "w-1", "Reserved"))
        page.wait_for_selector(".feed-item .feed-text", state="attached", timeout=15000)
        got = page.evaluate("""() => {
          const panel = document.querySelector('.panel-feed').getBoundingClientRect();
          return [...document.querySelectorAll('.feed-item')].slice(0, 5).map((item) => {
            const text = item.querySelector('.feed-text'), subject = item.querySelector('.feed-subject');
            const t = text.getBoundingClientRect(), s = subject && subject.getBoundingClientRect();
            return {width: t.width, panel: panel.width, inside: t.right <= panel.right + 0.5
                    && (!s || s.right <= panel.right + 0.5), lines: t.height / parseFloat(getComputedStyle(text).lineHeight)};
          });
        }""")
        assert got and got[0]["panel"] < 300, got  # the narrow case this is about
        for entry in got:  # the text as wide as the entry, never a letter a line, nothing past the edge
            assert entry["width"] > 0.8 * (entry["panel"] - 30) and entry["inside"] and entry["lines"] <= 3, entry
        assert page.errors == []
    finally:
        page.context.close()
