"""Signed-in viewers' sessions at their bound: the CPU of the sweep that ends them, and of the token
lookups the job-visibility queue makes. Prints JSON.

Each run, in a fresh interpreter in the code's folder, fills `dashboard.web.sessions.Sessions` to
`--sessions` (MAX_SESSIONS, 10,000) sessions of as many viewers, one each (the worst case for a
lookup by viewer), lets half of them pass their idle time, and times:
- the sweep as `web.auth.Access.sweep` makes it: `Sessions.sweep()`, then `token_of` of each viewer
  it ended (whether another session of theirs still lasts);
- `token_of` of each viewer still signed in (the job-visibility queue asks it before each lookup,
  and of every signed-in viewer when it asks LAVA again).

With `--baseline-ref REF` the same runs go through the code at REF (checked out with `git worktree
add` into a temporary folder, removed afterwards), arms alternating, each `--repeat` times; the
ratios are of the medians.

    python bench/sessions.py --baseline-ref 4585c99 --repeat 3
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import alternate  # noqa: E402

# Run in the checkout's folder, with its dashboard package.
RUN = r"""
import json, sys, time
sys.path.insert(0, ".")
from dashboard.web.sessions import Sessions

n = int(sys.argv[1])
now = [1000.0]
sessions = Sessions(idle=600, lifetime=86400, clock=lambda: now[0], size=n)
ids = []
for i in range(n):
    ids.append(sessions.create(f"viewer-{i}", f"token-{i}"))
    now[0] += 0.01
live = [f"viewer-{i}" for i in range(1, n, 2)]  # every other viewer stays in use
now[0] += 500
for sid, user in [(sid, f"viewer-{i}") for i, sid in enumerate(ids)][1::2]:
    assert sessions.get(sid).username == user  # used now
now[0] += 200  # the others: idle for more than 600 s
t = time.process_time()
gone = sessions.sweep()
still = sum(sessions.token_of(user) is not None for user in gone)
sweep = time.process_time() - t
assert len(gone) == n // 2 and still == 0 and len(sessions) == n - n // 2
t = time.process_time()
found = sum(sessions.token_of(user) is not None for user in live)
lookups = time.process_time() - t
assert found == len(live)
print(json.dumps({"sweep_ms": sweep * 1000, "token_of_us": lookups / len(live) * 1e6}))
"""


def run(checkout, sessions):
    out = subprocess.run([sys.executable, "-c", RUN, str(sessions)], cwd=checkout, check=True,
                         capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000, help="sessions, one per viewer")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each arm (alternating)")
    parser.add_argument("--baseline-ref", help="a git ref to measure against in the same run")
    args = parser.parse_args()
    if not (2 <= args.sessions <= 100_000 and 1 <= args.repeat <= 20):
        parser.error("--sessions from 2 to 100,000, --repeat from 1 to 20")
    with tempfile.TemporaryDirectory(prefix="sessions-") as tmp:
        runs, commit = alternate(args.baseline_ref, tmp, args.repeat,
                                 lambda checkout: run(checkout, args.sessions))
    medians = {arm: {k: round(statistics.median(r[k] for r in rs), 3) for k in rs[0]}
               for arm, rs in runs.items()}
    out = {"command": "python " + " ".join(sys.argv),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "sessions": args.sessions, "baseline_ref": args.baseline_ref,
           "baseline_commit": commit,
           "runs": {arm: [{k: round(v, 3) for k, v in r.items()} for r in rs]
                    for arm, rs in runs.items()},
           "median": medians}
    if commit:
        out["ratio_current_over_baseline"] = {
            k: round(medians["current"][k] / medians["baseline"][k], 4) for k in medians["current"]}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
