"""A store that cannot be read now (a real PostgreSQL server stopped), where the answer cannot be
a plain 503: an export whose headers are sent when it fails, and the alerts of several labs asked
without `lab`. (The 503 of every other output: tests/test_withheld_history.py; SQLite, in the
process: tests/test_http_faults.py.)"""
import socket
import time

from tests.helpers import AppProcess, TestPublisher, message, utc_stamp, wait_until
from tests.pgserver import PostgresServer

ROWS = 5000  # three of the export's pages (feeds.EXPORT_PAGE): it reads the second once sent the first


def _read_some(sock, most, seconds):
    """Up to `most` bytes within `seconds` (less when the server closes first)."""
    data, deadline = b"", time.monotonic() + seconds
    while len(data) < most and time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(min(4096, most - len(data)))
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_an_export_cut_short_by_the_store_ends_as_a_broken_transfer_and_is_counted(tmp_path):
    """Its headers (200, X-Export-Complete: true) are sent before its second page is read: when
    that read fails, the answer must not end as a whole export would. It ends without the chunked
    encoding's last chunk (curl: exit 18; requests: ChunkedEncodingError), and the failure is
    counted and said as the 503s are."""
    server = PostgresServer()
    publisher = TestPublisher()
    app = None
    try:
        url = server.start().url
        app = AppProcess("--zmq", publisher.endpoint, "--database", url, "--access", "open")
        publisher.wait_for_subscriber()
        for i in range(ROWS):
            publisher.send(message("worker", utc_stamp(), f"w-{i}", hostname=f"worker-{i % 50:02d}",
                                   state="Online" if i % 2 else "Offline", health="Active"))
        wait_until(lambda: app.json("/healthz")["store"]["written"] >= ROWS, timeout=60,
                   what="every row written")
        # A client that reads slowly: the server's writes block after the first few chunks.
        with socket.create_connection(("127.0.0.1", app.port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /export/events.csv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = _read_some(sock, 2048, 10)
            assert head.startswith(b"HTTP/1.1 200") and b"X-Export-Complete: true" in head, head[:300]
            assert b"chunked" in head.lower(), head[:300]
            server.stop()
            rest = b""
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                part = _read_some(sock, 1 << 20, 5)
                if not part:
                    break
                rest += part
        body = head + rest
        assert body.count(b"\n") < ROWS, "the whole export came: the store was read before it stopped"
        assert not body.endswith(b"\r\n0\r\n\r\n"), "ended as a whole export would"
        health = app.json("/healthz")
        assert health["store"]["read_failures"] >= 1, health["store"]
        assert "store" in health["degraded"]
        assert "cannot be read now" in app.log_text()
        server.start()
        status, headers, _ = app.get("/export/events.csv", timeout=30)
        assert status == 200 and headers["X-Export-Complete"] == "true"
    finally:
        if app is not None:
            app.stop()
        publisher.close()
        server.cleanup()


def test_several_labs_alerts_asked_without_a_lab_answer_503_while_a_store_cannot_be_read(tmp_path):
    """A dashboard of two labs with no alert engine (--no-alerts: as a cluster's web process,
    whose engine is the ingest process's): the alerts list reads every lab's store. It answered
    500 while one could not be read, since the request names no lab (found by a review); now
    503, counted against the lab whose store failed."""
    server = PostgresServer()
    app = None
    try:
        server.start()
        east, west = server.create_database("east"), server.create_database("west")
        config = tmp_path / "labs.toml"
        config.write_text(f'[labs.east]\nevent_source = "tcp://127.0.0.1:9"\ndatabase = "{east}"\n\n'
                          f'[labs.west]\nevent_source = "tcp://127.0.0.1:9"\ndatabase = "{west}"\n')
        app = AppProcess("--labs", str(config), "--access", "open", "--no-alerts")
        status, _, body = app.get("/api/v1/alerts")
        assert status == 200 and body["alerts"] == [], body
        server.stop()
        for path in ("/api/v1/alerts", "/api/v1/alerts?lab=west", "/api/v1/events?lab=west"):
            status, headers, body = app.get(path, timeout=30)
            assert status == 503 and body["code"] == "store_unavailable", (path, status, body)
            assert headers["Retry-After"] == "10"
        labs = {lab["name"]: lab["store"] for lab in app.json("/healthz")["labs"]}
        assert labs["east"]["read_failures"] == 1 and labs["west"]["read_failures"] == 2, labs
        assert "Traceback" not in app.log_text()
    finally:
        if app is not None:
            app.stop()
        server.cleanup()


def test_a_store_that_fails_to_keep_events_is_an_alert_that_goes_out_while_it_fails(tmp_path):
    """The lab needs a person: its history is being lost. The `store_failing` alert fires once the
    store has failed to keep events for `minutes`, is sent (the notification does not need the
    store), is listed from the engine's memory, and resolves once the store keeps them again."""
    from tests.test_alerts import Receiver, hook

    server = PostgresServer()
    publisher = TestPublisher()
    receiver = Receiver()
    app = None
    try:
        url = server.start().url
        rules = tmp_path / "alerts.toml"
        rules.write_text(hook(receiver, "store_failing", "minutes = 0.02\n", renotify=600))
        app = AppProcess("--zmq", publisher.endpoint, "--database", url, "--access", "open",
                         "--alerts-config", str(rules), "--alerts-interval", "0.2",
                         "--snapshot-interval", "1")
        publisher.wait_for_subscriber()
        publisher.send(message("worker", utc_stamp(), "w-ok", hostname="w1", state="Online",
                               health="Active"))
        wait_until(lambda: app.json("/healthz")["store"]["written"] >= 1, timeout=20,
                   what="the store keeping events")
        time.sleep(1.0)
        assert "store_failing/lab" not in {a["key"] for a in app.json("/api/v1/alerts")["alerts"]}
        server.stop()
        for i in range(20):  # events to keep, which the store cannot
            publisher.send(message("worker", utc_stamp(), f"w-{i}", hostname="w1",
                                   state=("Online", "Offline")[i % 2], health="Active"))
            time.sleep(0.1)
        wait_until(lambda: app.json("/healthz")["store"]["failing"], timeout=30,
                   what="the store failing")
        sent = wait_until(lambda: [m for m in receiver.received
                                   if m["title"] == "[FIRING] store_failing: lab"],
                          timeout=30, what="the store_failing notification")
        assert "event store" in sent[0]["message"] and "history is lost" in sent[0]["message"]
        firing = {a["key"]: a for a in app.json("/api/v1/alerts")["alerts"] if a["status"] == "firing"}
        assert "store_failing/lab" in firing, firing  # (from the engine's memory)
        server.start()  # (and no event after it: a quiet lab; the model's save says it works)
        wait_until(lambda: not app.json("/healthz")["store"]["failing"], timeout=60,
                   what="the store keeping events again")
        wait_until(lambda: app.json("/healthz")["alerts"]["firing"] == 0, timeout=30,
                   what="the alert resolved (the engine's own count)")
        wait_until(lambda: "[RESOLVED] store_failing: lab" in receiver.titles(), timeout=30,
                   what="the resolution sent")
    finally:
        if app is not None:
            app.stop()
        receiver.stop()
        publisher.close()
        server.cleanup()
