"""The device screen (core/screen.py): with access control, what LAVA does not list anonymously (its
device and device type permissions) never enters the model. Pure: the model, the captured REST
answers and events."""
import pytest

from dashboard.core.screen import DeviceScreen, Screened
from dashboard.core.state import LabState
from tests.fixtures import rest
from tests.unit.test_reconcile import NOW, rest_snapshot
from tests.unit.test_state import event

HIDDEN = {"x86-01", "docker-02"}  # x86-01 is the only x86 board: its type is hidden too


def anonymous_devices(hidden=HIDDEN):
    return [d for d in rest("devices_all")["results"] if d["hostname"] not in hidden]


def screened_state(hidden=HIDDEN):
    state = LabState()
    state.screen = DeviceScreen()
    state.screen.learn(anonymous_devices(hidden))
    state.track_touches()
    state.reconcile(rest_snapshot(), NOW, initial=True)
    return state


def test_an_unknown_screen_admits_nothing_and_a_known_one_what_lava_lists():
    screen = DeviceScreen()
    assert not screen.known
    assert not screen.admits_device("qemu-01") and not screen.admits_job(None, "qemu")
    assert screen.learn(anonymous_devices()) is True
    assert screen.learn(anonymous_devices()) is False  # (nothing changed)
    assert screen.admits_device("qemu-01") and not screen.admits_device("docker-02")
    assert screen.admits_job("docker-01", "docker") and not screen.admits_job("docker-02", "docker")
    assert screen.admits_job(None, "docker") and not screen.admits_job(None, "x86")
    assert not screen.admits_job(None, None)  # a job that names nothing: when in doubt, deny


def test_records_of_another_shape_are_not_admitted():
    screen = DeviceScreen()
    screen.learn([{"hostname": 7, "device_type": "qemu"}, "qemu-01", None,
                  {"hostname": "ok-01", "device_type": ["x"]}])
    assert screen.devices == {"ok-01"} and screen.types == frozenset()


def test_the_bootstrap_keeps_out_hidden_devices_and_the_jobs_on_them():
    state = screened_state()
    assert set(state.devices) == {d["hostname"] for d in anonymous_devices()}
    # Job 10 ran on docker-02; job 8 waits for an x86 board (none shown anonymously).
    assert 10 not in state.jobs and 8 not in state.jobs and 7 in state.jobs
    assert state.screen.kept_out_job(10) and state.screen.kept_out_job(8)
    assert "lab-worker-03" in state.workers  # workers are shown to anyone, as by LAVA


@pytest.mark.parametrize("kind,data", [
    ("device", {"device": "docker-02", "state": "Idle", "health": "Bad", "device_type": "docker"}),
    ("device", {"device": "new-board-01", "state": "Idle", "health": "Good"}),
    ("testjob", {"job": 950, "state": "Running", "device": "docker-02", "device_type": "docker"}),
    ("testjob", {"job": 951, "state": "Submitted", "device_type": "x86"}),
    ("testjob", {"job": 953, "state": "Submitted"}),
])
def test_events_about_what_lava_hides_are_kept_out(kind, data):
    state = screened_state()
    before = (dict(state.devices), dict(state.jobs), state.seq)
    with pytest.raises(Screened) as caught:
        state.apply(event(kind, data, f"u-{kind}-{sorted(data.items())}"))
    assert caught.value.changes == []
    assert (state.devices, state.jobs, state.seq) == before
    assert state.screen.events == 1


def test_a_job_scheduled_on_a_hidden_device_leaves_and_its_messages_are_kept_out():
    state = screened_state()
    state.apply(event("testjob", {"job": 952, "state": "Submitted", "device_type": "docker"}, "a"))
    assert 952 in state.jobs
    with pytest.raises(Screened) as caught:
        state.apply(event("testjob", {"job": 952, "state": "Running", "device": "docker-02"}, "b"))
    assert [(c.kind, c.id, c.data) for c in caught.value.changes] == [("job", 952, None)]
    assert 952 not in state.jobs
    with pytest.raises(Screened):
        state.apply(event("event", {"job": 952, "message": "secret"}, "c"))
    assert all(e["job"] != 952 for e in state.recent_events)
    # A message of a job shown, and one of no job, go in as before.
    assert state.apply(event("event", {"job": 7, "message": "fine"}, "d"))
    assert state.apply(event("worker", {"hostname": "lab-worker-03", "state": "Offline"}, "e"))


def test_a_device_lava_hides_later_leaves_without_a_correction_naming_it():
    state = screened_state(hidden=set())
    assert "qemu-04" in state.devices and 12 in state.jobs  # job 12 ran on qemu-04
    state.screen.learn(anonymous_devices({"qemu-04"}))
    state.track_touches()
    changes, corrections = state.reconcile(rest_snapshot(), NOW)
    assert "qemu-04" not in state.devices and 12 not in state.jobs and 2 not in state.jobs
    assert corrections == []  # a correction would name it in the stored history
    assert {(c.kind, c.id) for c in changes if c.data is None} >= {("device", "qemu-04"),
                                                                    ("job", 12), ("job", 2)}
    # Shown again: it comes back with LAVA's state.
    state.screen.learn(anonymous_devices(set()))
    state.track_touches()
    state.reconcile(rest_snapshot(), NOW)
    assert "qemu-04" in state.devices and 12 in state.jobs


def test_a_saved_model_is_screened_again_when_restored():
    state = screened_state(hidden=set())
    state.apply(event("event", {"job": 12, "message": "on qemu-04"}, "m"))
    body = state.dump()
    body["screen"]["devices"].remove("qemu-04")  # (as if LAVA had hidden it before the restart)
    restored = LabState()
    restored.screen = DeviceScreen()
    restored.restore(body)
    assert "qemu-04" not in restored.devices and 12 not in restored.jobs
    assert restored.screen.kept_out_job(12)
    assert all(e.get("job") != 12 for e in restored.recent_events)
    # A saved model without a screen (an older version's): nothing is known, nothing kept.
    del body["screen"]
    older = LabState()
    older.screen = DeviceScreen()
    older.restore(body)
    assert older.devices == {} and older.jobs == {} and not older.screen.known
    # Without access control (no screen) the model is restored whole.
    plain = LabState()
    plain.restore(body)
    assert "qemu-04" in plain.devices


def test_the_kept_out_jobs_remembered_are_bounded():
    screen = DeviceScreen(remembered=3)
    screen.learn(anonymous_devices())
    for job_id in range(10):
        screen.keep_out_job(job_id)
    assert [screen.kept_out_job(i) for i in range(10)] == [False] * 7 + [True] * 3
    again = DeviceScreen(remembered=3)
    again.restore(screen.dump())
    assert again.dump() == screen.dump()
