"""core.streamrate: the moving estimate of a stream's rate that the ZMQ reader's wait and the relay's
gap both follow, driven by a fake clock."""
import math

import pytest

from dashboard.core.streamrate import StreamRate


def test_a_steady_stream_is_estimated_at_its_rate():
    rate = StreamRate(0.25)
    for i in range(1, 2001):  # 1,000 a second for 2 s, one at a time
        rate.add(1, 100.0 + i / 1000)
    assert rate.rate == pytest.approx(1000, rel=0.01)


def test_chunks_count_as_their_size():
    rate = StreamRate(0.25)
    for i in range(1, 201):  # 20 every 20 ms
        rate.add(20, 100.0 + i * 0.02)
    assert rate.rate == pytest.approx(1000, rel=0.01)


def test_the_estimate_decays_over_a_quiet_spell():
    rate = StreamRate(0.25)
    for i in range(1, 1001):
        rate.add(1, 100.0 + i / 1000)
    end = 101.0
    assert rate.at(end) == rate.rate
    assert rate.at(end + 0.25) == pytest.approx(rate.rate / math.e)
    assert rate.at(end + 3.0) < 0.01 * rate.rate
    assert rate.at(end - 1.0) == rate.rate  # a clock that stepped back: as last known
    rate.add(1, end + 3.0)  # the next one finds it decayed
    assert rate.rate < 10


def test_the_first_call_only_starts_the_clock_and_the_same_instant_counts():
    rate = StreamRate(0.25)
    rate.add(50, 10.0)
    assert rate.rate == 0.0 and rate.at(11.0) == 0.0
    rate.add(50, 10.0)  # the same instant: counted over the time constant
    assert rate.rate == pytest.approx(200) and math.isfinite(rate.rate)


@pytest.mark.parametrize("smoothing", [0, -0.1, float("nan")])
def test_a_smoothing_of_zero_or_less_is_refused(smoothing):
    with pytest.raises(ValueError):
        StreamRate(smoothing)
