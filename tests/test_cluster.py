"""Scale-out with real parts: redis-server, one ingest and two web processes, nginx running the
shipped deploy/nginx.conf, a real ZMQ publisher and python-socketio clients. Every fault case ends
with every client holding exactly the ingest process's model."""
import copy
import json
import shutil
import tempfile
import time
import urllib.request

import pytest
import socketio

from tests.fixtures import captured_frames
from tests.helpers import (AppProcess, LiveView, TestPublisher, free_port, message, model_view,
                           utc_stamp, wait_until)
from tests.servers import NginxServer, RedisServer

# The messages' times: an hour ago, a second apart (the store keeps the last 30 days by event time).
BASE = time.time() - 3600


def lab_frames(tag, n, start=0):
    """n lava-publisher messages with fresh uuids: devices, their jobs and workers changing (job
    ids from 1000 + start)."""
    frames = []
    for i in range(start, start + n):
        when = f"{utc_stamp(BASE + i)}+00:00".encode()
        device = f"dev-{i // 3 % 12:02d}"
        if i % 3 == 0:
            topic, data = b"org.lavasoftware.testjob", {
                "job": 1000 + i, "state": "Finished" if i % 9 == 0 else "Running" if i % 6 == 0 else "Submitted",
                "health": "Complete" if i % 9 == 0 else "Unknown", "device": device,
                "device_type": "qemu", "submitter": "lab", "description": f"job {i}",
                "priority": 50, "submit_time": when.decode()}
        elif i % 3 == 1:
            topic, data = b"org.lavasoftware.device", {
                "device": device, "device_type": "qemu", "worker": f"worker-{i % 3}",
                "state": ["Idle", "Running"][i % 2], "health": ["Good", "Bad", "Unknown"][i % 3]}
        else:
            topic, data = b"org.lavasoftware.worker", {
                "hostname": f"worker-{i % 3}", "state": "Online", "health": ["Active", "Maintenance"][i % 2]}
        frames.append([topic, f"{tag}-{i}".encode(), when, b"lavaserver", json.dumps(data).encode()])
    return frames


class Cluster:
    """Redis, one ingest, two webs and nginx, sharing one data dir (SQLite history) or a
    PostgreSQL database."""

    def __init__(self, database="", async_mode="eventlet", redis_password=None):
        self.database = database
        self.async_mode = async_mode
        self.data_dir = tempfile.mkdtemp(prefix="dashboard-cluster-")
        self.redis = RedisServer(password=redis_password).start()
        self.publisher = TestPublisher()
        self.views = []
        self.webs = [self._web(), self._web()]
        self.ingest = None
        self.nginx = NginxServer([w.port for w in self.webs]).start()

    def _common(self):
        return ("--message-queue", self.redis.url, "--data-dir", self.data_dir,
                "--batch-interval", "0.05", *(("--database", self.database) if self.database else ()))

    def _web(self, port=None):
        return AppProcess("--role", "web", *self._common(), port=port, async_mode=self.async_mode)

    def start_ingest(self, *extra, env=None):
        self.ingest = AppProcess("--role", "ingest", "--zmq", self.publisher.endpoint, *self._common(),
                                 *extra, async_mode=self.async_mode, env=env)
        self.publisher.wait_for_subscriber()
        wait_until(lambda: self.ingest.json("/healthz")["sources"][0]["state"] == "connected",
                   what="ingest connected to the publisher")
        self.sent = 0  # messages published to this ingest process
        epoch = self.ingest.json("/healthz")["epoch"]
        for web in self.webs:
            if web.alive():
                wait_until(lambda: web.json("/healthz")["epoch"] == epoch, what="webs following")
        return self.ingest

    def view(self, url=None, **kwargs):
        view = LiveView(url or self.nginx.url, **kwargs).connect()
        self.views.append(view)
        return view

    def publish(self, frames):
        for f in frames:
            self.publisher.send(f)
        self.sent += len(frames)

    def wait_consistent(self, views=None, timeout=30):
        """Until the ingest process has handled every message published, and every client and each
        web's model equals the ingest process's model."""
        def handled():
            counters = self.ingest.json("/healthz")["counters"]
            return counters["accepted"] + counters["duplicates"] + counters["rejected_total"] == self.sent
        wait_until(handled, timeout=timeout, what="the ingest process handling every message")

        def consistent():
            model = self.ingest.json("/api/v1/state")
            if any(w.alive() and w.json("/api/v1/state")["seq"] != model["seq"] for w in self.webs):
                return False
            expected = model_view(model)
            return all(v.seq == model["seq"] and v.state() == expected for v in views or self.views)
        wait_until(consistent, timeout=timeout, interval=0.1, what="every client holding the model")
        return self.ingest.json("/api/v1/state")

    def close(self):
        for view in self.views:
            view.close()
        for proc in (*self.webs, self.ingest):
            if proc:
                proc.stop()
        self.nginx.close()
        self.publisher.close()
        self.redis.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture
def cluster(request):
    c = Cluster(async_mode=getattr(request, "param", "eventlet"))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def pg_cluster():
    from tests.pgserver import PostgresServer

    server = PostgresServer()
    server.start()
    c = None
    try:
        c = Cluster(database=server.create_database(), redis_password="r3dis-secret")
        yield c
    finally:
        if c:
            c.close()
        server.cleanup()


def test_web_processes_serve_the_history_the_ingest_process_writes_to_postgresql(pg_cluster):
    cluster = pg_cluster
    cluster.start_ingest()
    cluster.publish(lab_frames("pg", 120))
    cluster.wait_consistent()
    assert health(cluster.ingest)["store"]["file"].startswith("postgresql://")
    for proc in (cluster.ingest, cluster.webs[0]):  # neither password is ever shown
        text = json.dumps(health(proc)) + proc.log_text()
        assert "s3cret" not in text and "pa%3Ass" not in text and "r3dis-secret" not in text
        assert health(proc)["cluster"]["message_queue"] == f"redis://127.0.0.1:{cluster.redis.port}/0"

    def history(web):
        return web.json("/api/v1/events?limit=500")  # newest first
    wait_until(lambda: len(history(cluster.webs[0])["events"]) == 120, what="120 events stored")
    for web in cluster.webs:
        assert [e["uuid"] for e in history(web)["events"]] == [f"pg-{i}" for i in reversed(range(120))]
        device = web.json("/api/v1/devices/dev-03")
        assert device["ok"] and device["transitions"]


def health(proc):
    return proc.json("/healthz")


@pytest.mark.parametrize("cluster", ["eventlet", "gevent"], indirect=True)
def test_a_web_process_waits_for_ingest_then_every_client_gets_every_change(cluster):
    # Web processes started first: they serve, and say what is missing.
    body = wait_until(lambda: (b := health(cluster.webs[0]))["degraded"] == ["ingest"] and b,
                      what="the web process saying the ingest process is missing")
    assert body["status"] == "degraded" and body["cluster"]["redis"] == "connected"
    # Until it has read the ingest process's access, its outputs (the shared store's history
    # among them) answer 503; the page itself loads.
    assert "not known yet" in body["cluster"]["access_problem"]
    status, _, answer = cluster.webs[0].get("/api/v1/events")
    assert status == 503 and answer["code"] == "access_mismatch"
    assert cluster.webs[0].get("/")[0] == 200
    # A client of a web process that has no model yet is told to retry, not given an empty lab.
    early = LiveView(cluster.webs[0].url)
    cluster.views.append(early)
    early.client.connect(cluster.webs[0].url, transports=["websocket"], wait_timeout=10)
    wait_until(lambda: early.acks, what="an answer to subscribe")
    assert early.acks[0]["ok"] is False and early.acks[0]["retry"] is True and early.snapshots == 0
    cluster.start_ingest()
    # The ingest process serves no browsers, and says so: its page names the web processes (a new
    # operator's walkthrough: it served the page, which never loaded), its Socket.IO refuses.
    status, _, page = cluster.ingest.get("/")
    assert status == 404 and "ingest process" in str(page) and "web process" in str(page)
    lost, said = socketio.Client(reconnection=False), []
    lost.on("connect_error", said.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        lost.connect(cluster.ingest.url, transports=["websocket"], wait_timeout=10)
    assert "serves no browsers" in json.dumps(said), said
    through_nginx = [cluster.view() for _ in range(3)]
    direct = [cluster.view(w.url) for w in cluster.webs]
    frames = captured_frames() + lab_frames("a", 300)
    cluster.publish(frames)
    model = cluster.wait_consistent()
    assert len(model["devices"]) > 12 and model["jobs"] and model["workers"]
    for view in through_nginx + direct + [early]:
        # Unfiltered: every change after its snapshot, each once, in order, up to the model's seq.
        assert view.snapshots >= 1 and view.gaps == 0
        assert view.since_snapshot == list(range(view.snapshot_seq + 1, model["seq"] + 1))
    # Every web serves the same numbers, and the same history (the store the ingest writes).
    for web in cluster.webs:
        assert web.json("/api/v1/state") == model
        assert health(web)["cluster"]["access_problem"] is None  # both open
        # (the heartbeat, once a second, may still carry the ingest's source as connecting)
        body = wait_until(lambda: (b := health(web))["status"] == "ok" and b, what="healthy")
        assert body["cluster"]["epoch"] == model_epoch(cluster) and body["cluster"]["lag"] == 0
    wait_until(lambda: all(web.json("/api/v1/events?limit=1")["events"]
                           and web.json("/api/v1/events?limit=1")["events"][0]["uuid"] == "a-299"
                           for web in cluster.webs), what="history shared by the web processes")


def model_epoch(cluster):
    return health(cluster.ingest)["epoch"]


def test_a_client_that_moves_to_another_web_process_catches_up(cluster):
    cluster.start_ingest()
    view = cluster.view(cluster.webs[0].url)
    cluster.publish(lab_frames("a", 60))
    cluster.wait_consistent()
    view.client.disconnect()
    seq_before, snapshots_before, acks_before = view.seq, view.snapshots, len(view.acks)
    cluster.publish(lab_frames("b", 60))
    wait_until(lambda: cluster.webs[1].json("/api/v1/state")["seq"] > seq_before + 30,
               what="web 2 following")
    view.connect(cluster.webs[1].url)
    cluster.wait_consistent()
    # The missed changes only, from the other web process: no snapshot.
    wait_until(lambda: len(view.acks) > acks_before, what="the subscribe answer")
    assert (view.snapshots, view.catchups) == (snapshots_before, 1)
    assert health(cluster.webs[1])["relay"]["catchups"] == 1


def test_killing_a_web_process_moves_its_clients_to_the_other(cluster):
    cluster.start_ingest()
    views = [cluster.view() for _ in range(3)]
    cluster.publish(lab_frames("a", 60))
    cluster.wait_consistent()
    clients = [health(w)["relay"]["clients"] for w in cluster.webs]
    assert sorted(clients) == [0, 3], clients  # ip_hash: one client address, one web process
    victim, survivor = (cluster.webs[0], cluster.webs[1]) if clients[0] else reversed(cluster.webs)
    victim.kill()
    cluster.publish(lab_frames("b", 90))
    cluster.wait_consistent()
    assert health(survivor)["relay"]["clients"] == 3
    for view in views:
        # Same epoch, same numbers on the other process: a catch-up, no second snapshot.
        wait_until(lambda: view.catchups == 1, what="the subscribe answer")
        assert view.snapshots == 1 and view.gaps == 0


@pytest.mark.parametrize("how", ["restart", "crash"])
def test_restarting_ingest_gives_a_clean_resync_and_never_a_wrong_state(cluster, how):
    cluster.start_ingest()
    views = [cluster.view(), cluster.view(cluster.webs[1].url)]
    cluster.publish(lab_frames("a", 90))
    first = cluster.wait_consistent()
    first_epoch = model_epoch(cluster)
    if how == "crash":  # SIGKILL: what was not yet stored (at most 0.5 s) is lost
        cluster.ingest.kill()
        cluster.ingest.log.close()
    else:  # SIGTERM: the store is written and the model saved first
        cluster.ingest.stop()
    wait_until(lambda: "ingest" in health(cluster.webs[0])["degraded"], timeout=15,
               what="the web process noticing")
    # REST clients are told too (an audit: 200 and "ok", nothing said); the model still served.
    for path in ("/api/v1/state", "/api/v1/devices", "/api/v1/alerts"):  # (each blueprint's)
        status, headers, answer = cluster.webs[0].get(path)
        assert status == 200, (path, answer)
        assert headers.get("X-Dashboard-Stale") == ("no heartbeat from the ingest process: this "
                                                    "model may be out of date"), (path, headers)
    cluster.start_ingest()
    cluster.publish(lab_frames("b", 90, start=90))
    model = cluster.wait_consistent()
    assert model_epoch(cluster) != first_epoch
    if how == "restart":  # the model was restored from the store, nothing lost
        assert {j["id"] for j in first["jobs"]} <= {j["id"] for j in model["jobs"]}
    for view in views:
        # One clean resync: a single fresh snapshot of the new epoch, no gap (no change crossed
        # epochs: LiveView counts that as a gap).
        assert view.epochs == [first_epoch, model_epoch(cluster)] and view.gaps == 0


def test_a_second_ingest_process_stands_by_and_takes_over_when_the_first_stops(cluster):
    first = cluster.start_ingest()
    views = [cluster.view(), cluster.view(cluster.webs[1].url)]
    standby = AppProcess("--role", "ingest", "--zmq", cluster.publisher.endpoint, *cluster._common(),
                         async_mode=cluster.async_mode)
    try:
        cluster.publisher.wait_for_subscriber()
        body = wait_until(lambda: (b := health(standby))["degraded"] == ["another-ingest"] and b,
                          what="the standby saying another ingest process publishes")
        assert body["cluster"]["rival"] == model_epoch(cluster)
        cluster.publish(lab_frames("a", 60))  # both receive them; only the first publishes
        cluster.wait_consistent()
        first_epoch = model_epoch(cluster)
        # ... and only the first writes the shared store: the standby holds them
        wait_until(lambda: len(stored(cluster)) == 60, what="the first storing the events")
        wait_until(lambda: health(standby)["store"]["standby"]["held"] == 60,
                   what="the standby holding the same events")
        assert health(standby)["store"]["written"] == 0
        first.stop()  # SIGTERM: it withdraws its heartbeat, and the standby takes over at once
        import redis
        beat = redis.Redis.from_url(cluster.redis.url).get("lava-dashboard:ingest")
        assert beat is None or json.loads(beat)["epoch"] != first_epoch  # not left to expire
        cluster.ingest = standby
        wait_until(lambda: health(standby)["status"] == "ok", what="the standby publishing")
        cluster.publish(lab_frames("b", 30, start=60))
        model = cluster.wait_consistent()
        assert model_epoch(cluster) != first_epoch and len(model["jobs"]) >= 30
        for view in views:
            assert view.epochs == [first_epoch, model_epoch(cluster)] and view.gaps == 0
        # Every event in the history once: the 60 the first stored, none of them again.
        want = [f"b-{i}" for i in reversed(range(60, 90))] + [f"a-{i}" for i in reversed(range(60))]
        wait_until(lambda: stored(cluster) == want, what="each event stored once")
        assert health(standby)["store"]["standby"]["already_stored"] == 60
    finally:
        standby.stop()


def stored(cluster):
    """The uuids of the shared store's events, newest first (a web process's history API)."""
    return [e["uuid"] for e in cluster.webs[0].json("/api/v1/events?limit=500")["events"]]


def test_a_standby_that_takes_over_from_a_crash_stores_what_the_other_did_not(cluster):
    """SIGKILL: what the first received after its last write, and what came while its heartbeat
    expired, is in the history once, from the standby's held events."""
    first = cluster.start_ingest()
    standby = AppProcess("--role", "ingest", "--zmq", cluster.publisher.endpoint, *cluster._common(),
                         async_mode=cluster.async_mode)
    try:
        cluster.publisher.wait_for_subscriber()
        wait_until(lambda: health(standby)["degraded"] == ["another-ingest"],
                   what="the standby standing by")
        cluster.publish(lab_frames("a", 60))
        cluster.wait_consistent()
        wait_until(lambda: len(stored(cluster)) == 60, what="the first storing the events")
        first.kill()  # its heartbeat stays until it expires (5 s): the standby still stands by
        first.log.close()
        cluster.publish(lab_frames("b", 30, start=60))  # the gap: nobody writes them yet
        # Held while the first's heartbeat lasts (5 s), unless a busy machine made the standby
        # read them later than that (it then takes over first, and writes them as it gets them:
        # seen once on three xdist workers)
        wait_until(lambda: health(standby)["counters"]["accepted"] >= 90, timeout=20,
                   what="the standby receiving the gap")
        held = health(standby)["degraded"] == ["another-ingest"]
        cluster.ingest = standby
        wait_until(lambda: health(standby)["status"] == "ok", timeout=20,
                   what="the standby publishing")
        cluster.publish(lab_frames("c", 10, start=90))
        cluster.wait_consistent()
        want = ([f"c-{i}" for i in reversed(range(90, 100))] + [f"b-{i}" for i in reversed(range(60, 90))]
                + [f"a-{i}" for i in reversed(range(60))])
        wait_until(lambda: stored(cluster) == want, what="each event stored once, the gap too")
        body = health(standby)["store"]["standby"]
        # (the c events too when they came before the keeper's first round after the takeover)
        assert body["takeovers"] == 1 and body["already_stored"] == 60 and body["written"] <= 40
        assert 30 <= body["written"] or not held, body
    finally:
        standby.stop()


def test_a_standby_with_access_lava_keeps_no_alert_until_it_takes_over(cluster):
    """With --lava-url (access lava) the model's changes go through JobVisibility: the standby's
    alert engine still follows the publisher (an audit found it never stood by), so it keeps
    nothing while the first publishes, and adopts the first's alerts when it stops."""
    from tests.fake_lava import FakeLava

    token = "tok-cluster-standby-0123456789"
    lava = FakeLava(token=token, event_socket=cluster.publisher.endpoint)
    env = {"DASHBOARD_LAVA_TOKEN": token}
    # (The web processes, open, serve nothing of an ingest process in access lava: not waited for.)
    first = cluster.ingest = AppProcess("--role", "ingest", "--zmq", cluster.publisher.endpoint,
                                        *cluster._common(), "--lava-url", lava.url,
                                        async_mode=cluster.async_mode, env=env)
    wait_until(lambda: health(first)["status"] == "ok", what="the first publishing")
    standby = AppProcess("--role", "ingest", "--zmq", cluster.publisher.endpoint, *cluster._common(),
                         "--lava-url", lava.url, async_mode=cluster.async_mode, env=env)
    try:
        wait_until(lambda: health(standby)["degraded"] == ["another-ingest"],
                   what="the standby standing by")
        body = health(standby)["alerts"]
        assert body["standing_by"] is True and body["takeovers"] == 0, body
        first.stop()
        cluster.ingest = standby
        wait_until(lambda: health(standby)["alerts"]["takeovers"] == 1, timeout=30,
                   what="the standby's alerts taking over")
        assert health(standby)["alerts"]["standing_by"] is False
        assert "taking over the alerts" in standby.log_text()
    finally:
        standby.stop()
        lava.close()


def test_a_redis_restart_recovers_without_anyone_acting(cluster):
    cluster.start_ingest()
    views = [cluster.view(), cluster.view(cluster.webs[1].url)]
    cluster.publish(lab_frames("a", 60))
    cluster.wait_consistent()
    cluster.redis.stop()
    for proc in (cluster.ingest, *cluster.webs):
        wait_until(lambda: "redis" in health(proc)["degraded"], timeout=20,
                   what=f"/healthz of port {proc.port} saying Redis is down")
    assert health(cluster.webs[0])["cluster"]["error"]
    # Each web process tells its clients at once that the feed is paused.
    for view in views:
        wait_until(lambda: any(s.get("cluster", {}).get("state") == "error" for s in view.statuses),
                   what="clients told that the live feed is paused")
    snapshots = [view.snapshots for view in views]
    cluster.publish(lab_frames("b", 60, start=60))  # accepted meanwhile: held by the ingest process
    wait_until(lambda: health(cluster.ingest)["counters"]["accepted"] == 120, what="ingest accepting")
    time.sleep(0.5)
    cluster.redis.start()  # empty: everything published before is gone
    cluster.wait_consistent(timeout=40)
    for proc in (cluster.ingest, *cluster.webs):
        wait_until(lambda: health(proc)["status"] == "ok", timeout=20, what="all healthy again")
    for view, before in zip(views, snapshots):
        # The held changes followed on from what the web processes had: a continuous sequence.
        assert view.snapshots == before and view.gaps == 0
        # The last word about the cluster is that it is back (other status parts, such as the
        # event sources', may come after it). Waited for: /healthz may say ok a moment before
        # the client has read the status message that says so.
        wait_until(lambda: [s["cluster"] for s in view.statuses if "cluster" in s][-1]
                   == {"state": "ok", "error": None}, what="clients told the cluster is back")


def test_redis_data_of_another_shape_is_skipped_counted_and_never_blamed_on_redis():
    # A heartbeat of another shape that never expires (left by another tool): the ingest process
    # takes the prefix over; a stream entry of another shape: every web process skips it alone and
    # applies the batches after it, with no reload; /healthz counts both, and shows no password.
    import redis

    cluster = Cluster(redis_password="r3dis-secret")
    try:
        r = redis.Redis.from_url(cluster.redis.url)
        r.set("lava-dashboard:ingest", json.dumps({"pid": 1, "note": "r3dis-secret"}))
        cluster.start_ingest()  # the web processes follow its epoch: it publishes
        views = [cluster.view(), cluster.view(cluster.webs[1].url)]
        cluster.publish(lab_frames("a", 30))
        cluster.wait_consistent()
        snapshots = [health(web)["cluster"]["snapshots"] for web in cluster.webs]
        r.xadd("lava-dashboard:changes", {"epoch": model_epoch(cluster), "first": "?",
                                          "changes": "r3dis-secret"})
        cluster.publish(lab_frames("b", 30, start=30))
        cluster.wait_consistent()
        assert health(cluster.ingest)["cluster"]["malformed"] == {"heartbeats": 1, "changes": 0,
                                                                 "snapshots": 0}
        for web, before in zip(cluster.webs, snapshots):
            # (The heartbeat is read every second: the one it read before the ingest's was not one.)
            body = wait_until(lambda: (b := health(web))["status"] == "ok" and b, timeout=5,
                              what="the web process healthy")
            assert body["cluster"]["malformed"]["entries"] == 1 and body["degraded"] == []
            assert body["cluster"]["snapshots"] == before and body["cluster"]["errors"] == 0
        for view in views:
            assert view.gaps == 0 and len(view.epochs) == 1
        for proc in (cluster.ingest, *cluster.webs):
            text = json.dumps(health(proc)) + proc.log_text()
            assert "r3dis-secret" not in text and "Traceback" not in text
        assert "skipped" in cluster.webs[0].log_text()
    finally:
        cluster.close()


def test_a_status_from_the_ingest_process_reaches_clients_through_the_message_queue(cluster):
    from tests.fake_lava import FakeLava

    token = "tok-cluster-0123456789"
    lava = FakeLava(token=token, event_socket=cluster.publisher.endpoint)
    try:
        for i, web in enumerate(cluster.webs):  # as strict as the ingest process: its --lava-url
            web.stop()
            cluster.webs[i] = AppProcess("--role", "web", "--lava-url", lava.url, *cluster._common(),
                                         port=web.port, async_mode=cluster.async_mode)
        cluster.start_ingest("--lava-url", lava.url, "--reconcile-interval", "1",
                             env={"DASHBOARD_LAVA_TOKEN": token})
        views = [cluster.view(w.url) for w in cluster.webs]
        lava.fault = "500"  # the next reconcile fails: the ingest process says so
        # Twice each: at once through Flask-SocketIO's message queue, and from the heartbeat (each
        # web process's fallback for a message its queue listener lost). Once would mean a path
        # is broken; the error stays the same meanwhile, so neither says it again.
        for view in views:
            wait_until(lambda: sum(s.get("lava", {}).get("state") == "error"
                                   for s in view.statuses) == 2, timeout=20,
                       what="the ingest process's status at a web process's client, twice")
        wait_until(lambda: (b := health(cluster.webs[0]))["degraded"] == ["ingest:lava-api"]
                          and b, what="the web's /healthz naming the ingest's trouble")
        lava.fault = None
        for view in views:
            wait_until(lambda: view.statuses[-1].get("lava", {}).get("state") == "ok", timeout=20,
                       what="the recovery")
        # The token is the ingest process's alone: never in a web process's answers or logs.
        for web in cluster.webs:
            assert token not in json.dumps(health(web)) + web.log_text()
    finally:
        lava.close()


def test_a_web_process_less_strict_than_its_ingest_process_serves_nothing_but_why(cluster):
    """An ingest process given --lava-url (access lava), one web process without it (access open,
    which would show everyone the private jobs the ingest process holds) and one with it: the
    first loads no model and answers every output 503, saying why; the second serves, redacted."""
    import socketio

    from tests.fake_lava import FakeLava
    from tests.test_access import OUTPUTS, SECRETS, private_job, publish_private_jobs

    token = "tok-cluster-0123456789"
    lava = FakeLava(token=token, event_socket=cluster.publisher.endpoint)
    private_job(lava, 901, "priv-alice", "SECRET-PERSONAL-901", [])
    private_job(lava, 902, "priv-carol", "SECRET-GROUP-902", ["lab-staff"])
    lava.hidden_devices.add("docker-02")  # (kept out by the ingest process: core/screen.py)
    bare, given = cluster.webs
    try:
        given.stop()
        given = cluster.webs[1] = AppProcess("--role", "web", "--lava-url", lava.url, *cluster._common(),
                                             port=given.port, async_mode=cluster.async_mode)
        cluster.ingest = AppProcess("--role", "ingest", "--zmq", cluster.publisher.endpoint,
                                    *cluster._common(), "--lava-url", lava.url,
                                    "--reconcile-interval", "1",
                                    async_mode=cluster.async_mode, env={"DASHBOARD_LAVA_TOKEN": token})
        cluster.publisher.wait_for_subscriber()
        wait_until(lambda: cluster.ingest.json("/healthz")["lava"]["loaded"], what="LAVA loaded")
        publish_private_jobs(cluster.publisher)
        wait_until(lambda: "public-marker" in json.dumps(cluster.ingest.json("/api/v1/events?kind=event")),
                   what="the ingest process holding the private jobs")
        epoch = cluster.ingest.json("/healthz")["epoch"]
        wait_until(lambda: given.json("/healthz")["epoch"] == epoch, what="the web with --lava-url following")
        wait_until(lambda: "access" in health(bare)["degraded"], what="the bare web saying why")
        body = health(bare)
        assert body["epoch"] is None and body["model"]["jobs"] == 0  # no model loaded
        assert "access is open" in body["cluster"]["access_problem"]
        assert "--lava-url" in body["cluster"]["access_problem"]
        for path in (*OUTPUTS, "/", "/metrics", "/api/v1/devices"):
            status, _, answer = bare.get(path)
            assert status == 503 and answer["code"] == "access_mismatch", (path, status, answer)
            assert not any(secret in json.dumps(answer) for secret in SECRETS)
        # Socket.IO: refused (so no log_follow either), and counted.
        client = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(bare.url, transports=["websocket"], wait_timeout=10)
        assert health(bare)["relay"]["refused"] >= 1
        # The web process given the ingest process's --lava-url serves, with the private jobs hidden.
        for path in OUTPUTS:
            status, _, answer = given.get(path)
            assert status in (200, 403, 404), (path, status)
            assert not any(secret in json.dumps(answer) for secret in SECRETS), path
        assert "access" not in health(given)["degraded"] and health(given)["cluster"]["access_problem"] is None
        assert "serves nothing" not in given.log_text() and "serves nothing" in bare.log_text()
        # A device LAVA hides from anonymous users, and its job 10, are in no web process's model.
        _, _, devices = given.get("/api/v1/devices")
        hostnames = {d["hostname"] for d in devices["devices"]}
        assert "docker-01" in hostnames and "docker-02" not in hostnames
        assert given.get("/api/v1/jobs/10")[0] == 404 and given.get("/api/v1/jobs/7")[0] == 200
        # A job asked of a type anyone may see (docker), then run on docker-02, which LAVA hides:
        # the ingest process keeps it out, and the web process withholds its queued row, stored
        # while LAVA showed it (an audit: the web process, with no screen, showed it redacted).
        job = copy.deepcopy(lava.job(8))
        job.update(id=952, requested_device_type="docker", description="public-952", submitter="bob")
        lava.jobs.append(job)
        cluster.publisher.send(message("testjob", utc_stamp(), "q-952", job=952, state="Submitted",
                                       health="Unknown", device_type="docker",
                                       description="public-952", submitter="bob"))
        wait_until(lambda: given.get("/api/v1/events?job=952")[2]["events"], timeout=15,
                   what="job 952's queued row stored, and served by the web process")
        job.update(state="Running", actual_device="docker-02", description="SECRET-MOVED-952")
        cluster.publisher.send(message("testjob", utc_stamp(), "j-952", job=952, state="Running",
                                       device="docker-02", worker="lab-worker-02",
                                       description="SECRET-MOVED-952", submitter="bob"))
        wait_until(lambda: given.get("/api/v1/jobs/952")[0] == 404,
                   what="job 952 answered by the web process as a job never known")
        wait_until(lambda: given.get("/api/v1/events?job=952")[2]["events"] == [], timeout=5,
                   what="job 952's queued row withheld by the web process")
        assert "public-952" not in json.dumps(given.get("/api/v1/events?limit=1000")[2])
        assert "public-952" not in json.dumps(given.get("/export/events.json")[2])
        # A board LAVA hides later: its history, which the ingest process stored, is withheld by
        # the web process too (core/withheld.py), from the model it follows.
        cluster.publisher.send(message("device", utc_stamp(), "d-docker-01", device="docker-01",
                                       device_type="docker", worker="lab-worker-02",
                                       state="Idle", health="Good"))
        wait_until(lambda: given.get("/api/v1/events?device=docker-01")[2]["events"],
                   what="docker-01's change stored, and served by the web process")
        assert given.get("/api/v1/devices/docker-01")[0] == 200
        lava.hidden_devices.add("docker-01")
        wait_until(lambda: "docker-01" not in json.dumps(given.get("/api/v1/devices")[2]),
                   what="docker-01 out of the web process's model")
        wait_until(lambda: given.get("/api/v1/devices/docker-01")[0] == 404, timeout=5,
                   what="docker-01's history withheld")
        assert given.get("/api/v1/events?device=docker-01")[2]["events"] == []
        assert "docker-01" not in json.dumps(given.get("/api/v1/events")[2])
    finally:
        lava.close()


def test_a_browser_through_nginx_rides_out_a_dead_web_process_and_a_redis_restart(cluster, browser):
    from tests.test_app_browser import open_page

    cluster.start_ingest()
    cluster.publish(lab_frames("a", 36))
    cluster.wait_consistent()
    page = open_page(browser)
    try:
        page.goto(cluster.nginx.url + "/")
        page.wait_for_selector("#connection[data-state=live]", timeout=10000)
        page.wait_for_selector('[data-device="dev-00"]')
        page.evaluate("window.__sameDocument = 42")
        serving = [w for w in cluster.webs if health(w)["relay"]["clients"] == 1]
        assert len(serving) == 1
        serving[0].kill()
        cluster.publish(lab_frames("b", 36, start=36))
        model = cluster.wait_consistent()
        wait_until(lambda: page.evaluate("document.getElementById('app').dataset.seq") == str(model["seq"]),
                   timeout=20, what="the page at the model's seq")
        for d in model["devices"]:
            assert page.query_selector(f'[data-device="{d["hostname"]}"][data-state="{d["state"]}"]'
                                       f'[data-health="{d["health"]}"]'), d
        stats = page.evaluate("({...window.lavaDashboard.stats})")
        assert (stats["snapshots"], stats["catchups"]) == (1, 1)  # caught up from the other web

        cluster.redis.stop()
        page.wait_for_selector("#cluster-status", timeout=20000)
        assert "Redis" in page.inner_text("#cluster-status")
        page.wait_for_selector('#dashboard[data-stale="true"]', timeout=5000)
        _screenshot(page, "cluster-redis-down")
        cluster.redis.start()
        page.wait_for_selector("#cluster-status", state="detached", timeout=30000)
        page.wait_for_selector('#dashboard[data-stale="false"]', timeout=5000)
        assert page.evaluate("window.__sameDocument") == 42  # never reloaded
        assert all("WebSocket" in e or "ERR_CONNECTION" in e for e in page.errors), page.errors
    finally:
        page.context.close()


def test_nginx_serves_static_files_itself():
    # Upstreams where nothing listens: pages fail (502), static files do not need them.
    dead = NginxServer([free_port(), free_port()]).start()
    try:
        with urllib.request.urlopen(dead.url + "/static/js/main.js", timeout=5) as resp:
            assert resp.status == 200 and resp.headers["Cache-Control"] == "no-cache"
            assert resp.headers["Content-Type"] == "text/javascript"  # or modules do not run
            assert resp.read() == (NginxServer.SITE.parent.parent / "static/js/main.js").read_bytes()
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(dead.url + "/healthz", timeout=10)
        assert info.value.code == 502
    finally:
        dead.close()


def _free_base_port():
    """A port B such that B, B+1 and B+100 (honcho's ports for web.1, web.2, ingest) are free."""
    import socket

    for _ in range(50):
        base = free_port()
        if base + 100 > 65535:
            continue
        try:
            for port in (base, base + 1, base + 100):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise AssertionError("no free port range")


def test_honcho_starts_a_working_multi_process_dashboard_from_the_procfile(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from tests.helpers import ROOT

    base = _free_base_port()
    env = {**os.environ, "REDIS_PORT": str(free_port()), "DASHBOARD_DATA_DIR": str(tmp_path),
           "DASHBOARD_SIM_SPEED": "5", "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "honcho.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "honcho", "start", "-c", "web=2", "-p", str(base)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    views = []
    try:
        def get(port, path):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
                return json.loads(resp.read())

        def healthy(port):
            try:
                return get(port, "/healthz")["status"] == "ok"
            except OSError:
                return False
        wait_until(lambda: healthy(base) and healthy(base + 1) and healthy(base + 100), timeout=60,
                   what="honcho's three dashboard processes healthy (log: %s)" % (tmp_path / "honcho.log"))
        roles = [get(p, "/healthz")["role"] for p in (base, base + 1, base + 100)]
        assert roles == ["web", "web", "ingest"]
        assert get(base, "/healthz")["simulated"] is True  # from the ingest process's snapshot
        views = [LiveView(f"http://127.0.0.1:{p}").connect() for p in (base, base + 1)]
        ingest = get(base + 100, "/healthz")["epoch"]
        assert all(v.epoch == ingest for v in views)
        # The simulated lab keeps changing; both web processes' clients follow it to the same seq.
        wait_until(lambda: views[0].seq > 0 and views[0].seq == views[1].seq
                   and views[0].state() == views[1].state(), timeout=20, what="same view on both")
        wait_until(lambda: get(base, "/api/v1/events?limit=1")["events"], timeout=20,
                   what="the simulated history readable from a web process")
    finally:
        for view in views:
            view.close()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


def _screenshot(page, name):
    """Into test-artifacts/screenshots/; with UPDATE_SCREENSHOTS=1 into docs/screenshots/ too."""
    import os

    from tests.helpers import ROOT

    for folder in [ROOT / "test-artifacts" / "screenshots"] + (
            [ROOT / "docs" / "screenshots"] if os.environ.get("UPDATE_SCREENSHOTS") else []):
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"))


def test_an_ingest_process_counts_the_socket_io_messages_it_refuses(cluster):
    # Browsers go to the web processes; the ingest process relays through Redis and has no relay
    # of its own. What reaches its Socket.IO anyway is refused, and counted where a person looks.
    from tests.hostile import RawSocketIO
    from tests.test_bad_socket_messages import acks_in, metric_refusals

    cluster.start_ingest()
    before = health(cluster.ingest)["relay"]
    assert before["bad_messages"] == 0 and before["handler_errors"] == 0
    raw = RawSocketIO(cluster.ingest.port)
    try:
        # Its Socket.IO refuses to connect, saying where browsers go (a new operator's walkthrough:
        # the page it served connected, and every subscribe was an "unknown event").
        raw.send("40")
        wait_until(lambda: raw._read_some() and b"44{" in raw.received, timeout=10,
                   what="the connect refused")
        assert b"serves no browsers" in raw.received and b"web process" in raw.received
        raw.send('42["subscribe",')  # not JSON: refused and counted all the same
        raw.send("49")  # no Socket.IO packet at all
        wait_until(lambda: health(cluster.ingest)["relay"]["bad_messages"] == 3, timeout=10,
                   what="the ingest process counting them")
    finally:
        raw.sock.close()
    assert acks_in(raw.received) == {}  # (not connected: nothing to acknowledge)
    after = health(cluster.ingest)["relay"]
    assert after["bad_messages_by_kind"]["not_json"] == 1
    assert after["bad_messages_by_kind"]["malformed"] == 1
    assert after["bad_messages_by_kind"]["ingest_connect"] == 1
    assert metric_refusals(cluster.ingest) == after["bad_messages_by_kind"]
