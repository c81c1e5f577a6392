"""Alert delivery through the real Apprise to webhook receivers on 127.0.0.1 (tests/test_alerts.py's
Receiver): a retry goes only to the destinations that did not take the notification; a URL Apprise
cannot use stops the start with a message that names where it is set, never the URL."""
import subprocess
import sys

from dashboard.alerts.delivery import Notifier, apprise_send
from dashboard.alerts.rules import parse_config
from tests.helpers import ROOT, free_port
from tests.test_alerts import Receiver


class _Event:
    def set(self):
        pass

    def wait(self, seconds):
        pass

    def clear(self):
        pass


ALERT = {"id": "a1", "key": "device_bad/d1", "rule": "device_bad", "subject": "d1",
         "device_type": "qemu", "severity": "warning", "message": "d1 has been Bad",
         "notifications": 1}


def test_a_retry_goes_only_to_the_destinations_that_did_not_take_it():
    """Run in a process of its own: a test file before this one in the same worker may have
    monkey-patched threading with eventlet, under which the receivers' server threads never run."""
    result = subprocess.run([sys.executable, "-c", "from tests.test_alert_delivery import "
                             "retry_goes_only_to_the_destinations_that_did_not_take_it as t; t()"],
                            cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def retry_goes_only_to_the_destinations_that_did_not_take_it():
    up, down = Receiver(), Receiver()
    down.stop()  # refuses connections until started again
    try:
        config = parse_config(f'[notify]\nurls = ["json://127.0.0.1:{up.port}/up", '
                              f'"json://127.0.0.1:{down.port}/down"]\n')
        now = [1000.0]
        notifier = Notifier(config, lambda fn, *a: fn(*a), lambda s: None, _Event,
                            clock=lambda: now[0], send=apprise_send)
        assert notifier.submit(dict(ALERT), "fired")
        for _ in range(3):  # three attempts while one destination is down
            now[0] = notifier.pending[0][0]
            assert notifier.deliver(notifier.pending[0]) is False
        assert len(up.received) == 1 and notifier.pending[0][4] == [f"json://127.0.0.1:{down.port}/down"]
        assert "1 of its destinations" in notifier.last_error
        down.start()
        now[0] = notifier.pending[0][0]
        assert notifier.deliver(notifier.pending[0]) is True
        assert len(up.received) == 1 and len(down.received) == 1  # each got it once
        assert notifier.counts["delivered"] == 1 and notifier.counts["failed"] == 3
        assert notifier.pending == []
    finally:
        up.stop()
        down.stop()


def run_with(tmp_path, text):
    path = tmp_path / "alerts.toml"
    path.write_text(text)
    return subprocess.run([sys.executable, str(ROOT / "app.py"), "--data-dir", str(tmp_path / "d"),
                           "--zmq", "tcp://127.0.0.1:9", "--port", str(free_port()),
                           "--alerts-config", str(path)], capture_output=True, text=True,
                          timeout=60)


def test_a_url_apprise_cannot_use_stops_the_start_without_showing_it(tmp_path):
    result = run_with(tmp_path, '[rules.device_bad.device_type."qemu"]\n'
                                'notify = ["slak://T0SECRET1/B0SECRET2/XxSecretTokenXx"]\n')
    assert result.returncode == 1
    assert ("rules.device_bad.device_type.'qemu'.notify: a 'slak' URL that Apprise cannot use"
            in result.stderr)
    out = result.stdout + result.stderr
    assert "T0SECRET1" not in out and "XxSecretTokenXx" not in out
    # A known scheme of the wrong shape: the same.
    result = run_with(tmp_path, '[notify]\nurls = ["json://127.0.0.1:1/x", "slack://T0SECRET1"]\n')
    assert result.returncode == 1 and "a 'slack' URL that Apprise cannot use" in result.stderr
    assert "T0SECRET1" not in result.stdout + result.stderr
