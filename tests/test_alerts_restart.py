"""A restart while LAVA's API is still failing, with real parts (the app as a subprocess, a fake
LAVA answering 500, Apprise's json:// to a webhook receiver on 127.0.0.1): `lava_api_failing`
stays the same alert (no false RESOLVED, no second FIRING with a new id), and resolves once the
API answers again."""
import time

import pytest

from tests.fake_lava import FakeLava
from tests.helpers import AppProcess, TestPublisher, wait_until
from tests.test_alerts import Receiver

TOKEN = "T0KEN-restart-1"


@pytest.fixture
def setup(tmp_path):
    lava = FakeLava(token=TOKEN)
    lava.fault = "500"
    publisher = TestPublisher()
    receiver = Receiver()
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "alerts.toml").write_text(
        f'[rules.lava_api_failing]\nminutes = 0.05\nrenotify_minutes = 0\n'
        f'notify = ["json://127.0.0.1:{receiver.port}/hook"]\n'
        '[rules.stream_silent]\nenabled = false\n')
    made = []

    def start():
        app = AppProcess("--lava-url", lava.url, "--lava-token-file", str(tmp_path / "token"),
                         "--zmq", publisher.endpoint, "--data-dir", str(tmp_path / "data"),
                         "--alerts-config", str(tmp_path / "alerts.toml"),
                         "--alerts-interval", "0.2", "--reconcile-interval", "1",
                         "--access", "open")
        made.append(app)
        return app

    yield lava, receiver, start
    for app in made:
        app.stop()
    receiver.stop()
    publisher.close()
    lava.close()


def alerts(app, status):
    return app.json(f"/api/v1/alerts?status={status}")["alerts"]


def test_a_restart_while_the_api_still_fails_neither_resolves_nor_fires_again(setup):
    lava, receiver, start = setup
    app = start()
    wait_until(lambda: alerts(app, "firing"), timeout=30, what="lava_api_failing firing")
    [first] = alerts(app, "firing")
    assert first["key"] == "lava_api_failing/lab"
    wait_until(lambda: receiver.titles(), timeout=15, what="FIRING notified")
    app.stop()

    app = start()  # LAVA still answers 500
    wait_until(lambda: app.json("/healthz")["lava"]["state"] == "error", timeout=20,
               what="the reconciler failing again")
    time.sleep(4)  # well past the threshold (3 s) again, many ticks
    assert [a["id"] for a in alerts(app, "firing")] == [first["id"]]
    assert alerts(app, "resolved") == []
    assert app.json("/healthz")["alerts"]["fired"] == 0
    assert receiver.titles() == ["[FIRING] lava_api_failing: lab"]

    lava.fault = None  # the API answers: the same alert resolves
    wait_until(lambda: alerts(app, "resolved"), timeout=60, what="lava_api_failing resolved")
    assert [a["id"] for a in alerts(app, "resolved")] == [first["id"]]
    wait_until(lambda: len(receiver.titles()) == 2, timeout=15, what="RESOLVED notified")
    assert receiver.titles() == ["[FIRING] lava_api_failing: lab",
                                 "[RESOLVED] lava_api_failing: lab"]
