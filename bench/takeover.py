"""What a standby ingest process's takeover costs (storage/standby.py): the held rows' uuids looked
up in the shared store, the open spans read again, and the missing rows written. Prints JSON.

A SQLite store already holding --stored events of bench/store.py's synthetic week (500 boards) is
shared by two EventStores, as two ingest processes share one --data-dir. The standby holds the
newest --held rows, of which the first --already were written by the other; its take_over() is
timed (wall and CPU) against the baseline of the same run: a plain insert of the same missing
rows into a copy of the store as it was (what the other would have spent writing them), median
of --repeat, each on a fresh copy.

    python bench/takeover.py --stored 200000 --held 30000 --already 25000 --repeat 3
"""
import argparse
import json
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.indexes import stored_rows  # noqa: E402
from dashboard.core.state import CORRECTION_KIND  # noqa: E402
from dashboard.storage.store import EventStore  # noqa: E402

BATCH = 5000


def fill(store, rows):
    for i in range(0, len(rows), BATCH):
        assert store._insert(rows[i:i + BATCH]) == len(rows[i:i + BATCH]), store.last_error


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=200_000)
    parser.add_argument("--held", type=int, default=30_000)
    parser.add_argument("--already", type=int, default=25_000, help="of the held, stored by the other")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not (0 <= args.already <= args.held <= 30_000 and 1_000 <= args.stored <= 2_000_000
            and 1 <= args.repeat <= 20):
        parser.error("0 <= --already <= --held <= 30,000; --stored 1,000 to 2,000,000; --repeat 1 to 20")
    rows = [r for r in stored_rows(args.stored + args.held, time.time()) if r[4] != CORRECTION_KIND]
    before, held = rows[:-args.held], rows[-args.held:]
    out = {"command": "python " + " ".join(sys.argv), "stored_before": len(before),
           "held": len(held), "already_stored": args.already, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = pathlib.Path(tmp) / "base.sqlite3"
        fill(EventStore(str(base)), before + held[:args.already])  # what the other wrote
        for i in range(args.repeat):
            run = {}
            for arm in ("plain insert of the missing rows", "take_over"):
                path = pathlib.Path(tmp) / f"{i}-{len(run)}.sqlite3"
                shutil.copy(base, path)
                for suffix in ("-wal", "-shm"):
                    if pathlib.Path(str(base) + suffix).exists():
                        shutil.copy(str(base) + suffix, str(path) + suffix)
                store = EventStore(str(path))
                if arm == "take_over":
                    for row in held:
                        store.enqueue(row)
                    store.hold()
                    value, wall, cpu = timed(store.take_over)
                    assert value == (len(held) - args.already, args.already), value
                else:
                    value, wall, cpu = timed(lambda: fill(store, held[args.already:]))
                run[arm] = {"wall_ms": round(wall, 1), "cpu_ms": round(cpu, 1)}
                print(json.dumps({i: {arm: run[arm]}}), file=sys.stderr, flush=True)
            out["runs"].append(run)
    for arm in out["runs"][0]:
        out[arm] = {k: statistics.median(r[arm][k] for r in out["runs"]) for k in ("wall_ms", "cpu_ms")}
    out["take_over_over_plain_cpu"] = round(out["take_over"]["cpu_ms"]
                                            / max(out["plain insert of the missing rows"]["cpu_ms"], 1e-9), 2)
    out["take_over_cpu_us_per_held_row"] = round(out["take_over"]["cpu_ms"] * 1000 / len(held), 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
