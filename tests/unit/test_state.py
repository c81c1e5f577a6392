"""The live model, replayed from the real capture and checked against the real REST answers."""

import json

import pytest

from dashboard.core.events import Event, parse_frames, parse_time
from dashboard.core.state import LabState
from tests.fixtures import captured_frames, rest

# What the 127 captured events cannot know, and so is not compared:
# - objects that never changed during the capture: device x86-01, workers lab-worker-03 and
#   example.com (LAVA sends nothing when an object is created);
# - REST-only fields: device description/tags/last_health_report_job, worker last_ping/version,
#   job definition/tags/viewing_groups/failure_comment.
NEVER_IN_EVENTS = {"devices": {"x86-01"}, "workers": {"lab-worker-03", "example.com"}}


@pytest.fixture(scope="module")
def replayed():
    state = LabState()
    for f in captured_frames():
        state.apply(parse_frames(f))
    return state


def test_devices_match_rest(replayed):
    expected = {d["hostname"]: d for d in rest("devices_all")["results"]}
    assert set(replayed.devices) == set(expected) - NEVER_IN_EVENTS["devices"]
    for hostname, device in replayed.devices.items():
        want = expected[hostname]
        got = {k: device[k] for k in ("device_type", "state", "health", "worker")}
        assert got == {"device_type": want["device_type"], "state": want["state"],
                       "health": want["health"], "worker": want["worker_host"]}, hostname


def test_device_current_job_matches_rest_jobs(replayed):
    active = {j["actual_device"]: j["id"] for j in rest("jobs")["results"]
              if j["state"] in ("Running", "Canceling", "Scheduled")}
    for hostname, device in replayed.devices.items():
        assert device["job"] == active.get(hostname), hostname


def test_workers_match_rest(replayed):
    expected = {w["hostname"]: w for w in rest("workers")["results"]}
    assert set(replayed.workers) == set(expected) - NEVER_IN_EVENTS["workers"]
    for hostname, worker in replayed.workers.items():
        assert (worker["state"], worker["health"]) == (expected[hostname]["state"],
                                                        expected[hostname]["health"]), hostname
    devices_all = rest("devices_all")["results"]
    for hostname, worker in replayed.workers.items():
        on_worker = {d["hostname"] for d in devices_all if d["worker_host"] == hostname}
        assert set(replayed.devices_of(hostname)) == on_worker - NEVER_IN_EVENTS["devices"], hostname
        assert "devices" not in worker  # one owner of that fact: the devices' `worker`


def _time(value):
    return parse_time(value) if value else None


def test_jobs_match_rest(replayed):
    expected = {j["id"]: j for j in rest("jobs")["results"]}
    assert set(replayed.jobs) == set(expected)
    for job_id, job in replayed.jobs.items():
        want = expected[job_id]
        assert job["state"] == want["state"], job_id
        assert job["health"] == want["health"], job_id
        assert job["submitter"] == want["submitter"], job_id
        assert job["priority"] == want["priority"], job_id
        assert job["health_check"] == want["health_check"], job_id
        assert job["description"] == want["description"], job_id
        assert job["device_type"] == want["requested_device_type"], job_id
        assert job["device"] == want["actual_device"], job_id
        for field in ("submit_time", "start_time", "end_time"):
            assert _time(job[field]) == _time(want[field]), (job_id, field)


def test_sequence_numbers_are_contiguous_and_final(replayed):
    state = LabState()
    seqs = []
    for f in captured_frames():
        seqs += [c.seq for c in state.apply(parse_frames(f))]
    assert seqs == list(range(1, len(seqs) + 1))
    assert state.seq == seqs[-1] == replayed.seq


def test_test_shell_events_are_kept_and_enriched(replayed):
    entries = list(replayed.recent_events)
    assert len(entries) == 18
    started = [e for e in entries if e["message"] == "reallava job 13 started on qemu-02"]
    assert started and started[0]["device"] == "qemu-02" and started[0]["submitter"] == "admin"


def event(kind, data, uuid, when="2026-11-27T10:00:00", user="lavaserver"):
    return Event(kind=kind, topic="org.lavasoftware." + kind, uuid=uuid,
                 time=parse_time(when), username=user, data=data)


def test_duplicate_uuid_is_ignored():
    state = LabState()
    first = state.apply(event("worker", {"hostname": "w", "state": "Online", "health": "Active"}, "u1"))
    again = state.apply(event("worker", {"hostname": "w", "state": "Offline", "health": "Active"}, "u1"))
    assert len(first) == 1 and again is None
    assert state.workers["w"]["state"] == "Online" and state.duplicates == 1


def test_finished_job_releases_its_device_even_without_device_event():
    state = LabState()
    state.apply(event("device", {"device": "d1", "device_type": "t", "state": "Reserved",
                                 "health": "Good", "worker": "w"}, "u1"))
    job = {"job": 7, "state": "Running", "health": "Unknown", "device": "d1", "submitter": "a"}
    changes = state.apply(event("testjob", job, "u2"))
    assert state.devices["d1"]["job"] == 7
    assert [c.kind for c in changes] == ["job", "device"]
    changes = state.apply(event("testjob", dict(job, state="Finished", health="Complete"), "u3"))
    assert state.devices["d1"]["job"] is None
    assert [(c.kind, c.data["device"] if c.kind == "job" else c.data["job"]) for c in changes] == [
        ("job", "d1"), ("device", None)]


def test_a_jobs_updated_follows_what_anyone_may_see_of_it():
    # `updated` is shown of a private job (core.visibility): a change of a hidden field alone must
    # leave it, or it would tell that something hidden changed, and when.
    state = LabState()
    job = {"job": 7, "state": "Running", "health": "Unknown", "description": "a", "submitter": "s"}
    state.apply(event("testjob", job, "u1", when="2026-11-27T10:00:00"))
    first = state.jobs[7]["updated"]
    changes = state.apply(event("testjob", dict(job, description="b", priority=90), "u2",
                                when="2026-11-27T10:05:00"))
    assert changes[0].data["description"] == "b" and changes[0].data["updated"] == first
    state.apply(event("testjob", dict(job, health="Complete", state="Finished"), "u3",
                      when="2026-11-27T10:09:00"))
    assert state.jobs[7]["updated"] > first and state.jobs[7]["updated"].startswith("2026-11-27T10:09")


def test_idle_device_event_naming_old_job_does_not_hold_it():
    state = LabState()
    state.apply(event("device", {"device": "d1", "state": "Running", "health": "Good", "job": 3}, "u1"))
    state.apply(event("device", {"device": "d1", "state": "Idle", "health": "Good", "job": 3}, "u2"))
    assert state.devices["d1"]["job"] is None


def test_since_changes_only_with_state_or_health():
    state = LabState()
    base = {"device": "d1", "device_type": "t", "state": "Idle", "health": "Good", "worker": "w"}
    state.apply(event("device", base, "u1", when="2026-01-01T00:00:00"))
    state.apply(event("device", dict(base, worker="w2"), "u2", when="2026-01-01T01:00:00"))
    assert state.devices["d1"]["since"].startswith("2026-01-01T00:00:00")
    state.apply(event("device", dict(base, health="Bad"), "u3", when="2026-01-01T02:00:00"))
    assert state.devices["d1"]["since"].startswith("2026-01-01T02:00:00")


def test_worker_devices_follow_device_moves():
    state = LabState()
    base = {"device": "d1", "device_type": "t", "state": "Idle", "health": "Good", "worker": "w1"}
    state.apply(event("device", base, "u1"))
    changes = state.apply(event("device", dict(base, worker="w2"), "u2"))
    assert state.devices_of("w1") == [] and state.devices_of("w2") == ["d1"]
    assert [c.kind for c in changes] == ["device", "worker"]  # w2 is new: it is created
    changes = state.apply(event("device", dict(base, worker="w1"), "u3"))
    assert [c.kind for c in changes] == ["device"]  # a move between known workers: one change
    assert state.devices_of("w1") == ["d1"] and state.devices_of("w2") == []
    assert state.with_devices(state.workers["w1"])["devices"] == ["d1"]


def test_finished_jobs_are_bounded_and_removals_are_changes():
    state = LabState(max_finished_jobs=3)
    removed = []
    for i in range(1, 11):
        changes = state.apply(event("testjob", {"job": i, "state": "Finished", "health": "Complete"},
                                    f"u{i}"))
        removed += [c.id for c in changes if c.data is None]
    assert sorted(state.jobs) == [8, 9, 10]
    assert removed == [1, 2, 3, 4, 5, 6, 7]


def test_running_jobs_are_never_evicted():
    state = LabState(max_finished_jobs=1)
    state.apply(event("testjob", {"job": 1, "state": "Running", "health": "Unknown"}, "a"))
    for i in range(2, 6):
        state.apply(event("testjob", {"job": i, "state": "Finished", "health": "Complete"}, f"u{i}"))
    assert sorted(state.jobs) == [1, 5]


def test_duplicate_window_is_bounded():
    state = LabState(dedup_window=5)
    worker = {"hostname": "w", "state": "Online", "health": "Active"}
    for i in range(20):
        state.apply(event("worker", worker, f"u{i}"))
    # The five newest uuids are still known: sent again, they are ignored as duplicates ...
    assert [state.apply(event("worker", worker, f"u{i}")) for i in range(15, 20)] == [None] * 5
    assert state.duplicates == 5
    # ... the sixth newest is forgotten: sent again, it is applied like a new event.
    assert state.apply(event("worker", worker, "u14")) == [] and state.duplicates == 5


def test_snapshot_applies_the_filter():
    state = LabState()
    state.apply(event("device", {"device": "d1", "device_type": "a", "state": "Idle", "health": "Bad"}, "1"))
    state.apply(event("device", {"device": "d2", "device_type": "b", "state": "Idle", "health": "Good"}, "2"))
    snap = state.snapshot(lambda kind, obj: obj.get("health") == "Bad")
    assert [d["hostname"] for d in snap["devices"]] == ["d1"] and snap["seq"] == 2


def test_a_message_carries_its_devices_health_when_it_arrived():
    """What a `health` filter compares for a test-shell message (core/filters.py)."""
    state = LabState()
    state.apply(event("device", {"device": "d1", "device_type": "a", "state": "Running", "health": "Bad"}, "1"))
    state.apply(event("testjob", {"job": 7, "state": "Running", "health": "Unknown", "device": "d1",
                                  "device_type": "a", "worker": "w"}, "2"))
    state.apply(event("testjob", {"job": 8, "state": "Submitted", "health": "Unknown",
                                  "device_type": "a"}, "3"))
    on_device, = state.apply(event("event", {"job": 7, "message": "hi"}, "4"))
    queued, = state.apply(event("event", {"job": 8, "message": "hi"}, "5"))
    assert on_device.data["device_health"] == "Bad" and queued.data["device_health"] is None


def test_a_stored_rows_context_is_its_jobs_record_for_a_test_shell_message_only(replayed):
    """row_context: what a stored row takes from the model (ingest, and the benchmarks' rows)."""
    shell = [parse_frames(f) for f in captured_frames() if f[0].endswith(b".event")]
    job13 = next(e for e in shell if e.data.get("job") == 13)
    context = replayed.row_context(job13)
    assert context is replayed.jobs[13] and context["submitter"] == "admin"
    for other in (dict(job13.data, job=999_999), dict(job13.data, job="13"), dict(job13.data, job=True),
                  {k: v for k, v in job13.data.items() if k != "job"}):
        assert replayed.row_context(event("event", other, "u-other")) == {}  # unknown or not an id
    device = event("device", {"device": "qemu-02", "job": 13}, "u-device")
    assert replayed.row_context(device) == {}  # device, testjob, worker rows say it themselves


def _unknown(data, uuid):
    return parse_frames([b"org.lavasoftware.notification", uuid.encode(), b"2026-12-03T08:00:00+00:00",
                         b"lavaserver", json.dumps(data).encode()])


def test_an_unknown_topics_large_data_is_not_kept_in_its_feed_entry_only_its_size():
    """A feed entry goes to every client, into the change log and the saved model: an unknown
    topic's data (up to --max-message-size) is kept there only while it is a line's worth."""
    from dashboard.core.state import MAX_FEED_DATA
    state = LabState()
    small = {"note": "n" * 100}
    large = {"note": "n" * (MAX_FEED_DATA + 1)}
    state.apply(_unknown(small, "u-small"))
    changes = state.apply(_unknown(large, "u-large"))
    kept = {e["uuid"]: e for e in state.recent_events}
    assert kept["u-small"]["data"] == small
    size = len(_unknown(large, "x").text[4])
    assert kept["u-large"]["data"] == {"omitted_characters": size} and size > MAX_FEED_DATA
    assert [c.data for c in changes] == [kept["u-large"]]  # what the relay sends: the same entry
    # An event made without its frames' text (not by the parser) is measured by its data's JSON.
    made = Event("notification", "org.lavasoftware.notification", "u-made",
                 parse_time("2026-12-03T08:00:01+00:00"), "lavaserver", large)
    state.apply(made)
    assert state.recent_events[-1]["data"] == {"omitted_characters": len(json.dumps(large, separators=(",", ":")))}


@pytest.mark.parametrize("suffix", sorted(name[len("_apply_"):] for name in dir(LabState)
                                           if name.startswith("_apply_")
                                           and name[len("_apply_"):] not in ("device", "worker", "testjob",
                                                                             "correction")))
def test_a_topic_that_names_one_of_the_models_methods_is_a_feed_entry(suffix):
    """The kind (a topic's last part) picks a handler from a table: ".record" reached
    LabState._apply_record (found by an audit: a TypeError, and the event lost). Every other
    LabState._apply_* is tried, so that one added later is covered too."""
    frames = [f"org.lavasoftware.{suffix}".encode(), f"u-{suffix}".encode(),
              b"2026-12-04T10:00:00+00:00", b"lavaserver", json.dumps({"a": 1, "job": 5}).encode()]
    state = LabState()
    changes = state.apply(parse_frames(frames))
    assert [c.kind for c in changes] == ["event"]
    assert state.recent_events[-1]["uuid"] == f"u-{suffix}" and state.recent_events[-1]["data"] == {"a": 1, "job": 5}
