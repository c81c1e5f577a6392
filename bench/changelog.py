"""What making a full change log's changes of a hidden board empty costs the loop
(core/changelog.py `without_screened`, run by the relay's push whenever a batch holds a removal for
the screen: LAVA hid a board, or scheduled a job on one). Prints JSON.

The log is the relay's default size (5,000 changes: --change-log) of a synthetic lab's device, job
and message changes; the batch removes one board. The baseline, measured in the same run and in
turn with it, is copying the same log into a new deque, which the push does as well: the ratio
says what the scan adds to that copy.

    python bench/changelog.py --repeat 21
"""
import argparse
import collections
import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.core.changelog import without_screened  # noqa: E402
from dashboard.core.state import Change  # noqa: E402


def synthetic_log(size, boards=200):
    """`size` consecutive changes: device records, jobs on boards, and their messages."""
    log = []
    for seq in range(1, size + 1):
        board = f"dev-{seq % boards:03d}"
        job = 1000 + seq // 3
        kind = ("device", "job", "event")[seq % 3]
        if kind == "device":
            log.append(Change(seq, "device", board, {"hostname": board, "state": "Idle",
                                                     "health": "Good", "worker": "w-1"}, None))
        elif kind == "job":
            log.append(Change(seq, "job", job, {"id": job, "state": "Running", "device": board,
                                                "description": "ltp fs"}, None))
        else:
            log.append(Change(seq, "event", f"u{seq}", {"job": job, "device": board,
                                                        "message": "a line"}, None))
    return log


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5000, help="changes in the log")
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args(argv)
    log = synthetic_log(args.size)
    batch = [Change(args.size + 1, "device", "dev-007", None, {"hostname": "dev-007"}, "", True)]
    log.append(batch[0])
    scan, copy, emptied = [], [], 0
    for _ in range(args.repeat):  # in turn, so that neither has the warm caches alone
        started = time.perf_counter()
        kept, emptied = without_screened(log, batch)
        collections.deque(kept, maxlen=args.size)
        scan.append(time.perf_counter() - started)
        started = time.perf_counter()
        collections.deque(log, maxlen=args.size)
        copy.append(time.perf_counter() - started)
    result = {"command": "python bench/changelog.py " + " ".join(argv or sys.argv[1:]),
              "log_changes": len(log), "emptied": emptied, "repeat": args.repeat,
              "push_ms_median": round(statistics.median(scan) * 1000, 3),
              "copy_ms_median": round(statistics.median(copy) * 1000, 3),
              "ratio_over_copy": round(statistics.median(scan) / statistics.median(copy), 2)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
