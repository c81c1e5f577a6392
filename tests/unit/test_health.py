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
