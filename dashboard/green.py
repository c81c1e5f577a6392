"""The one place that knows which concurrency library runs the app (eventlet or gevent).

Everything else uses Flask-SocketIO's start_background_task/sleep, and takes its zmq module from here.
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
    if async_mode == "eventlet":
        from eventlet import patcher
        start, sleep = patcher.original("_thread").start_new_thread, patcher.original("time").sleep
    elif async_mode == "gevent":
        from gevent import monkey
        start = monkey.get_original("_thread", "start_new_thread")
        sleep = monkey.get_original("time", "sleep")
    else:
        import _thread
        import time
        start, sleep = _thread.start_new_thread, time.sleep

    def wait_then_call():
        sleep(seconds)
        fn()

    start(wait_then_call, ())
