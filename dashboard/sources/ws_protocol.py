"""The WebSocket protocol as the WebSocket source speaks it (RFC 6455, the client's side): an HTTP
proxy's CONNECT and the check of its answer, the handshake's request and the check of its answer,
and frames read one by one from a socket, each step bounded (dashboard/sources/ws.py's docstring
says how, and why it is not websocket-client's). Its reads and writes are bounded in all by a
deadline, over TLS too (dashboard/sources/sockets.py).
"""
import base64
import collections
import hashlib
import re
import socket
import time

import websocket

from dashboard.sources.sockets import recv_within, send_within

CONNECT_TIMEOUT = 10.0  # each wait while connecting; the TLS handshake, and the handshake's whole answer
MAX_HANDSHAKE_BYTES = 16 * 1024  # the answer's status line and headers (aiohttp's: about 200 bytes)
YIELD_FRAMES = 256  # frames read between two yields, whole messages or not
YIELD_BYTES = 256 * 1024  # bytes read between two yields
READ_SIZE = 64 * 1024
REDIRECTS = (301, 302, 303, 307, 308)
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, 1.3
OP_CONT, OP_CLOSE, OP_PING, OP_PONG = 0, 8, 9, 10
DATA_OPCODES = (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY)


class TooBig(Exception):
    """A frame or message over the limit, refused by its length before it is read."""


class ProtocolError(Exception):
    """Frames that break RFC 6455 (their bytes are never quoted): the connection is made anew."""


class TooSlow(Exception):
    """A message not whole within the deadline after its first byte."""


class HandshakeError(Exception):
    """The answer to the handshake is not a WebSocket's. `kind`: redirect, refused, status,
    too_large, timeout, closed or bad_answer; the message never quotes the answer."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def handshake_request(url, host, port, resource, headers, key):
    """The upgrade request's bytes: the headers given (credentials), no Origin, no cookie."""
    hostport = f"[{host}]" if ":" in host else host
    if port != (443 if url.lower().startswith("wss:") else 80):
        hostport += f":{port}"
    lines = [f"GET {resource} HTTP/1.1", f"Host: {hostport}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    for name, value in headers.items():
        if any(c in f"{name}{value}" for c in "\r\n\0"):  # would end the header: never sent
            raise ValueError(f"the header {name!r} holds a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


ANSWER_END = re.compile(rb"\r?\n\r?\n")
STATUS_LINE = re.compile(r"HTTP/[0-9.]+ ([0-9]{3})(?: .*)?")  # three ASCII digits, as RFC 9112 has
# What read_answer says of the answer it reads, by whom it is sent: (the kinds' prefix, the answer,
# what a close ends).
HANDSHAKE = ("", "the answer to the handshake", "the server closed the connection during the handshake")
TUNNEL = ("proxy_", "the proxy's answer to CONNECT",
          "the proxy closed the connection before its answer to CONNECT was whole")


def read_answer(sock, within, clock=time.monotonic, step=HANDSHAKE):
    """(the answer's status line and headers, the bytes after them), read in 4 KiB reads up to
    MAX_HANDSHAKE_BYTES and within `within` seconds in all. `step`: HANDSHAKE, or TUNNEL for a
    proxy's answer (its errors' kinds then begin with proxy_)."""
    prefix, what, closed = step
    deadline = clock() + within
    answer = bytearray()
    searched = 0  # where the blank line may begin: each byte is searched about once
    for _ in range(MAX_HANDSHAKE_BYTES + 2):  # each turn reads a byte or more, or waits its time
        end = ANSWER_END.search(answer, searched)
        searched = max(0, len(answer) - 3)  # "\r\n\r" may be followed by the "\n" read next
        if end and end.start() <= MAX_HANDSHAKE_BYTES:
            return bytes(answer[:end.start()]), bytes(answer[end.end():])
        if len(answer) > MAX_HANDSHAKE_BYTES:
            break
        left = deadline - clock()
        if left <= 0:
            raise HandshakeError(prefix + "timeout", f"{what} was not whole within {within:.0f} s")
        try:
            chunk = recv_within(sock, 4096, deadline, clock)
        except socket.timeout:
            continue  # the next turn says the deadline passed
        if not chunk:
            raise HandshakeError(prefix + "closed", closed)
        answer += chunk
    raise HandshakeError(prefix + "too_large", f"{what} has over "
                                               f"{MAX_HANDSHAKE_BYTES // 1024} KiB of headers")


def status_of(head, step=HANDSHAKE):
    """(the answer's HTTP status, its lines): HandshakeError (bad_answer) when it is not HTTP."""
    prefix, what, _ = step
    lines = head.decode("latin-1").split("\n")
    status = STATUS_LINE.fullmatch(lines[0].rstrip("\r"))
    if not status:
        raise HandshakeError(prefix + "bad_answer", f"{what} is not HTTP")
    return int(status.group(1)), lines


def check_answer(head, key):
    """Raise HandshakeError unless the answer's head accepts the upgrade asked with this key. A
    redirect is not followed: the token would go with it, wherever it points."""
    status, lines = status_of(head)
    if status in REDIRECTS:
        raise HandshakeError("redirect", f"the server answered HTTP {status}, a redirect, which is "
                             "not followed (the LAVA token would go with it): give the WebSocket's "
                             "own URL")
    if status in (401, 403):
        raise HandshakeError("refused", f"refused (HTTP {status}): check the LAVA user and token")
    if status != 101:
        raise HandshakeError("status", f"the server answered HTTP {status}, not a WebSocket")
    fields = collections.defaultdict(list)
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip().lower()].append(value.strip())
    accept = base64.b64encode(hashlib.sha1(key.encode("ascii") + ACCEPT_GUID).digest()).decode()
    upgraded = ("websocket" in _tokens(fields["upgrade"])
                and "upgrade" in _tokens(fields["connection"]))
    # None was asked for: one the server chose anyway fails the connection (RFC 6455, 4.1).
    chosen = fields["sec-websocket-extensions"] + fields["sec-websocket-protocol"]
    if not upgraded or fields["sec-websocket-accept"] != [accept] or chosen:
        raise HandshakeError("bad_answer", "the answer to the handshake is not a WebSocket's "
                             "(Upgrade, Connection, Sec-WebSocket-Accept, or an extension or "
                             "subprotocol never asked for)")


def connect_request(host, port, auth=None):
    """The CONNECT that asks an HTTP proxy for a tunnel to host:port, with Proxy-Authorization
    Basic when the proxy's URL has a user (`auth`: (user, password)). Nothing of the WebSocket's
    goes to the proxy: its path, query and headers (the LAVA token) go through the tunnel."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if any(c in authority for c in "\r\n\0 "):  # would end the request line: never sent
        raise ValueError("the WebSocket's host holds a space or a line break")
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if auth and auth[0]:
        pair = f"{auth[0]}:{auth[1] or ''}".encode("utf-8")  # RFC 7617: user-id ":" password
        lines.append(f"Proxy-Authorization: Basic {base64.b64encode(pair).decode('ascii')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def check_tunnel(head, pending):
    """Raise HandshakeError (kinds proxy_*) unless the proxy's answer to CONNECT opens the tunnel:
    a 2xx (RFC 9110, 9.3.6) and nothing after it, since the server speaks only once asked. A
    redirect is not followed; the answer is never quoted."""
    status, _ = status_of(head, TUNNEL)
    if status == 407:
        raise HandshakeError("proxy_refused", "the proxy refused CONNECT (HTTP 407): check the "
                             "user and password in http_proxy or https_proxy")
    if not 200 <= status <= 299:
        raise HandshakeError("proxy_status", f"the proxy answered CONNECT with HTTP {status}, "
                             "not a tunnel")
    if pending:
        raise HandshakeError("proxy_bad_answer", "the proxy sent bytes after its answer to "
                             "CONNECT, before the WebSocket's server was asked anything")


def _tokens(values):
    """The comma-separated tokens of a header's values, in lower case."""
    return {token.strip().lower() for value in values for token in value.split(",")}


def parse_frame(buffer, limit):
    """(fin, opcode, payload, its size on the wire) of the frame at the start of buffer, or None
    while it is not all there. A frame whose header says it is over `limit` is refused (TooBig)
    before its payload is read."""
    if len(buffer) < 2:
        return None
    first, second = buffer[0], buffer[1]
    opcode, length, start = first & 0x0F, second & 0x7F, 2
    if first & 0x70:
        raise ProtocolError("a frame with reserved bits set (no extension was agreed)")
    if second & 0x80:
        raise ProtocolError("a masked frame from the server")
    if opcode not in (OP_CONT, *DATA_OPCODES, OP_CLOSE, OP_PING, OP_PONG):
        raise ProtocolError(f"a frame of unknown opcode {opcode}")
    if opcode >= OP_CLOSE and (length > 125 or not first & 0x80):
        raise ProtocolError("a control frame in fragments or over 125 bytes")
    if length >= 126:
        start = 4 if length == 126 else 10
        if len(buffer) < start:
            return None
        length = int.from_bytes(buffer[2:start], "big")
        if length >> 63:
            raise ProtocolError("a frame length with its most significant bit set")
    if length > limit:
        raise TooBig(f"a WebSocket frame of {length} bytes")
    if len(buffer) < start + length:
        return None
    return first >> 7, opcode, bytes(buffer[start:start + length]), start + length


class Connection:
    """One WebSocket connection, read frame by frame (the module's docstring says how it is
    bounded). recv_data, ping and close as websocket-client's WebSocket has them."""

    def __init__(self, sock, pending, limit, timeout, message_deadline, pause,
                 clock=time.monotonic):
        self.sock = sock
        self.buffer = bytearray(pending)  # read, not yet taken as frames
        self.limit = limit
        self.timeout = timeout
        self.message_deadline = message_deadline
        self.pause = pause
        self.clock = clock
        self.partial = None  # the data of a message in fragments, until its last one
        self.partial_opcode = self.partial_size = 0
        self.begun = clock() if pending else None  # when the message being read began to arrive
        self.frames = self.bytes = 0  # read since the hub was last given up

    def recv_data(self, control_frame=True):
        """The next whole message or control frame, (opcode, payload). WebSocketTimeoutException
        when none is whole within `timeout` seconds: what has arrived waits for the next call."""
        deadline = self.clock() + self.timeout
        while True:  # bounded by the deadlines: each turn takes a frame or reads
            fin, opcode, payload, size = self._frame(deadline)
            if opcode >= OP_CLOSE:
                return self._control(opcode, payload)
            message = self._assemble(fin, opcode, payload, size)
            if message is not None:
                self.begun = self.clock() if self.buffer else None
                return message

    def ping(self):
        """Ask the server for a pong."""
        self._send(OP_PING)

    def close(self, timeout=1):
        """Say goodbye (best effort, waiting for no answer) and close the socket."""
        try:
            send_within(self.sock, websocket.ABNF.create_frame(b"\x03\xe8", OP_CLOSE).format(),
                        self.clock() + timeout, self.clock)
        except OSError:
            pass
        finally:
            self.sock.close()

    def _frame(self, deadline):
        """The next frame, reading as needed."""
        while True:  # bounded by the deadlines: each turn takes a frame or reads
            frame = parse_frame(self.buffer, self.limit)
            if frame is not None:
                del self.buffer[:frame[3]]  # from the front: CPython moves no bytes for it
                self._worked(1, 0)
                return frame
            self._read(deadline)

    def _read(self, deadline):
        """Read what has come, waiting at most until the call's deadline or the message's."""
        now = self.clock()
        until = deadline
        if self.begun is not None:
            if now - self.begun >= self.message_deadline:
                size = len(self.buffer) + (self.partial_size if self.partial is not None else 0)
                raise TooSlow(f"a message was not whole {self.message_deadline:.0f} s after its "
                              f"first byte ({size} bytes so far)")
            until = min(until, self.begun + self.message_deadline)
        if now >= deadline:
            raise websocket.WebSocketTimeoutException("no whole message within the timeout")
        try:
            chunk = recv_within(self.sock, READ_SIZE, until, self.clock)
        except socket.timeout:
            return  # the next turn says which deadline passed
        if not chunk:
            raise websocket.WebSocketConnectionClosedException("the server closed the connection")
        if self.begun is None:
            self.begun = self.clock()
        self.buffer += chunk
        self._worked(0, len(chunk))

    def _worked(self, frames, size):
        """Give the hub up in proportion to the work: every YIELD_FRAMES frames or YIELD_BYTES."""
        self.frames += frames
        self.bytes += size
        if self.frames >= YIELD_FRAMES or self.bytes >= YIELD_BYTES:
            self.frames = self.bytes = 0
            self.pause(0)

    def _assemble(self, fin, opcode, payload, size):
        """The whole message (opcode, data) once its last frame is in; None before."""
        if opcode == OP_CONT:
            if self.partial is None:
                raise ProtocolError("a continuation frame with no message begun")
        elif self.partial is not None:
            raise ProtocolError("a new message before the end of the one in fragments")
        elif fin:
            return opcode, payload  # one frame: the usual case, and lava-publisher's
        else:
            self.partial, self.partial_opcode, self.partial_size = bytearray(), opcode, 0
        self.partial += payload
        self.partial_size += size
        if self.partial_size > self.limit:
            self.partial = None
            raise TooBig("a WebSocket message in fragments over the limit")
        if not fin:
            return None
        data, self.partial = bytes(self.partial), None
        return self.partial_opcode, data

    def _control(self, opcode, payload):
        """A ping is answered; a close is echoed (best effort)."""
        if self.partial is None:
            self.begun = self.clock() if self.buffer else None
        if opcode == OP_PING:
            self._send(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            try:
                self._send(OP_CLOSE, payload[:2])
            except websocket.WebSocketConnectionClosedException:
                pass
        return opcode, payload

    def _send(self, opcode, payload=b""):
        """A frame to the server, masked as a client's must be."""
        try:
            send_within(self.sock, websocket.ABNF.create_frame(payload, opcode).format(),
                        self.clock() + CONNECT_TIMEOUT, self.clock)
        except OSError as exc:  # socket.timeout among them
            raise websocket.WebSocketConnectionClosedException(
                f"could not send to the server ({type(exc).__name__})") from None
