"""Everything between the client's socket and the app: eventlet's or gevent's WSGI server with
production limits, errors in the one JSON shape, and a bounded shutdown.

- A request's line and headers must arrive within `header_timeout`; any read or write waits at
  most `socket_timeout`; one address holds at most `max_connections_per_address` connections
  (more are answered 503).
- A request's body must arrive within `header_timeout` plus its size at MIN_BODY_RATE; one that
  does not is answered 408 and closed (`body_timeouts`).
- A request the server cannot read (a garbage request line, such as a TLS ClientHello on the plain
  port; a request line or headers too long; too many headers; a bad Content-Length) or whose query
  string is not UTF-8 is answered 400, 414 or 431 in the one error shape, counted (`bad_requests`)
  and logged at most once per kind every 5 s, quoting the request line only when it is short.
- What escapes the app (python-engineio raises on some malformed input) becomes a bare 400 or 500
  in the one error shape, and what a view raises is answered 500 by Flask: either is counted
  (`errors`), the detail goes to the log only (at most once per kind every 5 s), never to the
  client.
- A Socket.IO message that is not one a client may send (not JSON, nested too deep, not a packet
  of the protocol), an event whose handler takes other arguments or that nobody handles: refused
  (SocketRefusals), counted, logged at most once per kind every 5 s without a traceback, answered
  in the one error shape when the client asked for an acknowledgement; the connection stays usable.
- SIGTERM (or Ctrl-C) flushes the store and exits; a watchdog in a real thread ends the process
  after `shutdown_timeout` whatever clients or the store do.

Flask-SocketIO's `socketio.run` would not do: it never passes `debug=False` on to eventlet's
server (which then sends tracebacks to clients) and has no way to see each connection's address.
"""
import collections
import http.client
import json
import logging
import os
import signal
import socket
import sys
import time
from http import HTTPStatus

import socketio as python_socketio
from flask import request
from socketio import packet as sio_packet
from werkzeug.exceptions import RequestTimeout

from dashboard import green
from dashboard.core.limits import MAX_DEPTH, too_deep
from dashboard.core.redact import quoted
from dashboard.live.health import RateLimitedLog
from dashboard.live.wire import JsonPacket

log = logging.getLogger("dashboard.server")
SOCKETIO_PATH = "/socket.io/"
BACKLOG = 1024  # connections the kernel holds for accept(); it caps this at net.core.somaxconn
POOL = 1024  # connections served at once (more wait in the backlog)
# --metrics HOST:PORT: what Prometheus needs, with the app's other limits (serve_apart).
APART_POOL = 16
APART_PER_ADDRESS = 4
APART_RETRY = 5.0  # seconds before it listens again after its server stopped (eventlet's can)
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
                "bad_requests": self.bad_requests, "restarts": self.restarts}


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


def _bad_length(value):
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

    def __call__(self, environ, start_response):
        query = environ.get("QUERY_STRING", "")
        if not query.isascii() and not _utf8(query):
            return self._bad_query(environ, start_response, query)
        try:
            return self.wsgi_app(environ, start_response)
        except BodyTimeout:  # counted where it was raised (BodyDeadline)
            return _json_answer(start_response, *body_timeout_answer(), sys.exc_info())
        except Exception as exc:
            return self._answer(environ, start_response, exc)

    def _bad_query(self, environ, start_response, query):
        """Werkzeug decodes request.args strictly: every endpoint that reads it would fail (500)."""
        self.connections.bad_requests += 1
        self.log.warning("query", "refused a query string that is not UTF-8 from %s: %s",
                         environ.get("REMOTE_ADDR"), quoted(query))
        return _json_answer(start_response, {
            "ok": False, "error": "the query string is not UTF-8 (percent-encode it)",
            "code": "bad_parameter"}, 400)

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


def _utf8(text):
    """Whether a WSGI string (its bytes as latin-1) is UTF-8."""
    try:
        text.encode("latin-1").decode("utf-8")
        return True
    except UnicodeError:
        return False


def _json_answer(start_response, body, status, exc_info=None):
    """A WSGI answer in the one error shape; nothing more once a response had begun."""
    data = json.dumps(body).encode()
    try:
        start_response(f"{status} {HTTPStatus(status).phrase}",
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(data)))], exc_info)
    except Exception:  # the response had begun: all that is left is to end it
        return []
    return [data]


def guard_websockets(eio):
    """Close a websocket whose frame python-engineio cannot decode, instead of letting the error
    escape its handler (it decodes outside its try: an empty or malformed frame raised, and
    eventlet wrote the traceback onto the connection)."""
    base = eio._async.get("websocket")
    if base is None or getattr(base, "guarded", False):
        return
    failures = RateLimitedLog(log)

    def guard(handler):
        def guarded(ws):
            try:
                return handler(ws)
            except Exception as exc:
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


def guard_polls(eio):
    """python-engineio logs whatever the POST of a poll raised, with its traceback, each time:
    a BodyTimeout is left out (counted already, its connection closed). (Taken for the client's
    error, an EngineIOError, it would wait for ever to close the session.)"""
    eio.logger.addFilter(_not_body_timeouts)


def _not_body_timeouts(record):
    return not (record.exc_info and isinstance(record.exc_info[1], BodyTimeout))


# -- Socket.IO messages that are not what a client may send -------------------------------------
# Refused as the client's doing, each counted by kind (/healthz relay.bad_messages_by_kind).
BAD_MESSAGE_KINDS = ("not_json", "too_deep", "malformed", "bad_arguments", "unknown_event")
# Event names no client may send: python-socketio's reserved ones would run the connect or
# disconnect handler again (a disconnect resets the client's rate limits), and "*" would reach
# Flask-SocketIO's catch-all handler with the client's first argument taken for a sid.
NOT_CLIENT_EVENTS = frozenset(python_socketio.Server.reserved_events) | {"*"}
_WIRE_LOADS = JsonPacket.json.loads  # (taken now: the server's `json` option is set on a subclass)


class BadMessage(ValueError):
    """A Socket.IO message refused as it was read: `kind` (one of BAD_MESSAGE_KINDS) and why, with
    what was read of its packet (type, namespace, acknowledgement id) once of() has been told."""

    def __init__(self, kind, why):
        super().__init__(why)
        self.kind = kind
        self.packet_type = self.namespace = self.ack = None

    def of(self, pkt):
        """This refusal, holding what was read of `pkt` (an event's ack id: it gets an answer)."""
        self.packet_type, self.namespace, self.ack = pkt.packet_type, pkt.namespace, pkt.id
        return self


class ClientJson:
    """The json module of python-socketio and python-engineio (their `json` option): reads and
    writes as live/wire.py does, but a text nesting deeper than core.limits.MAX_DEPTH is refused
    before any parser sees it (orjson refuses 1,024 levels, and Python's json, which then decides,
    raises RecursionError), and one that is not JSON raises BadMessage. For a text of at most
    MAX_DEPTH brackets (every message of the protocol) the depth check is two counts, in C; only a
    text with more is scanned (core/limits.py). (It also reads python-socketio's message queue in a
    cluster: a status or a disconnect, shallow.)"""

    dumps = staticmethod(JsonPacket.json.dumps)

    @staticmethod
    def loads(text, **kwargs):
        """json.loads(text, **kwargs), or BadMessage (a ValueError)."""
        if too_deep(text if isinstance(text, str) else bytes(text).decode("latin-1")):
            raise BadMessage("too_deep", f"nested deeper than {MAX_DEPTH} levels")
        try:
            return _WIRE_LOADS(text, **kwargs)
        except ValueError as exc:  # (json.JSONDecodeError, and engineio's too long an integer)
            raise BadMessage("not_json", f"not JSON: {str(exc)[:100]}") from None


class ClientPacket(JsonPacket):
    """The server's Socket.IO packet (its `serializer`): written as live/wire.py writes it; read by
    python-socketio, then checked to be one a client may send, before python-socketio acts on it.
    What is not raises BadMessage, which SocketRefusals answers."""

    json = ClientJson  # (the server's `json` option sets it too, and python-engineio's)

    def decode(self, encoded_packet):
        try:
            attachments = super().decode(encoded_packet)
        except BadMessage as bad:
            raise bad.of(self) from None
        except Exception as exc:  # python-socketio's own refusals, and what it did not foresee:
            # not answered (how far it read, its ack id included, is not known)
            raise BadMessage("malformed", f"not a Socket.IO packet ({type(exc).__name__})"
                             ) from None
        why = not_from_a_client(self.packet_type, self.data)
        if why:
            raise BadMessage("malformed", why).of(self)
        return attachments


def not_from_a_client(packet_type, data):
    """Why a decoded Socket.IO packet is not one a client of this protocol sends (None: it is)."""
    if packet_type == sio_packet.EVENT:
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return "an event is a list: its name, then its arguments"
        if data[0] in NOT_CLIENT_EVENTS:
            return f"{data[0][:40]!r} is not an event a client sends"
    elif packet_type == sio_packet.ACK:
        if not isinstance(data, list):
            return "an acknowledgement is a list"
    elif packet_type == sio_packet.CONNECT:
        if data is not None and not isinstance(data, dict):
            return "a connect's data is an object"
    elif packet_type in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK):
        return "binary attachments are not taken (docs/protocol.md)"
    elif packet_type != sio_packet.DISCONNECT:
        return "not a packet a client sends"
    return None


def _shown(name):
    """A client's event name as a log line or an answer may quote it: short, repr'd."""
    return repr(name[:40] if isinstance(name, str) else name)[:60]


class SocketRefusals:
    """Socket.IO messages refused, bound to Flask-SocketIO's server by install(): those
    ClientPacket refuses, an event whose handler does not take its arguments, an event nobody
    handles. Each is counted by kind, logged without a traceback at most once per kind every 5 s,
    and, when the client asked for an acknowledgement, answered {"ok": false, "code":
    "bad_request", "error"}; the connection stays usable. A handler that fails is a bug of ours:
    logged with its traceback (at most once per event every 5 s), counted, answered
    `internal_error`; a failed connect refuses the connection."""

    def __init__(self, clock=time.monotonic):
        self.counts = dict.fromkeys(BAD_MESSAGE_KINDS, 0)
        self.handler_errors = 0
        self.log = RateLimitedLog(log, 5.0, clock)
        self.server = None  # socketio.Server, once installed

    def install(self, socketio):
        """Wrap python-engineio's message handler (outermost: the relay's message budget, inside,
        still counts first), and set Flask-SocketIO's default error handler and catch-all event."""
        server = self.server = socketio.server
        on_message = server.eio.handlers["message"]

        def message(eio_sid, data):
            try:
                return on_message(eio_sid, data)
            except BadMessage as bad:
                self._answer(eio_sid, bad)
            except Exception as exc:  # python-socketio refusing what ClientPacket let through
                self.refuse("malformed", f"not usable ({type(exc).__name__}: {str(exc)[:100]})",
                            self._address(eio_sid))
                log.debug("the refused message's failure in full", exc_info=True)
            return None

        server.eio.on("message", message)
        socketio.on_error_default(self.handler_failed)
        socketio.on_event("*", self.unknown_event)

    def refuse(self, kind, why, address=None):
        """Count and log (rate-limited) a refused message; returns the answer its client gets."""
        self.counts[kind] += 1
        self.log.warning(kind, "refused a Socket.IO message from %s (%s): %s", address or "?",
                         kind, why)
        return {"ok": False, "code": "bad_request", "error": why}

    def _address(self, eio_sid):
        return (self.server.environ.get(eio_sid) or {}).get("REMOTE_ADDR")

    def _answer(self, eio_sid, bad):
        """Refuse a message ClientPacket could not use; acknowledge it when it was an event that
        asked for an acknowledgement on a namespace the client is connected to."""
        body = self.refuse(bad.kind, str(bad), self._address(eio_sid))
        if bad.ack is None or bad.packet_type not in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
            return
        namespace = bad.namespace or "/"
        if self.server.manager.sid_from_eio_sid(eio_sid, namespace) is None:
            return  # not connected there: python-socketio would not have answered either
        self.server.eio.send(eio_sid, self.server.packet_class(
            sio_packet.ACK, namespace=namespace, id=bad.ack, data=[body]).encode())

    def unknown_event(self, event, *args):
        """Flask-SocketIO's catch-all handler: an event nobody handles is refused (python-socketio
        would leave a client waiting for its acknowledgement)."""
        known = sorted(name for name in self.server.handlers.get("/", {})
                       if name not in NOT_CLIENT_EVENTS)
        return self.refuse("unknown_event", f"unknown event {_shown(event)}; known: "
                           f"{', '.join(known)}", request.remote_addr)

    def handler_failed(self, exc):
        """Flask-SocketIO's default error handler (on_error_default): what a handler raised."""
        event = getattr(request, "event", None) or {}
        name, args = event.get("message"), event.get("args") or ()
        tb = exc.__traceback__
        # A TypeError raised by the call itself (its traceback ends in Flask-SocketIO's frame that
        # calls the handler): the handler does not take these arguments.
        if isinstance(exc, TypeError) and name not in ("connect", "disconnect") \
                and tb is not None and tb.tb_next is None:
            return self.refuse("bad_arguments", f"wrong arguments for {_shown(name)} ({len(args)} "
                               "given): send one object (docs/protocol.md)", request.remote_addr)
        self.handler_errors += 1
        speak, suppressed = self.log.limiter.allow(f"handler:{name}")
        if speak:
            log.error("the Socket.IO handler of %s failed%s", _shown(name),
                      f" ({suppressed} more since the last report)" if suppressed else "",
                      exc_info=exc)
        if name == "connect":
            return False  # who it is could not be told: refused (it may connect again)
        return {"ok": False, "code": "internal_error", "error": "internal error"}

    def stats(self):
        """For /healthz, beside the relay's other counters."""
        return {"bad_messages": sum(self.counts.values()),
                "bad_messages_by_kind": dict(self.counts), "handler_errors": self.handler_errors}


def _refuse(sock):
    """Answer 503 without ever waiting on the client, then let the caller close."""
    try:
        sock.settimeout(0)
        sock.send(REFUSED)
    except OSError:
        pass


def serve(app, spawn, settings, on_exit):
    """Serve until SIGTERM or SIGINT, then run on_exit() (flush the store) and exit the process,
    within settings["shutdown_timeout"] seconds whatever happens."""
    mode = settings["async_mode"]
    connections = app.extensions["dashboard"].connections
    stopping = []

    def finish():
        code = 0
        try:
            on_exit()
        except Exception:
            log.exception("shutdown failed")
            code = 1
        log.info("exiting")
        os._exit(code)

    def stop(*_):
        if stopping:
            return
        stopping.append(True)
        log.info("stopping: flushing the store, then exiting (at most %.1f s)",
                 settings["shutdown_timeout"])
        green.watchdog(mode, settings["shutdown_timeout"], _too_late)
        spawn(finish)

    address, log_output = (settings["host"], settings["port"]), settings["log_level"] == "DEBUG"
    if mode == "gevent":
        import gevent
        for signum in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(signum, stop)
        _gevent_server(app, settings, connections, log_output, address, POOL).serve_forever()
    else:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, stop)
        _eventlet_server(app, settings, connections, log_output, address, POOL)()


def serve_apart(wsgi_app, host, port, settings, spawn):
    """Serve wsgi_app (the Prometheus metrics of --metrics HOST:PORT) on another address, in a
    green thread (`spawn`), with the app's protections: a deadline for each request's headers, a
    timeout on each read and write, APART_PER_ADDRESS connections from one address and APART_POOL
    in all (more wait in the backlog). Listens before it returns: a port in use fails the start.
    Returns its Connections (what it refused or timed out)."""
    connections = Connections(APART_PER_ADDRESS)
    log_output = settings["log_level"] == "DEBUG"
    if settings["async_mode"] == "gevent":
        server = _gevent_server(wsgi_app, settings, connections, log_output, (host, port),
                                APART_POOL)
        server.start()
    else:
        import eventlet

        def listen():
            return _eventlet_server(wsgi_app, settings, connections, log_output, (host, port),
                                    APART_POOL)
        # eventlet's server ends (or raises) on some errors of accept(), where gevent's logs them
        # and goes on: it is made to listen again.
        spawn(keep_serving, listen(), listen, eventlet.sleep, connections, f"{host}:{port}")
    return connections


def keep_serving(run, listen, sleep, connections, what, rounds=None):
    """Serve with run() (blocking); whenever it returns or fails, say so, count it in
    connections.restarts, and APART_RETRY seconds later serve again with listen()'s (which listens
    anew: the old server closed its socket). At most one round per APART_RETRY; `rounds` bounds
    them (tests)."""
    done = 0
    while rounds is None or done < rounds:
        done += 1
        if run is not None:
            try:
                run()
                why = "its accept loop ended"
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"[:200]
            connections.restarts += 1
            if connections.restarts <= 3 or connections.restarts % 12 == 0:
                log.error("the server of %s stopped (%s): it listens again in %.0f s (%d times "
                          "so far)", what, why, APART_RETRY, connections.restarts)
        sleep(APART_RETRY)
        try:
            run = listen()
        except OSError as exc:
            run = None
            if connections.restarts <= 3 or connections.restarts % 12 == 0:
                log.error("the server of %s cannot listen again yet (%s)", what, exc)


def _too_late():
    """The watchdog: runs in a real thread, so it must not take the app's (green) locks."""
    os.write(2, b"shutdown did not finish in time: exiting now\n")
    os._exit(1)


def _eventlet_server(app, settings, connections, log_output, address, pool_size):
    """Listen on address (host, port) now; returns the function that serves (blocking)."""
    import eventlet
    import eventlet.wsgi
    from eventlet.green import socket as green_socket

    class Protocol(eventlet.wsgi.HttpProtocol):
        """eventlet's protocol with a deadline on each request's line and headers, then on its
        body; what it cannot read answered in the one error shape (Connections.unreadable)."""

        _deadline = None

        def _read_request_line(self):
            self._cancel()
            self._deadline = eventlet.Timeout(settings["header_timeout"],
                                              HeaderTimeout("header timeout"))
            line = super()._read_request_line()
            if len(line) >= self.server.url_length_limit:  # (eventlet would answer a bare 414)
                self._unreadable(414, line)
                return ""  # eventlet then ends the connection
            return line

        def parse_request(self):
            try:
                if not super().parse_request():
                    return False  # send_error answered
            except (eventlet.wsgi.HeaderLineTooLong, eventlet.wsgi.HeadersTooLarge):
                self.send_error(431)
                return False
            # eventlet's own checks, which follow, answer a bare 400.
            length = self.headers.get("content-length")
            if length is not None and (_bad_length(length)
                                       or self.headers.get("transfer-encoding") is not None):
                self.send_error(400)
                return False
            return True

        def send_error(self, code, message=None, explain=None):
            """http.server's answer to a request it could not read (its own is an HTML page
            quoting the request, and a line on stderr each time)."""
            self._unreadable(code, getattr(self, "raw_requestline", b""))

        def _unreadable(self, code, line):
            self.close_connection = True
            try:
                self.wfile.write(connections.unreadable(code, line, self.client_address[0]))
                self.wfile.flush()
            except OSError:
                pass

        def get_environ(self):  # called once the headers are in, before the app
            self._cancel()
            environ = super().get_environ()
            body = environ["eventlet.input"]
            if body.chunked_input or body.content_length:
                body.rfile = BodyDeadline(body.rfile, body.content_length,
                                          settings["header_timeout"], eventlet.Timeout,
                                          self._body_timed_out)
            return environ

        def _body_timed_out(self):
            connections.body_timeouts += 1
            self.close_connection = 1  # the rest of the body is not read (nor discarded)

        def handle_one_response(self):
            try:
                super().handle_one_response()
            except BodyTimeout:  # while eventlet discarded what the app did not read of the body
                self.close_connection = 1

        def handle(self):
            try:
                super().handle()
            except HeaderTimeout:
                connections.header_timeouts += 1
                raise  # eventlet closes a connection that timed out, quietly
            finally:
                self._cancel()

        def _cancel(self):
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

    class Finished:
        """What Pool.spawn returns for a refused connection: already over."""

        def link(self, callback, *args):
            callback(self, *args)

    class Pool(eventlet.GreenPool):
        """eventlet's pool of connection threads, counting connections per address."""

        def spawn(self, function, conn, *args):
            address = conn[0][0]
            if not connections.admit(address):
                _refuse(conn[1])
                return Finished()  # eventlet's link closes the socket
            thread = super().spawn(function, conn, *args)
            thread.link(lambda *_: connections.release(address))
            return thread

    family, *_, sockaddr = green_socket.getaddrinfo(*address)[0]
    # A backlog beyond eventlet's 50: a burst of connections waits to be accepted (or refused)
    # instead of having its SYNs dropped and retried a second later.
    listener = eventlet.listen(sockaddr, family, backlog=BACKLOG)

    def run():
        eventlet.wsgi.server(listener, app, log_output=log_output, debug=False, protocol=Protocol,
                             socket_timeout=settings["socket_timeout"],
                             custom_pool=Pool(pool_size))
    return run


def _gevent_server(app, settings, connections, log_output, address, pool_size):
    """The server, not started yet, for address (host, port)."""
    import gevent
    from gevent import pywsgi
    from gevent.pool import Pool

    class Handler(pywsgi.WSGIHandler):
        """gevent's handler with a deadline on each request's line and headers, then on its
        body; what it cannot read answered in the one error shape (Connections.unreadable)."""

        _deadline = None

        def read_requestline(self):
            self._cancel()
            self._deadline = gevent.Timeout.start_new(settings["header_timeout"],
                                                      HeaderTimeout("header timeout"))
            try:
                return super().read_requestline()
            except HeaderTimeout:
                connections.header_timeouts += 1
                raise  # a socket error: gevent closes the connection, quietly

        def get_environ(self):  # called once the headers are in, before the app
            self._cancel()
            environ = super().get_environ()
            body = self.wsgi_input
            if environ["wsgi.input"] is body and (body.chunked_input or body.content_length):
                body.rfile = BodyDeadline(body.rfile, body.content_length,
                                          settings["header_timeout"], gevent.Timeout,
                                          self._body_timed_out)
            return environ

        def _body_timed_out(self):
            connections.body_timeouts += 1
            self.close_connection = True

        def handle_error(self, t, v, tb):
            if isinstance(v, BodyTimeout):  # while gevent discarded what the app did not read
                self.close_connection = True
                return
            super().handle_error(t, v, tb)

        def handle_one_request(self):
            answer = super().handle_one_request()
            if isinstance(answer, tuple):  # (status, the whole answer): a request it could not read
                return answer[0], connections.unreadable(answer[0], self.requestline or "",
                                                         self.client_address[0])
            return answer

        def _handle_client_error(self, ex):
            if isinstance(ex, HeaderTimeout):
                connections.header_timeouts += 1
                return None  # close, without a traceback in the log
            # gevent would log each (http.client's refusals with a traceback), quoting the request
            # whole; handle_one_request answers, counts and logs it. Headers too many or too long
            # are 431, as http.server (and so eventlet) answers them.
            return ("431" if isinstance(ex, http.client.HTTPException) else "400"), b""

        def handle(self):
            try:
                super().handle()
            finally:
                self._cancel()

        def handle_one_response(self):
            super().handle_one_response()
            if self.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                # The connection was a websocket (simple-websocket, on a dup of this socket): it
                # is over, and what follows on the wire is its closing frames, not a request.
                # Read on, gevent would answer them "400 Invalid HTTP method" (and log each) instead
                # of letting the close handshake end, and every client would wait for it.
                self.close_connection = True

        def _cancel(self):
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

    class Server(pywsgi.WSGIServer):
        def handle(self, sock, address):
            if not connections.admit(address[0]):
                _refuse(sock)
                return  # gevent closes the socket
            try:
                sock.settimeout(settings["socket_timeout"])
                super().handle(sock, address)
            finally:
                connections.release(address[0])

    return Server(address, app, handler_class=Handler, log="default" if log_output else None,
                  backlog=BACKLOG, spawn=Pool(pool_size))
