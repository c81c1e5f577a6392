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


def test_a_publisher_clock_set_right_starts_a_new_baseline_after_a_minute():
    """Found in review (2026-12-05): a LAVA server 300 s behind, then set right by its time
    server: every later message was 300 s "early", an outlier, and the watch never saw a stall
    again. A minute of outliers with no message in range between them is a clock that moved."""
    watch = LagWatch(threshold=5, window=600, bucket=10)
    now = 1_764_000_000.0
    for i in range(100):
        watch.observe(now + i - 300, now + i)  # LAVA's clock 300 s behind ours
    assert watch.baseline == 300 and watch.offset(now + 99) == 300
    for i in range(100, 159):  # set right: 59 s of outliers are still taken for wrong stamps
        assert watch.observe(now + i - 0.02, now + i) is False
    assert watch.baseline == 300 and watch.clock_moves == 0 and watch.outliers == 59
    assert watch.observe(now + 160 - 0.02, now + 160) is False  # a minute: a new baseline
    assert watch.clock_moves == 1 and abs(watch.baseline - 0.02) < 1e-6 and watch.outliers == 60
    assert watch.offset(now + 160) is None  # a new offset is known after a minute of it
    for i in range(161, 230):
        watch.observe(now + i - 0.02, now + i)
    assert abs(watch.offset(now + 229) - 0.02) < 1e-6
    assert watch.observe(now + 230 - 20, now + 230) is True  # a real 20 s stall is seen again
    assert watch.episodes == 1 and watch.as_dict(now + 230)["clock_moves"] == 1


def test_wrong_stamps_among_good_messages_never_move_the_baseline():
    watch = LagWatch(threshold=5, window=600, bucket=10)
    now = 1_764_000_000.0
    for i in range(1, 602):  # ten minutes: a message a second, every fifth a year ahead
        watch.observe(now + i + (31_536_000 if i % 5 == 0 else -0.5), now + i)
    assert watch.clock_moves == 0 and watch.outliers == 120 and watch.baseline == 0.5
    # ... and a moved clock's outliers need a minute AND three of them: two in two minutes are not
    for at in (720, 840):  # 15 minutes ahead
        assert watch.observe(now + at + 900, now + at) is False
    assert watch.clock_moves == 0 and watch.baseline == 0.5 and watch.outliers == 122


def test_a_first_message_with_a_wrong_stamp_is_outvoted_within_a_minute():
    """The baseline starts from the first message: one stamped a year ahead made every right one
    an outlier after it. They are the most for a minute: a new baseline, from a right one."""
    watch = LagWatch(threshold=5, window=600, bucket=10)
    now = 1_764_000_000.0
    for i in range(120):  # the first, then every fifth, a year ahead
        watch.observe(now + i + (31_536_000 if i % 5 == 0 else -0.5), now + i)
    assert watch.clock_moves == 1 and watch.baseline == 0.5
    assert watch.observe(now + 120 - 10, now + 120) is True  # a 9.5 s stall is seen


def test_the_clocks_offset_is_known_after_a_minute_of_messages_and_forgotten_when_quiet():
    watch = LagWatch(threshold=5, window=600, bucket=10)
    now = 1_764_000_000.0
    assert watch.offset(now) is None and watch.as_dict(now)["clock_offset_s"] is None
    for i in range(0, 61, 5):  # LAVA's clock 120 s ahead of ours
        watch.observe(now + i + 120, now + i)
        assert (watch.offset(now + i) is None) == (i < 60)
    assert watch.offset(now + 60) == -120 and watch.as_dict(now + 60)["clock_offset_s"] == -120
    assert watch.offset(now + 660) == -120  # the newest message ten minutes old: still known
    assert watch.offset(now + 661) is None  # past the window with none: not known any more
    assert watch.as_dict()["clock_offset_s"] is None  # (no time given: not said)


def test_a_publisher_clock_set_back_is_one_episode_then_a_new_baseline_after_a_steady_minute():
    """Found by a review: LAVA's clock 600 s ahead, then set right, made every message 600 s
    "late": in range (less than an hour), so the watch stayed behind, blind to a new loss, until
    the old baseline left the window, and the clock's offset stayed the old one."""
    watch = LagWatch(threshold=5, window=600, bucket=10)
    now = 1_764_000_000.0
    for i in range(120):
        watch.observe(now + i + 600, now + i)  # LAVA's clock 600 s ahead
    assert watch.offset(now + 119) == -600
    starts = [watch.observe(now + i - 0.05, now + i) for i in range(120, 180)]  # set right
    assert starts == [True] + [False] * 59 and watch.behind and watch.clock_moves == 0
    assert watch.observe(now + 180 - 0.05, now + 180) is False  # a steady minute: a clock moved
    assert watch.clock_moves == 1 and not watch.behind and abs(watch.baseline - 0.05) < 1e-6
    for i in range(181, 241):
        watch.observe(now + i - 0.05, now + i)
    assert abs(watch.offset(now + 240) - 0.05) < 1e-6  # the offset known anew, a minute on
    assert watch.observe(now + 241 - 20, now + 241) is True and watch.episodes == 2  # a real stall


def test_a_reader_catching_up_is_no_clock_that_moved():
    watch = LagWatch(threshold=5, window=600, bucket=10)
    now = 1_764_000_000.0
    for i in range(60):
        watch.observe(now + i - 0.05, now + i)
    # Stopped for 40 s, then reading its backlog: every message late, ever less so, for 80 s.
    for k in range(800):
        published = now + 60 + k * 0.1
        watch.observe(published, max(now + 100 + k * 0.05, published + 0.05))
    assert watch.episodes == 1 and watch.clock_moves == 0 and watch.max_behind > 39
    assert not watch.behind and abs(watch.baseline - 0.05) < 1e-6


def test_after_a_long_silence_the_offset_rests_on_a_minute_of_new_messages():
    """Found by a review: the first message after a silence longer than the window was the
    baseline alone, and said the clocks' offset at once (one message read late: "300 s")."""
    watch = LagWatch(threshold=5, window=600, bucket=10)
    now = 1_764_000_000.0
    for i in range(0, 120, 5):
        watch.observe(now + i - 0.05, now + i)
    back = now + 2 * 86400
    watch.observe(back - 300, back)
    assert watch.baseline == 300 and watch.offset(back) is None
    for i in range(1, 61):
        watch.observe(back + i - 300, back + i)
    assert watch.offset(back + 60) == 300
