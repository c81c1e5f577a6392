"""The device screen (core/screen.py): with access control, what LAVA does not list anonymously (its
device and device type permissions) never enters the model. Pure: the model, the captured REST
answers and events."""
import json

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


# -- what a review found (each fails with the code before its fix) -------------------------------
def test_a_message_of_a_job_the_model_never_held_is_kept_out():
    """A job already running on a hidden board when the dashboard started was never remembered
    as kept out: its messages must not get in for that (a review)."""
    state = screened_state()
    state.screen = DeviceScreen()  # (forget what the bootstrap remembered)
    state.screen.learn(anonymous_devices())
    with pytest.raises(Screened):
        state.apply(event("event", {"job": 10, "message": "secret on docker-02"}, "m1"))
    with pytest.raises(Screened):
        state.apply(event("event", {"job": 4242, "message": "a job nobody knows"}, "m2"))
    assert state.apply(event("event", {"job": 7, "message": "a job shown"}, "m3"))
    assert [e["message"] for e in state.recent_events] == ["a job shown"]


def test_no_job_is_remembered_as_kept_out_while_the_screen_is_not_known():
    """Remembered while nothing was known, a job shown later lost its messages (a review)."""
    state = LabState()
    state.screen = DeviceScreen()
    state.track_touches()
    state.reconcile(rest_snapshot(), NOW, initial=True)
    assert state.devices == {} and state.jobs == {} and state.screen.dump()["jobs"] == []
    state.screen.learn(anonymous_devices())
    state.track_touches()
    state.reconcile(rest_snapshot(), NOW)
    assert 7 in state.jobs and not state.screen.kept_out_job(7)
    assert state.apply(event("event", {"job": 7, "message": "shown"}, "m"))


def test_a_saved_model_without_a_screen_keeps_no_device_job_or_their_feed():
    state = screened_state()
    state.apply(event("event", {"job": 7, "message": "on docker-01"}, "m1"))
    state.apply(event("event", {"message": "of no job"}, "m2"))
    body = state.dump()
    del body["screen"]
    restored = LabState()
    restored.screen = DeviceScreen()
    restored.restore(body)
    assert restored.devices == {} and restored.jobs == {}
    assert [e["message"] for e in restored.recent_events] == ["of no job"]
    assert set(restored.workers) == set(state.workers)


def test_a_replayed_correction_of_a_device_lava_hides_now_is_kept_out():
    """A restart replays a stored correction of docker-02, from before LAVA hid it (a review:
    the replay put hidden devices back)."""
    state = screened_state()
    correction = {"object": "device", "id": "docker-02", "fields": {"health": ["Good", "Bad"]},
                  "record": {"hostname": "docker-02", "device_type": "docker", "state": "Idle",
                             "health": "Bad", "worker": "lab-worker-02", "job": None},
                  "message": "corrected device docker-02"}
    with pytest.raises(Screened):
        state.apply(event("correction", correction, "c1"))
    assert "docker-02" not in state.devices
    assert all("docker-02" not in str(e) for e in state.recent_events)
    shown = dict(correction, id="docker-01", record=dict(correction["record"], hostname="docker-01"))
    state.apply(event("correction", shown, "c2"))
    assert state.devices["docker-01"]["health"] == "Bad"


def test_the_feed_of_a_device_lava_hides_later_goes_with_it():
    state = screened_state(hidden=set())
    state.apply(event("event", {"job": 12, "message": "on qemu-04"}, "m1"))
    state.apply(event("event", {"job": 7, "message": "on docker-01"}, "m2"))
    state.screen.learn(anonymous_devices({"qemu-04"}))
    state.track_touches()
    state.reconcile(rest_snapshot(), NOW)
    assert [e["message"] for e in state.recent_events] == ["on docker-01"]
    assert all(e.get("device") != "qemu-04" for e in state.snapshot()["events"])



def test_what_leaves_for_the_screen_says_so_and_a_follower_drops_its_feed_too():
    """A cluster's web process follows the ingest process's changes (state.follow): it kept the
    feed entries of a board LAVA hid later, and gave them to every new page, until newer entries
    pushed them out. The removals now say `screened`; an ordinary removal does not."""
    from dashboard.core.clusterwire import parse_batch

    state = screened_state(hidden=set())
    follower = LabState()
    follower.restore(state.dump())
    state.track_touches()
    changes = state.apply(event("event", {"job": 12, "message": "on qemu-04"}, "m1"))
    changes += state.apply(event("event", {"job": 7, "message": "on docker-01"}, "m2"))
    state.screen.learn(anonymous_devices({"qemu-04"}))
    state.track_touches()
    screened, _ = state.reconcile(rest_snapshot(), NOW)
    changes += screened
    wire = [c.wire() for c in changes]
    removals = {(c["kind"], c["id"]): c.get("screened") for c in wire if c["data"] is None}
    assert removals[("device", "qemu-04")] is True and removals[("job", 12)] is True
    # Through the cluster's wire format and into the follower.
    _, _, _, parsed = parse_batch({b"epoch": b"e", b"first": str(wire[0]["seq"]).encode(),
                                   b"last": str(wire[-1]["seq"]).encode(),
                                   b"changes": json.dumps(wire).encode()})
    followed = follower.follow(parsed)
    assert [e["message"] for e in follower.recent_events] == ["on docker-01"]
    assert [e["message"] for e in follower.recent_events] == [e["message"] for e in state.recent_events]
    assert any(c.screened and c.id == "qemu-04" for c in followed)  # told on to its own clients
    # An ordinary removal (LAVA deleted a board: its correction) says nothing of the kind.
    from dashboard.core.events import CORRECTION_KIND

    ordinary = state.apply(event(CORRECTION_KIND, {"object": "device", "id": "docker-01",
                                                   "record": None}, "c1"))
    removal = [c.wire() for c in ordinary if c.kind == "device" and c.data is None]
    assert removal and all("screened" not in c for c in removal), removal
    assert all("screened" not in c.wire() for c in followed if c.data is not None)
    with pytest.raises(Exception, match="shape"):
        parse_batch({b"epoch": b"e", b"first": b"1", b"last": b"1", b"changes": json.dumps(
            [{"seq": 1, "kind": "device", "id": "x", "data": None, "screened": "yes"}]).encode()})


def test_a_follower_knows_the_jobs_the_ingest_process_keeps_out():
    """A cluster's web process has no screen of its own, and withholds the stored rows of the
    jobs the ingest process's screen keeps out (core/withheld.py, Withheld.job): an audit found a
    job queued for a type anyone may see, then scheduled on a board LAVA hides, still shown there,
    redacted. The follower learns them from the snapshot (the model's saved screen) and from the
    removals for the screen, and forgets one that comes back."""
    state = screened_state()
    assert state.screen.kept_out_job(10)  # (it ran on docker-02: kept out at the bootstrap)
    follower = LabState()
    follower.followed_screen = DeviceScreen()
    follower.restore(state.dump())
    assert follower.followed_screen.kept_out_job(10) and not follower.followed_screen.kept_out_job(7)
    changes = state.apply(event("testjob", {"job": 952, "state": "Submitted",
                                            "device_type": "docker"}, "a"))
    with pytest.raises(Screened) as caught:
        state.apply(event("testjob", {"job": 952, "state": "Running", "device": "docker-02"}, "b"))
    changes += caught.value.changes
    follower.follow([c.wire() for c in changes])
    assert 952 not in follower.jobs and follower.followed_screen.kept_out_job(952)
    # A job that leaves for another reason is not kept out; one that comes back is let in.
    from dashboard.core.events import CORRECTION_KIND

    follower.follow([c.wire() for c in state.apply(
        event(CORRECTION_KIND, {"object": "job", "id": 7, "record": None}, "c"))])
    assert 7 not in follower.jobs and not follower.followed_screen.kept_out_job(7)
    state.screen.learn(anonymous_devices(set()))
    state.track_touches()
    follower.follow([c.wire() for c in state.reconcile(rest_snapshot(), NOW)[0]])
    assert 10 in follower.jobs and not follower.followed_screen.kept_out_job(10)
    # A list read after the change that let it in again (older than it) does not keep it out
    # again: the model holds it (a review).
    follower.learn_kept_out({"": [10, 952]})
    assert not follower.followed_screen.kept_out_job(10) and follower.followed_screen.kept_out_job(952)
    # A later snapshot adds what it says to what the removals said (bounded: SAVED_JOBS of it).
    other = screened_state()
    follower.restore(other.dump())
    assert follower.followed_screen.kept_out_job(10) and follower.followed_screen.kept_out_job(952)
    # A process that follows nothing keeps no such memory.
    assert LabState().followed_screen is None


def test_a_job_lava_put_on_a_hidden_board_leaves_even_when_an_event_touched_it_during_the_fetch():
    """A review: a job events changed during the fetch kept the events' word, so LAVA's record
    saying it runs on a board LAVA hides was skipped, and the job stayed (past the touches'
    bound, every job the model held did). The screen wins whatever the events said."""
    import copy

    state = screened_state(hidden=set())
    assert 8 in state.jobs and state.jobs[8]["device"] is None  # queued for qemu
    jobs = copy.deepcopy(rest("jobs")["results"])
    for j in jobs:
        if j["id"] == 8:
            j.update(state="Running", actual_device="qemu-04")
    state.screen.learn(anonymous_devices({"qemu-04"}))
    state.track_touches()
    state.apply(event("testjob", {"job": 8, "state": "Scheduling", "device_type": "qemu"}, "t8"))
    changes, _ = state.reconcile(rest_snapshot(jobs=jobs), NOW)
    assert 8 not in state.jobs and state.screen.kept_out_job(8)
    assert [c for c in changes if c.kind == "job" and c.id == 8 and c.data is None and c.screened]


def test_a_removal_for_the_screen_reaches_every_page_that_may_hold_items_of_it():
    """A page that asks for messages only, or for Bad boards, holds feed items of a board it was
    never sent (its jobs' messages) or that left its filter before LAVA hid it (found by a
    review): the removal for the screen reaches it, whatever its kinds and health; who the board
    is (its type, name, worker, lab) still decides, and an ordinary removal goes as before."""
    from dashboard.core.filters import parse_filter
    from dashboard.core.state import Change
    from dashboard.live.relay import select

    board = {"hostname": "qemu-04", "device_type": "qemu", "worker": "lab-worker-01",
             "health": "Good", "state": "Idle"}
    screened = Change(9, "device", "qemu-04", None, board, "", True)
    ordinary = Change(9, "device", "qemu-04", None, board, "", False)
    for flt, told in (({}, True), ({"kinds": ["event"]}, True), ({"health": ["Bad"]}, True),
                      ({"kinds": ["event"], "device_types": ["qemu"]}, True),
                      ({"device_types": ["bbb"]}, False), ({"devices": ["qemu-01"]}, False),
                      ({"workers": ["lab-worker-02"], "kinds": ["event"]}, False)):
        sent = select(parse_filter(flt), [screened])
        assert sent == ([{"seq": 9, "kind": "device", "id": "qemu-04", "data": None,
                          "screened": True}] if told else []), flt
        assert select(parse_filter(flt), [ordinary]) == (
            [{"seq": 9, "kind": "device", "id": "qemu-04", "data": None}] if flt == {} else []), flt


def test_a_catch_up_never_replays_a_board_lava_hid_since_nor_its_jobs():
    """An audit: any client may offer a `since` with an anonymous page's epoch and view (the same for
    every anonymous page), and the change log replayed the changes of a board LAVA had hidden since
    (its name, health, worker) and of its jobs; a public job on it that had left the model before
    (finished, past the model's bound) came whole, its description and submitter too. Those
    changes are made empty (core/changelog.py), their numbers kept: a catch-up still works, and
    still tells a page under any filter to drop the board (a review: clearing the log instead
    gave such a page a snapshot, and it kept the board's items)."""
    from dashboard.core.filters import parse_filter
    from dashboard.core.visibility import ANONYMOUS, PUBLIC, Visibility
    from dashboard.live.meta import Meta
    from dashboard.live.relay import Relay, select
    from tests.helpers import RecordingSocketIO

    state = screened_state(hidden=set())  # qemu-04 shown to everyone at first
    visibility = Visibility()
    relay = Relay(RecordingSocketIO(), state, Meta(epoch="e1"), visibility=visibility)
    start = state.seq
    relay.push(state.apply(event("device", {"device": "qemu-04", "state": "Idle", "health": "Bad",
                                            "device_type": "qemu"}, "u-bad")))
    job = {"job": 900, "state": "Running", "health": "Unknown", "device": "qemu-04",
           "device_type": "qemu", "submitter": "alice", "description": "alice's secret boot"}
    relay.push(state.apply(event("testjob", job, "j1", user="alice")))
    relay.push(state.apply(event("event", {"job": 900, "message": "alice-shell-line"}, "m1")))
    visibility.learn("", 900, True)  # LAVA's anonymous list: public
    relay.push(state.set_visibility(900, PUBLIC))
    relay.push(state.apply(event("testjob", dict(job, state="Finished", health="Complete"), "j2",
                                 user="alice")))
    state.max_finished_jobs = 0  # a busy lab: 900 leaves the model before the board is hidden
    relay.push(state.apply(event("testjob", {"job": 901, "state": "Finished", "health": "Complete",
                                             "device": "qemu-01", "device_type": "qemu"}, "j3")))
    assert 900 not in state.jobs
    everyone = parse_filter({})

    def caught_up(flt=everyone, since=start):
        return select(flt, relay.changes_since(since), ANONYMOUS, relay._redactions())
    before = caught_up()
    assert any(c["id"] == 900 and c["data"] and c["data"].get("description") for c in before)

    state.screen.learn(anonymous_devices({"qemu-04"}))  # LAVA hides qemu-04 now
    state.track_touches()
    changes, _ = state.reconcile(rest_snapshot(), NOW)
    assert any(c.screened and c.id == "qemu-04" for c in changes)
    relay.push(changes)
    for since in (start, changes[0].seq - 1):
        shown = caught_up(since=since)
        told = [c["data"] for c in shown if c["data"] is not None]
        assert not [d for d in told if "qemu-04" in repr(d) or "alice" in repr(d)], told
        assert any(c["id"] == "qemu-04" and c.get("screened") and c["data"] is None for c in shown)
    assert any(c["id"] == 901 and c["data"] for c in caught_up())  # (the rest is replayed as before)
    # A page that asks for Bad boards only is told to drop qemu-04 (it held it: Bad, above)
    bad = caught_up(parse_filter({"health": ["Bad"]}))
    assert [c for c in bad if c["id"] == "qemu-04"] == [
        c for c in caught_up() if c["id"] == "qemu-04"] != []
    assert all(c["data"] is None for c in bad if c["id"] == "qemu-04")
    assert relay.stats()["log_screened_emptied"] >= 4  # its record, 900's three, the message
    log = relay.changes_since(start)
    assert [c.seq for c in log] == list(range(start + 1, state.seq + 1))  # numbers kept


def test_a_job_lava_hides_by_scheduling_it_on_a_hidden_board_is_not_replayed():
    """A job queued for a type anyone may see, then scheduled on a board LAVA hides: the model
    keeps it out, and the log's changes of it from before (its queued record, in full while LAVA
    said it was public) and its messages are made empty (core/changelog.py)."""
    from dashboard.core.changelog import without_screened
    from dashboard.core.state import Change

    queued = {"id": 952, "state": "Submitted", "device_type": "docker", "description": "public-952"}
    log = [Change(1, "job", 952, queued, None),
           Change(2, "event", "m1", {"job": 952, "message": "queued-line"}, None),
           Change(3, "job", 953, {"id": 953, "state": "Submitted"}, None),
           Change(4, "device", "docker-01", {"hostname": "docker-01"}, None),
           Change(5, "job", 952, None, queued, "", True)]
    kept, emptied = without_screened(log, log[-1:])
    assert emptied == 2 and [c.seq for c in kept] == [1, 2, 3, 4, 5]
    assert (kept[0].data, kept[0].prev, kept[1].data) == (None, None, None)
    assert kept[2:] == log[2:]  # other jobs, boards and the removal itself stay
    # Another lab's job of the same number is another job
    other = Change(6, "job", 952, dict(queued), None, "east")
    assert without_screened([other], log[-1:]) == ([other], 0)


def _ingest(state, relay=None):
    from dashboard.live.health import Health
    from dashboard.live.ingest import Ingest
    from tests.unit.test_ingest import Recording, Rows

    health = Health()
    ingest = Ingest(state, relay or Recording(), health, 1 << 20, store=Rows(), watch_lag=False)
    return ingest, health.add_source("tcp://127.0.0.1:5500", "zmq")


def _unscreened_lab():
    """A model with a screen not known yet, and its Ingest and source."""
    state = LabState()
    state.screen = DeviceScreen()
    return (state, *_ingest(state))


def _frames(kind, data, uid):
    import json

    return [f"org.lavasoftware.{kind}".encode(), uid.encode(), b"2026-11-27T18:00:00",
            b"lavaserver", json.dumps(data).encode()]


def test_held_events_go_in_order_once_the_screen_is_known_and_those_during_the_fetch_win():
    state, ingest, source = _unscreened_lab()
    # Before the fetch: docker-01 Bad (LAVA's snapshot, read later, says Good: LAVA's wins).
    ingest.handle(source, _frames("device", {"device": "docker-01", "state": "Idle",
                                             "health": "Bad"}, "h1"))
    mark = ingest.held_total
    state.track_touches()  # the fetch begins; then qemu-01 goes Bad (newer than the fetch: wins)
    ingest.handle(source, _frames("device", {"device": "qemu-01", "state": "Idle",
                                             "health": "Bad"}, "h2"))
    ingest.handle(source, _frames("event", {"job": 7, "message": "a job LAVA lists"}, "h3"))
    ingest.handle(source, _frames("device", {"device": "docker-02", "state": "Idle",
                                             "health": "Bad"}, "h4"))  # hidden: kept out
    ingest.handle(source, _frames("worker", {"hostname": "lab-worker-09", "state": "Online",
                                             "health": "Active"}, "h5"))  # in at once
    assert [item[0] for item in ingest.held] == [1, 2, 3, 4] and len(ingest.store.rows) == 1
    assert ingest.held_status() == {"events_held": 4, "held_left_out": 0}
    state.screen.learn(anonymous_devices())
    ingest.release_held(mark, state.untracked, state.deferring)
    assert [item[4] for item in ingest.held] == ["event"]  # the message waits for its job (7)
    state.reconcile(rest_snapshot(), NOW)
    assert state.devices["docker-01"]["health"] == "Good"  # LAVA's, read after the event
    assert state.devices["qemu-01"]["health"] == "Bad"  # the event, newer than the fetch
    ingest.release_held(mark, state.untracked)
    assert not ingest.held and ingest.held_bytes == 0
    assert [e["message"] for e in state.recent_events] == ["a job LAVA lists"]
    stored = [row[0] for row in ingest.store.rows]  # (uuids, in the order stored)
    assert stored == ["h5", "h1", "h2", "h3"]  # each once; the hidden board's never
    assert state.screen.events == 1


def test_the_events_held_are_bounded_in_count_and_bytes(monkeypatch):
    from dashboard.live import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "MAX_HELD", 3)
    state, ingest, source = _unscreened_lab()
    for i in range(5):
        ingest.handle(source, _frames("device", {"device": f"b-{i}", "state": "Idle"}, f"u{i}"))
    assert [item[0] for item in ingest.held] == [3, 4, 5] and ingest.held_dropped == 2
    monkeypatch.setattr(ingest_module, "MAX_HELD_BYTES", 400)
    ingest.handle(source, _frames("device", {"device": "b-5", "state": "Idle", "pad": "x" * 300},
                                  "u5"))
    assert ingest.held_bytes <= 400 and [item[0] for item in ingest.held] == [6]
    assert ingest.held_status() == {"events_held": 1, "held_left_out": 5}


# -- what a second review found ------------------------------------------------------------------
def test_a_job_lava_put_on_a_hidden_board_without_an_event_leaves_at_the_reconciliation():
    """The event that put job 952 on docker-02 was lost: LAVA's record says so, and the job (and
    its feed) leaves; its messages are kept out from then on."""
    state = screened_state()
    state.apply(event("testjob", {"job": 952, "state": "Submitted", "device_type": "docker"}, "a"))
    state.apply(event("event", {"job": 952, "message": "queued"}, "b"))
    record = dict(rest("jobs")["results"][3], id=952, requested_device_type="docker",
                  actual_device="docker-02", state="Running")
    state.track_touches()
    changes, corrections = state.reconcile(rest_snapshot(jobs=rest("jobs")["results"] + [record]),
                                           NOW)
    assert 952 not in state.jobs and state.screen.kept_out_job(952) and corrections == []
    assert ("job", 952) in {(c.kind, c.id) for c in changes if c.data is None}
    assert all(e.get("job") != 952 for e in state.recent_events)
    with pytest.raises(Screened):
        state.apply(event("event", {"job": 952, "message": "secret on docker-02"}, "c"))


def test_a_job_kept_out_is_let_in_again_when_lava_shows_its_board():
    state = screened_state()
    assert state.screen.kept_out_job(10)  # it ran on docker-02
    state.screen.learn(anonymous_devices(set()))
    state.track_touches()
    state.reconcile(rest_snapshot(), NOW)
    assert 10 in state.jobs and not state.screen.kept_out_job(10)


@pytest.mark.parametrize("data", [{"job": "10", "message": "a job named by a string"},
                                  {"device": "docker-02", "message": "an unknown topic's board"}])
def test_an_unknown_topic_naming_a_hidden_board_or_a_job_otherwise_is_kept_out(data):
    state = screened_state()
    with pytest.raises(Screened):
        state.apply(event("lab-notice", data, "u"))
    assert state.apply(event("lab-notice", {"device": "docker-01", "message": "shown"}, "v"))
    assert state.apply(event("lab-notice", {"job": None, "message": "of no job"}, "w"))


class _SnapshotRest:
    """LAVA's REST read with the dashboard's token: the captured answers."""
    base = "http://lava.invalid"

    def fetch_snapshot(self, max_finished, unfinished, crowded=False):
        return rest_snapshot()


class _Anonymous:
    """LAVA read anonymously: its devices but the hidden ones; `during_jobs_read` runs while it
    is asked which jobs it shows (the loop handles messages meanwhile)."""

    def __init__(self, during_jobs_read=lambda: None, public=()):
        self.during_jobs_read, self.public = during_jobs_read, set(public)

    def list_all(self, path, params=None, limit=None):
        return anonymous_devices()

    def visible_job_ids(self, max_finished):
        self.during_jobs_read()
        return self.public


class _Jobs:
    """JobVisibility's part in a reconciliation; `fail` makes its judging raise (a bug)."""

    def __init__(self, fail=False):
        self.fail = fail

    def learn(self, job_id, visible):
        if self.fail:
            raise RuntimeError("a bug in the judging")

    def shown_to_anyone(self, job_id):
        return False


def _reconciler(state, ingest, anonymous, jobs):
    from dashboard.live.meta import Meta
    from dashboard.live.reconcile import Reconciler
    from tests.unit.test_lag_triggers import Clock, FakeEvent

    clock = Clock()
    reconciler = Reconciler(state, ingest.relay, Meta(), _SnapshotRest(), {
        "reconcile_interval": 300, "silence_timeout": 0, "max_finished_jobs": 500},
        lambda: FakeEvent(clock), clock=clock, public=(anonymous, jobs))
    reconciler.ingest = ingest
    return reconciler


def test_a_message_that_comes_while_lava_is_asked_which_jobs_are_public_is_kept():
    """The loop handles messages while the reconciliation waits for LAVA's anonymous list of
    jobs. Learnt before that wait, the screen judged a message of a job the snapshot was about to
    bring against a model without it: lost (a second review)."""
    state, ingest, source = _unscreened_lab()
    ingest.handle(source, _frames("event", {"job": 13, "message": "held, before the answer"}, "m1"))
    anonymous = _Anonymous(lambda: ingest.handle(source, _frames(
        "event", {"job": 13, "message": "came during the wait"}, "m2")), public={1, 2, 3, 13})
    _reconciler(state, ingest, anonymous, _Jobs()).reconcile_once("start-up")
    assert [e["message"] for e in state.recent_events] == ["held, before the answer",
                                                           "came during the wait"]
    assert state.screen.events == 0 and not ingest.held


def test_a_reconciliation_that_fails_after_the_first_answer_keeps_the_waiting_messages():
    """The round fails after the held events went in: a message whose job only the snapshot
    would bring waits for the next round (judged without it, it was lost: a review); one whose
    job's event came first went in with it."""
    state, ingest, source = _unscreened_lab()
    ingest.handle(source, _frames("device", {"device": "qemu-02", "state": "Running",
                                             "health": "Good"}, "d1"))
    ingest.handle(source, _frames("lab-notice", {"message": "of no job"}, "m0"))  # (in at once)
    ingest.handle(source, _frames("testjob", {"job": 13, "state": "Running", "device": "qemu-02",
                                              "device_type": "qemu"}, "j-before"))
    ingest.handle(source, _frames("event", {"job": 13, "message": "held"}, "m1"))
    ingest.handle(source, _frames("event", {"job": 14, "message": "of a job LAVA lists"}, "m2"))
    with pytest.raises(RuntimeError):
        _reconciler(state, ingest, _Anonymous(), _Jobs(fail=True)).reconcile_once("start-up")
    assert [e["message"] for e in state.recent_events] == ["of no job", "held"]
    assert state.devices["qemu-02"]["state"] == "Running"
    assert [item[5] for item in ingest.held] == [14]  # (job 14's message waits)
    _reconciler(state, ingest, _Anonymous(), _Jobs()).reconcile_once("schedule")
    assert not ingest.held
    assert [e["message"] for e in state.recent_events if e["type"] != "correction"] == [
        "of no job", "held", "of a job LAVA lists"]


def test_no_board_alert_resolves_while_the_screen_is_not_known():
    """A restart without a saved answer: the model holds no board until LAVA says which it shows
    anonymous users; a firing alert of a board anyone may see must not resolve for that."""
    from dashboard.alerts.engine import AlertEngine
    from dashboard.alerts.rules import parse_config
    from tests.unit.test_alert_rules_regressions import T0, _Event, _Store

    alert = {"id": "a1", "key": "device_bad/qemu-01", "rule": "device_bad", "subject": "qemu-01",
             "subject_kind": "device", "device_type": "qemu", "status": "firing",
             "fired_at": T0 - 60, "notified_at": T0 - 60, "notifications": 1,
             "message": "qemu-01 is Bad", "severity": "critical", "resolved_at": None,
             "acked_by": None, "acked_at": None}
    state = LabState()
    state.screen = DeviceScreen()
    engine = AlertEngine(state, None, parse_config("[rules.stream_silent]\nenabled = false\n"),
                         _Store([alert]), None, lambda fn, *a: fn(*a), lambda s: None, _Event,
                         lambda: (None, False), lambda: "ok", clock=lambda: T0)
    engine.restore()
    engine.tick()
    assert "device_bad/qemu-01" in engine.book.firing
    state.screen.learn(anonymous_devices())  # known: qemu-01 is not in the model, so it is gone
    engine.tick()
    assert "device_bad/qemu-01" not in engine.book.firing


def test_a_job_kept_out_for_its_board_needs_a_board_lava_shows_to_come_back():
    """A publisher that lies: an event of job 10 (kept out: it ran on docker-02) with no board,
    asking for a type anyone may see, does not let it in (a third review); one on a board LAVA
    shows does."""
    state = screened_state()
    with pytest.raises(Screened):
        state.apply(event("testjob", {"job": 10, "state": "Finished", "device_type": "docker"}, "a"))
    assert 10 not in state.jobs and state.screen.kept_out_job(10)
    state.apply(event("testjob", {"job": 10, "state": "Running", "device": "docker-01",
                                  "device_type": "docker"}, "b"))
    assert 10 in state.jobs and not state.screen.kept_out_job(10)


def test_held_messages_of_a_job_that_finished_and_left_the_model_are_kept():
    """A busy lab while LAVA was not answering: a job ran, sent its messages, finished and left
    the model (--max-finished-jobs) before the first answer. Released after every job's events,
    its messages found no job and were lost (a review, bench/held.py: 4,648 of 50,000)."""
    state, ingest, source = _unscreened_lab()
    state.max_finished_jobs = 1
    for job_id in (500, 501):
        ingest.handle(source, _frames("testjob", {"job": job_id, "state": "Running",
                                                  "device": "qemu-01", "device_type": "qemu"},
                                      f"r{job_id}"))
        ingest.handle(source, _frames("event", {"job": job_id, "message": f"line of {job_id}"},
                                      f"m{job_id}"))
        ingest.handle(source, _frames("testjob", {"job": job_id, "state": "Finished",
                                                  "device": "qemu-01", "device_type": "qemu"},
                                      f"f{job_id}"))
    state.screen.learn(anonymous_devices())
    ingest.release_held(ingest.held_total, state.untracked, state.deferring)
    ingest.release_held(ingest.held_total, state.untracked)
    assert 500 not in state.jobs  # (it left the model, as it would have without the hold)
    assert [e["message"] for e in state.recent_events] == ["line of 500", "line of 501"]
    assert [row[0] for row in ingest.store.rows] == ["r500", "m500", "f500", "r501", "m501", "f501"]


def test_a_held_message_that_came_before_its_jobs_first_event_goes_in_with_it():
    """A job running before the hold: its early message, then its event, a later message, its end.
    The early one went in after the later one, or (its job gone from the model by then) not at
    all (a review)."""
    state, ingest, source = _unscreened_lab()
    state.max_finished_jobs = 1
    ingest.handle(source, _frames("event", {"job": 500, "message": "early 500"}, "m0"))
    for uid, data in (("r500", {"state": "Running"}), ("m1", None), ("f500", {"state": "Finished"}),
                      ("r501", {"job": 501, "state": "Running"}),
                      ("f501", {"job": 501, "state": "Finished"})):
        if data is None:
            ingest.handle(source, _frames("event", {"job": 500, "message": "late 500"}, uid))
        else:
            ingest.handle(source, _frames("testjob", {"job": 500, "device": "qemu-01",
                                                      "device_type": "qemu", **data}, uid))
    state.screen.learn(anonymous_devices())
    ingest.release_held(ingest.held_total, state.untracked, state.deferring)
    assert not ingest.held and ingest.held_bytes == 0
    assert [e["message"] for e in state.recent_events] == ["early 500", "late 500"]
    assert [row[0] for row in ingest.store.rows] == ["r500", "m0", "m1", "f500", "r501", "f501"]
