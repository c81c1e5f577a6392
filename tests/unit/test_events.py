"""Parsing: every captured message parses; each kind of bad input gets its own reason."""
import dataclasses
import datetime as dt
import json

import pytest

from dashboard.core.events import MAX_JOB_ID, Event, ParseError, job_id, parse_frames, parse_time
from dashboard.storage.store import row_for
from tests.fixtures import captured_frames


def frames(topic="org.lavasoftware.device", uuid="u-1", when="2026-11-27T17:38:37.638687",
           user="lavaserver", data=None):
    data = {"device": "qemu-01", "device_type": "qemu", "state": "Idle", "health": "Good",
            "worker": "w1"} if data is None else data
    payload = data if isinstance(data, (str, bytes)) else json.dumps(data)
    return [x if isinstance(x, bytes) else x.encode() for x in (topic, uuid, when, user, payload)]


@pytest.mark.parametrize("value, expected", [
    (7, 7), (0, 0), (MAX_JOB_ID, MAX_JOB_ID),
    (True, None), (False, None),  # bool is an int subclass, but not a job id
    (-1, None), (MAX_JOB_ID + 1, None),
    ("7", None), (7.0, None), (None, None), ([7], None),
])
def test_job_id_accepts_only_an_int_in_range(value, expected):
    """The one check of a job id (events, stored rows, the API, alerts)."""
    got = job_id(value)
    assert got == expected and type(got) is type(expected)


def test_every_captured_message_parses_to_its_kind():
    parsed = [parse_frames(f) for f in captured_frames()]
    assert len(parsed) == 127
    kinds = {e.kind for e in parsed}
    assert kinds == {"device", "testjob", "worker", "event"}
    assert all(e.time.tzinfo is not None for e in parsed)
    assert len({e.uuid for e in parsed}) == 127


@pytest.mark.parametrize("text, expected", [
    ("2026-11-27T17:38:37.638687", dt.datetime(2026, 11, 27, 17, 38, 37, 638687, dt.timezone.utc)),
    ("2026-11-27T17:38:37.638687+00:00", dt.datetime(2026, 11, 27, 17, 38, 37, 638687, dt.timezone.utc)),
    ("2026-11-27T18:38:37+01:00", dt.datetime(2026, 11, 27, 17, 38, 37, tzinfo=dt.timezone.utc)),
    ("2026-11-27T17:38:37Z", dt.datetime(2026, 11, 27, 17, 38, 37, tzinfo=dt.timezone.utc)),
])
def test_both_datetime_forms_mean_utc(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("topic, data, state, health", [
    ("org.lavasoftware.device", {"device": "d", "status": "Offline"}, "Idle", "Maintenance"),
    ("org.lavasoftware.device", {"device": "d", "status": "Running", "job": 4}, "Running", None),
    ("org.lavasoftware.testjob", {"job": 3, "status": "Complete"}, "Finished", "Complete"),
    ("org.lavasoftware.testjob", {"job": 3, "status": "Submitted"}, "Submitted", "Unknown"),
])
def test_pre_2018_status_form_is_translated(topic, data, state, health):
    event = parse_frames(frames(topic=topic, data=data))
    assert event.data["state"] == state
    assert event.data.get("health") == health
    assert "status" not in event.data


def test_unknown_suffix_is_kept_as_a_generic_event():
    event = parse_frames(frames(topic="org.lavasoftware.something", data={"x": [1, 2]}))
    assert (event.kind, event.data, event.known) == ("something", {"x": [1, 2]}, False)


@pytest.mark.parametrize("bad, reason", [
    (frames()[:4], "frame_count"),
    (frames() + [b"extra"], "frame_count"),
    ([], "frame_count"),
    (frames(data=b'{"device": "\xff"}'), "not_utf8"),
    (frames(topic=b"\xc3\x28"), "not_utf8"),
    (frames(data="{not json"), "not_json"),
    (frames(data="[1, 2]"), "not_object"),
    (frames(data='"text"'), "not_object"),
    (frames(when="yesterday"), "bad_datetime"),
    (frames(uuid=""), "missing_field"),
    (frames(data={"state": "Idle", "health": "Good"}), "missing_field"),
    (frames(data={"device": "d"}), "missing_field"),
    (frames(data={"device": 5, "state": "Idle"}), "bad_type"),
    (frames(topic="x.testjob", data={"job": "12", "state": "Running"}), "bad_type"),
    (frames(topic="x.testjob", data={"job": True, "state": "Running"}), "bad_type"),
    (frames(topic="x.testjob", data={"job": 1, "state": "Running", "priority": "high"}), "bad_type"),
    (frames(topic="x.testjob", data={"job": 1, "state": "Done"}), "bad_value"),
    (frames(topic="x.testjob", data={"job": 1, "state": "Running", "start_time": "soon"}), "bad_datetime"),
    (frames(topic="x.worker", data={"hostname": "w", "state": "Sleeping"}), "bad_value"),
    (frames(topic="x.event", data={"message": "m"}), "missing_field"),
    (frames(topic="x.device", data={"device": "d", "status": "Exploded"}), "bad_value"),
    (frames(topic="x.other", data='{"x": NaN}'), "not_json"),
    (frames(topic="x.other", data='{"x": -Infinity}'), "not_json"),
    (frames(topic="x.testjob", data={"job": 2**70, "state": "Running"}), "bad_value"),
    (frames(topic="x.event", data={"job": -3, "message": "m"}), "bad_value"),
    # (An audit: beyond 100 digits, python-socketio's clients refused the whole packet holding it.)
    (frames(topic="x.testjob", data={"job": 1, "state": "Running", "priority": 10**200}), "bad_value"),
    (frames(topic="x.testjob", data={"job": 1, "state": "Running", "priority": 2**63}), "bad_value"),
    (frames(topic="x.device", data={"device": "d", "job": -2**64}), "bad_value"),
    (frames(topic="x.other", data='{"deep": [{"n": ' + "9" * 5000 + '}]}'), "bad_value"),
])
def test_bad_input_is_rejected_with_its_reason(bad, reason):
    with pytest.raises(ParseError) as info:
        parse_frames(bad)
    assert info.value.reason == reason


@pytest.mark.parametrize("data, said", [
    ({"device": "d", "state": "Exploded"}, "device.state 'Exploded' is not one of"),
    ({"device": "d", "state": "x" * 30 + "SECRET-TOKEN-abcdef"}, "device.state (a text of 49 characters)"),
    ({"device": "d", "status": "y" * 35 + "SECRET-TOKEN-abcdef"}, "device.status (a text of 54 characters)"),
    ({"device": "d", "status": {"SECRET-TOKEN-abcdef": 1}}, "device.status (a table of 1 items)"),
    ({"device": "d", "status": [1, 2]}, "device.status (a list of 2 items)"),
    ({"device": "d", "status": 7}, "device.status 7 is not known"),
])
def test_a_rejected_value_is_quoted_whole_or_only_its_size(data, said):
    """The log's scrubber finds a token only whole: a value cut short could keep part of one."""
    with pytest.raises(ParseError) as info:
        parse_frames(frames(data=data))
    assert said in str(info.value) and "SECRET" not in str(info.value), str(info.value)


def test_a_rejected_datetime_is_quoted_whole_or_only_its_size():
    with pytest.raises(ParseError) as info:
        parse_frames(frames(when="2026-11-27 " + "z" * 30 + "SECRET-TOKEN-abcdef"))
    assert str(info.value) == "bad_datetime: not an ISO 8601 datetime: (a text of 60 characters)"


def test_oversized_message_is_rejected_before_decoding():
    big = frames(data={"device": "d", "state": "Idle", "description": "x" * 5000})
    with pytest.raises(ParseError) as info:
        parse_frames(big, max_size=1000)
    assert info.value.reason == "oversized"
    assert parse_frames(big, max_size=100000).kind == "device"


def test_a_jobs_times_are_cached_short_and_a_padded_time_is_not_kept():
    from dashboard.core import events

    def device(submit_time, uuid):
        data = {"device": "d1", "state": "Idle", "health": "Good", "submit_time": submit_time}
        return [b"org.lavasoftware.device", uuid.encode(), b"2026-12-01T10:00:00", b"lavaserver",
                json.dumps(data).encode()]

    events._one_spelling.cache_clear()
    for i in range(3):  # the same time in three events: normalised once
        assert parse_frames(device("2026-12-01T09:00:00Z", f"u{i}")).data["submit_time"] == \
            "2026-12-01T09:00:00+00:00"
    assert events._one_spelling.cache_info().hits == 2
    # A device message's times are not length-checked: a valid time padded with 500,000 spaces
    # parses (as LAVA's parser would), and is normalised, but never becomes a cache key.
    padded = "2026-12-01T09:00:00Z" + " " * 500_000
    assert parse_frames(device(padded, "u9"), max_size=1 << 20).data["submit_time"] == \
        "2026-12-01T09:00:00+00:00"
    assert events._one_spelling.cache_info().currsize == 1


@pytest.mark.parametrize("as_type", [bytes, str, bytearray, memoryview])
def test_the_stored_row_is_the_same_from_the_events_own_text(as_type):
    """parse_frames keeps the frames' text and the time's ISO text on the event, for the model and
    the stored row (decoded once): each row is what the frames themselves give."""
    for raw in captured_frames():
        given = [bytes(f).decode() if as_type is str else as_type(bytes(f)) for f in raw]
        event = parse_frames(given)
        assert event.text == tuple(bytes(f).decode() for f in raw)
        assert event.iso == event.time.isoformat() and event.iso is event.iso  # made once
        plain = Event(*(getattr(event, f.name) for f in dataclasses.fields(Event) if f.name != "text"))
        assert plain.text == () and plain == event  # the text is not part of what the event is
        assert row_for(event, given, {}, 1.0) == row_for(plain, given, {}, 1.0)


@pytest.mark.parametrize("field, value", [
    ("device", "evil\n2026-12-04 03:00:00,000 WARNING dashboard: FORGED"),
    ("device", "ctl\x1b[31m"), ("worker", "w\x00"), ("device_type", "qemu\u202e"),
    ("device", "zero\u200bwidth")])
def test_a_name_with_a_control_or_format_character_is_refused(field, value):
    """Found by an audit: such a device entered the model, and an alert's log line about it wrote
    a forged line of its own into the log. Free text may hold them; names may not."""
    data = {"device": "qemu-01", "device_type": "qemu", "state": "Idle", "health": "Good",
            "worker": "w1", field: value}
    with pytest.raises(ParseError) as err:
        parse_frames(frames(data=data))
    assert err.value.reason == "bad_value" and f"device.{field} holds a control" in str(err.value)
    assert value not in str(err.value)
    for frame in ("topic", "uuid", "user"):
        with pytest.raises(ParseError, match="topic, uuid or username frame holds"):
            parse_frames(frames(**{frame: "org.lavasoftware.device\n" if frame == "topic"
                                   else "x\r"}))
    # Free text keeps them; names of other scripts are printable.
    job = {"job": 7, "state": "Running", "description": "line one\nline two\t\u202e",
           "submitter": "žofie", "device": "qemu-ü"}
    assert parse_frames(frames("org.lavasoftware.testjob", data=job)).data["description"] \
        == job["description"]


def test_a_time_before_2010_or_more_than_a_day_ahead_is_refused():
    """Found by an audit: one event of year 9999 (or 1970, a clock never set) made the store's
    writer count a board's time hour by hour for millions of hours, and raised a false
    suspected loss of 56 years behind."""
    now = dt.datetime.now(dt.timezone.utc)
    for when in ("9999-01-01T00:00:00", "1970-01-01T00:00:00", "2009-12-31T23:59:59+00:00",
                 (now + dt.timedelta(days=1, minutes=5)).isoformat()):
        with pytest.raises(ParseError) as err:
            parse_frames(frames(when=when))
        assert err.value.reason == "bad_datetime" and "before 2010 or more than 1 day ahead" \
            in str(err.value)
    for when in ("2010-01-01T00:00:00", (now + dt.timedelta(hours=23)).isoformat(),
                 "2026-11-27T17:38:37.638687"):
        assert parse_frames(frames(when=when)).time.year >= 2010


@pytest.mark.parametrize("kind, data", [
    ("device", {"device": "", "device_type": "qemu", "state": "Idle", "health": "Good"}),
    ("device", {"device": "qemu-01", "device_type": "", "state": "Idle", "health": "Good"}),
    ("device", {"device": "qemu-01", "device_type": "qemu", "state": "Idle", "health": "Good", "worker": ""}),
    ("worker", {"hostname": "", "state": "Online", "health": "Active"}),
    ("testjob", {"job": 5, "state": "Running", "health": "Unknown", "device": "", "device_type": "qemu"}),
])
def test_an_empty_name_is_refused_with_why(kind, data):
    """An empty hostname or type was kept in the model, where no URL, filter or lookup could reach
    it (an audit)."""
    from dashboard.core.events import ParseError
    frames = [f"org.lavasoftware.{kind}".encode(), b"u-empty", b"2026-12-04T10:00:00+00:00",
              b"lavaserver", json.dumps(data).encode()]
    with pytest.raises(ParseError) as info:
        parse_frames(frames)
    assert info.value.reason == "bad_value" and "is empty" in str(info.value)
