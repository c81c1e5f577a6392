"""The release of events held while the device screen is not known (live/ingest.py, core/screen.py):
how long the loop is held when LAVA first says which devices it shows anonymous users, with the
hold full. Prints JSON.

With `--access lava` or `login`, device and job events (and messages of jobs) wait until the first
answer, at most 50,000 of them (MAX_HELD); that reconciliation then applies, stores and pushes them
without yielding (a message's job must be in the model before it is judged). Measured in one
process: the release of N held events, in the order they came (messages of jobs not in the model
yet wait for a second release, after the snapshot), and how many are stored (none may be lost),
against the baseline of the same N events handed to the same Ingest with the screen already known,
one by one as they come (handle_many in chunks of 100, as the ZMQ reader hands them), in the same
run; each arm `--repeat` times, alternating; medians. CPU time, one core: the loop does nothing
else meanwhile.

    python bench/held.py --events 50000 --repeat 5
"""
import argparse
import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.store import DEVICES, TYPES, messages  # noqa: E402
from dashboard.core.screen import DeviceScreen  # noqa: E402
from dashboard.core.state import LabState  # noqa: E402
from dashboard.live.health import Health  # noqa: E402
from dashboard.live.ingest import Ingest  # noqa: E402


class Sink:
    """The relay and the store: counts what they are given."""

    def __init__(self):
        self.changes = self.rows = 0

    def push(self, changes):
        self.changes += len(changes)

    def enqueue(self, row):
        self.rows += 1


LISTED = [{"hostname": f"dev-{d:03d}", "device_type": TYPES[d % len(TYPES)]} for d in range(DEVICES)]


def lab():
    state = LabState(max_finished_jobs=500)
    state.screen = DeviceScreen()
    sink = Sink()
    health = Health()
    ingest = Ingest(state, sink, health, 1 << 20, store=sink, watch_lag=False)
    return state, ingest, health.add_source("tcp://127.0.0.1:5500", "zmq"), sink


def released(frames_list):
    """CPU seconds of the release of the held events (the hold itself is not timed)."""
    state, ingest, source, sink = lab()
    for start in range(0, len(frames_list), 100):
        ingest.handle_many(source, frames_list[start:start + 100])
    held = len(ingest.held)
    t = time.process_time()
    state.screen.learn(LISTED)
    ingest.release_held(ingest.held_total, state.untracked, state.deferring)  # (as reconcile does,
    ingest.release_held(ingest.held_total, state.untracked)  # with no snapshot in between here)
    return time.process_time() - t, held, sink.rows


def as_they_come(frames_list):
    """CPU seconds of the same events with the screen known (the baseline)."""
    state, ingest, source, sink = lab()
    state.screen.learn(LISTED)
    t = time.process_time()
    for start in range(0, len(frames_list), 100):
        ingest.handle_many(source, frames_list[start:start + 100])
    return time.process_time() - t, 0, sink.rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="held events (the hold's bound)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    end = time.time()
    frames_list = list(messages(args.events, end - 3600, end))
    runs = {"release": [], "as_they_come": []}
    for _ in range(args.repeat):
        for name, arm in (("release", released), ("as_they_come", as_they_come)):
            seconds, held, rows = arm(frames_list)
            runs[name].append({"ms": round(seconds * 1000, 1), "held": held, "stored": rows})
    medians = {name: statistics.median(r["ms"] for r in rs) for name, rs in runs.items()}
    print(json.dumps({
        "command": "python " + " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "events": args.events, "runs": runs, "median_ms": medians,
        "release_over_as_they_come": round(medians["release"] / medians["as_they_come"], 3),
        "release_us_per_event": round(medians["release"] * 1000 / args.events, 2)}, indent=1))


if __name__ == "__main__":
    main()
