"""Soak: a dashboard fed for a long time, with clients that behave and some that do not; does the
server's memory stay flat? Prints JSON.

A real ZMQ publisher sends `--rate` device events/s (bench/fanout.py's messages) for `--duration`
seconds to the app (a subprocess). Clients, in one child process: `--clients` in all, of which
`--reconnecting` connect, subscribe, stay a few seconds and leave, again and again, and one never
reads a byte after subscribing. The server's RSS is sampled every `--sample` seconds; after the
warm-up (the first fifth), its slope (least squares, MB per hour) is the figure. The baseline, in
the same run, is the RSS at the end of the warm-up: `growth_after_warmup_mb` is measured against it.

    python bench/soak.py --duration 1800 --rate 200 --clients 50 --reconnecting 5
"""
import argparse
import asyncio
import json
import multiprocessing as mp
import os
import pathlib
import random
import sys
import time

import psutil
import zmq

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import message  # noqa: E402
from bench.wsclient import BenchClient  # noqa: E402
from tests.helpers import AppProcess, free_port, wait_until  # noqa: E402


def publish(endpoint, rate, duration, go, done):
    """Child process: `rate` device events/s for `duration` s, after `go`."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.bind(endpoint)
    go.wait(120)
    start, sent = time.time(), 0
    while time.time() - start < duration:
        due = int((time.time() - start) * rate) + 1
        while sent < due:
            sock.send_multipart(message(sent, time.time()))
            sent += 1
        time.sleep(0.01)
    done.put(sent)
    sock.close(0)
    ctx.term()


async def reconnecting(url, stop, counts):
    """Connect, subscribe, stay 2–6 s, leave; again until `stop`."""
    while not stop.is_set():
        client = BenchClient(url)
        leave = asyncio.Event()
        task = asyncio.create_task(client.run(leave))
        try:
            await asyncio.wait_for(client.subscribed.wait(), 30)
            counts["reconnects"] += 1
        except asyncio.TimeoutError:
            counts["failed"] += 1
        await asyncio.sleep(random.uniform(2, 6))
        leave.set()
        await asyncio.wait([task], timeout=5)


async def never_reads(url, stop, counts):
    """Subscribe, then never read again: the server must bound what it queues for us."""
    import websockets

    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    while not stop.is_set():
        try:
            async with websockets.connect(ws_url, max_size=None, ping_interval=None,
                                          open_timeout=30, max_queue=1) as ws:
                await ws.recv()
                await ws.send("40")
                await ws.send('420["subscribe",{"filter":{}}]')
                counts["stuck_connections"] += 1
                # Not reading: the transport's buffers fill and the server must cut us off.
                while not stop.is_set() and ws.protocol.state.name == "OPEN":
                    await asyncio.sleep(1)
        except Exception:
            pass
        await asyncio.sleep(1)


def clients(url, n, n_reconnecting, ready, stop_flag, results):
    """Child process: the clients, until stop_flag is set."""
    async def main():
        stop = asyncio.Event()
        counts = {"reconnects": 0, "failed": 0, "stuck_connections": 0}
        steady = [BenchClient(url) for _ in range(n - n_reconnecting - 1)]
        tasks = [asyncio.create_task(c.run(stop)) for c in steady]
        await asyncio.wait_for(asyncio.gather(*(c.subscribed.wait() for c in steady)), 60)
        tasks += [asyncio.create_task(reconnecting(url, stop, counts)) for _ in range(n_reconnecting)]
        tasks.append(asyncio.create_task(never_reads(url, stop, counts)))
        ready.set()
        while not stop_flag.is_set():
            await asyncio.sleep(0.5)
        stop.set()
        await asyncio.wait(tasks, timeout=10)
        results.put(dict(counts, steady_changes=sum(c.changes for c in steady),
                         steady_gaps=sum(c.gaps for c in steady)))
    asyncio.run(main())


def slope_mb_per_hour(samples):
    """Least-squares slope of (seconds, MB) samples, in MB per hour."""
    n = len(samples)
    if n < 2:
        return None
    mx = sum(t for t, _ in samples) / n
    my = sum(m for _, m in samples) / n
    var = sum((t - mx) ** 2 for t, _ in samples)
    return round(sum((t - mx) * (m - my) for t, m in samples) / var * 3600, 2) if var else None



def children_rss(proc):
    """Bytes resident in a process's live children (the store's writer process)."""
    total = 0
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of traffic")
    parser.add_argument("--rate", type=int, default=200, help="events/s")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--reconnecting", type=int, default=5)
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--async-mode", default="eventlet", choices=("eventlet", "gevent"))
    parser.add_argument("--tracemalloc", metavar="FILE",
                        help="trace the app's Python allocations (slower) and write the sites that "
                             "grew most every --tracemalloc-every seconds to FILE")
    parser.add_argument("--tracemalloc-every", type=float, default=300.0)
    args = parser.parse_args()
    env = {}
    if args.tracemalloc:
        env = {"PYTHONPATH": str(ROOT / "bench" / "tracemalloc"),
               "SOAK_TRACEMALLOC_OUT": str(pathlib.Path(args.tracemalloc).resolve()),
               "SOAK_TRACEMALLOC_EVERY": str(args.tracemalloc_every)}
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    go, done = mp.Event(), mp.Queue()
    pub = mp.Process(target=publish, args=(endpoint, args.rate, args.duration, go, done), daemon=True)
    pub.start()
    # Every client is 127.0.0.1: the limits per address (connections, sessions, the subscribe
    # budget their sessions share) off, as for clients from many addresses.
    app = AppProcess("--zmq", endpoint, "--log-level", "WARNING", "--max-connections-per-address", "0",
                     "--max-sessions-per-address", "0", "--subscribe-burst", "1000000",
                     "--subscribe-rate", "1000000", async_mode=args.async_mode, env=env)
    ready, stop_flag, results = mp.Event(), mp.Event(), mp.Queue()
    kids = mp.Process(target=clients, args=(app.url, args.clients, args.reconnecting, ready,
                                            stop_flag, results), daemon=True)
    try:
        wait_until(lambda: app.json("/healthz")["status"] == "ok", timeout=30, what="source up")
        kids.start()
        ready.wait(120)
        go.set()
        proc = psutil.Process(app.proc.pid)
        samples, start = [], time.time()
        deadline = start + args.duration
        while time.time() < deadline:  # bounded by --duration
            store = app.json("/healthz").get("store") or {}
            writer = store.get("writer_process") or {}
            samples.append((round(time.time() - start, 1), round(proc.memory_info().rss / 2**20, 1),
                            store.get("sqlite_memory_mb"), round(children_rss(proc) / 2**20, 1),
                            writer.get("sqlite_memory_mb")))
            time.sleep(min(args.sample, max(0.0, deadline - time.time())))
        sent = done.get(timeout=60)
        health = app.json("/healthz")
        stop_flag.set()
        counts = results.get(timeout=60)
    finally:
        stop_flag.set()
        kids.join(15)
        if kids.is_alive():
            kids.kill()
        app.stop()
        pub.join(5)
    warm = [s for s in samples if s[0] >= args.duration / 5]
    baseline = warm[0][1] if warm else None
    # RSS less what SQLite says it holds (its page caches, bounded by their cache_size): the rest.
    rest = [(t, rss - (sq or 0) * 1e6 / 2**20) for t, rss, sq, _, _ in warm]
    # The app and its children (the store's writer process), each less its SQLite heap.
    total = [(t, rss + kids) for t, rss, _, kids, _ in warm]
    total_rest = [(t, rss + kids - ((sq or 0) + (wsq or 0)) * 1e6 / 2**20)
                  for t, rss, sq, kids, wsq in warm]
    out = {"command": "python " + " ".join(sys.argv), "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
           "duration_s": args.duration, "rate": args.rate,
           "published": sent, "clients": args.clients, "reconnecting": args.reconnecting,
           "rss_mb": {"start": samples[0][1], "after_warmup": baseline, "end": samples[-1][1],
                      "max": max(s[1] for s in samples)},
           "sqlite_memory_mb": {"after_warmup": warm[0][2] if warm else None,
                                "end": samples[-1][2]},
           "slope_mb_per_hour_after_warmup": slope_mb_per_hour([(t, m) for t, m, *_ in warm]),
           "slope_without_sqlite_mb_per_hour_after_warmup": slope_mb_per_hour(rest),
           "children_rss_mb": {"after_warmup": warm[0][3] if warm else None, "end": samples[-1][3]},
           "writer_sqlite_memory_mb": {"after_warmup": warm[0][4] if warm else None,
                                       "end": samples[-1][4]},
           "with_children": {"slope_mb_per_hour_after_warmup": slope_mb_per_hour(total),
                             "slope_without_sqlite_mb_per_hour_after_warmup":
                                 slope_mb_per_hour(total_rest)},
           "growth_after_warmup_mb": round(samples[-1][1] - baseline, 1) if baseline else None,
           "clients_seen": counts,
           "relay": {k: health["relay"].get(k) for k in ("clients", "dropped_slow", "largest_queue",
                                                          "rate_limited", "snapshots_built",
                                                          "snapshots_shared")},
           "samples": samples}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
