"""Start-up benchmark: seconds from `python app.py` to its first answer on /healthz (the simulated
lab, its store in a new folder). Prints JSON.

Arms, alternating, `--repeat` times each:
- "current": this checkout's `app.py`, as `python app.py` runs it where aiohttp is installed (it is,
  with requirements-test.txt; python-engineio imports it whenever it is there);
- "deployed": the same without aiohttp (requirements.txt alone does not install it), as the tests
  start the app (tests/patched_app.py);
- "forked": the same app forked from the tests' fork server (tests/forkserver.py), which has
  imported it once: timed from the request to the first answer (the fork server's own start, once,
  is `fork_server_start_s`);
- with `--baseline-ref REF`: REF's `app.py` checked out with `git worktree add` (removed
  afterwards), started as "current" is.
The ratios are of the medians, against "current" (and REF against "current" as REF / current).
Both arms byte-compile their checkout first, so that neither pays for compiling.

    python bench/startup.py --repeat 9 --baseline-ref 2aa443f
"""
import argparse
import compileall
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import Checkout  # noqa: E402
from tests.helpers import ForkedApp, _ForkServer, free_port  # noqa: E402

WITHOUT_AIOHTTP = ("import runpy, sys; sys.modules['aiohttp'] = None; sys.argv[0] = 'app.py'; "
                   "runpy.run_path('app.py', run_name='__main__')")


def start_once(folder, without_aiohttp, timeout=60.0, fork_server=None):
    """Seconds from the process's start (or the fork server's request) to the first answer of
    /healthz (polled every 10 ms)."""
    port = free_port()
    data = tempfile.mkdtemp(prefix="bench-startup-")
    launch = ["-c", WITHOUT_AIOHTTP] if without_aiohttp else [str(pathlib.Path(folder) / "app.py")]
    args = ["--port", str(port), "--data-dir", data, "--log-level", "WARNING"]
    cmd = [sys.executable, "-W", "ignore::DeprecationWarning", *launch, *args]
    began = time.perf_counter()
    if fork_server:
        proc = ForkedApp(fork_server, fork_server.fork(args, os.devnull), cmd)
    else:
        proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = began + timeout
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
                    resp.read()
                return time.perf_counter() - began
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"no answer in {timeout} s")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="starts of each arm (alternating)")
    parser.add_argument("--baseline-ref", help="a git ref whose app.py is started too")
    args = parser.parse_args()
    baseline = Checkout(args.baseline_ref, tempfile.mkdtemp(prefix="bench-startup-ref-")) \
        if args.baseline_ref else None
    arms = {"current": (ROOT, False), "deployed": (ROOT, True)}
    if baseline:
        arms["baseline"] = (baseline.path, False)
    fork_server = None
    try:
        for folder, _ in arms.values():
            compileall.compile_dir(pathlib.Path(folder) / "dashboard", quiet=1)
        began = time.perf_counter()
        fork_server = _ForkServer("eventlet")
        start_once(ROOT, True, fork_server=fork_server)  # its imports: once, the first start
        fork_server_start_s = round(time.perf_counter() - began, 4)
        arms["forked"] = (ROOT, True)
        runs = {arm: [] for arm in arms}
        for _ in range(args.repeat):
            for arm, (folder, without) in arms.items():
                server = fork_server if arm == "forked" else None
                runs[arm].append(round(start_once(folder, without, fork_server=server), 4))
                print(json.dumps({arm: runs[arm][-1]}), file=sys.stderr)
    finally:
        if baseline:
            baseline.close()
        if fork_server:
            fork_server.close()
    medians = {arm: statistics.median(values) for arm, values in runs.items()}
    print(json.dumps({
        "benchmark": "startup", "repeat": args.repeat,
        "baseline_ref": baseline.commit if baseline else None,
        "seconds_to_first_answer": runs, "median_s": medians,
        "fork_server_start_s": fork_server_start_s,
        "ratio_to_current": {arm: round(m / medians["current"], 3) for arm, m in medians.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
