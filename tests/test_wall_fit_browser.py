"""The wall keeps a queued job's waiting time whole (Debian's Chromium, Playwright, the app as a
subprocess on 127.0.0.1, every wait bounded): an audit at 1280×800 found "waiting …" clipped beyond
its row in the wall's view=all. At 1280×800, 1920×1080 and 800×600 it lies whole inside its row,
its digits shown, while the device or type beside it is what gives way (its whole text in a
tooltip)."""
import time

import pytest

from tests.helpers import AppProcess, TestPublisher, utc_stamp, wait_until
from tests.test_alerts import device, frames
from tests.test_app_browser import open_page

# Before any page script: every layout-shift entry the browser reports (none follows an input here).
RECORD_SHIFTS = """
window.__shifts = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if (!e.hadRecentInput) window.__shifts.push({value: e.value,
      nodes: (e.sources || []).map((s) => s.node ? String(s.node.id || s.node.className || s.node.nodeName) : '')});
  }
}).observe({type: 'layout-shift', buffered: true});
"""

# A long device type: what a real lab's names are like, and what the time must not lose room to.
LONG_TYPE = "bcm2711-rpi-4-b-with-a-rather-long-device-type-name"
SIZES = [(1280, 800), (1920, 1080), (800, 600)]

# Each queued row's time: whole (no overflow of its own), inside its row, the row's own state word
# and device cut instead; and whether the jobs panel shows it.
QUEUED_TIMES = """() => {
  const body = document.querySelector('#jobs .panel-body') || document.querySelector('#jobs');
  const b = body.getBoundingClientRect();
  return [...document.querySelectorAll('.job-queued')].map((row) => {
    const t = row.querySelector('.job-time');
    const r = row.getBoundingClientRect();
    const tr = t.getBoundingClientRect();
    const where = row.querySelector('.job-device');
    return {job: row.dataset.job, text: t.textContent, scroll: t.scrollWidth, client: t.clientWidth,
      inside: tr.left >= r.left - 0.5 && tr.right <= r.right + 0.5 && tr.top >= r.top - 0.5 && tr.bottom <= r.bottom + 0.5,
      shown: tr.top >= b.top - 0.5 && tr.bottom <= b.bottom + 0.5 && tr.width > 0,
      where: where.textContent, whereTitle: where.title || where.getAttribute('aria-label') || ''};
  });
}"""


def send_jobs(publisher):
    """Two types of device, two jobs running, and six queued for two hours or more."""
    for i in range(1, 9):
        publisher.send(device(f"qemu-{i:02d}", "Good", state="Running" if i <= 2 else "Idle"))
    for i in range(1, 5):
        publisher.send(device(f"rpi-{i:02d}", "Good", dtype=LONG_TYPE))
    started = utc_stamp(time.time() - 600)
    for n, host in enumerate(["qemu-01", "qemu-02"]):
        publisher.send(frames("testjob", {"job": 100 + n, "state": "Running", "health": "Unknown",
                                          "device": host, "device_type": "qemu", "submit_time": started,
                                          "start_time": started, "description": "boot test", "submitter": "ci"}))
    for n in range(6):
        dtype = LONG_TYPE if n % 2 else "qemu"
        submitted = utc_stamp(time.time() - 2 * 3600 - 61 * n)
        publisher.send(frames("testjob", {"job": 90000 + n, "state": "Submitted", "health": "Unknown",
                                          "device_type": dtype, "submit_time": submitted, "priority": 50,
                                          "description": "a long description " * 4, "submitter": "kernelci"}))


@pytest.fixture
def jobs_lab():
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--no-store")
    try:
        publisher.wait_for_subscriber()
        send_jobs(publisher)
        wait_until(lambda: len(app.json("/api/v1/state")["jobs"]) == 8, timeout=15, what="8 jobs")
        yield app
    finally:
        app.stop()
        publisher.close()


@pytest.mark.parametrize("width,height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_a_queued_jobs_waiting_time_stays_whole_on_the_wall(jobs_lab, browser, width, height):
    page = open_page(browser, width=width, height=height)
    try:
        page.goto(jobs_lab.url + "/?wall=1&view=all")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        page.wait_for_function("() => document.querySelectorAll('.job-queued .job-time').length === 6", timeout=15000)
        page.wait_for_timeout(300)  # the fit and the clock settled
        rows = page.evaluate(QUEUED_TIMES)
        assert len(rows) == 6, rows
        for row in rows:
            assert any(c.isdigit() for c in row["text"]) and row["text"].startswith("waiting"), row
            assert "2 h" in row["text"], row  # the hours are there: "waiting 2 h 01 m"
            assert row["scroll"] <= row["client"] + 1, (width, row)  # not cut inside itself
            assert row["inside"], (width, row)  # nor by its row
            # What gives way instead: the device type, its whole text in its tooltip.
            assert row["whereTitle"] == row["where"] and row["where"].startswith("any "), row
        # The wall shows some of them, each whole (the others are below the panel's end, whole too).
        # At 800×600 the jobs panel's height goes to the queue per type (whose oldest wait is the
        # same figure) and the running jobs: the queued rows are all below its end.
        if height >= 800:
            assert any(row["shown"] for row in rows), (width, rows)
        assert page.errors == [], page.errors
    finally:
        page.context.close()
