"""The suite's fork server (tests/forkserver.py): the apps it forks are the app, each with a hub of
its own, their exits told as subprocess.Popen's are; and what it cannot start alike starts as a new
process."""
import os
import signal
import subprocess

import psutil
import pytest

from dashboard.core import backoff
from tests import helpers
from tests.helpers import AppProcess, ForkedApp, wait_until


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_forked_apps_serve_each_their_own_clients_and_their_exits_are_told(async_mode):
    assert helpers.FORKED_STARTS  # (tests/conftest.py)
    first = AppProcess("--sim-devices", "3", async_mode=async_mode)
    second = AppProcess("--sim-devices", "5", async_mode=async_mode)
    try:
        assert isinstance(first.proc, ForkedApp) and isinstance(second.proc, ForkedApp)
        for app, devices in ((first, 3), (second, 5)):  # (each its own simulated lab)
            wait_until(lambda: len(app.json("/api/v1/devices")["devices"]) == devices, timeout=15,
                       what=f"{devices} devices on {app.url}")
        # One hub's kernel object each: had they kept the fork server's epoll (eventlet makes it
        # as it patches), one interest list would hold both apps' sockets, each app woken for the
        # other's. (Inodes are the kernel's, one a file: one app's epoll never watches the other's.)
        for app, other in ((first, second), (second, first)):
            watched = _files_and_watched(app.proc.pid)[1]
            theirs = _files_and_watched(other.proc.pid)[0]
            assert watched and not watched & theirs, (app.port, watched & theirs)
        assert "(async mode %s)" % async_mode in first.log_text()
        second.kill()
        assert second.proc.returncode == -signal.SIGKILL
        assert first.alive()
    finally:
        first.stop()
        second.stop()
    assert first.proc.returncode == 0  # SIGTERM: the store flushed, then a clean exit


def test_a_start_that_fails_is_told_with_its_exit_code_and_its_words(tmp_path):
    server = helpers._fork_servers.get("eventlet") or helpers._ForkServer("eventlet")
    helpers._fork_servers["eventlet"] = server
    log = tmp_path / "app.log"
    app = ForkedApp(server, server.fork(["--port", "1", "--max-events", "nan"], log), ["app.py"])
    assert app.wait(30) == 2  # argparse's, as `python app.py` ends
    assert "app.py: error: argument --max-events" in log.read_text()
    # One that ended, and was reaped, before its ForkedApp was made (no pidfd to open): its code
    # told all the same.
    pid = server.fork(["--port", "1", "--max-events", "nan"], log)
    wait_until(lambda: pid in server.exits, timeout=30, what="the fork server to tell its end")
    late = ForkedApp(server, pid, ["app.py"])
    assert late.pidfd is None
    assert late.poll() == 2
    late.terminate()  # (nothing to signal: no error either)
    with pytest.raises(subprocess.TimeoutExpired):
        ForkedApp(server, os.getpid(), ["not forked"]).wait(0.2)  # (this process: it runs on)


def test_an_app_whose_fork_server_ended_is_still_stopped_and_cleaned_up(monkeypatch):
    """(A review: once the fork server had gone, stop() raised before it signalled the app, which
    ran on with its data folder.) The app is still signalled, through its pidfd, and its end seen;
    only its exit code is unknown, and stop() says so once it has stopped it and cleaned up."""
    server = helpers._ForkServer("eventlet")
    monkeypatch.setitem(helpers._fork_servers, "eventlet", server)
    app = AppProcess("--sim-devices", "2")
    assert app.proc.server is server
    server.proc.kill()
    server.proc.wait(10)
    wait_until(lambda: server.gone, timeout=10, what="the reader to see the fork server's end")
    assert app.alive()  # (it runs on: its parent's end does not end it)
    with pytest.raises(AssertionError, match="did not tell its exit code"):
        app.stop()
    assert not psutil.pid_exists(app.proc.pid) or psutil.Process(app.proc.pid).status() == "zombie"
    assert not os.path.exists(app.data_dir)


def test_what_a_fork_would_start_otherwise_starts_as_a_new_process(monkeypatch):
    with_env = AppProcess("--sim-devices", "2", env={"DASHBOARD_TEST_MARK": "1"})
    try:
        assert isinstance(with_env.proc, subprocess.Popen)  # read at import: a new process
    finally:
        with_env.stop()
    monkeypatch.setenv("DASHBOARD_TEST_MARK", "2")  # the worker's own environment changed
    changed = AppProcess("--sim-devices", "2")
    try:
        assert isinstance(changed.proc, subprocess.Popen)
    finally:
        changed.stop()


def test_a_forked_process_draws_a_jitter_of_its_own():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first draw, then out at once
        os.write(write, repr(backoff.JITTER()).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    theirs = float(os.read(read, 100))
    os.close(read)
    assert theirs != backoff.JITTER()  # (the same generator's state copied: the same number)


def _files_and_watched(pid):
    """(the inodes of the sockets and pipes process `pid` has open, the inodes its epoll instances
    watch). (Not anonymous inodes: every eventfd and epoll shares one.)"""
    owned, watched = set(), set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith(("socket:", "pipe:")):
                owned.add(os.stat(f"/proc/{pid}/fd/{fd}").st_ino)
            if link != "anon_inode:[eventpoll]":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                watched |= {int(field[4:], 16) for line in info if line.startswith("tfd:")
                            for field in line.split() if field.startswith("ino:")}
        except FileNotFoundError:  # (closed meanwhile)
            continue
    return owned, watched
