"""Fan-out benchmark: publish LAVA events at a rate into a running dashboard, N Socket.IO clients in
separate processes, and measure latency, losses, final state and server CPU. Prints JSON.

The baseline, measured in the same run, is the naive relay (`--relay-mode naive`: one emit per change
per client). Pass criterion for a rate: every client ends with exactly the model's state, no change is
lost, and p99 publish→receive latency is under --p99-limit (300 ms).

    python bench/fanout.py --clients 100 --duration 10 --rates 250,500,1000,2000 --modes batched,naive

Scale-out (`--webs 0,1,2,4`): 0 is the single process (`--role all`, the baseline); N runs a real
redis-server, one ingest process and N web processes, the client processes spread evenly over the web
processes. Server CPU then counts every server process (ingest, webs, Redis), and `clients_per_core`
is clients / cores used.

    python bench/fanout.py --clients 200 --duration 10 --rates 500,1000,2000,4000 --modes batched --webs 0,1,2,4
"""
import argparse
import asyncio
import json
import multiprocessing as mp
import os
import pathlib
import sys
import time

import zmq

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import cpu_with_children  # noqa: E402
from bench.wsclient import BenchClient, view_fingerprint  # noqa: E402
from tests.helpers import AppProcess, free_port, wait_until  # noqa: E402
from tests.servers import RedisServer  # noqa: E402

DEVICE_TYPES = ("qemu", "docker", "bbb", "rpi4b")
N_DEVICES = 200
# --variants: the same workload against differently configured servers, in the same run.
NO_LIMITS = ["--subscribe-burst", "1000000", "--subscribe-rate", "1000000",
             "--max-client-queue", "100000000", "--max-client-messages", "100000000"]
# The limits per address off (every client of a benchmark is 127.0.0.1).
PER_ADDRESS_OFF = ["--max-connections-per-address", "0", "--max-sessions-per-address", "0",
                   "--subscribe-burst", "1000000", "--subscribe-rate", "1000000"]
PRIVATE_JOBS = range(500_000, 500_050)  # jobs of BENCH_USER, private to them (--variants access)
BENCH_USER, BENCH_TOKEN = "bench-user", "bench-user-token-0123456789"
ADMIN_TOKEN = "bench-admin-token-0123456789"


def job_message(i, now):
    """Every tenth message of --mix jobs: a private job of BENCH_USER moves on (description and
    submitter are what a viewer who may not see it must never get)."""
    job = PRIVATE_JOBS[(i // 10) % len(PRIVATE_JOBS)]
    state = ("Submitted", "Running", "Finished")[(i // 500) % 3]
    data = {"job": job, "state": state, "health": "Complete" if state == "Finished" else "Unknown",
            "description": f"private bench job {job}", "submitter": BENCH_USER,
            "device_type": "qemu", "submit_time": "2026-11-30T10:00:00+00:00"}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}+00:00"
    return [b"org.lavasoftware.testjob", f"bench-{i}-{now}".encode(), stamp.encode(),
            BENCH_USER.encode(), json.dumps(data).encode()]


def message(i, now, mix="devices"):
    """The i-th synthetic lava-publisher message: every one changes one device's health or state
    (with --mix jobs, every tenth is a private job's instead)."""
    if mix == "jobs" and i % 10 == 0:
        return job_message(i, now)
    device = i % N_DEVICES
    cycle = i // N_DEVICES
    data = {"device": f"bench-{device:03d}", "device_type": DEVICE_TYPES[device % 4],
            "worker": f"worker-{device % 8}", "state": ("Idle", "Running")[cycle % 2],
            "health": ("Good", "Unknown", "Good", "Bad")[cycle % 4]}
    if data["state"] == "Running":
        data["job"] = 100000 + i
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}+00:00"
    return [b"org.lavasoftware.device", f"bench-{i}-{now}".encode(), stamp.encode(), b"lavaserver",
            json.dumps(data).encode()]


def publish(endpoint, rate, duration, go, done, mix="devices"):
    """Child process: an XPUB socket; after `go`, send `rate` messages/s for `duration` s."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.bind(endpoint)
    go.wait(120)
    start = time.time()
    sent = 0
    total = int(rate * duration)
    while sent < total and time.time() - start < duration * 3:
        due = min(total, int((time.time() - start) * rate) + 1)
        while sent < due:
            sock.send_multipart(message(sent, time.time(), mix))
            sent += 1
        time.sleep(0.002)
    done.put({"sent": sent, "seconds": round(time.time() - start, 3)})
    time.sleep(0.5)
    sock.close(0)
    ctx.term()


def clients_proc(index, url, n, compression, ready, stop, seqs, results, signed_in=0):
    """Child process: n BenchClients in one asyncio loop (the first `signed_in` of them signed in
    as BENCH_USER); reports their figures at the end."""
    async def main():
        stop_event = asyncio.Event()
        clients = [BenchClient(url, compression=compression,
                               headers={"Authorization": f"Token {BENCH_TOKEN}"} if i < signed_in else None)
                   for i in range(n)]
        tasks = [asyncio.create_task(c.run(stop_event)) for c in clients]
        await asyncio.wait_for(asyncio.gather(*(c.subscribed.wait() for c in clients)), 60)
        ready.put(index)
        cpu_at_ready = time.process_time()
        while not stop.is_set():
            seqs[index] = min((c.seq if c.seq is not None else -1) for c in clients)
            await asyncio.sleep(0.05)
        stop_event.set()
        await asyncio.wait(tasks, timeout=5)
        results.put({"cpu_s": time.process_time() - cpu_at_ready,
                     "latencies": [x for c in clients for x in c.latencies],
                     "clients": [{"seq": c.seq, "first_seq": c.first_seq, "changes": c.changes,
                                  "gaps": c.gaps,
                                  "resyncs": c.resyncs, "fingerprint": c.fingerprint(),
                                  "signed_in": bool(c.headers)}
                                 for c in clients]})
    asyncio.run(main())


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Servers:
    """The dashboard under test: one process (webs=0), or Redis + ingest + `webs` web processes."""

    def __init__(self, webs, app_args, async_mode):
        self.redis = None
        self.webs = []
        if not webs:
            self.app = AppProcess(*app_args, async_mode=async_mode)
            self.urls = [self.app.url]
            wait_until(lambda: self.app.json("/healthz")["status"] == "ok", timeout=30,
                       what="source connected")
            return
        self.redis = RedisServer().start()
        queue = ["--message-queue", self.redis.url]
        try:
            self.app = AppProcess("--role", "ingest", *app_args, *queue, async_mode=async_mode)
            self.webs = [AppProcess("--role", "web", *app_args, *queue, async_mode=async_mode)
                         for _ in range(webs)]
            self.urls = [w.url for w in self.webs]
            for proc in (self.app, *self.webs):
                wait_until(lambda: proc.json("/healthz")["status"] == "ok", timeout=30,
                           what=f"{proc.url} healthy")
        except BaseException:
            self.stop()
            raise

    def cpu_by_process(self):
        """CPU seconds so far of each server process: {"app" or "ingest", "web1".., "redis"}."""
        procs = {"ingest" if self.webs else "app": self.app.proc.pid}
        procs.update({f"web{i + 1}": w.proc.pid for i, w in enumerate(self.webs)})
        if self.redis:
            procs["redis"] = self.redis.proc.pid
        return {name: cpu_with_children(pid) for name, pid in procs.items()}

    def stop(self):
        for proc in (*self.webs, getattr(self, "app", None)):
            if proc:
                proc.stop()
        if self.redis:
            self.redis.close()


class AccessLab:
    """--variants access: a fake LAVA (tests/fake_lava.py, a real HTTP server) that knows BENCH_USER
    and their private jobs; the app runs with --access lava against it."""

    def __init__(self, tmp):
        import copy

        from tests.fake_lava import FakeLava

        self.lava = FakeLava(token=ADMIN_TOKEN)
        self.lava.users[BENCH_TOKEN] = (BENCH_USER, [])
        for job_id in PRIVATE_JOBS:
            job = copy.deepcopy(self.lava.job(13))
            job.update(id=job_id, submitter=BENCH_USER, description=f"private bench job {job_id}")
            self.lava.jobs.append(job)
            self.lava.private[job_id] = None
        self.token_file = pathlib.Path(tmp) / "token"
        self.token_file.write_text(ADMIN_TOKEN)

    def args(self):
        return ["--lava-url", self.lava.url, "--lava-token-file", str(self.token_file),
                "--access", "lava", "--reconcile-interval", "3600"]

    def warm_up(self, app):
        """Until LAVA has said which jobs are private and that BENCH_USER may see theirs: what the
        clients then subscribe to needs no refresh while it is measured."""
        job = PRIVATE_JOBS[0]
        wait_until(lambda: fetch(app.url, f"/api/v1/jobs/{job}")["job"].get("hidden")
                   and not fetch(app.url, f"/api/v1/jobs/{job}", BENCH_TOKEN)["job"].get("hidden")
                   and all(not fetch(app.url, f"/api/v1/jobs/{j}", BENCH_TOKEN)["job"].get("hidden")
                           for j in PRIVATE_JOBS),
                   timeout=120, interval=0.5, what="visibility learned from the fake LAVA")

    def close(self):
        self.lava.close()


def fetch(url, path, token=None):
    """GET url+path as JSON, as an anonymous viewer or with a LAVA token."""
    import urllib.request

    request = urllib.request.Request(url + path)
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def run_once(mode, compression, rate, args, webs=0, variant="shipped"):
    """One measurement: fresh server(s), clients, publisher; returns a dict of figures."""
    import tempfile

    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    tmp = tempfile.mkdtemp(prefix="bench-fanout-")
    access = AccessLab(tmp) if variant == "access" else None
    # Every client connects from 127.0.0.1, as if behind a proxy: no cap per address (connections,
    # sessions, the subscribe budget an address's sessions share), so that --clients above it
    # measure the fan-out. The limits per client stay as shipped.
    app_args = ["--zmq", endpoint, "--relay-mode", mode, "--log-level", "WARNING",
                "--ws-compression" if compression else "--no-ws-compression",
                *PER_ADDRESS_OFF]
    if args.batch_interval is not None:
        app_args += ["--batch-interval", str(args.batch_interval)]
    if variant == "nolimits":
        app_args += NO_LIMITS
    if variant == "fixed":  # the fixed --batch-interval, whatever the default is
        app_args += ["--batch-floor", "0"]
    if variant == "nogather":  # the ZMQ reader wakes the loop for whatever it read
        app_args += ["--zmq-gather", "0"]
    if variant == "flatgather":  # the ZMQ reader's wait never grows with the rate (--zmq-gather only)
        app_args += ["--zmq-gather-max", "0.002"]
    if variant == "queued":  # every packet through python-engineio's queue (no direct send)
        app_args += ["--no-direct-send"]
    if variant == "adaptive":
        app_args += ["--batch-floor", str(args.batch_floor), "--batch-budget", str(args.batch_budget)]
    app_args += args.app_arg
    if access:
        app_args += access.args()
    go, done = mp.Event(), mp.Queue()
    pub = mp.Process(target=publish, args=(endpoint, rate, args.duration, go, done, args.mix),
                     daemon=True)
    pub.start()
    servers = Servers(webs, app_args, args.async_mode)
    app = servers.app  # the model's owner: the single process, or the ingest process
    if access:
        access.warm_up(app)
    procs, stop = [], mp.Event()
    try:
        ready, results = mp.Queue(), mp.Queue()
        seqs = mp.Array("q", args.procs)
        per_proc = [args.clients // args.procs + (i < args.clients % args.procs) for i in range(args.procs)]
        for i, n in enumerate(per_proc):
            url = servers.urls[i % len(servers.urls)]
            p = mp.Process(target=clients_proc, daemon=True,
                           args=(i, url, n, "deflate" if compression else None, ready, stop, seqs,
                                 results, n // 2 if access else 0))
            p.start()
            procs.append(p)
        for _ in procs:
            ready.get(timeout=90)
        split0 = servers.cpu_by_process()
        cpu0 = sum(split0.values())
        t0 = time.time()
        go.set()
        published = done.get(timeout=args.duration * 4 + 30)
        final_seq = None
        deadline = time.time() + args.drain_timeout
        while time.time() < deadline:
            final_seq = app.json("/healthz")["seq"]
            if all(s >= final_seq for s in seqs[:]) and app.json("/healthz")["seq"] == final_seq:
                break
            time.sleep(0.1)
        drained_after = round(time.time() - t0 - published["seconds"], 3)
        split = servers.cpu_by_process()
        cpu = sum(split.values()) - cpu0
        split = {name: round(split[name] - split0[name], 3) for name in split}
        state = app.json("/api/v1/state")
        relay = servers.webs[0].json("/healthz") if servers.webs else app.json("/healthz")
        relay = {k: relay["relay"].get(k) for k in ("gap_ms", "flush_cost_ms", "batches_sent",
                                                   "frames_direct", "frames_queued")}
        signed_state = fetch(app.url, "/api/v1/state", BENCH_TOKEN) if access else state
        stop.set()
        gathered = [results.get(timeout=60) for _ in procs]
    finally:
        stop.set()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
        servers.stop()
        if access:
            access.close()
        pub.join(5)
        if pub.is_alive():
            pub.kill()
    expected_fp = view_fingerprint(state["devices"], state["jobs"], state["workers"])
    signed_fp = view_fingerprint(signed_state["devices"], signed_state["jobs"], signed_state["workers"])
    clients = [c for g in gathered for c in g["clients"]]
    latencies = [x for g in gathered for x in g["latencies"]]
    # Each client against what its viewer may see: anonymous ones the redacted view.
    exact = sum(1 for c in clients if c["seq"] == state["seq"]
                and c["fingerprint"] == (signed_fp if c["signed_in"] else expected_fp))
    deliveries = sum(c["changes"] for c in clients)
    # Each client gets every change after its first snapshot (with --variants access, LAVA's
    # answers about visibility were changes before the clients came).
    expected_deliveries = sum(state["seq"] - (c["first_seq"] or 0) for c in clients)
    p99 = percentile(latencies, 0.99)
    result = {
        "mode": mode, "compression": compression, "webs": webs, "rate": rate, "clients": len(clients),
        "variant": variant, "mix": args.mix, "signed_in": sum(1 for c in clients if c["signed_in"]),
        "views_differ": signed_fp != expected_fp,
        "published": published["sent"], "publish_seconds": published["seconds"],
        "model_seq": state["seq"], "clients_exact": exact,
        "lost_deliveries": expected_deliveries - deliveries,
        "gaps": sum(c["gaps"] for c in clients), "resyncs": sum(c["resyncs"] for c in clients),
        "latency_ms": {"p50": _ms(percentile(latencies, 0.5)), "p99": _ms(p99),
                       "max": _ms(max(latencies) if latencies else None)},
        "late_over_1s": sum(1 for x in latencies if x > 1.0),
        "relay_at_end": relay,
        "drained_after_s": drained_after,
        "server_cpu_s": round(cpu, 3),
        # The client processes' own CPU from their snapshots to the end (every change decoded
        # and applied): on this machine they share the cores with the server.
        "clients_cpu_s": round(sum(g.get("cpu_s", 0) for g in gathered), 3),
        "server_cpu_s_by_process": split,
        "server_cpu_share": round(cpu / max(published["seconds"] + max(drained_after, 0), 1e-9), 3),
        "server_cpu_us_per_delivery": round(cpu / max(deliveries, 1) * 1e6, 2),
    }
    result["clients_per_core"] = round(len(clients) / max(result["server_cpu_share"], 1e-9), 1)
    result["ok"] = (exact == len(clients) and result["lost_deliveries"] == 0
                    and p99 is not None and p99 * 1000 < args.p99_limit
                    and result["resyncs"] == 0)
    return result


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of publishing per run")
    parser.add_argument("--rates", default="250,500,1000,2000", help="events/s, ascending")
    parser.add_argument("--modes", default="batched,naive", help="relay modes to compare")
    parser.add_argument("--compression", default="off", help="off, on or off,on")
    parser.add_argument("--async-mode", default="eventlet", choices=("eventlet", "gevent"))
    parser.add_argument("--batch-interval", type=float, default=None)
    parser.add_argument("--p99-limit", type=float, default=300.0, help="ms")
    parser.add_argument("--drain-timeout", type=float, default=30.0)
    parser.add_argument("--keep-going", action="store_true", help="measure rates above a failure")
    parser.add_argument("--webs", default="0", help="web processes per run, e.g. 0,1,2,4 (0: one "
                        "process, --role all; N: Redis, an ingest process and N web processes)")
    parser.add_argument("--variants", default="shipped",
                        help="server set-ups compared in the same run: shipped (as configured by "
                             "default), nolimits (per-client limits lifted: the baseline of what they "
                             "cost), access (--access lava against a fake LAVA, half of the clients "
                             "signed in as a user who may see private jobs), fixed (--batch-floor 0: "
                             "the fixed --batch-interval), adaptive (--batch-floor and --batch-budget "
                             "below), queued (--no-direct-send: every packet through "
                             "python-engineio's queue), nogather (--zmq-gather 0), flatgather "
                             "(--zmq-gather-max 0.002: the default wait, never growing)")
    parser.add_argument("--batch-floor", type=float, default=0.01,
                        help="the floor of --variants adaptive")
    parser.add_argument("--batch-budget", type=float, default=0.25,
                        help="the budget of --variants adaptive")
    parser.add_argument("--app-arg", action="append", default=[],
                        help="one more argument for every server (repeat; e.g. --app-arg=--no-store)")
    parser.add_argument("--mix", default="devices", choices=("devices", "jobs"),
                        help="devices: device events only; jobs: every tenth a private job's event")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    out = {"command": "python " + " ".join(sys.argv), "cpus": os.cpu_count(), "runs": [],
           "highest_passing_rate": {}}
    webs_list = [int(w) for w in args.webs.split(",")]
    for webs in webs_list:
        for variant in args.variants.split(","):
            for compression in [c == "on" for c in args.compression.split(",")]:
                for mode in args.modes.split(","):
                    key = f"{mode}{'+deflate' if compression else ''}" + (f"@{webs}web" if webs else "") \
                        + (f"#{variant}" if variant != "shipped" else "")
                    out["highest_passing_rate"][key] = 0
                    for rate in rates:
                        result = run_once(mode, compression, rate, args, webs, variant)
                        out["runs"].append(result)
                        print(json.dumps(result), file=sys.stderr, flush=True)
                        if result["ok"]:
                            out["highest_passing_rate"][key] = rate
                        elif not args.keep_going:
                            break
    best = out["highest_passing_rate"]
    variants = {key: key.split("#")[0] for key in best if "#" in key}
    if variants:  # each variant against the same set-up as shipped, measured in this same run
        out["ratio_over_shipped"] = {key: round(best[key] / best[base], 2) if best.get(base) else None
                                     for key, base in variants.items()}
    if best.get("batched") and best.get("naive"):
        out["ratio_batched_over_naive"] = round(best["batched"] / best["naive"], 2)
    if len(webs_list) > 1 and 0 in webs_list and best.get("batched"):
        # Each cluster size against the single process measured in this same run.
        out["ratio_over_single_process"] = {
            key: round(rate / best["batched"], 2) for key, rate in best.items() if "@" in key}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
