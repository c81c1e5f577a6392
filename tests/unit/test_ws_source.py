"""The WebSocket source's pure parts: a message → the five frames, names without secrets, the
Authorization header, the settings; and its loop driven through a scripted connection with a fake
clock (the real server is in tests/test_ws_source.py)."""
import base64

import pytest
import websocket

from dashboard import config
from dashboard.core.events import ParseError
from dashboard.live.health import Health
from dashboard.sources import ws


@pytest.mark.parametrize("text, reason", [
    ("nope", "not_json"), ("[" * 3000, "not_json"), ('{"a": 1}', "frame_count"),
    ('["a", "b", "c", "d"]', "frame_count"), ('["a", "b", "c", "d", null]', "bad_type"),
    ('["a", "b", "c", "d", "\\ud800"]', "not_utf8")],
    ids=["text", "deep", "object", "four", "null", "surrogate"])
def test_what_is_not_five_strings_is_refused_with_the_parsers_reasons(text, reason):
    with pytest.raises(ParseError) as info:
        ws.frames_of(text)
    assert info.value.reason == reason


def test_five_strings_become_the_zmq_frames():
    text = '["org.lavasoftware.device", "u1", "2026-11-30T10:00:00", "lavaserver", "{\\"device\\": \\"é\\"}"]'
    assert ws.frames_of(text) == [b"org.lavasoftware.device", b"u1", b"2026-11-30T10:00:00",
                                        b"lavaserver", '{"device": "é"}'.encode()]


def test_names_and_headers_never_carry_secrets():
    assert ws.public_name("wss://bob:s3cret@lava.example.org:8443/ws/?token=abc#x") == \
        "wss://lava.example.org:8443/ws/"
    assert ws.public_name("ws://[::1]:8001/ws/") == "ws://[::1]:8001/ws/"
    header = ws.authorization("bob", "tok-123")["Authorization"]
    assert base64.b64decode(header.split()[1]) == b"bob:tok-123"
    assert ws.authorization(None, "tok-123") == {"Authorization": "Token tok-123"}
    assert ws.authorization("bob", "") == {}
    assert ws.websocket_url("https://lava.example.org/") == "wss://lava.example.org/ws/"
    assert ws.websocket_url("http://127.0.0.1:8000/lava") == "ws://127.0.0.1:8000/lava/ws/"


def test_event_sources_take_three_schemes_and_zmq_is_an_alias():
    values = config.load(["--zmq", "tcp://a:5500", "--event-source", "wss://b/ws/",
                          "--event-source", "tcp://a:5500"], environ={})
    assert values["event_source"] == ["tcp://a:5500", "wss://b/ws/"]
    for bad in ("http://b/ws/", "lava.example.org:5500", "WSS"):
        with pytest.raises(config.ConfigError) as info:
            config.load(["--event-source", bad], environ={})
        assert "tcp://, ipc://, ws:// or wss://" in str(info.value)
    with pytest.raises(config.ConfigError):
        config.load(["--discovery-timeout", "0"], environ={})


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class ScriptedConnection:
    """A connection that plays a script: ("text", str), ("timeout", seconds), ("closed",)."""

    def __init__(self, clock, script):
        self.clock, self.script, self.pings, self.closed = clock, list(script), 0, False

    def recv_data(self, control_frame=False):
        step = self.script.pop(0) if self.script else ("closed",)
        if step[0] == "timeout":
            self.clock.now += step[1]
            raise websocket.WebSocketTimeoutException("timed out")
        if step[0] == "closed":
            raise websocket.WebSocketConnectionClosedException("closed")
        if step[0] == "pong":
            return websocket.ABNF.OPCODE_PONG, b""
        return websocket.ABNF.OPCODE_TEXT, step[1].encode()

    def ping(self):
        self.pings += 1

    def close(self, timeout=None):
        self.closed = True


def run_source(scripts, **kwargs):
    clock, health, handled = Clock(), Health(), []
    status = health.add_source("ws://x/ws/", "websocket")
    connections = [ScriptedConnection(clock, s) for s in scripts]
    opened = iter(connections)
    source = ws.WsSource("ws://u:pw-secret-1@x/ws/", "org.", lambda s: None, status, 1000,
                         clock=clock, rng=lambda: 0.5, connect=lambda *a: next(opened), **kwargs)
    source.run(lambda st, frames: handled.append(frames), rounds=len(scripts))
    return source, status, health, handled, connections


GOOD = '["org.lavasoftware.device", "u1", "2026-11-30T10:00:00", "lavaserver", "{}"]'


def test_the_token_goes_only_to_lavas_own_host_and_never_in_clear_from_https():
    assert ws.token_refused_for("wss://lava.example.org/ws/", "https://lava.example.org") is None
    assert ws.token_refused_for("ws://127.0.0.1:8001/ws/", "http://127.0.0.1:8000") is None
    assert "host" in ws.token_refused_for("wss://other.example.org/ws/", "https://lava.example.org")
    assert "wss://" in ws.token_refused_for("ws://lava.example.org/ws/", "https://lava.example.org")
    assert ws.token_refused_for("wss://lava.example.org/ws/", "")


def test_connection_errors_are_said_without_the_urls_secrets():
    clock, health = Clock(), Health()
    status = health.add_source("wss://lava.example.org/ws/", "websocket")

    def refuse(url, headers, timeout, limit):
        raise OSError(f"cannot reach {url} with {headers['Authorization']}")
    source = ws.WsSource("wss://bob:pw-secret-1@lava.example.org/ws/?key=q-secret-2", "", lambda s: None,
                         status, 1000, headers={"Authorization": "Token t-secret-3"}, clock=clock,
                         rng=lambda: 0.5, connect=refuse)
    source.run(lambda *a: None, rounds=1)
    assert "connection failed" in status.detail
    for secret in ("pw-secret-1", "q-secret-2", "t-secret-3"):
        assert secret not in status.detail, status.detail


def test_a_quiet_connection_is_pinged_and_a_silent_one_given_up():
    source, status, _, handled, [quiet, silent] = run_source([
        [("text", GOOD), ("timeout", 20), ("pong",), ("timeout", 20), ("closed",)],
        [("timeout", 20), ("timeout", 20), ("timeout", 20), ("timeout", 20)]],
        ping_every=20, silence=65)
    assert len(handled) == 1 and quiet.pings == 2 and quiet.closed
    assert silent.pings == 3 and silent.closed  # the fourth quiet period passes 65 s: given up
    assert "silent for 80 s" in status.detail and status.state == "disconnected"
    assert source.connections == 2


def test_topics_outside_the_prefix_are_filtered_and_bad_messages_counted():
    source, status, health, handled, _ = run_source([[
        ("text", GOOD), ("text", GOOD.replace("org.", "other.")), ("text", "[1, 2]"),
        ("closed",)]])
    assert len(handled) == 1 and source.filtered == 1
    assert health.rejected["frame_count"] == 1 and status.rejected == 1
    assert status.disconnects == 1 and "closed the connection" in status.detail


def test_failures_to_connect_are_counted_by_kind():
    """Found by an audit: an expired certificate, a refused port or a name that does not resolve
    was said in the source's detail and never counted in /healthz sources[].failures."""
    import socket
    import ssl
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: a real refused connection
    clock, health = Clock(), Health()
    status = health.add_source(f"ws://127.0.0.1:{port}/ws/", "websocket")
    source = ws.WsSource(f"ws://127.0.0.1:{port}/ws/", "", lambda s: None, status, 1000,
                         clock=clock, rng=lambda: 0.5)
    source.run(lambda *a: None, rounds=1)
    assert dict(status.failures) == {"connect_refused": 1}
    for exc, kind in ((ssl.SSLCertVerificationError("certificate has expired"), "tls"),
                      (socket.gaierror("Name or service not known"), "dns"),
                      (TimeoutError("timed out"), "connect_timeout"),
                      (OSError("No route to host"), "unreachable"), (KeyError("x"), "internal")):
        def fail(url, headers, timeout, limit, exc=exc):
            raise exc
        source.connect = fail
        source.run(lambda *a: None, rounds=1)
        assert status.failures[kind] == 1, (kind, dict(status.failures))

