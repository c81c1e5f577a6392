"""The one place that knows which concurrency library runs the app (eventlet or gevent).

Everything else uses Flask-SocketIO's start_background_task/sleep, and takes its zmq module from here.
Real OS threads (a ZMQ socket's reader, the shutdown watchdog) get their unpatched primitives, and
the way to wake the green loop, from OsThreads.
"""


def monkey_patch(async_mode):
    """Patch the standard library for the chosen mode; must run before anything else is imported."""
    if async_mode == "eventlet":
        import warnings
        with warnings.catch_warnings():
            # eventlet is bugfix-only upstream and says so at every import; README says so once.
            warnings.simplefilter("ignore")
            import eventlet
        eventlet.monkey_patch()
    elif async_mode == "gevent":
        from gevent import monkey
        monkey.patch_all()
    else:
        raise ValueError(f"unknown async mode {async_mode!r}")


def zmq_module(async_mode):
    """The green zmq module for this mode: a plain zmq socket would block the whole hub."""
    if async_mode == "eventlet":
        from eventlet.green import zmq
    elif async_mode == "gevent":
        import zmq.green as zmq
    else:
        import zmq
    return zmq


def run_in_thread(async_mode, fn, *args):
    """Run blocking code (the store: SQLite or PostgreSQL) in a real OS thread so that the green hub
    keeps serving."""
    if async_mode == "eventlet":
        from eventlet import tpool
        return tpool.execute(fn, *args)
    if async_mode == "gevent":
        import gevent
        return gevent.get_hub().threadpool.apply(fn, args)
    return fn(*args)


def watchdog(async_mode, seconds, fn):
    """Call fn after `seconds` from a real OS thread (the unpatched one), so that it happens even
    when the green hub is busy or blocked. fn must not use the app's green locks."""
    threads = OsThreads(async_mode)

    def wait_then_call():
        threads.sleep(seconds)
        fn()

    threads.start(wait_then_call)


def _originals(async_mode):
    """The unpatched _thread, time and os modules (their functions) for this mode."""
    if async_mode == "eventlet":
        from eventlet import patcher
        return patcher.original("_thread"), patcher.original("time"), patcher.original("os")
    import _thread
    import os
    import time
    if async_mode == "gevent":
        from types import SimpleNamespace

        from gevent import monkey

        def original(module, *names):
            return SimpleNamespace(**dict(zip(names, monkey.get_original(module, list(names)))))
        return (original("_thread", "start_new_thread", "allocate_lock"), original("time", "sleep"),
                original("os", "read", "write"))
    return _thread, time, os


class OsThreads:
    """Real OS threads for this mode, and what they may share with the green side: unpatched locks
    (held only for moments) and a Wakeup. Never a green lock: under eventlet one waited on from a
    real thread is never woken."""

    def __init__(self, async_mode):
        self.async_mode = async_mode
        thread, time_, os_ = _originals(async_mode)
        self._start, self.allocate_lock, self.sleep = (thread.start_new_thread, thread.allocate_lock,
                                                       time_.sleep)
        self._read, self._write = os_.read, os_.write

    def start(self, fn, *args):
        """Run fn(*args) in a new OS thread (it ends with the process if still running)."""
        self._start(fn, args)

    def wakeup(self):
        return Wakeup(self.async_mode, self._read, self._write)


class Wakeup:
    """Lets a real OS thread wake one green thread that waits for it: a pipe, written (never
    blocking) from the OS thread and waited on through the hub, as eventlet's tpool does."""

    def __init__(self, async_mode, read, write):
        import os
        self.async_mode = async_mode
        self._read, self._write = read, write
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)

    def set(self):
        """Wake the waiter (any thread; never blocks: a full pipe already holds a wake-up)."""
        try:
            self._write(self.wfd, b"!")
        except OSError:  # full (BlockingIOError): a wake-up is waiting already
            pass

    def wait(self, timeout):
        """Wait (green) until set() was called since the last wait, or `timeout` seconds passed."""
        try:
            if self.async_mode == "eventlet":
                from eventlet.hubs import trampoline
                trampoline(self.rfd, read=True, timeout=timeout, timeout_exc=_TimedOut)
            elif self.async_mode == "gevent":
                from gevent.socket import wait_read
                wait_read(self.rfd, timeout=timeout, timeout_exc=_TimedOut())
            else:
                import select
                select.select([self.rfd], [], [], timeout)
        except _TimedOut:
            return
        try:
            while self._read(self.rfd, 4096):
                pass
        except OSError:  # empty (BlockingIOError): all read
            pass


class _TimedOut(Exception):
    pass
