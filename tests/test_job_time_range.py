"""A job's times LAVA's clock could not have meant, through the whole app: a fake LAVA's REST API
and a real ZMQ publisher both give a job submitted "in 1970" (a LAVA whose clock was not yet set);
the jobs are kept, those times are unknown, counted in /healthz and /metrics and logged without the
jobs' values, and no queue wait of 56 years reaches the metrics."""
import datetime as dt
import json
import uuid

from tests.fake_lava import FakeLava
from tests.helpers import AppProcess, TestPublisher, wait_until
from tests.test_metrics import of, scrape

UNSET = "1970-01-01T00:00:07"


def frames(data):
    return [b"org.lavasoftware.testjob", uuid.uuid4().hex.encode(),
            dt.datetime.now(dt.timezone.utc).isoformat().encode(), b"alice", json.dumps(data).encode()]


def test_a_job_time_out_of_range_is_unknown_counted_and_never_a_wait():
    lava = FakeLava()
    submitted = next(j for j in lava.jobs if j["state"] == "Submitted")
    dtype = submitted["requested_device_type"]
    lava.jobs.append(dict(submitted, id=901, submit_time=UNSET + "Z", description="unset clock"))
    publisher = TestPublisher()
    app = AppProcess("--lava-url", lava.url, "--zmq", publisher.endpoint)
    try:
        publisher.wait_for_subscriber()
        wait_until(lambda: app.json("/healthz")["lava"]["loaded"], timeout=20, what="LAVA's state")
        publisher.send(frames({"job": 902, "state": "Submitted", "health": "Unknown",
                               "device_type": dtype, "submit_time": UNSET,
                               "description": "unset clock too"}))
        wait_until(lambda: any(j["id"] == 902 for j in app.json("/api/v1/state")["jobs"]),
                   what="job 902")
        jobs = {j["id"]: j for j in app.json("/api/v1/state")["jobs"]}
        assert jobs[901]["submit_time"] is None and jobs[901]["state"] == "Submitted"
        assert jobs[902]["submit_time"] is None and jobs[902]["state"] == "Submitted"
        assert jobs[submitted["id"]]["submit_time"] is not None  # LAVA's other jobs keep theirs

        health = app.json("/healthz")
        assert health["counters"]["unusable_times"] == 1
        assert health["lava"]["skipped"]["unusable_times"] == {"submit_time": 1}
        assert health["lava"]["unusable_times"] >= 1  # (each reconcile counts it again)
        assert health["lava"]["skipped"]["records"] == 0  # the job was not left out

        samples, _ = scrape(app.url)
        assert of(samples, "dashboard_job_times_unusable_total", via="events") == 1
        assert of(samples, "dashboard_job_times_unusable_total", via="rest") >= 1
        waits = {labels: v for (name, labels), v in samples.items()
                 if name == "lava_queue_oldest_wait_seconds"}
        assert waits  # the type's other jobs wait: the gauge is there to check
        assert all(v < 365 * 86400 for v in waits.values()), waits

        text = app.log_text()
        said = [line for line in text.splitlines() if "out of range" in line]
        assert any("LAVA's answer" in line and "1 submit_time" in line for line in said), said
        assert any("submit_time out of range" in line for line in said), said
        assert "1970-01-01" not in text and "unset clock" not in text
    finally:
        app.stop()
        publisher.close()
        lava.close()
