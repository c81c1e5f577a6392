"""What is read from Redis may be of another shape (another version, a person's XADD or SET):
against a real redis-server, a stream entry of the wrong shape is skipped alone and the batches
after it are applied; a heartbeat or snapshot of the wrong shape is none (and no claim: the ingest
process overwrites it). None of them is blamed on Redis; each is counted for /healthz and logged
at most once per 30 s."""
import json
import logging

import pytest

from dashboard.core.clusterwire import parse_heartbeat
from dashboard.live.cluster import HEARTBEAT_TTL, connect
from dashboard.live.cluster_web import Replica
from dashboard.live.meta import Meta
from dashboard.live.relay import Relay
from dashboard.core.state import LabState
from tests.helpers import RecordingSocketIO
from tests.test_cluster_units import Ingest, keys, redis_url  # noqa: F401  (fixtures)


class Clock:
    """A clock the test moves: the Replica's heartbeat checks and its rate-limited log."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Web:
    """A model copy and its Replica, on a clock of the test's."""

    def __init__(self, url, keys):
        self.state, self.clock, meta = LabState(), Clock(), Meta(epoch=None)
        relay = Relay(RecordingSocketIO(), self.state, meta)
        self.replica = Replica(connect(url), keys, self.state, relay, meta,
                               sleep=lambda s: None, block_ms=10, clock=self.clock)

    def follow(self, rounds, step=0.45):
        """`rounds` rounds, `step` seconds apart on the test's clock (keep under STALLED_AFTER)."""
        for _ in range(rounds):
            self.clock.t += step
            self.replica.run(rounds=1)


ENTRIES = {
    "no first": {"epoch": "e1", "first": "?", "changes": "[]"},
    "no epoch": {"first": "6", "last": "6", "changes": "[]"},
    "not utf-8": {"epoch": b"\xff\xfe", "first": "6", "last": "6", "changes": "[]"},
    "changes not json": {"epoch": "e1", "first": "6", "last": "6", "changes": "{nope"},
    "changes not a list": {"epoch": "e1", "first": "6", "last": "6", "changes": '{"seq": 6}'},
    "a change without seq": {"epoch": "e1", "first": "6", "last": "6",
                             "changes": '[{"kind": "device", "id": "d1", "data": null}]'},
    "a change of no kind": {"epoch": "e1", "first": "6", "last": "6",
                            "changes": '[{"seq": 6, "kind": "x", "id": "d1", "data": {}}]'},
    "an event of no data": {"epoch": "e1", "first": "6", "last": "6",
                            "changes": '[{"seq": 6, "kind": "event", "id": "u", "data": null}]'},
    "first after last": {"epoch": "e1", "first": "7", "last": "6", "changes": "[]"},
}


@pytest.mark.parametrize("fields", ENTRIES.values(), ids=ENTRIES.keys())
def test_a_stream_entry_of_another_shape_is_skipped_alone(redis_url, keys, fields, caplog):
    ingest, web = Ingest(redis_url, keys, "e1"), Web(redis_url, keys)
    ingest.apply(0, 5)
    ingest.publisher.publish_once()
    web.follow(3)
    connect(redis_url).xadd(keys.changes, fields)
    connect(redis_url).xadd(keys.changes, fields)  # twice: logged once
    ingest.apply(5, 5, "Running")  # then good batches, which follow on from the model
    ingest.publisher.publish_once()
    web.follow(6)
    replica = web.replica
    assert web.state.seq == ingest.state.seq and web.state.dump() == ingest.state.dump()
    assert replica.snapshots == 1 and replica.gaps == 0  # no reload: it simply went past it
    assert replica.degraded() == [] and replica.errors == 0  # Redis is not blamed
    assert replica.stats()["malformed"] == {"entries": 2, "heartbeats": 0, "snapshots": 0,
                                            "changes": 0}
    said = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(said) == 1 and "\xff" not in said[0]


def test_an_entry_that_hid_changes_leaves_a_gap_the_snapshot_fills(redis_url, keys):
    ingest, web = Ingest(redis_url, keys, "e1"), Web(redis_url, keys)
    ingest.apply(0, 5)
    ingest.publisher.publish_once()
    web.follow(3)
    ingest.apply(5, 5, "Running")
    ingest.publisher.publish_once()
    r = connect(redis_url)
    [(entry, fields)] = r.xrevrange(keys.changes, count=1)
    r.xdel(keys.changes, entry)  # the batch of changes 6-10, as something wrote it wrong
    r.xadd(keys.changes, dict(fields, changes=b"[" + fields[b"changes"]))
    ingest.apply(10, 5, "Idle")
    ingest.publisher.last_snapshot = float("-inf")  # the ingest's next periodic snapshot
    ingest.publisher.publish_once()
    web.follow(6)
    assert web.state.dump() == ingest.state.dump()  # never a change it could not place
    assert web.replica.malformed["entries"] >= 1 and web.replica.degraded() == []


HEARTBEATS = {
    "no epoch": lambda r, key: r.set(key, json.dumps({"pid": 1})),
    "not json": lambda r, key: r.set(key, b"\x80 not json"),
    "not a dict": lambda r, key: r.set(key, "[1, 2]"),
    "a hash": lambda r, key: r.hset(key, mapping={"epoch": "e0"}),
}


@pytest.mark.parametrize("write", HEARTBEATS.values(), ids=HEARTBEATS.keys())
def test_a_heartbeat_of_another_shape_is_none_to_a_web_process(redis_url, keys, write, caplog):
    ingest, web = Ingest(redis_url, keys, "e1"), Web(redis_url, keys)
    ingest.apply(0, 5)
    ingest.publisher.publish_once()
    web.follow(3)
    r = connect(redis_url)
    r.delete(keys.ingest)
    write(r, keys.ingest)
    ingest.apply(5, 5, "Running")
    ingest.publisher.publish_once()
    ingest.publisher.last_heartbeat = float("inf")  # no heartbeat overwrites it during the test
    web.follow(8, step=1.1)  # a heartbeat check each round, 8.8 s in all
    replica = web.replica
    assert web.state.seq == ingest.state.seq  # the stream is still followed
    assert replica.degraded() == ["ingest"] and replica.errors == 0  # not "redis"
    assert replica.stats()["malformed"]["heartbeats"] >= 5
    assert replica.meta.as_dict()["cluster"]["state"] == "error"
    assert sum("taken as no heartbeat" in r.getMessage() for r in caplog.records) == 1


CLAIMS = dict(HEARTBEATS, **{
    "never expires": lambda r, key: r.set(key, json.dumps({"epoch": "e0", "seq": 3, "meta": {},
                                                           "health": {}}))})


@pytest.mark.parametrize("write", CLAIMS.values(), ids=CLAIMS.keys())
def test_a_heartbeat_of_another_shape_is_no_claim_and_is_overwritten(redis_url, keys, write):
    r = connect(redis_url)
    write(r, keys.ingest)  # no expiry
    ingest = Ingest(redis_url, keys, "e1")
    ingest.apply(0, 5)
    ingest.publisher.run(rounds=3)
    stats = ingest.publisher.stats()
    assert stats["published"] == ingest.state.seq > 0 and stats["redis"] == "connected"
    assert stats["rival"] is None
    assert stats["malformed"] == {"heartbeats": 1, "changes": 0, "snapshots": 0}
    assert r.xlen(keys.changes) == 1
    assert parse_heartbeat(r.get(keys.ingest))["epoch"] == "e1"  # its own, expiring
    assert 0 < r.ttl(keys.ingest) <= HEARTBEAT_TTL


def test_a_fresh_heartbeat_of_another_epoch_still_holds_the_prefix(redis_url, keys):
    r = connect(redis_url)
    r.set(keys.ingest, json.dumps({"epoch": "e0", "seq": 3, "meta": {}, "health": {}}), ex=5)
    ingest = Ingest(redis_url, keys, "e1")
    ingest.apply(0, 5)
    ingest.publisher.run(rounds=3)
    stats = ingest.publisher.stats()
    assert stats["published"] == 0 and stats["rival"] == "e0"
    assert stats["malformed"] == {"heartbeats": 0, "changes": 0, "snapshots": 0}


SNAPSHOTS = {
    "body not json": {"body": "{nope"},
    "no model": {"body": json.dumps({"meta": {}})},
    "devices not records": {"body": json.dumps({"meta": {}, "model": {
        "seq": 5, "devices": [1], "jobs": [], "workers": [], "finished": [],
        "recent_events": []}})},
    "seq not a number": {"seq": "five"},
}


@pytest.mark.parametrize("change", SNAPSHOTS.values(), ids=SNAPSHOTS.keys())
def test_a_snapshot_of_another_shape_is_none_until_the_next(redis_url, keys, change):
    ingest = Ingest(redis_url, keys, "e1")
    ingest.apply(0, 5)
    ingest.publisher.publish_once()
    r = connect(redis_url)
    r.hset(keys.snapshot, mapping=change)
    web = Web(redis_url, keys)
    web.follow(5)
    replica = web.replica
    assert replica.epoch is None and replica.errors == 0 and "redis" not in replica.degraded()
    assert replica.malformed["snapshots"] == 5
    ingest.apply(5, 5, "Running")
    ingest.publisher.last_snapshot = float("-inf")  # the ingest's next periodic snapshot
    ingest.publisher.publish_once()
    web.follow(5)
    assert replica.epoch == "e1" and web.state.dump() == ingest.state.dump()


@pytest.fixture(autouse=True)
def _warnings(caplog):
    caplog.set_level(logging.WARNING, logger="dashboard.live.cluster")


# A person's SET (or another tool's key) where the stream or the snapshot's hash belongs: Redis
# answers WRONGTYPE to every command on it.
WRONG_TYPES = {"changes": lambda keys: keys.changes, "snapshots": lambda keys: keys.snapshot}


@pytest.mark.parametrize("kind", WRONG_TYPES, ids=WRONG_TYPES.keys())
def test_a_key_of_another_type_is_replaced_by_ingest_and_never_blamed_on_redis(redis_url, keys,
                                                                                kind, caplog):
    key = WRONG_TYPES[kind](keys)
    r = connect(redis_url)
    ingest = Ingest(redis_url, keys, "e1")
    ingest.apply(0, 5)
    ingest.publisher.publish_once()
    web = Web(redis_url, keys)
    web.follow(3)
    assert web.state.dump() == ingest.state.dump()
    r.delete(key)
    r.set(key, "r3dis-note")  # a string where a stream or a hash belongs
    web.follow(3)  # before the ingest process writes there again: absent, not Redis failing
    replica = web.replica
    assert replica.errors == 0 and "redis" not in replica.degraded()
    if kind == "changes":
        # (Counted once until it can be read again, not once a read.)
        assert replica.malformed["changes"] == 1 and replica.degraded() == ["stream"]
    ingest.apply(5, 5, "Running")
    ingest.publisher.last_snapshot = float("-inf")  # its next snapshot too
    ingest.publisher.publish_once()
    stats = ingest.publisher.stats()
    assert stats["redis"] == "connected" and stats["errors"] == 0 and stats["error"] is None
    assert stats["malformed"][kind] == 1 and r.type(key) == {"changes": b"stream",
                                                             "snapshots": b"hash"}[kind]
    web.follow(6)
    assert web.state.dump() == ingest.state.dump()  # followed again, through a reload if need be
    assert replica.errors == 0 and replica.degraded() == []
    said = " ".join(rec.getMessage() for rec in caplog.records)
    assert f"Redis key {key}: the key is not a" in said and "r3dis-note" not in said
