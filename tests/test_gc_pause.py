"""The garbage collector of a running dashboard (dashboard/live/gcpause.py): what start-up made is
frozen, so that a full collection no longer walks it, and every full collection's pause of the
loop is timed for /healthz."""
import gc

import pytest

from dashboard.live import gcpause
from tests.helpers import AppProcess


@pytest.fixture
def clean_gc_state(monkeypatch):
    monkeypatch.setattr(gcpause, "_state", {"frozen": 0, "full_collections": 0, "last_full_ms": None,
                                            "longest_full_ms": None, "started": None})
    yield
    if gcpause._callback in gc.callbacks:
        gc.callbacks.remove(gcpause._callback)
    gc.unfreeze()  # this test process's objects go back to the collector


def test_only_full_collections_are_timed_the_last_and_the_longest(clean_gc_state, monkeypatch):
    now = [100.0]  # the hook's clock, moved by the test (a sleep on a busy machine overslept)
    monkeypatch.setattr(gcpause, "_clock", lambda: now[0])
    cb = gcpause._callback
    cb("start", {"generation": 0})
    cb("stop", {"generation": 0})  # the young generations: not counted
    assert gcpause.stats()["full_collections"] == 0
    for pause in (0.02, 0.005):
        cb("start", {"generation": 2})
        now[0] += pause
        cb("stop", {"generation": 2})
    got = gcpause.stats()
    assert got["full_collections"] == 2
    assert got["last_full_ms"] == 5.0 and got["longest_full_ms"] == 20.0
    cb("stop", {"generation": 2})  # a stop without its start (the hook added mid-collection)
    assert gcpause.stats()["full_collections"] == 2


def test_freezing_leaves_a_full_collection_little_to_walk(clean_gc_state):
    keep = [{"n": [i]} for i in range(200_000)]  # a large live model's worth of tracked objects
    gc.collect()
    assert len(gc.get_objects(generation=2)) >= 400_000  # what a full collection walks
    frozen = gcpause.freeze_after_start()
    assert frozen >= 400_000 and gcpause.stats()["frozen"] == frozen
    # Those moved to the generation no collection walks: the oldest one walked holds little.
    assert len(gc.get_objects(generation=2)) < 10_000
    gc.collect()  # a real full collection, timed by the hook
    got = gcpause.stats()
    assert got["full_collections"] == 1 and got["last_full_ms"] is not None
    assert len(keep) == 200_000


def test_a_running_app_says_what_it_froze_at_start():
    app = AppProcess("--no-store")
    try:
        body = app.json("/healthz")["gc"]
        assert body["frozen"] > 20_000, body  # Flask, Socket.IO, eventlet, the app's own
        assert set(body) == {"frozen", "full_collections", "last_full_ms", "longest_full_ms"}
    finally:
        app.stop()
