"""The ZMQ source's watch decides from the monitor's events when a socket is dead (no network:
the events are fed in as libzmq would send them, measured in tests/test_zmq_recovery.py)."""
import pytest
import zmq

from dashboard.live.health import Health
from dashboard.sources.zmq import NO_RETRY_GRACE, STABLE_AFTER, STUCK_AFTER, ZmqSource


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def watched():
    """A source, the watch of a socket it has just opened, the clock, and the health it reports to."""
    clock, health = Clock(), Health()
    status = health.add_source("tcp://127.0.0.1:1", "zmq")
    source = ZmqSource("tcp://127.0.0.1:1", "", zmq, lambda s: None, None, status, 4096,
                       clock=clock, rng=lambda: 0.5)
    return source, source.new_watch(clock()), clock, health


def feed(watch, clock, *events):
    for event in events:
        watch.on_event(event, clock())


def test_an_ordinary_disconnect_is_left_to_libzmq(watched):
    source, watch, clock, health = watched
    feed(watch, clock, zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED)
    assert source.status.state == "connected"
    feed(watch, clock, zmq.EVENT_DISCONNECTED, zmq.EVENT_CONNECT_RETRIED)
    assert source.status.state == "connecting"
    clock.now += NO_RETRY_GRACE + 1
    assert watch.verdict(clock()) is None
    assert health.rejected["oversized"] == 0


def test_a_disconnect_after_the_handshake_without_a_retry_is_an_oversized_frame(watched):
    source, watch, clock, health = watched
    feed(watch, clock, zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED, zmq.EVENT_DISCONNECTED)
    assert source.status.state == "disconnected" and source.status.disconnects == 1
    assert watch.verdict(clock()) is None  # libzmq may still schedule its retry
    assert health.rejected["oversized"] == 0
    clock.now += NO_RETRY_GRACE
    assert "oversized" in watch.verdict(clock())
    assert health.rejected["oversized"] == 1 and source.status.disconnects == 1


def test_a_failed_handshake_without_a_retry_is_not_counted_as_oversized(watched):
    source, watch, clock, health = watched
    feed(watch, clock, zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
         zmq.EVENT_DISCONNECTED)
    assert source.status.state != "connected"  # TCP alone is not a subscription
    clock.now += NO_RETRY_GRACE
    assert "handshake failed protocol" in watch.verdict(clock())
    assert health.rejected["oversized"] == 0


def test_no_connection_for_too_long_gets_a_new_socket(watched):
    source, watch, clock, _ = watched
    feed(watch, clock, zmq.EVENT_CONNECT_DELAYED, zmq.EVENT_CONNECT_RETRIED)
    assert source.status.state == "connecting"
    clock.now += STUCK_AFTER - 1
    assert watch.verdict(clock()) is None
    clock.now += 1
    assert "no connection for 60 s" in watch.verdict(clock())


def test_the_backoff_starts_again_once_a_connection_has_lasted(watched):
    source, watch, clock, _ = watched
    for _ in range(5):
        source.backoff.next()
    feed(watch, clock, zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED)
    clock.now += STABLE_AFTER - 1
    assert watch.verdict(clock()) is None and source.backoff.attempt == 5
    clock.now += 1
    assert watch.verdict(clock()) is None and source.backoff.attempt == 0
