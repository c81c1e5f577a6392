"""Browser benchmark: Debian's Chromium showing a lab of 2,000 devices while LAVA events stream in.
Prints JSON.

For each layout (the desk dashboard and the wall display, both at 1920x1080) it reports the time to
the first full render (the first animation frame with every device's tile in the page), then, for
each stream rate, frames per second (a requestAnimationFrame counter), the main thread's busy share
(Chrome's TaskDuration over wall time, from the DevTools Performance domain), the page's renders
against the Socket.IO messages and changes it received, and the JS heap (after a forced garbage
collection) before the first stream and after the last. The baseline is the same page with no
stream (rate 0), measured in the same run; each rate also reports ratios to it.

    python bench/browser.py --devices 2000 --rates 0,100,500 --duration 20 --layouts desk,wall
"""
import argparse
import contextlib
import datetime as dt
import json
import pathlib
import sys
import threading
import time

import zmq

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import CHROMIUM, CHROMIUM_ARGS as ARGS, AppProcess, free_port, wait_until  # noqa: E402

# `wall-jobs` and `wall-workers`: a wall's Jobs and Workers views, whose panels measure which rows
# fit whole after each change of their lists (static/js/wallcut.js).
LAYOUTS = {"desk": "/", "wall": "/?wall=1", "wall-jobs": "/?wall=1&view=jobs",
           "wall-workers": "/?wall=1&view=workers"}
# What the first full render waits for in a layout that shows no device tile: (rows, how many; None:
# every device's).
FULL = {"wall-jobs": (".panel-jobs", 1), "wall-workers": (".workers tbody tr", 20)}
TYPES = ["qemu", "bbb", "rpi4b", "x86", "imx8mm-evk", "juno-r2", "hikey", "dragonboard-410c",
         "stm32mp1", "sun50i-h6"]

# Installed before the page's own scripts: counts animation frames and long frames, and notes
# the first frame in which every tile is in the page. Reads only the DOM.
PROBE = """
(() => {
  const probe = window.__probe = { frames: 0, slow: 0, worst: 0, firstFull: null, expect: %d, rows: %s };
  let last = 0;
  const loop = (t) => {
    probe.frames += 1;
    if (last) {
      const gap = t - last;
      if (gap > 50) probe.slow += 1;  // a frame that took longer than three 60 Hz frames
      if (gap > probe.worst) probe.worst = gap;
    }
    last = t;
    if (probe.firstFull === null && document.querySelectorAll(probe.rows).length >= probe.expect) {
      probe.firstFull = performance.now();
    }
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
})();
"""


def stamp(now):
    return dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat(timespec="microseconds")


def hostname(i):
    return f"{TYPES[i % len(TYPES)]}-{i:04d}"


def device_message(i, n_devices, cycle, now):
    """A device event: each device alternates Idle/Running; a few turn Bad, Unknown or Looping."""
    d = i % n_devices
    running = cycle % 2 == 1
    health = "Good"
    if (d + cycle) % 53 == 0:
        health = "Bad"
    elif (d + cycle) % 37 == 0:
        health = "Unknown"
    elif (d + cycle) % 97 == 0:
        health = "Looping"
    data = {"device": hostname(d), "device_type": TYPES[d % len(TYPES)], "worker": f"worker-{d % 20:02d}",
            "state": "Running" if running else "Idle", "health": health}
    if running:
        data["job"] = 200000 + i
    return "device", "lavaserver", data


def job_message(k, n_devices, now):
    """A test job's life in three events: Submitted, Running, Finished (bounded by the server)."""
    job_id, phase = 100000 + k // 3, k % 3
    d = (k // 3) % n_devices
    when = stamp(now)
    data = {"job": job_id, "state": ("Submitted", "Running", "Finished")[phase],
            "health": ("Unknown", "Unknown", ("Complete", "Incomplete")[job_id % 5 == 0])[phase],
            "description": f"bench job {job_id}", "priority": 50, "submit_time": when,
            "submitter": ("alice", "bob", "ci-bot", "lava-health")[job_id % 4],
            "health_check": job_id % 4 == 3, "device_type": TYPES[d % len(TYPES)]}
    if phase:
        data.update(device=hostname(d), worker=f"worker-{d % 20:02d}", start_time=when)
    if phase == 2:
        data["end_time"] = when
    return "testjob", data["submitter"], data


class Publisher:
    """An XPUB socket in a thread: seeds the lab, then streams at a given rate."""

    def __init__(self, n_devices):
        self.n_devices = n_devices
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.XPUB)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(self.endpoint)
        self.sent = 0
        self.cycle = 0

    def wait_for_subscriber(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.socket.poll(100) and self.socket.recv()[:1] == b"\x01":
                return
        raise RuntimeError("the app did not subscribe")

    def _send(self, kind, user, data):
        now = time.time()
        self.socket.send_multipart([f"org.lavasoftware.{kind}".encode(), f"bench-{self.sent}-{now}".encode(),
                                    stamp(now).encode(), user.encode(), json.dumps(data).encode()])
        self.sent += 1

    def seed(self):
        """One event per device (Idle, Good), paced so that the app's ingest keeps up."""
        for i in range(self.n_devices):
            self._send(*device_message(i, self.n_devices, 0, time.time()))
            if i % 200 == 199:
                time.sleep(0.02)

    def message(self, i):
        """The i-th message of a stream: three device events for one job event."""
        if i % 4 == 3:
            return job_message(i // 4, self.n_devices, time.time())
        j = i - i // 4
        return device_message(j, self.n_devices, self.cycle + j // self.n_devices + 1, time.time())

    def stream(self, rate, duration):
        """Send `rate` messages a second for `duration` seconds (in a thread); returns the thread."""
        def run():
            start = time.monotonic()
            total = int(rate * duration)
            i = 0
            while i < total:
                due = min(total, int((time.monotonic() - start) * rate) + 1)
                while i < due:
                    self._send(*self.message(i))
                    i += 1
                time.sleep(0.005)
            self.cycle += total // self.n_devices + 2

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def close(self):
        self.socket.close(0)
        self.context.term()


@contextlib.contextmanager
def seeded_lab(n_devices, *app_args):
    """(publisher, app): a dashboard subscribed to a Publisher that has seeded n_devices devices
    into it; both ended on leaving."""
    publisher = Publisher(n_devices)
    app = AppProcess("--zmq", publisher.endpoint, "--log-level", "WARNING", *app_args)
    try:
        publisher.wait_for_subscriber()
        publisher.seed()
        wait_until(lambda: len(app.json("/api/v1/state")["devices"]) >= n_devices, timeout=60,
                   what="the seeded devices")
        yield publisher, app
    finally:
        app.stop()
        publisher.close()


def metrics(cdp):
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def heap_mb(cdp):
    cdp.send("HeapProfiler.collectGarbage")
    return round(metrics(cdp)["JSHeapUsedSize"] / 2**20, 2)


def stats(page):
    return page.evaluate("() => ({...window.lavaDashboard.stats, probe: {...window.__probe}})")


def measure(page, cdp, publisher, app, rate, duration):
    """One stream (or, at rate 0, the same time with none): frames, busy share, renders, catch-up."""
    m0, s0, t0 = metrics(cdp), stats(page), time.monotonic()
    thread = publisher.stream(rate, duration) if rate else None
    page.wait_for_timeout(duration * 1000)
    if thread:
        thread.join(duration * 3)
    m1, s1, t1 = metrics(cdp), stats(page), time.monotonic()
    seconds = m1["Timestamp"] - m0["Timestamp"]
    d = lambda key: m1[key] - m0[key]  # noqa: E731
    # How long until the page shows the server's latest change once the stream stopped.
    target = app.json("/api/v1/state")["seq"]
    caught_up = None
    try:
        wait_until(lambda: int(page.get_attribute("#app", "data-seq") or 0) >= target, timeout=15,
                   interval=0.05)
        caught_up = round((time.monotonic() - t1) * 1000)
    except AssertionError:
        pass
    frames = s1["probe"]["frames"] - s0["probe"]["frames"]
    return {
        "rate": rate,
        "seconds": round(seconds, 2),
        "fps": round(frames / seconds, 1),
        "slow_frames_over_50ms": s1["probe"]["slow"] - s0["probe"]["slow"],
        "main_thread_busy_share": round(d("TaskDuration") / seconds, 3),
        "script_share": round(d("ScriptDuration") / seconds, 3),
        "layout_and_style_share": round((d("LayoutDuration") + d("RecalcStyleDuration")) / seconds, 3),
        "socketio_messages_per_s": round((s1["messages"] - s0["messages"]) / seconds, 1),
        "changes_per_s": round((s1["changes"] - s0["changes"]) / seconds, 1),
        "renders_per_s": round((s1["renders"] - s0["renders"]) / seconds, 1),
        "changes_per_render": round((s1["changes"] - s0["changes"]) / max(1, s1["renders"] - s0["renders"]), 1),
        "last_render_ms": round(s1["lastRenderMs"], 2),
        "caught_up_ms_after_stream": caught_up,
        "dom_nodes": int(m1["Nodes"]),
        "wall_seconds": round(t1 - t0, 2),
    }


def run_layout(browser, app, publisher, name, n_devices, rates, duration, baseline_duration):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    rows, expect = FULL.get(name, ("[data-device]", None))
    page.add_init_script(PROBE % (expect or n_devices, json.dumps(rows)))
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable", {"timeDomain": "timeTicks"})
    page.goto(app.url + LAYOUTS[name])
    page.wait_for_function("() => window.__probe && window.__probe.firstFull !== null", timeout=60000)
    first_full = page.evaluate("() => window.__probe.firstFull")
    page.wait_for_timeout(2000)
    heap_before = heap_mb(cdp)
    runs = []
    for rate in rates:
        runs.append(measure(page, cdp, publisher, app, rate, baseline_duration if rate == 0 else duration))
    heap_after = heap_mb(cdp)
    base = next((r for r in runs if r["rate"] == 0), None)
    if base:
        for r in runs:
            if r is not base:
                r["vs_baseline"] = {
                    "fps_ratio": round(r["fps"] / base["fps"], 3) if base["fps"] else None,
                    "busy_share_minus_baseline": round(r["main_thread_busy_share"] - base["main_thread_busy_share"], 3),
                }
    context.close()
    return {"layout": name, "path": LAYOUTS[name], "tiles": n_devices,
            "first_full_render_ms": round(first_full), "js_heap_mb_before": heap_before,
            "js_heap_mb_after": heap_after, "streams": runs, "page_errors": errors}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--rates", default="0,100,500", help="events per second; 0 is the baseline")
    parser.add_argument("--duration", type=float, default=20, help="seconds per stream")
    parser.add_argument("--baseline-duration", type=float, default=10, help="seconds of the rate-0 run")
    parser.add_argument("--layouts", default="desk,wall")
    parser.add_argument("--app-arg", action="append", default=[],
                        help="an argument for the app, e.g. --app-arg=--batch-floor --app-arg=0 "
                             "(the fixed interval); repeatable")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]

    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    with seeded_lab(args.devices, *args.app_arg) as (publisher, app):
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            version = browser.version
            results = [run_layout(browser, app, publisher, name, args.devices, rates, args.duration,
                                  args.baseline_duration) for name in args.layouts.split(",")]
            browser.close()
        relay = {k: app.json("/healthz")["relay"].get(k) for k in ("gap_ms", "flush_cost_ms", "batches_sent")}
    print(json.dumps({"benchmark": "browser", "command": "python " + " ".join(sys.argv),
                      "chromium": version, "viewport": "1920x1080",
                      "devices": args.devices, "rates": rates, "duration_s": args.duration,
                      "app_args": args.app_arg, "relay_at_end": relay, "results": results,
                      "total_seconds": round(time.monotonic() - started, 1)}, indent=2))


if __name__ == "__main__":
    main()
