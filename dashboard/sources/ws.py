"""Receive lava-publisher's events over its WebSocket (`ws://` or `wss://`, usually proxied at
`https://<server>/ws/`): for labs whose ZMQ port is firewalled.

lava-publisher's aiohttp handler sends each event as one text message, `send_json` of the same five
strings as the ZMQ frames ([topic, uuid, datetime, username, data], data still a JSON string). Each
message becomes five frames for the same parser, model, store and relay, with the same duplicate
suppression by uuid.

The connection runs on the app's green hub (eventlet or gevent: blocking sockets made green), so
what one peer can make it do is bounded, and the hub is given up while it is done:
- websocket-client opens the TCP connection and wraps it in TLS; the TLS handshake is ours
  (finish_tls), within CONNECT_TIMEOUT in all (under the hubs, the socket's timeout bounds each
  read alone), and so is every later read and write of TLS, within its step's deadline
  (sockets.py's recv_within and send_within: a TLS record is decrypted only once it is whole,
  and one sent a byte at a time held a read for ever). Through a proxy (http_proxy for ws://,
  https_proxy for wss://, no_proxy) the CONNECT is ours, because
  websocket-client's reads the proxy's answer a byte at a time with no limit of size or time: here
  it is read like the handshake's answer, and only the proxy's own credentials (Proxy-Authorization
  Basic, from its URL's user:password) go to the proxy; TLS then goes through the tunnel, its
  handshake ours as above. Which hosts go through the proxy (no_proxy) is read as the REST client
  reads it (network.bypasses_proxy). TLS trusts the system's CAs, or only the lab's CA bundle
  (--lava-ca-file, a labs file's ca_file: network.tls_context), as the REST client does. The
  handshake is ours, because websocket-client's follows redirects with the same headers
  (the token with them), reads the answer a byte at a time with no limit, and keeps every
  Set-Cookie in a process-wide jar sent to any lab: here the answer is read up to
  MAX_HANDSHAKE_BYTES within CONNECT_TIMEOUT in all, a redirect is an error (never followed), and
  no cookie is kept or sent. A failed CONNECT or handshake is counted by kind (`failures`).
- Frames are read by Connection: a frame over MESSAGE_FACTOR × --max-message-size is refused by
  the length in its header, before it is read, and so is a message in fragments that grows over it
  (their headers counted, so that tiny or empty fragments are bounded too); the connection (whose
  stream position is then lost) is made anew, as libzmq does with ZMQ_MAXMSGSIZE. The hub is given
  up every YIELD_FRAMES frames and every YIELD_BYTES bytes read, whole messages or not.
- A text message's UTF-8 is checked by bytes.decode (C), in _one: one that is not UTF-8 is refused
  alone (`not_utf8`), never quoted, and the connection goes on.
- Silence is judged on whole messages and control frames: the connection is pinged after
  `ping_every` seconds without one, and given up after `silence` seconds; a message must be whole
  within `silence` seconds of its first byte, so a peer that sends a byte now and then is given up
  like a silent one. It is made anew with backoff, like the ZMQ source.
(Not a thread of its own, as the ZMQ source has: websocket-client's sockets are the patched, green
ones, which a real thread cannot wait on; bounded work, the hub given up as it goes, does as well.)

Credentials are sent in a header only, never logged or shown: the source's name is its URL without
userinfo or query, and the proxy's password is taken out of every message.
"""
import base64
import collections
import json
import logging
import os
import socket
import ssl
import time
import urllib.parse

import websocket
# websocket-client's own socket opening (TCP, TLS) and URL parsing: pinned, websocket-client==1.9.2.
from websocket._http import _open_socket as open_tcp
from websocket._http import _ssl_socket as open_tls
from websocket._socket import sock_opt
from websocket._url import parse_url

from dashboard.core.backoff import JITTER, Backoff
from dashboard.core.events import ParseError
from dashboard.core.redact import scrub
from dashboard.sources.network import bypasses_proxy, proxy_of, proxy_secrets, tls_context
from dashboard.sources.sockets import finish_tls, send_within
from dashboard.sources.ws_protocol import (CONNECT_TIMEOUT, DATA_OPCODES, TUNNEL, HandshakeError,
                                          ProtocolError, TooBig, TooSlow, Connection,
                                          check_answer, check_tunnel, connect_request,
                                          handshake_request, read_answer)

log = logging.getLogger("dashboard.sources.ws")

PING_EVERY = 20.0  # seconds without a whole message or control frame before a ping
SILENCE = 65.0  # seconds without one (an event or a pong) before the connection is given up
YIELD_EVERY = 100  # messages handled between two yields of the hub
STABLE_AFTER = 5.0
LOG_EVERY = 5.0
MESSAGE_FACTOR = 4  # a message up to this many times --max-message-size (five strings, quoted)


def public_name(url):
    """The URL as it may be shown: no userinfo, query or fragment."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def websocket_url(base):
    """lava-publisher's WebSocket next to the REST API: https://host/x → wss://host/x/ws/."""
    scheme, rest = base.split("://", 1)
    return ("wss" if scheme.lower() == "https" else "ws") + "://" + rest.rstrip("/") + "/ws/"


def frames_of(text):
    """One WebSocket message → the five frames (bytes) of a lava-publisher message. Raises
    ParseError with the parser's reasons when it is not a JSON list of five strings. (Its size was
    bounded by the frame reader, ws_protocol.Connection; the parser bounds the frames' total.)"""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError("not_json", f"a WebSocket message that is not JSON ({type(exc).__name__})") from None
    if not isinstance(message, list):
        raise ParseError("frame_count", "a WebSocket message that is not a JSON list")
    if len(message) != 5:
        raise ParseError("frame_count", f"expected 5 fields in a WebSocket message, got {len(message)}")
    if not all(isinstance(part, str) for part in message):
        raise ParseError("bad_type", "a WebSocket message whose fields are not all strings")
    try:
        return [part.encode("utf-8") for part in message]
    except UnicodeEncodeError:  # a lone surrogate from a \\ud800 escape
        raise ParseError("not_utf8", "a WebSocket message with an unpaired surrogate") from None


class WsSource:
    """A WebSocket client of lava-publisher, made anew (with backoff) whenever it dies."""

    def __init__(self, url, topic_prefix, sleep, status, max_message_size, headers=None,
                 clock=time.monotonic, rng=JITTER, connect=None, ping_every=PING_EVERY,
                 silence=SILENCE, secrets=(), ca_file=""):
        self.url = url
        self.name = public_name(url)
        self.topic_prefix = topic_prefix.encode("utf-8")
        self.sleep = sleep
        self.status = status
        self.max_message_size = max_message_size
        # The headers (a dict, or a callable asked before each connection: credentials that may
        # change, such as the user LAVA says owns the token).
        self.headers = headers if callable(headers) else (lambda fixed=dict(headers or {}): fixed)
        # Never in a message: the URL's userinfo and query, the headers' values, what the caller names.
        parts = urllib.parse.urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        self._base_secrets = [url, userinfo, parts.query] + list(secrets)
        self._secrets = list(self._base_secrets)
        self.clock = clock
        self.backoff = Backoff(first=0.2, ceiling=10.0, rng=rng)
        self.connect = connect or self._open
        self.tls = tls_context(ca_file)  # None: the system's CAs
        self.ping_every = ping_every
        self.silence = silence
        self.connections = 0
        self.failures = collections.Counter()  # handshakes that failed, by HandshakeError.kind
        status.failures = self.failures  # shown in /healthz sources[].failures
        self.filtered = 0  # messages whose topic did not start with the prefix
        self._last_log = float("-inf")

    def run(self, handle, rounds=None):
        """Receive forever, handing each message's frames to handle(status, frames). Never returns
        (unless `rounds` is given)."""
        count = 0
        while rounds is None or count < rounds:
            count += 1
            problem = "closed"  # a connection that worked, and ended
            try:
                why = self._receive(handle)
            except HandshakeError as exc:
                self.failures[exc.kind] += 1
                problem = exc.kind
                why = f"{exc} ({exc.kind}: {self.failures[exc.kind]} so far)"
            except Exception as exc:  # connecting failed, or a bug: the loop goes on regardless
                problem = failure_kind(exc)
                self.failures[problem] += 1
                why = _describe(exc)
            why = scrub(why, self._secrets)
            delay = self.backoff.next()
            self.status.set_state("disconnected" if self.status.state == "connected" else "connecting",
                                  f"new connection in {delay:.1f} s: {why}", problem)
            now = self.clock()
            if now - self._last_log >= LOG_EVERY:
                self._last_log = now
                log.warning("%s: %s; a new connection in %.1f s", self.name, why, delay)
            self.sleep(delay)

    def _open(self, url, headers, timeout, limit):
        """A real connection, giving the hub up with this source's sleep."""
        return _connect(url, headers, timeout, limit, pause=self.sleep,
                        message_deadline=self.silence, tls=self.tls)

    def _receive(self, handle):
        """Receive on one connection until it ends; returns why it ended."""
        headers = self.headers()
        self._secrets = self._base_secrets + [v for v in headers.values()] + [
            part for v in headers.values() for part in v.split(" ", 1)[1:]] + proxy_secrets()
        ws = self.connect(self.url, headers, min(self.ping_every, self.silence),
                          MESSAGE_FACTOR * self.max_message_size)
        self.connections += 1
        connected_at = last_heard = self.clock()
        stable = False
        self.status.set_state("connected")
        log.info("%s: connected", self.name)
        received = 0
        try:
            while True:
                try:
                    opcode, data = ws.recv_data(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    if self.clock() - last_heard >= self.silence:
                        return (f"silent for {self.clock() - last_heard:.0f} s (no whole event, "
                                "no pong)")
                    ws.ping()
                    continue
                except websocket.WebSocketConnectionClosedException:
                    return "the server closed the connection"
                except TooBig as exc:
                    self.status.reject(ParseError("oversized", f"{exc}: refused unread (limit "
                                                  f"{MESSAGE_FACTOR} × --max-message-size)"))
                    return f"{exc} was refused unread; the connection is made anew (oversized)"
                except ProtocolError as exc:
                    return f"a WebSocket protocol error ({exc}); the connection is made anew"
                except TooSlow as exc:
                    return f"{exc}; the connection is made anew"
                last_heard = self.clock()
                if not stable and last_heard - connected_at >= STABLE_AFTER:
                    stable = True
                    self.backoff.reset()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return "the server closed the connection"
                if opcode not in DATA_OPCODES:
                    continue  # a pong, or a ping (answered)
                self._one(handle, data)
                received += 1
                if received % YIELD_EVERY == 0:
                    self.sleep(0)
        finally:
            try:
                ws.close(timeout=1)
            except Exception:  # closing must not stop the loop either
                pass

    def _one(self, handle, data):
        """Hand one message on, or count it rejected; its bytes are never quoted."""
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data  # in C
        except UnicodeDecodeError:
            self.status.reject(ParseError("not_utf8", "a WebSocket message that is not UTF-8"))
            return
        try:
            frames = frames_of(text)
        except ParseError as error:
            self.status.reject(error)
            return
        if not frames[0].startswith(self.topic_prefix):
            self.filtered += 1
            return
        handle(self.status, frames)


def _connect(url, headers, timeout, limit, pause=time.sleep, message_deadline=SILENCE, tls=None):
    """A connection after our own handshake (bounded, no redirect followed, no cookie): read with
    a timeout per call, a size limit, deadline per message, and `pause(0)` to give the hub up.
    `tls`: the SSLContext of wss:// (network.tls_context; None: the system's CAs)."""
    sock, (host, port, resource) = _socket_to(url, tls)
    try:
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        send_within(sock, handshake_request(url, host, port, resource, headers, key),
                    time.monotonic() + CONNECT_TIMEOUT)
        head, pending = read_answer(sock, CONNECT_TIMEOUT)
        check_answer(head, key)
    except BaseException:
        sock.close()
        raise
    return Connection(sock, pending, limit, timeout, message_deadline, pause)


def _socket_to(url, tls=None):
    """(a TCP connection to the URL's host, TLS for wss://, (host, port, resource)): direct when
    no proxy is named or no_proxy names the host (network.bypasses_proxy), else through the proxy,
    asked with our CONNECT (bounded as the handshake's answer is: MAX_HANDSHAKE_BYTES within
    CONNECT_TIMEOUT in all). `tls`: the SSLContext of wss:// (None: websocket-client's, the
    system's CAs)."""
    # (TLS's handshake is ours, with a deadline: _finish_tls. Neither step is websocket-client's
    # connect, which would read the proxy variables again, with its own idea of no_proxy.)
    ssl_options = {"do_handshake_on_connect": False, **({"context": tls} if tls else {})}
    options = sock_opt(None, ssl_options)
    options.timeout = CONNECT_TIMEOUT
    host, port, resource, secure = parse_url(url)
    proxy_host, proxy_port, auth = proxy_for(host, port, secure)
    addresses = socket.getaddrinfo(proxy_host or host, (proxy_port or 80) if proxy_host else port,
                                   0, socket.SOCK_STREAM, socket.SOL_TCP)
    sock = open_tcp(addresses, options.sockopt, options.timeout)
    try:
        if proxy_host:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.sendall(connect_request(host, port, auth))
            check_tunnel(*read_answer(sock, CONNECT_TIMEOUT, step=TUNNEL))
        if secure:
            sock.settimeout(CONNECT_TIMEOUT)  # each wait of TLS's handshake (read_answer left less)
            sock = open_tls(sock, options.sslopt, host)
            _finish_tls(sock)
    except BaseException:
        sock.close()
        raise
    return sock, (host, port, resource)


def proxy_for(host, port, secure):
    """(host, port, (user, password) or None) of the proxy that host:port is reached through
    (https_proxy for wss://, http_proxy for ws://), or (None, 0, None): directly, when none is
    named or no_proxy names it (network.bypasses_proxy, as the REST client reads it)."""
    if bypasses_proxy(host, port):
        return None, 0, None
    try:
        return proxy_of(secure)
    except ValueError:  # its message quotes the URL's parts, the password's among them
        raise HandshakeError("proxy_bad_url", "http_proxy or https_proxy is not a URL that can be "
                             "used (a password's '/', '?', '#' or '@' must be %-encoded)") from None


def _finish_tls(sock):
    """finish_tls within CONNECT_TIMEOUT in all, its timeout a failure of the handshake's."""
    try:
        finish_tls(sock, time.monotonic() + CONNECT_TIMEOUT)
    except socket.timeout:
        raise HandshakeError("timeout", f"the TLS handshake was not done within "
                                        f"{CONNECT_TIMEOUT:g} s") from None


def failure_kind(exc):
    """How a connection failed other than in its handshake, as /healthz counts it (an audit found
    an expired certificate, a refused port or a name that does not resolve said, never counted)."""
    if isinstance(exc, ssl.SSLError):  # (SSLCertVerificationError is one)
        return "tls"
    if isinstance(exc, ConnectionRefusedError):
        return "connect_refused"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, (TimeoutError, websocket.WebSocketTimeoutException)):
        return "connect_timeout"
    if isinstance(exc, (OSError, websocket.WebSocketException)):
        return "unreachable"
    return "internal"


def _describe(exc):
    """Why connecting failed, without a URL's secrets (the handshake's errors never quote the
    answer; the request's headers are never quoted)."""
    return f"connection failed ({type(exc).__name__}: {str(exc)[:120]})"


def token_refused_for(url, lava_url):
    """Why the LAVA token must not go to this WebSocket (None: it may): another host than
    --lava-url's, or ws:// where LAVA is reached over https://."""
    ws_parts, lava = urllib.parse.urlsplit(url), urllib.parse.urlsplit(lava_url or "")
    if not lava.hostname or (ws_parts.hostname or "").lower() != lava.hostname.lower():
        return "the token is sent only to --lava-url's host"
    if lava.scheme == "https" and ws_parts.scheme != "wss":
        return "LAVA is reached over https://: the token goes over wss:// only"
    return None


def authorization(username, token):
    """lava-publisher's WebSocket takes `Authorization: Basic base64(user:token)` and then sends
    what that user may see (anonymous: public objects only)."""
    if not token:
        return {}
    if not username:
        return {"Authorization": f"Token {token}"}
    pair = base64.b64encode(f"{username}:{token}".encode("utf-8")).decode("ascii")
    return {"Authorization": f"Basic {pair}"}
