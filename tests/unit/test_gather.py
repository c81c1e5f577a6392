"""The ZMQ reader's wait for more of a stream (core/gather.py), with a fake clock."""
import math

import pytest

from dashboard.core.gather import KNEE, Gather


def stream(policy, rate, seconds, start=0.0, per_handover=None):
    """Hand over a steady stream of `rate` events/s for `seconds`, each hand-over after the
    policy's own wait (as the reader does): returns the time it ended at."""
    now = start
    while now < start + seconds:
        gap = max(policy.wait(), 1 / rate) if per_handover is None else per_handover / rate
        now += gap
        policy.handed(max(1, round(gap * rate)), now)
    return now


def test_a_quiet_source_waits_the_floor():
    policy = Gather(0.002, 0.01)
    assert policy.wait() == 0.002
    policy.handed(1, 0.0)
    policy.handed(1, 10.0)  # one message, ten seconds later
    assert policy.rate == pytest.approx(0.1, rel=0.01)
    assert policy.wait() == 0.002


@pytest.mark.parametrize("rate,expected", [(50, 0.002), (100, 0.002), (110, 0.002),
                                           (3000, 0.01), (4000, 0.01), (1_000_000, 0.01)])
def test_a_steady_stream_waits_the_floor_below_the_knee_and_the_ceiling_far_above_it(rate,
                                                                                    expected):
    # Below the knee (a lab's rates) the floor; far above it the ceiling, and never more.
    policy = Gather(0.002, 0.01)
    stream(policy, rate, 3.0)
    assert policy.rate == pytest.approx(rate, rel=0.1)
    assert policy.wait() == expected


def test_the_wait_grows_in_proportion_to_the_rate_above_the_knee():
    policy = Gather(0.002, 0.04)
    stream(policy, 1000, 3.0, per_handover=4)
    assert policy.rate == pytest.approx(1000, rel=0.05)
    assert policy.wait() == pytest.approx(0.002 * policy.rate / KNEE)
    assert 0.9 * 0.002 * 1000 / KNEE < policy.wait() < 1.1 * 0.002 * 1000 / KNEE


def test_after_a_stream_stops_the_next_starts_from_the_floor():
    policy = Gather(0.002, 0.01)
    end = stream(policy, 4000, 2.0)
    assert policy.wait() == 0.01
    policy.handed(1, end + 5.0)  # a lone message after a quiet spell of 5 s
    assert policy.wait() == 0.002


def test_one_burst_raises_the_estimate_only_as_far_as_its_size_says():
    # 1,000 messages in one hand-over, after a steady 100 events/s: the estimate (about
    # 0.25 s of history) reads that as a rate, and the wait grows, within the ceiling.
    policy = Gather(0.002, 0.01)
    end = stream(policy, 100, 2.0)
    policy.handed(1000, end + 0.01)
    assert policy.rate > KNEE
    assert policy.wait() == 0.01
    policy.handed(1, end + 2.0)  # the burst is long past
    assert policy.wait() == 0.002


def test_hand_overs_at_the_same_instant_count_as_a_short_burst():
    policy = Gather(0.002, 0.01)
    policy.handed(10, 1.0)
    policy.handed(100, 1.0)
    policy.handed(100, 1.0)
    assert policy.rate == pytest.approx(200 / 0.25)
    assert math.isfinite(policy.rate)


def test_without_a_ceiling_the_wait_never_grows():
    policy = Gather(0.002)
    stream(policy, 4000, 2.0)
    assert policy.rate > KNEE
    assert policy.wait() == 0.002


def test_a_floor_of_zero_never_waits():
    policy = Gather(0.0, 0.01)
    stream(policy, 4000, 2.0, per_handover=50)
    assert policy.wait() == 0.0


@pytest.mark.parametrize("floor,ceiling", [(-0.001, 0.01), (0.02, 0.01), (0.002, float("nan"))])
def test_a_floor_above_its_ceiling_or_below_zero_is_refused(floor, ceiling):
    with pytest.raises(ValueError):
        Gather(floor, ceiling)


def test_healthz_sees_the_estimate_decay_after_the_stream_stops():
    policy = Gather(0.002, 0.02)
    end = stream(policy, 4000, 2.0)
    assert policy.rate_at(end) == policy.rate  # as of the last hand-over
    assert policy.wait(policy.rate_at(end)) == 0.02
    assert policy.rate_at(end + 0.25) == pytest.approx(policy.rate / math.e)
    later = policy.rate_at(end + 3.0)  # twelve time constants: the stream is over
    assert later < KNEE and policy.wait(later) == 0.002
    assert policy.rate_at(end - 1.0) == policy.rate  # a clock that stepped back: as last known
    assert Gather(0.002, 0.02).rate_at(5.0) == 0.0  # nothing handed over yet


@pytest.mark.parametrize("knee,smoothing", [(0, 0.25), (-1, 0.25), (250, 0), (250, -0.1)])
def test_a_knee_or_smoothing_of_zero_or_less_is_refused(knee, smoothing):
    with pytest.raises(ValueError):
        Gather(0.002, 0.02, knee=knee, smoothing=smoothing)
