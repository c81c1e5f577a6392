"""Socket.IO sessions and `subscribe` requests are bounded per client address, not per session.

An audit opened 2,915 Engine.IO long-polling sessions over one kept-alive connection in 4 s, all
accepted (--max-connections-per-address counts connections), and had 752 of them each answered a
snapshot of its own filter: the subscribe bucket was per session, so a new session brought a fresh
one. Here, against the real app (a subprocess) with real clients: the sessions of one address past
--max-sessions-per-address are refused at connect with a reason the client sees, counted in
/healthz and logged at most once a while; one that ends frees its place (a wall that reconnects
is let in); the subscribe bucket is the address's, whatever session asks, and is freed once its
sessions are gone and it has refilled. At the cap, a session whose client stopped answering pings
gives its place up (a unit check: a real one takes Engine.IO's 25 s ping interval to go stale).
"""
import http.client
import json
import time

import pytest
import socketio
from flask import Flask
from flask_socketio import ConnectionRefusedError

from dashboard.core.state import LabState
from dashboard.live.meta import Meta
from dashboard.live.relay import Relay
from tests.helpers import AppProcess, RecordingSocketIO, TestPublisher, wait_until

REFUSED_LINE = "refused a Socket.IO connection from 127.0.0.1"


@pytest.fixture
def start_app():
    """start_app(*flags) → the app (a subprocess fed by a test publisher); stopped afterwards."""
    started = []

    def start(*flags):
        publisher = TestPublisher()
        app = AppProcess("--zmq", publisher.endpoint, "--no-store", "--log-level", "WARNING", *flags)
        started.append((app, publisher))
        return app

    yield start
    for app, publisher in started:
        app.stop()
        publisher.close()


class Client:
    """The real python-socketio client, without reconnection: what it was told at connect, and
    its subscribe acknowledgements."""

    def __init__(self, url):
        self.client = socketio.Client(reconnection=False)
        self.refusal = None
        self.client.on("connect_error", self._refused)
        self.url = url

    def _refused(self, data):
        self.refusal = data

    def connect(self):
        """True when connected; False when refused (then `refusal` says why)."""
        try:
            self.client.connect(self.url, transports=["websocket"], wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            wait_until(lambda: self.refusal is not None, timeout=5, what="the refusal's reason")
            self.client.disconnect()
            return False
        return True

    def subscribe(self, flt):
        return self.client.call("subscribe", {"filter": flt}, timeout=5)

    def close(self):
        self.client.disconnect()


def relay_stats(app):
    return app.json("/healthz")["relay"]


def polling_session(conn):
    """Open an Engine.IO long-polling session and Socket.IO-connect it over the kept-alive `conn`,
    as the audit did: (the handshake's status, the Socket.IO answer (its CONNECT, or CONNECT_ERROR
    with the reason), or the refused handshake's body)."""
    conn.request("GET", "/socket.io/?EIO=4&transport=polling")
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        return response.status, json.loads(body)
    sid = json.loads(body[1:])["sid"]
    conn.request("POST", f"/socket.io/?EIO=4&transport=polling&sid={sid}", body=b"40",
                 headers={"Content-Type": "text/plain;charset=UTF-8"})
    conn.getresponse().read()
    conn.request("GET", f"/socket.io/?EIO=4&transport=polling&sid={sid}")
    return 200, conn.getresponse().read().decode()


def test_sessions_past_the_cap_are_refused_with_a_reason_counted_and_freed_at_disconnect(start_app):
    app = start_app("--max-sessions-per-address", "3")
    clients = [Client(app.url) for _ in range(3)]
    try:
        assert all(c.connect() for c in clients)
        late = Client(app.url)
        assert not late.connect()
        assert late.refusal["data"] == {"code": "too_many_sessions", "retry_after": 45}
        assert "too many live connections from your address (at most 3" in late.refusal["message"]
        # The audit's way: sessions over one kept-alive HTTP connection are sessions all the same.
        conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
        answers = [polling_session(conn) for _ in range(20)]
        conn.close()
        # Refused at Socket.IO connect, with the reason, while their Engine.IO sessions (which
        # live on until their ping timeout) are at most twice the cap; then at the handshake.
        assert all(status == 200 and answer.startswith("44") and "too_many_sessions" in answer
                   for status, answer in answers[:3]), answers[:3]
        assert all(status == 401 and answer["code"] == "too_many_sessions"
                   and answer["ok"] is False for status, answer in answers[3:]), answers[3:5]
        relay = relay_stats(app)
        assert relay["sessions"] == 3 and relay["session_addresses"] == 1, relay
        assert relay["engine_sessions"] == 6, relay
        assert relay["max_sessions_per_address"] == 3 and relay["sessions_refused"] == 21, relay
        assert app.log_text().count(REFUSED_LINE) == 1  # at most once every 30 s
        # A wall that reconnects: its old session's end is counted, and it is let in again.
        clients.pop().close()
        wait_until(lambda: relay_stats(app)["sessions"] == 2, timeout=5, what="the end counted")
        again = Client(app.url)
        assert again.connect()
        clients.append(again)
        assert again.subscribe({})["ok"] is True
    finally:
        for c in clients:
            c.close()
    wait_until(lambda: relay_stats(app)["session_addresses"] == 0, timeout=5, what="all forgotten")


def test_the_subscribe_bucket_is_the_address_s_whatever_session_asks(start_app):
    # Two at once, then one every 2 s: refilled 4 s after the last take.
    app = start_app("--subscribe-burst", "2", "--subscribe-rate", "0.5")
    first = Client(app.url)
    assert first.connect()
    assert first.subscribe({"devices": ["a"]})["ok"] and first.subscribe({"devices": ["b"]})["ok"]
    assert first.subscribe({"devices": ["c"]})["code"] == "rate_limited"
    # Another session of the same address, and the same client reconnected: no fresh bucket.
    second = Client(app.url)
    assert second.connect()
    assert second.subscribe({"devices": ["d"]})["code"] == "rate_limited"
    first.close()
    again = Client(app.url)
    assert again.connect()
    answer = again.subscribe({"devices": ["e"]})
    assert answer["code"] == "rate_limited" and 0 < answer["retry_after"] <= 2.0, answer
    relay = relay_stats(app)
    assert relay["rate_limited"] == 3 and relay["subscribe_buckets"] == 1, relay
    assert relay["snapshots_built"] == 2, relay
    # Bounded: the last session gone and the bucket refilled, it is forgotten.
    second.close()
    again.close()
    time.sleep(4.2)
    probe = Client(app.url)  # (a session's start or end lets the refilled ones go)
    assert probe.connect()
    relay = relay_stats(app)
    assert relay["subscribe_buckets"] == 0 and relay["sessions"] == 1, relay
    assert probe.subscribe({})["ok"] is True  # a full bucket again
    probe.close()


class _EngineSocket:
    def __init__(self, last_ping):
        self.last_ping = last_ping
        self.closed = False

    def close(self, wait=True, abort=False, reason=None):
        assert not wait  # nobody reads a stale session's queue: never wait for it
        self.closed = True


class _Server:
    """python-socketio's server, as far as the relay looks at its sessions."""

    def __init__(self):
        self.eio = type("Eio", (), {"sockets": {}, "ping_interval": 25, "ping_timeout": 20,
                                    "reason": type("Reason", (), {"PING_TIMEOUT": "ping"})})()
        self.manager = type("Manager", (), {"eio_sid_from_sid": lambda _, sid, ns: "e" + sid})()


def test_at_the_cap_a_session_that_stopped_answering_pings_gives_its_place_up():
    from dashboard.live.relay import STALE_PING

    sio = RecordingSocketIO()
    relay = Relay(sio, LabState(), Meta(epoch="e1"), max_sessions_per_address=2)
    sio.server = _Server()  # (after: the relay would install its message budget on a bound one)
    flask_app = Flask(__name__)

    def connect(sid, last_ping=None):
        sio.server.eio.sockets["e" + sid] = _EngineSocket(last_ping)
        with flask_app.test_request_context(environ_base={"REMOTE_ADDR": "192.0.2.7"}):
            from flask import request
            request.sid = sid
            return relay.on_connect()

    assert connect("live") and connect("gone", last_ping=time.time() - STALE_PING - 1)
    assert relay.shares.stats()["sessions"] == 2
    assert connect("back")  # the screen reconnecting: the one that stopped answering made room
    assert sio.server.eio.sockets["egone"].closed and relay.sessions_reclaimed == 1
    assert sorted(relay.shares.sids["192.0.2.7"]) == ["back", "live"]
    with pytest.raises(ConnectionRefusedError) as refused:
        connect("more", last_ping=time.time())  # the others answer their pings: refused
    assert refused.value.error_args["data"] == {"code": "too_many_sessions", "retry_after": 45}
    assert relay.sessions_refused == 1 and "more" not in relay.shares.address
