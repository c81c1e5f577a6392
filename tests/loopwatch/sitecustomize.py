"""Loaded by the app's interpreter when this folder is first on its PYTHONPATH and LOOPWATCH_OUT
names a file (tests and benchmarks only, never the app): a green thread inside the app that wakes
every 10 ms and writes, one line a tick, when it woke (time.monotonic(), the same clock in every
process of the machine) and how long since its last tick. A gap well over 10 ms is a time the
event loop was held by something else: the longest gap while a request ran is the longest the
request stalled every client.

It starts with the server: dashboard.server.serve is wrapped when that module is first imported
(after app.py has monkey-patched), and its `spawn` (Flask-SocketIO's start_background_task)
starts the ticker. Any sitecustomize further down the path is not loaded."""
import os
import sys

_OUT = os.environ.get("LOOPWATCH_OUT")
_EVERY = 0.01


def _ticker(app):
    import time

    sleep = app.extensions["socketio"].sleep
    with open(_OUT, "a", buffering=1) as out:  # one line a tick, flushed at once
        last = time.monotonic()
        while True:
            sleep(_EVERY)
            now = time.monotonic()
            out.write(f"{now:.6f} {now - last:.6f}\n")
            last = now


if _OUT:
    import importlib.abc
    import importlib.machinery

    class _WrapServe(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "dashboard.server":
                return None
            sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                serve = module.serve

                def watched(app, spawn, *args, **kwargs):
                    spawn(_ticker, app)
                    return serve(app, spawn, *args, **kwargs)
                module.serve = watched
            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _WrapServe())


def stalls(path, start, end):
    """(ticks, the longest gap in seconds) of the ticks written to `path` that ended between
    `start` and `end` (time.monotonic() of this machine)."""
    gaps = []
    with open(path) as lines:
        for line in lines:
            when, gap = map(float, line.split())
            if start <= when <= end:
                gaps.append(gap)
    return len(gaps), max(gaps, default=None)
