"""The cluster's bounds, pure (dashboard/core/clusterwire.py): a batch split into entries of bounded
size, the change stream trimmed to a number of bytes, forwarded acknowledgements read for shape."""
import json

import pytest

from dashboard.core.clusterwire import (ByteWindow, Malformed, ack_request, parse_ack_reply,
                                        parse_ack_request, split_encoded)


def as_entries(encoded, runs):
    return ["[" + ",".join(encoded[a:b]) + "]" for a, b in runs]


@pytest.mark.parametrize("sizes, limit, runs", [
    ([], 100, []),
    ([10, 10, 10], 100, [(0, 3)]),
    ([10, 10, 10], 23, [(0, 2), (2, 3)]),  # [a,b] is 23 bytes: exactly the limit
    ([10, 10, 10], 22, [(0, 1), (1, 2), (2, 3)]),
    ([50, 500, 50], 100, [(0, 1), (1, 2), (2, 3)]),  # a change larger than the limit: alone
    ([500], 100, [(0, 1)]),
])
def test_a_batch_is_split_into_entries_of_at_most_the_limit(sizes, limit, runs):
    encoded = [json.dumps("x" * (n - 2)) for n in sizes]  # a JSON string of n bytes
    assert split_encoded(encoded, limit) == runs
    for (a, b), entry in zip(runs, as_entries(encoded, runs)):
        assert len(entry) <= limit or b - a == 1
        assert json.loads(entry) == [json.loads(e) for e in encoded[a:b]]


def test_every_change_lands_in_exactly_one_entry_in_order():
    encoded = [json.dumps({"seq": i, "pad": "p" * (i * 37 % 300)}) for i in range(2000)]
    runs = split_encoded(encoded, 4096)
    assert runs[0][0] == 0 and runs[-1][1] == len(encoded)
    assert all(b1 == a2 for (_, b1), (a2, _) in zip(runs, runs[1:]))
    assert all(len(e) <= 4096 for e in as_entries(encoded, runs))


def test_the_window_says_where_to_trim_once_the_stream_holds_too_many_bytes():
    window = ByteWindow(max_bytes=1000, max_entries=100)
    assert [window.add(f"{i}-0", 300) for i in range(1, 4)] == [None, None, None]  # 900 bytes
    assert window.add("4-0", 300) == "2-0"  # 1200: the oldest goes
    assert window.total == 900
    assert window.add("5-0", 5000) == "5-0"  # larger than the bound alone: only it is kept
    assert window.total == 5000 and len(window.entries) == 1
    assert window.add("6-0", 10) == "6-0"


def test_the_window_forgets_what_the_streams_maxlen_removed():
    window = ByteWindow(max_bytes=10**9, max_entries=3)
    for i in range(1, 11):
        assert window.add(f"{i}-0", 100) is None
    assert [e for e, _ in window.entries] == ["8-0", "9-0", "10-0"] and window.total == 300


def test_under_any_sequence_of_sizes_the_stream_stays_within_the_bound_plus_its_newest_entry():
    window = ByteWindow(max_bytes=10_000, max_entries=50)
    for i in range(5000):
        size = (i * 7919) % 3000 + 1
        window.add(f"{i}-0", size)
        assert window.total <= 10_000 + size
        assert window.total == sum(s for _, s in window.entries) and len(window.entries) <= 50


def fields(**values):
    return {k.encode(): v.encode() for k, v in values.items()}


def test_a_forwarded_acknowledgement_is_read_back():
    sent = ack_request("ab12", "east", "17", "bob")
    assert parse_ack_request(fields(**sent)) == ("ab12", "east", "17", "bob")
    assert parse_ack_request(fields(**ack_request("ab12", "", "17", "bob")))[1] == ""


@pytest.mark.parametrize("bad", [
    {},
    {"request": "ab12", "lab": "", "alert": "17"},  # no user
    {"request": "a b", "lab": "", "alert": "17", "user": "bob"},  # not a request id
    {"request": "ab12", "lab": "", "alert": "", "user": "bob"},
    {"request": "ab12", "lab": "", "alert": "17", "user": ""},
    {"request": "ab12", "lab": "", "alert": "1" * 257, "user": "bob"},
    {"request": "a" * 65, "lab": "", "alert": "17", "user": "bob"},
])
def test_a_forwarded_acknowledgement_of_another_shape_is_malformed(bad):
    with pytest.raises(Malformed):
        parse_ack_request(fields(**bad))


def test_a_forwarded_acknowledgement_that_is_not_utf8_is_malformed():
    with pytest.raises(Malformed):
        parse_ack_request({b"request": b"\xff", b"lab": b"", b"alert": b"1", b"user": b"u"})


@pytest.mark.parametrize("raw, ok", [
    (b'{"ok":true,"alert":{"id":1}}', True),
    (b'{"ok":false,"code":"not_found","error":"no firing alert has this id"}', True),
    (b'{"ok":true}', False),
    (b'{"ok":false,"code":"x"}', False),
    (b'[1]', False),
    (b'\xff', False),
])
def test_the_ingest_processs_answer_is_checked_for_shape(raw, ok):
    if ok:
        assert parse_ack_reply(raw) == json.loads(raw)
    else:
        with pytest.raises(Malformed):
            parse_ack_reply(raw)
