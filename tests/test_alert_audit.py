"""The alerts file after an audit, against the real app (a subprocess): a count that is no whole
number, and an Apprise URL that cannot be sent to (a port out of range, no host), stop the start
with a message that says where, never the URL (it may hold a token)."""
import subprocess
import sys

from tests.helpers import ROOT, free_port

SECRET = "Tok3nSecretX"


def start_with(tmp_path, text):
    """The app's start with this alerts file: (exit code, stdout + stderr)."""
    path = tmp_path / "alerts.toml"
    path.write_text(text)
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--data-dir", str(tmp_path / "d"),
                             "--zmq", f"tcp://127.0.0.1:{free_port()}", "--port", str(free_port()),
                             "--alerts-config", str(path)], capture_output=True, text=True,
                            timeout=60)
    return result.returncode, result.stdout + result.stderr


def test_a_count_of_zero_or_a_fraction_stops_the_start(tmp_path):
    code, out = start_with(tmp_path, "[rules.health_checks_failed]\ncount = 0\n")
    assert code == 1
    assert ("alerts_config: rules.health_checks_failed.count: a number from 1 to 1,000, a whole "
            "one, got 0") in out
    code, out = start_with(tmp_path, "[rules.device_bad]\nrate_limit_per_hour = 2.5\n")
    assert code == 1
    assert "rules.device_bad.rate_limit_per_hour: a number from 0 to 3,600, a whole one" in out


def test_a_url_with_a_port_out_of_range_or_no_host_stops_the_start_without_showing_it(tmp_path):
    code, out = start_with(tmp_path, f'[notify]\nurls = ["json://127.0.0.1:99999/{SECRET}"]\n'
                                     f'[rules.device_bad]\nnotify = ["json:///{SECRET}"]\n')
    assert code == 1
    assert ("alerts_config: notify.urls: a 'json' URL whose port is not from 1 to 65535 (entry 1); "
            "rules.device_bad.notify: a 'json' URL without a host (entry 1)") in out
    assert SECRET not in out and "99999" not in out
