"""The garbage collector's policy (dashboard/gcpolicy.py): rarer young collections, and cycles
still freed."""
import gc
import weakref

import pytest

from dashboard import gcpolicy

pytestmark = pytest.mark.unit


@pytest.fixture
def policy():
    before = gc.get_threshold()
    enabled = gc.isenabled()
    gc.enable()
    gcpolicy.apply()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if not enabled:
            gc.disable()


class Node:
    pass


def test_young_collections_are_rarer_and_the_older_generations_as_cpython_has_them(policy):
    assert gc.get_threshold()[0] == gcpolicy.YOUNG > 700
    assert gc.get_threshold()[1:] == (10, 10)  # CPython's own
    section = gcpolicy.stats()
    assert section["threshold"][0] == gcpolicy.YOUNG and len(section["collections"]) == 3
    assert section["uncollectable"] >= 0


def test_a_reference_cycle_is_still_freed_without_being_asked(policy):
    """No gc.collect() here: the allocations alone trigger a collection, as on the ingest path."""
    gc.collect()  # a known start: the youngest generation empty
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    assert gone() is not None  # a cycle: reference counting alone cannot free it
    young = gc.get_stats()[0]["collections"]
    kept = [[] for _ in range(gcpolicy.YOUNG + 10)]  # containers made and alive: a collection
    assert gc.get_stats()[0]["collections"] > young
    assert gone() is None
    assert len(kept) == gcpolicy.YOUNG + 10
