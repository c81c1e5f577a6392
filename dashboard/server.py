"""Everything between the client's socket and the app: eventlet's or gevent's WSGI server with
production limits, errors in the one JSON shape, and a bounded shutdown.

- A request's line and headers must arrive within `header_timeout`; any read or write waits at
  most `socket_timeout`; one address holds at most `max_connections_per_address` connections
  (more are answered 503).
- What escapes the app (python-engineio raises on some malformed input) becomes a bare 400 or 500
  in the one error shape; the detail goes to the log only, never to the client.
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
import json
import logging
import os
import signal
import socket
import sys
import time

import socketio as python_socketio
from flask import request
from socketio import packet as sio_packet

from dashboard import green
from dashboard.core.limits import MAX_DEPTH, too_deep
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


def error_bytes(status, message, code):
    """A whole HTTP response in the one error shape, for the server itself to write."""
    body = json.dumps({"ok": False, "error": message, "code": code}).encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


REFUSED = error_bytes("503 Service Unavailable", "too many connections from this address",
                      "too_many_connections")


class HeaderTimeout(socket.timeout):
    """A client took longer than `header_timeout` to send a request line and its headers."""


class Connections:
    """Open connections per client address, and what the server refused or timed out (/healthz)."""

    def __init__(self, max_per_address):
        self.max_per_address = max_per_address
        self.open = collections.Counter()
        self.refused = 0
        self.header_timeouts = 0
        self.restarts = 0  # times its server stopped and was made to listen again (keep_serving)

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

    def stats(self):
        return {"open": sum(self.open.values()), "addresses": len(self.open),
                "max_per_address": self.max_per_address, "refused": self.refused,
                "header_timeouts": self.header_timeouts, "restarts": self.restarts}


class JsonErrors:
    """WSGI middleware: an exception that escapes the app becomes a bare 400 (an Engine.IO request:
    the client sent something it could not use) or 500, as {"ok": false, "error", "code"}."""

    def __init__(self, wsgi_app, async_mode):
        self.wsgi_app = wsgi_app
        self.async_mode = async_mode
        self.errors = 0
        self.log = RateLimitedLog(log)

    def __call__(self, environ, start_response):
        try:
            return self.wsgi_app(environ, start_response)
        except Exception as exc:
            return self._answer(environ, start_response, exc)

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
            status, message, code = "400 Bad Request", "bad Engine.IO request", "bad_request"
        else:
            status, message, code = "500 Internal Server Error", "internal error", "internal_error"
        body = json.dumps({"ok": False, "error": message, "code": code}).encode()
        try:
            start_response(status, [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(body)))], sys.exc_info())
        except Exception:  # the response had begun: all that is left is to end it
            return []
        return [body]


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
        """eventlet's protocol with a deadline on each request's line and headers."""

        _deadline = None

        def _read_request_line(self):
            self._cancel()
            self._deadline = eventlet.Timeout(settings["header_timeout"],
                                              HeaderTimeout("header timeout"))
            return super()._read_request_line()

        def get_environ(self):  # called once the headers are in, before the app
            self._cancel()
            return super().get_environ()

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
        """gevent's handler with a deadline on each request's line and headers."""

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
            return super().get_environ()

        def _handle_client_error(self, ex):
            if isinstance(ex, HeaderTimeout):
                connections.header_timeouts += 1
                return None  # close, without a traceback in the log
            return super()._handle_client_error(ex)

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
