"""LAVA's REST API (/api/v0.2/) and XML-RPC, read-only: the current state, and where events are.

Every failure becomes a LavaError with a kind (unreachable, tls, timeout, auth, server_error,
http_error, redirected, bad_json, bad_shape, too_large) and a message that never holds the token or
a proxy's credential.

TLS trusts the system's CAs, or only the lab's CA bundle (--lava-ca-file, a labs file's ca_file),
and no_proxy is read as the WebSocket source reads it (network.py).

A redirect is followed only within LAVA's origin (scheme, host and port unchanged), the token kept;
any other is refused (kind redirected), naming where it pointed: an anonymous answer to a request
that lost its token would hide the private jobs, and the reconcile would take them for gone.

Every exchange is bounded (docs/security.md, "What LAVA may answer"): it ends within
ANSWER_DEADLINE_FACTOR × the timeout however slowly LAVA (or a proxy) drips its answer, each read
waiting at most the timeout; an answer's body holds at most MAX_ANSWER_BYTES; a listing, all its
pages together, at most MAX_LIST_RESULTS results and MAX_LIST_BYTES bytes. An answer is parsed only
if its commas and brackets are as few as the records asked for could hold (MAX_RECORD_VALUES each):
a 16 MiB page of `{}` items cost 500 MiB and 2.7 s of the hub to parse. A page of more results
than asked for is refused.
"""
import base64
import functools
import http.client
import io
import json
import re
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xmlrpc.client

from dashboard.core import jsontext, records as snapshot
from dashboard.core.limits import MAX_DEPTH, too_deep
from dashboard.core.redact import quoted, redact, scrub
from dashboard.sources.network import bypasses_proxy, proxy_secrets, tls_context
from dashboard.sources.sockets import finish_tls, recv_within, send_within

API = "/api/v0.2"
UNFINISHED = ("Submitted", "Scheduling", "Scheduled", "Running", "Canceling")
# Records a listing of several pages may miss against its first page's count (or 5 % of it):
# records that left the list while it was read (list_all).
SHIFTED = 2
MAX_PAGES = 10_000
MAX_SINGLE_JOB_LOOKUPS = 200
# The whole of one exchange (connecting, the request, the headers, the body, redirects followed)
# ends within this many times the timeout, which bounds each read alone: a server that sends a
# byte now and then would otherwise hold a reconcile, a log tail or a viewer's request for ever.
ANSWER_DEADLINE_FACTOR = 2
# One answer's body. A real LAVA 2023.01 page of 100 jobs is about 160 kB (1.6 kB a job, its
# definition included: ../shared/fixtures/lava-2023.01/rest/jobs.json); this leaves 100 times that.
MAX_ANSWER_BYTES = 16 << 20
# One listing, every page together: twice the most jobs the model holds (--max-jobs' 50,000) ...
MAX_LIST_RESULTS = 100_000
MAX_LIST_BYTES = 256 << 20  # ... and 16 times the biggest answer
MAX_XMLRPC_BYTES = 64 << 10  # the event socket's lookup: one short string
# How many commas and brackets (_values_at_most: at least one per JSON value) an answer may hold,
# counted before it is parsed: parsing builds an object or more per value (a 16 MiB page of `{}`
# items: 4 million dicts, 500 MiB and 2.7 s of the hub). A real LAVA 2023.01 job, its definition
# included, counts about 40 (../shared/fixtures/lava-2023.01/rest/); a record may count 100 times
# that, the commas of its text included ...
MAX_RECORD_VALUES = 4096
# ... and an answer this many besides its records (a page's envelope; a whole answer of another
# kind, master_config's). A page of 100 records may then hold 475,136, about 30 MiB of objects
# at most however they are made (the answer's text aside).
MAX_ANSWER_VALUES = 65536
READ_PIECE = 64 << 10
# A plain socket's recv that finds bytes waiting never gives the green hub up: a LAVA that sent an
# endless stream (1-byte chunks, "100 Continue" after "100 Continue") held every lab and /healthz
# until the deadline. An exchange gives it up every YIELD_READS reads or YIELD_BYTES bytes, for
# YIELD_PAUSE: not 0, as gevent's sleep(0) runs up to 50 such callbacks before it polls (each after
# a share of work: a 100 Continue stream held its hub 1.3 s so), while a timer makes either hub go
# round its loop once.
YIELD_READS = 64
YIELD_BYTES = 256 << 10
YIELD_PAUSE = 0.0001
DEFAULT_PORTS = {"http": 80, "https": 443}
TUNNEL_FAILED = re.compile(r"Tunnel connection failed: (\d{3})")


# Failures of the event socket's discovery that pass (the factory asks again, with backoff),
# where another (LAVA answers, and names no usable socket) takes LAVA's WebSocket instead. Also an
# answer that is not LAVA's (a maintenance or proxy page instead of JSON, `bad_json`; a redirect
# elsewhere, `redirected`: the URL is wrong, said in the log and /healthz): a reach audit found
# either took the WebSocket for good, which then failed for good (and was sent the token
# every 10 s over http:// when LAVA redirected to https://).
TRANSIENT_DISCOVERY = ("unreachable", "tls", "timeout", "server_error", "auth", "bad_json",
                       "redirected")


# After LAVA's URL redirected a request that carried the token elsewhere, no request with the
# token is made for this long (each fails at once, saying the redirect).
REDIRECT_QUIET = 600.0

# OpenSSL's X509_V_ERR_ codes whose cure is not a CA bundle: what to do instead.
CERTIFICATE_ADVICE = {
    9: "it is not valid yet: check this machine's clock",  # CERT_NOT_YET_VALID
    10: "it has expired: LAVA's administrators must renew it (the check is never skipped)",
    62: "it is not for this host name: lava_url must name a host the certificate names",
}


class LavaError(Exception):
    """A failed talk with LAVA; `kind` says what kind of failure."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class DeadlinePassed(TimeoutError):
    """An exchange with LAVA went on past its total deadline."""


class _HubShare:
    """Gives the hub up (time.sleep, green once the app is patched) every YIELD_READS reads or
    YIELD_BYTES bytes."""

    def __init__(self):
        self.reads = self.bytes = 0

    def worked(self, size):
        """Count one read of `size` bytes; yield when the share is used up."""
        self.reads += 1
        self.bytes += size
        if self.reads >= YIELD_READS or self.bytes >= YIELD_BYTES:
            self.reads = self.bytes = 0
            time.sleep(YIELD_PAUSE)


class _DeadlineReader(io.RawIOBase):
    """A socket's reads, none begun after `deadline` (time.monotonic()) and each waiting at most
    `timeout` and never past the deadline: however slowly a server sends, reading ends by then
    (over TLS too, where a read would wait for a whole record: recv_within)."""

    def __init__(self, sock, deadline, timeout):
        super().__init__()
        self.sock, self.deadline, self.timeout = sock, deadline, timeout
        # A file of the socket's own, never read: it keeps the socket open after urllib closes
        # its handle.
        self.raw = sock.makefile("rb", buffering=0)
        self.share = _HubShare()

    def readable(self):
        return True

    def readinto(self, buffer):
        now = time.monotonic()
        if now >= self.deadline:
            raise DeadlinePassed()
        clipped = not self.timeout or self.deadline - now < self.timeout
        try:
            data = recv_within(self.sock, len(buffer),
                               self.deadline if clipped else now + self.timeout)
        except socket.timeout:
            if clipped:  # it waited for what was left of the deadline
                raise DeadlinePassed() from None
            raise
        buffer[:len(data)] = data
        self.share.worked(len(data))
        return len(data)

    def close(self):
        if not self.closed:
            self.raw.close()
        super().close()


class _DeadlineSocket:
    """What http.client reads an answer from (status line, headers, body): a _DeadlineReader."""

    def __init__(self, sock, deadline, timeout):
        self.sock, self.deadline, self.timeout = sock, deadline, timeout

    def makefile(self, mode="rb", *args, **kwargs):
        return io.BufferedReader(_DeadlineReader(self.sock, self.deadline, self.timeout))


class _Deadline:
    """An http.client connection of one exchange: connecting waits at most what is left of the
    deadline, its request is sent by the deadline, and its answers are read through
    _DeadlineSocket."""

    def __init__(self, host, *, deadline, timeout=None, **kwargs):
        self.deadline, self.read_timeout = deadline, timeout
        left = max(0.001, deadline - time.monotonic())
        super().__init__(host, timeout=min(timeout, left) if timeout else left, **kwargs)
        self.response_class = self._answer

    def send(self, data):
        """http.client's, bytes sent by the deadline in all, else DeadlinePassed (the socket's own
        sendall, over TLS under the hubs, bounds each wait alone: a LAVA, or a proxy, that read
        the request slowly held it for ever). A file or an iterable goes as http.client sends it."""
        if self.sock is None and self.auto_open:
            self.connect()
        if self.sock is None or not _bytes_like(data):  # NotConnected; a file, an iterable
            return super().send(data)
        sys.audit("http.client.send", self, data)
        timeout = self.sock.gettimeout()
        try:
            send_within(self.sock, data, self.deadline)
        except socket.timeout:
            raise DeadlinePassed() from None
        if not hasattr(self.sock, "pending"):
            # A plain socket's timeout, kept: a tunnel's TLS handshake, after this CONNECT, takes
            # the limit of each of its waits from it. (A TLS socket is read only by recv_within.)
            self.sock.settimeout(timeout)

    def _answer(self, sock, *args, **kwargs):
        return http.client.HTTPResponse(_DeadlineSocket(sock, self.deadline, self.read_timeout),
                                        *args, **kwargs)


def _bytes_like(data):
    try:
        memoryview(data)
    except TypeError:
        return False
    return True


class _DeadlineHTTP(_Deadline, http.client.HTTPConnection):
    pass


class _DeadlineHTTPS(_Deadline, http.client.HTTPSConnection):
    def connect(self):
        """HTTPSConnection's, its TLS handshake by the deadline in all (under the hubs the socket's
        timeout bounds each wait alone: a certificate sent a byte at a time held it for ever)."""
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, do_handshake_on_connect=False,
                                              server_hostname=self._tunnel_host or self.host)
        finish_tls(self.sock, self.deadline)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(_DeadlineHTTP, req, deadline=self.deadline)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline, context=None):
        super().__init__(context=context)  # None: http.client's own, the system's CAs
        self.deadline = deadline

    def https_open(self, req):
        return self.do_open(_DeadlineHTTPS, req, context=self._context, deadline=self.deadline)


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows a redirect within the request's origin (scheme, host, port), its token kept, and
    refuses any other (LavaError redirected): the token goes nowhere else, and an answer without
    it is never taken for LAVA's. The proxy's credential is never carried (the proxy handler adds
    it again when the new request goes through the proxy). The redirect's body is left unread
    (urllib reads it whole)."""

    def http_error_302(self, req, fp, code, msg, headers):
        location = headers.get("Location") or headers.get("URI")
        if location is not None:
            newurl = urllib.parse.urljoin(req.full_url, location.strip())
            if _origin(newurl) != _origin(req.full_url):
                fp.close()
                raise _redirected(newurl)
        fp.read = lambda *args: b""
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        """urllib's new request, without Proxy-Authorization, with the token if `req` had it."""
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        for name in [n for n in new.headers if n.lower() == "proxy-authorization"]:
            del new.headers[name]
        token = req.unredirected_hdrs.get("Authorization")
        if token is not None:
            new.add_unredirected_header("Authorization", token)
        return new


def _origin(url):
    """(scheme, host, port) of an http(s) URL; None for anything else (never the same origin)."""
    try:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        return scheme, parts.hostname.lower(), parts.port or DEFAULT_PORTS[scheme]
    except ValueError:  # a port that is not a number, a bracket left open
        return None


def _redirected(url):
    """The error of a redirect to another origin: where it pointed (scheme, host, port and the path
    before the API's, never a user, password or query), for lava_url."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        parts, host, port = None, "", ""
    if parts is None or not host:
        return LavaError("redirected", "LAVA redirected to an address that is not a URL; check "
                                       "lava_url")
    prefix = parts.path[:parts.path.find(API)] if API in parts.path else ""
    where = f"{parts.scheme}://{bracketed(host)}{port}{prefix.rstrip('/')}"
    return LavaError("redirected", f"LAVA redirected to {quoted(where, 120)}...; set lava_url "
                                   f"to it if LAVA is there (a redirect to another scheme, host or "
                                   f"port is not followed)")


def bracketed(host):
    """A host for a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


class _ProxyHandler(urllib.request.ProxyHandler):
    """urllib's, the environment's proxies, but no_proxy read as the WebSocket source reads it
    (network.bypasses_proxy): urllib's own way differed (an audit)."""

    def proxy_open(self, req, proxy, type):
        """urllib's, but for which host goes direct."""
        parts = urllib.parse.urlsplit("//" + req.host)
        try:
            port = parts.port or DEFAULT_PORTS.get(req.type)
        except ValueError:  # not a number: no no_proxy entry names it
            port = None
        if parts.hostname and bypasses_proxy(parts.hostname, port):
            return None
        proxy_type, user, password, hostport = urllib.request._parse_proxy(proxy)
        proxy_type = proxy_type or req.type
        if user and password:
            pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
            req.add_header("Proxy-authorization",
                           "Basic " + base64.b64encode(pair.encode()).decode("ascii"))
        req.set_proxy(urllib.parse.unquote(hostport), proxy_type)
        if proxy_type == req.type or req.type == "https":
            return None  # the next handler opens it, through the proxy
        return self.parent.open(req, timeout=req.timeout)


def _opener(deadline, context=None):
    """urllib's opener of one exchange, of http and https only (no ftp:, file: or data: handler:
    FTP's reads would know no deadline) and the environment's proxies; `context`: https's
    SSLContext (None: the system's CAs)."""
    opener = urllib.request.OpenerDirector()
    for handler in (_ProxyHandler(), urllib.request.UnknownHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor(),
                    _HTTPHandler(deadline), _HTTPSHandler(deadline, context), _RedirectHandler()):
        opener.add_handler(handler)
    return opener


def _tunnel_refused(status):
    """Why a proxy's CONNECT failed, by its status alone (its reason phrase may quote anything)."""
    if status == 407:
        return ("the proxy refused CONNECT to LAVA (HTTP 407): check the user and password in "
                "https_proxy")
    return f"the proxy answered CONNECT to LAVA with HTTP {status}, not a tunnel"


def _size(n):
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def _scrubbed(method):
    """The method's LavaError never holds the token: a LAVA that echoes it into a field (a
    bad_shape message quotes fields) must not put it in a log line, /healthz or a page."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except LavaError as err:
            err.args = (self._scrub(str(err)),)
            raise
    return wrapper


class LavaRest:
    """A small client of one LAVA server."""

    def __init__(self, base_url, token="", timeout=15.0, page_size=100, max_bytes=MAX_ANSWER_BYTES,
                 max_results=MAX_LIST_RESULTS, max_list_bytes=MAX_LIST_BYTES, ca_file=""):
        try:
            parts = urllib.parse.urlsplit(base_url.rstrip("/"))
            port = parts.port  # ValueError: not a number, or out of 0-65535
        except ValueError:
            # Never Python's words: "Port could not be cast to integer value as 'SECRET'" showed
            # a piece of a password with a '/' in it (a reach audit).
            raise ValueError("not a URL that can be read: its port must be a number from 1 to "
                             "65535 (a password's '/', '?', '#' or '@' must be written %2F, %3F, "
                             "%23, %40; the URL is not shown: it may hold one)") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {redact(base_url)!r}")
        # Credentials in the URL would end up in logs and links: keep only scheme, host and path.
        # They are never sent (LAVA takes a token); `has_credentials` lets the start say so.
        self.has_credentials = parts.username is not None or parts.password is not None
        netloc = bracketed(parts.hostname) + (f":{port}" if port else "")
        # LAVA's API URL given for LAVA's (".../api/v0.2/"): its base is meant (the start says so;
        # a reach audit: every read answered 404, without a hint).
        path = parts.path.rstrip("/")
        self.api_path_dropped = path.endswith(API)
        path = path[:-len(API)] if self.api_path_dropped else parts.path
        self.base = urllib.parse.urlunsplit((parts.scheme, netloc, path, "", ""))
        self.hostname = parts.hostname
        self._token = token or ""
        # (until when, what was said) after LAVA's URL answered a request that carried the token
        # with a redirect elsewhere (http:// to https://, say): until then no such request is
        # made (a reach audit: the token was sent in clear every 10 s, for ever). Not for good:
        # a passing redirect (a proxy's login page during maintenance) must not leave the lab
        # read without its token, and an answer without it is never taken for LAVA's.
        self._redirected = None
        self.timeout = timeout  # each read's wait
        self.deadline = ANSWER_DEADLINE_FACTOR * timeout  # the whole exchange's
        self.page_size = page_size
        self.max_bytes = max_bytes
        self.max_results = max_results
        self.max_list_bytes = max_list_bytes
        # The CAs trusted: the system's (None), or only those of the lab's bundle. ValueError
        # when it cannot be loaded (said at start: config.check_ca_file).
        self._tls = tls_context(ca_file)

    @property
    def redirect_unresolved(self):
        """Whether the last request with the token was redirected elsewhere, and none has been
        answered since: the WebSocket sends no token then (its reconnections, every 10 s, would
        otherwise send it in clear once each REDIRECT_QUIET is over, until a REST read with the
        token tried again: a review)."""
        return self._redirected is not None

    @property
    def token_withheld(self):
        """Whether requests with the token are not made now: LAVA's URL redirected elsewhere less
        than REDIRECT_QUIET seconds ago."""
        return self._redirected is not None and time.monotonic() < self._redirected[0]

    def _scrub(self, text):
        text = text.replace(self._token, "<token>") if self._token else text
        return scrub(text, proxy_secrets())

    @_scrubbed
    def get(self, path, params=None):
        """GET base+path?params → parsed JSON, or raise LavaError."""
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        return self._get_url(self.base + path + query, path)

    @_scrubbed
    def get_text(self, path, params=None, max_bytes=1 << 20):
        """GET base+path?params → (text, whether it was cut at max_bytes), or raise LavaError
        (a job's log: YAML, not JSON)."""
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        body = self._fetch(self.base + path + query, path, "application/yaml, text/plain",
                           max_bytes, cut=True)
        return body[:max_bytes].decode("utf-8", "replace"), len(body) > max_bytes

    def _get_url(self, url, what):
        return self._json(self._fetch(url, what, "application/json", self.max_bytes), what)

    @staticmethod
    def _json(body, what, records=1):
        """The parsed answer, if its commas and brackets are as few as `records` records (a
        page's limit; 1 for one object) could hold; too_large, unparsed, otherwise."""
        values, most = _values_at_most(body), MAX_ANSWER_VALUES + records * MAX_RECORD_VALUES
        if values > most:
            raise LavaError("too_large", f"LAVA's answer to {what} has {values:,} commas and "
                                         f"brackets, more than {records:,} "
                                         f"record{'s' * (records != 1)} could hold ({most:,}): "
                                         f"refused unparsed")
        try:
            text = body.decode("utf-8")
            # json.loads recurses per level: a deep answer would raise RecursionError, not ValueError.
            if too_deep(text):
                raise LavaError("bad_shape", f"LAVA's answer to {what} nests deeper than "
                                             f"{MAX_DEPTH} levels (too_deep)")
            return json.loads(text, **jsontext.FINITE)  # no NaN, Infinity or 1e999 in the model
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise LavaError("bad_json", f"LAVA answered {what} with something that is not JSON") from None

    def _fetch(self, url, what, accept, max_bytes, cut=False, data=None, token=True):
        """The body of a GET (a POST of `data`), or raise LavaError. The whole exchange ends
        within self.deadline seconds (kind timeout). A body over max_bytes is refused (kind
        too_large, unread when its length says so); with `cut`, its first max_bytes + 1 bytes are
        returned instead (the caller says it was cut)."""
        headers = {"Accept": accept, "User-Agent": "lava-live-dashboard"}
        if data is not None:
            headers["Content-Type"] = "text/xml"
        request = urllib.request.Request(url, data=data, headers=headers)
        if self._token and token:
            if self.token_withheld:
                raise LavaError("redirected", self._redirected[1])
            # Unredirected: urllib would otherwise send the token on to wherever a redirect points.
            request.add_unredirected_header("Authorization", f"Token {self._token}")
        deadline = time.monotonic() + self.deadline
        opener = _opener(deadline, self._tls)
        direct = request.host  # (a proxy's host:port in its place when the request goes through one)
        try:
            with opener.open(request, timeout=self.timeout) as resp:
                length = resp.headers.get("Content-Length", "")
                if not cut and length.isdigit() and int(length) > max_bytes:
                    raise self._too_large(what, max_bytes, unread=True)
                body = self._read(resp, max_bytes + 1, deadline)
            if request.has_header("Authorization"):
                self._redirected = None  # answered with the token: LAVA is at its URL again
        except LavaError as err:
            if err.kind == "redirected" and request.has_header("Authorization"):
                said = (f"{err}; LAVA is not asked with the token at {self.base} again for "
                        f"{REDIRECT_QUIET / 60:g} minutes")
                self._redirected = (time.monotonic() + REDIRECT_QUIET, said)
                raise LavaError("redirected", said) from None
            raise
        except urllib.error.HTTPError as err:
            err.close()
            raise _http_error(err.code, what, err.headers.get("Content-Type", "")) from None
        except (socket.timeout, TimeoutError) as err:  # DeadlinePassed is one
            raise self._timeout(what, err, deadline) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            if isinstance(reason, (socket.timeout, TimeoutError)):  # while connecting
                raise self._timeout(what, reason, deadline) from None
            if isinstance(reason, ssl.SSLError):  # (SSLCertVerificationError is one)
                raise self._tls_failed(reason) from None
            tunnel = TUNNEL_FAILED.match(str(reason))
            if tunnel:  # the proxy's reason phrase is its own text: never quoted
                why = _tunnel_refused(int(tunnel.group(1)))
                raise LavaError("unreachable", f"cannot reach LAVA at {self.base}: {why}") from None
            # Through a proxy, the proxy is named: a dead proxy was blamed on LAVA (a reach audit).
            via = (f" through the proxy {request.host} (the environment's "
                   f"{request.type}_proxy)" if request.host != direct else "")
            raise LavaError("unreachable", self._scrub(
                f"cannot reach LAVA at {self.base}{via}: {reason}")) from None
        except Exception as err:  # IncompleteRead, a bad header value...: never with the token in it
            raise LavaError("http_error", self._scrub(f"talking to LAVA failed ({what}): "
                                                      f"{type(err).__name__}")) from None
        if len(body) > max_bytes and not cut:
            raise self._too_large(what, max_bytes)
        return body

    @staticmethod
    def _read(resp, limit, deadline):
        """At most `limit` bytes of the body, a piece at a time, the clock checked between pieces
        (and by _DeadlineReader before each read from the socket); the hub given up now and then
        (1-byte chunks are 1-byte pieces, many to a read from the socket)."""
        body, share = bytearray(), _HubShare()
        while len(body) < limit:
            if time.monotonic() >= deadline:
                raise DeadlinePassed()
            piece = resp.read1(min(READ_PIECE, limit - len(body)))
            if not piece:
                if resp.length:  # the connection closed before the length it announced
                    raise http.client.IncompleteRead(b"", resp.length)
                break
            body += piece
            share.worked(len(piece))
        return bytes(body)

    def _timeout(self, what, err, deadline):
        if isinstance(err, DeadlinePassed) or time.monotonic() >= deadline:
            return LavaError("timeout", f"LAVA's answer to {what} was not complete within "
                                        f"{self.deadline:g} s, the deadline of one answer "
                                        f"({ANSWER_DEADLINE_FACTOR} × the {self.timeout:g} s "
                                        f"timeout)")
        return LavaError("timeout", f"no answer from LAVA within {self.timeout:g} s ({what})")

    def _tls_failed(self, err):
        """The error of a TLS handshake or record that failed: most often a certificate signed by
        a CA this lab does not trust (a private CA: --lava-ca-file)."""
        if isinstance(err, ssl.SSLCertVerificationError):
            # The advice fits the failure (a reach audit: an expired certificate, or one for
            # another name, was told to give a CA bundle).
            advice = CERTIFICATE_ADVICE.get(err.verify_code, "if a private CA signed it, give its "
                                            "certificate with --lava-ca-file (ca_file in a labs file)")
            return LavaError("tls", self._scrub(
                f"LAVA's TLS certificate at {self.base} could not be verified "
                f"({err.verify_message or err.reason}): {advice}"))
        return LavaError("tls", self._scrub(f"TLS with LAVA at {self.base} failed "
                                            f"({err.reason or type(err).__name__})"))

    @staticmethod
    def _too_large(what, max_bytes, unread=False):
        return LavaError("too_large", f"LAVA's answer to {what} is larger than {_size(max_bytes)}, "
                                      f"the limit of one answer"
                                      + (" (its length says so: not read)" if unread else ""))

    @_scrubbed
    def list_all(self, path, params=None, limit=None):
        """Every result of a paginated list (or the first `limit`), following `next`; at most
        max_results results and max_list_bytes bytes in all its pages (kind too_large)."""
        params = dict(params or {}, limit=min(self.page_size, limit or self.page_size))
        per_page = params["limit"]
        url, results, used = self.base + path + "?" + urllib.parse.urlencode(params), [], 0
        fetched, count = set(), None
        for _ in range(MAX_PAGES):
            if url in fetched:  # a `next` back to a page read: it would loop MAX_PAGES times
                raise LavaError("bad_shape", f"LAVA's next page of {path} is one already read "
                                             f"(after {len(fetched)} pages)")
            fetched.add(url)
            left = self.max_list_bytes - used
            try:
                body = self._fetch(url, path, "application/json", min(self.max_bytes, left))
            except LavaError as err:
                if err.kind == "too_large" and left < self.max_bytes:
                    raise LavaError("too_large", f"LAVA's pages of {path} add up to more than "
                                                 f"{_size(self.max_list_bytes)}, the limit of one "
                                                 f"listing") from None
                raise
            used += len(body)
            page = self._json(body, path, records=per_page)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise LavaError("bad_shape", f"LAVA answered {path} without a results list")
            if len(page["results"]) > per_page:
                raise LavaError("bad_shape", f"LAVA answered {len(page['results']):,} results of "
                                             f"{path} on one page, more than the {per_page} asked "
                                             f"for")
            results.extend(page["results"])
            if len(fetched) == 1:
                count = page.get("count")
            if limit and len(results) >= limit:
                return results[:limit]
            if len(results) > self.max_results:
                raise LavaError("too_large", f"LAVA lists more than {self.max_results:,} results "
                                             f"of {path}, the limit of one listing")
            nxt = page.get("next")
            if nxt is not None and not isinstance(nxt, str):
                raise LavaError("bad_shape", f"LAVA answered {path} with a next page that is not "
                                             f"a URL: {quoted(nxt)}")
            if not nxt:
                # Fewer than LAVA counted: pages lost on the way (a proxy, a LAVA cut short). Taken
                # as the whole, it would make the reconcile remove every record missing from it.
                # Across pages a few may be missed honestly: a record that left the list while it
                # was read (a job finished) moves those after it a place up, past a page's edge.
                counted = count if isinstance(count, int) and not isinstance(count, bool) else 0
                missed = 0 if len(fetched) == 1 else max(SHIFTED, counted // 20)
                if counted - len(results) > missed:
                    raise LavaError("bad_shape", f"LAVA said {count} results of {path}, listed "
                                                 f"{len(results)}")
                return results
            # LAVA builds `next` from its own idea of its address; behind a proxy that can be
            # wrong, so keep our base and take only the path and query from it.
            try:
                parts = urllib.parse.urlsplit(nxt)
            except ValueError:
                raise LavaError("bad_shape", f"LAVA answered {path} with a next page that is not "
                                             f"a URL: {quoted(nxt)}") from None
            url = self.base + parts.path[parts.path.find(API):] + "?" + parts.query
        raise LavaError("bad_shape", f"{path}: more than {MAX_PAGES} pages")

    @_scrubbed
    def visible_job_ids(self, max_finished=500):
        """Ids of the unfinished and recent finished jobs LAVA lists for whoever this client reads
        as (without a token: the public ones)."""
        jobs = self.list_all(f"{API}/jobs/", {"state__in": ",".join(UNFINISHED), "ordering": "-id"})
        if max_finished:
            jobs += self.list_all(f"{API}/jobs/", {"state": "Finished", "ordering": "-id"},
                                  limit=max_finished)
        return {j.get("id") for j in jobs if isinstance(j, dict)}

    @_scrubbed
    def fetch_snapshot(self, max_finished=500, unfinished_known=(), crowded=False):
        """Devices (retired too), workers, unfinished and recent finished jobs → Snapshot.
        `crowded`: the model holds all the jobs it may, so those of `unfinished_known` past the
        lookups' bound are taken as gone unasked (below)."""
        devices = self.list_all(f"{API}/devices/", {"all": 1})
        workers = self.list_all(f"{API}/workers/")
        jobs = self.list_all(f"{API}/jobs/", {"state__in": ",".join(UNFINISHED), "ordering": "-id"})
        if max_finished:
            jobs += self.list_all(f"{API}/jobs/", {"state": "Finished", "ordering": "-id"},
                                  limit=max_finished)
        seen = {j["id"] for j in jobs if isinstance(j, dict) and isinstance(j.get("id"), int)}
        gone = []
        # Jobs we believe unfinished that LAVA no longer lists as such: ask for each one.
        missing = [i for i in unfinished_known if i not in seen]
        for job_id in missing[:MAX_SINGLE_JOB_LOOKUPS]:
            try:
                jobs.append(self.get(f"{API}/jobs/{job_id}/"))
            except LavaError as err:
                if getattr(err, "status", None) != 404:
                    raise
                gone.append(job_id)
        # Past that bound, while the model is full, gone without asking: LAVA's list of unfinished
        # jobs is whole, so such a job has finished outside the newest finished ones read or never
        # was. (A hardening audit: a publisher's made-up Submitted jobs filled the model, and real
        # new jobs were refused, for the 20 hours that asking 200 a round took.) Otherwise they are
        # asked about in later rounds, and a job that finished while events were lost gets its
        # real end (a review: taken as gone, its outcome was lost to reports and statistics).
        unchecked = missing[MAX_SINGLE_JOB_LOOKUPS:] if crowded else []
        gone += unchecked
        snap = snapshot.build(devices, workers, jobs, gone)
        snap.gone_unchecked = len(unchecked)
        # A record's message may quote a field, and a field may quote what LAVA was sent.
        snap.skipped.samples = [(kind, self._scrub(text), self._scrub(said))
                                for kind, text, said in snap.skipped.samples]
        return snap

    @_scrubbed
    def whoami(self):
        """The LAVA user this client's token belongs to, or None (anonymous)."""
        answer = self.get(f"{API}/system/whoami/")
        user = answer.get("user") if isinstance(answer, dict) else None
        return user if isinstance(user, str) and user else None

    @_scrubbed
    def discover_event_socket(self):
        """(endpoint, topic) of the server's lava-publisher, '*' replaced by the server's name."""
        try:
            config = self.get(f"{API}/system/master_config/")
            if not isinstance(config, dict):
                raise LavaError("bad_shape", "master_config is not a JSON object")
            endpoint, topic = config.get("EVENT_SOCKET"), config.get("EVENT_TOPIC")
        except LavaError as err:
            if err.kind in ("unreachable", "timeout"):
                raise
            try:
                endpoint, topic = self._xmlrpc_event_socket(), None
            except LavaError:
                # Both failed: a LAVA failing now (5xx, TLS, a refused token) is asked again
                # later, as its own failure says (an audit: its XML-RPC's failure, an http_error,
                # made the discovery take the WebSocket for good after a passing HTTP 500)
                if err.kind in TRANSIENT_DISCOVERY:
                    raise err from None
                raise
        if not isinstance(endpoint, str) or not endpoint.startswith("tcp://"):
            # Quoted whole or not at all (the token is scrubbed from errors only whole).
            raise LavaError("bad_shape", f"LAVA names no usable event socket: {quoted(endpoint, 60)}")
        host = endpoint[len("tcp://"):].rsplit(":", 1)[0]
        if host in ("*", "0.0.0.0", "[::]", "::"):
            endpoint = endpoint.replace(host, bracketed(self.hostname), 1)
        return endpoint, topic if isinstance(topic, str) else None

    def _xmlrpc_event_socket(self):
        """scheduler.get_publisher_event_socket() over XML-RPC (no token: LAVA's XML-RPC takes
        none in this form), bounded like every exchange; any failure is an http_error, for
        discovery to fall back to the WebSocket."""
        call = xmlrpc.client.dumps((), "scheduler.get_publisher_event_socket").encode()
        try:
            answer = self._fetch(self.base + "/RPC2", "XML-RPC", "text/xml", MAX_XMLRPC_BYTES,
                                 data=call, token=False)
            return xmlrpc.client.loads(answer)[0][0]
        except LavaError as err:
            raise LavaError("http_error", f"XML-RPC event socket lookup failed: {err}") from None
        except Exception as err:  # a Fault, an HTML page instead of XML, no value
            raise LavaError("http_error", self._scrub(f"XML-RPC event socket lookup failed: "
                                                      f"{type(err).__name__}")) from None


def _values_at_most(body):
    """At most how many JSON values the JSON text `body` (bytes) holds, counted in C: a value is
    the document, an array's item or an object member's value, and each item or member but a
    container's first follows a comma. (Commas and brackets inside strings count too: they only
    make it more.)"""
    return body.count(b",") + body.count(b"[") + body.count(b"{") + 1


def _http_error(status, what, content_type):
    if status in (401, 403):
        error = LavaError("auth", f"LAVA refused {what} (HTTP {status}): check the token")
    elif status == 429:  # busy, or a proxy's rate limit: it passes (discovery asks again)
        error = LavaError("server_error", f"LAVA is busy: it answered {what} with HTTP 429 "
                                          f"(too many requests)")
    elif status >= 500:
        page = " (an HTML error page)" if "html" in content_type else ""
        error = LavaError("server_error", f"LAVA failed on {what}: HTTP {status}{page}")
    else:
        error = LavaError("http_error", f"LAVA answered {what} with HTTP {status}")
    error.status = status
    return error
