"""The queued row (row_for, made by the app) and the stored row (stored_row, made by whoever writes
it): the time and the frames are finished off by the writer, and the result must be exactly what the
app made itself before (the time's ISO text and epoch seconds, the frames' JSON text). Pure, but for
a real SQLite store in a temporary folder and a real writer process."""
import datetime as dt
import json
import sqlite3

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dashboard.core.events import Event, parse_frames
from dashboard.storage.store import COLUMNS, EventStore, row_for, stored_row

pytestmark = pytest.mark.unit

UTC = dt.timezone.utc
FIXTURE = [b"org.lavasoftware.testjob", b"j-1", b"2026-11-27T17:38:37.638687", b"lavaserver",
           b'{"job": 7, "state": "Running", "health": "Unknown", "device": "qemu-1", '
           b'"worker": "w-1", "submitter": "admin", "device_type": "qemu"}']


def column(row, name):
    return row[COLUMNS.index(name) - 1]


@settings(max_examples=400, deadline=None)
@example(when=dt.datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC))  # no microseconds: none written
@example(when=dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))  # before the epoch
@example(when=dt.datetime(1, 1, 2, 0, 0, 0, 1, tzinfo=UTC))
@example(when=dt.datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC))
@given(when=st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30),
                         timezones=st.just(UTC)))
def test_the_time_is_exactly_the_events_from_year_1_to_9999(when):
    """Whole microseconds, then divided: the same float as datetime.timestamp() and the same text
    as isoformat(), at any date (a float of epoch seconds alone loses microseconds past 2242), with
    the minute's part of the text made once a minute."""
    event = Event(kind="device", topic="org.lavasoftware.device", uuid="u", time=when,
                  username="", data={})
    row = stored_row(row_for(event, [b"x"] * 5, {}, 0.0))
    assert column(row, "time") == when.isoformat()
    assert column(row, "ts") == when.timestamp()
    assert type(column(row, "ts")) is float


@settings(max_examples=200, deadline=None)
@given(frames=st.lists(st.binary(max_size=40) | st.text(max_size=40), min_size=5, max_size=5))
def test_the_frames_text_is_each_frames_utf8_with_the_rest_replaced(frames):
    """bytes (what ZMQ hands over) and str (a WebSocket's) frames alike, not UTF-8 replaced."""
    event = parse_frames(FIXTURE)
    row = stored_row(row_for(event, frames, {}, 0.0))
    want = [f.decode("utf-8", "replace") if isinstance(f, bytes) else f for f in frames]
    assert json.loads(column(row, "frames")) == want


def test_a_queued_row_is_the_old_stored_row_but_for_time_and_frames():
    """What the app queues differs from the stored row only where the writer finishes it off."""
    event = parse_frames(FIXTURE)
    queued = row_for(event, FIXTURE, {}, 12.5)
    stored = stored_row(queued)
    assert len(queued) == len(stored) == len(COLUMNS) - 1
    assert column(queued, "time") == (event.time - dt.datetime(1970, 1, 1, tzinfo=UTC)) \
        // dt.timedelta(microseconds=1)
    assert column(queued, "frames") == tuple(FIXTURE)
    assert column(stored, "time") == "2026-11-27T17:38:37.638687+00:00"
    assert json.loads(column(stored, "frames")) == [f.decode() for f in FIXTURE]
    others = [c for c in COLUMNS[1:] if c not in ("time", "frames")]
    assert [column(queued, c) for c in others] == [column(stored, c) for c in others]
    assert stored_row(stored) is stored  # a row in its stored form stays as it is
    # Other bytes-like frames (a zmq.Frame's buffer, a memoryview) are read as bytes.
    odd = stored_row(row_for(event, [memoryview(f) for f in FIXTURE], {}, 12.5))
    assert odd == stored


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_a_row_whose_frames_cannot_be_made_text_is_refused_alone(tmp_path, writer):
    """A frame that is no bytes and no text cannot be stored: that row is refused and counted, with
    the database's reason; the rows around it are stored, in order, both by the app's own writer
    and by the writer process (which gets the row pickled: marshal cannot write it)."""
    event = parse_frames(FIXTURE)
    rows = [row_for(Event(**{**event.__dict__, "uuid": f"u-{i}"}), FIXTURE, {}, 1.0)
            for i in range(5)]
    rows[2] = (*rows[2][:-1], (*FIXTURE[:4], 3.5))  # a number for a frame
    store = EventStore(str(tmp_path / "events.sqlite3"))
    if writer == "process":
        store.write_in_process()
    try:
        for row in rows:
            store.enqueue(row)
        assert store.flush() == 4
        assert store.stats()["dropped"] == 1 and "binding" in store.last_error
    finally:
        store.close()
    conn = sqlite3.connect(store.path)
    got = conn.execute("SELECT uuid, time, frames FROM events ORDER BY id").fetchall()
    conn.close()
    assert [r[0] for r in got] == ["u-0", "u-1", "u-3", "u-4"]
    assert {r[1] for r in got} == {"2026-11-27T17:38:37.638687+00:00"}
    assert {r[2] for r in got} == {json.dumps([f.decode() for f in FIXTURE], separators=(",", ":"))}
