"""The simulated lab's publisher on real ZMQ sockets, under green threads, and as a command."""
import random
import re
import subprocess
import sys
import threading
import time

import pytest
import zmq

from dashboard.core.events import parse_frames
from dashboard.sources.simulator import DEFAULT_START, LabPublisher, SimLab
from tests.helpers import ROOT, free_port
from tests.unit.test_simulator import roll_call_starts


def receive_until(sockets, done, timeout=10.0, quiet=0.5, limit=100_000):
    """Receive from SUB sockets until done() and `quiet` s without a message (or the timeout)."""
    received = {s: [] for s in sockets}
    poller = zmq.Poller()
    for s in sockets:
        poller.register(s, zmq.POLLIN)
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while time.monotonic() < deadline and sum(map(len, received.values())) < limit:
        ready = dict(poller.poll(50))
        for s in ready:
            received[s].append(s.recv_multipart())
            last = time.monotonic()
        if not ready and done() and time.monotonic() - last > quiet:
            break
    return received


# -- real ZMQ ---------------------------------------------------------------------------------
def publish(publisher, duration, late_join=None):
    """Run `publisher` in a thread: one SUB from the start, another `late_join` s after traffic."""
    context = zmq.Context()
    subs = [context.socket(zmq.SUB) for _ in range(2 if late_join else 1)]
    result = []
    try:
        subs[0].connect(publisher.endpoint)
        subs[0].setsockopt(zmq.SUBSCRIBE, b"")
        thread = threading.Thread(target=lambda: result.append(publisher.run(duration=duration)))
        thread.start()
        early = receive_until(subs[:1], done=lambda: True, timeout=5, quiet=0, limit=1)[subs[0]]
        if late_join:
            time.sleep(late_join)
            subs[1].connect(publisher.endpoint)
            subs[1].setsockopt(zmq.SUBSCRIBE, b"")
        got = receive_until(subs, done=lambda: not thread.is_alive(), timeout=12)
        thread.join(timeout=5)
    finally:
        for sub in subs:
            sub.close(linger=0)
        context.term()
        publisher.close()
    assert result, "run() did not return"
    got[subs[0]][:0] = early
    return result[0], [[parse_frames(f) for f in got[sub]] for sub in subs]


class PauseClock:
    """The publisher's time as the sum of the pauses it asked for (each one really slept): its pacing
    then does not depend on how busy the machine is, as a stalled thread loses no ticks."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        time.sleep(seconds)
        self.now += seconds


def test_publisher_roll_calls_then_paces_traffic():
    lab, clock = SimLab(random.Random(3), n_devices=20, n_workers=2), PauseClock()
    publisher = LabPublisher(lab, "tcp://127.0.0.1:*", zmq, clock.sleep, rate=500, clock=clock)
    assert re.fullmatch(r"tcp://127\.0\.0\.1:\d+", publisher.endpoint)
    sent, (first, second) = publish(publisher, duration=2, late_join=0.8)
    assert roll_call_starts(first, lab)[:1] == [0]  # the first subscriber gets one before traffic
    assert len(roll_call_starts(second, lab)) == 1
    assert publisher.roll_calls == 2
    assert len(first) == sent == publisher.sent  # nothing lost on 127.0.0.1 at this rate
    for stream in first, second:  # a roll call never comes before older messages
        assert [e.time for e in stream] == sorted(e.time for e in stream)
    # 500 a second for 2 s of its clock, less a tick or two (whether a last tick falls at 2 s).
    traffic = sent - 2 * (len(lab.workers) + len(lab.devices))
    assert 500 * (2 - 2 * LabPublisher.TICK) <= traffic <= 500 * 2, traffic


def test_publisher_follows_the_clock_with_a_fast_lab():
    """A lab at pace 100 (--sim-speed) lives 100 s in a second of the publisher's clock, and its
    clock, which stamps the events, moves one second."""
    lab, clock = SimLab(random.Random(4), n_devices=20, n_workers=2, pace=100), PauseClock()
    publisher = LabPublisher(lab, "tcp://127.0.0.1:*", zmq, clock.sleep, clock=clock)
    sent, (got,) = publish(publisher, duration=1)
    virtual = (lab.now - DEFAULT_START).total_seconds()
    assert 1 - 2 * LabPublisher.TICK <= virtual <= 1, virtual
    assert len(got) == sent > len(lab.devices) + 50  # the roll call, and 100 s of a lab's changes
    assert max(e.time for e in got) <= lab.now


GREEN_SCRIPT = """
import random, sys
if sys.argv[1] == "eventlet":
    import eventlet
    eventlet.monkey_patch()
    from eventlet.green import zmq
    spawn, sleep, Timeout, result = eventlet.spawn, eventlet.sleep, eventlet.Timeout, "wait"
else:
    from gevent import monkey
    monkey.patch_all()
    import gevent, zmq.green as zmq
    spawn, sleep, Timeout, result = gevent.spawn, gevent.sleep, gevent.Timeout, "get"
from dashboard.core.events import parse_frames
from dashboard.sources.simulator import LabPublisher, SimLab
class PauseClock:  # as in the test module: the publisher's time is the sum of its (green) pauses
    now = 0.0
    def __call__(self):
        return self.now
    def sleep(self, seconds):
        sleep(seconds)
        self.now += seconds
clock = PauseClock()
publisher = LabPublisher(SimLab(random.Random(2), 10, 2), "tcp://127.0.0.1:*", zmq, clock.sleep,
                         rate=300, clock=clock)
ticks, got, finished = [], [], []
def ticker():  # another green thread: notes how far the publisher had got each time it ran
    for _ in range(300):
        ticks.append(publisher.sent)
        sleep(0.01)
def subscriber():
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.connect(publisher.endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    quiet = 0
    for _ in range(100000):
        if finished and len(got) >= finished[0]:
            break
        try:
            with Timeout(0.5):
                got.append(parse_frames(sub.recv_multipart()))
            quiet = 0
        except Timeout:  # (a process held 0.5 s by a loaded machine is no end while publishing,
            # nor once it has: what it sent may still be on its way; 10 s at most)
            quiet += 1
            if finished and quiet >= 20:
                break
    sub.close(linger=0)
spawn(ticker)
receiving = spawn(subscriber)
sent = getattr(spawn(publisher.run, duration=1), result)()
finished.append(sent)
getattr(receiving, result)()
publisher.close()
print(sent, len(got), len({n for n in ticks if 0 < n < sent}))
"""


@pytest.mark.parametrize("library", ["eventlet", "gevent"])
def test_publisher_cooperates_with_green_threads(library):
    """In a subprocess, monkey-patched as app.py does, so that the patching stays out of pytest."""
    pytest.importorskip(library)
    done = subprocess.run([sys.executable, "-c", GREEN_SCRIPT, library], cwd=ROOT,
                          capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    sent, received, ticks_while_publishing = map(int, done.stdout.split())
    assert received == sent > 200  # 300 a second for 1 s of the publisher's clock, and a roll call
    assert ticks_while_publishing > 1, ticks_while_publishing  # the hub ran the ticker in between


# -- the CLI ----------------------------------------------------------------------------------
def test_cli_publishes_then_exits_by_itself():
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.connect(endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.sources.simulator", "--bind", endpoint, "--rate", "200",
         "--duration", "2", "--devices", "12", "--workers", "2", "--seed", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        got = receive_until([sub], done=lambda: proc.poll() is not None, timeout=15)[sub]
        _, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        sub.close(linger=0)
        context.term()
    assert proc.returncode == 0, stderr.decode()
    events = [parse_frames(f) for f in got]
    assert {e.kind for e in events} >= {"device", "testjob", "worker"}
    assert [e.kind for e in events[:14]] == ["worker"] * 2 + ["device"] * 12
    sent = int(re.search(rb"sent (\d+) messages, 1 roll call", stderr).group(1))
    # Everything it says it sent arrived, traffic after the roll call (the pace at --rate is checked
    # on the publisher's own clock above: here it would be the machine's).
    assert len(events) == sent > 14


