"""Index trade benchmark: what each index of the events table costs the writer, and what the history
queries lose without it. Prints JSON.

The store's writer spends much of its CPU on the events table's eight indexes (issue 15: the store
ratio). This measures, for each candidate left out (and the pairs that overlap: (kind, id) and
(kind, ts), (device, id) and (device, ts)), in a fresh SQLite store of the same rows:
- the writer's CPU per row, the store's own batched insert (EventStore._insert: the row, its
  indexes, the roll-ups), in this process, batches of 5,000;
- the bytes it writes per row (to files, SQLite's temporary statement journal included);
- the latency of the history queries the API makes (the store's own methods), median of --repeat.
One more variant keeps every index and inserts the events with SQLite's default conflict handling
instead of the store's INSERT OR ROLLBACK (storage/schema.py, SQLITE_INSERT).
The baseline is the store with every index, measured first and last in the same run (ratios are
against the mean of the two). Once more with every index, the insert is split into its parts
(`writer_split_us_per_row`: the events table's rows and indexes, the roll-ups, the commit), as
EventStore._insert does them, timed apart.

With --storage, every index is kept and the variants are the file's or the rows' (STORAGE): the
page size (the store's own is 16 KiB), mmap, and `frames` without the event's data.

    python bench/indexes.py --events 300000 --repeat 5
    python bench/indexes.py --events 300000 --repeat 5 --storage
"""
import argparse
import json
import pathlib
import sqlite3
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.store import messages  # noqa: E402
from dashboard.core.events import parse_frames  # noqa: E402
from dashboard.core.state import LabState  # noqa: E402
from dashboard.storage.store import INSERT, READER_CACHE_KIB, EventStore, row_for  # noqa: E402
from tests.helpers import written_bytes  # noqa: E402

BATCH = 5000
VARIANTS = {
    "all indexes": (),
    "without events_kind (kind, id)": ("events_kind",),
    "without events_kind_ts (kind, ts)": ("events_kind_ts",),
    "without events_device (device, id)": ("events_device",),
    "without events_device_ts (device, ts)": ("events_device_ts",),
    "without both (x, id)": ("events_kind", "events_device"),
    "without both (x, ts)": ("events_kind_ts", "events_device_ts"),
}
# Every index, and SQLite's default conflict handling (ABORT) instead of the store's OR ROLLBACK:
# each statement of many rows first copies the pages it changes to a statement journal.
PLAIN_INSERT = "all indexes, plain INSERT (a statement journal)"
# --storage: every index, and the file or the rows made otherwise (what-ifs for the writer's CPU):
# another page size (the store's is PAGE_SIZE; the WAL's checkpoint stays at the same bytes), SQLite
# reading the file through mmap, and rows whose `frames` leave out the event's data (it is in
# `data` already).
STORAGE = {
    "page_size 4096 (SQLite's default)": {"page_size": 4096},
    "page_size 8192": {"page_size": 8192},
    "page_size 32768": {"page_size": 32768},
    "mmap_size 256 MiB": {"mmap": 256 << 20},
    "frames without the data frame": {"four_frames": True},
}


class TunedStore(EventStore):
    """The store with its file made at another page size, and mmap on its connections."""

    def __init__(self, path, page_size=None, mmap=None):
        self.mmap = mmap
        if page_size:  # set on an empty file, before WAL: it cannot change afterwards
            conn = sqlite3.connect(path)
            conn.execute(f"PRAGMA page_size={int(page_size)}")
            conn.execute("CREATE TABLE made (x)")
            conn.commit()
            conn.close()
        super().__init__(path)

    def _connect(self, cache_kib=READER_CACHE_KIB):
        conn = super()._connect(cache_kib)
        if self.mmap:
            conn.execute(f"PRAGMA mmap_size={int(self.mmap)}")
        return conn


def stored_rows(n, end):
    """The rows ingest would store for n messages of bench/store.py's synthetic week."""
    state, rows = LabState(max_finished_jobs=500), []
    for frames in messages(n, end - 7 * 86400, end):
        event = parse_frames(frames)
        if state.apply(event) is None:
            continue
        rows.append(row_for(event, frames, state.row_context(event), time.time()))
    return rows


def queries(end, middle_id):
    """name → fn(store): the history API's queries (web/history.py asks the store these)."""
    day, week = end - 86400, end - 7 * 86400
    return {
        "events of one device, newest 100": lambda s: s.events({"device": "dev-042"}, limit=100),
        "events of one device, a page in the middle": lambda s: s.events(
            {"device": "dev-042"}, before=middle_id, limit=100),
        "job events, newest 100": lambda s: s.events({"kind": "testjob"}, limit=100),
        "job events, a page in the middle": lambda s: s.events({"kind": "testjob"}, before=middle_id,
                                                               limit=100),
        "test-shell events of the last 24 h, newest 100": lambda s: s.events(
            {"kind": "event"}, since=day, until=end, limit=100),
        "one device's rows of 24 h (its timeline)": lambda s: s.rows(
            "device", day, end, {"device": "dev-042"}),
        "every device's rows of 24 h (utilisation)": lambda s: s.rows("device", day, end),
        "one device's state before 24 h": lambda s: s.state_before(
            "device", "device", day, {"device": "dev-042"}, lookback=30 * 86400),
        "every device's state before 24 h": lambda s: s.state_before(
            "device", "device", day, lookback=30 * 86400),
        "jobs finished in 7 days (outcomes)": lambda s: s.outcomes(week, end),
        "events of one job": lambda s: s.events({"job": 1234}, limit=100),
    }


def four_frames(rows):
    """The rows with `frames` left without its last frame (the event's data, kept in `data`)."""
    return [(*row[:-1], json.dumps(json.loads(row[-1])[:4])) for row in rows]


def measure(rows, drop, end, repeat, path, plain=False, tuning=None):
    tuning = dict(tuning or {})
    if tuning.pop("four_frames", False):
        rows = four_frames(rows)
    store = TunedStore(path, **tuning) if tuning else EventStore(path)
    if plain:
        store.events_insert = INSERT
    with store._transaction() as conn:
        for index in drop:
            conn.execute(f"DROP INDEX {index}")
    t, w = time.process_time(), written_bytes()
    for i in range(0, len(rows), BATCH):
        assert store._insert(rows[i:i + BATCH]) == len(rows[i:i + BATCH]), store.last_error
    insert = (time.process_time() - t) / len(rows) * 1e6
    middle_id = len(rows) // 2
    out = {"writer_cpu_us_per_row": round(insert, 2),
           "written_bytes_per_row": round((written_bytes() - w) / len(rows)), "query_ms": {}}
    for query, fn in queries(end, middle_id).items():
        fn(store)  # warm the page cache, as a running store is
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn(store)
            times.append((time.perf_counter() - t) * 1000)
        out["query_ms"][query] = round(statistics.median(times), 2)
    size = pathlib.Path(store.path).stat().st_size
    out["file_mb"] = round(size / 2**20, 1)
    return out


def split(rows, tmp):
    """CPU µs per row of each part of the insert, with every index: EventStore._insert's steps."""
    store = EventStore(f"{tmp}/split.sqlite3")
    parts = {"events table and its indexes": 0.0, "roll-ups": 0.0, "commit": 0.0}
    for i in range(0, len(rows), BATCH):
        batch = rows[i:i + BATCH]
        t0 = time.process_time()
        with store._transaction() as conn:
            store._write_many(conn, store.events_insert, batch)
            t1 = time.process_time()
            pending = store._count_rollups(conn, batch)
            t2 = time.process_time()
        t3 = time.process_time()
        store._tracker.commit(*pending)
        parts["events table and its indexes"] += t1 - t0
        parts["roll-ups"] += t2 - t1
        parts["commit"] += t3 - t2
    return {name: round(cpu / len(rows) * 1e6, 2) for name, cpu in parts.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--storage", action="store_true",
                        help="every index, with the page size, mmap or rows made otherwise "
                             "(STORAGE), instead of the indexes left out")
    args = parser.parse_args()
    if not 1_000 <= args.events <= 2_000_000 or not 1 <= args.repeat <= 50:
        parser.error("--events: 1,000 to 2,000,000; --repeat: 1 to 50")
    end = time.time()
    rows = stored_rows(args.events, end)
    out = {"command": "python " + " ".join(sys.argv), "rows": len(rows), "variants": {}}
    middle = list(STORAGE) if args.storage else [*list(VARIANTS)[1:], PLAIN_INSERT]
    order = ["all indexes", *middle, "all indexes (again)"]
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(order):
            drop = VARIANTS.get(name, ())
            out["variants"][name] = measure(rows, drop, end, args.repeat, f"{tmp}/{i}.sqlite3",
                                            plain=name == PLAIN_INSERT, tuning=STORAGE.get(name))
            print(json.dumps({name: out["variants"][name]}), file=sys.stderr, flush=True)
        out["writer_split_us_per_row"] = split(rows, tmp)
    first, last = out["variants"]["all indexes"], out["variants"]["all indexes (again)"]
    base_cpu = (first["writer_cpu_us_per_row"] + last["writer_cpu_us_per_row"]) / 2
    base_q = {q: (first["query_ms"][q] + last["query_ms"][q]) / 2 for q in first["query_ms"]}
    out["against_all_indexes"] = {
        name: {"writer_cpu": round(v["writer_cpu_us_per_row"] / base_cpu, 3),
               "queries": {q: round(ms / base_q[q], 2) if base_q[q] else None
                           for q, ms in v["query_ms"].items()}}
        for name, v in out["variants"].items() if name not in ("all indexes", "all indexes (again)")}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
