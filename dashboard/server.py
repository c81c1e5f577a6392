"""Everything between the client's socket and the app: eventlet's or gevent's WSGI server with
production limits, errors in the one JSON shape, and a bounded shutdown.

- A request's line and headers must arrive within `header_timeout`; any read or write waits at
  most `socket_timeout`; one address holds at most `max_connections_per_address` connections
  (more are answered 503).
- Each request's body has a deadline, what the server cannot read is answered in the one error
  shape, and what escapes the app is counted and answered so (dashboard/web/edge.py). A
  Socket.IO message that is not one a client may send is refused (dashboard/live/refusals.py).
- SIGTERM (or Ctrl-C) flushes the store and exits; a watchdog in a real thread ends the process
  after `shutdown_timeout` whatever clients or the store do.

Flask-SocketIO's `socketio.run` would not do: it never passes `debug=False` on to eventlet's
server (which then sends tracebacks to clients) and has no way to see each connection's address.
"""
import http.client
import logging
import os
import re
import signal

from dashboard import green
from dashboard.web.edge import (REFUSED, BodyDeadline, BodyTimeout, Connections, HeaderTimeout,
                                WsgiErrors, ambiguous_headers, bad_length, query_names)

log = logging.getLogger("dashboard.server")
access_log = logging.getLogger("dashboard.http")
QUERY = re.compile(r"\?([^\s\"]*)")


def _names_only(match):
    return "?" + query_names(match.group(1))


class AccessLog:
    """The WSGI server's access log (--log-level DEBUG, logger dashboard.http): through the
    logging module (its secret scrubbing, its handlers) rather than straight to stderr, each query
    string's values left out (`/?wall=…&link=…`): a signed wall link, or a token a client put in a
    URL, is a credential (a reach audit). eventlet calls info() and debug(), gevent write()."""

    def write(self, message, *args):
        text = (message % args if args else message).rstrip("\n")
        access_log.debug("%s", QUERY.sub(_names_only, text))

    info = debug = error = write

BACKLOG = 1024  # connections the kernel holds for accept(); it caps this at net.core.somaxconn
POOL = 1024  # connections served at once (more wait in the backlog)
# --metrics HOST:PORT: what Prometheus needs, with the app's other limits (serve_apart).
APART_POOL = 16
APART_PER_ADDRESS = 4
APART_RETRY = 5.0  # seconds before it listens again after its server stopped (eventlet's can)


class ListenError(OSError):
    """The address cannot be listened on (in use, not this machine's, a host name not found): an
    OSError, as the socket's own errors are (keep_serving tries again after either)."""


def address_text(host, port):
    """host:port as a URL writes it (an IPv6 address in brackets)."""
    from dashboard.sources.rest import bracketed

    return f"{bracketed(host)}:{port}"


def bind(host, port):
    """A socket bound to (host, port), not listening yet (app.py binds it before anything else
    starts, so that a port in use ends the start at once, while a client is refused, not held,
    until the app listens: `listen`); green once the standard library is patched; a ListenError
    that says why when it cannot be. Without SO_REUSEPORT: eventlet.listen set it by default, and
    a second dashboard started on the same port listened beside the first, the kernel sharing
    clients between two models (and, on one data folder, both storing every event: a new-user
    audit). A name's IPv4 address first (`localhost`: 127.0.0.1, as gevent's server took it)."""
    import socket

    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, sockaddr = next((a for a in found if a[0] == socket.AF_INET), found[0])
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (not a live listener's)
            sock.bind(sockaddr)
        except BaseException:
            sock.close()
            raise
    except OSError as exc:
        raise ListenError(f"cannot listen on {address_text(host, port)}: "
                          f"{exc.strerror or exc}") from None
    return sock


def listen(host, port, sock=None):
    """`sock` (bind's), or a new one bound to (host, port), listening now."""
    sock = sock if sock is not None else bind(host, port)
    sock.listen(BACKLOG)
    return sock


def _refuse(sock):
    """Answer 503 without ever waiting on the client, then let the caller close."""
    try:
        sock.settimeout(0)
        sock.send(REFUSED)
    except OSError:
        pass


def serve(app, spawn, settings, on_exit, listener=None):
    """Serve until SIGTERM or SIGINT, then run on_exit() (flush the store) and exit the process,
    within settings["shutdown_timeout"] seconds whatever happens. `listener`: bind()'s socket on
    the app's address, bound before the app was made (app.py: a port in use fails the start at
    once), listening from now."""
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
    try:  # (two started in the same moment may both have bound it: the second to listen ends)
        listener = listen(*address, sock=listener)
    except ListenError as exc:
        os.write(2, f"app.py: error: --host/--port: {exc}\n".encode())
        try:
            on_exit()
        finally:
            os._exit(1)
    if mode == "gevent":
        import gevent
        for signum in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(signum, stop)
        _gevent_server(app, settings, connections, log_output, address, POOL,
                       listener).serve_forever()
    else:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, stop)
        _eventlet_server(app, settings, connections, log_output, address, POOL, listener)()


def serve_apart(wsgi_app, host, port, settings, spawn):
    """Serve wsgi_app (the Prometheus metrics of --metrics HOST:PORT) on another address, in a
    green thread (`spawn`), with the app's protections: a deadline for each request's headers, a
    timeout on each read and write, APART_PER_ADDRESS connections from one address and APART_POOL
    in all (more wait in the backlog). Listens before it returns: a port in use fails the start
    (ListenError). Returns its Connections (what it refused or timed out)."""
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


def _eventlet_server(app, settings, connections, log_output, address, pool_size, listener=None):
    """Listen on address (host, port) now, unless `listener` already does; returns the function
    that serves (blocking)."""
    import eventlet
    import eventlet.wsgi

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
            if length is not None and (bad_length(length)
                                       or self.headers.get("transfer-encoding") is not None):
                self.send_error(400)
                return False
            if ambiguous_headers(self.headers):
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

    # (Its backlog beyond eventlet's 50: a burst of connections waits to be accepted (or refused)
    # instead of having its SYNs dropped and retried a second later.)
    listener = listener if listener is not None else listen(*address)

    def run():
        eventlet.wsgi.server(listener, app, log=AccessLog(), log_output=log_output, debug=False,
                             protocol=Protocol,
                             socket_timeout=settings["socket_timeout"],
                             custom_pool=Pool(pool_size), environ={"wsgi.errors": WsgiErrors()})
    return run


def _gevent_server(app, settings, connections, log_output, address, pool_size, listener=None):
    """The server, not started yet, for address (host, port): listening now, unless `listener`
    already does."""
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

        def read_request(self, raw_requestline):
            done = super().read_request(raw_requestline)
            if done and ambiguous_headers(self.headers):  # (answered 400: _handle_client_error)
                raise ValueError("headers a proxy in front may read otherwise")
            return done

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

    return Server(listener if listener is not None else listen(*address), app,
                  handler_class=Handler, log=AccessLog() if log_output else None,
                  spawn=Pool(pool_size))
