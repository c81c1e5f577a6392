"""One notification to each of its Apprise URLs, each URL in a child process of its own
(`python -m dashboard.alerts.sender`), so that a hostile destination costs bounded time and memory.

Apprise's timeout bounds each wait for bytes only (a webhook that answers a byte every 2 s holds a
send for ever), and its plugins read an answer whole (an endless body fills the memory). So the
app's end, send_in_children (blocking: it runs in a real thread, run_in_thread), starts a child
for each URL (MAX_CHILDREN at a time), gives it its URL, title, body and severity as JSON on its
stdin (never its command line or environment: the URL holds a token; nor the app's settings), and
kills it `deadline` seconds after its start. Each child limits its own address space to
`memory_mib` before it imports Apprise, and answers one line of JSON on stdout. Its stderr (a
traceback may hold the URL) is read bounded and goes only into a failure's reason, its URL's
secrets taken out before it is cut (the Notifier scrubs it again before it logs or shows it).

In the child, requests check certificates against SSL_CERT_FILE when it is set (as the rest of
the dashboard does; requests reads certifi's CAs otherwise), unless REQUESTS_CA_BUNDLE says
otherwise, and a failed check is said in words (Apprise says "a connection error"). Requests
follow no redirect (one counts failed, "redirect not followed (to HOST)": it would take the URL's
headers, +X-Api-Key=..., to any host) and read MAX_RESPONSE bytes of an answer at most, so that
its status decides (_bounded_requests).

The app's end uses the unpatched os and select (whichever of eventlet or gevent patched them): it
runs in a real OS thread, where a green call would wait on a hub that does not run there.
"""
import importlib
import json
import logging
import os
import select
import sys
import time
import types

MAX_CHILDREN = 4  # URLs of one send sent at once
MAX_TEXT = 8000  # characters of a title or body given to a child
MAX_ANSWER = 16384  # bytes of a child's stdout read; more is a broken child
STDERR_KEPT = 2048  # bytes of a child's stderr kept (the end of it), for a failure's reason
MAX_REASON = 300  # characters of a failure's reason, once its URL's secrets are out of it
MAX_RESPONSE = 65536  # bytes of a destination's answer a child reads; its status decides
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OS_CALLS = ("pipe", "posix_spawn", "read", "write", "close", "waitpid", "kill", "set_blocking")
# What of the app's environment a child gets: where to find Python's and Apprise's parts, the
# proxies and certificates a destination may need, the locale. Not the rest: the app's own
# settings (DASHBOARD_*) may hold its LAVA token, its secret key, a database's password.
CHILD_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
             "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "http_proxy", "https_proxy", "no_proxy",
             "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "all_proxy")


def _unpatched(module, *names):
    """The functions `names` of a standard module as they were before eventlet or gevent patched
    it (storage.threads.unpatched's twin: alerts/ may not import storage/)."""
    if "eventlet" in sys.modules:
        from eventlet import patcher
        original = patcher.original(module)
        values = [getattr(original, name) for name in names]
    elif "gevent" in sys.modules:
        from gevent import monkey
        values = monkey.get_original(module, list(names))
    else:
        original = importlib.import_module(module)
        values = [getattr(original, name) for name in names]
    return types.SimpleNamespace(**dict(zip(names, values)))


def child_env(environ=None):
    """The environment a child is started with (CHILD_ENV, LC_*, and this package on its path)."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if k in CHILD_ENV or k.startswith("LC_")}
    env["PYTHONPATH"] = ROOT
    return env


def _without_secrets(text, url):
    """`text` without its URL's secrets (delivery.secrets_of: the URL, its password, any piece of
    it that may be a token), then cut to MAX_REASON: cut first, a token might be found no more."""
    from dashboard.alerts.delivery import secrets_of
    from dashboard.core.redact import scrub

    return scrub(str(text), secrets_of([url]))[:MAX_REASON]


class _Child:
    """One URL's child process, as the app sees it: its pid, pipes, what it was still to be given
    and what it said so far, and when it must have ended."""

    def __init__(self, os_, sleep, executable, url, request, ends):
        self.os, self.sleep, self.url, self.ends = os_, sleep, url, ends
        self.inp, self.out, self.err, self.said, self.errors = None, None, None, b"", b""
        self.request = request
        fds = []
        try:
            stdin_r, stdin_w = os_.pipe()
            fds += [stdin_r, stdin_w]
            out_r, out_w = os_.pipe()
            fds += [out_r, out_w]
            err_r, err_w = os_.pipe()
            fds += [err_r, err_w]
            # -P: the working directory is not put on its path (its own package is, PYTHONPATH).
            self.pid = os_.posix_spawn(
                executable, [executable, "-P", "-m", "dashboard.alerts.sender"], child_env(),
                file_actions=[(os.POSIX_SPAWN_DUP2, stdin_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
                              (os.POSIX_SPAWN_DUP2, err_w, 2)])
        except BaseException:
            for fd in fds:
                os_.close(fd)
            raise
        for fd in (stdin_r, out_w, err_w):
            os_.close(fd)
        self.inp, self.out, self.err = stdin_w, out_r, err_r
        os_.set_blocking(stdin_w, False)
        self.feed()

    def fds(self):
        """Its pipes still open: (fd, True if it is written to)."""
        return [(fd, fd == self.inp) for fd in (self.inp, self.out, self.err) if fd is not None]

    def feed(self):
        """Write what the pipe to its stdin takes of the request; close it once all is given (a
        request may be larger than the pipe's buffer: it is given as the child reads it)."""
        try:
            self.request = self.request[self.os.write(self.inp, self.request):]
        except BlockingIOError:
            return
        except OSError:  # the child is gone already: it says so on stderr, or not at all
            self.request = b""
        if not self.request:
            self.os.close(self.inp)
            self.inp = None

    def read(self, fd):
        """Take what the pipe `fd` holds (bounded)."""
        data = self.os.read(fd, 65536)
        if fd == self.out:
            self.said = (self.said + data)[:MAX_ANSWER + 1]
        else:
            self.errors = (self.errors + data)[-STDERR_KEPT:]
        if not data:
            self.os.close(fd)
            if fd == self.out:
                self.out = None
            else:
                self.err = None

    def end(self, kill):
        """Close its pipes and reap it: killed first if `kill`, else given a second to end (it
        closed its stdout and stderr: it is ending). Bounded: 2 s at most."""
        for fd, _ in self.fds():
            self.os.close(fd)
        self.inp = self.out = self.err = None
        until = time.monotonic() + 2.0
        while True:
            if kill:
                try:
                    self.os.kill(self.pid, 9)
                except OSError:
                    pass
            try:
                pid, status = self.os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else (gevent's SIGCHLD watcher)
                return None
            if pid == self.pid:
                return status
            if time.monotonic() >= until:
                return None
            kill = kill or time.monotonic() >= until - 1.0
            self.sleep(0.005)

    def reason(self, status, memory_mib):
        """None if it said the destination took it, else why not (its URL's secrets taken out)."""
        try:
            answer = json.loads(self.said) if len(self.said) <= MAX_ANSWER else None
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "ok" in answer:
            return None if answer["ok"] is True else _without_secrets(
                answer.get("reason") or "it failed", self.url)
        last = (self.errors.decode("utf-8", "replace").strip().splitlines() or [""])[-1]
        if "MemoryError" in last:
            return f"used more than {memory_mib} MiB"
        how = (f"ended by signal {os.WTERMSIG(status)}" if status is not None and os.WIFSIGNALED(status)
               else f"ended with code {os.WEXITSTATUS(status)}" if status is not None
               else "ended")
        return _without_secrets(f"its sending process {how} without an answer"
                                + (f" ({last})" if last else ""), self.url)


def send_in_children(urls, title, body, severity, deadline, memory_mib, executable=sys.executable):
    """One notification to each URL, each in a child process of at most `memory_mib` MiB that has
    `deadline` seconds from its start (MAX_CHILDREN at once: all of them within
    ceil(len(urls) / MAX_CHILDREN) deadlines). Blocking: run it in a real thread. Returns
    {url: why} of the URLs that did not take it (their secrets taken out of the reasons)."""
    os_ = _unpatched("os", *OS_CALLS)
    poll = _unpatched("select", "poll").poll
    sleep = _unpatched("time", "sleep").sleep
    waiting, children, failed = list(urls), [], {}
    request = {"title": title[:MAX_TEXT], "body": body[:MAX_TEXT], "severity": severity,
               "memory_mib": memory_mib, "deadline": deadline}
    late = f"timed out after {deadline:g} s"
    try:
        while waiting or children:
            while waiting and len(children) < MAX_CHILDREN:
                url = waiting.pop(0)
                children.append(_Child(os_, sleep, executable, url,
                                       json.dumps(dict(request, url=url)).encode(),
                                       time.monotonic() + deadline))
            now = time.monotonic()
            for child in [c for c in children if c.ends <= now]:  # its time is up: killed
                children.remove(child)
                child.end(kill=True)
                failed[child.url] = late
            by_fd, poller = {}, poll()
            for child in children:
                for fd, writing in child.fds():
                    by_fd[fd] = child
                    poller.register(fd, select.POLLOUT if writing else select.POLLIN)
            if not by_fd:
                continue
            left = min(c.ends for c in children) - now
            for fd, _ in poller.poll(max(0.0, min(left, 1.0)) * 1000):
                child = by_fd[fd]
                if fd == child.inp:
                    child.feed()
                elif fd in (child.out, child.err):
                    child.read(fd)
            for child in [c for c in children if c.out is None and c.err is None]:
                children.remove(child)  # it has said all it will: reaped
                why = child.reason(child.end(kill=child.inp is not None), memory_mib)
                if why:
                    failed[child.url] = why
    finally:  # an error here: what is left is killed, and counts failed
        for child in children:
            child.end(kill=True)
            failed.setdefault(child.url, late)
        for url in waiting:
            failed[url] = late
    return failed


# -- the child -----------------------------------------------------------------------------------
class _LastWarning(logging.Handler):
    """Keeps Apprise's last warning (why it failed); nothing goes to stderr."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.last = None

    def emit(self, record):
        try:
            self.last = record.getMessage()[:2000]  # its secrets out, then cut: in the app
        except Exception:  # noqa: BLE001 - a bad log call must not end the send
            self.last = None


def _openssl_cas_for_requests(environ):
    """requests checks certificates against certifi's CAs, not OpenSSL's: SSL_CERT_FILE (or
    SSL_CERT_DIR), which replaces the system's CAs for the rest of the dashboard (docs/labs.md),
    is made requests' too, unless REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE names its own."""
    if environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE"):
        return
    cas = environ.get("SSL_CERT_FILE") or environ.get("SSL_CERT_DIR")
    if cas:
        environ["REQUESTS_CA_BUNDLE"] = cas


def _tls_reason(exc):
    """What of a TLS failure may be said (the certificate's check, OpenSSL's reason), from the
    ssl error in the exception's chain; None if there is none. Never the exception's text: it
    names the URL's path, which may be a token."""
    import ssl

    seen = 0
    todo = [exc]
    while todo and seen < 50:  # bounded: chains and args are short
        seen += 1
        item = todo.pop()
        if isinstance(item, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {item.verify_message or item.reason}"[:200]
        if isinstance(item, ssl.SSLError):
            return f"TLS failed: {item.reason or type(item).__name__}"[:200]
        if isinstance(item, BaseException):
            todo += [a for a in item.args if isinstance(a, BaseException)]
            todo += [x for x in (item.__cause__, item.__context__, getattr(item, "reason", None))
                     if isinstance(x, BaseException)]
    return None


def _bounded_requests(redirects, tls_failures=None):
    """Make every request of this (child) process follow no redirect, and read at most
    MAX_RESPONSE bytes of an answer before it closes the connection; the host each redirect
    named goes into `redirects`. Apprise's plugins call requests.post/get/... (or a Session's),
    all of which go through requests.Session.request, so its defaults are overridden there."""
    import urllib.parse

    import requests

    original = requests.Session.request

    def request(self, method, url, *args, **kwargs):
        # A redirect would take the notification, and the URL's headers (+X-Api-Key=...), to any
        # host it names; a huge answer to a message taken would count failed and be sent again.
        kwargs["allow_redirects"], kwargs["stream"] = False, True
        try:
            response = original(self, method, url, *args, **kwargs)
        except requests.exceptions.SSLError as exc:  # Apprise says only "a connection error"
            if tls_failures is not None:
                tls_failures.append(_tls_reason(exc) or "TLS failed")
            raise
        if 300 <= response.status_code < 400:
            target = urllib.parse.urljoin(str(url), response.headers.get("location", ""))
            redirects.append((urllib.parse.urlsplit(target).hostname or "?")[:100])
        kept, size = [], 0
        try:
            for chunk in response.iter_content(16384):
                kept.append(chunk)
                size += len(chunk)
                if size >= MAX_RESPONSE:
                    break
        except requests.RequestException:  # a broken answer: its status still says
            pass
        finally:
            response._content = b"".join(kept)[:MAX_RESPONSE]
            response.close()
        return response

    requests.Session.request = request


def send_one(request):
    """(ok, reason) of one notification to request["url"] through Apprise."""
    redirects, tls_failures = [], []
    _openssl_cas_for_requests(os.environ)
    _bounded_requests(redirects, tls_failures)
    import apprise

    handler = _LastWarning()
    logger = logging.getLogger("apprise")
    logger.addHandler(handler)
    logger.propagate = False
    kind = {"critical": apprise.NotifyType.FAILURE, "warning": apprise.NotifyType.WARNING,
            "info": apprise.NotifyType.INFO}.get(request.get("severity"), apprise.NotifyType.WARNING)
    server = apprise.Apprise.instantiate(request["url"], suppress_exceptions=True)
    if server is None:
        return False, "a URL that Apprise cannot use"
    try:
        # The plugin itself, not Apprise.notify: that would swallow a MemoryError as any failure.
        ok = server.notify(title=request["title"], body=request["body"], notify_type=kind)
        if redirects:  # a failure even if its plugin takes any status below 400
            return False, f"redirect not followed (to {redirects[-1]})"
        if ok:
            return True, None
        if tls_failures:  # with what Apprise said (its words name no certificate)
            return False, f"{tls_failures[-1]} ({handler.last or 'Apprise said it failed'})"
        return False, handler.last or "Apprise said it failed"
    except MemoryError:
        return False, f"used more than {request['memory_mib']} MiB"
    except Exception as exc:  # noqa: BLE001 - said to the app, which scrubs it
        return False, f"{type(exc).__name__}: {exc}"[:2000]  # (as the warning above)


def main():
    import math
    import resource
    import signal

    request = json.loads(sys.stdin.buffer.read(1 << 20))
    # Past its deadline the app kills it; an app that died first leaves it to end on its own.
    signal.alarm(math.ceil(request["deadline"]) + 5)
    limit = int(request["memory_mib"]) << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    ok, reason = send_one(request)
    answer = json.dumps({"ok": ok, "reason": reason}).encode()
    os.write(1, answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
