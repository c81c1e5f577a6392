"""The SUB socket is drained at once while the loop is busy (issue 15): a real publisher sends a
burst faster than the app can ingest and relay it to its Socket.IO clients. The socket's own thread
reads the burst into the hand-off within a fraction of a second, so libzmq's queue (where a PUB
drops past the high-water mark) never runs late, although the loop needs seconds to ingest it all;
nothing is lost. With a green reader, which reads only as fast as the loop ingests, the same burst
waits in libzmq for seconds (this test fails on it)."""
import subprocess
import sys
import time

import pytest

from tests.helpers import AppProcess, LiveView, free_port, wait_until

BURST = 9000  # under the hand-off's bound (sources/zmq.py HANDOFF_MESSAGES): all of it is read
CLIENTS = 6
LATE_BOUND_S = 0.6  # how late the socket may be read; a green reader runs seconds behind


# A publisher of its own process: the test's Socket.IO clients must not slow the burst down.
PUBLISHER = """
import datetime as dt, json, sys, time, uuid
import zmq
context = zmq.Context()
sock = context.socket(zmq.XPUB)
sock.setsockopt(zmq.LINGER, 0)
sock.setsockopt(zmq.SNDHWM, 0)
sock.bind(sys.argv[1])
if not sock.poll(15000):
    sys.exit("no subscriber")
sock.recv()
print("subscribed", flush=True)
for line in sys.stdin:  # "n0 count": publish count device events, stamped when each is sent
    n0, count = map(int, line.split())
    start = time.monotonic()
    for n in range(n0, n0 + count):
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        sock.send_multipart([b"org.lavasoftware.device", f"{uuid.uuid4().hex}-{n}".encode(),
                             now.encode(), b"lavaserver", json.dumps({
                                 "device": f"burst-{n % 50:02d}", "device_type": "qemu",
                                 "state": "Idle", "health": ("Good", "Unknown")[n % 2],
                                 "worker": "lab-worker-01"}).encode()])
    print(f"sent {time.monotonic() - start:.3f}", flush=True)
sock.close(0)
context.term()
"""


class BurstPublisher:
    """The publisher process: publish(n0, count) returns the seconds the sending took."""

    def __init__(self):
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, self.endpoint],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def wait_for_subscriber(self):
        assert self.proc.stdout.readline().strip() == "subscribed"

    def publish(self, n0, count):
        self.proc.stdin.write(f"{n0} {count}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline().split()[1])

    def close(self):
        self.proc.kill()
        self.proc.wait(10)


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_a_burst_is_read_at_once_while_the_loop_is_busy_and_nothing_is_lost(async_mode):
    publisher = BurstPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--access", "open", "--no-store",
                     async_mode=async_mode)
    views = []
    try:
        publisher.wait_for_subscriber()
        views += [LiveView(app.url).connect() for _ in range(CLIENTS)]
        publisher.publish(-1, 1)  # the lag watch's baseline: a message read at once
        wait_until(lambda: app.json("/healthz")["counters"]["accepted"] >= 1, what="a first event")

        start = time.monotonic()
        sent_in = publisher.publish(0, BURST)
        wait_until(lambda: app.json("/healthz")["counters"]["accepted"] >= BURST + 1, timeout=60,
                   interval=0.2, what="the whole burst accepted")
        health = app.json("/healthz")
        ingested_in = time.monotonic() - start

        [source] = health["sources"]
        lag = source["lag"]
        print(f"{async_mode}: sent in {sent_in:.2f} s, ingested in {ingested_in:.2f} s, "
              f"read at most {lag['max_behind_s']:.2f} s late, hand-off {source.get('reader')}")
        assert health["counters"]["accepted"] == BURST + 1  # nothing lost
        assert lag["max_behind_s"] < LATE_BOUND_S
        assert health["counters"]["suspected_losses"] == 0
        # The loop took longer to ingest than the socket to be read: the thread read ahead of it.
        reader = source["reader"]
        assert reader["max_queued"] > 0 and reader["times_full"] == 0
        assert reader["handed"] == BURST + 1 and reader["queued"] == 0
        wait_until(lambda: all(v.seq == health["seq"] for v in views), timeout=30,
                   what="every client up to date")
        assert "Traceback" not in app.log_text()
    finally:
        for view in views:
            view.close()
        app.stop()
        publisher.close()
