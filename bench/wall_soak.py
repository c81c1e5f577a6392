"""Wall soak: does a wall display's page keep its memory bounded over a long run in Debian's Chromium?
Prints JSON.

The app (a subprocess on 127.0.0.1, its simulated lab at `--sim-speed`, a temporary data dir) is
shown by one page per view (`--views`: `wall` is /?wall=1, `wall-rotate` /?wall=1&rotate=N (N is
`--rotate`; the page takes 5 to 3600 s), `desk` is /), each in its own browser context at
1920x1080. Every `--sample` seconds for `--duration` seconds, for each page: a forced garbage
collection (DevTools HeapProfiler.collectGarbage), then the JS heap in use (Performance.getMetrics
JSHeapUsedSize), the DOM counters (Memory.getDOMCounters: documents, nodes, JS event listeners) and
the page's own `window.lavaDashboard.stats` (renders, messages, snapshots); and the app's RSS. The
baseline, in the same run, is the first sample after the warm-up (`--warmup` seconds): each figure
is reported at the warm-up, at the end, its maximum, the ratio end/warm-up and its slope per hour
(least squares over the samples from the warm-up on).

    python bench/wall_soak.py --duration 1200 --warmup 120 --sample 30 --sim-speed 20 --rotate 30
"""
import argparse
import contextlib
import datetime as dt
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import psutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.browser import LAYOUTS, heap_mb  # noqa: E402
from bench.soak import children_rss, slope_mb_per_hour  # noqa: E402
from tests.helpers import CHROMIUM, CHROMIUM_ARGS, AppProcess, wait_until  # noqa: E402

# The page's counters, the view it shows (a rotating wall moves on) and the last change it applied.
PAGE_STATS = """() => {
  const s = window.lavaDashboard.stats;
  const board = document.querySelector('.dashboard');
  const shown = board && board.className.match(/\\bview-([\\w-]+)/);
  const app = document.getElementById('app');
  return { renders: s.renders, messages: s.messages, changes: s.changes, snapshots: s.snapshots,
           catchups: s.catchups, view: shown ? shown[1] : null,
           seq: Number((app && app.getAttribute('data-seq')) || 0) };
}"""
KEEP_ERRORS = 20  # page errors kept per page (all are counted)
SETUP_ALLOWANCE = 300  # seconds past --duration after which the run is stopped as if by Ctrl-C


def utc_now():
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def view_paths(rotate):
    return {**LAYOUTS, "wall-rotate": f"{LAYOUTS['wall']}&rotate={rotate:g}"}


class View:
    """One page in a browser context of its own, with a DevTools session on it."""

    def __init__(self, browser, url, name, path):
        self.name, self.path = name, path
        self.errors, self.error_count, self.crashed = [], 0, False
        self.context = browser.new_context(viewport={"width": 1920, "height": 1080})
        self.page = self.context.new_page()
        self.page.on("pageerror", self._error)
        self.page.on("crash", lambda *_: setattr(self, "crashed", True))
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable", {"timeDomain": "timeTicks"})
        self.page.goto(url + path)
        self.page.wait_for_function("() => window.lavaDashboard && window.lavaDashboard.stats.snapshots > 0",
                                    timeout=60000)

    def _error(self, exc):
        self.error_count += 1
        if len(self.errors) < KEEP_ERRORS:
            self.errors.append(str(exc)[:500])

    def sample(self):
        """Collect garbage first: what is left is what the page holds on to."""
        heap = heap_mb(self.cdp)
        dom = self.cdp.send("Memory.getDOMCounters")
        return {"heap_mb": heap, "documents": dom["documents"], "nodes": dom["nodes"],
                "listeners": dom["jsEventListeners"], **self.page.evaluate(PAGE_STATS)}


def take_sample(start, app_proc, views):
    sample = {"t": round(time.monotonic() - start, 1)}
    sample["pages"] = {v.name: v.sample() for v in views}
    sample["app_rss_mb"] = round(app_proc.memory_info().rss / 2**20, 1)
    sample["app_children_rss_mb"] = round(children_rss(app_proc) / 2**20, 1)
    return sample


def soak(views, app_proc, duration, every, log):
    """Samples every `every` s for `duration` s (at most duration/every + 1 of them), into `log`.
    Returns why it stopped early (Ctrl-C, the browser gone), or None."""
    from playwright.sync_api import Error

    start = time.monotonic()
    try:
        for k in range(int(duration // every) + 1):
            wait = start + k * every - time.monotonic()
            if wait > 0:
                views[0].page.wait_for_timeout(wait * 1000)  # lets Playwright handle the pages' events
            log.append(take_sample(start, app_proc, views))
            print(f"wall_soak: t={log[-1]['t']}s " + " ".join(
                f"{name}={p['heap_mb']}MB/{p['nodes']}n/{p['listeners']}l"
                for name, p in log[-1]["pages"].items()), file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        return "interrupted"
    except Error as exc:  # Ctrl-C reaches Playwright's driver too: it closes the browser and exits
        return f"browser: {str(exc).splitlines()[0][:200]}"
    return None


def figure(points, warmup):
    """A series of (t, value): at the warm-up, at the end, max, end/warm-up, slope per hour."""
    if not points:
        return None
    after = [(t, v) for t, v in points if t >= warmup]
    base, end = (after[0][1] if after else None), points[-1][1]
    return {"warmup": base, "end": end, "max": max(v for _, v in points),
            "end_over_warmup": round(end / base, 3) if base else None,
            "per_hour": slope_mb_per_hour(after)}


def report(samples, views, warmup):
    def series(key, name=None):
        return [(s["t"], s["pages"][name][key] if name else s[key]) for s in samples
                if name is None or name in s["pages"]]

    pages = {}
    for v in views:
        after = [s["pages"][v.name] for s in samples if s["t"] >= warmup and v.name in s["pages"]]
        pages[v.name] = {
            "path": v.path,
            "heap_mb": figure(series("heap_mb", v.name), warmup),
            "dom_nodes": figure(series("nodes", v.name), warmup),
            "js_event_listeners": figure(series("listeners", v.name), warmup),
            "documents": figure(series("documents", v.name), warmup),
            "after_warmup": {k: after[-1][k] - after[0][k] for k in ("renders", "messages", "snapshots")}
            if after else None,
            "views_shown": sorted({p["view"] for p in after if p["view"]}),
            # A rotating wall's DOM follows the view shown: its nodes compared view by view.
            "dom_nodes_by_view": {shown: figure([(s["t"], s["pages"][v.name]["nodes"]) for s in samples
                                                 if s["pages"].get(v.name, {}).get("view") == shown], warmup)
                                  for shown in sorted({p["view"] for p in after if p["view"]})},
            "page_errors": v.error_count, "first_page_errors": v.errors, "crashed": v.crashed,
        }
    return {"pages": pages, "app_rss_mb": figure(series("app_rss_mb"), warmup),
            "app_children_rss_mb": figure(series("app_children_rss_mb"), warmup)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=1200.0, help="seconds of sampling")
    parser.add_argument("--warmup", type=float, default=120.0,
                        help="seconds before the baseline (the first sample at or after it)")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--views", default="wall,wall-rotate,desk", help="of " + ", ".join(view_paths(30)))
    parser.add_argument("--rotate", type=float, default=30.0, help="seconds per view of wall-rotate")
    parser.add_argument("--sim-speed", type=float, default=20.0, help="how many times faster the simulated lab lives (its clock stays real time)")
    parser.add_argument("--sim-devices", type=int, default=50, help="devices in the simulated lab")
    parser.add_argument("--app-arg", action="append", default=[],
                        help="another argument for the app, e.g. --app-arg=--sim-seed --app-arg=7; repeatable")
    args = parser.parse_args()
    paths = view_paths(args.rotate)
    names = args.views.split(",")
    if any(n not in paths for n in names):
        parser.error(f"--views: each of {', '.join(paths)}")
    if not 0 <= args.warmup < args.duration or args.sample <= 0:
        parser.error("needs 0 <= --warmup < --duration and --sample > 0")

    from playwright.sync_api import sync_playwright

    out = {"benchmark": "wall_soak", "command": "python " + " ".join(sys.argv), "commit": git_commit(),
           "started_utc": utc_now(), "viewport": "1920x1080", "duration_s": args.duration,
           "warmup_s": args.warmup, "sample_s": args.sample, "rotate_s": args.rotate,
           "sim_speed": args.sim_speed, "sim_devices": args.sim_devices, "app_args": args.app_arg}
    samples, views, stopped = [], [], []

    def interrupted(*_):
        stopped.append("interrupted")
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    # Bounded as a whole: past the allowance a SIGINT to this process ends the run as Ctrl-C does.
    watchdog = threading.Timer(args.duration + SETUP_ALLOWANCE,
                               lambda: (stopped.append("watchdog"), os.kill(os.getpid(), signal.SIGINT)))
    watchdog.daemon = True
    watchdog.start()
    data_dir = tempfile.mkdtemp(prefix="wallsoak-")
    app = None
    try:
        app = AppProcess("--host", "127.0.0.1", "--data-dir", data_dir, "--log-level", "WARNING",
                         "--sim-speed", str(args.sim_speed), "--sim-devices", str(args.sim_devices),
                         *args.app_arg)
        wait_until(lambda: app.json("/api/v1/state")["devices"], timeout=30, what="the simulated lab")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                out["chromium"] = browser.version
                for name in names:
                    views.append(View(browser, app.url, name, paths[name]))
                why = soak(views, psutil.Process(app.proc.pid), args.duration, args.sample, samples)
                if why and why not in stopped:
                    stopped.append(why)
            finally:
                with contextlib.suppress(Exception):  # the driver may be gone after a Ctrl-C
                    browser.close()
    except KeyboardInterrupt:
        pass  # noted by the handler; what was sampled is reported
    finally:
        watchdog.cancel()
        if app:
            app.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    out.update({"ended_utc": utc_now(), "stopped_early": stopped or None,
                "samples_taken": len(samples), **report(samples, views, args.warmup), "samples": samples})
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
