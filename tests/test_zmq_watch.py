"""The ZMQ source's watcher decides from the monitor's events when a socket is dead (no network:
the events are fed in as libzmq would send them, measured in tests/test_zmq_recovery.py)."""
import pytest
import zmq

from dashboard.live.health import Health
from dashboard.sources.zmq import NO_RETRY_GRACE, STABLE_AFTER, STUCK_AFTER, ZmqSource, _Connection


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def watched():
    clock, health = Clock(), Health()
    status = health.add_source("tcp://127.0.0.1:1", "zmq")
    source = ZmqSource("tcp://127.0.0.1:1", "", zmq, lambda s: None, None, status, 4096,
                       clock=clock, rng=lambda: 0.5)
    context = zmq.Context()
    sock, monitor = context.socket(zmq.SUB), context.socket(zmq.PAIR)
    conn = _Connection(sock, monitor, clock())
    yield source, conn, clock, health
    conn.close()
    context.term()


def feed(source, conn, *events):
    for event in events:
        source._on_event(conn, event)


def test_an_ordinary_disconnect_is_left_to_libzmq(watched):
    source, conn, clock, health = watched
    feed(source, conn, zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED)
    assert source.status.state == "connected"
    feed(source, conn, zmq.EVENT_DISCONNECTED, zmq.EVENT_CONNECT_RETRIED)
    clock.now += NO_RETRY_GRACE + 1
    assert source._verdict(conn, clock()) is None
    assert health.rejected["oversized"] == 0


def test_a_disconnect_after_the_handshake_without_a_retry_is_an_oversized_frame(watched):
    source, conn, clock, health = watched
    feed(source, conn, zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED, zmq.EVENT_DISCONNECTED)
    assert source._verdict(conn, clock()) is None  # libzmq may still schedule its retry
    clock.now += NO_RETRY_GRACE
    assert "oversized" in source._verdict(conn, clock())
    assert health.rejected["oversized"] == 1 and source.status.disconnects == 1


def test_a_failed_handshake_without_a_retry_is_not_counted_as_oversized(watched):
    source, conn, clock, health = watched
    feed(source, conn, zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
         zmq.EVENT_DISCONNECTED)
    assert source.status.state != "connected"  # TCP alone is not a subscription
    clock.now += NO_RETRY_GRACE
    assert "handshake failed protocol" in source._verdict(conn, clock())
    assert health.rejected["oversized"] == 0


def test_no_connection_for_too_long_gets_a_new_socket(watched):
    source, conn, clock, _ = watched
    feed(source, conn, zmq.EVENT_CONNECT_DELAYED, zmq.EVENT_CONNECT_RETRIED)
    clock.now += STUCK_AFTER - 1
    assert source._verdict(conn, clock()) is None
    clock.now += 1
    assert "no connection for 60 s" in source._verdict(conn, clock())


def test_the_backoff_starts_again_once_a_connection_has_lasted(watched):
    source, conn, clock, _ = watched
    for _ in range(5):
        source.backoff.next()
    feed(source, conn, zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED)
    clock.now += STABLE_AFTER - 1
    source._verdict(conn, clock())
    assert source.backoff.attempt == 5
    clock.now += 1
    assert source._verdict(conn, clock()) is None and source.backoff.attempt == 0
