"""The store writer's work per event, in CPU instructions: what one stored event costs the writer
process's insert (the events table, its indexes and every roll-up, in batches of 2,000 as under
load), counted by valgrind's callgrind. Prints JSON.

Instructions, not seconds: on these shared machines a timed run of the same code moves by a tenth
(docs/performance.md), while callgrind's count is the same run after run, whatever else the
machine does. So a change to the writer's hot path can be measured here before `bench/store.py`'s
noisy ratio. The baseline is REF checked out (`git worktree add`, removed afterwards) and counted
in the same run. Each count is of a run that inserts, less a run that only makes the same rows.

    python bench/writer_instructions.py --baseline-ref HEAD~1 --events 20000

Needs valgrind (Debian's package); about 3 minutes an arm for 20,000 events on 2 cores.
"""
import argparse
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import Checkout  # noqa: E402

BATCH = 2000
END = 1764800000.0  # a fixed end: the same rows in both arms, run after run
DAYS = 7
MOST_EVENTS = 200_000  # under callgrind, about 15 s of wall time per 1,000 events

# Run by callgrind, inside the checkout being measured (its own code, this file's events).
CHILD = """
import os, sys, tempfile
sys.path.insert(0, {root!r})
sys.path.insert(1, {here!r})
from bench.store import messages
from dashboard.core.events import parse_frames
from dashboard.storage.store import EventStore, row_for
n, insert = {events}, {insert}
rows = [row_for(parse_frames(f), f, {{}}, 0.0) for f in messages(n, {start}, {end})]
with tempfile.TemporaryDirectory() as folder:
    store = EventStore(os.path.join(folder, "events.db"))
    if insert:
        for i in range(0, n, {batch}):
            store._insert(rows[i:i + {batch}])
    store.close()
"""


def instructions(root, events, insert):
    """Instructions callgrind counted for CHILD in `root`."""
    code = CHILD.format(root=str(root), here=str(ROOT), events=events, insert=insert,
                        start=END - DAYS * 86400, end=END, batch=BATCH)
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60 + events * 0.1, cwd=root)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"callgrind failed in {root}: {done.stderr[-2000:]}")
    return int(found.group(1))


def per_event(root, events):
    """Instructions per stored event: a run that inserts, less one that only makes the rows."""
    return (instructions(root, events, True) - instructions(root, events, False)) / events


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--baseline-ref", default="HEAD", help="the commit to compare with")
    args = parser.parse_args()
    if not 0 < args.events <= MOST_EVENTS:
        parser.error(f"--events: from 1 to {MOST_EVENTS}")
    if not shutil.which("valgrind"):
        parser.error("needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Checkout(args.baseline_ref, tmp)
        try:
            current = per_event(ROOT, args.events)
            before = per_event(baseline.path, args.events)
        finally:
            baseline.close()
    print(json.dumps({"events": args.events, "batch": BATCH, "baseline_ref": baseline.commit,
                      "instructions_per_event": {"current": round(current),
                                                 "baseline": round(before)},
                      "ratio_current_over_baseline": round(current / before, 4)}, indent=1))


if __name__ == "__main__":
    main()
