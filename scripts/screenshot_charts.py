"""docs/screenshots/charts.png: the Charts view over a week of a synthetic lab's history.

The charts test's own screenshot (tests/test_charts_browser.py) shows an hour of events, so its
curves are sparse. This fills a fresh store with a week of bench/store.py's synthetic lab (500
boards changing state and health, jobs flowing, test-shell messages), starts the app on it with a
ZMQ source on 127.0.0.1 that sends nothing, and takes the Charts view in Debian's Chromium at
1280x860, the utilisation over 7 days.

    python scripts/screenshot_charts.py                  # writes docs/screenshots/charts.png
    python scripts/screenshot_charts.py --out /tmp/c.png --events 20000
"""
import argparse
import pathlib
import shutil
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.store import write  # noqa: E402
from dashboard.storage.store import EventStore  # noqa: E402
from tests.helpers import CHROMIUM, CHROMIUM_ARGS, AppProcess, TestPublisher  # noqa: E402

CHARTS = ["events-hour", "events-day", "outcomes", "utilisation", "queue"]
DAYS = 7


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=60_000,
                        help=f"messages over the last {DAYS} days (default 60,000)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "charts.png"))
    args = parser.parse_args()
    if not 1 <= args.events <= 1_000_000:
        parser.error("--events must be between 1 and 1,000,000")
    from playwright.sync_api import sync_playwright

    data_dir = tempfile.mkdtemp(prefix="charts-shot-")
    publisher = app = None
    try:
        store = EventStore(str(pathlib.Path(data_dir) / "events.sqlite3"))
        write(store, args.events, time.time() - 60, days=DAYS)
        store.close()
        publisher = TestPublisher()
        app = AppProcess("--zmq", publisher.endpoint, "--data-dir", data_dir)
        publisher.wait_for_subscriber()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                page.goto(app.url + "/?view=charts", wait_until="networkidle")
                for chart in CHARTS:
                    page.wait_for_selector(f'.chart[data-chart="{chart}"][data-status="ok"]',
                                           timeout=20000)
                page.click('#chart-utilisation [aria-label="Window"] button:has-text("7 days")')
                page.wait_for_selector('.chart[data-chart="utilisation"][data-status="ok"]'
                                       '[aria-busy="false"] .utilisation-row', timeout=20000)
                page.wait_for_timeout(500)  # the canvases drawn at their final size
                page.screenshot(path=args.out)
            finally:
                browser.close()
        print(f"wrote {args.out} ({args.events} events over {DAYS} days)")
    finally:
        if app is not None:
            app.stop()
        if publisher is not None:
            publisher.close()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
