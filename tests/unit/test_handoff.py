"""The hand-off between a ZMQ socket's thread and the loop (sources/handoff.py): bounded in
messages and bytes, never dropping, and saying exactly when each side must wake the other."""
import threading

import pytest

from dashboard.sources.handoff import Chunk, HandOff


def chunk(n, size_each=10, events=()):
    return Chunk([[b"t", b"x" * (size_each - 1)] for _ in range(n)], n * size_each, events, 1.0)


@pytest.fixture
def handoff():
    return HandOff(max_messages=10, max_bytes=1000, lock=threading.Lock())


def test_chunks_come_out_in_order_and_whole(handoff):
    first, second = chunk(3), chunk(2, events=[4096])
    handoff.put(first)
    handoff.put(second)
    assert (handoff.messages, handoff.bytes) == (5, 50)
    assert handoff.take() == (first, False)
    assert handoff.take() == (second, False)
    assert handoff.take() == (None, False)
    assert handoff.as_dict()["handed"] == 5 and (handoff.messages, handoff.bytes) == (0, 0)


def test_the_consumer_is_woken_only_after_it_found_the_queue_empty(handoff):
    assert handoff.put(chunk(1)) is False  # nobody waits yet
    handoff.take()
    assert handoff.take() == (None, False)  # empty: the consumer will wait
    assert handoff.put(chunk(1)) is True
    assert handoff.put(chunk(1)) is False  # one wake-up is enough


@pytest.mark.parametrize("size_each, full_after", [(10, 10), (250, 4)])
def test_full_in_messages_or_bytes_stops_the_producer_until_a_take_makes_room(handoff, size_each,
                                                                              full_after):
    for _ in range(full_after):
        assert handoff.room()
        handoff.put(chunk(1, size_each))
    assert not handoff.room() and not handoff.room()
    assert handoff.as_dict()["times_full"] == 1  # one stall, however often it asks
    chunk_, wake = handoff.take()
    assert chunk_ is not None and wake is True
    assert handoff.room()
    assert handoff.take()[1] is False  # it was not waiting any more


def test_the_bound_is_exceeded_by_one_chunk_at_most_and_nothing_is_dropped():
    handoff = HandOff(max_messages=10, max_bytes=10**9, lock=threading.Lock())
    put = 0
    while handoff.room():
        handoff.put(chunk(4))
        put += 4
    assert put == 12 and handoff.peak_messages == 12  # 10 + less than one chunk of 4
    taken = 0
    while (c := handoff.take()[0]) is not None:
        taken += len(c.messages)
    assert taken == put


def test_a_message_larger_than_the_byte_bound_still_passes():
    handoff = HandOff(max_messages=10, max_bytes=100, lock=threading.Lock())
    assert handoff.room()
    handoff.put(chunk(1, 5000))
    assert not handoff.room()
    assert len(handoff.take()[0].messages) == 1 and handoff.room()


def test_a_bound_below_one_is_refused():
    with pytest.raises(ValueError):
        HandOff(0, 100, threading.Lock())
