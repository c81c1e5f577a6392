"""Rule cost: the ingest path (parse → model → sink) with the alert rules off and on, in the same
run, over a lab of 5,000 devices; and the slow timer's tick over that lab. Prints JSON.

Two figures per mode: the most events per second one core takes through Ingest.handle, and the
CPU one core spends on 2,000 events/s (paced for `--seconds`). The sink is a counter: the relay's
cost is the same in both modes and is measured by bench/fanout.py.

    python bench/alerts.py --devices 5000 --rate 2000 --events 200000
"""
import argparse
import datetime as dt
import json
import pathlib
import random
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.alerts.engine import AlertEngine  # noqa: E402
from dashboard.alerts.rules import AlertsConfig  # noqa: E402
from dashboard.core.state import LabState  # noqa: E402
from dashboard.live.health import Health  # noqa: E402
from dashboard.live.ingest import Ingest  # noqa: E402

TYPES = ("qemu", "docker", "bbb", "rpi4b", "x86", "juno", "imx8", "hikey")
HEALTHS = ("Good", "Good", "Good", "Unknown", "Bad", "Maintenance")


class CountingSink:
    """Where the relay would be."""

    def __init__(self):
        self.changes = 0

    def push(self, changes):
        self.changes += len(changes)


def frame(kind, data, when, i):
    return [f"org.lavasoftware.{kind}".encode(), f"u-{i}".encode(), when.encode(), b"lavaserver",
            json.dumps(data).encode()]


def messages(n, devices, seed=1):
    """Device health changes, jobs submitted → running → finished (a fifth are health checks),
    worker state changes; times now, so that the duration rules see live devices."""
    rng = random.Random(seed)
    when = dt.datetime.now(dt.timezone.utc).isoformat()
    out, job = [], 0
    for i in range(n):
        d = rng.randrange(devices)
        host, dtype = f"dev-{d:05d}", TYPES[d % len(TYPES)]
        r = rng.random()
        if r < 0.5:
            out.append(frame("device", {"device": host, "device_type": dtype,
                                        "state": rng.choice(("Idle", "Running")),
                                        "health": rng.choice(HEALTHS), "worker": f"w-{d % 50:02d}"},
                             when, i))
        elif r < 0.95:
            job += 1
            out.append(frame("testjob", {"job": job, "state": "Finished",
                                         "health": rng.choice(("Complete", "Incomplete")),
                                         "health_check": job % 5 == 0, "device": host,
                                         "device_type": dtype, "submit_time": when,
                                         "description": "bench"}, when, i))
        else:
            out.append(frame("worker", {"hostname": f"w-{d % 50:02d}",
                                        "state": rng.choice(("Online", "Offline")),
                                        "health": "Active"}, when, i))
    return out


def lab(devices, rules):
    state, health, sink = LabState(), Health(), CountingSink()
    source = health.add_source("bench", "zmq")
    engine = None
    if rules:
        engine = AlertEngine(state, sink, AlertsConfig(), None, None, lambda fn, *a: fn(*a),
                             lambda s: None, threading.Event, lambda: (0.0, True),
                             lambda: "ok", time.time, 15.0)
    ingest = Ingest(state, engine or sink, health, 1 << 20)
    for f in messages(devices, devices, seed=99):  # every board known before the measurement
        ingest.handle(source, f)
    return ingest, source, engine


def throughput(devices, frames, rules):
    ingest, source, engine = lab(devices, rules)
    start = time.process_time()
    for f in frames:
        ingest.handle(source, f)
    took = time.process_time() - start
    return {"events_per_s": round(len(frames) / took), "alerts_firing":
            len(engine.book.firing) if engine else None, "outbox": len(engine.outbox) if engine else None}


def paced(devices, frames, rate, seconds, rules):
    """CPU per wall second at `rate` events/s: events in 10 ms slices."""
    ingest, source, engine = lab(devices, rules)
    per_slice, it = max(1, rate // 100), iter(frames)
    cpu0, wall0 = time.process_time(), time.monotonic()
    sent = 0
    for tick in range(int(seconds * 100)):
        for _ in range(per_slice):
            ingest.handle(source, next(it))
            sent += 1
        if engine is not None and tick % 1500 == 0:
            engine.tick()
            engine.outbox.clear()
        delay = wall0 + (tick + 1) / 100 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    wall = time.monotonic() - wall0
    return {"events": sent, "achieved_rate": round(sent / wall),
            "cpu_share_of_one_core": round((time.process_time() - cpu0) / wall, 4)}


def tick_cost(devices):
    _, _, engine = lab(devices, True)
    for _ in range(3):
        engine.tick()
    start, rounds = time.perf_counter(), 20
    for _ in range(rounds):
        engine.tick()
    return round((time.perf_counter() - start) / rounds * 1000, 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    frames = messages(max(args.events, int(args.rate * args.seconds) + 1), args.devices)
    result = {"devices": args.devices, "events": args.events, "rate": args.rate}
    for mode, rules in (("rules_off", False), ("rules_on", True)):
        result[mode] = {"max": throughput(args.devices, frames[:args.events], rules),
                        "paced": paced(args.devices, frames, args.rate, args.seconds, rules)}
    result["tick_ms"] = tick_cost(args.devices)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
