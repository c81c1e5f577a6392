"""Ingest benchmark: the dashboard process's CPU per event at a steady rate (default 2,500
events/s for 10 s), with the store on and a few Socket.IO clients subscribed, so that every step of
the ingest path (parse, model, store row, select and encode) runs. Prints JSON.

With `--baseline-ref REF` the same workload also runs against the app as it was at REF (checked out
with `git worktree add` into a temporary folder, removed afterwards), arms alternating, each
`--repeat` times: the ratio of the medians is this code's CPU per event over REF's.

    python bench/ingest.py --baseline-ref 073a069 --repeat 3
    python bench/ingest.py --repeat 1 --app-arg=--no-store              # the current code without the store
    python bench/ingest.py --profile docs/results/ingest-profile.txt   # this code, under py-spy
                                                                       # (pip install py-spy)
    python bench/ingest.py --profile before.txt --baseline-ref 073a069 # that ref, under py-spy

The messages are bench/store.py's synthetic lab (devices, jobs, test-shell messages), stamped with
the time they are sent. The publisher is a real ZMQ XPUB socket on 127.0.0.1 in a child process;
the clients are bench/wsclient.py's, half unfiltered, half following one device type.
"""
import argparse
import asyncio
import json
import multiprocessing as mp
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import zmq

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import cpu_parts, cpu_with_children, part_costs, profile_summary, py_spy  # noqa: E402
from bench.store import messages  # noqa: E402
from bench.wsclient import BenchClient  # noqa: E402
from tests.helpers import free_port, wait_until  # noqa: E402

FILTERS = ({}, {"device_types": ["qemu"]})


def publish(endpoint, rate, duration, go, done):
    """Child process: an XPUB socket; after `go`, `rate` messages/s for `duration` s, each stamped
    with (about) the time it is sent."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.bind(endpoint)
    total = int(rate * duration)
    go.wait(120)
    start = time.time()
    frames = list(messages(total, start, start + duration))
    start = time.time()  # the schedule starts once the messages are made
    sent = 0
    while sent < total and time.time() - start < duration * 3:
        due = min(total, int((time.time() - start) * rate) + 1)
        while sent < due:
            sock.send_multipart(frames[sent])
            sent += 1
        time.sleep(0.002)
    done.put({"sent": sent, "seconds": round(time.time() - start, 3)})
    time.sleep(1.0)
    sock.close(0)
    ctx.term()


def clients_proc(url, n, ready, stop, results):
    """Child process: n BenchClients (no compression), half of them filtered; reports how many
    changes each applied."""
    async def main():
        stop_event = asyncio.Event()
        clients = [BenchClient(url, flt=FILTERS[i % len(FILTERS)]) for i in range(n)]
        tasks = [asyncio.create_task(c.run(stop_event)) for c in clients]
        await asyncio.wait_for(asyncio.gather(*(c.subscribed.wait() for c in clients)), 60)
        ready.put(True)
        while not stop.is_set():
            await asyncio.sleep(0.05)
        stop_event.set()
        await asyncio.wait(tasks, timeout=5)
        results.put([{"changes": c.changes, "gaps": c.gaps, "resyncs": c.resyncs} for c in clients])
    asyncio.run(main())


def healthz(url):
    with urllib.request.urlopen(url + "/healthz", timeout=10) as resp:
        return json.loads(resp.read())


class App:
    """`python <checkout>/app.py` as a subprocess on a free port (the checkout's own code)."""

    def __init__(self, checkout, args, log_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "w")
        cmd = [sys.executable, "-W", "ignore::DeprecationWarning", str(checkout / "app.py"),
               "--port", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, cwd=checkout, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, timeout=60, interval=0.2, what="the app's source connected")
        except BaseException:
            self.stop()
            raise

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"the app exited with {self.proc.returncode}: see {self.log.name}")
        try:
            return healthz(self.url)["status"] == "ok"
        except OSError:
            return False

    def cpu(self):
        return cpu_with_children(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def run_once(checkout, args, tmp, profile=None):
    """One measurement of the app in `checkout`: returns its figures. With `profile` (a path),
    py-spy samples the app while it is measured and writes its collapsed stacks there."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    data_dir = tempfile.mkdtemp(prefix="data-", dir=tmp)
    go, done = mp.Event(), mp.Queue()
    pub = mp.Process(target=publish, args=(endpoint, args.rate, args.duration, go, done), daemon=True)
    pub.start()
    app = App(checkout, ["--zmq", endpoint, "--log-level", "WARNING", "--data-dir", data_dir,
                         "--async-mode", args.async_mode, "--no-ws-compression",
                         "--max-connections-per-address", "0", *args.app_arg],
              pathlib.Path(tmp) / f"app-{app_count()}.log")
    stop, ready, results = mp.Event(), mp.Queue(), mp.Queue()
    clients = mp.Process(target=clients_proc, args=(app.url, args.clients, ready, stop, results),
                         daemon=True)
    try:
        clients.start()
        ready.get(timeout=90)
        time.sleep(1.0)  # let the start-up settle (snapshots sent, first writes done)
        before = healthz(app.url)
        parts0 = cpu_parts(app.proc.pid)
        cpu0, t0 = app.cpu(), time.monotonic()
        go.set()
        spy = None
        if profile:
            spy = py_spy(app.proc.pid, args.duration + 3, profile)
        sent = done.get(timeout=args.duration * 3 + 120)
        total = sent["sent"] + before["counters"]["accepted"]

        def caught_up():
            h = healthz(app.url)
            written = h["store"]["written"] if h["store"] else h["counters"]["accepted"]
            return (h["counters"]["accepted"] + h["counters"]["rejected_total"] >= total
                    and written >= h["counters"]["accepted"] and h)
        after = wait_until(caught_up, timeout=120, interval=0.25, what="all accepted and written")
        cpu = app.cpu() - cpu0
        parts1 = cpu_parts(app.proc.pid)
        wall = time.monotonic() - t0
        time.sleep(0.5)  # the last batch reaches the clients
        stop.set()
        got = results.get(timeout=30)
        if spy:
            spy.wait(60)
    finally:
        stop.set()
        app.stop()
        clients.join(10)
        pub.join(10)
        for proc in (clients, pub):
            if proc.is_alive():
                proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
    accepted = after["counters"]["accepted"] - before["counters"]["accepted"]
    return {"sent": sent["sent"], "publish_s": sent["seconds"], "accepted": accepted,
            "rejected": after["counters"]["rejected_total"],
            "written": after["store"]["written"] if after["store"] else None,
            "store_dropped": after["store"]["dropped"] if after["store"] else None,
            "cpu_s": round(cpu, 3),
            "wall_s": round(wall, 2), "cpu_share": round(cpu / wall, 3),
            "cpu_us_per_event": round(cpu / max(1, accepted) * 1e6, 2),
            "cpu_us_per_event_by_part": part_costs(parts0, parts1, max(1, accepted)),
            "client_changes": [c["changes"] for c in got], "client_gaps": sum(c["gaps"] for c in got)}


_COUNT = [0]


def app_count():
    _COUNT[0] += 1
    return _COUNT[0]


class Checkout:
    """REF checked out with `git worktree add` into a temporary folder; removed by close()."""

    def __init__(self, ref, tmp):
        self.path = pathlib.Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet",
                        str(self.path), ref], check=True)
        self.commit = subprocess.run(["git", "-C", str(self.path), "rev-parse", "--short", "HEAD"],
                                     check=True, capture_output=True, text=True).stdout.strip()

    def close(self):
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(self.path)],
                       check=False)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)


def alternate(ref, tmp, repeat, run):
    """run(folder) `repeat` times for this tree (arm "current") and, with `ref`, for REF checked out
    into `tmp` (arm "baseline"), alternating. Returns ({arm: [results]}, the ref's short commit or
    None); each result is also printed to stderr as it comes."""
    baseline = Checkout(ref, tmp) if ref else None
    arms = {"current": ROOT, **({"baseline": baseline.path} if baseline else {})}
    runs = {arm: [] for arm in arms}
    try:
        for _ in range(repeat):
            for arm, folder in arms.items():
                runs[arm].append(run(folder))
                print(json.dumps({arm: runs[arm][-1]}), file=sys.stderr)
    finally:
        if baseline:
            baseline.close()
    return runs, baseline.commit if baseline else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=2500, help="events/s")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of publishing")
    parser.add_argument("--clients", type=int, default=4, help="Socket.IO clients")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each arm (alternating)")
    parser.add_argument("--async-mode", default="eventlet", choices=("eventlet", "gevent"))
    parser.add_argument("--app-arg", action="append", default=[],
                        help="one more argument for both arms' app (repeatable), e.g. --no-store")
    parser.add_argument("--baseline-ref", help="a git ref to measure against in the same run")
    parser.add_argument("--profile", metavar="FILE",
                        help="one run of this code (with --baseline-ref: of that ref) under py-spy; "
                             "its summary written to FILE")
    parser.add_argument("--profile-raw", metavar="FILE", help="with --profile: keep py-spy's stacks")
    args = parser.parse_args()
    out = {"command": "python " + " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "rate": args.rate, "duration_s": args.duration, "clients": args.clients,
           "async_mode": args.async_mode, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        if args.profile:  # this code, or with --baseline-ref that ref's
            raw = pathlib.Path(args.profile_raw or pathlib.Path(tmp) / "profile.raw")
            checkout = Checkout(args.baseline_ref, tmp) if args.baseline_ref else None
            try:
                arm = "baseline" if checkout else "current"
                out["runs"][arm] = [run_once(checkout.path if checkout else ROOT, args, tmp, raw)]
            finally:
                if checkout is not None:
                    checkout.close()
            profile_summary(raw, args.profile)
            print(json.dumps(out, indent=2))
            return
        arms = {"current": ROOT}
        checkout = None
        try:
            if args.baseline_ref:
                checkout = Checkout(args.baseline_ref, tmp)
                arms = {"baseline": checkout.path, "current": ROOT}
                out["baseline_ref"] = f"{args.baseline_ref} ({checkout.commit})"
            for i in range(max(1, min(args.repeat, 20))):
                for name, path in (arms.items() if i % 2 == 0 else reversed(arms.items())):
                    figures = run_once(path, args, tmp)
                    out["runs"].setdefault(name, []).append(figures)
                    print(json.dumps({name: figures}), file=sys.stderr, flush=True)
        finally:
            if checkout:
                checkout.close()
    out["median_cpu_us_per_event"] = {name: statistics.median(r["cpu_us_per_event"] for r in runs)
                                      for name, runs in out["runs"].items()}
    if "baseline" in out["runs"]:
        m = out["median_cpu_us_per_event"]
        out["ratio_current_over_baseline"] = round(m["current"] / m["baseline"], 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
