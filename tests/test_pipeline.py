"""The live pipeline end to end, with real parts: a ZMQ publisher, the app as a subprocess (under
eventlet and under gevent), and real python-socketio clients with different filters."""
import json
import time

import pytest

from dashboard.core.events import parse_frames
from dashboard.core.filters import parse_filter
from dashboard.live.relay import select
from dashboard.core.state import LabState
from tests.fixtures import captured_frames
from tests.helpers import AppProcess, LiveView, TestPublisher, model_view, wait_until
from tests.hostile import running_lab

FILTERS = [
    {},
    {"kinds": ["device"], "device_types": ["qemu"]},
    {"submitters": ["lava-health"]},
    {"health": ["Bad"]},
    {"workers": ["lab-worker-02"], "kinds": ["device", "worker"]},
]


@pytest.fixture(params=["eventlet", "gevent"])
def lab(request):
    """A test publisher and the app subscribed to it."""
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--batch-interval", "0.1", "--max-message-size", "4096",
                     async_mode=request.param)
    clients = []
    try:
        publisher.wait_for_subscriber()
        wait_until(lambda: app.json("/healthz")["sources"][0]["state"] == "connected",
                   what="source connected")
        yield publisher, app, clients
    finally:
        for client in clients:
            client.close()
        app.stop()
        publisher.close()


def expected_changes(frame_list, flt):
    """What a client with this filter must receive for these messages, from a local replay."""
    state = LabState()
    changes = []
    for frames in frame_list:
        try:
            changes += state.apply(parse_frames(frames))
        except ValueError:
            continue
    return select(parse_filter(flt), changes), state


def test_each_filtered_client_gets_exactly_its_changes_in_order(lab):
    publisher, app, clients = lab
    clients += [LiveView(app.url, f).connect() for f in FILTERS]
    frames = captured_frames()
    for f in frames:
        publisher.send(f)
    wait_until(lambda: app.json("/healthz")["counters"]["accepted"] == len(frames), timeout=20,
               what="every event accepted")
    final = app.json("/api/v1/state")
    for client, flt in zip(clients, FILTERS):
        expected, _ = expected_changes(frames, flt)
        wait_until(lambda: len(client.received) >= len(expected), timeout=20,
                   what=f"changes for filter {flt}")
        assert client.received == expected, flt
        assert client.gaps == 0
        assert client.state() == model_view(final, flt), flt
    everything = clients[0]
    assert [c["seq"] for c in everything.received] == list(range(1, final["seq"] + 1))
    # A filtered client never receives an object its filter excludes (removals aside; for a
    # test-shell event the health is its job's device's, see docs/protocol.md).
    health_only = clients[3].received
    assert health_only and all(c["data"] is None or c["data"]["device_health" if c["kind"] == "event"
                                                              else "health"] == "Bad" for c in health_only)
    qemu_devices = clients[1].received
    assert qemu_devices and all(c["kind"] == "device" and c["data"]["device_type"] == "qemu"
                                for c in qemu_devices)


def test_api_state_equals_a_local_replay(lab):
    publisher, app, _ = lab
    frames = captured_frames()
    for f in frames:
        publisher.send(f)
    wait_until(lambda: app.json("/api/v1/state")["seq"] > 0 and
               app.json("/healthz")["counters"]["accepted"] == len(frames), timeout=20,
               what="every event accepted")
    _, local = expected_changes(frames, {})
    served = app.json("/api/v1/state")
    assert served["seq"] == local.seq
    assert model_view(served) == model_view(local.snapshot())
    assert served["devices"][0].keys() >= {"hostname", "device_type", "state", "health", "worker", "job"}
    assert served["jobs"][0].keys() >= {"id", "submitter", "description", "state", "health"}


MALFORMED = [
    ([b"org.lavasoftware.device", b"only", b"three"], "frame_count"),
    ([b"a", b"b", b"c", b"d", b"e", b"f"], "frame_count"),
    ([b"org.lavasoftware.device"] * 1000, "frame_count"),  # the reader keeps 16 of them
    ([b"org.lavasoftware.device", b"u-x1", b"2026-11-27T17:38:37", b"lavaserver", b"\xff\xfe"], "not_utf8"),
    ([b"org.lavasoftware.device", b"u-x2", b"2026-11-27T17:38:37", b"lavaserver", b"{nope"], "not_json"),
    ([b"org.lavasoftware.device", b"u-x3", b"2026-11-27T17:38:37", b"lavaserver", b"[1]"], "not_object"),
    ([b"org.lavasoftware.device", b"u-x4", b"2026-11-27T17:38:37", b"lavaserver", b'{"state": "Idle"}'], "missing_field"),
    ([b"org.lavasoftware.testjob", b"u-x5", b"2026-11-27T17:38:37", b"admin", b'{"job": "7", "state": "Running"}'], "bad_type"),
    ([b"org.lavasoftware.worker", b"u-x6", b"2026-11-27T17:38:37", b"lavaserver", b'{"hostname": "w", "state": "Asleep"}'], "bad_value"),
    ([b"org.lavasoftware.device", b"u-x7", b"not a date", b"lavaserver", b"{}"], "bad_datetime"),
    ([b"org.lavasoftware.device", b"u-x8", b"2026-11-27T17:38:37", b"lavaserver",
      json.dumps({"device": "big", "state": "Idle", "description": "x" * 5000}).encode()], "oversized"),
    # An unknown topic's data, which the feed shows: an integer past 100 digits made this test's
    # python-socketio client refuse the whole packet that held it (an audit).
    ([b"org.lavasoftware.other", b"u-x9", b"2026-11-27T17:38:37", b"lavaserver",
      b'{"count": ' + b"9" * 200 + b"}"], "bad_value"),
]


def test_malformed_messages_are_counted_and_every_good_event_arrives(lab):
    publisher, app, clients = lab
    clients.append(LiveView(app.url).connect())
    frames = captured_frames()
    sent = []
    for i, good in enumerate(frames):
        bad, _ = MALFORMED[i % len(MALFORMED)]
        publisher.send(bad)
        publisher.send(good)
        sent.append(good)
    publisher.send(frames[0])  # a duplicate uuid: ignored, counted
    wait_until(lambda: app.json("/healthz")["counters"]["accepted"] == len(frames), timeout=20,
               what="every good event accepted")
    health = wait_until(lambda: (lambda h: h if h["counters"]["duplicates"] == 1 else None)(
        app.json("/healthz")), what="the duplicate counted")
    expected_rejects = {}
    for i in range(len(frames)):
        reason = MALFORMED[i % len(MALFORMED)][1]
        expected_rejects[reason] = expected_rejects.get(reason, 0) + 1
    rejected = {k: v for k, v in health["counters"]["rejected"].items() if v}
    assert rejected == expected_rejects
    assert health["counters"]["internal_errors"] == 0
    assert health["sources"][0]["rejected"] == len(frames)
    expected, _ = expected_changes(sent, {})
    wait_until(lambda: len(clients[0].received) >= len(expected), timeout=20, what="all changes")
    assert clients[0].received == expected
    assert app.alive()
    log = app.log_text()
    assert "dropped message" in log and "frame_count" in log


def test_bad_filter_gets_an_error_and_the_connection_stays_usable(lab):
    _, app, clients = lab
    view = LiveView(app.url).connect()
    clients.append(view)
    answers = []
    view.client.emit("subscribe", {"filter": {"kinds": ["bogus"]}}, callback=answers.append)
    view.client.emit("subscribe", {"filter": {"nonsense": ["x"]}}, callback=answers.append)
    view.client.emit("subscribe", {"filter": "not an object"}, callback=answers.append)
    view.client.emit("subscribe", {"filter": {"devices": [7]}}, callback=answers.append)
    # A lab of a dashboard of one unnamed lab: REST's `lab=` is a 400; this matched nothing, and
    # said nothing (an audit)
    view.client.emit("subscribe", {"filter": {"labs": ["east"]}}, callback=answers.append)
    wait_until(lambda: len(answers) == 5, what="five acks")
    assert all(a["ok"] is False and a["error"] for a in answers), answers
    assert "bogus" in answers[0]["error"]
    assert answers[4]["code"] == "bad_filter" and "one lab, which has no name" in answers[4]["error"]
    view.client.emit("subscribe", {"filter": {"kinds": ["device"]}}, callback=answers.append)
    wait_until(lambda: len(answers) == 6, what="good ack")
    assert answers[5]["ok"] is True


@pytest.mark.parametrize("catchup", [True, False])
def test_a_reconnecting_client_catches_up_or_takes_a_fresh_snapshot(lab, catchup):
    publisher, app, clients = lab
    view = LiveView(app.url, catchup=catchup).connect()
    clients.append(view)
    frames = captured_frames()
    for f in frames[:40]:
        publisher.send(f)
    wait_until(lambda: view.seq == app.json("/api/v1/state")["seq"] and view.seq > 0, what="caught up")
    view.client.disconnect()
    missed_from = view.seq
    for f in frames[40:]:
        publisher.send(f)
    wait_until(lambda: app.json("/healthz")["counters"]["accepted"] == len(frames), what="all accepted")
    received_before = len(view.received)
    view.connect()
    final = app.json("/api/v1/state")
    wait_until(lambda: view.seq == final["seq"] and len(view.acks) == 2, what="in step again")
    assert view.state() == model_view(final)
    if not catchup:  # nothing offered: a fresh snapshot
        assert (view.snapshots, view.catchups) == (2, 0)
        return
    # Offered its seq and epoch: only the changes it missed, no snapshot.
    assert (view.snapshots, view.catchups) == (1, 1)
    assert view.acks[-1] == {"ok": True, "seq": final["seq"], "catchup": True, "now": view.acks[-1]["now"]}
    caught = view.received[received_before:]
    assert caught and caught[0]["seq"] == missed_from + 1
    # A client of another epoch (another run of the server) gets a snapshot, not changes.
    answers = []
    asked = time.time() * 1000
    view.client.emit("subscribe", {"filter": {}, "since": final["seq"] - 1, "epoch": "other"},
                     callback=answers.append)
    wait_until(lambda: view.snapshots == 2 and answers, what="a snapshot for another epoch")
    assert answers == [{"ok": True, "seq": final["seq"], "catchup": False, "now": answers[0]["now"]}]
    # The answer tells the server's clock (epoch ms) when it answered: the page's times follow it.
    assert isinstance(answers[0]["now"], int) and asked - 1 <= answers[0]["now"] <= time.time() * 1000 + 1


def test_a_burst_is_batched_and_a_quiet_change_goes_out_alone(lab):
    publisher, app, clients = lab
    view = LiveView(app.url).connect()
    clients.append(view)
    n = 2000
    for i in range(n):
        data = {"device": f"dev-{i % 50:02d}", "device_type": "qemu", "worker": "w1",
                "state": "Idle", "health": ["Good", "Unknown"][(i // 50) % 2]}
        publisher.send([b"org.lavasoftware.device", f"burst-{i}".encode(), b"2026-11-27T10:00:00+00:00",
                        b"lavaserver", json.dumps(data).encode()])
    wait_until(lambda: len(view.received) >= n, timeout=30, what="the burst delivered")
    # Batches carry many changes each: far fewer messages than changes.
    assert view.batches < n / 20, view.batches
    batches_before = view.batches
    publisher.send([b"org.lavasoftware.worker", b"quiet-1", b"2026-11-27T10:00:01+00:00", b"lavaserver",
                    b'{"hostname": "w9", "state": "Online", "health": "Active"}'])
    wait_until(lambda: view.received[-1]["id"] == "w9", what="the quiet change")
    assert view.batches == batches_before + 1


def test_healthz_follows_the_source_connection(lab):
    publisher, app, _ = lab
    publisher.send(captured_frames()[0])
    wait_until(lambda: app.json("/healthz")["sources"][0]["last_message_age"] is not None,
               what="a message seen")
    health = app.json("/healthz")
    assert health["status"] == "ok" and health["ok"] is True
    port = publisher.port
    publisher.close()
    wait_until(lambda: app.json("/healthz")["sources"][0]["state"] != "connected", what="disconnect seen")
    health = app.json("/healthz")
    assert health["status"] == "degraded" and health["sources"][0]["disconnects"] >= 1
    again = TestPublisher(port)
    try:
        again.wait_for_subscriber()
        wait_until(lambda: app.json("/healthz")["status"] == "ok", what="reconnected")
    finally:
        again.close()


def test_several_endpoints_and_a_topic_prefix():
    first, second = TestPublisher(), TestPublisher()
    app = AppProcess("--zmq", first.endpoint, "--zmq", second.endpoint,
                     "--topic-prefix", "org.lavasoftware")
    try:
        first.wait_for_subscriber()
        second.wait_for_subscriber()
        view = LiveView(app.url).connect()
        first.send([b"org.lavasoftware.worker", b"p-1", b"2026-11-27T10:00:00", b"lavaserver",
                    b'{"hostname": "w-first", "state": "Online", "health": "Active"}'])
        second.send([b"org.other.worker", b"p-2", b"2026-11-27T10:00:00", b"lavaserver",
                     b'{"hostname": "w-filtered-out", "state": "Online", "health": "Active"}'])
        second.send([b"org.lavasoftware.worker", b"p-3", b"2026-11-27T10:00:00", b"lavaserver",
                     b'{"hostname": "w-second", "state": "Offline", "health": "Active"}'])
        second.send([b"org.lavasoftware.newthing", b"p-4", b"2026-11-27T10:00:00", b"lavaserver",
                     b'{"job": 3, "anything": [1, 2]}'])
        wait_until(lambda: len(view.received) >= 3, what="three changes")
        health = app.json("/healthz")
        assert sorted(s["name"] for s in health["sources"]) == sorted([first.endpoint, second.endpoint])
        assert health["counters"]["accepted"] == 3
        # Two sockets, two green threads: order across sources is not defined, within one it is.
        ids = [c["id"] for c in view.received if c["kind"] == "worker"]
        assert sorted(ids) == ["w-first", "w-second"]
        (generic,) = [c for c in view.received if c["kind"] == "event"]
        assert generic["kind"] == "event" and generic["data"]["type"] == "newthing"
        assert generic["data"]["data"] == {"job": 3, "anything": [1, 2]}
        view.close()
    finally:
        app.stop()
        first.close()
        second.close()


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_the_gap_grows_with_a_fast_stream_and_is_the_floor_again_after_it(async_mode):
    """--batch-knee (300 changes a second): a stream of up to 3,000 changes a second, cheap to send
    (one client, so the budget alone would keep the floor), lengthens the gap beyond the floor, as
    far as the rate the relay measured asks (the floor times the rate over the knee, up to 40 ms);
    /healthz says that rate. Once the stream has stopped, its rate no longer lengthens the gap, and
    a lone change goes out alone."""
    with running_lab(async_mode, "--batch-interval", "0.1", "--batch-floor", "0.01") as (
            publisher, app, view):

        def device(i):
            data = {"device": f"dev-{i % 100:02d}", "device_type": "qemu", "worker": "w1",
                    "state": "Idle", "health": ("Good", "Unknown")[(i // 100) % 2]}  # each a change
            return [b"org.lavasoftware.device", f"knee-{i}".encode(),
                    b"2026-11-27T10:00:00+00:00", b"lavaserver", json.dumps(data).encode()]
        sent, during = 0, []
        start = time.monotonic()
        # 30 each 10 ms: 3,000 a second, or (a loaded machine's sleep taking 50 ms) 600, still
        # twice the knee
        while time.monotonic() - start < 3.0 and sent < 9000:
            for _ in range(30):
                publisher.send(device(sent))
                sent += 1
            if time.monotonic() - start > 1.0 and len(during) < 3:
                during.append(app.json("/healthz")["relay"])
            time.sleep(0.01)
        wait_until(lambda: len(view.received) >= sent, timeout=30, what="the stream")
        # (The gap is checked against the rate the relay measured, which must be above the knee.)
        asked = [min(40.0, 10.0 * r["stream_rate"] / 300) for r in during]
        assert any(r["stream_rate"] > 300 and r["gap_ms"] >= gap - 0.5 > 10.0
                   for r, gap in zip(during, asked)), during
        time.sleep(1.5)  # six of the rate's time constants
        relay = app.json("/healthz")["relay"]
        assert relay["stream_rate"] < 300, relay
        # What is left of the gap is the floor or what a batch cost (over the budget, 0.25).
        assert relay["gap_ms"] <= max(10.0, relay["flush_cost_ms"] / 0.25) + 0.2, relay
        before, received = view.batches, len(view.received)
        publisher.send(device(sent))
        wait_until(lambda: len(view.received) > received, timeout=10, what="the lone change")
        time.sleep(0.2)
        assert (view.batches, len(view.received)) == (before + 1, received + 1)


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_adaptive_batching_sends_a_paced_stream_change_by_change_and_batches_a_burst(async_mode):
    """--batch-floor: a change every 25 ms, cheap to send (one client), goes out alone, where the
    fixed 0.1 s interval would gather about four per batch; a burst is still batched; /healthz says
    what a flush costs and the gap it keeps."""
    with running_lab(async_mode, "--batch-interval", "0.1", "--batch-floor", "0.002",
                     "--batch-budget", "0.25") as (publisher, app, view):

        def device(i, health):
            data = {"device": f"dev-{i % 100:02d}", "device_type": "qemu", "worker": "w1",
                    "state": "Idle", "health": health}
            return [b"org.lavasoftware.device", f"adaptive-{i}".encode(),
                    b"2026-11-27T10:00:00+00:00", b"lavaserver", json.dumps(data).encode()]
        paced = 60
        for i in range(paced):
            publisher.send(device(i, ("Good", "Unknown")[i % 2]))
            time.sleep(0.025)
        wait_until(lambda: len(view.received) >= paced, timeout=20, what="the paced stream")
        # Fixed 0.1 s: about paced / 4 batches. Adaptive: nearly one batch per change.
        assert view.batches >= paced * 0.6, view.batches
        relay = app.json("/healthz")["relay"]
        assert relay["flush_cost_ms"] > 0 and 2.0 <= relay["gap_ms"] <= 100.0, relay

        before_batches, before = view.batches, len(view.received)
        burst = 2000
        for i in range(burst):
            publisher.send(device(paced + i, ("Bad", "Good")[(i // 100) % 2]))  # each a change
        wait_until(lambda: len(view.received) >= before + burst, timeout=30, what="the burst")
        assert view.batches - before_batches < burst / 10, view.batches - before_batches
