"""A ZMQ publisher in a process of its own, so that the load on the test or benchmark process (its
Socket.IO clients) cannot slow its sending down: BurstPublisher drives it from the caller's side.

    python -m tests.burst tcp://127.0.0.1:PORT   (then lines "first count rate" on stdin)
"""
import datetime as dt
import json
import subprocess
import sys
import time
import uuid

from tests.helpers import ROOT, free_port


def device_event(n):
    """A device event numbered n (50 boards, health alternating), stamped now."""
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    return [b"org.lavasoftware.device", f"{uuid.uuid4().hex}-{n}".encode(), now.encode(),
            b"lavaserver", json.dumps({"device": f"burst-{n % 50:02d}", "device_type": "qemu",
                                       "state": "Idle", "health": ("Good", "Unknown")[n % 2],
                                       "worker": "lab-worker-01"}).encode()]


def serve(endpoint):
    """The publisher process: an XPUB socket that never drops (SNDHWM 0); for each line "first
    count rate" it publishes `count` events numbered from `first`, at `rate` per second (0: as fast
    as it can), each stamped when it is sent, then prints how many seconds that took."""
    import zmq

    context = zmq.Context()
    sock = context.socket(zmq.XPUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.bind(endpoint)
    if not sock.poll(15_000):
        sys.exit("no subscriber")
    sock.recv()
    print("subscribed", flush=True)
    for line in sys.stdin:
        first, count, rate = line.split()
        first, count, rate = int(first), int(count), float(rate)
        start = time.monotonic()
        for i in range(count):
            if rate and i % 10 == 0:  # paced in steps of 10 messages
                ahead = start + i / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            sock.send_multipart(device_event(first + i))
        print(f"sent {time.monotonic() - start:.3f}", flush=True)
    sock.close(0)
    context.term()


class BurstPublisher:
    """The publisher process, on a free port of 127.0.0.1."""

    def __init__(self):
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.burst", self.endpoint], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def wait_for_subscriber(self):
        """Returns once a SUB socket has subscribed (the process waits 15 s at most)."""
        line = self.proc.stdout.readline().strip()
        assert line == "subscribed", f"the publisher said {line!r}"

    def publish(self, first, count, rate=0):
        """Publish `count` events (numbered from `first`) at `rate` per second (0: at once);
        returns the seconds the sending took."""
        self.proc.stdin.write(f"{first} {count} {rate}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline().split()[1])

    def close(self):
        self.proc.kill()
        self.proc.wait(10)


if __name__ == "__main__":
    serve(sys.argv[1])
