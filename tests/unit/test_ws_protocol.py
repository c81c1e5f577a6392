"""ws_protocol's pure parts, table-driven from bytes: the frames a server may send (parse_frame),
the handshake's answer (check_answer) and request (handshake_request), a proxy's CONNECT
(connect_request) and its answer (check_tunnel); and the bounded readers (read_answer, Connection)
driven by a scripted socket and a fake clock, no real socket (those are in tests/test_ws_hostile.py
and tests/test_ws_proxy.py)."""
import base64
import socket
import struct
import time

import pytest
import websocket

from dashboard.sources import ws_protocol as wp
from dashboard.sources.ws_protocol import (HANDSHAKE, MAX_HANDSHAKE_BYTES, TUNNEL, HandshakeError,
                                          ProtocolError, TooBig)

# RFC 6455, 1.3: the example key and the accept its server answers.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
MARKER = "QUOTED-MARKER-9e1b"  # put in answers: an error's message never quotes them


# -- parse_frame ---------------------------------------------------------------------------------
def server_frame(payload, opcode=1, fin=True, rsv=0, form=None):
    """A server's frame (unmasked); `form`: 7, 16 or 64, the length's encoding (the smallest by
    default)."""
    n = len(payload)
    form = form or (7 if n < 126 else 16 if n < 65536 else 64)
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    if form == 7:
        head += bytes([n])
    elif form == 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


GOOD_FRAMES = [
    # (the bytes, the limit, (fin, opcode, payload, size on the wire))
    (b"\x81\x05hello", 100, (1, 1, b"hello", 7)),
    (b"\x82\x03\x00\xff\x10", 100, (1, 2, b"\x00\xff\x10", 5)),
    (b"\x81\x00", 100, (1, 1, b"", 2)),
    (b"\x01\x01[", 100, (0, 1, b"[", 3)),  # a message's first fragment
    (b"\x00\x02 ]", 100, (0, 0, b" ]", 4)),  # a continuation, more to come
    (b"\x80\x01]", 100, (1, 0, b"]", 3)),  # the last continuation
    (b"\x89\x04ping", 100, (1, 9, b"ping", 6)),
    (b"\x8a\x00", 100, (1, 10, b"", 2)),
    (b"\x88\x02\x03\xe8", 100, (1, 8, b"\x03\xe8", 4)),
    (server_frame(b"p" * 125, opcode=9), 1000, (1, 9, b"p" * 125, 127)),  # the largest control
    (server_frame(b"x" * 300), 1000, (1, 1, b"x" * 300, 304)),  # 16-bit length
    (server_frame(b"x" * 65535), 1 << 20, (1, 1, b"x" * 65535, 65539)),
    (server_frame(b"y" * 70000, opcode=2), 1 << 20, (1, 2, b"y" * 70000, 70010)),  # 64-bit length
    (server_frame(b"abc", form=16), 100, (1, 1, b"abc", 7)),  # longer forms than needed: taken
    (server_frame(b"abc", form=64), 100, (1, 1, b"abc", 13)),
    (server_frame(b"12345"), 5, (1, 1, b"12345", 7)),  # exactly the limit
    (b"\x81\x01a\x81\x05hel", 100, (1, 1, b"a", 3)),  # the next frame's start left in the buffer
]


@pytest.mark.parametrize("data, limit, expected", GOOD_FRAMES)
def test_a_good_frame_is_read_whole(data, limit, expected):
    assert wp.parse_frame(data, limit) == expected
    assert wp.parse_frame(bytearray(data), limit) == expected  # the reader's buffer is a bytearray


@pytest.mark.parametrize("data", [
    b"", b"\x81", b"\x81\x05hell", b"\x81\x7e", b"\x81\x7e\x01",  # header cut in the 16-bit length
    b"\x81\x7f\x00\x00\x00\x00\x00\x01\x11",  # cut in the 64-bit length
    server_frame(b"x" * 300)[:-1], server_frame(b"y" * 70000)[:9], server_frame(b"y" * 70000)[:-1],
    b"\x88\x02\x03",
], ids=["empty", "one byte", "payload short", "16-bit none", "16-bit half", "64-bit short",
        "16-bit payload short", "64-bit length short", "64-bit payload short", "close short"])
def test_a_frame_not_all_there_asks_for_more(data):
    assert wp.parse_frame(data, 1 << 20) is None


BAD_FRAMES = [
    # (the bytes, the limit, the error, what its message says)
    (b"\xc1\x00", 100, ProtocolError, "reserved bits set"),  # RSV1 (permessage-deflate's)
    (b"\xa1\x00", 100, ProtocolError, "reserved bits set"),
    (b"\x91\x00", 100, ProtocolError, "reserved bits set"),
    (b"\x81\x85abcd" + bytes(5), 100, ProtocolError, "a masked frame from the server"),
    *[(bytes([0x80 | op, 0]), 100, ProtocolError, f"unknown opcode {op}")
      for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)],
    (b"\x89\x7e\x00\x7e" + b"p" * 126, 1000, ProtocolError, "control frame in fragments or over 125"),
    (b"\x88\x7f" + struct.pack("!Q", 200), 1000, ProtocolError, "control frame in fragments"),
    (b"\x09\x00", 100, ProtocolError, "control frame in fragments"),  # a ping without FIN
    (b"\x08\x02\x03\xe8", 100, ProtocolError, "control frame in fragments"),
    # Refused by the length in the header: its payload is not there and never waited for.
    (b"\x81\x05", 4, TooBig, "a WebSocket frame of 5 bytes"),
    (b"\x81\x7e\xff\xff", 1000, TooBig, "a WebSocket frame of 65535 bytes"),
    (b"\x82\x7f" + struct.pack("!Q", 1 << 40), 1 << 20, TooBig, f"a WebSocket frame of {1 << 40} bytes"),
    (b"\x81\x7f\x7f" + b"\xff" * 7, 1 << 20, TooBig, f"a WebSocket frame of {(1 << 63) - 1} bytes"),
    # RFC 6455, 5.2: the 64-bit length's most significant bit MUST be 0.
    (b"\x81\x7f\x80" + bytes(7), 1 << 20, ProtocolError, "most significant bit set"),
    (b"\x81\x7f" + b"\xff" * 8, 1 << 20, ProtocolError, "most significant bit set"),
]


@pytest.mark.parametrize("data, limit, error, says", BAD_FRAMES)
def test_a_bad_frame_is_refused_with_why(data, limit, error, says):
    with pytest.raises(error) as info:
        wp.parse_frame(data, limit)
    assert says in str(info.value)


def test_a_payloads_bytes_are_never_quoted_in_a_frames_error():
    with pytest.raises(ProtocolError) as info:
        wp.parse_frame(b"\xc1\x14" + MARKER.encode(), 100)
    assert MARKER not in str(info.value)


# -- check_answer --------------------------------------------------------------------------------
def answer(*headers, status="HTTP/1.1 101 Switching Protocols", end="\r\n"):
    """An answer's head as read_answer gives it (no blank line), latin-1 like the wire."""
    return end.join((status, *headers)).encode("latin-1")


UPGRADE = ("Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}")

GOOD_ANSWERS = {
    "rfc example": answer(*UPGRADE),
    "lf only": answer(*UPGRADE, end="\n"),
    "no reason": answer(*UPGRADE, status="HTTP/1.1 101"),
    "tokens in other case": answer("UPGRADE: WebSocket", "connection: UPGRADE",
                                   f"sec-websocket-accept: {ACCEPT}"),
    "tokens in lists": answer("Upgrade: websocket, h2c", "Connection: keep-alive, Upgrade",
                              f"Sec-WebSocket-Accept: {ACCEPT}"),
    "spaces around": answer("Upgrade:websocket  ", "Connection :  Upgrade",
                            f"Sec-WebSocket-Accept:   {ACCEPT} "),
    # Repeated list headers are one list (RFC 9110, 5.3).
    "connection repeated": answer("Upgrade: websocket", "Connection: keep-alive",
                                  "Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}"),
    "others and cookies": answer(*UPGRADE, "Server: aiohttp", "Set-Cookie: s=1; Path=/",
                                 "Date: Mon, 30 Nov 2026 10:00:00 GMT"),
    "latin-1 elsewhere": answer(*UPGRADE, "X-Note: caf\xe9 \xff"),
}


@pytest.mark.parametrize("head", GOOD_ANSWERS.values(), ids=GOOD_ANSWERS.keys())
def test_an_upgrade_is_accepted(head):
    assert wp.check_answer(head, KEY) is None


NOT_WEBSOCKET = "the answer to the handshake is not a WebSocket's"
BAD_ANSWERS = {
    # (the head, the kind, what the message says)
    "200": (answer("Content-Type: text/html", status="HTTP/1.1 200 OK"), "status",
            "the server answered HTTP 200, not a WebSocket"),
    "404": (answer(status="HTTP/1.1 404 Not Found"), "status", "HTTP 404, not a WebSocket"),
    "500": (answer(status="HTTP/1.1 500 " + MARKER), "status", "HTTP 500, not a WebSocket"),
    **{f"{code} with Location": (answer(f"Location: ws://elsewhere.example/{MARKER}",
                                        status=f"HTTP/1.1 {code} Moved"), "redirect",
                                 f"the server answered HTTP {code}, a redirect, which is not "
                                 "followed (the LAVA token would go with it)")
       for code in (301, 302, 303, 307, 308)},
    "401": (answer(f"WWW-Authenticate: Basic realm={MARKER}", status="HTTP/1.1 401 Unauthorized"),
            "refused", "refused (HTTP 401): check the LAVA user and token"),
    "403": (answer(status="HTTP/1.1 403 Forbidden"), "refused", "refused (HTTP 403)"),
    "101 but no accept": (answer("Upgrade: websocket", "Connection: Upgrade"), "bad_answer",
                          NOT_WEBSOCKET),
    "wrong accept": (answer("Upgrade: websocket", "Connection: Upgrade",
                            "Sec-WebSocket-Accept: " + base64.b64encode(b"x" * 20).decode()),
                     "bad_answer", NOT_WEBSOCKET),
    "accept in other case": (answer("Upgrade: websocket", "Connection: Upgrade",
                                    f"Sec-WebSocket-Accept: {ACCEPT.lower()}"),
                             "bad_answer", NOT_WEBSOCKET),  # base64 is not case-insensitive
    "accept repeated": (answer(*UPGRADE, f"Sec-WebSocket-Accept: {ACCEPT}"), "bad_answer",
                        NOT_WEBSOCKET),
    "accept and another": (answer(*UPGRADE, f"Sec-WebSocket-Accept: {MARKER}"), "bad_answer",
                           NOT_WEBSOCKET),
    "accept with latin-1": (answer("Upgrade: websocket", "Connection: Upgrade",
                                   f"Sec-WebSocket-Accept: {ACCEPT}\xe9"), "bad_answer",
                            NOT_WEBSOCKET),
    "no upgrade": (answer("Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}"),
                   "bad_answer", NOT_WEBSOCKET),
    "upgrade to another": (answer("Upgrade: websockets", "Connection: Upgrade",
                                  f"Sec-WebSocket-Accept: {ACCEPT}"), "bad_answer", NOT_WEBSOCKET),
    "no connection": (answer("Upgrade: websocket", f"Sec-WebSocket-Accept: {ACCEPT}"),
                      "bad_answer", NOT_WEBSOCKET),
    "connection keep-alive": (answer("Upgrade: websocket", "Connection: keep-alive",
                                     f"Sec-WebSocket-Accept: {ACCEPT}"), "bad_answer",
                              NOT_WEBSOCKET),
    "header name not ascii": (answer("Upgr\xe4de: websocket", "Connection: Upgrade",
                                     f"Sec-WebSocket-Accept: {ACCEPT}"), "bad_answer",
                              NOT_WEBSOCKET),
    "an extension never asked for": (answer(*UPGRADE, "Sec-WebSocket-Extensions: permessage-deflate"),
                                     "bad_answer", "an extension or subprotocol never asked for"),
    "an empty extension header": (answer(*UPGRADE, "Sec-WebSocket-Extensions:"), "bad_answer",
                                  "an extension or subprotocol never asked for"),
    # RFC 6455, 4.1: a subprotocol the client did not ask for MUST fail the connection.
    "a subprotocol never asked for": (answer(*UPGRADE, "Sec-WebSocket-Protocol: chat"),
                                      "bad_answer", "an extension or subprotocol never asked for"),
    "empty": (b"", "bad_answer", "the answer to the handshake is not HTTP"),
    "not http": (MARKER.encode() + b"\r\nUpgrade: websocket", "bad_answer", "is not HTTP"),
    "ssh": (b"SSH-2.0-OpenSSH_9.6", "bad_answer", "is not HTTP"),
    "no status": (answer(*UPGRADE, status="HTTP/1.1"), "bad_answer", "is not HTTP"),
    "status not a number": (answer(*UPGRADE, status="HTTP/1.1 abc Switching"), "bad_answer",
                            "is not HTTP"),
    "status of four digits": (answer(*UPGRADE, status="HTTP/1.1 0101 Switching"), "bad_answer",
                              "is not HTTP"),
    # Latin-1 superscript digits are str.isdigit() but not int()'s: this raised ValueError,
    # quoting the answer, and went uncounted.
    "status in superscript": (answer(*UPGRADE, status="HTTP/1.1 \xb9\xb2\xb3 Switching"),
                              "bad_answer", "is not HTTP"),
    "status of two spaces": (answer(*UPGRADE, status="HTTP/1.1  101 Switching"), "bad_answer",
                             "is not HTTP"),
    "lower-case http": (answer(*UPGRADE, status="http/1.1 101 Switching"), "bad_answer",
                        "is not HTTP"),
}


@pytest.mark.parametrize("head, kind, says", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_an_answer_that_is_not_an_upgrade_is_refused_with_why_and_never_quoted(head, kind, says):
    with pytest.raises(HandshakeError) as info:
        wp.check_answer(head, KEY)
    assert info.value.kind == kind
    assert says in str(info.value)
    assert MARKER not in str(info.value) and "elsewhere" not in str(info.value)


def test_the_accept_is_of_this_handshakes_key():
    other_key = base64.b64encode(b"another 16 bytes").decode()
    with pytest.raises(HandshakeError) as info:
        wp.check_answer(answer(*UPGRADE), other_key)
    assert info.value.kind == "bad_answer"


# -- read_answer ---------------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class ScriptedSocket:
    """Plays recv's answers: bytes, TIMEOUT (the whole timeout set passes, then socket.timeout),
    or an iterator of bytes (one recv each, until it ends). Records the timeouts set, and sent
    bytes."""
    TIMEOUT = object()

    def __init__(self, clock, *script):
        self.clock, self.script, self.timeouts, self.reads, self.sent = clock, list(script), [], 0, b""
        self.closed = False

    def settimeout(self, seconds):
        self.timeouts.append(seconds)

    def recv(self, size):
        self.reads += 1
        assert self.reads < 100_000, "read for ever"
        if not self.script:
            return b""  # the peer closed
        step = self.script[0]
        if step is self.TIMEOUT:
            self.script.pop(0)
            self.clock.now += self.timeouts[-1]
            raise socket.timeout("timed out")
        if isinstance(step, bytes):
            self.script.pop(0)
            assert len(step) <= size
            return step
        chunk = next(step, None)
        if chunk is None:
            self.script.pop(0)
            return self.recv(size)
        return chunk

    def send(self, data):  # (sockets.send_within sends a plain socket's bytes by send)
        self.sent += bytes(data)
        return len(data)

    def close(self):
        self.closed = True


def read(*script, within=10.0, step=HANDSHAKE):
    clock = Clock()
    sock = ScriptedSocket(clock, *script)
    return wp.read_answer(sock, within, clock=clock, step=step), sock, clock


HEAD = answer(*UPGRADE)


def reads_of(data, size=4096):
    """The data as full reads of `size` bytes."""
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("script, after", [
    ([HEAD + b"\r\n\r\n"], b""),
    ([HEAD + b"\r\n\r\n\x81\x02hi"], b"\x81\x02hi"),  # a first frame in the same read: kept
    ([HEAD[:10], HEAD[10:] + b"\r\n", b"\r\n\x89\x00"], b"\x89\x00"),
    ([HEAD + b"\r\n\r", b"\n"], b""),  # the blank line cut across two reads
    ([HEAD + b"\r", b"\n", b"\r", b"\n"], b""),
], ids=["one read", "a frame after", "three reads", "cut blank line", "byte by byte end"])
def test_the_answer_is_read_up_to_its_blank_line(script, after):
    (head, pending), _, _ = read(*script)
    assert head == HEAD and pending == after


def test_a_blank_line_of_bare_line_feeds_ends_it_too():
    (head, pending), _, _ = read(HEAD.replace(b"\r\n", b"\n") + b"\n\nrest")
    assert head == HEAD.replace(b"\r\n", b"\n") and pending == b"rest"


def test_an_answer_a_byte_at_a_time_costs_little():
    """16 KiB of header lines, each read one byte: the blank line was searched for in the whole
    answer after every read (2 s of CPU for 16 KiB, holding the hub between reads). Now each byte
    is searched about once."""
    lines = b"HTTP/1.1 101 Switching\r\n" + b"X-Pad: aaaaaaaa\r\n" * 900
    assert len(lines) < MAX_HANDSHAKE_BYTES
    started = time.thread_time()
    (head, pending), sock, _ = read(iter([bytes([b]) for b in lines + b"\r\n"]))
    assert time.thread_time() - started < 0.5
    assert head == lines[:-2] and pending == b"" and sock.reads == len(lines) + 2


def test_no_blank_line_before_the_server_closes_is_said():
    with pytest.raises(HandshakeError) as info:
        read(HEAD + b"\r\n", b"")
    assert info.value.kind == "closed"
    assert str(info.value) == "the server closed the connection during the handshake"


def test_an_endless_answer_stops_at_the_bound():
    """Header lines for ever, in full reads: refused past 16 KiB, after five reads."""
    endless = (b"X-Pad: " + b"a" * 4087 + b"\r\n" for _ in range(10_000))
    with pytest.raises(HandshakeError) as info:
        read(b"HTTP/1.1 101 Switching\r\n", endless)
    assert info.value.kind == "too_large"
    assert str(info.value) == "the answer to the handshake has over 16 KiB of headers"


def test_a_head_over_the_bound_is_refused_even_when_its_end_came_in_the_same_read():
    """Its blank line in the read that passed 16 KiB: a head of up to 20 KiB was taken."""
    big = b"HTTP/1.1 101 Switching\r\n" + b"X-Pad: a\r\n" * 1635  # just under 16 KiB
    assert MAX_HANDSHAKE_BYTES - 4096 < len(big) < MAX_HANDSHAKE_BYTES
    (head, _), _, _ = read(*reads_of(big + b"\r\n"))
    assert head == big[:-2]
    over = big + b"X-Pad: " + b"a" * 3000 + b"\r\n\r\n"  # its end 3 KB past the bound
    assert len(over) < MAX_HANDSHAKE_BYTES + 4096
    with pytest.raises(HandshakeError) as info:
        read(*reads_of(over))
    assert info.value.kind == "too_large"


@pytest.mark.parametrize("script", [
    [ScriptedSocket.TIMEOUT] * 3,
    [b"HTTP/1.1 101 Switching\r\n", ScriptedSocket.TIMEOUT, b"X-A: b\r\n", ScriptedSocket.TIMEOUT],
], ids=["never answers", "drips then stops"])
def test_an_answer_not_whole_in_time_is_given_up_at_the_deadline(script):
    with pytest.raises(HandshakeError) as info:
        read(*script, within=10.0)
    assert info.value.kind == "timeout"
    assert str(info.value) == "the answer to the handshake was not whole within 10 s"


def test_each_wait_is_what_is_left_of_the_whole_answers_time():
    clock = Clock()
    sock = ScriptedSocket(clock, b"HTTP/1.1 101 S\r\n", ScriptedSocket.TIMEOUT)
    real_recv = sock.recv

    def recv(size):  # 3 s pass before each read's answer
        clock.now += 3
        return real_recv(size)
    sock.recv = recv
    with pytest.raises(HandshakeError):
        wp.read_answer(sock, 10.0, clock=clock)
    assert sock.timeouts == [10.0, 7.0]  # the second wait: what was left
    assert clock.now == pytest.approx(113.0)


@pytest.mark.parametrize("script, kind, message", [
    ([ScriptedSocket.TIMEOUT], "proxy_timeout", "the proxy's answer to CONNECT was not whole within 10 s"),
    ([b"HTTP/1.1 200 OK\r\n", b""], "proxy_closed",
     "the proxy closed the connection before its answer to CONNECT was whole"),
    ([b"HTTP/1.1 200 OK\r\n", (b"X: " + b"a" * 4091 + b"\r\n" for _ in range(100))],
     "proxy_too_large", "the proxy's answer to CONNECT has over 16 KiB of headers"),
], ids=["timeout", "closed", "too large"])
def test_a_proxys_answer_is_read_with_the_same_bounds_and_its_own_words(script, kind, message):
    with pytest.raises(HandshakeError) as info:
        read(*script, step=TUNNEL)
    assert (info.value.kind, str(info.value)) == (kind, message)


# -- the requests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("url, host, port, host_header", [
    ("ws://lava.example.org/ws/", "lava.example.org", 80, "lava.example.org"),
    ("wss://lava.example.org/ws/", "lava.example.org", 443, "lava.example.org"),
    ("WSS://lava.example.org/ws/", "lava.example.org", 443, "lava.example.org"),
    ("ws://127.0.0.1:8001/ws/", "127.0.0.1", 8001, "127.0.0.1:8001"),
    ("wss://lava.example.org:80/ws/", "lava.example.org", 80, "lava.example.org:80"),
    ("ws://[::1]:8001/ws/", "::1", 8001, "[::1]:8001"),
    ("ws://[::1]/ws/", "::1", 80, "[::1]"),
])
def test_the_upgrade_request_names_the_host_as_http_has_it(url, host, port, host_header):
    request = wp.handshake_request(url, host, port, "/ws/?a=1", {"Authorization": "Basic eDp5"}, KEY)
    assert request == (f"GET /ws/?a=1 HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"
                       "Sec-WebSocket-Version: 13\r\nAuthorization: Basic eDp5\r\n\r\n").encode()


@pytest.mark.parametrize("headers", [{"Authorization": "Token a\r\nX-Evil: 1"},
                                     {"X-A\nB": "c"}, {"Authorization": "Token a\0"}])
def test_a_header_with_a_line_break_is_never_sent(headers):
    with pytest.raises(ValueError) as info:
        wp.handshake_request("ws://h/ws/", "h", 80, "/ws/", headers, KEY)
    assert "holds a line break" in str(info.value)


def basic(pair):
    return "Proxy-Authorization: Basic " + base64.b64encode(pair.encode()).decode() + "\r\n"


@pytest.mark.parametrize("host, port, auth, expected", [
    ("lava.example.org", 443, None, "CONNECT lava.example.org:443 HTTP/1.1\r\n"
                                    "Host: lava.example.org:443\r\n\r\n"),
    ("127.0.0.1", 8001, ("bob", "p@ss:wörd"), "CONNECT 127.0.0.1:8001 HTTP/1.1\r\n"
                                             "Host: 127.0.0.1:8001\r\n" + basic("bob:p@ss:wörd") + "\r\n"),
    ("h", 80, ("bob", ""), "CONNECT h:80 HTTP/1.1\r\nHost: h:80\r\n" + basic("bob:") + "\r\n"),
    ("h", 80, ("", "x"), "CONNECT h:80 HTTP/1.1\r\nHost: h:80\r\n\r\n"),  # no user: no header
    ("::1", 8001, None, "CONNECT [::1]:8001 HTTP/1.1\r\nHost: [::1]:8001\r\n\r\n"),
], ids=["no auth", "user and password", "user only", "password only", "ipv6"])
def test_the_connect_asks_for_the_host_and_port_only(host, port, auth, expected):
    assert wp.connect_request(host, port, auth) == expected.encode()


@pytest.mark.parametrize("host", ["a b", "a\r\nX: 1", "a\0"])
def test_a_host_that_would_break_the_connect_line_is_never_sent(host):
    with pytest.raises(ValueError) as info:
        wp.connect_request(host, 80)
    assert "space or a line break" in str(info.value)


# -- check_tunnel --------------------------------------------------------------------------------
@pytest.mark.parametrize("head", [b"HTTP/1.1 200 Connection established",
                                  b"HTTP/1.0 200 OK\r\nProxy-agent: squid",
                                  b"HTTP/1.1 204 No Content", b"HTTP/1.1 200"])
def test_a_2xx_opens_the_tunnel(head):
    assert wp.check_tunnel(head, b"") is None


BAD_TUNNELS = {
    "407": (b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="
            + MARKER.encode(), b"", "proxy_refused",
            "the proxy refused CONNECT (HTTP 407): check the user and password in http_proxy or "
            "https_proxy"),
    "301 with Location": (b"HTTP/1.1 301 Moved\r\nLocation: http://elsewhere.example/", b"",
                          "proxy_status", "the proxy answered CONNECT with HTTP 301, not a tunnel"),
    "403": (b"HTTP/1.1 403 Forbidden", b"", "proxy_status",
            "the proxy answered CONNECT with HTTP 403, not a tunnel"),
    "502": (b"HTTP/1.1 502 " + MARKER.encode(), b"", "proxy_status",
            "the proxy answered CONNECT with HTTP 502, not a tunnel"),
    "101": (b"HTTP/1.1 101 Switching Protocols", b"", "proxy_status", "HTTP 101, not a tunnel"),
    "not http": (MARKER.encode(), b"", "proxy_bad_answer",
                 "the proxy's answer to CONNECT is not HTTP"),
    "superscript status": ("HTTP/1.1 \xb2\xb0\xb0 OK".encode("latin-1"), b"", "proxy_bad_answer",
                           "the proxy's answer to CONNECT is not HTTP"),
    "bytes after it": (b"HTTP/1.1 200 OK", MARKER.encode(), "proxy_bad_answer",
                       "the proxy sent bytes after its answer to CONNECT"),
}


@pytest.mark.parametrize("head, after, kind, says", BAD_TUNNELS.values(), ids=BAD_TUNNELS.keys())
def test_a_proxy_answer_that_opens_no_tunnel_is_refused_with_why(head, after, kind, says):
    with pytest.raises(HandshakeError) as info:
        wp.check_tunnel(head, after)
    assert info.value.kind == kind and says in str(info.value)
    assert MARKER not in str(info.value) and "elsewhere" not in str(info.value)


# -- Connection: the frames made messages ----------------------------------------------------------
def connection(wire, limit=1000):
    """A Connection whose frames are all in `wire` already (what follows reads: the peer closed)."""
    clock = Clock()
    sock = ScriptedSocket(clock)
    return wp.Connection(sock, wire, limit, 5.0, 60.0, lambda s: None, clock=clock), sock


def test_fragments_make_one_message_and_a_ping_between_them_is_answered():
    conn, sock = connection(server_frame(b"[1,", fin=False) + server_frame(b"p", opcode=9)
                            + server_frame(b"2", opcode=0, fin=False)
                            + server_frame(b"]", opcode=0) + server_frame(b"next"))
    assert conn.recv_data() == (9, b"p")
    assert conn.recv_data() == (1, b"[1,2]")
    assert conn.recv_data() == (1, b"next")
    # The pong, masked as a client's frames are: its key, then "p" under it.
    assert sock.sent[:2] == bytes([0x8a, 0x80 | 1]) and len(sock.sent) == 7
    assert sock.sent[6] ^ sock.sent[2] == ord("p")
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        conn.recv_data()


@pytest.mark.parametrize("wire, error, says", [
    (server_frame(b"]", opcode=0), ProtocolError, "a continuation frame with no message begun"),
    (server_frame(b"[", fin=False) + server_frame(b"x"), ProtocolError,
     "a new message before the end of the one in fragments"),
    (server_frame(b"[", fin=False) + server_frame(b"", opcode=0, fin=False) * 600, TooBig,
     "a WebSocket message in fragments over the limit"),  # empty fragments: their headers count
    (server_frame(b"x" * 1001), TooBig, "a WebSocket frame of 1001 bytes"),
], ids=["continuation first", "interleaved", "empty fragments", "one frame too big"])
def test_messages_that_break_the_rules_are_refused(wire, error, says):
    conn, _ = connection(wire)
    with pytest.raises(error) as info:
        while True:  # bounded: the wire ends, and then the peer has closed
            conn.recv_data()
    assert says in str(info.value)


def test_a_close_is_echoed_with_its_code_only():
    conn, sock = connection(server_frame(b"\x03\xe9going away", opcode=8))
    assert conn.recv_data() == (8, b"\x03\xe9going away")
    assert sock.sent[0] == 0x88 and sock.sent[1] == 0x80 | 2  # a masked close of 2 bytes
