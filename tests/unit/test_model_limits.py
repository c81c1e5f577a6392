"""The model's bounds (core/state.py): object counts with an over_limit count, and device relinks
that cost O(1) per move (a set per worker, sorted only when sent)."""
import datetime as dt
import random

import pytest

from dashboard.core import records
from dashboard.core.events import Event
from dashboard.core.state import LabState, OverLimit

pytestmark = pytest.mark.unit
T = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.timezone.utc)
NOW = dt.datetime(2026, 11, 27, 18, 0, tzinfo=dt.timezone.utc)


def device(host, worker="w1", uuid=None, health="Good"):
    return Event("device", "org.lavasoftware.device", uuid or f"d-{host}-{health}", T, "lavaserver",
                 {"device": host, "device_type": "qemu", "state": "Idle", "health": health,
                  "worker": worker})


def worker(host):
    return Event("worker", "org.lavasoftware.worker", f"w-{host}", T, "lavaserver",
                 {"hostname": host, "state": "Online", "health": "Active"})


def job(ident):
    return Event("testjob", "org.lavasoftware.testjob", f"j-{ident}", T, "alice",
                 {"job": ident, "state": "Submitted", "health": "Unknown"})


def test_a_new_device_beyond_the_limit_is_dropped_and_counted():
    state = LabState(max_devices=2)
    state.apply(device("a"))
    state.apply(device("b"))
    seq = state.seq
    with pytest.raises(OverLimit):
        state.apply(device("c"))
    assert "c" not in state.devices and state.seq == seq and state.over_limit == 1
    assert state.devices_of("w1") == ["a", "b"]
    # Known devices still change; and the dropped event was not remembered as seen.
    assert state.apply(device("a", health="Bad"))
    state.devices.pop("b")
    assert state.apply(device("c")) is not None and "c" in state.devices


def test_a_device_naming_a_new_worker_beyond_the_limit_is_dropped():
    state = LabState(max_workers=1)
    state.apply(device("a", worker="w1"))
    with pytest.raises(OverLimit, match="worker"):
        state.apply(device("b", worker="w2"))
    with pytest.raises(OverLimit):
        state.apply(worker("w3"))
    assert set(state.workers) == {"w1"} and set(state.devices) == {"a"}
    assert state.over_limit == 2
    state.apply(worker("w1"))  # an existing worker is updated as before
    assert state.workers["w1"]["state"] == "Online"


def test_jobs_beyond_the_limit_are_dropped():
    state = LabState(max_jobs=3)
    for ident in (1, 2, 3):
        state.apply(job(ident))
    with pytest.raises(OverLimit):
        state.apply(job(4))
    assert sorted(state.jobs) == [1, 2, 3] and state.over_limit == 1


def test_reconcile_keeps_within_the_limits_and_counts_the_rest():
    devices = [{"hostname": f"d{i}", "device_type": "qemu", "state": "Idle", "health": "Good",
                "worker_host": "w1"} for i in range(5)]
    workers = [{"hostname": "w1", "state": "Online", "health": "Active"}]
    jobs = [{"id": i, "state": "Submitted", "health": "Unknown"} for i in range(1, 6)]
    state = LabState(max_devices=3, max_jobs=4)
    state.track_touches()
    state.reconcile(records.build(devices, workers, jobs), NOW, initial=True)
    assert len(state.devices) == 3 and len(state.jobs) == 4
    assert state.over_limit == 2 + 1
    assert state.devices_of("w1") == sorted(state.devices)


class CountingName(str):
    """A hostname that counts how often it is compared: a sort or bisection per relink shows."""

    comparisons = 0

    def __lt__(self, other):
        CountingName.comparisons += 1
        return str.__lt__(self, other)

    def __gt__(self, other):
        CountingName.comparisons += 1
        return str.__gt__(self, other)


def test_relinking_a_device_compares_no_names_and_sends_one_change():
    """O(1) per move: the worker's devices are a set (never a list copied, bisected or sorted), and
    a move between known workers is the device's change alone."""
    n = 4000
    state = LabState()
    state.apply(worker("w1"))
    state.apply(worker("w2"))
    hosts = [CountingName(f"dev-{i:05d}") for i in random.Random(5).sample(range(n), n)]
    CountingName.comparisons = 0
    sent = []
    for i, host in enumerate(hosts):
        sent += state.apply(device(host, worker="w1", uuid=f"a{i}"))
    for i, host in enumerate(hosts):
        sent += state.apply(device(host, worker="w2", uuid=f"b{i}"))
    assert CountingName.comparisons == 0
    assert [c.kind for c in sent] == ["device"] * (2 * n)
    assert state.devices_of("w1") == [] and state.devices_of("w2") == sorted(hosts)  # sorted now


def test_the_worker_index_agrees_with_the_devices_through_moves_removals_and_restores():
    rng = random.Random(7)
    state = LabState()
    follower = LabState()  # a web process following the ingest process's changes

    def check(model):
        for name in set(model.workers) | {"w1", "w2", "w3"}:
            members = sorted(h for h, d in model.devices.items() if d["worker"] == name)
            assert model.devices_of(name) == members, name
        assert all("devices" not in w for w in model.workers.values())

    for i in range(600):
        host = f"d{rng.randrange(60):02d}"
        if rng.random() < 0.1 and host in state.devices:
            snap = records.build([], [], [])  # LAVA lists no device: reconcile removes them all
            changes, _ = state.reconcile(snap, dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
        else:
            changes = state.apply(device(host, worker=rng.choice(["w1", "w2", "w3", None]),
                                         uuid=str(i)))
        follower.follow([c.wire() for c in changes])
        if i % 50 == 0:
            check(state)
            check(follower)
    check(state)
    check(follower)
    restored = LabState()
    restored.restore(state.dump())
    check(restored)
    assert {h: restored.devices_of(h) for h in state.workers} == {
        h: state.devices_of(h) for h in state.workers}
    # A dump from before the index (workers listing their devices) restores the same.
    old = state.dump()
    old["workers"] = [dict(w, devices=["stale"]) for w in old["workers"]]
    restored.restore(old)
    check(restored)


def test_a_restart_with_lower_limits_replays_what_fits_and_skips_the_rest(tmp_path):
    """Events stored under higher limits must not stop a restart (no crash loop): replayed up to
    the limit, the rest skipped and counted."""
    from dashboard.core.events import parse_frames
    from dashboard.storage.keeper import StoreKeeper
    from dashboard.storage.store import EventStore, row_for

    store = EventStore(str(tmp_path / "events.sqlite3"))
    for i in range(4):
        frames = [b"org.lavasoftware.device", f"r-{i}".encode(), b"2026-11-27T17:00:00",
                  b"lavaserver", (f'{{"device": "d{i}", "state": "Idle", "health": "Good", '
                                  f'"worker": "w1"}}').encode()]
        store.enqueue(row_for(parse_frames(frames), frames, {}, 1.0))
    assert store.flush() == 4
    state = LabState(max_devices=2)
    keeper = StoreKeeper(store, state, {"max_message_size": 1 << 20}, lambda fn, *a: fn(*a),
                         lambda s: None)
    assert keeper.restore()["replayed"] == 2
    assert sorted(state.devices) == ["d0", "d1"] and state.over_limit == 2


def test_the_pruner_forgets_old_resolved_alerts_and_keeps_firing_ones(tmp_path):
    """Retention applies to kept alerts too: a resolved alert older than --retention-days goes, a
    firing one stays however old (it still needs a person), a recent resolved one stays."""
    import time

    from dashboard.storage.keeper import StoreKeeper
    from dashboard.storage.store import EventStore

    store = EventStore(str(tmp_path / "events.sqlite3"))
    old, recent = time.time() - 40 * 86400, time.time() - 3600
    base = {"rule": "device_bad", "subject_kind": "device", "severity": "warning",
            "message": "m", "resolved_at": None, "jobs": []}
    store.save_alerts([dict(base, id="a", key="device_bad/a", subject="a", status="resolved",
                            fired_at=old),
                       dict(base, id="b", key="device_bad/b", subject="b", status="firing",
                            fired_at=old),
                       dict(base, id="c", key="device_bad/c", subject="c", status="resolved",
                            fired_at=recent)])
    keeper = StoreKeeper(store, LabState(), {"retention_days": 30.0, "max_events": 1000},
                         lambda fn, *a: fn(*a), lambda s: None)
    keeper.run_pruner(rounds=1)
    assert sorted(a["key"] for a in store.alerts()) == ["device_bad/b", "device_bad/c"]
