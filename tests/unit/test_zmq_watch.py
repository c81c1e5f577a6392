"""The ZMQ source's monitor watch (sources/zmq.py MonitorWatch): what a socket's monitor said,
judged without I/O; events and times handed in."""
import random

import zmq

from dashboard.core.backoff import Backoff
from dashboard.live.health import SourceStatus
from dashboard.sources.zmq import NO_RETRY_GRACE, MonitorWatch, monitor_event_names


def test_a_socket_dropped_for_an_oversized_frame_comes_back_at_the_first_delay():
    """The publisher is reachable (it sent a frame over ZMQ_MAXMSGSIZE): its new socket comes at
    the backoff's first delay each time, not a longer one (an audit: a huge frame every 2 s grew
    the wait to 5 s, and most good events were lost meanwhile)."""
    names = monitor_event_names(zmq)
    code = {name: c for c, name in names.items()}
    backoff = Backoff(first=0.2, ceiling=10.0, rng=random.Random(1).random)
    rejected = []
    status = SourceStatus("tcp://127.0.0.1:9", "zmq")
    status.on_reject = rejected.append
    for _ in range(5):
        backoff.next()  # grown, as after several sockets that did not last
    watch = MonitorWatch("tcp://127.0.0.1:9", status, names, 4 * 4096, backoff, now=0.0)
    for name in ("connected", "handshake_succeeded", "disconnected"):
        watch.on_event(code[name], 1.0)
    assert watch.verdict(1.0 + NO_RETRY_GRACE / 2) is None  # libzmq may still retry
    assert "oversized" in watch.verdict(1.0 + NO_RETRY_GRACE)
    assert [e.reason for e in rejected] == ["oversized"]
    assert 0.16 <= backoff.next() <= 0.24  # the first delay again (with its jitter)
    # An ordinary failure (no handshake): the backoff keeps growing.
    watch = MonitorWatch("tcp://127.0.0.1:9", status, names, 4 * 4096, backoff, now=10.0)
    watch.on_event(code["disconnected"], 10.0)
    assert "stopped reconnecting" in watch.verdict(10.0 + NO_RETRY_GRACE)
    assert backoff.next() > 0.3
