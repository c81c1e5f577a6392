"""The suite's fork server (tests/forkserver.py): the apps it forks are the app, each with a hub of
its own, their exits told as subprocess.Popen's are; and what it cannot start alike starts as a new
process."""
import os
import signal
import subprocess

import pytest

from dashboard.core import backoff
from tests import helpers
from tests.helpers import AppProcess, ForkedApp


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_forked_apps_serve_each_their_own_clients_and_their_exits_are_told(async_mode):
    assert helpers.FORKED_STARTS  # (tests/conftest.py)
    first = AppProcess("--sim-devices", "3", async_mode=async_mode)
    second = AppProcess("--sim-devices", "5", async_mode=async_mode)
    try:
        assert isinstance(first.proc, ForkedApp) and isinstance(second.proc, ForkedApp)
        for _ in range(5):
            assert len(first.json("/api/v1/devices")["devices"]) == 3
            assert len(second.json("/api/v1/devices")["devices"]) == 5
        # One hub's kernel object each: had they kept the fork server's epoll (eventlet makes it
        # as it patches), one interest list would hold both apps' sockets, each app woken for the
        # other's.
        for app in (first, second):
            owned, watched = _files_and_watched(app.proc.pid)
            assert watched and watched <= owned, (app.port, watched - owned)
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
    with pytest.raises(subprocess.TimeoutExpired):
        ForkedApp(server, os.getpid(), ["not forked"]).wait(0.2)  # (never ends: not its child)


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
    """(the inodes of the files process `pid` has open, the inodes its epoll instances watch)."""
    owned, watched = set(), set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            owned.add(os.stat(f"/proc/{pid}/fd/{fd}").st_ino)
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:[eventpoll]":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                watched |= {int(field[4:], 16) for line in info if line.startswith("tfd:")
                            for field in line.split() if field.startswith("ino:")}
        except FileNotFoundError:  # (closed meanwhile)
            continue
    return owned, watched
