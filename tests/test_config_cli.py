"""app.py's command line, run as a subprocess: --help lists every setting, bad values exit with a
message that never echoes a password."""
import subprocess
import sys

import pytest

from dashboard import config
from tests.helpers import ROOT


def test_help_lists_every_setting():
    out = subprocess.run([sys.executable, str(ROOT / "app.py"), "--help"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    for setting in config.SETTINGS:
        assert setting.flag in out, setting.flag
        assert setting.env in out, setting.env
    assert "default 127.0.0.1" in out and "default 5000" in out


def test_bad_flag_exits_with_a_message():
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--port", "x"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "port" in result.stderr
    result = subprocess.run([sys.executable, str(ROOT / "app.py")], capture_output=True, text=True,
                            timeout=30, env={"DASHBOARD_PORT": "x", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1 and "port" in result.stderr


def test_an_unknown_database_exits_with_a_message_without_the_password(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, str(ROOT / "app.py"), "--data-dir", str(tmp_path),
                               "--database", "mysql://lava:s3cret@127.0.0.1/lava", *args],
                              capture_output=True, text=True, timeout=60)
    result = run("--zmq", "tcp://127.0.0.1:9")
    assert result.returncode == 1 and "database" in result.stderr and "mysql" in result.stderr
    assert "s3cret" not in result.stderr
    # The simulated lab never writes into a shared database.
    result = run()
    assert result.returncode == 1 and "simulated lab" in result.stderr and "s3cret" not in result.stderr


@pytest.mark.parametrize("args, said", [
    (("--database", "postgres://lava:s3cret@[::1/lava", "--zmq", "tcp://127.0.0.1:9"),
     "app.py: error: database: not a valid URL (its host or port cannot be read)"),
    (("--message-queue", "redis://lava:s3cret@[::1/0", "--role", "web"),
     "app.py: error: message_queue: not a valid URL (its host or port cannot be read)"),
    (("--message-queue", "redis://lava:s3cret@redis:99999/0", "--role", "ingest",
      "--zmq", "tcp://127.0.0.1:9"),
     "app.py: error: message_queue: not a valid URL (its host or port cannot be read)"),
    (("--database", "postgresql://lava:s3cret/x@db/lava", "--zmq", "tcp://127.0.0.1:9"),
     "app.py: error: database: not a valid URL (a password's '/', '?', '#' or '@' must be "
     "%-encoded: %2F, %3F, %23, %40)"),
    (("--message-queue", "redis://:s3cret#x@redis:6379/0", "--role", "web"),
     "app.py: error: message_queue: not a valid URL (a password's '/', '?', '#' or '@' must be "
     "%-encoded: %2F, %3F, %23, %40)"),
])
def test_a_url_that_cannot_be_read_exits_with_a_message_not_a_traceback(tmp_path, args, said):
    # Found by an audit: the log's scrubber read the URL first, and its ValueError was a traceback.
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--data-dir", str(tmp_path),
                             *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.strip().endswith(said), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr


def test_a_token_without_a_lava_server_is_said_to_be_unused(tmp_path):
    # A typo in --lava-token-file, or a forgotten --lava-url: the dashboard says so at start.
    from tests.helpers import AppProcess, TestPublisher, wait_until

    import os

    from tests.helpers import ROOT

    publisher = TestPublisher()
    # (A relative --data-dir: from the folder the app runs in, which the log says in full.)
    app = AppProcess("--zmq", publisher.endpoint, "--lava-token-file", str(tmp_path / "no-such"),
                     "--data-dir", os.path.relpath(tmp_path / "data", ROOT))
    try:
        text = app.log_text()
        assert f"history kept in {tmp_path / 'data' / 'events.sqlite3'}\n" in text, text[-2000:]
        assert (f"a LAVA token is given (--lava-token-file {tmp_path / 'no-such'}) without "
                f"--lava-url: it is not read" in text), text[-2000:]
        # And it runs on: its source connects (/healthz is degraded while it is connecting).
        wait_until(lambda: app.json("/healthz")["ok"] is True, what="the app running, connected")
    finally:
        app.stop()
        publisher.close()


def _start(*args):
    from tests.helpers import start_app
    return start_app(*args)


def test_an_empty_token_file_stops_the_start_by_its_own_name(tmp_path):
    """A secret store that wrote nothing: before (an audit), the dashboard followed LAVA
    anonymously, private jobs unseen, and said nothing. Said without any token, by the name the
    setting has where it was given (a labs file calls it token_file)."""
    empty = tmp_path / "token"
    empty.write_text("\n")
    lava = "http://127.0.0.1:9"
    code, out = _start("--lava-url", lava, "--lava-token-file", str(empty), "--data-dir",
                       str(tmp_path / "d1"))
    assert code == 1 and f"lava_token_file: '{empty}' is empty" in out, out
    labs = tmp_path / "labs.toml"
    labs.write_text(f'[labs.east]\nlava_url = "{lava}"\ntoken_file = "{empty}"\n'
                    f'event_source = "tcp://127.0.0.1:9"\n')
    code, out = _start("--labs", str(labs), "--data-dir", str(tmp_path / "d2"))
    assert code == 1 and f"labs.east: token_file: '{empty}' is empty" in out, out
    assert "Traceback" not in out


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_a_port_another_program_listens_on_fails_the_start_at_once(tmp_path, mode):
    """A new-user audit: eventlet.listen set SO_REUSEPORT, so a second dashboard on the same port
    listened beside the first (the kernel shared clients between two models; on one --data-dir
    both stored every event). Here the other listener sets SO_REUSEPORT too, as a dashboard did:
    the start ends at once, in one line, before anything else started; the same for --metrics."""
    import socket

    from tests.helpers import free_port
    other = socket.socket()
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    other.bind(("127.0.0.1", free_port()))
    other.listen()
    port = other.getsockname()[1]
    try:
        code, out = _start("--async-mode", mode, "--port", str(port), "--data-dir", str(tmp_path / "a"))
        assert code == 1 and out.strip().endswith(
            f"app.py: error: --host/--port: cannot listen on 127.0.0.1:{port}: Address already in use"), out
        assert not (tmp_path / "a").exists()  # nothing else had started
        code, out = _start("--async-mode", mode, "--metrics", f"127.0.0.1:{port}", "--data-dir",
                           str(tmp_path / "b"))
        assert code == 1 and out.strip().endswith(
            f"app.py: error: --metrics 127.0.0.1:{port}: cannot listen on 127.0.0.1:{port}: "
            "Address already in use"), out
        assert "Traceback" not in out
    finally:
        other.close()


@pytest.mark.parametrize("args, said", [
    (["--data-dir", "/proc/no-such-folder"], "app.py: error: --data-dir /proc/no-such-folder: cannot "
                                             "be used: No such file or directory"),
    (["--host", "999.1.1.1"], "app.py: error: --host/--port: cannot listen on 999.1.1.1:")])
def test_a_data_folder_or_host_that_cannot_be_used_is_said_in_one_line(tmp_path, args, said):
    """A new-user audit: each ended the start in a Python traceback."""
    code, out = _start("--no-store", *args) if "--host" in args else _start(*args)
    assert code == 1 and said in out and "Traceback" not in out, out
