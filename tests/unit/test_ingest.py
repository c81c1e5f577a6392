"""live/ingest.py: a chunk's messages (handle_many) give the same model, rows, counters and changes,
in the same order, as the same messages one by one (handle), in one push; bad messages and a
failing relay cost only what they are."""
from dashboard.core.state import LabState
from dashboard.live.health import Health
from dashboard.live.ingest import Ingest
from tests.fixtures import captured_frames


class Recording:
    """A relay that keeps each push; `fail` makes push raise."""

    def __init__(self, fail=False):
        self.pushes = []
        self.fail = fail

    def push(self, changes):
        if self.fail:
            raise RuntimeError("relay down")
        self.pushes.append(list(changes))


class Rows:
    def __init__(self):
        self.rows = []

    def enqueue(self, row):
        self.rows.append(row[:3] + row[4:])  # all but `received` (the clock)


BAD = [[b"only", b"two"], [b"org.lavasoftware.device", b"u-bad", b"2026-11-27T17:38:37", b"lavaserver",
                           b"{nope"]]


def ingest_of(relay):
    health = Health()
    ingest = Ingest(LabState(), relay, health, 1 << 20, store=Rows(), watch_lag=False)
    return ingest, health, health.add_source("tcp://127.0.0.1:5500", "zmq")


def mixed():
    """The captured messages with bad ones and a duplicate among them."""
    frames = captured_frames()
    return frames[:40] + BAD + frames[40:] + [frames[3]]


def test_a_chunk_is_one_push_of_what_the_messages_give_one_by_one():
    messages = mixed()
    one, one_health, one_source = ingest_of(Recording())
    for frames in messages:
        one.handle(one_source, frames)
    many, many_health, many_source = ingest_of(Recording())
    for start in range(0, len(messages), 50):
        many.handle_many(many_source, messages[start:start + 50])
    assert len(many.relay.pushes) == 3 < len(one.relay.pushes)
    flat = [c for push in one.relay.pushes for c in push]
    assert [c for push in many.relay.pushes for c in push] == flat
    assert [c.seq for c in flat] == list(range(1, len(flat) + 1))
    assert many.state.snapshot() == one.state.snapshot()
    assert many.store.rows == one.store.rows and len(many.store.rows) == len(captured_frames())
    assert many_health.as_dict()["counters"] == one_health.as_dict()["counters"]
    counters = many_health.as_dict()["counters"]
    assert counters["duplicates"] == 1 and counters["rejected_total"] == 2
    assert counters["accepted"] == len(captured_frames())


def test_a_chunk_without_changes_pushes_nothing():
    ingest, health, source = ingest_of(Recording())
    ingest.handle_many(source, BAD)
    ingest.handle_many(source, [])
    assert ingest.relay.pushes == [] and health.as_dict()["counters"]["rejected_total"] == 2


def test_a_failing_relay_is_an_internal_error_and_the_next_chunk_goes_on():
    relay = Recording(fail=True)
    ingest, health, source = ingest_of(relay)
    frames = captured_frames()
    ingest.handle_many(source, frames[:10])
    assert health.internal_errors == 1 and health.accepted == 10  # applied and stored
    relay.fail = False
    ingest.handle_many(source, frames[10:20])
    assert len(relay.pushes) == 1 and health.accepted == 20 and len(ingest.store.rows) == 20
