"""Moving a device between two workers, on workers of 1,000 to 30,000 devices: the model's cost per
move (LabState.apply of a device event that names the other worker), and what the REST API's
/api/v1/workers pays to send the sorted list. Prints JSON.

The baseline, measured in the same run, is the same lab with its devices spread over workers of
100: a cost that does not grow with the worker shows as a ratio near 1.0 at every size (the issue
measured 8.8 s, then 35 s, then 70 s for each further 10,000 devices on one worker when every relink
sorted the whole list).

    python bench/relink.py --sizes 1000,10000,30000 --moves 2000 --repeat 5
"""
import argparse
import datetime as dt
import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.core.events import Event  # noqa: E402
from dashboard.core.state import LabState  # noqa: E402

T = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.timezone.utc)
MAX_SIZE = 200_000
MAX_MOVES = 100_000


def device_event(host, worker, uuid):
    return Event("device", "org.lavasoftware.device", uuid, T, "lavaserver",
                 {"device": host, "device_type": "qemu", "state": "Idle", "health": "Good",
                  "worker": worker})


def one_size(size, moves, repeat, per_worker=None):
    """Median seconds per move, and per sorted send of w1, in a lab of `size` devices: all on w1,
    or `per_worker` on each worker."""
    state = LabState(max_devices=size + 10, max_workers=size + 10,
                     dedup_window=size + moves * repeat * 2 + 10)
    for i in range(size):
        worker = "w1" if per_worker is None else ("w1" if i < per_worker else f"w{i // per_worker + 2}")
        state.apply(device_event(f"dev-{i:06d}", worker, f"fill-{i}"))
    state.apply(device_event("mover", "w1", "mover-start"))
    per_move, per_send = [], []
    n = 0
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(moves):
            n += 1
            state.apply(device_event("mover", "w2" if n % 2 else "w1", f"m-{n}"))
        per_move.append((time.perf_counter() - start) / moves)
        start = time.perf_counter()
        sent = state.with_devices(state.workers["w1"])
        per_send.append(time.perf_counter() - start)
        assert len(sent["devices"]) in (size, size + 1) or per_worker
    return statistics.median(per_move), statistics.median(per_send)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,30000",
                        help="devices in the lab, comma-separated")
    parser.add_argument("--moves", type=int, default=2000, help="moves per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds per size (median)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if not sizes or any(not 1 <= s <= MAX_SIZE for s in sizes):
        parser.error(f"--sizes: each from 1 to {MAX_SIZE}")
    if not 1 <= args.moves <= MAX_MOVES or not 1 <= args.repeat <= 50:
        parser.error(f"--moves 1 to {MAX_MOVES}, --repeat 1 to 50")
    rows = []
    for size in sizes:
        spread, _ = one_size(size, args.moves, args.repeat, per_worker=100)
        move, send = one_size(size, args.moves, args.repeat)
        rows.append({"devices": size, "move_us_one_worker": round(move * 1e6, 2),
                     "move_us_workers_of_100": round(spread * 1e6, 2),
                     "ratio": round(move / spread, 2),
                     "rest_send_ms_one_worker": round(send * 1e3, 3)})
    print(json.dumps({"command": "python bench/relink.py " + " ".join(argv or sys.argv[1:]),
                      "moves": args.moves, "repeat": args.repeat, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
