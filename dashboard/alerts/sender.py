"""One notification to each of its Apprise URLs, each URL in a child process of its own
(`python -m dashboard.alerts.sender`), so that a hostile destination costs bounded time and memory.

Apprise's timeout bounds each wait for bytes only (a webhook that answers a byte every 2 s holds a
send for ever), and its plugins read an answer whole (an endless body fills the memory). So the
app's end, send_in_children (blocking: it runs in a real thread, run_in_thread), starts a child
for each URL (MAX_CHILDREN at a time), gives it its URL, title, body and severity as JSON on its
stdin (never its command line or environment: the URL holds a token), waits for them all together
`deadline` seconds at most, then kills what is left. Each child limits its own address space to
`memory_mib` before it imports Apprise, and answers one line of JSON on stdout. Its stderr (a
traceback may hold the URL) is read bounded and goes only into a failure's reason, which the
Notifier scrubs before it logs or shows it.

The app's end uses the unpatched os and select (whichever of eventlet or gevent patched them): it
runs in a real OS thread, where a green call would wait on a hub that does not run there.
"""
import importlib
import json
import logging
import os
import sys
import time
import types

MAX_CHILDREN = 4  # URLs of one send sent at once
MAX_TEXT = 8000  # characters of a title or body given to a child (a request fits in a pipe's buffer)
MAX_ANSWER = 4096  # bytes of a child's stdout read; more is a broken child
STDERR_KEPT = 2048  # bytes of a child's stderr kept (the end of it), for a failure's reason
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OS_CALLS = ("pipe", "posix_spawn", "read", "write", "close", "waitpid", "kill", "set_blocking")


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


class _Child:
    """One URL's child process, as the app sees it: its pid, pipes and what it said so far."""

    def __init__(self, os_, sleep, executable, request):
        self.os, self.sleep = os_, sleep
        self.out, self.err, self.said, self.errors = None, None, b"", b""
        fds = []
        try:
            stdin_r, stdin_w = os_.pipe()
            fds += [stdin_r, stdin_w]
            out_r, out_w = os_.pipe()
            fds += [out_r, out_w]
            err_r, err_w = os_.pipe()
            fds += [err_r, err_w]
            env = dict(os.environ)
            env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                        else "")
            self.pid = os_.posix_spawn(
                executable, [executable, "-m", "dashboard.alerts.sender"], env,
                file_actions=[(os.POSIX_SPAWN_DUP2, stdin_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
                              (os.POSIX_SPAWN_DUP2, err_w, 2)])
        except BaseException:
            for fd in fds:
                os_.close(fd)
            raise
        for fd in (stdin_r, out_w, err_w):
            os_.close(fd)
        self.out, self.err = out_r, err_r
        try:  # a request is far smaller than a pipe's buffer (MAX_TEXT): this never waits
            os_.set_blocking(stdin_w, False)
            os_.write(stdin_w, request)
        except OSError:  # the child is gone already: it says so on stderr, or not at all
            pass
        finally:
            os_.close(stdin_w)

    def fds(self):
        return [fd for fd in (self.out, self.err) if fd is not None]

    def read(self, fd):
        """Take what the pipe `fd` holds (bounded); False once both pipes are at their end."""
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
        return bool(self.fds())

    def end(self, kill):
        """Close its pipes and reap it: killed first if `kill`, else given a second to end (it
        closed its stdout and stderr: it is ending). Bounded: 2 s at most."""
        for fd in self.fds():
            self.os.close(fd)
        self.out = self.err = None
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
        """None if it said the destination took it, else why not (may hold pieces of the URL)."""
        try:
            answer = json.loads(self.said) if len(self.said) <= MAX_ANSWER else None
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "ok" in answer:
            return None if answer["ok"] is True else str(answer.get("reason") or "it failed")[:200]
        last = (self.errors.decode("utf-8", "replace").strip().splitlines() or [""])[-1]
        if "MemoryError" in last:
            return f"used more than {memory_mib} MiB"
        how = (f"ended by signal {os.WTERMSIG(status)}" if status is not None and os.WIFSIGNALED(status)
               else f"ended with code {os.WEXITSTATUS(status)}" if status is not None
               else "ended")
        return f"its sending process {how} without an answer" + (f" ({last[:150]})" if last else "")


def send_in_children(urls, title, body, severity, deadline, memory_mib, executable=sys.executable):
    """One notification to each URL, each in a child process of at most `memory_mib` MiB, all
    within `deadline` seconds. Blocking: run it in a real thread. Returns {url: why} of the URLs
    that did not take it (the reasons may hold pieces of the URL: scrub them)."""
    os_ = _unpatched("os", *OS_CALLS)
    poll = _unpatched("select", "poll").poll
    sleep = _unpatched("time", "sleep").sleep
    waiting, running, failed = list(urls), {}, {}  # running: fd → (url, child)
    ends = time.monotonic() + deadline
    try:
        while waiting or running:
            while waiting and len({c for _, c in running.values()}) < MAX_CHILDREN:
                url = waiting.pop(0)
                request = json.dumps({"url": url, "title": title[:MAX_TEXT], "body": body[:MAX_TEXT],
                                      "severity": severity, "memory_mib": memory_mib,
                                      "deadline": deadline}).encode()
                child = _Child(os_, sleep, executable, request)
                running.update((fd, (url, child)) for fd in child.fds())
            left = ends - time.monotonic()
            if left <= 0:
                break
            poller = poll()
            for fd in running:
                poller.register(fd)
            for fd, _ in poller.poll(min(left, 1.0) * 1000):
                url, child = running.pop(fd)
                if child.read(fd):
                    running.update((f, (url, child)) for f in child.fds())
                    continue
                why = child.reason(child.end(kill=False), memory_mib)
                if why:
                    failed[url] = why
    finally:  # the deadline (or an error here): what is left is killed, and counts failed
        late = f"timed out after {deadline:g} s"
        for child, url in {child: url for url, child in running.values()}.items():
            child.end(kill=True)
            failed[url] = late
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
            self.last = record.getMessage()[:200]
        except Exception:  # noqa: BLE001 - a bad log call must not end the send
            self.last = None


def send_one(request):
    """(ok, reason) of one notification to request["url"] through Apprise."""
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
        if server.notify(title=request["title"], body=request["body"], notify_type=kind):
            return True, None
        return False, handler.last or "Apprise said it failed"
    except MemoryError:
        return False, f"used more than {request['memory_mib']} MiB"
    except Exception as exc:  # noqa: BLE001 - said to the app, which scrubs it
        return False, f"{type(exc).__name__}: {exc}"[:200]


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
