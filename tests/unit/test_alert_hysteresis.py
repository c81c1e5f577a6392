"""Alert rules after an audit, pure (a clock passed in): `flapping` and `queue_starving` do not
flap themselves (once firing, they resolve only when their condition has been clear for a while),
and the rules about a health (or a worker's being Offline) count from the event that began it,
not from the board's last change of state."""
import copy

import pytest

from dashboard.alerts import rules as rules_module
from dashboard.core import records
from tests.fixtures import rest
from tests.unit.test_alert_rules import T0, Lab, at, device, ev


def linked(text):
    """A Lab whose rules know what fires, as the engine links them."""
    lab = Lab(text)
    lab.rules.firing = lab.book.firing
    return lab


def episodes(log):
    return [(alert["id"], what) for alert, what in log if what in ("fired", "resolved")]


# -- 1. flapping: hysteresis ------------------------------------------------------------------
def test_a_board_flapping_just_above_the_threshold_is_one_episode_until_a_quiet_window():
    """The audit's board: changes = 2 in 0.1 minutes (6 s), a change every 2.6 s for 45 s; the
    timer ticks every second. It used to resolve whenever the window held 2 changes (16 episodes,
    32 notifications, an acknowledgement lost at each)."""
    lab = linked("[rules.flapping]\nchanges = 2\nminutes = 0.1\nrenotify_minutes = 0\n")
    lab.apply(device("d", 0, "Good"))
    changes = [round(2.6 * i, 1) for i in range(1, 18)]  # 2.6 ... 44.2 s
    healths = iter(["Unknown", "Good"] * 9)
    events = [(t, "change") for t in changes] + [(float(t), "tick") for t in range(1, 60)]
    acked = None
    for t, what in sorted(events):
        if what == "change":
            lab.apply(device("d", t, next(healths)))
        else:
            lab.tick(t)
        assert len(lab.rules.flaps.get("d", ())) <= 3  # bounded as before: changes + 1
        if acked is None and "flapping/d" in lab.book.firing:
            acked, _ = lab.book.acknowledge(lab.book.firing["flapping/d"]["id"], "alice", T0 + t)
    [(fired_id, fired), (resolved_id, resolved)] = episodes(lab.log)
    assert (fired, resolved) == ("fired", "resolved")
    assert fired_id == resolved_id == acked["id"]  # the acknowledged alert is the one that ends
    [resolved] = [alert for alert, what in lab.log if what == "resolved"]
    # Resolved at the first tick after a whole window without a change (the last at 44.2 s).
    assert resolved["resolved_at"] == T0 + 51
    assert "d" not in lab.rules.flaps
    # A real new episode fires again, as a new alert.
    lab.log = []
    for i, t in enumerate((100, 102, 104)):
        lab.apply(device("d", t, ("Good", "Unknown", "Good")[i]))  # (it was left Unknown)
    [(new_id, what)] = episodes(lab.log)
    assert what == "fired" and new_id != fired_id


def test_flapping_still_resolves_a_window_after_its_last_change_even_below_the_threshold():
    """One change inside the window keeps it firing (hysteresis); a whole window without one
    resolves it."""
    lab = linked("[rules.flapping]\nchanges = 2\nminutes = 10\nrenotify_minutes = 0\n")
    lab.apply(device("d", 0, "Good"))
    for t, health in ((60, "Unknown"), (120, "Good"), (180, "Unknown")):
        lab.apply(device("d", t, health))
    assert lab.what() == [("fired", "flapping/d")]
    lab.apply(device("d", 700, "Good"))  # one change in the last 10 minutes: below the threshold
    lab.tick(780)
    assert lab.what() == []
    lab.tick(1300)
    assert lab.what() == []
    lab.tick(1301)
    assert lab.what() == [("resolved", "flapping/d")]


# -- 1. queue_starving: hysteresis ------------------------------------------------------------
def _submitted(job, seconds, submitted):
    return ev("testjob", seconds, job=job, state="Submitted", health="Unknown", device_type="qemu",
              submit_time=at(submitted).isoformat())


def _busy_board_between_jobs(lab, start, end, tick_every=0.5):
    """The type's only board runs job after job (4 s each), Idle and Good for 1 s in between;
    the timer ticks every half second, landing in those gaps too."""
    job = 1000
    t = start
    while t < end:
        lab.apply(device("q1", t, "Good", state="Idle"))
        for tick in (t + 0.25, t + 0.75):
            lab.tick(tick)
        job += 1
        lab.apply(_submitted(job, t + 0.5, t + 0.5))
        lab.apply(ev("testjob", t + 1, job=job, state="Running", device="q1", device_type="qemu"))
        lab.apply(device("q1", t + 1, "Good", state="Running"))
        for tick in (t + 1 + tick_every * i for i in range(1, 8)):
            lab.tick(tick)
        lab.apply(ev("testjob", t + 5, job=job, state="Finished", health="Complete",
                     device="q1", device_type="qemu"))
        t += 5


def test_a_starving_queue_is_one_episode_while_its_board_is_idle_a_moment_between_jobs():
    lab = linked("[rules.queue_starving]\nminutes = 60\nrenotify_minutes = 0\n")
    lab.apply(device("q1", 0, "Good", state="Running"))
    lab.apply(_submitted(7, 0, 0))  # waits behind the others
    lab.tick(3600)
    [(first, what)] = episodes(lab.log)
    assert what == "fired"
    _busy_board_between_jobs(lab, 3601, 3601 + 30)
    assert episodes(lab.log) == [(first, "fired")]  # no RESOLVED, no new FIRING: one episode
    assert "queue_starving/qemu" in lab.book.firing
    # It resolves when it should: the old job starts (the next tick).
    lab.apply(ev("testjob", 3700, job=7, state="Running", device="q1", device_type="qemu"))
    lab.tick(3700)
    assert episodes(lab.log)[1:] == [(first, "resolved")]


def test_a_starving_queue_resolves_once_a_board_has_been_idle_and_good_for_a_quiet_time():
    lab = linked("[rules.queue_starving]\nminutes = 60\nrenotify_minutes = 0\n")
    lab.apply(device("q1", 0, "Good", state="Running"))
    lab.apply(_submitted(7, 0, 0))
    lab.tick(3600)
    assert lab.what() == [("fired", "queue_starving/qemu")]
    lab.apply(device("q1", 3700, "Good", state="Idle"))  # free, and stays so: job 7 still waits
    lab.tick(3700)
    lab.tick(3700 + 119)
    assert lab.what() == []
    lab.tick(3700 + 120)
    assert lab.what() == [("resolved", "queue_starving/qemu")]
    # A real new episode: the board busy again for an hour while job 7 still waits.
    lab.apply(device("q1", 4000, "Good", state="Running"))
    lab.tick(4001)
    assert lab.what() == [("fired", "queue_starving/qemu")]


def test_a_starving_queue_resolves_when_no_job_waits_longer_than_the_threshold():
    lab = linked("[rules.queue_starving]\nminutes = 60\nrenotify_minutes = 0\n")
    lab.apply(device("q1", 0, "Good", state="Running"))
    lab.apply(_submitted(7, 0, 0))
    lab.apply(_submitted(8, 3000, 3000))  # younger than the threshold: not starving (yet)
    lab.tick(3600)
    assert lab.what() == [("fired", "queue_starving/qemu")]
    lab.apply(device("q1", 3610, "Good", state="Idle"))  # a moment between two jobs: still firing
    lab.tick(3611)
    lab.apply(device("q1", 3612, "Good", state="Running"))
    assert lab.what() == []
    lab.apply(ev("testjob", 3650, job=7, state="Finished", health="Canceled", device_type="qemu"))
    lab.tick(3660)
    assert lab.what() == [("resolved", "queue_starving/qemu")]


def test_a_board_rest_loaded_idle_counts_its_quiet_time_from_when_the_rules_saw_it():
    """LAVA's REST says no `since`: ready from when the rules first saw it so, noted only while
    a job of its type waits and forgotten when it is no longer Idle."""
    lab = linked("[rules.queue_starving]\nminutes = 60\nrenotify_minutes = 0\n")
    lab.apply(device("q1", 0, "Good", state="Running"))
    lab.apply(_submitted(7, 0, 0))
    lab.tick(3600)
    assert lab.what() == [("fired", "queue_starving/qemu")]
    lab.state.devices["q1"].update(state="Idle", since=None)  # as a reconcile of LAVA's REST
    lab.tick(3610)
    assert lab.what() == []
    assert lab.rules.first_seen[("queue_ready", "q1")] == T0 + 3610
    lab.tick(3730)
    assert lab.what() == [("resolved", "queue_starving/qemu")]
    lab.apply(device("q1", 3800, "Good", state="Running"))
    assert ("queue_ready", "q1") not in lab.rules.first_seen


# -- 2. a health's duration counts from the event that began it ------------------------------
def test_maintenance_counts_from_its_event_not_from_a_later_change_of_state():
    lab = Lab("[rules.device_maintenance]\nminutes = 30\n")
    lab.apply(device("d", 0, "Good", state="Idle"))
    lab.apply(device("d", 60, "Maintenance", state="Running"))  # put in Maintenance mid-job
    lab.apply(device("d", 600, "Maintenance", state="Idle"))  # the job ends: the model's since moves
    assert lab.state.devices["d"]["since"] == at(600).isoformat()
    lab.tick(60 + 30 * 60 - 1)
    assert lab.what() == []
    lab.tick(60 + 30 * 60)
    assert lab.what() == [("fired", "device_maintenance/d")]
    alert = lab.book.firing["device_maintenance/d"]
    assert alert["since"] == T0 + 60
    assert "for 30 minutes" in alert["message"]


def test_bad_counts_from_the_bad_event_through_changes_of_state_and_again_after_good():
    lab = Lab("[rules.device_bad]\nminutes = 30\nrenotify_minutes = 0\n")
    lab.apply(device("d", 0, "Good", state="Idle"))
    lab.apply(device("d", 100, "Bad", state="Idle"))
    lab.apply(device("d", 500, "Bad", state="Running"))
    lab.apply(device("d", 900, "Bad", state="Idle"))
    lab.tick(100 + 1800)
    assert lab.what() == [("fired", "device_bad/d")]
    assert lab.book.firing["device_bad/d"]["since"] == T0 + 100
    lab.apply(device("d", 2000, "Good", state="Idle"))
    assert lab.what() == [("resolved", "device_bad/d")]
    assert ("device_bad", "d") not in lab.rules.began
    lab.apply(device("d", 3000, "Bad", state="Idle"))  # a new episode counts from its own event
    lab.apply(device("d", 3100, "Bad", state="Running"))
    lab.tick(3000 + 1799)
    assert lab.what() == []
    lab.tick(3000 + 1800)
    assert lab.what() == [("fired", "device_bad/d")]


def test_worker_offline_counts_from_going_offline_not_from_a_later_change_of_health():
    lab = Lab("[rules.worker_offline]\nminutes = 10\n")
    lab.apply(ev("worker", 0, hostname="w1", state="Offline"))  # its health not said yet
    lab.apply(ev("worker", 300, hostname="w1", state="Offline", health="Active"))
    assert lab.state.workers["w1"]["since"] == at(300).isoformat()
    lab.tick(599)
    assert lab.what() == []
    lab.tick(600)
    assert lab.what() == [("fired", "worker_offline/w1")]
    assert lab.book.firing["worker_offline/w1"]["since"] == T0


def test_what_began_is_forgotten_with_its_board_or_worker_and_is_bounded(monkeypatch):
    lab = Lab()
    lab.apply(device("d", 0, "Bad"))
    lab.apply(ev("worker", 0, hostname="w9", state="Offline", health="Active"))
    assert {("device_bad", "d"), ("worker_offline", "w9")} <= set(lab.rules.began)
    changes, _ = lab.state.reconcile(records.build([], [], []), at(60))
    lab.rules.on_changes(changes, T0 + 60)
    assert lab.rules.began == {}
    monkeypatch.setattr(rules_module, "MAX_TRACKED", 3)
    for i in range(10):
        lab.apply(device(f"bad-{i}", 100 + i, "Bad"))
    assert len(lab.rules.began) == 3
    assert ("device_bad", "bad-9") in lab.rules.began  # the newest stay


def test_after_a_restart_a_firing_alert_counts_from_its_since_not_the_model_s_last_change():
    """The model restored from the store says the board's last change of state; the alert still
    firing says since when it is Bad."""
    lab = Lab("[rules.device_bad]\nminutes = 30\nrenotify_minutes = 0\n")
    lab.apply(device("d", 0, "Bad", state="Idle"))
    lab.tick(1800)
    [(alert, what)] = lab.log
    assert what == "fired"
    lab.apply(device("d", 2000, "Bad", state="Running"))
    restarted = Lab("[rules.device_bad]\nminutes = 30\nrenotify_minutes = 0\n")
    restarted.state = lab.state
    restarted.book.restore([alert])
    restarted.rules.restore([alert])
    restarted.tick(5400)
    assert restarted.what() == []  # the same episode
    current = restarted.book.firing["device_bad/d"]
    assert current["id"] == alert["id"] and current["since"] == T0
    assert "for 90 minutes" in current["message"]


@pytest.mark.parametrize("rule", ["device_bad", "device_maintenance"])
def test_a_board_rest_loaded_counts_from_when_the_rules_first_saw_it_through_a_change_of_state(rule):
    """LAVA's REST says no `since`: from when the rules first saw the health, and a later change
    of state alone (which gives the model a `since`) does not restart it."""
    health = {"device_bad": "Bad", "device_maintenance": "Maintenance"}[rule]
    template = next(d for d in rest("devices_all")["results"] if d["health"] == health)
    board = dict(copy.deepcopy(template), hostname="r1", state="Idle")
    lab = Lab(f"[rules.{rule}]\nminutes = 30\n")
    changes, _ = lab.state.reconcile(records.build([board], [], []), at(0), initial=True)
    lab.book.apply(lab.rules.on_changes(changes, T0), T0)
    lab.tick(0)
    assert lab.state.devices["r1"]["since"] is None
    lab.apply(device("r1", 600, health, state="Running", dtype=board["device_type"],
                     worker=board["worker_host"]))
    lab.tick(1799)
    assert lab.what() == []
    lab.tick(1800)
    assert lab.what() == [("fired", f"{rule}/r1")]
    assert lab.book.firing[f"{rule}/r1"]["since"] == T0
