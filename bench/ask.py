"""What finding a signed-in viewer's private jobs to ask LAVA about costs, per request (web.auth's
viewing(), on every REST, feed and export request of a signed-in viewer) and per subscribe (the
relay's, which also leaves out the jobs LAVA has answered about). Prints JSON.

The baseline is the walk of every job the model holds, as both did before (a list of every
matching job, of which the newest 200 were kept), timed in the same run over the same model:
core.visibility.newest_to_ask walks from the newest and stops at 200.

    python bench/ask.py --jobs 40000 --private 0.1 --repeat 200

`--private` is the share of the model's jobs that are not public. Where fewer than 200 are, the
walk still reads every job: `--private 0.001` shows that case.
"""
import argparse
import json
import pathlib
import random
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.core.visibility import (ASK_AT_ONCE, PRIVATE, PUBLIC, Visibility, job_key,  # noqa: E402
                                       jobs_of_lab, newest_to_ask)


def model(n, private, seed=1):
    rng = random.Random(seed)
    return {i: {"id": i, "state": "Finished", "visibility": PRIVATE if rng.random() < private else PUBLIC}
            for i in range(1, n + 1)}


def whole_walk_request(jobs, lab):
    """viewing()'s choice before: every job's test, then the newest 200."""
    return [i for i, j in jobs.items() if j.get("visibility") != "public"
            and (j.get("lab") or "") == lab][-ASK_AT_ONCE:]


def whole_walk_subscribe(jobs, lab, known):
    """The relay's choice before: every job's test (and LAVA's answer looked up), then the newest 200."""
    return [job_key(j) for j in jobs.values() if j is not None and j.get("visibility") != PUBLIC
            and (j.get("lab") or "") == lab and known(job_key(j)) is None][-ASK_AT_ONCE:]


def timed(fn, repeat):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=40_000)
    ap.add_argument("--private", type=float, default=0.1)
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    if not (0 < args.jobs <= 1_000_000 and 0 <= args.private <= 1 and 1 <= args.repeat <= 10_000):
        ap.error("--jobs 1 to 1,000,000, --private 0 to 1, --repeat 1 to 10,000")
    jobs = model(args.jobs, args.private)
    visibility = Visibility()
    # LAVA has answered about the older half of the private jobs (as after a while signed in).
    privates = [i for i, j in jobs.items() if j["visibility"] == PRIVATE]
    for i in privates[:len(privates) // 2]:
        visibility.learn("alice", i, True)
    known = lambda key: visibility.known("alice", key)  # noqa: E731
    unanswered = lambda key: known(key) is None  # noqa: E731
    assert newest_to_ask(jobs_of_lab(jobs, ""), "") == whole_walk_request(jobs, "")
    assert newest_to_ask(jobs_of_lab(jobs, ""), "", unanswered) == whole_walk_subscribe(jobs, "", known)
    arms = {}
    # Alternating, a round of each at a time, so that the machine's drift falls on both alike.
    pairs = {"request": (lambda: whole_walk_request(jobs, ""),
                         lambda: newest_to_ask(jobs_of_lab(jobs, ""), "")),
             "subscribe": (lambda: whole_walk_subscribe(jobs, "", known),
                           lambda: newest_to_ask(jobs_of_lab(jobs, ""), "", unanswered))}
    for name in pairs:
        arms[name] = {"every job (before)": [], "newest first (now)": []}
    rounds = 10
    for _ in range(rounds):
        for name, (before, now) in pairs.items():
            arms[name]["every job (before)"] += timed(before, max(1, args.repeat // rounds))
            arms[name]["newest first (now)"] += timed(now, max(1, args.repeat // rounds))
    out = {"command": "python " + " ".join(sys.argv), "jobs": args.jobs, "private_share": args.private,
           "private_jobs": len(privates), "asked_at_once": ASK_AT_ONCE, "ms": {}, "ratio_now_over_before": {}}
    for name, arm in arms.items():
        medians = {k: statistics.median(v) for k, v in arm.items()}
        out["ms"][name] = {k: {"median": round(m, 4), "max": round(max(arm[k]), 4)} for k, m in medians.items()}
        out["ratio_now_over_before"][name] = round(medians["newest first (now)"]
                                                   / medians["every job (before)"], 4)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
