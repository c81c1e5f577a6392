"""The pure parts of the per-client limits (dashboard/live/limits.py), with a clock we turn."""
import pytest

from dashboard.live.limits import SnapshotCache, TokenBucket

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_bucket_allows_its_burst_then_its_rate_and_says_how_long_to_wait():
    clock = Clock()
    bucket = TokenBucket(5, 1.0, clock)
    assert [bucket.take() for _ in range(5)] == [0.0] * 5
    assert bucket.take() == pytest.approx(1.0)
    clock.now += 0.25
    assert bucket.take() == pytest.approx(0.75)  # a refused request costs nothing
    clock.now += 0.75
    assert bucket.take() == 0.0 and bucket.take() > 0
    clock.now += 3600  # a long quiet spell refills the burst, never more
    assert [bucket.take() for _ in range(6)].count(0.0) == 5


def test_the_cache_builds_once_per_filter_and_seq_and_keeps_only_the_current_seq():
    cache, builds = SnapshotCache(size=3), []

    def build(name):
        return lambda: builds.append(name) or name

    assert cache.get(("all", 7, "e"), build("a7")) == "a7"
    assert cache.get(("all", 7, "e"), build("again")) == "a7"
    assert cache.get(("qemu", 7, "e"), build("q7")) == "q7"
    assert (cache.built, cache.shared) == (2, 1)
    cache.get(("all", 8, "e"), build("a8"))  # a new seq: the old entries are dead weight
    assert list(cache.entries) == [("all", 8, "e")]
    for i in range(5):
        cache.get((f"f{i}", 8, "e"), build(i))
    assert len(cache.entries) == 3  # bounded however many filters
    cache.clear()
    assert cache.get(("all", 8, "e"), build("fresh")) == "fresh"
    assert builds == ["a7", "q7", "a8", 0, 1, 2, 3, 4, "fresh"]


def test_a_cached_snapshot_lasts_its_minute_only():
    """What LAVA said of a private job counts for 10 minutes; a quiet lab may keep one seq longer,
    and the snapshot built then must not outlive an answer that has expired."""
    cache, builds = SnapshotCache(size=3), []
    assert cache.get(("all", 7, "e", 100), lambda: builds.append(1) or "m100") == "m100"
    assert cache.get(("all", 7, "e", 100), lambda: builds.append(2) or "again") == "m100"
    assert cache.get(("all", 7, "e", 101), lambda: builds.append(3) or "m101") == "m101"
    assert list(cache.entries) == [("all", 7, "e", 101)] and builds == [1, 3]
