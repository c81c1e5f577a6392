"""A job's time LAVA's clock could not have meant (before 2010, or more than a day ahead): the
message or record is kept, that time is unknown (left out of an event's data, None in a REST
record) and counted. A job submitted while LAVA's clock was not yet set was shown "queued 56
years", its queue wait observed as 56 years, and the queue rules took it for the oldest job."""
import datetime as dt
import json

import pytest

from dashboard.core import records
from dashboard.core.events import EARLIEST, MAX_AHEAD, parse_frames
from dashboard.core.jobtimes import JobTimes
from dashboard.core.state import LabState
from dashboard.live.health import Health
from dashboard.live.ingest import Ingest

pytestmark = pytest.mark.unit

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(when):
    return when.isoformat()


def job_frames(uuid, **data):
    data = {"job": 7, "device_type": "qemu", "state": "Submitted", "health": "Unknown", **data}
    return [b"org.lavasoftware.testjob", uuid.encode(), iso(NOW).encode(), b"alice",
            json.dumps(data).encode()]


class Sink:
    def __init__(self):
        self.changes = []

    def push(self, changes):
        self.changes.extend(changes)


# (Named, not given by value: a time worked out from the clock would name the test differently in
# each pytest-xdist worker, which then refuse to run.)
OUT_OF_RANGE = {"unset-clock": "1970-01-01T00:00:05", "before-2010": "2009-12-31T23:59:59Z",
                "ahead": iso(NOW + MAX_AHEAD + dt.timedelta(minutes=5))}
WITHIN = {"2010": EARLIEST, "last-year": NOW - dt.timedelta(days=400),
          "almost-a-day-ahead": NOW + MAX_AHEAD - dt.timedelta(minutes=5)}


@pytest.mark.parametrize("field", ["submit_time", "start_time", "end_time"])
@pytest.mark.parametrize("name", sorted(OUT_OF_RANGE))
def test_an_event_keeps_its_other_fields_and_leaves_that_time_out(field, name):
    when = OUT_OF_RANGE[name]
    event = parse_frames(job_frames("u1", **{field: when, "description": "smoke"}))
    assert field not in event.data
    assert event.unusable == (field,)
    assert event.data["description"] == "smoke" and event.data["state"] == "Submitted"


@pytest.mark.parametrize("name", sorted(WITHIN))
def test_a_time_within_range_is_kept_in_one_spelling(name):
    when = WITHIN[name]
    event = parse_frames(job_frames("u1", submit_time=when.strftime("%Y-%m-%dT%H:%M:%SZ")))
    assert event.data["submit_time"] == iso(when)
    assert event.unusable == ()


def test_only_the_times_out_of_range_are_left_out():
    event = parse_frames(job_frames("u1", state="Running", submit_time="1970-01-01T00:00:00",
                                    start_time=iso(NOW)))
    assert event.unusable == ("submit_time",)
    assert event.data["start_time"] == iso(NOW) and "submit_time" not in event.data


def test_a_cached_spelling_is_checked_again_at_each_event():
    """The spelling of a time is cached; whether it is in range is not (the clock moves on)."""
    ahead = iso(NOW + MAX_AHEAD + dt.timedelta(minutes=5))
    assert parse_frames(job_frames("u1", end_time=ahead)).unusable == ("end_time",)
    assert parse_frames(job_frames("u2", submit_time=iso(NOW))).unusable == ()
    assert parse_frames(job_frames("u3", end_time=ahead)).unusable == ("end_time",)


def ingest_with():
    health = Health()
    source = health.add_source("tcp://127.0.0.1:5500", "zmq")
    state = LabState()
    relay = Sink()
    return Ingest(state, relay, health, 1 << 20, watch_lag=False), state, health, source, relay


def test_the_model_keeps_what_it_knew_and_counts_each_time_left_out(caplog):
    ingest, state, health, source, _ = ingest_with()
    good = iso(NOW - dt.timedelta(minutes=30))
    ingest.handle(source, job_frames("u1", submit_time=good))
    # Its next message: LAVA's clock stepped back to 1970 (its end time too far ahead): the job's
    # change goes in, its submit time stays the one known, its start time is unknown.
    ingest.handle(source, job_frames("u2", state="Running", submit_time="1970-01-01T00:00:00",
                                     start_time=iso(NOW + dt.timedelta(days=3)),
                                     description="smoke"))
    job = state.jobs[7]
    assert job["state"] == "Running"
    assert job["submit_time"] == good and job["start_time"] is None
    assert health.unusable_times == 2
    assert health.accepted == 2 and sum(health.rejected.values()) == 0
    # The same message again (a second source of the same stream, say): a duplicate, not counted
    # again (a review: it was, before the model took or left it).
    ingest.handle(source, job_frames("u2", state="Running", submit_time="1970-01-01T00:00:00",
                                     start_time=iso(NOW + dt.timedelta(days=3)),
                                     description="smoke"))
    assert health.duplicates == 1 and health.unusable_times == 2
    assert health.as_dict()["counters"]["unusable_times"] == 2
    said = [r.getMessage() for r in caplog.records if "out of range" in r.getMessage()]
    assert len(said) == 1  # rate-limited
    assert "'u2'" in said[0] and "submit_time and start_time" in said[0]
    assert "1970" not in said[0] and "smoke" not in said[0]  # never the job's values


def test_a_new_job_with_such_a_time_has_it_unknown_and_no_wait_is_observed():
    ingest, state, health, source, relay = ingest_with()
    times = JobTimes()
    ingest.handle(source, job_frames("u1", job=8, submit_time="1970-01-01T00:00:00"))
    ingest.handle(source, job_frames("u2", job=8, state="Running", submit_time="1970-01-01T00:00:00",
                                     start_time=iso(NOW)))
    times.push(relay.changes)
    assert state.jobs[8]["submit_time"] is None and state.jobs[8]["start_time"] == iso(NOW)
    assert times.wait.series == {}
    # The same job's times within range: observed (the check above can fail).
    ingest.handle(source, job_frames("u3", job=9, submit_time=iso(NOW - dt.timedelta(minutes=3))))
    ingest.handle(source, job_frames("u4", job=9, state="Running", start_time=iso(NOW)))
    times.push(relay.changes[-1:])
    assert list(times.wait.series) == ["qemu"]


def rest_job(ident, **times):
    return {"id": ident, "state": "Submitted", "health": "Unknown", "requested_device_type": "qemu",
            **times}


def test_a_rest_job_keeps_its_record_with_that_time_unknown():
    ok = rest_job(1, submit_time="2026-11-30T10:00:00Z")
    unset = rest_job(2, submit_time="1970-01-01T00:00:03Z")
    ahead = rest_job(3, submit_time="2026-11-30T10:00:00Z", start_time="2026-12-03T10:00:01Z",
                     end_time="2030-01-01T00:00:00Z")
    now = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.timezone.utc)
    snap = records.build([], [], [ok, unset, ahead], now=now)
    jobs = {j["id"]: j for j in snap.jobs}
    assert sorted(jobs) == [1, 2, 3] and len(snap.skipped) == 0
    assert jobs[1]["submit_time"] == "2026-11-30T10:00:00+00:00"
    assert jobs[2]["submit_time"] is None
    assert (jobs[3]["submit_time"], jobs[3]["start_time"], jobs[3]["end_time"]) == (
        "2026-11-30T10:00:00+00:00", None, None)
    assert snap.skipped.unusable_times == {"submit_time": 1, "start_time": 1, "end_time": 1}
    # A day ahead at most: the same record a day later is whole.
    later = records.build([], [], [ahead], now=now + dt.timedelta(days=1, seconds=1))
    assert later.jobs[0]["start_time"] == "2026-12-03T10:00:01+00:00"


def test_a_rest_record_of_the_wrong_shape_counts_no_time():
    """Left out for another field: its times are not counted as kept unknown."""
    bad = rest_job(4, submit_time="1970-01-01T00:00:03Z", priority="high")
    snap = records.build([], [], [bad])
    assert snap.jobs == [] and len(snap.skipped) == 1
    assert snap.skipped.unusable_times == {}
