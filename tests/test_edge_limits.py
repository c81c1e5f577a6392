"""Limits at the edge with real parts (issue 11, cases 3, 6 and 8): deep JSON and wrong REST types
are refused with a reason and counted, objects beyond the model's limits are counted as over_limit,
and through it all the app keeps serving snapshots, batches and history."""
import json
import re

import pytest

from dashboard.sources.rest import LavaError, LavaRest
from tests.fake_lava import FakeLava
from tests.helpers import AppProcess, LiveView, TestPublisher, utc_stamp, wait_until
from tests.test_zmq_recovery import RSS_BOUND_MB, rss_mb


def nested(levels):
    return '{"a":' * levels + "1" + "}" * levels


def frames(topic, uuid, data):
    payload = data if isinstance(data, str) else json.dumps(data)
    return [topic.encode(), uuid.encode(), utc_stamp().encode(), b"lavaserver", payload.encode()]


def worker(uuid, hostname):
    return frames("org.lavasoftware.worker", uuid,
                  {"hostname": hostname, "state": "Online", "health": "Active"})


@pytest.fixture(params=["eventlet", "gevent"])
def lab(request):
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--max-devices", "5", async_mode=request.param)
    try:
        publisher.wait_for_subscriber()
        yield publisher, app
    finally:
        app.stop()
        publisher.close()


def test_deeply_nested_json_is_refused_and_poisons_nothing(lab):
    publisher, app = lab
    view = LiveView(app.url).connect()
    try:
        # 490 levels once broke every later subscribe ("flush failed"); 960, the history API.
        publisher.send(frames("org.lavasoftware.anything", "deep-490", nested(490)))
        publisher.send(frames("org.lavasoftware.anything", "deep-960", nested(960)))
        publisher.send(frames("org.lavasoftware.event", "deep-list", '{"job": 1, "message": "m", '
                              '"x": ' + "[" * 40 + "]" * 40 + "}"))
        publisher.send(frames("org.lavasoftware.anything", "shallow", nested(20)))
        publisher.send(worker("after-deep", "w-after-deep"))
        wait_until(lambda: "w-after-deep" in view.objects["worker"], what="the event after")
        counters = app.json("/healthz")["counters"]
        assert counters["rejected"]["too_deep"] == 3
        assert counters["accepted"] == 2 and counters["internal_errors"] == 0
        # A subscribe afterwards still gets its snapshot, the shallow event in it.
        late = LiveView(app.url).connect()
        try:
            assert "w-after-deep" in late.objects["worker"]
        finally:
            late.close()
        # The history answers, with the accepted events in it (the store writes in batches).
        body = wait_until(lambda: (lambda b: b if len(b.get("events", [])) == 2 else None)(
            app.get("/api/v1/events?limit=50")[2]), what="the accepted events stored")
        assert {e["uuid"] for e in body["events"]} == {"shallow", "after-deep"}
        for path in ("/feeds/events.atom", "/export/events.json", "/api/v1/state"):
            status, _, body = app.get(path)
            assert status == 200 and "after-deep" in (body if isinstance(body, str)
                                                      else json.dumps(body)), path
        assert "flush failed" not in app.log_text()
        assert "too_deep" in app.log_text()
        assert rss_mb(app) < RSS_BOUND_MB
    finally:
        view.close()


def test_names_over_the_limit_and_objects_beyond_the_model_limit(lab):
    publisher, app = lab
    view = LiveView(app.url).connect()
    try:
        assert "model-limits" not in app.json("/healthz")["degraded"]
        publisher.send(frames("org.lavasoftware.device", "long-name",
                              {"device": "d" * 100_000, "state": "Idle", "health": "Good"}))
        for i in range(8):  # --max-devices 5
            publisher.send(frames("org.lavasoftware.device", f"dev-{i}",
                                  {"device": f"dev-{i}", "device_type": "qemu", "state": "Idle",
                                   "health": "Good", "worker": "w1"}))
        publisher.send(worker("after-limit", "w-after-limit"))
        wait_until(lambda: "w-after-limit" in view.objects["worker"], what="the event after")
        health = app.json("/healthz")
        assert health["counters"]["rejected"]["too_long"] == 1
        assert health["counters"]["over_limit"] == 3
        # The live view misses objects: said as a degraded lab, not only counted (an audit).
        assert "model-limits" in health["degraded"] and health["status"] == "degraded"
        assert health["model"]["devices"] == 5
        assert sorted(view.objects["device"]) == [f"dev-{i}" for i in range(5)]
        assert "w1" in view.objects["worker"]
        [w1] = [w for w in app.json("/api/v1/state")["workers"] if w["hostname"] == "w1"]
        assert w1["devices"] == [f"dev-{i}" for i in range(5)]  # REST sends a worker's devices
        assert app.json("/api/v1/workers/w1")["worker"]["devices"] == w1["devices"]
        listed = {w["hostname"]: w["devices"] for w in app.json("/api/v1/workers")["workers"]}
        assert listed == {"w1": w1["devices"], "w-after-limit": []}
        # A device the model holds still changes.
        publisher.send(frames("org.lavasoftware.device", "dev-0-bad",
                              {"device": "dev-0", "state": "Idle", "health": "Bad"}))
        wait_until(lambda: view.objects["device"]["dev-0"]["health"] == "Bad", what="an update")
        assert app.get("/api/v1/events?limit=50")[0] == 200
        assert rss_mb(app) < RSS_BOUND_MB
    finally:
        view.close()


def test_records_of_wrong_types_from_lava_are_left_out_alone_and_the_model_keeps_serving():
    lava = FakeLava()
    publisher = TestPublisher()
    # Open access: the subject is wrong types; with --access lava a submitter filter sees nothing of
    # jobs LAVA has not yet said are public (tests/test_access.py covers that).
    app = AppProcess("--lava-url", lava.url, "--zmq", publisher.endpoint,
                     "--reconcile-interval", "0.5", "--access", "open")
    view = None
    try:
        publisher.wait_for_subscriber()
        wait_until(lambda: app.json("/healthz")["lava"]["loaded"], timeout=20, what="loaded")
        view = LiveView(app.url, {"submitters": ["lava-health"]}).connect()
        everything = LiveView(app.url).connect()
        devices_before = len(app.json("/api/v1/state")["devices"])

        host = lava.devices[0]["hostname"]
        lava.devices[0]["device_type"] = {"name": "qemu"}
        lava.jobs[0]["submitter"] = ["lava-health", "someone"]
        # Another device changes without an event: one bad record must not stop its repair.
        other = lava.devices[1]["hostname"]
        lava.devices[1]["health"] = "Maintenance"
        wait_until(lambda: everything.objects["device"][other]["health"] == "Maintenance",
                   timeout=20, what="the other device corrected")
        lava_health = wait_until(lambda: (lambda h: h if (h["skipped"] or {}).get("records") == 2
                                          else None)(app.json("/healthz")["lava"]),
                                 timeout=20, what="the bad records counted")
        assert lava_health["state"] == "ok" and lava_health["error"] is None
        assert lava_health["skipped"]["by_reason"] == {"device/bad_type": 1, "job/bad_type": 1}
        samples = lava_health["skipped"]["samples"]
        assert any("device_type is a dict" in s and host in s for s in samples)
        # /healthz is open: the job's sample names its field, not the job (it may be private).
        assert "a job's submitter (bad_type)" in samples
        assert not any(str(lava.jobs[0]["id"]) in s for s in samples)
        assert lava_health["skipped_total"]["job/bad_type"] >= 1
        log = wait_until(lambda: (lambda t: t if "records of an unexpected shape" in t else None)(
            app.log_text()), what="the log line")
        assert "device_type is a dict" in log or "submitter is a list" in log
        assert host in everything.objects["device"]  # left out of the answer, not taken as gone
        metrics = app.get("/metrics")[2]
        counted = re.search(r'dashboard_reconcile_skipped_records_total\{kind="job"\} (\d+)', metrics)
        assert counted and int(counted.group(1)) >= 1
        assert 'dashboard_reconcile_skipped_records_total{kind="worker"} 0' in metrics

        # The model keeps serving, and subscribers (filtered on submitter too) keep getting batches.
        state = app.json("/api/v1/state")
        assert len(state["devices"]) == devices_before
        assert all(isinstance(j["submitter"], (str, type(None))) for j in state["jobs"])
        batches = everything.batches
        publisher.send(worker("during-bad-rest", "w-during"))
        wait_until(lambda: "w-during" in everything.objects["worker"], what="a batch meanwhile")
        assert everything.batches > batches
        publisher.send(frames("org.lavasoftware.testjob", "job-during",
                              {"job": 999, "state": "Submitted", "health": "Unknown",
                               "submitter": "lava-health"}))
        wait_until(lambda: 999 in view.objects["job"], what="a filtered batch meanwhile")
        assert "flush failed" not in app.log_text()

        lava.devices[0]["device_type"] = "qemu"
        lava.jobs[0]["submitter"] = "lava-health"
        wait_until(lambda: app.json("/healthz")["lava"]["skipped"]["records"] == 0, timeout=20,
                   what="recovered")
        everything.close()
    finally:
        if view:
            view.close()
        app.stop()
        publisher.close()
        lava.close()


def test_the_rest_client_refuses_deep_answers_and_leaves_out_records_of_wrong_types():
    lava = FakeLava()
    try:
        client = LavaRest(lava.url, timeout=5)
        lava.fault = "deep"
        with pytest.raises(LavaError) as info:
            client.fetch_snapshot()
        assert info.value.kind == "bad_shape" and "too_deep" in str(info.value)
        lava.fault = None
        whole = len(client.fetch_snapshot().jobs)
        lava.jobs[0]["submitter"] = ["a", "b"]
        snap = client.fetch_snapshot()
        assert snap.skipped.counts == {("job", "bad_type"): 1} and len(snap.jobs) == whole - 1
        assert "submitter is a list" in snap.skipped.samples[0][1]
        lava.jobs[0]["submitter"] = "a"
        assert len(client.fetch_snapshot().jobs) == whole
    finally:
        lava.close()
