"""A time whose zone moves it past year 1 or 9999 in UTC is a bad time (ValueError), not a crash:
an event with one is refused as bad_datetime, a REST record with one is left out alone."""
import json

import pytest

from dashboard.core import records
from dashboard.core.events import ParseError, parse_frames, parse_time
from dashboard.core.state import LabState
from dashboard.live.health import Health
from dashboard.live.ingest import Ingest

pytestmark = pytest.mark.unit

# Valid ISO 8601 in their own zone; out of datetime's range once moved to UTC.
OUT_OF_RANGE = ["0001-01-01T00:00:00+01:00", "0001-01-01T00:59:59+01:00",
                "9999-12-31T23:30:00-01:00", "9999-12-31T23:59:59.999999-00:01"]


def frames(when, **data):
    data = data or {"device": "d1", "state": "Idle", "health": "Good"}
    return [b"org.lavasoftware.device", b"u-" + when.encode(), when.encode(), b"lavaserver",
            json.dumps(data).encode()]


class Relay:
    def push(self, changes):
        pass


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_parse_time_raises_value_error_out_of_range(text):
    with pytest.raises(ValueError):
        parse_time(text)


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_an_event_time_out_of_range_is_bad_datetime(text):
    with pytest.raises(ParseError) as caught:
        parse_frames(frames(text))
    assert caught.value.reason == "bad_datetime"


@pytest.mark.parametrize("field", ["submit_time", "start_time", "end_time"])
def test_a_job_field_time_out_of_range_is_bad_datetime(field):
    job = [b"org.lavasoftware.testjob", b"u-j", b"2026-01-01T00:00:00", b"lavaserver",
           json.dumps({"job": 7, "state": "Running", field: OUT_OF_RANGE[2]}).encode()]
    with pytest.raises(ParseError) as caught:
        parse_frames(job)
    assert caught.value.reason == "bad_datetime"


def test_ingest_counts_it_as_a_reject_not_an_internal_error():
    health = Health()
    source = health.add_source("tcp://127.0.0.1:5500", "zmq")
    ingest = Ingest(LabState(), Relay(), health, 1 << 20, watch_lag=False)
    ingest.handle(source, frames(OUT_OF_RANGE[0]))
    ingest.handle(source, frames("2026-01-01T00:00:00"))  # the next good one still goes in
    assert health.internal_errors == 0
    assert health.rejected["bad_datetime"] == 1
    assert sum(health.rejected.values()) == 1


def test_a_rest_job_with_such_a_time_is_left_out_alone():
    good = {"id": 1, "state": "Running", "health": "Unknown", "submit_time": "2026-01-01T00:00:00Z"}
    edge = dict(good, id=3, submit_time="9999-12-31T22:59:59-01:00")  # just within range: kept
    odd = dict(good, id=2, submit_time=OUT_OF_RANGE[2])
    snap = records.build([], [], [good, odd, edge])
    assert [j["id"] for j in snap.jobs] == [1, 3]
    # (A time that parses, but is years ahead: the job kept, that time unknown; tests/unit/
    # test_job_time_range.py.)
    assert snap.jobs[0]["submit_time"] == "2026-01-01T00:00:00+00:00"
    assert snap.jobs[1]["submit_time"] is None
    assert snap.skipped.counts == {("job", "bad_value"): 1}
    assert snap.skipped.unusable_times == {"submit_time": 1}
    assert "submit_time" in snap.skipped.samples[0][1]
