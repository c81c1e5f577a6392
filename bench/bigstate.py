"""What one GET of /api/v1/state or /metrics costs the event loop of a dashboard whose live model
holds a large lab (20,000 devices by default): the request's time, and the longest the loop was
held while it ran, seen by a green ticker inside the app (tests/loopwatch: it wakes every 10 ms and
notes each gap). Prints JSON.

The lab comes in as lava-publisher would send it: a real ZMQ XPUB socket on 127.0.0.1 publishes
--workers workers, --devices devices and --jobs unfinished jobs (and a few test-shell messages) to
the app, a subprocess (`--no-store`). Measured, in this order:
- `idle`: the ticker over a quiet second, no request (the baseline of the same run);
- each endpoint `cold`: one device changes before each request, so no answer can be reused;
- each endpoint `warm`: the same request again, nothing changed in between;
- `/api/v1/state` `parallel`: --parallel requests at once from one address;
- `gc`: the app's own timing of the collector's full collections over the run (/healthz `gc`).
Each request's figure is its `ms` (to the last byte), `stall_ms` (the longest gap between two
ticks that ended while it ran, or within 0.1 s after) and, for `parallel`, the answers' statuses.

With `--baseline-ref REF` the same run is made against the app as it was at REF (checked out with
`git worktree add` into a temporary folder, removed afterwards), arms alternating.

    python bench/bigstate.py --devices 20000 --jobs 40000 --requests 5 --baseline-ref HEAD
"""
import argparse
import concurrent.futures
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import Checkout  # noqa: E402
from tests.helpers import AppProcess, TestPublisher, utc_stamp, wait_until  # noqa: E402
from tests.loopwatch.sitecustomize import stalls  # noqa: E402

TYPES = ("qemu", "docker", "bbb", "rpi4b", "x86", "juno", "imx8", "hikey")
HEALTHS = (("Idle", "Good"), ("Running", "Good"), ("Idle", "Bad"), ("Idle", "Maintenance"))
LOOPWATCH = ROOT / "tests" / "loopwatch"


def frames(kind, data, user="lavaserver"):
    return [f"org.lavasoftware.{kind}".encode(), uuid.uuid4().hex.encode(), utc_stamp().encode(),
            user.encode(), json.dumps(data).encode()]


def lab_messages(devices, workers, jobs):
    """The lab's messages: workers, then devices, then unfinished jobs, then a few test-shell
    messages (the live feed)."""
    for w in range(workers):
        yield frames("worker", {"hostname": f"worker-{w:04d}", "state": "Online",
                                "health": "Active"})
    for i in range(devices):
        state, health = HEALTHS[i % len(HEALTHS)]
        yield frames("device", {"device": f"dev-{i:05d}", "device_type": TYPES[i % len(TYPES)],
                                "state": state, "health": health,
                                "worker": f"worker-{i % workers:04d}"})
    for j in range(1, jobs + 1):
        yield frames("testjob", {"job": j, "device_type": TYPES[j % len(TYPES)],
                                 "state": ("Submitted", "Running")[j % 2], "health": "Unknown",
                                 "description": f"bench job {j}", "submitter": "bench",
                                 "submit_time": "2026-11-30T09:00:00+00:00"}, "bench")
    for n in range(200):
        yield frames("event", {"job": 1 + n % max(1, jobs), "message": f"line {n}"})


def timed_get(url, timeout=120):
    """(status, seconds to the last byte, bytes) of one GET."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            status, body = answer.status, answer.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    return status, time.perf_counter() - start, len(body)


def one(app, ticks, path):
    """One request, measured: {ms, stall_ms, status, bytes}."""
    start = time.monotonic()
    status, seconds, size = timed_get(app.url + path)
    end = time.monotonic()
    time.sleep(0.15)  # the ticks that end the request's stall are written
    _, stall = stalls(ticks, start, end + 0.1)
    return {"status": status, "ms": round(seconds * 1000, 1),
            "stall_ms": round(stall * 1000, 1) if stall is not None else None, "bytes": size}


def summary(results):
    """The medians and the worst of a list of one()'s results."""
    ms = [r["ms"] for r in results]
    stall = [r["stall_ms"] for r in results if r["stall_ms"] is not None]
    return {"n": len(results), "ms_median": round(statistics.median(ms), 1), "ms_max": max(ms),
            "stall_ms_median": round(statistics.median(stall), 1) if stall else None,
            "stall_ms_max": max(stall, default=None),
            "statuses": sorted({r["status"] for r in results}), "bytes": results[-1]["bytes"]}


def run_arm(root, args):
    """Start the app of `root`, load the lab, measure; returns the figures."""
    ticks = pathlib.Path(tempfile.mkstemp(prefix="loopwatch-", suffix=".txt")[1])
    publisher = TestPublisher()
    env = {"PYTHONPATH": str(LOOPWATCH), "LOOPWATCH_OUT": str(ticks)}
    app = AppProcess("--zmq", publisher.endpoint, "--no-store", "--log-level", "WARNING",
                     "--max-devices", str(args.devices), "--max-workers", str(args.workers),
                     "--max-jobs", str(args.jobs + 1000), *args.app_arg,
                     async_mode=args.async_mode, env=env, root=root)
    try:
        publisher.wait_for_subscriber()
        start = time.monotonic()
        for message in lab_messages(args.devices, args.workers, args.jobs):
            publisher.send(message)
        wait_until(lambda: (lambda m: m["devices"] >= args.devices and m["jobs"] >= args.jobs)(
            app.json("/healthz")["model"]), timeout=300, interval=0.5, what="the lab loaded")
        loaded = time.monotonic() - start
        model = app.json("/healthz")["model"]
        time.sleep(1.0)
        quiet = time.monotonic()
        time.sleep(1.0)
        n_ticks, idle = stalls(ticks, quiet, time.monotonic())
        out = {"load_s": round(loaded, 1), "model": model,
               "idle": {"ticks": n_ticks, "stall_ms": round(idle * 1000, 1)}}
        change = 0
        for path in ("/api/v1/state", "/metrics"):
            cold, warm = [], []
            for _ in range(args.requests):
                change += 1  # one device changes: a new seq, nothing can be reused
                seq = app.json("/healthz")["seq"]
                publisher.send(frames("device", {"device": "dev-00000", "device_type": "qemu",
                                                 "state": ("Idle", "Running")[change % 2],
                                                 "health": "Good", "worker": "worker-0000"}))
                wait_until(lambda: app.json("/healthz")["seq"] > seq, timeout=10,
                           what="the change applied")
                time.sleep(0.3)
                cold.append(one(app, ticks, path))
                warm.append(one(app, ticks, path))
            out[path] = {"cold": summary(cold), "warm": summary(warm)}
        if args.parallel:
            runs = []
            for _ in range(max(1, args.requests // 2)):
                change += 1
                publisher.send(frames("device", {"device": "dev-00001", "device_type": "docker",
                                                 "state": ("Idle", "Running")[change % 2],
                                                 "health": "Good", "worker": "worker-0001"}))
                time.sleep(0.5)
                start = time.monotonic()
                with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
                    answers = list(pool.map(lambda _: timed_get(app.url + "/api/v1/state"),
                                            range(args.parallel)))
                end = time.monotonic()
                time.sleep(0.15)
                _, stall = stalls(ticks, start, end + 0.1)
                runs.append({"ms": round((end - start) * 1000, 1),
                             "stall_ms": round(stall * 1000, 1),
                             "statuses": sorted(a[0] for a in answers)})
            out["/api/v1/state parallel"] = {
                "requests": args.parallel, "runs": runs,
                "stall_ms_max": max(r["stall_ms"] for r in runs)}
        # The collector's full collections over the run, as the app timed them (null before
        # live/gcpause.py: a baseline that has no such section).
        out["gc"] = app.json("/healthz").get("gc")
        return out
    finally:
        app.stop()
        publisher.close()
        ticks.unlink(missing_ok=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=40000, help="unfinished jobs (default 40000)")
    parser.add_argument("--requests", type=int, default=5, help="per endpoint and kind")
    parser.add_argument("--parallel", type=int, default=4, help="requests at once (0: none)")
    parser.add_argument("--async-mode", default="eventlet", choices=("eventlet", "gevent"))
    parser.add_argument("--baseline-ref", help="also run the app as it was at this git ref")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each arm, alternating")
    parser.add_argument("--app-arg", action="append", default=[], help="one more flag for the app")
    args = parser.parse_args(argv)
    if not (1 <= args.devices <= 20000 and 1 <= args.workers <= 2000 and 0 <= args.jobs <= 40000
            and 1 <= args.requests <= 50 and 0 <= args.parallel <= 16 and 1 <= args.repeat <= 5):
        parser.error("--devices 1-20000, --workers 1-2000, --jobs 0-40000, --requests 1-50, "
                     "--parallel 0-16, --repeat 1-5")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    results = {"command": "python bench/bigstate.py " + " ".join(argv or sys.argv[1:]),
               "async_mode": args.async_mode, "arms": {}}
    with tempfile.TemporaryDirectory(prefix="bench-bigstate-") as tmp:
        baseline = Checkout(args.baseline_ref, tmp) if args.baseline_ref else None
        arms = {"current": ROOT, **({"baseline": baseline.path} if baseline else {})}
        try:
            for _ in range(args.repeat):
                for arm, folder in arms.items():
                    figures = run_arm(folder, args)
                    print(json.dumps({arm: figures}), file=sys.stderr, flush=True)
                    results["arms"].setdefault(arm, []).append(figures)
        finally:
            if baseline:
                results["baseline_commit"] = baseline.commit
                baseline.close()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
