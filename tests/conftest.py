"""Shared fixtures, the `unit` marker given to every test under tests/unit/, a watchdog that ends
a worker whose test outlives pytest-timeout's signal, and a check that no test leaves its worker
with the standard library patched or threads unable to run."""
import faulthandler
import os
import pathlib
import select as _select
import shutil
import socket as _socket
import sys
import tempfile
import threading
import time
import warnings

import pytest

from tests import helpers
from tests.helpers import CHROMIUM, CHROMIUM_ARGS, OPEN_VIEWS

UNIT = pathlib.Path(__file__).resolve().parent / "unit"


# pytest-timeout (pytest.ini: 300 s, its signal method) fails a test by raising in the main thread;
# a test blocked where that exception is swallowed (a finalizer: a ZMQ context's __del__ waiting
# on a socket for ever) never ends, and a whole CI run waited for it until its own limit. Past
# this many seconds the watchdog prints every thread's stack and ends the worker: pytest-xdist
# reports that test as failed ("worker crashed") and goes on with a new worker.
WATCHDOG_AFTER = float(os.environ.get("TEST_WATCHDOG_AFTER", "420"))
_running = {"since": None, "test": None}


def _watch():
    while True:
        time.sleep(5.0)
        since = _running["since"]
        if since is not None and time.monotonic() - since > WATCHDOG_AFTER:
            sys.stderr.write(f"\nwatchdog: {_running['test']} has run for over {WATCHDOG_AFTER:.0f} s "
                             f"(past pytest-timeout's signal); every thread's stack:\n")
            faulthandler.dump_traceback(all_threads=True)
            sys.stderr.flush()
            os._exit(3)


def pytest_configure(config):
    threading.Thread(target=_watch, name="test watchdog", daemon=True).start()
    # The suite's apps are forked from a process that imported them once (tests/forkserver.py):
    # their imports were half a second of each of ~450 starts, more under the whole suite's load.
    helpers.FORKED_STARTS = True
    if sys.dont_write_bytecode and not hasattr(config, "workerinput"):
        _compile_once()


def _compile_once():
    """Byte-compile the app and the tests' helpers once, before the workers start. Where
    PYTHONDONTWRITEBYTECODE is set (as on this machine), Python writes no .pyc of its own,
    and each of the suite's 400 app processes compiled every module of the app again: a tenth of
    a second each (the .pyc files are git-ignored, and read only while their sources match)."""
    import compileall

    root = UNIT.parent.parent
    for folder in ("dashboard", "tests"):
        compileall.compile_dir(root / folder, quiet=1, workers=1)
    compileall.compile_file(root / "app.py", quiet=1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _running["since"], _running["test"] = time.monotonic(), item.nodeid
    try:
        yield
    finally:
        _running["since"] = None


def pytest_collection_modifyitems(config, items):
    """Everything under tests/unit/ is pure and fast: `-m unit` runs it alone, `-m "not unit"` the rest."""
    for item in items:
        if UNIT in item.path.resolve().parents:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session", autouse=True)
def _own_temp_dir(tmp_path_factory):
    """Every temporary file and directory a test process makes with tempfile (a webhook
    receiver's record, an app's or a redis-server's data dir) goes under one directory of this
    process's, removed when it ends: a test that fails, or a server it leaves, before its own
    clean-up leaves nothing in /tmp (a machine that had run the suite some fifty times held
    1,251 receivers' records and 150 data dirs). pytest's own tmp_path is placed first, as
    before. The apps the tests start use the system's temporary directory still."""
    tmp_path_factory.getbasetemp()
    path = tempfile.mkdtemp(prefix="dashboard-tests-")
    os.chmod(path, 0o711)  # (the test PostgreSQL server runs as postgres, in a directory of its own here)
    before, tempfile.tempdir = tempfile.tempdir, path
    try:
        yield path
    finally:
        tempfile.tempdir = before
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for every browser test (each test opens its own context)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def close_live_views():
    """After each test, close the LiveViews it left open. One left reconnecting ran on through every
    later test of its worker, and its jitter's draws on the `random` module made Hypothesis warn
    ("Do not use the `random` module inside strategies") in test_parse_property."""
    yield
    for view in list(OPEN_VIEWS):
        try:
            view.close()
        except Exception as exc:  # one that fails to close must not keep the others open
            OPEN_VIEWS.discard(view)
            warnings.warn(f"a LiveView did not close: {exc!r}")


# -- a test that leaves its worker unable to run threads ----------------------------------------
# Once, a worker ran no thread a test started (its webhook receiver's), and every test of a file
# then waited for pytest-timeout's 300 s: an earlier test had left the process with green
# (monkey-patched) threading, or its threads unable to run. After each test, this checks that the
# standard library's threading, socket, select and time are still their own, and that a thread
# started now runs while the main thread sleeps (the real sleep): if not, that test fails at its
# teardown, named, once per worker (the tests after it may fail for it).
def _stdlib_now():
    return {"threading.Thread": threading.Thread, "threading.Event": threading.Event,
            "threading.Lock": threading.Lock, "socket.socket": _socket.socket,
            "select.select": _select.select, "time.sleep": time.sleep}


_STDLIB = _stdlib_now()  # as conftest found them, before any test
_REAL_SLEEP, _REAL_MONOTONIC = time.sleep, time.monotonic
THREAD_START_WAIT = 10.0  # seconds a new thread has to run (a loaded machine starts one in ms)
_broken = []


def _a_thread_runs():
    ran = []
    threading.Thread(target=ran.append, args=(1,), name="test thread check", daemon=True).start()
    deadline = _REAL_MONOTONIC() + THREAD_START_WAIT
    while not ran and _REAL_MONOTONIC() < deadline:
        _REAL_SLEEP(0.001)
    return bool(ran)


@pytest.fixture(autouse=True)
def threads_still_run():
    """Fails the test that leaves the standard library patched or threads unable to run."""
    yield
    if _broken:
        return
    patched = [name for name, value in _stdlib_now().items() if value is not _STDLIB[name]]
    if patched or not _a_thread_runs():
        _broken.append(True)
        what = (f"with {', '.join(patched)} patched" if patched
                else f"unable to run a new thread within {THREAD_START_WAIT:.0f} s")
        pytest.fail(f"this test left its worker {what} (eventlet imported: "
                    f"{'eventlet' in sys.modules}, gevent: {'gevent' in sys.modules}); later "
                    f"tests of this worker that start threads may hang")
