"""A ZMQ source that always comes back (issue 11, case 2): the app as a subprocess under eventlet and
gevent, a real ZMQ publisher, a real Socket.IO client, and /healthz polled throughout."""
import json
import socket
import threading
import time

import pytest

from tests.helpers import AppProcess, LiveView, TestPublisher, wait_until
from tests.hostile import HealthWatch, running_lab

LIMIT = 4096  # --max-message-size; ZMQ_MAXMSGSIZE is 4 × this (dashboard/sources/zmq.py)


def worker_event(uuid, hostname, padding=""):
    data = {"hostname": hostname, "state": "Online", "health": "Active"}
    if padding:
        data["padding"] = padding
    return [b"org.lavasoftware.worker", uuid.encode(), b"2026-11-27T17:00:00", b"lavaserver",
            json.dumps(data).encode()]


@pytest.fixture(params=["eventlet", "gevent"])
def lab(request):
    with running_lab(request.param, "--max-message-size", str(LIMIT)) as parts:
        yield parts


RSS_BOUND_MB = 300  # the app starts at about 70 MB; a leak per reconnect would show


def rss_mb(app):
    """The app process's resident memory, in MB (Linux)."""
    with open(f"/proc/{app.proc.pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def counters(app):
    return app.json("/healthz")["counters"]


def test_oversized_frames_cost_only_themselves_and_the_source_comes_back(lab):
    publisher, app, view = lab
    with HealthWatch(app.url, interval=0.1) as probe:
        # Over the limit, within ZMQ_MAXMSGSIZE: the parser drops it; the connection stays.
        publisher.send(worker_event("big-1", "w-big-1", "x" * (LIMIT + 10)))
        publisher.send(worker_event("good-1", "w-good-1"))
        wait_until(lambda: "w-good-1" in view.objects["worker"], what="the event after a big one")
        assert counters(app)["rejected"]["oversized"] == 1
        assert app.json("/healthz")["sources"][0]["disconnects"] == 0

        # Far over ZMQ_MAXMSGSIZE: libzmq drops the connection and would never retry it. The source
        # makes a new socket, which subscribes again.
        subscriptions = publisher.subscriptions
        publisher.send(worker_event("huge-1", "w-huge-1", "y" * (8 * LIMIT)))
        publisher.wait_for_subscriber(timeout=15)
        assert publisher.subscriptions == subscriptions + 1
        publisher.send(worker_event("good-2", "w-good-2"))
        wait_until(lambda: "w-good-2" in view.objects["worker"], timeout=10,
                   what="the event after a frame over ZMQ_MAXMSGSIZE")
        # The monitor is read every 0.25 s: the status may trail the first message a little.
        health = wait_until(lambda: (lambda h: h if h["counters"]["rejected"]["oversized"] == 2
                                     and h["sources"][0]["state"] == "connected" else None)(
            app.json("/healthz")), what="counted as oversized, and connected again")
        source = health["sources"][0]
        assert source["state"] == "connected" and source["disconnects"] >= 1
        assert health["status"] == "ok"
        assert "w-huge-1" not in view.objects["worker"] and "w-big-1" not in view.objects["worker"]

        # Twice more: each costs only itself, and the source keeps coming back.
        for i in range(2):
            publisher.send(worker_event(f"huge-{i + 2}", "w-huge", "z" * (8 * LIMIT)))
            publisher.wait_for_subscriber(timeout=20)
            publisher.send(worker_event(f"good-{i + 3}", f"w-good-{i + 3}"))
            wait_until(lambda: f"w-good-{i + 3}" in view.objects["worker"], timeout=10,
                       what="an event after another huge frame")
    probe.check()
    assert counters(app)["rejected"]["oversized"] == 4
    assert rss_mb(app) < RSS_BOUND_MB
    assert counters(app)["internal_errors"] == 0
    log = app.log_text()
    assert "oversized" in log and "Traceback" not in log


def test_the_source_comes_back_when_the_publisher_restarts_on_the_same_port(lab):
    publisher, app, view = lab
    port = publisher.port
    with HealthWatch(app.url, interval=0.1) as probe:
        for round_ in range(2):
            publisher.close()
            wait_until(lambda: app.json("/healthz")["sources"][0]["state"] != "connected",
                       what="the loss seen")
            time.sleep(0.5)  # a moment with nobody listening on the port
            publisher = TestPublisher(port)
            try:
                publisher.wait_for_subscriber(timeout=20)
                publisher.send(worker_event(f"after-restart-{round_}", f"w-restart-{round_}"))
                wait_until(lambda: f"w-restart-{round_}" in view.objects["worker"], timeout=10,
                           what="an event from the restarted publisher")
            finally:
                if round_ == 1:
                    publisher.close()
    probe.check()
    health = app.json("/healthz")
    assert health["sources"][0]["disconnects"] >= 2
    assert health["counters"]["rejected"]["oversized"] == 0  # a restart is not a big frame


class GarbageServer:
    """A TCP server on 127.0.0.1 that answers every connection with bytes that are not ZMTP."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.connections += 1
            with conn:
                try:
                    conn.sendall(b"\xff" + b"\x00" * 8 + b"\x7f" + b"NOT ZMTP" * 16)
                    time.sleep(0.2)
                except OSError:
                    pass

    def close(self):
        self.sock.close()
        self._thread.join(5)


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_a_failed_handshake_is_retried_until_a_real_publisher_answers(async_mode):
    garbage = GarbageServer()
    app = AppProcess("--zmq", f"tcp://127.0.0.1:{garbage.port}", async_mode=async_mode)
    publisher = view = None
    try:
        # libzmq gives up on a peer that fails the handshake; the source makes new sockets.
        wait_until(lambda: garbage.connections >= 3, timeout=20, what="new sockets, again and again")
        assert app.json("/healthz")["counters"]["rejected"]["oversized"] == 0
        # Connected means a ZMTP handshake, not a TCP connection: never said to the garbage server.
        assert ": connected" not in app.log_text()
        garbage.close()
        publisher = TestPublisher(garbage.port)
        publisher.wait_for_subscriber(timeout=20)
        view = LiveView(app.url).connect()
        publisher.send(worker_event("after-garbage", "w-after-garbage"))
        wait_until(lambda: "w-after-garbage" in view.objects["worker"], what="an event at last")
        assert "handshake failed" in app.log_text()
    finally:
        if view:
            view.close()
        app.stop()
        garbage.close()
        if publisher:
            publisher.close()
