"""What a Prometheus scrape of /metrics costs, over a lab of --devices devices (and a tenth as many
workers, four jobs per device), in one process through Flask's test client. Prints JSON.

The baseline, measured in the same run, is /healthz on the same app: the ratio says how a scrape
compares with the health check a load balancer already makes. One device changes before each
scrape of `metrics_ms_median` (a new seq: the lab gauges are counted anew, as in a live lab);
`metrics_unchanged_ms_median` asks again with nothing changed (the counts kept since the last
scrape). bench/bigstate.py measures what a scrape holds the event loop of the real server.

    python bench/metrics.py --devices 5000 --scrapes 50
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
from dashboard.factory import create_app  # noqa: E402

TYPES = ("qemu", "docker", "bbb", "rpi4b", "x86", "juno", "imx8", "hikey")
STATES = (("Idle", "Good"), ("Running", "Good"), ("Idle", "Bad"), ("Idle", "Maintenance"))


def fill(state, devices):
    t = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.timezone.utc)
    n = 0

    def apply(kind, data, user="lavaserver"):
        nonlocal n
        n += 1
        state.apply(Event(kind, f"org.lavasoftware.{kind}", f"b-{n}", t, user, data))
    for w in range(max(1, devices // 10)):
        apply("worker", {"hostname": f"w{w}", "state": "Online", "health": "Active"})
    for i in range(devices):
        st, health = STATES[i % len(STATES)]
        apply("device", {"device": f"d{i}", "device_type": TYPES[i % len(TYPES)], "state": st,
                         "health": health, "worker": f"w{i % max(1, devices // 10)}"})
    for j in range(devices * 4):
        apply("testjob", {"job": j + 1, "device_type": TYPES[j % len(TYPES)],
                          "state": ("Submitted", "Running", "Finished")[j % 3], "health": "Unknown",
                          "submit_time": "2026-11-30T09:00:00+00:00"}, "alice")


def median_ms(client, path, scrapes, before=lambda: None):
    times = []
    for _ in range(scrapes):
        before()
        start = time.perf_counter()
        answer = client.get(path)
        times.append(time.perf_counter() - start)
        assert answer.status_code == 200, answer.status_code
    return round(statistics.median(times) * 1000, 2), len(answer.data)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args(argv)
    if not 1 <= args.devices <= 20000 or not 1 <= args.scrapes <= 1000:
        parser.error("--devices 1 to 20000, --scrapes 1 to 1000")
    app = create_app({"store": False, "alerts": False, "max_jobs": args.devices * 5,
                      "max_finished_jobs": args.devices * 4,
                      "event_source": ["tcp://127.0.0.1:1"]})
    services = app.extensions["dashboard"]
    fill(services.state, args.devices)
    client = app.test_client()
    changes = iter(range(10**9))

    def change():  # one device changes: a new seq
        n = next(changes)
        services.state.apply(Event("device", "org.lavasoftware.device", f"c-{n}",
                                   dt.datetime.now(dt.timezone.utc), "lavaserver",
                                   {"device": "d0", "state": ("Running", "Idle")[n % 2]}))
    metrics_ms, metrics_bytes = median_ms(client, "/metrics", args.scrapes, change)
    unchanged_ms, _ = median_ms(client, "/metrics", args.scrapes)
    health_ms, _ = median_ms(client, "/healthz", args.scrapes)
    print(json.dumps({"command": "python bench/metrics.py " + " ".join(argv or sys.argv[1:]),
                      "devices": len(services.state.devices), "workers": len(services.state.workers),
                      "jobs": len(services.state.jobs), "scrapes": args.scrapes,
                      "metrics_ms_median": metrics_ms, "metrics_bytes": metrics_bytes,
                      "metrics_unchanged_ms_median": unchanged_ms,
                      "healthz_ms_median": health_ms,
                      "ratio_metrics_to_healthz": round(metrics_ms / health_ms, 2)}, indent=1))


if __name__ == "__main__":
    main()
