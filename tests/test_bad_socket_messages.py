"""Malformed Socket.IO messages against the real app (a subprocess, under eventlet and gevent), over
real sockets: a raw WebSocket that sends any text at all, and the real python-socketio client.

Each bad message (an event with the wrong number of arguments, text that is not JSON or nests too
deep, a packet that is not the protocol's, an event nobody handles) is refused without a traceback:
counted by kind in /healthz and /metrics, logged at most once per kind every 5 s, answered in the
one error shape when it asked for an acknowledgement; and the same connection then subscribes fine."""
import json
import re
import time
import urllib.request

import pytest
import socketio
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import wait_until
from tests.hostile import RawSocketIO, good_events_arrive, leaks
from tests.test_hardening_live import async_mode, lab  # noqa: F401 (fixtures: the app on eventlet and gevent)

DEEP = '["subscribe",' + "[" * 3000  # orjson refuses it; Python's json raised RecursionError
# What each bad message (sent with an acknowledgement id) is counted as, and a part of its answer.
BAD = [
    ('["subscribe",1,2,3]', "bad_arguments", "wrong arguments for 'subscribe' (3 given)"),
    ('["log_follow",1,2]', "bad_arguments", "wrong arguments for 'log_follow' (2 given)"),
    ('["log_unfollow",{"job":1},2]', "bad_arguments", "wrong arguments for 'log_unfollow'"),
    (DEEP, "too_deep", "nested deeper than 32 levels"),
    ('["subscribe",nope]', "not_json", "not JSON"),
    ('["subscribe",{"since":' + "1" * 200 + "}]", "not_json", "not JSON"),
    ('{"subscribe":{}}', "malformed", "an event is a list"),
    ("[]", "malformed", "an event is a list"),
    ('[7,{}]', "malformed", "an event is a list"),
    ('["disconnect"]', "malformed", "'disconnect' is not an event a client sends"),
    ('["nope",{}]', "unknown_event", "unknown event 'nope'; known: log_follow, log_unfollow, "
                                     "subscribe"),
]
# Refused and counted, but not answered: no acknowledgement was asked for, or none can be read.
UNANSWERED = ['42["subscribe",1,2,3]', "42" + DEEP, '42["subscribe",', "4" + "[" * 3000, "4[1]",
              "49", '451-["subscribe",{"_placeholder":true,"num":0}]']
REFUSED_LINE = "refused a Socket.IO message"
HELD_BACK = re.compile(r"\(\d+ more like this since the last report\)")


def acks_in(data):
    """The Socket.IO acknowledgements a raw client received, as {ack id: body}."""
    return {int(i): json.loads(body) for i, body in re.findall(rb'43(\d+)\[(\{.*?\})\]', data)}


def refusals(app):
    """/healthz's counts of refused messages, by kind."""
    return app.json("/healthz")["relay"]["bad_messages_by_kind"]


def metric_refusals(app):
    """/metrics's counts of refused messages, by kind."""
    with urllib.request.urlopen(app.url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "dashboard_relay_bad_messages":
            return {s.labels["kind"]: s.value for s in family.samples if s.name.endswith("_total")}
    raise AssertionError("no dashboard_relay_bad_messages in /metrics")


def log_since(app, offset):
    return app.log_text()[offset:]


def test_bad_messages_are_refused_counted_answered_and_the_connection_goes_on(lab):
    publisher, app, view = lab
    offset = len(app.log_text())
    before = refusals(app)
    raw = RawSocketIO(app.port)
    raw.connect_namespace()
    for i, (data, _, _) in enumerate(BAD):
        raw.send(f"42{i}{data}")
    for message in UNANSWERED:
        raw.send(message)
    wait_until(lambda: raw._read_some() and len(acks_in(raw.received)) == len(BAD), timeout=20,
               what="an answer to each bad message that asked for one")
    # The same connection, after all that: a good subscribe gets its answer and its snapshot.
    raw.send('4299["subscribe",{"filter":{"kinds":["device"]}}]')
    wait_until(lambda: raw._read_some() and 99 in acks_in(raw.received)
               and b'42["snapshot",' in raw.received, timeout=20, what="the good subscribe")
    acks = acks_in(raw.received)
    assert acks[99] == {"ok": True, "seq": acks[99]["seq"], "catchup": False, "now": acks[99]["now"]}
    for i, (data, kind, said) in enumerate(BAD):
        assert acks[i]["ok"] is False and acks[i]["code"] == "bad_request", (data[:40], acks[i])
        assert said in acks[i]["error"], (data[:40], acks[i])
        assert set(acks[i]) == {"ok", "code", "error"}
    assert not raw.closed_by_server()
    assert not leaks(raw.received)
    # Counted by kind, the same in /healthz and /metrics.
    after = refusals(app)
    added = {kind: after[kind] - before[kind] for kind in after}
    expected = {kind: sum(1 for _, k, _ in BAD if k == kind) for kind in after}
    expected["bad_arguments"] += 1  # the UNANSWERED ones: ["subscribe",1,2,3]
    expected["too_deep"] += 1  # 42 + DEEP
    expected["not_json"] += 1  # 42["subscribe",
    expected["malformed"] += 4  # an Engine.IO message that is not Socket.IO, 49, binary
    assert added == expected
    health = app.json("/healthz")["relay"]
    assert health["bad_messages"] == sum(after.values())
    assert health["handler_errors"] == 0
    assert metric_refusals(app) == after
    # The log: a line per kind at most (5 s have not passed), and no traceback.
    text = log_since(app, offset)
    assert "Traceback" not in text and "handler error" not in text, text[:3000]
    lines = [line for line in text.splitlines() if REFUSED_LINE in line]
    assert 1 <= len(lines) <= len(expected), lines
    # The good client saw none of it, and the app goes on.
    good_events_arrive(publisher, view)
    raw.close()


def test_a_stream_of_bad_messages_makes_a_few_log_lines(lab):
    publisher, app, view = lab
    offset = len(app.log_text())
    before = sum(refusals(app).values())
    kinds = ['42%d["subscribe",1,2,3]', '42%d["subscribe",' + "[" * 3000, '42%d["log_follow",x]']
    sent = 0
    started = None
    # Each connection stays under its message budget (100 at once), as a careful attacker would;
    # the attacker just opens more of them.
    for _ in range(4):
        raw = RawSocketIO(app.port)
        raw.connect_namespace()
        started = started or time.monotonic()  # (no refusal, so no line, before this)
        for i in range(75):
            raw.send(kinds[i % 3] % i)
            sent += 1
        wait_until(lambda: raw._read_some() and len(acks_in(raw.received)) == 75, timeout=30,
                   what="every bad message answered")
        answers = acks_in(raw.received).values()
        assert all(not a["ok"] and a["code"] == "bad_request" for a in answers)
        raw.send('4299["subscribe",{"filter":{}}]')
        wait_until(lambda: raw._read_some() and acks_in(raw.received).get(99, {}).get("ok"),
                   timeout=20, what="a good subscribe on the same connection")
        raw.close()
    wait_until(lambda: sum(refusals(app).values()) - before == sent, timeout=20,
               what="every bad message counted")
    # After the 5 s interval, the next line of a kind says how many it held back. The interval
    # runs from the kind's first line, which a loaded server may write a while after `started`:
    # one more bad message is sent every half second until that line comes, not once at a time
    # that may fall inside the interval.
    time.sleep(max(0.0, started + 5.5 - time.monotonic()))
    raw = RawSocketIO(app.port)
    raw.connect_namespace()
    ids = iter(range(90))  # under the connection's message budget

    def held_back_said():
        i = next(ids)
        raw.send('42%d["subscribe",1,2,3]' % i)
        wait_until(lambda: raw._read_some() and i in acks_in(raw.received), what="its answer")
        return any(HELD_BACK.search(line) for line in log_since(app, offset).splitlines()
                   if REFUSED_LINE in line)
    wait_until(held_back_said, timeout=30, interval=0.5,
               what="a line saying how many were held back")
    raw.close()
    text = log_since(app, offset)
    assert "Traceback" not in text and "handler error" not in text, text[:3000]
    lines = [line for line in text.splitlines() if REFUSED_LINE in line]
    took = time.monotonic() - started
    # At most one line per kind (3) every 5 s, for the 300 messages and those sent after them.
    assert 3 < len(lines) <= 3 * (1 + int(took // 5)), lines
    assert any(HELD_BACK.search(line) for line in lines)
    good_events_arrive(publisher, view)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_the_python_socketio_client_gets_an_answer_and_subscribes_after_it(lab, transport):
    _, app, _ = lab
    before = refusals(app)
    client = socketio.Client(reconnection=False)
    client.connect(app.url, transports=[transport], wait_timeout=10)
    try:
        # A tuple: several arguments (python-socketio's way of sending them).
        answer = client.call("subscribe", ({"filter": {}}, 2), timeout=10)
        assert answer == {"ok": False, "code": "bad_request", "error":
                          "wrong arguments for 'subscribe' (2 given): send one object "
                          "(docs/protocol.md)"}
        answer = client.call("log_follow", (1, 2, 3), timeout=10)
        assert answer["code"] == "bad_request" and "'log_follow' (3 given)" in answer["error"]
        answer = client.call("unsubscribe", {"filter": {}}, timeout=10)
        assert answer["code"] == "bad_request" and "unknown event 'unsubscribe'" in answer["error"]
        answer = client.call("subscribe", {"filter": {"kinds": ["worker"]}}, timeout=10)
        assert answer["ok"] is True and answer["catchup"] is False
        # A one-argument log_follow still reaches its handler (no LAVA here: no_lava).
        assert client.call("log_follow", {"job": 1}, timeout=10)["code"] == "no_lava"
    finally:
        client.disconnect()
    after = refusals(app)
    assert after["bad_arguments"] - before["bad_arguments"] == 2
    assert after["unknown_event"] - before["unknown_event"] == 1
