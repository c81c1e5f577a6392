"""Answers that read the whole model (/api/v1/state, /metrics) never hold the event loop for long.

An audit found that with 20,000 devices in the live model one GET of /api/v1/state or /metrics held
the single event loop (every Socket.IO client, every source) for 0.4–0.65 s, and any viewer could
ask again and again. Here, against the real app (a subprocess fed by a real ZMQ publisher): a green
ticker inside the app (tests/loopwatch) notes how long the loop was held while each request ran;
the answers are what the model holds, each viewer's as they may see it, kept no longer than what
they depend on; and one address cannot have more than two built at once (429 `too_many`, with
`retry_after`), while the same question asked at once is built once.
"""
import concurrent.futures
import json
import pathlib
import statistics
import tempfile
import time
import uuid

import pytest
import requests

from tests.helpers import ROOT, AppProcess, TestPublisher, utc_stamp, wait_until
from tests.loopwatch.sitecustomize import stalls
from tests.test_access import ALICE, BOB, MALLORY, get, lab, publish_private_jobs  # noqa: F401

DEVICES, WORKERS, JOBS = 20000, 2000, 40000
TYPES = ("qemu", "docker", "bbb", "rpi4b", "x86", "juno", "imx8", "hikey")


def frames(kind, data, user="lavaserver"):
    return [f"org.lavasoftware.{kind}".encode(), uuid.uuid4().hex.encode(), utc_stamp().encode(),
            user.encode(), json.dumps(data).encode()]


def device(i, state="Idle", health="Good"):
    return frames("device", {"device": f"dev-{i:05d}", "device_type": TYPES[i % len(TYPES)],
                             "state": state, "health": health,
                             "worker": f"worker-{i % WORKERS:04d}"})


def lava_device(i):
    """LAVA's REST record of the large lab's board i (as fake_lava serves it)."""
    return {"hostname": f"dev-{i:05d}", "device_type": TYPES[i % len(TYPES)], "state": "Idle",
            "health": "Good", "worker_host": f"worker-{i % WORKERS:04d}", "description": None,
            "tags": [], "is_synced": True}


def publish_large_lab(publisher, jobs=JOBS):
    """2,000 workers, 20,000 devices and `jobs` queued jobs (each queued job's wait is what
    /metrics reads the most of)."""
    for w in range(WORKERS):
        publisher.send(frames("worker", {"hostname": f"worker-{w:04d}", "state": "Online",
                                         "health": "Active"}))
    for i in range(DEVICES):
        publisher.send(device(i, *(("Idle", "Good"), ("Running", "Good"), ("Idle", "Bad"))[i % 3]))
    for j in range(1, jobs + 1):
        publisher.send(frames("testjob", {"job": 100000 + j, "device_type": TYPES[j % len(TYPES)],
                                          "state": "Submitted", "health": "Unknown",
                                          "description": f"queued {j}", "submitter": "someone",
                                          "submit_time": "2026-11-30T09:00:00+00:00"}, "someone"))


def loaded(app, jobs=JOBS):
    model = app.json("/healthz")["model"]
    return model["devices"] >= DEVICES and model["jobs"] >= jobs


@pytest.fixture(params=["eventlet", "gevent"])
def large_lab(request):
    """(the app with the loop's ticker, its publisher, the ticker's file), the large lab loaded."""
    ticks = pathlib.Path(tempfile.mkstemp(prefix="loopwatch-", suffix=".txt")[1])
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--no-store", "--log-level", "WARNING",
                     async_mode=request.param,
                     env={"PYTHONPATH": str(ROOT / "tests" / "loopwatch"),
                          "LOOPWATCH_OUT": str(ticks)})
    try:
        publisher.wait_for_subscriber()
        publish_large_lab(publisher)
        wait_until(lambda: loaded(app), timeout=120, interval=0.5, what="the large lab loaded")
        yield app, publisher, ticks
    finally:
        app.stop()
        publisher.close()
        ticks.unlink(missing_ok=True)


def measured(app, ticks, path):
    """(the answer, the longest the app's loop was held while it was asked and answered, how long
    that took)."""
    start = time.monotonic()
    answer = requests.get(app.url + path, timeout=60)
    end = time.monotonic()
    wait_until(lambda: stalls(ticks, end + 0.05, end + 10)[0] > 0, timeout=5,
               what="the ticker past the request")
    return answer, stalls(ticks, start, end + 0.05)[1], end - start


def test_a_large_lab_s_state_and_metrics_hold_the_loop_no_longer_than_a_slice(large_lab):
    """Each request comes after a change (a new seq: nothing kept can answer it), five times per
    endpoint; the loop's longest gap while it is answered must be a small part of the time the
    answer takes (the old code built it in one go: the gap was the whole build, 0.2–0.3 s for
    the state, 0.1 s and more for the metrics here). A share, not a time: a busy machine slows
    the build and its slices alike (an absolute bound of 100 ms failed once beside other tests)."""
    app, publisher, ticks = large_lab
    # The ticker's own gaps, the same run and no request: about 10 ms.
    time.sleep(1.0)
    quiet_end = time.monotonic()
    time.sleep(1.0)
    idle = stalls(ticks, quiet_end, time.monotonic())[1]
    changes, held_for, shares = 0, {}, {}
    for path in ("/api/v1/state", "/metrics"):
        gaps, share = held_for[path], shares[path] = [], []
        for _ in range(5):
            changes += 1
            seq = app.json("/healthz")["seq"]
            publisher.send(device(0, ("Running", "Idle")[changes % 2]))
            wait_until(lambda: app.json("/healthz")["seq"] > seq, timeout=10, what="the change")
            time.sleep(0.2)
            answer, held, took = measured(app, ticks, path)
            assert answer.status_code == 200, answer.text[:200]
            gaps.append(held)
            share.append(held / took)
    medians = {path: statistics.median(values) for path, values in shares.items()}
    # (Here about 0.18 and 0.25: the slices' gaps about 18 and 14 ms of 100 and 55 ms answers; in
    # one go the gap is nearly the whole answer, 0.8 or more.)
    assert medians["/api/v1/state"] < 0.5 and medians["/metrics"] < 0.6, (shares, held_for, idle)
    # And the answers are whole: every object of the model.
    body = requests.get(app.url + "/api/v1/state", timeout=60).json()
    assert (len(body["devices"]), len(body["workers"]), len(body["jobs"])) == (DEVICES, WORKERS,
                                                                              JOBS)
    assert body["seq"] == app.json("/healthz")["seq"]
    worker = next(w for w in body["workers"] if w["hostname"] == "worker-0007")
    assert worker["devices"] == sorted(f"dev-{i:05d}" for i in range(7, DEVICES, WORKERS))
    metrics = requests.get(app.url + "/metrics", timeout=60).text
    assert f'lava_jobs_queued{{device_type="qemu",lab="127.0.0.1"}} {JOBS // len(TYPES)}.0' \
        in metrics


def test_the_same_question_at_once_is_answered_once_and_kept_while_nothing_changes(large_lab):
    """Eight requests at once of one viewer are one build; asked again with nothing changed, the
    kept answer; after a change, a new one (with the change)."""
    app, publisher, ticks = large_lab
    before = app.json("/healthz")["whole_model"]["state"]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: requests.get(app.url + "/api/v1/state", timeout=60),
                                range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert len({a.content for a in answers}) == 1
    again = requests.get(app.url + "/api/v1/state", timeout=60)
    stats = app.json("/healthz")["whole_model"]["state"]
    assert stats["built"] - before["built"] == 1, (before, stats)
    assert again.content == answers[0].content and stats["reused"] > before["reused"]
    seq = app.json("/healthz")["seq"]
    publisher.send(device(3, "Idle", "Maintenance"))
    wait_until(lambda: app.json("/healthz")["seq"] > seq, timeout=10, what="the change")
    changed = requests.get(app.url + "/api/v1/state", timeout=60).json()
    assert changed["seq"] > seq
    assert next(d for d in changed["devices"] if d["hostname"] == "dev-00003")["health"] == \
        "Maintenance"
    # The same for the metrics: one count per seq.
    first = app.json("/healthz")["whole_model"]["metrics"]
    for _ in range(3):
        assert requests.get(app.url + "/metrics", timeout=60).status_code == 200
    counted = app.json("/healthz")["whole_model"]["metrics"]
    assert counted["built"] - first["built"] <= 1 and counted["reused"] - first["reused"] >= 2


def test_each_viewer_gets_their_own_answer_and_a_new_one_once_lava_tells_more(lab):  # noqa: F811
    """Kept answers are never another viewer's: anonymous, a stranger and alice asked in turn, again
    and again, each sees what LAVA shows them. And an answer kept for alice is not served once
    LAVA has told that she may see her private job, though the model has not changed."""
    lava, publisher, start = lab
    app = start()
    publish_private_jobs(publisher)
    wait_until(lambda: {901, 902} <= {j["id"] for j in app.json("/api/v1/state")["jobs"]},
               timeout=15, what="the private jobs in the model")
    # A reconcile (every 2 s) corrects the published jobs to LAVA's records: let one run first,
    # so that the model stays put while alice is answered (a clean-clone run saw it change).
    runs = app.json("/healthz")["lava"]["runs"]
    wait_until(lambda: app.json("/healthz")["lava"]["runs"] >= runs + 2, timeout=20,
               what="a whole reconcile after the jobs came")
    for _ in range(3):
        for token in (None, MALLORY):
            text = get(app, "/api/v1/state", token).text
            assert "SECRET" not in text and "priv-alice" not in text and "priv-carol" not in text
    # alice's first answer: LAVA has not said yet that she may see 901 (it is asked now).
    first = get(app, "/api/v1/state", ALICE).json()
    assert next(j for j in first["jobs"] if j["id"] == 901).get("hidden") is True
    wait_until(lambda: "hidden" not in get(app, "/api/v1/jobs/901", ALICE).json()["job"],
               timeout=20, what="LAVA says alice may see 901")
    now = get(app, "/api/v1/state", ALICE).json()
    mine = next(j for j in now["jobs"] if j["id"] == 901)
    assert mine.get("description") == "SECRET-PERSONAL-901", (first["seq"], now["seq"], mine)
    assert now["seq"] == first["seq"], "the model changed meanwhile: the test proves less"
    for token in (None, MALLORY, BOB):
        assert "SECRET-PERSONAL-901" not in get(app, "/api/v1/state", token).text, token


def test_one_address_has_at_most_two_whole_model_answers_built_at_once(lab):  # noqa: F811
    """Four viewers of one address ask at once, three times each, of a model of 20,000 devices:
    two answers are built at a time; the others are refused 429 `too_many` with `retry_after`
    (and Retry-After), or share a build of their own viewer's; each is answered when it asks
    again."""
    lava, publisher, start = lab
    # LAVA lists the lab's boards (to anonymous users too): with access control, a board LAVA
    # does not list is kept out of the model (core/screen.py).
    lava.devices.extend(lava_device(i) for i in range(DEVICES))
    app = start("--reconcile-interval", "3600", "--max-jobs", "30000", "--max-devices", "25000",
                "--max-workers", "2100")
    publish_large_lab(publisher, jobs=20000)
    wait_until(lambda: loaded(app, jobs=20000), timeout=120, interval=0.5, what="the lab loaded")
    viewers = (None, ALICE, BOB, MALLORY)
    for token in viewers:  # (LAVA has checked each token before: only the answers are timed)
        assert get(app, "/api/v1/whoami", token).status_code == 200
    seq = app.json("/healthz")["seq"]
    publisher.send(device(5, "Idle", "Bad"))
    wait_until(lambda: app.json("/healthz")["seq"] > seq, timeout=10, what="the change")
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda token: (token, get(app, "/api/v1/state", token)),
                                [v for v in viewers for _ in range(3)]))
    refused = [(t, a) for t, a in answers if a.status_code == 429]
    ok = [(t, a) for t, a in answers if a.status_code == 200]
    assert refused and len(ok) >= 2 and len(refused) + len(ok) == 12, \
        [a.status_code for _, a in answers]
    for _, answer in refused:
        body = answer.json()
        assert body["ok"] is False and body["code"] == "too_many", body
        assert body["retry_after"] >= 1 and answer.headers["Retry-After"] == \
            str(body["retry_after"])
    assert app.json("/healthz")["whole_model"]["builds"]["refused"] == len(refused)
    for token, _ in refused:
        again = get(app, "/api/v1/state", token)
        assert again.status_code == 200 and len(again.json()["devices"]) >= DEVICES
