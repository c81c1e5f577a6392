"""Ingest rate by event source: the same device events published as fast as possible by one local
publisher, once through a ZMQ PUB socket (the app with --event-source tcp://...) and once through a
WebSocket served as lava-publisher serves it (aiohttp, send_json of the five strings; the app with
--event-source ws://...), in the same run. Prints JSON.

The rate is events accepted by the app (its /healthz) divided by the time from the first send to
the last acceptance: what the whole path sustains (publisher, transport, parse, model, relay with no
client), not the transport alone. The store is off (--no-store) so that the sources are compared, not
the disk. Rounds alternate between the sources; the figures are medians and the ratio is WebSocket
over ZMQ.

    python bench/sources.py --events 20000 --rounds 3

With --drain, how late the SUB socket is read while the loop is busy (issue 15): the socket's own
thread (this tree) against the green reader of --baseline-ref (a checkout of that commit, made with
git archive), in the same run, under eventlet and gevent, rounds alternating. A publisher process of
its own (tests/burst.py) sends --events device events at --rate per second (0: at once) to an app
with --clients Socket.IO clients, whose relay keeps the loop busy. Per run: how late the socket was
read at most (the lag watch's max_behind_s: the time a message left the socket against its stamp,
less the smallest such lag), events lost, suspected losses, seconds until all were ingested, the
app's CPU seconds, and the hand-off's peak (the thread reader only). Medians over the rounds.

    python bench/sources.py --drain --events 9000 --rate 0 --clients 6 --rounds 3
    python bench/sources.py --drain --events 15000 --rate 2500 --clients 20 --rounds 3
    python bench/sources.py --drain --events 9000 --rate 0 --clients 10 --distinct-filters --rounds 3
"""
import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import zmq

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.burst import BurstPublisher  # noqa: E402
from tests.helpers import AppProcess, LiveView, free_port, wait_until  # noqa: E402
from tests.lava_ws import LavaWebSocket  # noqa: E402

MAX_EVENTS = 1_000_000


def events(n, tag):
    """n device events over 500 devices, each with its own uuid."""
    out = []
    for i in range(n):
        data = {"device": f"dev-{i % 500:03d}", "device_type": "qemu", "worker": f"w{i % 10}",
                "state": ("Idle", "Running")[i % 2], "health": "Good"}
        out.append([b"org.lavasoftware.device", f"{tag}-{i}-{uuid.uuid4().hex[:8]}".encode(),
                    b"2026-11-30T10:00:00", b"lavaserver", json.dumps(data).encode()])
    return out


def accepted(app):
    return app.json("/healthz")["counters"]["accepted"]


def timed(app, send, batch, timeout):
    """Seconds from the first send until the app has accepted every event of the batch."""
    before = accepted(app)
    start = time.perf_counter()
    send(batch)
    wait_until(lambda: accepted(app) >= before + len(batch), timeout=timeout, interval=0.01,
               what="every event accepted")
    return time.perf_counter() - start


def zmq_round(n, tag, timeout):
    context = zmq.Context.instance()
    pub = context.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)  # the publisher never drops: what is measured is the app
    port = free_port()
    pub.bind(f"tcp://127.0.0.1:{port}")
    app = AppProcess("--event-source", f"tcp://127.0.0.1:{port}", "--no-store")
    try:
        probe = events(1, f"{tag}-probe")[0]
        wait_until(lambda: (pub.send_multipart(probe), accepted(app) >= 1)[1], timeout=15,
                   interval=0.1, what="the app subscribed")
        return timed(app, lambda batch: [pub.send_multipart(f) for f in batch], events(n, tag), timeout)
    finally:
        app.stop()
        pub.close(0)


def ws_round(n, tag, timeout):
    server = LavaWebSocket()
    app = AppProcess("--event-source", server.url, "--no-store")
    try:
        server.wait_for_clients()
        return timed(app, server.send_many, events(n, tag), timeout)
    finally:
        app.stop()
        server.close()


def cpu_seconds(pid):
    """User and system CPU seconds of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def checkout(ref):
    """A temporary copy of the repository at `ref` (git archive): the baseline's app."""
    where = pathlib.Path(tempfile.mkdtemp(prefix="dashboard-baseline-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def drain_round(root, async_mode, n, rate, clients, distinct, timeout):
    """One run of the drain workload against the app at `root`; its figures."""
    publisher = BurstPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--access", "open", "--no-store",
                     async_mode=async_mode, root=root)
    views = []
    try:
        publisher.wait_for_subscriber()
        views += [LiveView(app.url, filter_of(i, clients) if distinct else None).connect()
                  for i in range(clients)]
        publisher.publish(-1, 1)  # the lag watch's baseline
        wait_until(lambda: accepted(app) >= 1, timeout=15, what="a first event")
        cpu0, start = cpu_seconds(app.proc.pid), time.monotonic()
        sent_in = publisher.publish(0, n, rate)
        try:
            wait_until(lambda: accepted(app) >= n + 1, timeout=timeout, interval=0.05,
                       what="every event accepted")
        except AssertionError:  # lost ones never arrive: say so in the figures
            pass
        ingested_in, cpu = time.monotonic() - start, cpu_seconds(app.proc.pid) - cpu0
        health = app.json("/healthz")
        [source] = health["sources"]
        reader = source.get("reader") or {}
        return {"sent_s": round(sent_in, 3), "ingested_s": round(ingested_in, 3),
                "read_late_max_s": source["lag"]["max_behind_s"],
                "lost": n + 1 - health["counters"]["accepted"],
                "suspected_losses": health["counters"]["suspected_losses"],
                "app_cpu_s": round(cpu, 2),
                "handoff_max_queued": reader.get("max_queued"),
                "handoff_times_full": reader.get("times_full")}
    finally:
        for view in views:
            view.close()
        app.stop()
        publisher.close()


def filter_of(i, clients):
    """Client i's own filter: all but every clients-th of tests/burst.py's 50 devices."""
    return {"devices": [f"burst-{d:02d}" for d in range(50) if d % clients != i]}


def drain(args, argv):
    baseline = checkout(args.baseline_ref)
    readers = {"green": baseline, "thread": ROOT}
    runs = {mode: {reader: [] for reader in readers} for mode in ("eventlet", "gevent")}
    try:
        for _ in range(args.rounds):
            for mode, by_reader in runs.items():
                for reader, root in readers.items():
                    by_reader[reader].append(drain_round(root, mode, args.events, args.rate,
                                                         args.clients, args.distinct_filters,
                                                         args.timeout))
    finally:
        shutil.rmtree(baseline, ignore_errors=True)
    medians = {mode: {reader: {key: statistics.median(r[key] for r in rs)
                               for key in rs[0] if rs[0][key] is not None}
                      for reader, rs in by_reader.items()} for mode, by_reader in runs.items()}
    print(json.dumps({"command": "python bench/sources.py " + " ".join(argv),
                      "baseline_ref": args.baseline_ref,
                      "readers": {"green": f"the green reader of {args.baseline_ref}",
                                  "thread": "the socket's own OS thread (this tree)"},
                      "events": args.events, "rate": args.rate, "clients": args.clients,
                      "distinct_filters": args.distinct_filters,
                      "rounds": args.rounds, "median": medians, "runs": runs}, indent=1))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000, help="events per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per source (median)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per round")
    parser.add_argument("--drain", action="store_true",
                        help="compare the socket's thread with --baseline-ref's green reader")
    parser.add_argument("--baseline-ref", default="073a069", help="the green reader's commit")
    parser.add_argument("--rate", type=float, default=0, help="--drain: events per second (0: at once)")
    parser.add_argument("--clients", type=int, default=6, help="--drain: Socket.IO clients")
    parser.add_argument("--distinct-filters", action="store_true",
                        help="--drain: each client a filter of its own (the relay encodes for each)")
    args = parser.parse_args(argv)
    if not 1 <= args.events <= MAX_EVENTS or not 1 <= args.rounds <= 20:
        parser.error(f"--events 1 to {MAX_EVENTS}, --rounds 1 to 20")
    if not 0 <= args.clients <= 200 or not 0 <= args.rate <= 100_000:
        parser.error("--clients 0 to 200, --rate 0 to 100000")
    if args.drain:
        return drain(args, argv)
    seconds = {"zmq": [], "websocket": []}
    for r in range(args.rounds):
        seconds["zmq"].append(zmq_round(args.events, f"z{r}", args.timeout))
        seconds["websocket"].append(ws_round(args.events, f"w{r}", args.timeout))
    rates = {k: round(args.events / statistics.median(v)) for k, v in seconds.items()}
    print(json.dumps({"command": "python bench/sources.py " + " ".join(argv),
                      "events": args.events, "rounds": args.rounds,
                      "seconds": {k: [round(x, 3) for x in v] for k, v in seconds.items()},
                      "events_per_s_median": rates,
                      "ratio_websocket_to_zmq": round(rates["websocket"] / rates["zmq"], 2)},
                     indent=1))


if __name__ == "__main__":
    main()
