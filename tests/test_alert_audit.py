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


def test_the_api_says_a_firing_alerts_current_figure_with_the_store_on(tmp_path):
    """A review: a firing alert's new words (the rule's figure now) were kept in the engine only,
    and the API, which reads the store, said those of when it fired until its next save (an hour
    later, at its re-notification). Here a starving queue grows from one job to two: the API says
    two, with the store on (the default)."""
    from tests.helpers import AppProcess, TestPublisher, utc_stamp, wait_until
    from tests.test_alerts import device, frames

    config = tmp_path / "alerts.toml"
    config.write_text("[rules.queue_starving]\nminutes = 0\n")
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--alerts-config", str(config), "--alerts-interval", "0.2",
                     "--data-dir", str(tmp_path / "data"))
    try:
        publisher.wait_for_subscriber()
        publisher.send(device("q1", "Good", state="Running"))
        for job in (7, 8):
            publisher.send(frames("testjob", {"job": job, "state": "Submitted", "health": "Unknown",
                                              "device_type": "qemu", "submit_time": utc_stamp(),
                                              "submitter": "alice"}, "alice"))

            def said():
                alerts = app.json("/api/v1/alerts?status=firing")["alerts"]
                return alerts[0]["message"] if alerts else ""
            wait_until(lambda: said().startswith(f"{job - 6} qemu job(s) waiting"), timeout=20,
                       what=f"the alert saying {job - 6} job(s)")
        assert app.json("/healthz")["store"] is not None
    finally:
        app.stop()
        publisher.close()
