"""Export benchmark: what fixing an export's ids before it is sent costs (dashboard/web/paging.py's
plan_export), against reading the export's rows alone. Prints JSON.

A store of N synthetic events (bench/store.py's lab, over 30 days) is written once, in a temporary
folder. Then, for each case (a viewer who sees every job, or one who may not; a day or the whole
month; no filter, one kind, one device), `--repeat` times in turn:
- the baseline: the export's rows read as before plans existed (`export_rows` over the ids the
  plan gives, so the very same rows);
- the plan (`plan_export`) alone, and the plan and then its rows.
The ratio is of the medians, (plan + rows) over rows: what an export costs more now. The HTTP
answer adds each row's JSON or CSV on top, so the ratio of a whole export is smaller than this.
`id_bounds` times the store's oldest and newest ids (asked by every page of events a restricted
viewer reads) against the single SELECT it was, in the same run.

    python bench/export.py --events 1000000 --repeat 5
"""
import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.store import write  # noqa: E402
from dashboard.core.visibility import ANONYMOUS, EVERYONE, Viewing, Visibility  # noqa: E402
from dashboard.storage.store import EventStore  # noqa: E402
from dashboard.web.paging import export_rows, plan_export  # noqa: E402

MOST = 100_000  # --export-max's default
PAGE = 2000  # dashboard/web/feeds.py's EXPORT_PAGE


def now(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def median_ms(times):
    return round(statistics.median(times) * 1000, 2)


def seconds(fn):
    """How long one call of fn() takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def case(store, view, filters, since, until, repeat):
    """Medians of the rows alone, the plan alone, and both; rows counted."""
    rows_t, plan_t, both_t, count = [], [], [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        plan = plan_export(store, filters, since, until, view, MOST, run=now)
        t1 = time.perf_counter()
        got = sum(1 for _ in export_rows(store, filters, since, until, view, plan, PAGE, run=now))
        t2 = time.perf_counter()
        again = sum(1 for _ in export_rows(store, filters, since, until, view, plan, PAGE, run=now))
        t3 = time.perf_counter()
        assert got == again
        count = got
        plan_t.append(t1 - t0)
        both_t.append(t2 - t0)
        rows_t.append(t3 - t2)
    return {"rows": count, "cut": plan.rest is not None, "rows_alone_ms": median_ms(rows_t),
            "plan_ms": median_ms(plan_t), "plan_and_rows_ms": median_ms(both_t),
            "ratio": round(statistics.median(both_t) / statistics.median(rows_t), 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not (1000 <= args.events <= 5_000_000 and 1 <= args.repeat <= 50):
        parser.error("--events from 1,000 to 5,000,000, --repeat from 1 to 50")
    out = {"command": "python " + " ".join(sys.argv), "events": args.events, "cases": {}}
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore(str(pathlib.Path(folder) / "events.sqlite3"))
        end = time.time()
        out["written_per_s"] = write(store, args.events, end)
        viewers = {"sees_all": Viewing(EVERYONE, {}, Visibility()),
                   "restricted": Viewing(ANONYMOUS, {}, Visibility())}
        ranges = {"a_day": (end - 86400, None), "a_day_a_week_ago": (end - 8 * 86400, end - 7 * 86400),
                  "30_days": (end - 30 * 86400, None)}
        filters = {"none": {}, "kind_device": {"kind": "device"}, "one_device": {"device": "dev-001"}}
        for viewer, view in viewers.items():
            for rng, (since, until) in ranges.items():
                for name, flt in filters.items():
                    key = f"{viewer}/{rng}/{name}"
                    out["cases"][key] = case(store, view, flt, since, until, args.repeat)
                    print(json.dumps({key: out["cases"][key]}), file=sys.stderr, flush=True)
        # A restricted viewer's every page of events and every export asks id_bounds: its two
        # subqueries against the one SELECT MIN(id), MAX(id) it was (which reads every row).
        one = lambda: store._rows("SELECT MIN(id) AS lo, MAX(id) AS hi FROM events")[0]  # noqa: E731
        assert tuple(one()) == store.id_bounds()
        out["id_bounds"] = {"one_select_ms": median_ms([seconds(one) for _ in range(args.repeat)]),
                            "two_subqueries_ms": median_ms([seconds(store.id_bounds)
                                                            for _ in range(args.repeat)])}
        store.close()
    out["ratio_median_of_cases"] = round(statistics.median(c["ratio"] for c in out["cases"].values()), 3)
    out["ratio_max"] = max(c["ratio"] for c in out["cases"].values())
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
