"""How far behind its publisher a reader runs (core/lag.py), with made-up clocks."""
from dashboard.core.lag import LagWatch


def test_a_clock_offset_is_not_lateness_and_a_stall_is_one_episode():
    watch = LagWatch(threshold=5, window=600, bucket=10)
    offset = 42.0  # the publisher's clock is 42 s behind ours: every lag includes it
    now = 1000.0
    for _ in range(100):  # a steady stream, read promptly
        assert watch.observe(now - offset - 0.01, now) is False
        now += 0.1
    assert watch.last_behind < 0.1 and not watch.behind
    # A 6 s stall: what was published meanwhile is read late, all at once.
    published = [now + i * 0.1 for i in range(60)]
    now += 6.5
    starts = [watch.observe(p - offset, now + i * 0.001) for i, p in enumerate(published)]
    assert starts.count(True) == 1 and watch.episodes == 1 and watch.max_behind > 6
    # Caught up: the episode ends; a second stall is a second episode.
    for i in range(20):
        watch.observe(now + i * 0.1 - offset, now + i * 0.1 + 0.01)
    assert not watch.behind
    assert watch.observe(now - offset, now + 10) is True and watch.episodes == 2


def test_one_message_stamped_in_the_future_does_not_blind_the_watch():
    watch = LagWatch(threshold=5, window=600, bucket=10)
    for t in range(100, 200):
        watch.observe(t - 0.5, t)
    assert watch.observe(10_000.0, 200.5) is False and watch.outliers == 1  # a year ahead
    assert watch.observe(200.6 - 0.5, 200.6) is False  # the baseline is still the clocks' offset
    assert watch.observe(200.7 - 9, 200.7) is True  # and a real 8.5 s delay is still seen


def test_one_message_stamped_long_ago_is_no_suspected_loss():
    """Found by an audit: messages dated 1971 between live ones each counted a suspected loss
    56 years behind, and asked for a reconcile. Past an hour behind, one message is an outlier."""
    now = 1_764_000_000.0
    watch = LagWatch(threshold=5, window=600, bucket=10)
    for i in range(100):
        watch.observe(now + i - 0.5, now + i)
    for i in range(6):
        assert watch.observe(31_536_000.0, now + 100 + i) is False  # 1971
        assert watch.observe(now + 100.5 + i - 0.5, now + 100.5 + i) is False
    assert watch.outliers == 6 and watch.episodes == 0 and watch.max_behind < 1
    assert watch.observe(now + 200 - 3000, now + 200) is True  # 50 min behind: still a loss


def test_the_baseline_forgets_what_is_older_than_the_window():
    watch = LagWatch(threshold=5, window=60, bucket=10)
    watch.observe(0.0, 1.0)  # lag 1
    for t in range(2, 200, 5):  # the clocks drift apart: lag grows 1 s every 5 s
        watch.observe(t - 1 - (t - 2) / 5, t)
    # Only the last 60 s are the baseline: the drift of ~12 s over it shows, not ~40 s.
    assert watch.last_behind < 15 and len(watch.minima) <= 7
    assert watch.baseline == min(m for _, m in watch.minima)  # the kept minimum is the real one
