"""A device's or worker's name in the URL's path is checked as the query's names are (at most
MAX_NAME_LENGTH characters, no NUL nor other control character): a name no object can have is a
400 `bad_parameter` in the API's one error shape, the same on SQLite and on PostgreSQL (whose text
cannot hold a NUL: it was a 500 and a traceback in the log per request). The app is a subprocess
fed by a real ZMQ publisher; PostgreSQL a real server (tests/pgserver.py)."""
import urllib.parse

import pytest

from dashboard.core.limits import MAX_NAME_LENGTH
from tests.helpers import AppProcess, TestPublisher, message, utc_stamp, wait_until
from tests.test_pgstore import pg  # noqa: F401 (the fixture: one PostgreSQL server for the module)

PATHS = ("/api/v1/devices/{}", "/api/v1/devices/{}/jobs", "/api/v1/devices/{}/timeline",
         "/api/v1/workers/{}")
BAD_NAMES = ["\0", "qemu\0-01", "\x01", "w\x1f", "\x7f", "tab\there", "x" * (MAX_NAME_LENGTH + 1),
             "y" * 3000]
# Names that may be an object's: answered as an unknown (404; a device's jobs: none) or known one.
UNKNOWN = ["nope", "x" * MAX_NAME_LENGTH, "é" * MAX_NAME_LENGTH, "qemu 01"]


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, tmp_path):
    """The app storing in a SQLite file or in PostgreSQL, knowing device qemu-01 and worker w1."""
    database = ("--database", request.getfixturevalue("pg").create_database()) \
        if request.param == "postgresql" else ()
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--data-dir", str(tmp_path), *database)
    try:
        publisher.wait_for_subscriber()
        now = utc_stamp()
        publisher.send(message("worker", now, "w-1", hostname="w1", state="Online", health="Active"))
        publisher.send(message("device", now, "d-1", device="qemu-01", device_type="qemu",
                               state="Idle", health="Good", worker="w1"))
        wait_until(lambda: app.json("/healthz")["store"]["written"] >= 2, timeout=20, what="stored")
        yield app
    finally:
        app.stop()
        publisher.close()


def get(app, path, name):
    return app.get(path.format(urllib.parse.quote(name, safe="")))


def test_a_name_no_object_can_have_is_a_bad_parameter_on_either_backend(app):
    for path in PATHS:
        for name in BAD_NAMES:
            status, headers, body = get(app, path, name)
            assert status == 400, (path, name[:20], body)
            assert headers["Content-Type"].startswith("application/json")
            assert body == {"ok": False, "code": "bad_parameter", "error": body["error"]}, body
            assert body["error"].startswith("hostname: ") and len(body["error"]) < 200
    assert "Traceback" not in app.log_text()
    assert app.json("/healthz")["store"]["dropped"] == 0


def test_names_an_object_may_have_are_answered_as_before(app):
    for name in UNKNOWN:
        for path in ("/api/v1/devices/{}", "/api/v1/devices/{}/timeline", "/api/v1/workers/{}"):
            status, _, body = get(app, path, name)
            assert (status, body["code"]) == (404, "not_found"), (path, name[:20], body)
        status, _, body = get(app, "/api/v1/devices/{}/jobs", name)
        assert status == 200 and body["jobs"] == [] and body["device"] == name
    assert get(app, "/api/v1/devices/{}", "qemu-01")[2]["device"]["worker"] == "w1"
    assert get(app, "/api/v1/devices/{}/timeline", "qemu-01")[2]["bands"]
    assert get(app, "/api/v1/devices/{}/jobs", "qemu-01")[0] == 200
    assert get(app, "/api/v1/workers/{}", "w1")[2]["worker"]["hostname"] == "w1"
    assert "Traceback" not in app.log_text()
