"""Everything between the client's socket and the app: eventlet's or gevent's WSGI server with
production limits, errors in the one JSON shape, and a bounded shutdown.

- A request's line and headers must arrive within `header_timeout`; any read or write waits at
  most `socket_timeout`; one address holds at most `max_connections_per_address` connections
  (more are answered 503).
- What escapes the app (python-engineio raises on some malformed input) becomes a bare 400 or 500
  in the one error shape; the detail goes to the log only, never to the client.
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

from dashboard import green
from dashboard.live.health import RateLimitedLog

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
