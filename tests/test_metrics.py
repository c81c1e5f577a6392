"""Prometheus /metrics with real parts: the app as a subprocess fed by a real ZMQ publisher, the
output parsed with prometheus-client's own parser and checked against the model (/api/v1/state and
/healthz); off, on another address, and open in login mode."""
import datetime as dt
import json
import re
import socket
import subprocess
import urllib.error
import urllib.request
import uuid

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_lava import FakeLava
from tests.helpers import ROOT, AppProcess, TestPublisher, free_port, wait_until


def frames(kind, data, user="lavaserver"):
    return [f"org.lavasoftware.{kind}".encode(), uuid.uuid4().hex.encode(),
            b"2026-11-30T10:00:00", user.encode(), json.dumps(data).encode()]


def scrape(url, token=None):
    request = urllib.request.Request(url + "/metrics")
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, text


def of(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def lab():
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint)
    publisher.wait_for_subscriber()
    yield publisher, app
    app.stop()
    publisher.close()


def test_lab_gauges_histograms_and_health_agree_with_the_model(lab):
    publisher, app = lab
    for i, (dtype, state, health) in enumerate([("qemu", "Idle", "Good"), ("qemu", "Idle", "Good"),
                                                ("qemu", "Running", "Good"), ("bbb", "Idle", "Bad")]):
        publisher.send(frames("device", {"device": f"d{i}", "device_type": dtype, "state": state,
                                         "health": health, "worker": "w1"}))
    publisher.send(frames("worker", {"hostname": "w1", "state": "Online", "health": "Active"}))
    now = dt.datetime.now(dt.timezone.utc)
    iso = lambda minutes: (now - dt.timedelta(minutes=minutes)).isoformat()  # noqa: E731
    job = {"job": 7, "device_type": "qemu", "description": "x", "submit_time": iso(30)}
    publisher.send(frames("testjob", dict(job, state="Submitted", health="Unknown"), "alice"))
    publisher.send(frames("testjob", dict(job, state="Running", health="Unknown",
                                          start_time=iso(20)), "alice"))
    publisher.send(frames("testjob", dict(job, state="Finished", health="Complete",
                                          start_time=iso(20), end_time=iso(5)), "alice"))
    publisher.send(frames("testjob", {"job": 8, "device_type": "bbb", "state": "Submitted",
                                      "health": "Unknown", "submit_time": iso(12)}, "bob"))
    publisher.send([b"org.lavasoftware.device", b"u", b"d", b"n"])  # 4 frames: rejected
    wait_until(lambda: app.json("/healthz")["counters"]["accepted"] >= 9, what="the events")
    wait_until(lambda: app.json("/healthz")["counters"]["rejected"]["frame_count"] == 1,
               what="the rejected message")

    wait_until(lambda: app.json("/healthz")["store"]["written"] >= 9, what="the events stored")
    wait_until(lambda: app.json("/healthz")["sources"][0]["state"] == "connected", what="connected")
    samples, text = scrape(app.url)
    state, health = app.json("/api/v1/state"), app.json("/healthz")
    lab_ = "127.0.0.1"
    expected = {}
    for d in state["devices"]:
        key = (d["device_type"], d["state"], d["health"])
        expected[key] = expected.get(key, 0) + 1
    got = {(labels["device_type"], labels["state"], labels["health"]): v
           for (name, lbl), v in samples.items() if name == "lava_devices"
           for labels in [dict(lbl)] if labels["lab"] == lab_}
    assert got == expected == {("qemu", "Idle", "Good"): 2, ("qemu", "Running", "Good"): 1,
                               ("bbb", "Idle", "Bad"): 1}
    assert of(samples, "lava_workers", lab=lab_, state="Online", health="Active") == 1
    assert of(samples, "lava_jobs_queued", lab=lab_, device_type="bbb") == 1
    assert of(samples, "lava_jobs_queued", lab=lab_, device_type="qemu") is None
    assert 11 * 60 < of(samples, "lava_queue_oldest_wait_seconds", lab=lab_, device_type="bbb") < 60 * 60
    # Job 7 waited 10 minutes and ran 15: one observation each, in the right buckets.
    assert of(samples, "lava_job_queue_wait_seconds_count", lab=lab_, device_type="qemu") == 1
    assert of(samples, "lava_job_queue_wait_seconds_sum", lab=lab_, device_type="qemu") == pytest.approx(600, abs=1)
    assert of(samples, "lava_job_queue_wait_seconds_bucket", lab=lab_, device_type="qemu", le="300.0") == 0
    assert of(samples, "lava_job_queue_wait_seconds_bucket", lab=lab_, device_type="qemu", le="600.0") == 1
    assert of(samples, "lava_job_duration_seconds_count", lab=lab_, outcome="Complete") == 1
    assert of(samples, "lava_job_duration_seconds_bucket", lab=lab_, outcome="Complete", le="+Inf") == 1
    counters = health["counters"]
    assert of(samples, "dashboard_events_accepted_total") == counters["accepted"]
    assert of(samples, "dashboard_events_rejected_total", reason="frame_count") == 1
    [source] = health["sources"]
    assert of(samples, "dashboard_source_up", source=source["name"], kind="zmq") == 1
    assert of(samples, "dashboard_relay_clients") == 0
    store = health["store"]
    assert of(samples, "dashboard_store_written_rows_total") == store["written"] > 0
    assert of(samples, "dashboard_store_dropped_rows_total") == store["dropped"] == 0
    assert of(samples, "dashboard_store_writer_restarts_total") == 0
    assert store["writer_process"]["restarts"] == 0 and store["writer_process"]["pid"]
    # Prometheus's own linter (Debian's promtool, put in tools/ by scripts/install-test-deps.sh)
    # finds nothing: names, units, suffixes, help texts.
    promtool = ROOT / "tools" / "promtool"
    assert promtool.exists(), "run scripts/install-test-deps.sh: it puts promtool in tools/"
    checked = subprocess.run([str(promtool), "check", "metrics"], input=text, capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(), \
        checked.stdout + checked.stderr
    # Nothing about a job's words or people: no description, no submitter.
    assert "alice" not in text and "bob" not in text and "description" not in text
    # The shipped Grafana dashboard asks only for series this output has.
    grafana = json.loads((ROOT / "deploy" / "grafana" / "lava-live-dashboard.json").read_text())
    asked = {m for p in grafana["panels"] for t in p["targets"]
             for m in re.findall(r"\b(?:lava|dashboard)_[a-z_]+", t["expr"])}
    assert asked and asked <= {name for name, _ in samples}, asked - {name for name, _ in samples}


def test_off_and_on_another_address():
    publisher = TestPublisher()
    port = free_port()
    off = AppProcess("--zmq", publisher.endpoint, "--metrics", "off")
    apart = AppProcess("--zmq", publisher.endpoint, "--metrics", f"127.0.0.1:{port}")
    try:
        for app in (off, apart):
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(app.url + "/metrics", timeout=10)
            assert info.value.code == 404
            body = json.loads(info.value.read())  # the one error shape, saying why
            assert body["ok"] is False and body["code"] == "not_found" and "--metrics" in body["error"]
        samples, _ = scrape(f"http://127.0.0.1:{port}")
        assert of(samples, "dashboard_info", lab="127.0.0.1", role="all", version="0.1.0") == 1
    finally:
        off.stop()
        apart.stop()
        publisher.close()


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_the_metrics_address_has_the_apps_limits_and_idle_connections_cannot_exhaust_it(
        async_mode):
    """--metrics HOST:PORT is served like the app's port: connections that never send a request
    are closed after --header-timeout, one address holds at most a few, and the server serves a
    bounded number at once. 300 idle connections leave the app and, once they are closed, the
    metrics answering, and the process's open files bounded."""
    port = free_port()
    app = AppProcess("--metrics", f"127.0.0.1:{port}", "--header-timeout", "1",
                     async_mode=async_mode)
    idle = []
    try:
        scrape(f"http://127.0.0.1:{port}")
        files_before = psutil.Process(app.proc.pid).num_fds()
        for _ in range(300):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            idle.append(sock)
        # The app's own port is not touched by any of it.
        status, _, health = app.get("/healthz")
        assert status == 200 and health["ok"] is True, health.get("degraded")
        # Past the few an address may hold, the rest were refused (503) or wait in the backlog,
        # unread: the process holds a bounded number of them.
        assert psutil.Process(app.proc.pid).num_fds() < files_before + 40
        wait_until(lambda: app.json("/healthz")["server"]["metrics_apart"]["header_timeouts"] >= 1,
                   timeout=15, what="idle connections timed out")
        for sock in idle:
            sock.close()
        idle.clear()
        samples = wait_until(lambda: _scraped(f"http://127.0.0.1:{port}"), timeout=15,
                             what="the metrics answering again")
        assert of(samples, "dashboard_info", lab="simulated", role="all", version="0.1.0") == 1
        apart = app.json("/healthz")["server"]["metrics_apart"]
        assert apart["refused"] >= 1 and apart["max_per_address"] == 4 and apart["open"] <= 4
    finally:
        for sock in idle:
            sock.close()
        app.stop()


def _scraped(url):
    try:
        return scrape(url)[0]
    except (OSError, urllib.error.URLError):
        return None


def test_login_mode_asks_prometheus_for_a_token_like_any_api_client():
    """In login mode nothing is shown without a viewer, /metrics included: Prometheus sends a LAVA
    token (`authorization: {type: Token}`), as API clients do; or use --metrics HOST:PORT."""
    lava = FakeLava(token="metrics-token-123456")
    lava.users["scraper-token-654321"] = ("prometheus", [])
    app = AppProcess("--lava-url", lava.url, "--lava-token", "metrics-token-123456",
                     "--access", "login")
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            scrape(app.url)
        assert info.value.code == 401
        offline = ("lava_workers", tuple(sorted(
            {"lab": "127.0.0.1", "state": "Offline", "health": "Active"}.items())))
        wait_until(lambda: scrape(app.url, "scraper-token-654321")[0].get(offline),
                   what="LAVA's workers loaded")
        _, text = scrape(app.url, "scraper-token-654321")
        assert "metrics-token-123456" not in text and "scraper-token-654321" not in text
    finally:
        app.stop()
        lava.close()
