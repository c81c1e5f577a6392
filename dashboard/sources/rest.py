"""LAVA's REST API (/api/v0.2/) and XML-RPC, read-only: the current state, and where events are.

Every failure becomes a LavaError with a kind (unreachable, timeout, auth, server_error, http_error,
bad_json, bad_shape) and a message that never holds the token.
"""
import functools
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
import xmlrpc.client

from dashboard.core import records as snapshot
from dashboard.core.limits import MAX_DEPTH, too_deep
from dashboard.core.redact import redact

API = "/api/v0.2"
UNFINISHED = ("Submitted", "Scheduling", "Scheduled", "Running", "Canceling")
MAX_PAGES = 10_000
MAX_SINGLE_JOB_LOOKUPS = 200


class LavaError(Exception):
    """A failed talk with LAVA; `kind` says what kind of failure."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


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

    def __init__(self, base_url, token="", timeout=15.0, page_size=100):
        parts = urllib.parse.urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {redact(base_url)!r}")
        # Credentials in the URL would end up in logs and links: keep only scheme, host and path.
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        self.hostname = parts.hostname
        self._token = token or ""
        self.timeout = timeout
        self.page_size = page_size

    def _scrub(self, text):
        return text.replace(self._token, "<token>") if self._token else text

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
                           max_bytes + 1)
        return body[:max_bytes].decode("utf-8", "replace"), len(body) > max_bytes

    def _get_url(self, url, what):
        body = self._fetch(url, what, "application/json")
        try:
            text = body.decode("utf-8")
            # json.loads recurses per level: a deep answer would raise RecursionError, not ValueError.
            if too_deep(text):
                raise LavaError("bad_shape", f"LAVA's answer to {what} nests deeper than "
                                             f"{MAX_DEPTH} levels (too_deep)")
            return json.loads(text)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise LavaError("bad_json", f"LAVA answered {what} with something that is not JSON") from None

    def _fetch(self, url, what, accept, max_bytes=None):
        """The body of a GET (at most max_bytes of it), or raise LavaError."""
        request = urllib.request.Request(url, headers={"Accept": accept,
                                                       "User-Agent": "lava-live-dashboard"})
        if self._token:
            # Unredirected: urllib would otherwise send the token on to wherever a redirect points.
            request.add_unredirected_header("Authorization", f"Token {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                body = resp.read(max_bytes)
        except urllib.error.HTTPError as err:
            raise _http_error(err.code, what, err.headers.get("Content-Type", "")) from None
        except (socket.timeout, TimeoutError):
            raise LavaError("timeout", f"no answer from LAVA within {self.timeout:g} s ({what})") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise LavaError("unreachable", self._scrub(f"cannot reach LAVA at {self.base}: {reason}")) from None
        except Exception as err:  # IncompleteRead, a bad header value...: never with the token in it
            raise LavaError("http_error", self._scrub(f"talking to LAVA failed ({what}): "
                                                      f"{type(err).__name__}")) from None
        return body

    @_scrubbed
    def list_all(self, path, params=None, limit=None):
        """Every result of a paginated list (or the first `limit`), following `next`."""
        params = dict(params or {}, limit=min(self.page_size, limit or self.page_size))
        url, results = self.base + path + "?" + urllib.parse.urlencode(params), []
        for _ in range(MAX_PAGES):
            page = self._get_url(url, path)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise LavaError("bad_shape", f"LAVA answered {path} without a results list")
            results.extend(page["results"])
            nxt = page.get("next")
            if not nxt or (limit and len(results) >= limit):
                return results[:limit] if limit else results
            # LAVA builds `next` from its own idea of its address; behind a proxy that can be
            # wrong, so keep our base and take only the path and query from it.
            parts = urllib.parse.urlsplit(nxt)
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
    def fetch_snapshot(self, max_finished=500, unfinished_known=()):
        """Devices (retired too), workers, unfinished and recent finished jobs → Snapshot."""
        devices = self.list_all(f"{API}/devices/", {"all": 1})
        workers = self.list_all(f"{API}/workers/")
        jobs = self.list_all(f"{API}/jobs/", {"state__in": ",".join(UNFINISHED), "ordering": "-id"})
        if max_finished:
            jobs += self.list_all(f"{API}/jobs/", {"state": "Finished", "ordering": "-id"},
                                  limit=max_finished)
        seen = {j["id"] for j in jobs if isinstance(j, dict) and isinstance(j.get("id"), int)}
        gone = []
        # Jobs we believe unfinished that LAVA no longer lists as such: ask for each one.
        for job_id in [i for i in unfinished_known if i not in seen][:MAX_SINGLE_JOB_LOOKUPS]:
            try:
                jobs.append(self.get(f"{API}/jobs/{job_id}/"))
            except LavaError as err:
                if getattr(err, "status", None) != 404:
                    raise
                gone.append(job_id)
        try:
            return snapshot.build(devices, workers, jobs, gone)
        except snapshot.ShapeError as err:
            raise LavaError("bad_shape", f"LAVA's answer has an unexpected shape ({err.reason}): "
                                         f"{err}") from None

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
            endpoint, topic = self._xmlrpc_event_socket(), None
        if not isinstance(endpoint, str) or not endpoint.startswith("tcp://"):
            raise LavaError("bad_shape", f"LAVA names no usable event socket ({str(endpoint)[:60]!r})")
        host = endpoint[len("tcp://"):].rsplit(":", 1)[0]
        if host in ("*", "0.0.0.0", "[::]", "::"):
            endpoint = endpoint.replace(host, self.hostname, 1)
        return endpoint, topic if isinstance(topic, str) else None

    def _xmlrpc_event_socket(self):
        try:
            proxy = xmlrpc.client.ServerProxy(self.base + "/RPC2")
            return proxy.scheduler.get_publisher_event_socket()
        except Exception as err:  # a Fault, an HTML page instead of XML, a network error
            raise LavaError("http_error", self._scrub(f"XML-RPC event socket lookup failed: "
                                                      f"{type(err).__name__}")) from None


def _http_error(status, what, content_type):
    if status in (401, 403):
        error = LavaError("auth", f"LAVA refused {what} (HTTP {status}): check the token")
    elif status >= 500:
        page = " (an HTML error page)" if "html" in content_type else ""
        error = LavaError("server_error", f"LAVA failed on {what}: HTTP {status}{page}")
    else:
        error = LavaError("http_error", f"LAVA answered {what} with HTTP {status}")
    error.status = status
    return error
