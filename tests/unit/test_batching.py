"""core.batching: the adaptive gap between batches, driven with made-up CPU and wall times."""
import pytest

from dashboard.core.batching import AdaptiveInterval


def run(policy, share, seconds, step=0.05):
    """Feed `seconds` of windows of `step` s at a CPU share; → every gap returned."""
    return [policy.observe(share * step, step) for _ in range(round(seconds / step))]


def test_an_idle_process_sends_at_once_and_a_busy_one_batches_up_to_the_ceiling():
    policy = AdaptiveInterval(floor=0.005, ceiling=0.1, target=0.3)
    assert run(policy, 0.05, 2)[-1] == 0.005  # quiet: the floor
    gaps = run(policy, 0.9, 3)  # busy: the gap grows, never beyond the ceiling
    assert gaps == sorted(gaps) and gaps[-1] == 0.1 and max(gaps) <= 0.1
    assert run(policy, 0.1, 5)[-1] == 0.005  # quiet again: back to the floor


def test_the_gap_changes_at_most_twofold_per_window_and_only_once_a_window_is_full():
    policy = AdaptiveInterval(floor=0.005, ceiling=0.1, target=0.3, window=0.25)
    assert policy.observe(1.0, 0.2) == 0.005  # 0.2 s: not a full window yet
    assert policy.observe(0.05, 0.05) == 0.01  # full: share 1.05/0.25 ≫ target, doubled only
    assert policy.observe(0.0, 0.25) == 0.005  # idle: halved, not below the floor


def test_at_the_target_share_the_gap_holds():
    policy = AdaptiveInterval(floor=0.005, ceiling=0.1, target=0.3)
    run(policy, 0.9, 1)
    held = policy.value
    assert run(policy, 0.3, 2)[-1] == pytest.approx(held)


@pytest.mark.parametrize("cpu, wall", [(-1.0, 0.3), (0.0, 0.0), (5.0, -1.0), (0.0, 1e9)])
def test_odd_clock_readings_keep_the_gap_within_its_bounds(cpu, wall):
    policy = AdaptiveInterval(floor=0.005, ceiling=0.1)
    for _ in range(50):
        assert 0.005 <= policy.observe(cpu, wall) <= 0.1


def test_a_floor_above_the_ceiling_is_refused():
    with pytest.raises(ValueError):
        AdaptiveInterval(floor=0.2, ceiling=0.1)
