"""Bootstrap benchmark: a fake LAVA server with 5,000 devices, 500 workers and 20,000 jobs; time from
process start to serving the full state, and peak memory. Prints JSON.

Baseline, measured in the same run: the same app started with no LAVA server (an empty model), so the
figures that matter are the differences and ratios.

    python bench/bootstrap.py --devices 5000 --workers 500 --jobs 20000 --repeat 3
"""
import argparse
import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_lava import FakeLava  # noqa: E402
from tests.helpers import AppProcess, free_port, wait_until  # noqa: E402

TYPES = ("qemu", "docker", "bcm2711-rpi-4-b", "beaglebone-black", "x86", "juno", "hikey")
UNFINISHED = ("Submitted", "Scheduled", "Running", "Canceling")


def make_lab(n_devices, n_workers, n_jobs, unfinished_share=0.1):
    """REST-shaped devices, workers and jobs, deterministic."""
    workers = [{"hostname": f"worker-{i:04d}", "state": ("Online", "Offline")[i % 13 == 0],
                "health": ("Active", "Maintenance")[i % 29 == 0], "description": None,
                "last_ping": "2026-11-27T17:00:00Z", "job_limit": 0, "version": "2023.01"}
               for i in range(n_workers)]
    devices = [{"hostname": f"dev-{i:05d}", "device_type": TYPES[i % len(TYPES)],
                "state": ("Idle", "Running", "Idle", "Reserved")[i % 4],
                "health": ("Good", "Good", "Unknown", "Bad", "Maintenance", "Retired", "Good")[i % 7],
                "worker_host": workers[i % n_workers]["hostname"], "description": None, "tags": [],
                "device_version": None, "physical_owner": None, "physical_group": None,
                "last_health_report_job": None, "is_synced": True}
               for i in range(n_devices)]
    jobs = []
    n_unfinished = int(n_jobs * unfinished_share)
    for i in range(n_jobs):
        state = UNFINISHED[i % 4] if i >= n_jobs - n_unfinished else "Finished"
        device = devices[i % n_devices]["hostname"] if state in ("Scheduled", "Running", "Canceling") or state == "Finished" else None
        jobs.append({"id": i + 1, "submitter": f"user{i % 17}", "viewing_groups": [],
                     "description": f"benchmark job {i + 1}", "health_check": i % 10 == 0,
                     "requested_device_type": TYPES[i % len(TYPES)], "tags": [],
                     "actual_device": device, "submit_time": "2026-11-27T10:00:00Z",
                     "start_time": None if state == "Submitted" else "2026-11-27T10:01:00Z",
                     "end_time": "2026-11-27T10:05:00Z" if state == "Finished" else None,
                     "state": state,
                     "health": ("Complete", "Incomplete", "Canceled")[i % 3] if state == "Finished" else "Unknown",
                     "priority": (0, 50, 100)[i % 3], "failure_tags": [], "failure_comment": None})
    return devices, workers, jobs


def peak_rss_mib(pid):
    """VmHWM: the process's peak resident memory."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def run(args, lava, max_finished):
    """Start the app; seconds until it serves the full state; its peak memory."""
    extra = ["--zmq", f"tcp://127.0.0.1:{free_port()}", "--log-level", "WARNING",
             "--max-finished-jobs", str(max_finished)]
    if lava:
        extra += ["--lava-url", lava.url, "--reconcile-interval", "3600"]
    t0 = time.monotonic()
    app = AppProcess(*extra, async_mode=args.async_mode)
    try:
        answered = time.monotonic() - t0
        if lava:
            wait_until(lambda: app.json("/healthz")["lava"]["loaded"], timeout=args.timeout,
                       interval=0.05, what="LAVA state loaded")
        loaded = time.monotonic() - t0
        state = app.json("/api/v1/state")
        served = time.monotonic() - t0
        return {"first_answer_s": round(answered, 3), "loaded_s": round(loaded, 3),
                "full_state_served_s": round(served, 3), "devices": len(state["devices"]),
                "workers": len(state["workers"]), "jobs": len(state["jobs"]),
                "peak_rss_mib": peak_rss_mib(app.proc.pid),
                "lava_fetch_s": app.json("/healthz")["lava"]["last_duration"] if lava else None}
    finally:
        app.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--async-mode", default="eventlet", choices=("eventlet", "gevent"))
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    devices, workers, jobs = make_lab(args.devices, args.workers, args.jobs)
    lava = FakeLava()
    lava.devices, lava.workers, lava.jobs = devices, workers, jobs
    out = {"command": "python " + " ".join(sys.argv),
           "lab": {"devices": args.devices, "workers": args.workers, "jobs": args.jobs,
                   "unfinished_jobs": sum(j["state"] != "Finished" for j in jobs)},
           "runs": {}}
    try:
        for name, use_lava, max_finished in (("baseline_no_lava", False, 500),
                                             ("lava_default_500_finished", True, 500),
                                             ("lava_all_jobs", True, args.jobs)):
            results = [run(args, lava if use_lava else None, max_finished) for _ in range(args.repeat)]
            out["runs"][name] = {"median": {k: statistics.median(r[k] for r in results)
                                            for k in results[0] if isinstance(results[0][k], (int, float))},
                                 "all": results}
            print(json.dumps({name: out["runs"][name]["median"]}), file=sys.stderr, flush=True)
    finally:
        lava.close()
    base = out["runs"]["baseline_no_lava"]["median"]
    for name in ("lava_default_500_finished", "lava_all_jobs"):
        med = out["runs"][name]["median"]
        out["runs"][name]["vs_baseline"] = {
            "extra_seconds_to_full_state": round(med["full_state_served_s"] - base["full_state_served_s"], 3),
            "peak_rss_ratio": round(med["peak_rss_mib"] / base["peak_rss_mib"], 2)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
