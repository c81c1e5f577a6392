"""The HTTP edge, between the client's socket and the app: the limits eventlet's or gevent's server
(dashboard/server.py) applies to each connection and request, and errors in the one JSON shape.

- One address holds at most `max_connections_per_address` connections (more are answered 503);
  what the server refused, timed out or could not read is counted (Connections, /healthz).
- A request's body must arrive within `header_timeout` plus its size at MIN_BODY_RATE; one that
  does not is answered 408 and closed (BodyDeadline, `body_timeouts`).
- A request the server cannot read (a garbage request line, such as a TLS ClientHello on the plain
  port; a request line or headers too long; too many headers; a bad Content-Length) or whose query
  string is not UTF-8 is answered 400, 414 or 431 in the one error shape, counted (`bad_requests`)
  and logged at most once per kind every 5 s, quoting the request line only when it is short.
- What escapes the app (python-engineio raises on some malformed input) becomes a bare 400 or 500
  in the one error shape, and what a view raises is answered 500 by Flask: either is counted
  (`errors`), the detail goes to the log only (at most once per kind every 5 s), never to the
  client (JsonErrors).
"""
import collections
import json
import logging
import socket
import sys
import time
import urllib.parse
from http import HTTPStatus

from flask import request
from werkzeug.exceptions import RequestTimeout

from dashboard.core.redact import quoted
from dashboard.live.health import RateLimitedLog

log = logging.getLogger("dashboard.server")  # (the server's log, as before this module was apart)
SOCKETIO_PATH = "/socket.io/"
# The slowest a request's body may come, on average, after a grace of `header_timeout`: every body
# a browser or the REST API sends (a form, a Socket.IO poll, an alert rule) is a few KiB, sent at
# once; a client dripping one is holding a connection (and a place in POOL), not uploading.
MIN_BODY_RATE = 10 * 1024  # bytes per second
# What the server answers a request it cannot read: (the one error shape's message, its code).
UNREADABLE = {400: ("bad request", "bad_request"), 414: ("request line too long", "too_large"),
              431: ("request headers too large", "too_large"),
              505: ("HTTP version not supported", "bad_request")}


def error_bytes(status, message, code):
    """A whole HTTP response in the one error shape, for the server itself to write."""
    body = json.dumps({"ok": False, "error": message, "code": code}).encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


REFUSED = error_bytes("503 Service Unavailable", "too many connections from this address",
                      "too_many_connections")


def query_names(query):
    """A query string with its values left out (`wall=…&link=…`), for logs: a value may be a
    credential (a signed wall link, a token a client put in a URL)."""
    return "&".join(part.split("=", 1)[0] + ("=…" if "=" in part else "") for part in query.split("&"))


class HeaderTimeout(socket.timeout):
    """A client took longer than `header_timeout` to send a request line and its headers."""


class BodyTimeout(RequestTimeout):
    """A client took longer than its deadline (BodyDeadline) to send a request's body. Raised by
    the body's reads, as werkzeug's own streams raise ClientDisconnected: Flask answers it 408 (as
    JsonErrors does); python-engineio answers a poll's 200 and would log it (guard_polls)."""

    description = "the request's body came too slowly"


def body_timeout_answer(_exc=None):
    """The one error shape's answer to a BodyTimeout (Flask's error handler and JsonErrors')."""
    return {"ok": False, "error": BodyTimeout.description, "code": "body_timeout"}, 408


class Connections:
    """Open connections per client address, and what the server refused, timed out or could not
    read (/healthz)."""

    def __init__(self, max_per_address):
        self.max_per_address = max_per_address
        self.open = collections.Counter()
        self.refused = 0
        self.header_timeouts = 0
        self.body_timeouts = 0
        self.bad_requests = 0  # answered by the server itself, before the app (unreadable())
        # Engine.IO input python-engineio could not use: a poll's POST body (guard_polls), a
        # WebSocket frame (guard_websockets)
        self.bad_polls = 0
        self.bad_frames = 0
        self.restarts = 0  # times its server stopped and was made to listen again (keep_serving)
        self.log = RateLimitedLog(log)

    def admit(self, address):
        """Count a new connection from address; False (and counted as refused) when over the cap."""
        if 0 < self.max_per_address <= self.open[address]:
            self.refused += 1
            return False
        self.open[address] += 1
        return True

    def release(self, address):
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]

    def unreadable(self, status, request_line, address):
        """Count and log (at most once per status every 5 s) a request the server could not read;
        returns its whole answer in the one error shape. The request line is quoted only when it
        is short: it is the client's, and may be anything (a TLS handshake, megabytes)."""
        status = int(status)
        self.bad_requests += 1
        line = request_line.rstrip("\r\n" if isinstance(request_line, str) else b"\r\n")
        self.log.warning(f"unreadable:{status}", "answered %d to a request from %s it could not "
                         "read; its request line: %s", status, address, quoted(line))
        message, code = UNREADABLE.get(status, ("bad request", "bad_request"))
        return error_bytes(f"{status} {HTTPStatus(status).phrase}", message, code)

    def stats(self):
        return {"open": sum(self.open.values()), "addresses": len(self.open),
                "max_per_address": self.max_per_address, "refused": self.refused,
                "header_timeouts": self.header_timeouts, "body_timeouts": self.body_timeouts,
                "bad_requests": self.bad_requests, "bad_polls": self.bad_polls,
                "bad_frames": self.bad_frames, "restarts": self.restarts}


class BodyDeadline:
    """The file a request's body is read from (eventlet's or gevent's Input reads it), with a
    deadline: reading ends `grace` seconds after the headers plus the body's size (its
    Content-Length, or what was read of a chunked one) at MIN_BODY_RATE. Past it, on_timeout()
    (counted; the connection is to close) and this read and every later one raise BodyTimeout,
    the server's own discarding of the body's rest included. Data already in the buffer is read at
    any time: only waiting for the client is bounded. `timeout`: eventlet's or gevent's Timeout."""

    def __init__(self, rfile, length, grace, timeout, on_timeout, clock=time.monotonic):
        self.rfile = rfile
        self.length = length or 0
        self.timeout = timeout
        self.on_timeout = on_timeout
        self.clock = clock
        self.start = clock() + grace
        self.received = 0
        self.expired = False

    def abandon(self):
        """The rest of the body is not to be read: an answer refused the request for it. Every
        later read raises BodyTimeout, as past the deadline (uncounted): the server's discarding
        of the rest ends at once, and so does the connection."""
        self.expired = True

    def read(self, *args):
        return self._wait(self.rfile.read, args)

    def readline(self, *args):
        return self._wait(self.rfile.readline, args)

    def readlines(self, *args):
        return self._wait(self.rfile.readlines, args)

    def _wait(self, reader, args):
        if not self.expired:
            left = self.start + max(self.length, self.received) / MIN_BODY_RATE - self.clock()
            try:
                with self.timeout(max(left, 0.0), BodyTimeout()):
                    data = reader(*args)
                self.received += sum(map(len, data)) if isinstance(data, list) else len(data)
                return data
            except BodyTimeout:
                self.expired = True
                self.on_timeout()
        raise BodyTimeout()


def ambiguous_headers(headers):
    """Whether a request's headers are ones a proxy in front may read otherwise (request
    smuggling): a line without a colon (the parser ended the headers there and read on as if
    nothing came after), or two Content-Lengths that disagree. Found by an audit: both were
    answered 200. (`headers`: http.client's message, as eventlet and gevent both parse them.)"""
    return bool(getattr(headers, "defects", None)) \
        or len(set(headers.get_all("content-length") or ())) > 1


def bad_length(value):
    """A Content-Length eventlet refuses (it answers a bare 400 itself)."""
    try:
        return int(value) < 0
    except ValueError:
        return True


class JsonErrors:
    """WSGI middleware, outermost: a query string that is not UTF-8 is refused 400 before the app
    sees it; an exception that escapes the app becomes a bare 400 (an Engine.IO request: the client
    sent something it could not use) or 500, as {"ok": false, "error", "code"}. Its
    log_exception() is Flask's for an exception a view raised (the factory sets it)."""

    def __init__(self, wsgi_app, async_mode, connections):
        self.wsgi_app = wsgi_app
        self.async_mode = async_mode
        self.connections = connections  # where refused query strings are counted (bad_requests)
        self.errors = 0
        self.log = RateLimitedLog(log)
        # python-engineio's max_http_buffer_size (the factory sets it): a Socket.IO poll's body
        # longer than this is refused here (_poll_too_long); None: not checked.
        self.poll_limit = None

    def __call__(self, environ, start_response):
        query = environ.get("QUERY_STRING", "")
        if (not query.isascii() or "%" in query) and not _utf8(query):
            return self._bad_query(environ, start_response, query)
        if (self.poll_limit is not None and environ.get("REQUEST_METHOD") == "POST"
                and environ.get("PATH_INFO", "").startswith(SOCKETIO_PATH)):
            try:  # (as python-engineio reads it: int(), so "+5000000" too; a review)
                length = int(environ.get("CONTENT_LENGTH") or "0")
            except ValueError:
                length = 0
            if length > self.poll_limit:
                return self._poll_too_long(environ, start_response, length)
        try:
            return self.wsgi_app(environ, start_response)
        except BodyTimeout:  # counted where it was raised (BodyDeadline)
            return _json_answer(start_response, *body_timeout_answer(), sys.exc_info())
        except Exception as exc:
            return self._answer(environ, start_response, exc)

    def _bad_query(self, environ, start_response, query):
        """Werkzeug decodes request.args strictly: every endpoint that reads it would fail (500).
        Its names only are logged (a value may be a credential: a signed wall link)."""
        self.connections.bad_requests += 1
        self.log.warning("query", "refused a query string that is not UTF-8 from %s: %s",
                         environ.get("REMOTE_ADDR"), quoted(query_names(query)))
        return _json_answer(start_response, {
            "ok": False, "error": "the query string is not UTF-8 (percent-encode UTF-8: %C3%A9 "
                                  "for é; %FF is no character)", "code": "bad_parameter"}, 400)

    def _poll_too_long(self, environ, start_response, length):
        """python-engineio refuses such a body, then closes the session and waits, for ever, for a
        poll that takes its last packets (an audit: each such POST kept its connection open for
        good, and 200 of them refused the address every request, 503 too_many_connections). So it
        is answered here, 413, its connection closed (the body is not read, nor discarded: a
        client that sends no more of it would hold the connection until the body's deadline);
        the session, polled no more, ends at its ping timeout."""
        self.connections.bad_polls += 1
        body = getattr(environ.get("wsgi.input"), "rfile", None)
        if isinstance(body, BodyDeadline):  # (the servers of dashboard/server.py give one)
            body.abandon()
        self.log.warning("poll-size", "refused a Socket.IO poll of %d bytes from %s (at most %d)",
                         length, environ.get("REMOTE_ADDR"), self.poll_limit)
        return _json_answer(start_response, {
            "ok": False, "error": f"a Socket.IO poll's body is at most {self.poll_limit} bytes",
            "code": "too_large"}, 413, headers=[("Connection", "close")])

    def log_exception(self, exc_info):
        """Flask's log_exception (Flask answers 500 after it): counted with what escapes the app,
        logged with its traceback at most once per endpoint and exception every 5 s."""
        self.errors += 1
        kind = getattr(exc_info[0], "__name__", "?")
        speak, suppressed = self.log.limiter.allow(f"app:{request.endpoint}:{kind}")
        if speak:
            log.error("%s %s failed%s", request.method, request.path[:100],
                      f" ({suppressed} more like this since the last report)" if suppressed else "",
                      exc_info=exc_info)

    def _answer(self, environ, start_response, exc):
        self.errors += 1
        path = environ.get("PATH_INFO", "")
        self.log.warning("wsgi:" + type(exc).__name__, "%s %s failed: %s: %s",
                         environ.get("REQUEST_METHOD"), path[:100], type(exc).__name__,
                         str(exc)[:200])
        log.debug("the failure in full", exc_info=True)
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            # The handshake may be on the wire already: no HTTP response can follow it.
            if self.async_mode == "eventlet":
                from eventlet import wsgi
                wsgi.WSGI_LOCAL.already_handled = True
            return []
        if path.startswith(SOCKETIO_PATH):
            status, message, code = 400, "bad Engine.IO request", "bad_request"
        else:
            status, message, code = 500, "internal error", "internal_error"
        return _json_answer(start_response, {"ok": False, "error": message, "code": code}, status,
                            sys.exc_info())


def _utf8(query):
    """Whether a WSGI query string (its bytes as latin-1) is UTF-8 once its %XX escapes are read:
    werkzeug reads a byte that is not (raw, or %FF) as U+FFFD, and a name of it matched nothing
    (200, an empty list; found by an audit for %FF)."""
    try:
        urllib.parse.unquote_to_bytes(query.encode("latin-1")).decode("utf-8")
        return True
    except UnicodeError:
        return False


def _json_answer(start_response, body, status, exc_info=None, headers=()):
    """A WSGI answer in the one error shape; nothing more once a response had begun."""
    data = json.dumps(body).encode()
    try:
        start_response(f"{status} {HTTPStatus(status).phrase}",
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(data))), *headers], exc_info)
    except Exception:  # the response had begun: all that is left is to end it
        return []
    return [data]


def guard_websockets(eio, connections=None):
    """Close a websocket whose frame python-engineio cannot decode, instead of letting the error
    escape its handler (it decodes outside its try: an empty or malformed frame raised, and
    eventlet wrote the traceback onto the connection)."""
    base = eio._async.get("websocket")
    if base is None or getattr(base, "guarded", False):
        return
    failures = RateLimitedLog(log)

    def guard(handler):
        def guarded(ws):
            _count_refused_frames(ws, connections, failures)
            try:
                return handler(ws)
            except Exception as exc:
                if connections is not None:
                    connections.bad_frames += 1
                failures.warning("websocket", "closed a websocket after a frame it could not use: "
                                 "%s: %s", type(exc).__name__, str(exc)[:200])
                sock = getattr(handler, "__self__", None)  # the engineio.socket.Socket
                if sock is not None:
                    sock.close(wait=False, abort=True, reason=sock.server.reason.TRANSPORT_ERROR)
                return []
        return guarded

    class GuardedWebSocket(base):
        guarded = True

        def __init__(self, handler, server):
            super().__init__(guard(handler), server)

    eio._async = dict(eio._async, websocket=GuardedWebSocket)


class WsgiErrors:
    """`wsgi.errors` of eventlet's server (sys.stderr by default): what is written there goes to
    the log, one line, at most once every 5 s. eventlet's WebSocket writes "socket shutdown
    error" there, without a newline, for each socket guard_websockets has closed already (found by
    an audit: any client could add such a fragment to the log at will)."""

    def __init__(self):
        self.log = RateLimitedLog(log)

    def write(self, text):
        text = str(text).strip()
        if text:
            self.log.warning("wsgi.errors", "the server said: %s", text[:300])

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass


# The close codes eventlet's WebSocket sends when it fails the connection for a frame: 1002
# (protocol), 1007 (not UTF-8), 1009 (above python-engineio's max_http_buffer_size).
FAILED_FRAME_CODES = (1002, 1007, 1009)


def _count_refused_frames(ws, connections, failures):
    """eventlet's WebSocket closes on a frame it refuses (too large, unmasked, not UTF-8) without
    raising: python-engineio sees an ordinary close (an audit: a frame of 1.1 MB closed the socket,
    uncounted). Its close is watched for those codes: counted in `bad_frames`, said briefly. (The
    gevent mode's simple-websocket closes with them too, unwatched.)"""
    close = getattr(ws, "close", None)
    if close is None or not hasattr(ws, "max_frame_length"):  # (eventlet's RFC6455WebSocket)
        return

    def watched(close_data=None, *args, **kwargs):
        # (Its own failure gives a reason; the echo of a client's close frame gives none.)
        if (isinstance(close_data, tuple) and len(close_data) > 1 and close_data[1]
                and close_data[0] in FAILED_FRAME_CODES):
            if connections is not None:
                connections.bad_frames += 1
            failures.warning("websocket-frame", "closed a websocket after a frame it refused: %s",
                             str(close_data[1])[:200])
        return close(close_data, *args, **kwargs)

    ws.close = watched


def guard_polls(eio, connections=None):
    """python-engineio logs whatever the POST of a poll raised, with its traceback, each time, and
    answers it 200 (its messages dropped): anyone could fill the log with a body it cannot read
    (found by an audit: 17 packets in one body, a packet type "x", bytes not UTF-8). Such a
    record is counted (`bad_polls`) and said in one line, at most once every 5 s; a BodyTimeout is
    left out (counted already, its connection closed). (Taken for the client's error, an
    EngineIOError, it would wait for ever to close the session.)"""
    eio.logger.addFilter(PollErrors(connections))


class PollErrors(logging.Filter):
    """python-engineio's 'post request handler error' records: counted and said briefly."""

    def __init__(self, connections=None):
        super().__init__()
        self.connections = connections
        self.log = RateLimitedLog(log)

    def filter(self, record):
        if record.exc_info and isinstance(record.exc_info[1], BodyTimeout):
            return False
        if record.msg != "post request handler error":
            return True  # (a handler's error is python-engineio's to log, traceback and all)
        if self.connections is not None:
            self.connections.bad_polls += 1
        exc = record.exc_info[1] if record.exc_info else None
        self.log.warning("poll", "dropped a Socket.IO poll's request body it could not use "
                         "(answered 200, as python-engineio does): %s: %s",
                         type(exc).__name__, quoted(str(exc)[:200]))
        return False
