"""core.backoff: doubling delays with jitter, a ceiling, a reset; pure (the rng is passed in)."""
import inspect
import random

import pytest

from dashboard.core.backoff import JITTER, Backoff
from dashboard.sources.ws import WsSource
from dashboard.sources.zmq import ZmqSource


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


@pytest.mark.unit
def test_the_default_jitter_leaves_the_random_module_alone():
    """A retry loop's jitter draws from its own generator: whoever seeds the random module (a test,
    Hypothesis) gets the same numbers whatever the sources' threads retry meanwhile."""
    random.seed(15)
    expected = [random.random() for _ in range(3)]
    random.seed(15)
    delays = [Backoff().next() for _ in range(50)]
    assert len(set(delays)) > 1  # jittered all the same
    assert [random.random() for _ in range(3)] == expected
    for source in (ZmqSource, WsSource):  # the sources' own default
        assert inspect.signature(source).parameters["rng"].default is JITTER
