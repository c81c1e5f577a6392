"""Depth and length limits at the edge (core/limits.py), for events and REST answers alike."""
import json
import re
import sys

import pytest

from dashboard.core import records
from dashboard.core.events import ERROR_REASONS, ParseError, parse_frames
from dashboard.core.limits import _STRING, MAX_DEPTH, MAX_NAME_LENGTH, MAX_TEXT_LENGTH, json_depth, too_deep
from tests.fixtures import captured_frames, rest

pytestmark = pytest.mark.unit


def frames(topic="org.lavasoftware.device", data=None, uuid="u-1", user="lavaserver"):
    data = {"device": "qemu-01", "device_type": "qemu", "state": "Idle", "health": "Good",
            "worker": "w1"} if data is None else data
    payload = data if isinstance(data, str) else json.dumps(data)
    return [x.encode() for x in (topic, uuid, "2026-11-27T17:38:37", user, payload)]


def nested(levels):
    """An object nested `levels` deep ({"a": {"a": ... 1}}), as a JSON text."""
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize("text, depth", [
    ("{}", 1), ("[]", 1), ("1", 0), ('"[[[{{{"', 0), ('{"a":[1,{"b":"]]]["}]}', 3),
    ('{"a\\"[[[":[]}', 2), ("[" * 5000, 5000), ('["\\\\", [[]]]', 3),
    (nested(490), 490), ('[[["unterminated', 3), ('[["open [[[[', 2),
])
def test_depth_counts_brackets_outside_strings(text, depth):
    assert json_depth(text) == depth


def test_depth_never_understates_what_the_parser_reaches():
    """For every prefix-valid document, json.loads parses (or fails) without nesting deeper than
    json_depth says: a text the scan accepts cannot make the parser recurse."""
    for text in ['[' * 40 + '"\\\n' + '[' * 2000, '[' * 31 + '"' + '[' * 2000 + '"' + ']' * 31,
                 '{"a":' * 31 + '"x\\"' + '[' * 3000]:
        if not too_deep(text):
            try:
                json.loads(text)
            except ValueError:
                pass  # fine: the point is that it is not RecursionError


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 490, 960, 100_000])
def test_deep_data_is_rejected_before_parsing(levels):
    with pytest.raises(ParseError) as info:
        parse_frames(frames("org.lavasoftware.unknown", nested(levels)), max_size=10 << 20)
    assert info.value.reason == "too_deep"


def test_data_at_the_depth_limit_is_accepted():
    event = parse_frames(frames("org.lavasoftware.unknown", nested(MAX_DEPTH)))
    assert event.kind == "unknown"
    json.dumps({"events": [{"data": event.data}]})  # and encodes again


@pytest.mark.parametrize("field", ["device", "device_type", "worker"])
def test_a_name_over_the_limit_is_too_long(field):
    data = {"device": "d", "state": "Idle", field: "x" * (MAX_NAME_LENGTH + 1)}
    with pytest.raises(ParseError) as info:
        parse_frames(frames(data=data))
    assert info.value.reason == "too_long" and field in str(info.value)
    data[field] = "x" * MAX_NAME_LENGTH
    assert parse_frames(frames(data=data)).data[field] == data[field]


def test_job_description_and_submitter_limits():
    job = {"job": 7, "state": "Submitted", "health": "Unknown", "submitter": "s" * 201}
    with pytest.raises(ParseError, match="submitter"):
        parse_frames(frames("org.lavasoftware.testjob", job))
    job.update(submitter="alice", description="d" * MAX_TEXT_LENGTH)
    assert parse_frames(frames("org.lavasoftware.testjob", job)).data["description"]
    job["description"] += "!"
    with pytest.raises(ParseError, match="description") as info:
        parse_frames(frames("org.lavasoftware.testjob", job))
    assert info.value.reason == "too_long"


@pytest.mark.parametrize("bad", [dict(topic="t." + "x" * 300), dict(uuid="u" * 201),
                                 dict(user="u" * 201)])
def test_frames_that_are_names_are_bounded_too(bad):
    with pytest.raises(ParseError) as info:
        parse_frames(frames(**bad))
    assert info.value.reason == "too_long"


def test_a_long_message_of_an_unknown_topic_is_too_long():
    with pytest.raises(ParseError) as info:
        parse_frames(frames("org.lavasoftware.other", {"message": "m" * (MAX_TEXT_LENGTH + 1)}))
    assert info.value.reason == "too_long"


def test_a_legacy_status_of_the_wrong_type_is_a_reason_not_a_crash():
    with pytest.raises(ParseError) as info:
        parse_frames(frames(data={"device": "d", "status": ["Idle"]}))
    assert info.value.reason == "bad_value"


def test_the_new_reasons_are_declared():
    assert {"too_deep", "too_long", "oversized"} <= set(ERROR_REASONS)


def test_captured_messages_stay_within_the_limits():
    for f in captured_frames():
        parse_frames(f)


# -- REST answers ------------------------------------------------------------------------------
def build(devices=None, workers=None, jobs=None):
    return records.build(devices if devices is not None else rest("devices_all")["results"],
                         workers if workers is not None else rest("workers")["results"],
                         jobs if jobs is not None else rest("jobs")["results"])


def with_change(items, index, **change):
    items = [dict(i) for i in items]
    items[index].update(change)
    return items


@pytest.mark.parametrize("kind, change, reason, fragment", [
    ("devices", {"device_type": {"name": "qemu"}}, "bad_type", "device_type is a dict"),
    ("devices", {"worker_host": ["w"]}, "bad_type", "worker_host is a list"),
    ("devices", {"hostname": "h" * 201}, "too_long", "hostname has 201 characters"),
    ("devices", {"state": None}, "bad_type", "state is a NoneType"),
    ("jobs", {"submitter": ["alice", "bob"]}, "bad_type", "submitter is a list"),
    ("jobs", {"description": "d" * (MAX_TEXT_LENGTH + 1)}, "too_long", "description"),
    ("jobs", {"priority": "high"}, "bad_type", "priority is a str"),
    ("jobs", {"health_check": "yes"}, "bad_type", "health_check is a str"),
    ("jobs", {"requested_device_type": {"name": "qemu"}}, "bad_type", "requested_device_type"),
    ("jobs", {"actual_device": 5}, "bad_type", "actual_device is a int"),
    ("jobs", {"id": -3}, "bad_value", "not a job id"),
    ("jobs", {"submit_time": 12}, "bad_type", "submit_time is a int"),
    ("jobs", {"state": "Sleeping"}, "bad_value", "not one of"),
    ("workers", {"hostname": {"x": 1}}, "bad_type", "hostname is a dict"),
    ("devices", {"hostname": ""}, "bad_value", "hostname is empty"),  # unreachable in the model
    ("workers", {"hostname": ""}, "bad_value", "hostname is empty"),
    ("devices", {"worker_host": ""}, "bad_value", "worker_host is empty"),
    ("jobs", {"actual_device": ""}, "bad_value", "actual_device is empty"),
    ("jobs", {"requested_device_type": ""}, "bad_value", "requested_device_type is empty"),
])
def test_rest_records_of_the_wrong_type_are_left_out_one_by_one_naming_the_field(
        kind, change, reason, fragment):
    name = {"devices": "devices_all", "jobs": "jobs", "workers": "workers"}[kind]
    results = rest(name)["results"]
    snap = build(**{kind: with_change(results, 0, **change)})
    whole = build()
    single = kind[:-1]
    assert snap.skipped.counts == {(single, reason): 1} and len(snap.skipped) == 1
    assert len(getattr(snap, kind)) == len(getattr(whole, kind)) - 1  # only that one
    assert fragment in snap.skipped.samples[0][1]
    for other in ("devices", "workers", "jobs"):
        if other != kind:
            assert getattr(snap, other) == getattr(whole, other)



def test_rest_records_within_the_limits_still_build():
    snap = build()
    assert snap.devices and snap.jobs and snap.workers


@pytest.mark.parametrize("payload, ok", [
    ('{"device": "a\\ud800", "state": "Idle"}', False),
    ('{"device": "a", "state": "Idle", "\\udfff": 1}', False),
    ('{"device": "a\\ud83d\\ude00", "state": "Idle"}', True),  # a whole pair is one character
    ('{"device": "a\\\\ud800", "state": "Idle"}', True),  # an escaped backslash, then text
])
def test_half_a_surrogate_pair_is_not_text(payload, ok):
    """The store (UTF-8) could not keep it: refused at the edge, not one store error per row."""
    if ok:
        event = parse_frames(frames(data=payload))
        event.data["device"].encode("utf-8")
    else:
        with pytest.raises(ParseError) as info:
            parse_frames(frames(data=payload))
        assert info.value.reason == "not_utf8"


def test_a_long_value_is_quoted_whole_or_not_at_all():
    """The token is scrubbed from messages after they are made: a token cut short would stay."""
    token = "tok-" + "9f8e7d6c5b4a" * 5
    devices = with_change(rest("devices_all")["results"], 0, state=f"Idle {token}")
    devices = with_change(devices, 1, state="Sleeping")
    samples = [text for _, text, _ in build(devices=devices).skipped.samples]
    assert "'Sleeping' is not one of" in samples[1]
    assert "tok-9f8e" not in samples[0] and f"a text of {len(token) + 5} characters" in samples[0]


def test_a_rest_name_with_half_a_surrogate_pair_is_left_out():
    devices = with_change(rest("devices_all")["results"], 0, hostname="x\ud800")
    snap = build(devices=devices)
    assert snap.skipped.counts == {("device", "not_utf8"): 1}
    assert "x\ud800" not in {d["hostname"] for d in snap.devices}
    assert snap.skipped.unknown == {"device"}  # a hostname the model cannot hold names nothing


def string_pass_work(text):
    """What json_depth's string pass (`_STRING.sub`) does to `text`, counted instead of timed.

    re.sub steps over characters that cannot start a match and tries `_STRING` at each quote. A
    try that succeeds reads its match once; a try that is abandoned may read on to the end of the
    text (on the hostile texts below it does) and the search resumes one character later: that
    was the quadratic case. Returns (characters read, abandoned tries, the text left)."""
    work, abandoned, pos, kept = 0, 0, 0, []
    while (quote := text.find('"', pos)) >= 0:
        work += quote - pos
        kept.append(text[pos:quote])
        match = _STRING.match(text, quote)
        if match is None:
            abandoned += 1
            work += len(text) - quote
            kept.append('"')
            pos = quote + 1
        else:
            work += match.end() - quote
            pos = match.end()
    work += len(text) - pos
    kept.append(text[pos:])
    return work, abandoned, "".join(kept)


@pytest.mark.parametrize("hostile, depth", [
    (lambda n: "[" * 40 + '"' + '\\"' * n, lambda n: 40),  # an unended string of escaped quotes
    (lambda n: "[" * 40 + '"\\' * n, lambda n: 40),
    (lambda n: '["' * n, lambda n: n // 2),  # '[' then the string '"["', and so on
], ids=["unended-escaped-quotes", "unended-backslashes", "many-short-strings"])
def test_the_depth_scan_stays_linear_on_hostile_strings(hostile, depth):
    """An abandoned match from every quote once made this quadratic: 600 KB took hours. The
    work at 4n is about 4 times the work at n (quadratic would be 16), and no try is abandoned."""
    n = 2_000
    small, large = hostile(n), hostile(4 * n)
    (work_n, abandoned_n, left_n), (work_4n, abandoned_4n, left_4n) = map(
        string_pass_work, (small, large))
    assert abandoned_n == abandoned_4n == 0
    assert work_4n <= 4.2 * work_n, (work_n, work_4n)
    # The model is the real pass: it leaves what _STRING.sub leaves (checked once the count has
    # shown the pass to be linear, so that a quadratic regression fails here instead of hanging).
    assert left_n == _STRING.sub("", small) and left_4n == _STRING.sub("", large)
    assert json_depth(large) == depth(4 * n)


def test_the_work_count_sees_a_quadratic_pass(monkeypatch):
    """The count can fail: with the closing quote required (the old pattern), every quote of an
    unended string starts a try that reads to the end and is abandoned."""
    monkeypatch.setattr(sys.modules[__name__], "_STRING",
                        re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL))
    text = "[" * 40 + '"' + '\\"' * 1_000
    work, abandoned, _ = string_pass_work(text)
    assert abandoned > 500 and work > 100 * len(text)
