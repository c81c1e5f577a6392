"""Reconciling the model with LAVA's REST answers (pure): bootstrap, corrections, events win."""
import copy
import datetime as dt

import pytest

from dashboard.core import records as snapshot
from dashboard.core.events import parse_frames
from dashboard.core.state import LabState
from tests.fixtures import captured_frames, rest
from tests.unit.test_state import event

NOW = dt.datetime(2026, 11, 27, 18, 0, tzinfo=dt.timezone.utc)


def rest_snapshot(devices=None, workers=None, jobs=None):
    return snapshot.build(devices if devices is not None else rest("devices_all")["results"],
                          workers if workers is not None else rest("workers")["results"],
                          jobs if jobs is not None else rest("jobs")["results"])


def test_bootstrap_equals_the_rest_state_retired_devices_included():
    state = LabState()
    state.track_touches()
    changes, corrections = state.reconcile(rest_snapshot(), NOW, initial=True)
    assert corrections == []
    devices = {d["hostname"]: d for d in rest("devices_all")["results"]}
    assert set(state.devices) == set(devices)
    assert state.devices["qemu-05"]["health"] == "Retired"
    for host, d in devices.items():
        got = state.devices[host]
        assert (got["device_type"], got["state"], got["health"], got["worker"]) == (
            d["device_type"], d["state"], d["health"], d["worker_host"])
        assert got["since"] is None  # REST does not say since when
    assert state.devices["qemu-01"]["job"] == 14 and state.devices["qemu-02"]["job"] == 13
    assert set(state.workers) == {w["hostname"] for w in rest("workers")["results"]}
    assert state.devices_of("lab-worker-01") == ["qemu-01", "qemu-02", "qemu-03", "qemu-04",
                                                          "qemu-05"]
    assert "token" not in str(state.snapshot())
    assert set(state.jobs) == set(range(1, 15))
    assert state.jobs[13]["worker"] == "lab-worker-01" and state.jobs[8]["device"] is None
    assert [c.seq for c in changes] == list(range(1, len(changes) + 1))


def test_a_model_built_from_events_needs_no_correction():
    state = LabState()
    for frames in captured_frames():
        state.apply(parse_frames(frames))
    state.track_touches()
    changes, corrections = state.reconcile(rest_snapshot(), NOW)
    assert corrections == []
    # Only what events could not know is added: x86-01, lab-worker-03, example.com (and links).
    added = {(c.kind, c.id) for c in changes if c.prev is None}
    assert added == {("device", "x86-01"), ("worker", "lab-worker-03"), ("worker", "example.com")}


def test_a_change_without_an_event_is_corrected_as_an_ordinary_change():
    state = LabState()
    state.reconcile(rest_snapshot(), NOW, initial=True)
    devices = copy.deepcopy(rest("devices_all")["results"])
    jobs = copy.deepcopy(rest("jobs")["results"])
    # Retiring qemu-02 while job 13 runs on it sends no event; the job then finishes.
    for d in devices:
        if d["hostname"] == "qemu-02":
            d.update(state="Idle", health="Retired")
    for j in jobs:
        if j["id"] == 13:
            j.update(state="Finished", health="Canceled", end_time="2026-11-27T17:59:00Z")
    state.track_touches()
    changes, corrections = state.reconcile(rest_snapshot(devices=devices, jobs=jobs), NOW)
    fixed = {(c["kind"], c["id"]): c["fields"] for c in corrections}
    assert fixed[("device", "qemu-02")]["health"] == ["Unknown", "Retired"]
    assert fixed[("device", "qemu-02")]["job"] == [13, None]
    assert fixed[("job", 13)]["state"] == ["Running", "Finished"]
    assert state.devices["qemu-02"]["job"] is None and state.devices["qemu-02"]["since"] == NOW.isoformat()
    assert {(c.kind, c.id) for c in changes} >= {("device", "qemu-02"), ("job", 13)}


def test_objects_changed_by_events_during_the_fetch_keep_the_events_value():
    state = LabState()
    state.reconcile(rest_snapshot(), NOW, initial=True)
    state.track_touches()  # the fetch starts; it will read qemu-03 as Idle/Unknown
    state.apply(event("device", {"device": "qemu-03", "device_type": "qemu", "state": "Reserved",
                                 "health": "Good", "worker": "lab-worker-01"}, "late-1"))
    _, corrections = state.reconcile(rest_snapshot(), NOW)
    assert corrections == []
    assert state.devices["qemu-03"]["state"] == "Reserved"


def test_vanished_objects_are_removed_and_gone_jobs_forgotten():
    state = LabState()
    state.reconcile(rest_snapshot(), NOW, initial=True)
    devices = [d for d in rest("devices_all")["results"] if d["hostname"] != "x86-01"]
    workers = [w for w in rest("workers")["results"] if w["hostname"] != "example.com"]
    snap = rest_snapshot(devices=devices, workers=workers)
    snap.gone_jobs = [2]
    state.track_touches()
    changes, corrections = state.reconcile(snap, NOW)
    assert "x86-01" not in state.devices and "example.com" not in state.workers and 2 not in state.jobs
    assert "x86-01" not in state.devices_of("lab-worker-03")
    removed = {(c.kind, c.id) for c in changes if c.data is None}
    assert removed == {("device", "x86-01"), ("worker", "example.com"), ("job", 2)}
    assert len(corrections) == 3


@pytest.mark.parametrize("bad, fragment", [
    ([{"hostname": "d"}], "without 'device_type'"),
    ([{"hostname": 3, "device_type": "x", "state": "Idle", "health": "Good"}], "hostname is a int"),
    ([{"hostname": "d", "device_type": "x", "state": "Sleeping", "health": "Good"}], "not one of"),
    (["not an object"], "without 'hostname'"),
])
def test_rest_answers_of_the_wrong_shape_are_refused(bad, fragment):
    with pytest.raises(snapshot.ShapeError) as info:
        snapshot.build(bad, [], [])
    assert fragment in str(info.value)
