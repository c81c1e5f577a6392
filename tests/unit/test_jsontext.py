"""core/jsontext.py (orjson where it agrees with json, json where it could not) and the Socket.IO
packets written with it (live/wire.py): the same values as the standard library's, whatever the
input."""
import json

import pytest
from socketio import packet as sio_packet

from dashboard.core import jsontext
from dashboard.core.events import ParseError, parse_frames
from dashboard.live.wire import JsonPacket

pytestmark = pytest.mark.unit

TEXTS = [
    '{"device":"qemu-01","state":"Idle","health":"Good"}',
    '{"a":[1,2.5,-0.0,1e16,true,false,null],"b":{"c":"é ☃ \\u00e9 \\u0000"}}',
    '{"a":1,"a":2}',  # the last wins, as in json
    '{"job":123456789012345678901234567890}',  # beyond 64 bits: an int, not orjson's float
    '{"job":-9223372036854775809}',
    '{"s":"1234567890123456789"}',  # 19 digits inside a string: json reads it, the same value
    '{"x":1e400}',  # json reads inf; orjson refuses: json decides
    '{"s":"\\u0661\\u0662\\u0663\\u0664\\u0665\\u0666\\u0667\\u0668\\u0669\\u0660\\u0661\\u0662'
    '\\u0663\\u0664\\u0665\\u0666\\u0667\\u0668\\u0669"}',  # 19 Arabic-Indic digits, JSON-escaped
    '{"s":"١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩"}',  # the same, unescaped: no JSON number has such digits
    # 64 bits' edges, at the top level where the types are compared: the last is beyond them (orjson
    # alone would read it as a float)
    '{"a":9223372036854775807,"b":-9223372036854775808,"c":18446744073709551616}',
    '"text"', '[]', '12',
]


@pytest.mark.parametrize("as_bytes", [False, True])  # bytes: what a Redis message queue hands over
@pytest.mark.parametrize("text", TEXTS)
def test_loads_reads_what_json_reads(text, as_bytes):
    if as_bytes:
        text = text.encode()
    got, want = jsontext.loads(text), json.loads(text)
    assert got == want and type(got) is type(want)
    if isinstance(want, dict):
        assert [type(v) for v in got.values()] == [type(v) for v in want.values()]


@pytest.mark.parametrize("text", ['{"a":NaN}', '{"a":Infinity}', '{"a":', '{"a":"\\ud800"}x',
                                  "", "{'a':1}"])
def test_loads_refuses_what_json_refuses_with_jsons_reason(text):
    with pytest.raises(ValueError) as got:
        jsontext.loads(text, parse_constant=_refuse)
    with pytest.raises(ValueError) as want:
        json.loads(text, parse_constant=_refuse)
    assert str(got.value) == str(want.value)


def _refuse(name):
    raise ValueError(f"{name} is not valid JSON")


@pytest.mark.parametrize("text, long", [
    ("1" * 18, False), ("1" * 19, True), ("x" + "0" * 19 + "x", True),
    ("123456789-123456789", False),  # two runs of nine: neither is long
    ("1" * 18 + "\ud800" + "1", False),  # a raw half pair (a str may hold one) between digits
    ("\ud800" + "9" * 19, True),
    ("١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩", False),  # Arabic-Indic digits are no JSON number's
    ("é" * 10 + "9" * 19, True),  # after characters of two UTF-8 bytes each
    ('{"a":' + "7" * 25 + "}", True), ("", False),
])
@pytest.mark.parametrize("kind", [str, bytes, bytearray, memoryview])
def test_a_long_number_is_found_in_every_kind_of_text(text, long, kind):
    if kind is not str:
        text = kind(text.encode("utf-8", "surrogatepass"))
    assert jsontext.has_long_number(text) is long


def test_a_text_with_a_raw_half_pair_and_a_long_number_is_read_as_json_reads_it():
    text = '{"s":"\ud800","n":18446744073709551616}'  # a str may hold half a pair: orjson refuses
    got = jsontext.loads(text)
    assert got == json.loads(text) and type(got["n"]) is int


def test_a_lone_surrogate_is_still_read_by_json_and_refused_by_the_parser():
    assert jsontext.loads('{"a":"\\ud800"}') == {"a": "\ud800"}
    frames = [b"org.lavasoftware.event", b"u1", b"2026-11-30T10:00:00+00:00", b"lavaserver",
              b'{"job":1,"message":"\\ud800"}']
    with pytest.raises(ParseError) as err:
        parse_frames(frames)
    assert err.value.reason == "not_utf8"


def test_a_job_id_beyond_64_bits_is_still_a_bad_value_not_a_bad_type():
    frames = [b"org.lavasoftware.testjob", b"u1", b"2026-11-30T10:00:00+00:00", b"lavaserver",
              b'{"job":123456789012345678901234567890,"state":"Running"}']
    with pytest.raises(ParseError) as err:
        parse_frames(frames)
    assert err.value.reason == "bad_value"


VALUES = [
    {"seq": 1, "kind": "device", "id": "qemu-01", "data": {"hostname": "qemu-01", "job": None}},
    [1, 2.5, -0.0, 1e16, 0.1, True, None, "é ☃ \0 \n \"quoted\""],
    {"nested": [{"a": [{"b": {}}]}], "t": (1, 2)},
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_writes_the_same_value_compactly(value):
    text = jsontext.dumps(value)
    assert isinstance(text, str) and json.loads(text) == json.loads(json.dumps(value))
    assert jsontext.dumps(value, separators=(",", ":")) == text
    assert ", " not in text.replace('", "', "")  # compact


@pytest.mark.parametrize("value", [{1: "int key"}, {"big": 2**70}, {"s": "\ud800"}])
def test_dumps_leaves_to_json_what_orjson_cannot_write_exactly(value):
    assert jsontext.compact(value) is None
    assert jsontext.dumps(value) == json.dumps(value, separators=(",", ":"))


def test_dumps_with_other_options_is_jsons():
    value = {"b": 1, "a": "é"}
    assert jsontext.dumps(value, sort_keys=True) == json.dumps(value, sort_keys=True)


@pytest.mark.parametrize("data", [["changes", {"prev": 1, "seq": 2, "changes": VALUES[:1]}],
                                  ["status", {"text": "é ☃"}], None])
@pytest.mark.parametrize("namespace,ident", [(None, None), ("/", None), ("/admin", 7)])
def test_json_packet_encodes_as_python_socketio_does(data, namespace, ident):
    ours = JsonPacket(sio_packet.EVENT, data=data, namespace=namespace, id=ident).encode()
    theirs = sio_packet.Packet(sio_packet.EVENT, data=data, namespace=namespace, id=ident).encode()
    prefix = len(theirs) - (len(json.dumps(data, separators=(",", ":"))) if data is not None else 0)
    assert ours[:prefix] == theirs[:prefix]
    if data is not None:
        assert json.loads(ours[prefix:]) == json.loads(theirs[prefix:])
    decoded = JsonPacket(encoded_packet=ours)
    assert (decoded.packet_type, decoded.data, decoded.id) == (sio_packet.EVENT, data, ident)


def test_json_packet_with_bytes_takes_python_socketios_binary_path():
    pkt = JsonPacket(sio_packet.EVENT, data=["file", {"body": b"\x00\x01"}])
    assert pkt.packet_type == sio_packet.BINARY_EVENT
    encoded = pkt.encode()
    assert isinstance(encoded, list) and encoded[1] == b"\x00\x01"


def test_json_packet_acks_are_written_too():
    ours = JsonPacket(sio_packet.ACK, data=[{"ok": True, "seq": 3}], id=12).encode()
    assert ours == sio_packet.Packet(sio_packet.ACK, data=[{"ok": True, "seq": 3}], id=12).encode()


def test_json_packet_leaves_other_packets_to_python_socketio_and_writes_them_once():
    for kind, data in ((sio_packet.CONNECT, {"sid": "abc"}), (sio_packet.CONNECT_ERROR, {"message": "no"})):
        pkt = JsonPacket(kind, data=data, namespace="/admin")
        assert pkt.text is None  # not written here too, only to be written again by encode()
        assert pkt.encode() == sio_packet.Packet(kind, data=data, namespace="/admin").encode()


def test_received_packets_keep_engineios_guard_on_long_integers():
    """python-socketio reads what clients (and a cluster's Redis queue) send with JsonPacket.json:
    an integer of more than 100 digits is refused there, as engineio's own json does."""
    assert JsonPacket.json.loads('{"seq":12}') == {"seq": 12}
    assert JsonPacket.json.loads(b'{"seq":12345678901234567890}') == {"seq": 12345678901234567890}
    with pytest.raises(ValueError):
        JsonPacket.json.loads('{"seq":1' + "0" * 150 + "}")
    assert JsonPacket.json.dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'


def test_an_option_orjson_would_ignore_goes_to_json():
    from collections import OrderedDict

    from dashboard.core import jsontext
    assert type(jsontext.loads('{"a": 1}', object_pairs_hook=OrderedDict)) is OrderedDict
    assert jsontext.loads('{"a": 1.5}', parse_float=str) == {"a": "1.5"}



@pytest.mark.parametrize("text", ['{"x": 1e999}', '{"x": -1E+400}', '[1e309]',
                                  '{"id": 12345678901234567890, "x": 1e999}'])  # (json's path)
def test_a_number_beyond_a_float_is_refused_by_both_paths(text):
    """Found by an audit: json read 1e999 as Infinity, which the model kept and /api/v1/state
    wrote as no browser parses. FINITE refuses it, whichever library reads the text."""
    with pytest.raises(ValueError, match="too large a number"):
        jsontext.loads(text, **jsontext.FINITE)
    with pytest.raises(ValueError, match="too large a number"):
        json.loads(text, **jsontext.FINITE)
    assert jsontext.loads('{"x": 1.5e-400, "y": 2.5}', **jsontext.FINITE) == {"x": 0.0, "y": 2.5}


def test_an_event_with_a_number_beyond_a_float_is_refused_as_not_json():
    frames = [b"org.lavasoftware.lab.event", b"u-1", b"2026-11-27T10:00:00", b"",
              b'{"job": 7, "x": 1e999, "message": "hello"}']
    with pytest.raises(ParseError) as err:
        parse_frames(frames)
    assert err.value.reason == "not_json" and "too large a number" in str(err.value)
    frames[4] = b'{"job": 7, "x": 1e300, "message": "hello"}'
    assert parse_frames(frames).data["x"] == 1e300
