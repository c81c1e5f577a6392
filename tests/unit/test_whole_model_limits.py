"""live.limits' parts for answers that read the whole model and for shared budgets: Pause gives the
loop back between slices, BuiltOnce builds one answer for all who ask at once and keeps it while
its tag holds, PerAddress bounds what one address has built at once, SharedBuckets are one budget
per key whatever session asks. Pure: a fake clock, and real threads only to ask at the same time."""
import threading

import pytest

from dashboard.live.limits import BuiltOnce, Pause, PerAddress, SharedBuckets


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_pause_sleeps_once_a_slice_of_work_has_gone_by_and_never_zero():
    clock, slept = Clock(), []
    pause = Pause(slept.append, every=0.005, rest=0.0002, clock=clock)
    pause()
    clock.now += 0.004
    pause()
    assert slept == []
    clock.now += 0.002
    pause()
    assert slept == [0.0002] and pause.pauses == 1
    pause()  # the slice starts again
    assert slept == [0.0002]


def test_built_once_keeps_an_answer_while_its_tag_holds_and_no_longer_than_its_ttl():
    clock, builds = Clock(), []

    def build():
        builds.append(1)
        return f"answer {len(builds)}"
    cache = BuiltOnce(threading.Event, clock=clock)
    assert cache.get("k", 1, build, ttl=5) == "answer 1"
    assert cache.get("k", 1, build, ttl=5) == "answer 1"  # kept
    assert cache.get("k", 2, build, ttl=5) == "answer 2"  # a new tag (seq, visibility)
    assert cache.get("other", 2, build, ttl=5) == "answer 3"  # another key: never shared
    clock.now += 5
    assert cache.get("k", 2, build, ttl=5) == "answer 4"  # too old
    assert cache.stats()["built"] == 4 and cache.stats()["reused"] == 1


def test_built_once_is_bounded_in_keys_and_bytes_and_keeps_nothing_too_large():
    cache = BuiltOnce(threading.Event, max_entries=2, max_bytes=10, clock=Clock())
    for key in "abc":
        cache.get(key, 0, lambda: "xxx", ttl=60)
    assert list(cache.entries) == ["b", "c"]
    cache.get("d", 0, lambda: "x" * 8, ttl=60)
    assert list(cache.entries) == ["d"] and cache.stats()["kept_bytes"] == 8
    cache.get("e", 0, lambda: "x" * 11, ttl=60)
    assert "e" not in cache.entries


def test_those_who_ask_while_an_answer_is_built_wait_for_it_and_share_it():
    cache, started, release, builds = BuiltOnce(threading.Event), threading.Event(), \
        threading.Event(), []

    def slow():
        builds.append(1)
        started.set()
        release.wait(10)
        return "the answer"
    answers = []
    first = threading.Thread(target=lambda: answers.append(cache.get("k", 1, slow, ttl=60)))
    first.start()
    started.wait(10)
    # Asked meanwhile, even at a newer tag: the answer being built, as of moments before.
    others = [threading.Thread(target=lambda: answers.append(cache.get("k", 2, slow, ttl=60)))
              for _ in range(3)]
    for t in others:
        t.start()
    release.set()
    for t in (first, *others):
        t.join(10)
    assert answers == ["the answer"] * 4 and builds == [1]
    assert cache.stats()["shared"] == 3


def test_when_a_build_fails_those_waiting_build_their_own():
    cache, started, release = BuiltOnce(threading.Event), threading.Event(), threading.Event()

    def failing():
        started.set()
        release.wait(10)
        raise RuntimeError("refused")
    errors, answers = [], []

    def first():
        try:
            cache.get("k", 1, failing, ttl=60)
        except RuntimeError as err:
            errors.append(err)
    thread = threading.Thread(target=first)
    thread.start()
    started.wait(10)
    waiter = threading.Thread(target=lambda: answers.append(cache.get("k", 1, lambda: "mine",
                                                                      ttl=60)))
    waiter.start()
    release.set()
    thread.join(10)
    waiter.join(10)
    assert len(errors) == 1 and answers == ["mine"] and not cache.building


def test_per_address_admits_a_bounded_number_of_builds_at_once():
    builds = PerAddress(2)
    assert builds.enter("a") and builds.enter("a") and not builds.enter("a")
    assert builds.enter("b")  # another address is not counted with it
    builds.leave("a")
    assert builds.enter("a")
    for _ in range(3):
        builds.leave("a")
    builds.leave("b")
    assert builds.busy == {} and builds.stats() == {"building": 0, "refused": 1,
                                                    "max_per_address": 2}
    assert all(PerAddress(0).enter("a") for _ in range(100))  # 0: no limit


def test_shared_buckets_are_one_budget_per_key_and_forgotten_once_refilled():
    clock = Clock()
    buckets = SharedBuckets(2, 0.5, clock)
    key = ("127.0.0.1", "anonymous")
    assert buckets.bucket("s1", key).take() == 0 and buckets.bucket("s2", key).take() == 0
    assert buckets.bucket("s3", key).take() == pytest.approx(2.0)  # one budget for all three
    assert buckets.bucket("s4", ("127.0.0.1", "user:alice")).take() == 0  # another viewer's
    assert buckets.bucket("s1", ("elsewhere", "anonymous")) is buckets.bucket("s2", key)  # kept
    for sid in ("s1", "s2", "s3"):
        buckets.release(sid)
    buckets.release("s3")  # (again: nothing)
    assert buckets.bucket("s5", key).take() > 0  # a new session: the same, empty bucket
    buckets.release("s5")
    assert len(buckets) == 2
    clock.now += 4  # refilled (2 tokens at 0.5 a second)
    buckets.release("s4")
    assert len(buckets) == 0  # both forgotten: a full bucket is a new one
