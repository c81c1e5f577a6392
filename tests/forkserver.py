"""A fork server for the suite's app starts: `python -m tests.forkserver eventlet|gevent`.

Each of the suite's ~450 app starts spent most of its start importing (eventlet and dnspython,
Flask, python-socketio, pyzmq, the app's own modules): about half a second each on a quiet machine
and more under the whole suite, a fifth of the test command's time. This process does what
tests/patched_app.py and app.main do before the app's settings are read (the tests' aiohttp left
out, the standard library patched for the hub, every module of the app imported) once, and then
forks an app for each request: the app (app.main with its arguments, as `python app.py` runs it)
starts from there, as a new process of its own.

The protocol, on stdin and stdout, one JSON object a line:
- in: {"id": n, "args": [app.py's arguments], "log": path, "cwd": folder, "env": {the environment}};
- out: {"id": n, "pid": p} for each request (or {"id": n, "error": text}), and {"exit": p,
  "code": c} when an app ends (c as subprocess.Popen's returncode: negative for a signal).
stdin's end (the test worker gone) ends this process; the apps it made go on until stopped, as
subprocess.Popen's would.

What is not the same as a new process, and how it is kept out:
- the environment is read by some modules as they are imported: tests/helpers.py forks only while
  the worker's environment is the one this process started with, and starts an app with an `env`
  of its own as a new process;
- module constants set before the start (tests/patched_app.py's `constants`) would come after
  modules that copied them at import: such an app, too, starts as a new process;
- random generators made at import would be copied into every app: Python seeds its `random`
  module again in a forked child, and dashboard/core/backoff.py its own generator (the hash seed,
  though, is the fork server's in all its apps: a set of strings iterates alike in each);
- gevent's loop keeps the time it last read, in the fork server: each app reads it anew;
- nothing here may start a thread, or use the hub, before a fork (checked before each one), and each
  app makes its hub's kernel object anew.
"""
import json
import os
import select
import sys

# The unpatched functions this loop uses, taken before eventlet or gevent patches the modules.
_read, _write, _fork, _waitpid, _select = os.read, os.write, os.fork, os.waitpid, select.select
_IN, _OUT = 0, 1


def _prepare(async_mode):
    sys.modules.setdefault("aiohttp", None)  # as tests/patched_app.py: the app as deployed
    from dashboard import green

    green.monkey_patch(async_mode)
    import pkgutil

    import dashboard
    for module in pkgutil.walk_packages(dashboard.__path__, "dashboard."):
        if not module.name.endswith(".__main__"):  # (a command, run as it is imported)
            __import__(module.name)
    import app  # noqa: F401  (app.main imports the rest as it runs)


def _hub_busy(async_mode):
    """Whether the hub has anything to wait for (it must not, before a fork: eventlet makes its hub
    as it patches, but nothing may have used it)."""
    if async_mode == "eventlet":
        from eventlet import hubs
        hub = getattr(hubs._threadlocal, "hub", None)
        return hub is not None and bool(hub.listeners[hub.READ] or hub.listeners[hub.WRITE]
                                        or hub.timers or hub.next_timers)
    from gevent._hub_local import get_hub_if_exists
    hub = get_hub_if_exists()  # (a greenlet: true once switched to and running)
    return hub is not None and (bool(hub) or hub._threadpool is not None)


def _new_hub(async_mode):
    """In the forked child: a hub of its own. eventlet's epoll instance would be the one every
    other app forked from here shares (one kernel object, each process's events delivered to all)."""
    if async_mode == "eventlet":
        from eventlet import hubs, patcher
        hub = getattr(hubs._threadlocal, "hub", None)
        if hub is not None:
            hub.poll.close()
            hub.poll = patcher.original("select").epoll()
    else:
        import gevent
        from gevent._hub_local import get_hub_if_exists

        gevent.reinit()  # (libev makes its epoll anew after a fork)
        hub = get_hub_if_exists()
        if hub is not None:  # its loop's clock, read when the fork server last ran it
            hub.loop.update_now()


def _send(message):
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[_write(_OUT, data):]


def _reap():
    while True:
        try:
            pid, status = _waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        _send({"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def _serve(async_mode):
    """Answer requests until stdin ends (None); in each forked child, return its request."""
    import threading

    pending = b""
    while True:
        readable, _, _ = _select([_IN], [], [], 0.05)
        _reap()
        if not readable:
            continue
        chunk = _read(_IN, 65536)
        if not chunk:
            return None
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            if threading.active_count() != 1 or _hub_busy(async_mode):
                _send({"id": request["id"],
                       "error": "the fork server started a thread or a hub: it cannot fork"})
                continue
            pid = _fork()
            if pid == 0:
                return request
            _send({"id": request["id"], "pid": pid})


def _become_app(request):
    """In the forked child: the stdio, folder, environment and arguments `python app.py` had."""
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["app.py", *request["args"]]
    return request["args"]


def main(async_mode):
    # stdio for the protocol only; this process's own output (a warning) goes to stderr.
    _prepare(async_mode)
    request = _serve(async_mode)
    if request is None:
        return
    _new_hub(async_mode)
    args = _become_app(request)
    import app

    app.main(args)


if __name__ == "__main__":
    main(sys.argv[1])
