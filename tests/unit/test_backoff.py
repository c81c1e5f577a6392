"""core.backoff: doubling delays with jitter, a ceiling, a reset; pure (the rng is passed in)."""
import pytest

from dashboard.core.backoff import Backoff


@pytest.mark.unit
def test_delays_double_up_to_the_ceiling_and_reset():
    backoff = Backoff(first=0.5, ceiling=4.0, rng=lambda: 0.5)  # jitter factor exactly 1.0
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5


@pytest.mark.unit
def test_jitter_stays_within_twenty_percent():
    assert Backoff(first=10, ceiling=10, rng=lambda: 0.0).next() == pytest.approx(8.0)
    assert Backoff(first=10, ceiling=10, rng=lambda: 0.999999).next() == pytest.approx(12.0, rel=1e-5)


@pytest.mark.unit
def test_a_loop_that_fails_for_ever_never_overflows():
    backoff = Backoff(first=1.0, ceiling=60.0, rng=lambda: 0.5)
    assert max(backoff.next() for _ in range(5000)) == 60.0
