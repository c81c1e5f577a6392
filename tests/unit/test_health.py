"""The rate-limited log and the counters behind /healthz."""
import logging

from dashboard.core.events import ParseError
from dashboard.live.health import Health, RateLimitedLog


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_rate_limited_log_speaks_once_per_interval_and_counts_the_rest(caplog):
    clock = Clock()
    log = RateLimitedLog(logging.getLogger("t"), interval=5.0, clock=clock)
    with caplog.at_level(logging.WARNING):
        said = [log.warning("a", "bad %s", i) for i in range(10)]
        clock.now += 5.0
        said.append(log.warning("a", "bad %s", 10))
        said.append(log.warning("b", "other"))
    assert said == [True] + [False] * 9 + [True, True]
    assert [r.getMessage() for r in caplog.records] == [
        "bad 0", "bad 10 (9 more like this since the last report)", "other"]


def test_health_counts_rejections_by_reason_and_per_source():
    clock = Clock()
    health = Health(clock=clock)
    source = health.add_source("tcp://127.0.0.1:1", "zmq")
    for reason in ("not_json", "not_json", "frame_count"):
        health.message(source)
        health.reject(source, ParseError(reason, "x"), [b"a"])
    clock.now += 2.5
    body = health.as_dict()
    assert body["counters"]["rejected"]["not_json"] == 2
    assert body["counters"]["rejected"]["frame_count"] == 1
    assert body["counters"]["rejected_total"] == 3
    (src,) = body["sources"]
    assert (src["received"], src["rejected"], src["last_message_age"]) == (3, 3, 2.5)
    source.set_state("disconnected")
    source.set_state("connected")
    assert health.as_dict()["sources"][0]["disconnects"] == 1


def test_a_lab_s_clock_offset_is_its_sources_smallest_known_one():
    from dashboard.core.lag import LagWatch

    health = Health(clock=Clock())
    zmq_east, ws_east, west = (health.add_source("tcp://e:5500", "zmq", lab="east"),
                               health.add_source("wss://e/ws/", "ws", lab="east"),
                               health.add_source("tcp://w:5500", "zmq", lab="west"))
    now = 1_764_000_000.0
    assert health.clock_offset("east", now) is None  # no source has a lag watch yet
    for source, lag in ((zmq_east, 300.0), (ws_east, 302.5), (west, -90.0)):
        source.lag = LagWatch()
        for i in range(0, 61, 10):
            source.lag.observe(now + i - lag, now + i)
    assert health.clock_offset("east", now + 60) == 300.0  # the one read late adds to it
    assert health.clock_offset("west", now + 60) == -90.0
    assert health.clock_offset("", now + 60) is None  # no such lab's source
    assert health.clock_offset("east", now + 700) is None  # ten minutes without a message
    ws_east.lag = LagWatch()  # one that has heard less than a minute knows no offset yet
    ws_east.lag.observe(now + 650, now + 650)
    assert health.clock_offset("east", now + 655) == 300.0
