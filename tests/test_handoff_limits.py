"""The ZMQ hand-off's byte bound holds whatever the messages' sizes (sources/zmq.py, handoff.py):
against a real publisher on 127.0.0.1, a loop that is busy while large messages arrive. A chunk ends
once its bytes reach its share of the bound, the thread reads only while one more chunk fits, and a
message the parser would refuse as oversized is not held whole; every good message still arrives,
whole and in order."""
import json
import threading
import time

import pytest
import zmq

from dashboard import green
from dashboard.core.events import ParseError, parse_frames
from dashboard.live.health import Health
from dashboard.sources import zmq as zmq_source
from tests.helpers import TestPublisher, wait_until

LIMIT = 16 * 1024  # --max-message-size; ZMQ_MAXMSGSIZE is 4 × this
BOUND = 2 * 1024 * 1024  # the hand-off's byte bound, made small so that a few MiB fill it
BUSY_FOR = 20.0  # the longest the handler stays busy (s): every wait here is bounded


def good(n):
    """A valid device event of exactly LIMIT bytes (accepted: JSON may end in spaces)."""
    head = [b"org.lavasoftware.device", f"u-{n}".encode(), b"2026-12-01T10:00:00", b"lavaserver"]
    payload = json.dumps({"device": "d1", "state": "Idle", "health": "Good"}).encode()
    return head + [payload.ljust(LIMIT - sum(map(len, head)))]


def oversized(n):
    """Five frames of 60 KiB: each under ZMQ_MAXMSGSIZE (received), the message refused."""
    return [f"big-{n}".encode() + b"x" * (60 * 1024)] * 5


@pytest.fixture
def busy_source(monkeypatch):
    """A publisher and a source whose handler stays busy (on the first chunk) until released."""
    monkeypatch.setattr(zmq_source, "HANDOFF_BYTES", BOUND)
    publisher = TestPublisher()
    status = Health().add_source(publisher.endpoint, "zmq")
    source = zmq_source.ZmqSource(publisher.endpoint, "", zmq, time.sleep,
                                  green.OsThreads("threading"), status, LIMIT)
    received, busy = [], threading.Event()
    busy.set()

    def handle(status_, messages):
        deadline = time.monotonic() + BUSY_FOR
        while busy.is_set() and time.monotonic() < deadline:  # a loop busy with its clients
            time.sleep(0.01)
        received.extend(messages)

    runner = threading.Thread(target=source.run, args=(handle,), daemon=True)
    runner.start()
    try:
        publisher.wait_for_subscriber()
        yield publisher, source, received, busy
    finally:
        busy.clear()
        source.stop()
        runner.join(5)
        publisher.close()


@pytest.mark.parametrize("mixed", [False, True], ids=["large-good", "good-and-oversized"])
def test_the_hand_off_stays_within_its_bytes_and_every_good_message_arrives(busy_source, mixed):
    publisher, source, received, busy = busy_source
    sent = []
    for n in range(300):
        sent.append(good(n))
        if mixed:
            sent.append(oversized(n))
    for frames in sent:
        publisher.send(frames)
    wait_until(lambda: source.handoff.as_dict()["times_full"] >= 1, timeout=BUSY_FOR,
               what="the hand-off full while the loop is busy")
    time.sleep(0.3)  # the thread would read on now if it were allowed to
    full = source.handoff.as_dict()
    busy.clear()
    wait_until(lambda: len(received) == len(sent), timeout=30, what="every message handled")
    stats = source.handoff.as_dict()
    assert full["bound_bytes"] == BOUND
    assert full["max_queued_bytes"] < BOUND, full
    assert stats["max_queued_bytes"] < BOUND and stats["handed"] == len(sent), stats
    # Every good message whole and in order; each oversized one still refused as oversized.
    for frames, got in zip(sent, received):
        if frames[0].startswith(b"org."):
            assert got == frames
            assert parse_frames(got, LIMIT).uuid == frames[1].decode()
        else:
            assert sum(map(len, got)) <= LIMIT + 1 and len(got) == 5
            with pytest.raises(ParseError) as refused:
                parse_frames(got, LIMIT)
            assert refused.value.reason == "oversized"
