"""HTTP the app cannot use, against the real app (a subprocess, under eventlet and gevent) over raw
sockets: a query string that is not UTF-8, requests the WSGI server itself cannot read (a TLS
handshake on the plain port, too many headers, a request line too long) and a body dripped too
slowly. Each is answered in the one error shape, counted in /healthz `server` and logged at most
once per kind every 5 s (server.py, web/edge.py); what a view raises is counted and logged the same way."""
import json
import logging
import socket
import tempfile
import time

import pytest

from tests.helpers import AppProcess, wait_until
from tests.hostile import leaks

HEADER_TIMEOUT = 1.0


@pytest.fixture(scope="module", params=["eventlet", "gevent"])
def app(request):
    app = AppProcess("--zmq", "tcp://127.0.0.1:9", "--no-store",
                     "--header-timeout", str(HEADER_TIMEOUT), async_mode=request.param)
    yield app
    app.stop()


def exchange(port, request, seconds=5.0):
    """Send request on a new connection; what comes back until the server closes it (or
    `seconds` pass: then the last element is False)."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as sock:
        sock.sendall(request)
        return read_until_closed(sock, seconds)


def read_until_closed(sock, seconds):
    deadline = time.monotonic() + seconds
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def answer(data):
    """(status, the JSON body) of a whole HTTP answer."""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def server_counts(app):
    return app.json("/healthz")["server"]


def test_a_query_string_that_is_not_utf8_is_a_bad_parameter_counted_and_logged_once(app):
    before = server_counts(app)
    for _ in range(20):
        data, _ = exchange(app.port, b"GET /api/v1/devices?device=\xff HTTP/1.1\r\nHost: x\r\n"
                                     b"Connection: close\r\n\r\n")
        status, body = answer(data)
        assert status == 400 and body["ok"] is False and body["code"] == "bad_parameter", data
    # Percent-encoded, the same byte is refused too (werkzeug read it as U+FFFD, which matched
    # nothing: 200 and an empty list, found by an audit); UTF-8 escaped is a value like any other.
    for query, status in ((b"device=%FF", 400), (b"device=%ff%fe", 400), (b"device=caf%C3%A9", 200),
                          (b"device=100%25", 200), (b"device=50%", 200)):
        data, _ = exchange(app.port, b"GET /api/v1/devices?" + query + b" HTTP/1.1\r\nHost: x\r\n"
                                     b"Connection: close\r\n\r\n")
        assert answer(data)[0] == status, (query, data)
    after = server_counts(app)
    assert after["bad_requests"] - before["bad_requests"] == 22
    assert after["errors"] == before["errors"]  # the client's doing, not an internal error
    log = app.log_text()
    assert 1 <= log.count("not UTF-8") <= 2, log[-3000:]
    assert "Traceback" not in log and "UnicodeDecodeError" not in log
    # Its names only (a value may be a credential: a review saw it logged whole).
    said = [line for line in log.splitlines() if "not UTF-8 from" in line]
    assert said and all("device=…" in line and "ÿ" not in line for line in said), said


# What the WSGI server itself refuses, before the app: (request, its status).
UNREADABLE = [
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b" garbage\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(200))
     + b"Connection: close\r\n\r\n", 431),
    (b"GET /healthz?" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
]


def test_requests_the_server_cannot_read_are_answered_in_the_one_shape_counted_and_logged_once(app):
    before = server_counts(app)
    for request, expected in UNREADABLE:
        for _ in range(10):
            data, closed = exchange(app.port, request)
            assert closed, data
            status, body = answer(data)
            assert status == expected and body["ok"] is False and body["code"], data
            assert b"<html" not in data.lower() and not leaks(data), data
    after = server_counts(app)
    assert after["bad_requests"] - before["bad_requests"] == 30
    log = app.log_text()
    said = [line for line in log.splitlines() if "it could not read" in line]
    assert 3 <= len(said) <= 6, said  # once per status every 5 s
    assert "a" * 100 not in log and "garbage" not in log  # a long request line: its size only
    assert "Error response" not in log and "Traceback" not in log


def test_a_body_sent_slower_than_the_minimum_rate_is_cut_off_and_counted(app):
    before = server_counts(app)
    # Sent at once, a body is read as ever (the form's check answers, not the deadline).
    data, _ = exchange(app.port, b"POST /signin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                                 b"Content-Length: 10\r\n\r\nuser=a&b=c")
    assert answer(data)[0] == 400, data
    # One byte every 0.3 s: its deadline is the header timeout plus 100 bytes at 10 KiB/s.
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as sock:
        sock.sendall(b"POST /signin HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 100\r\n\r\n")
        started, data, closed = time.monotonic(), b"", False
        while not closed and time.monotonic() - started < 5:
            try:
                sock.sendall(b"a")
            except OSError:
                break
            more, closed = read_until_closed(sock, 0.3)
            data += more
        took = time.monotonic() - started
    assert data, f"nothing after {took:.1f} s (the server still waited for the body)"
    status, body = answer(data)
    assert status == 408 and body["code"] == "body_timeout", data
    assert HEADER_TIMEOUT * 0.9 <= took < HEADER_TIMEOUT + 2.5, took
    wait_until(lambda: server_counts(app)["body_timeouts"] == before["body_timeouts"] + 1,
               timeout=5, what="the body timeout counted")
    assert "Traceback" not in app.log_text()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (eventlet's, imported by the app)
def test_an_exception_a_view_raises_is_counted_in_healthz_and_logged_at_most_once(caplog):
    """(In the process: no request makes one of the app's own views fail.)"""
    from dashboard.factory import create_app

    app = create_app(overrides={"zmq": ["tcp://127.0.0.1:9"], "store": False,
                                "data_dir": tempfile.mkdtemp(prefix="dashboard-test-")})

    @app.get("/fails")
    def fails():
        raise KeyError("a bug")

    client = app.test_client()
    with caplog.at_level(logging.ERROR):
        answers = [client.get("/fails") for _ in range(20)]
    assert {a.status_code for a in answers} == {500}
    assert answers[0].get_json()["code"] == "internal_error"
    assert client.get("/healthz").get_json()["server"]["errors"] == 20
    failed = [r for r in caplog.records if "/fails" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info, [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("request_bytes", [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBadHeader\r\nConnection: close\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection : close\r\n\r\n",
    b"POST /api/v1/alerts/a/ack HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 30\r\n"
    b"Connection: close\r\n\r\nhello",
], ids=["no colon", "space before the colon", "two content-lengths"])
def test_headers_a_proxy_may_read_otherwise_are_refused(app, request_bytes):
    """A header line without a colon ended the headers there (those after it unread, the request
    answered 200), and two Content-Lengths that disagree were taken: a proxy in front that reads
    them otherwise could be made to pass a second request through (an audit). Refused 400."""
    before = server_counts(app)["bad_requests"]
    data, _ = exchange(app.port, request_bytes)
    status, body = answer(data)
    assert status == 400 and body["ok"] is False and body["code"] == "bad_request", data
    assert server_counts(app)["bad_requests"] == before + 1


def test_a_store_that_cannot_be_read_is_503_and_a_wrong_query_still_500(caplog, tmp_path):
    """(In the process, SQLite: a view whose read finds its file locked by another connection, and
    a view whose query on the store is wrong.) The first is the store, not a defect: 503
    `store_unavailable` with Retry-After, counted in /healthz `store` (which is then degraded),
    logged at most once a minute. The second is a defect, as before: 500, counted with the
    handlers' errors, logged with its traceback. (PostgreSQL's server stopped:
    tests/test_withheld_history.py.)"""
    import sqlite3

    from dashboard.factory import create_app
    from dashboard.web.context import store_of_request

    app = create_app(overrides={"zmq": ["tcp://127.0.0.1:9"], "data_dir": str(tmp_path)})

    locked = tmp_path / "locked.sqlite3"  # (not the store's file: its writer process holds that
    # open, so no other connection can take it whole; the store's connections wait 30 s for a lock)
    with sqlite3.connect(locked) as conn:
        conn.execute("CREATE TABLE events (id INTEGER)")

    @app.get("/reads-locked")
    def reads_locked():
        with sqlite3.connect(locked, timeout=0.05) as conn:
            return {"rows": conn.execute("SELECT COUNT(*) FROM events").fetchall()}

    @app.get("/reads-wrong")
    def reads_wrong():
        return {"rows": store_of_request()._rows("SELECT no_such_column FROM events")}

    client = app.test_client()
    assert client.get("/healthz").get_json()["store"]["read_failures"] == 0
    holder = sqlite3.connect(locked)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with caplog.at_level(logging.WARNING):
            answers = [client.get("/reads-locked") for _ in range(5)]
    finally:
        holder.rollback()
        holder.close()
    assert {a.status_code for a in answers} == {503}
    assert answers[0].get_json()["code"] == "store_unavailable" and answers[0].headers["Retry-After"] == "10"
    health = client.get("/healthz").get_json()
    assert health["store"]["read_failures"] == 5 and health["server"]["errors"] == 0
    assert health["store"]["last_read_failure"]["error"] == "OperationalError: database is locked"
    assert "store" in health["degraded"]
    said = [r for r in caplog.records if "cannot be read now" in r.getMessage()]
    assert len(said) == 1 and not said[0].exc_info
    with caplog.at_level(logging.ERROR):
        wrong = client.get("/reads-wrong")
    assert wrong.status_code == 500 and wrong.get_json()["code"] == "internal_error"
    health = client.get("/healthz").get_json()
    assert health["store"]["read_failures"] == 5 and health["server"]["errors"] == 1
    assert [r for r in caplog.records if "/reads-wrong" in r.getMessage() and r.exc_info]
    # Once it can be read again, so it is (the degraded mark lasts a minute after the last).
    assert client.get("/reads-locked").status_code == 200
