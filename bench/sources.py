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
"""
import argparse
import json
import pathlib
import statistics
import sys
import time
import uuid

import zmq

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import AppProcess, free_port, wait_until  # noqa: E402
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000, help="events per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per source (median)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per round")
    args = parser.parse_args(argv)
    if not 1 <= args.events <= MAX_EVENTS or not 1 <= args.rounds <= 20:
        parser.error(f"--events 1 to {MAX_EVENTS}, --rounds 1 to 20")
    seconds = {"zmq": [], "websocket": []}
    for r in range(args.rounds):
        seconds["zmq"].append(zmq_round(args.events, f"z{r}", args.timeout))
        seconds["websocket"].append(ws_round(args.events, f"w{r}", args.timeout))
    rates = {k: round(args.events / statistics.median(v)) for k, v in seconds.items()}
    print(json.dumps({"command": "python bench/sources.py " + " ".join(argv or sys.argv[1:]),
                      "events": args.events, "rounds": args.rounds,
                      "seconds": {k: [round(x, 3) for x in v] for k, v in seconds.items()},
                      "events_per_s_median": rates,
                      "ratio_websocket_to_zmq": round(rates["websocket"] / rates["zmq"], 2)},
                     indent=1))


if __name__ == "__main__":
    main()
