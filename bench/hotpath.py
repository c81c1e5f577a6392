"""Hot-path benchmark: the CPU per event of the three pure steps every message takes on the loop,
parse (core/events.py parse_frames), model (core/state.py LabState.apply) and stored row
(storage/store.py row_for), each timed alone in a fresh interpreter over the same messages; and
of the roll-ups the store's writer process counts from those rows (EventStore._count_rollups,
batches of 5,000 in a temporary SQLite store). Prints JSON.

With `--baseline-ref REF` the same messages also go through the code as it was at REF (checked out
with `git worktree add` into a temporary folder, removed afterwards), arms alternating, each
`--repeat` times: the ratio of the medians is this code's CPU per event over REF's, per step.

    python bench/hotpath.py --baseline-ref 132aaf4 --repeat 5

The messages are bench/store.py's synthetic lab (devices, jobs, test-shell messages), made once
here and handed to every run, so both arms parse the very same bytes.
"""
import argparse
import json
import pathlib
import pickle
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import alternate  # noqa: E402
from bench.store import messages  # noqa: E402

# Run in the checkout's folder, with its dashboard package: times each step over every message.
STEPS = r"""
import json, pickle, sys, time
sys.path.insert(0, ".")
from dashboard.core.events import job_id, parse_frames
from dashboard.core.state import LabState
from dashboard.storage.store import row_for

frames_list = pickle.load(open(sys.argv[1], "rb"))
t = time.process_time()
events = [parse_frames(frames) for frames in frames_list]
parse = time.process_time() - t
state = LabState(max_finished_jobs=500)
t = time.process_time()
for event in events:
    state.apply(event)
model = time.process_time() - t
# The model with access control's device screen (core/screen.py), which here lets every device of
# the lab in: what the screen's check costs an event. (None at a ref from before the screen.)
screened = model_again = None
try:
    from dashboard.core.screen import DeviceScreen
except ImportError:
    DeviceScreen = None
if DeviceScreen is not None:
    listed = ([{"hostname": e.data["device"], "device_type": e.data.get("device_type")}
               for e in events if e.kind == "device"]
              + [{"hostname": "", "device_type": e.data.get("device_type")}
                 for e in events if e.kind == "testjob"])
    # Three rounds each, alternating, with and without the screen (the first `model` above was
    # the interpreter's first pass): the medians, so that neither arm has the warm caches alone.
    plain, with_screen = [], []
    for _ in range(3):
        for arm in (plain, with_screen):
            other = LabState(max_finished_jobs=500)
            if arm is with_screen:
                other.screen = DeviceScreen()
                other.screen.learn(listed)
            t = time.process_time()
            for event in events:
                other.apply(event)  # (core.screen.Screened, a ValueError, would end the run)
            arm.append(time.process_time() - t)
    model_again, screened = sorted(plain)[1], sorted(with_screen)[1]
contexts = [state.jobs.get(job_id(e.data.get("job"))) or {}
            if e.kind not in ("device", "testjob", "worker") else {} for e in events]
t = time.process_time()
rows = [row_for(event, frames, context, 0.0)
        for event, frames, context in zip(events, frames_list, contexts)]
row = time.process_time() - t
# The writer process's roll-ups of those rows (their Python and upserts), batches of 5,000, each in
# a transaction of a fresh SQLite store in a temporary folder.
import tempfile
from dashboard.storage.store import EventStore
rollups = None  # a ref from before the time roll-ups has no such step
with tempfile.TemporaryDirectory() as tmp:
    store = EventStore(tmp + "/rollups.sqlite3")
    if hasattr(store, "_tracker"):
        rollups = 0.0
        for i in range(0, len(rows), 5000):
            with store._transaction() as conn:
                t = time.process_time()
                pending = store._count_rollups(conn, rows[i:i + 5000])
                rollups += time.process_time() - t
            store._tracker.commit(*pending)
n = len(frames_list) / 1e6
print(json.dumps({"parse": parse / n, "model": model / n, "row": row / n,
                  "rollups": None if rollups is None else rollups / n,
                  "screened_model": None if screened is None else screened / n,
                  "model_again": None if screened is None else model_again / n}))
"""
LOOP_STEPS = ("parse", "model", "row")  # the loop's; "rollups" is the writer process's
# The last two: `model` with access control's screen, and again without it, alternating with it.
NAMES = (*LOOP_STEPS, "rollups", "screened_model", "model_again")


def median(values):
    """The median of the runs' figures, rounded; None when a step does not exist at that ref."""
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def run_steps(checkout, messages_path):
    """µs per event of each step, in one fresh interpreter in `checkout`."""
    out = subprocess.run([sys.executable, "-c", STEPS, str(messages_path)], cwd=checkout,
                         check=True, capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="messages in each run")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each arm (alternating)")
    parser.add_argument("--baseline-ref", help="a git ref to measure against in the same run")
    args = parser.parse_args()
    end = time.time()
    frames_list = list(messages(args.events, end - 86400, end))
    with tempfile.TemporaryDirectory(prefix="hotpath-") as tmp:
        path = pathlib.Path(tmp) / "messages.pickle"
        path.write_bytes(pickle.dumps(frames_list))
        runs, commit = alternate(args.baseline_ref, tmp, args.repeat,
                                 lambda checkout: run_steps(checkout, path))
    medians = {arm: {step: median([r[step] for r in rs]) for step in NAMES}
               for arm, rs in runs.items()}
    for m in medians.values():
        m["all three"] = round(sum(m[step] for step in LOOP_STEPS), 2)
    out = {"command": "python " + " ".join(sys.argv),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "events": args.events, "baseline_ref": args.baseline_ref,
           "baseline_commit": commit,
           "runs": {arm: [{k: None if v is None else round(v, 2) for k, v in r.items()} for r in rs]
                    for arm, rs in runs.items()},
           "median_cpu_us_per_event": medians}
    current = medians["current"]
    if current["screened_model"] is not None:  # what the device screen costs the model step
        out["screened_model_over_model"] = round(current["screened_model"] / current["model_again"], 3)
    if commit:
        out["ratio_current_over_baseline"] = {
            step: (round(medians["current"][step] / medians["baseline"][step], 3)
                   if medians["current"][step] is not None and medians["baseline"][step] else None)
            for step in medians["current"]}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
