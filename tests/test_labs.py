"""Several labs in one dashboard (docs/labs.md): the app as a subprocess with a --labs file, two
fake LAVA servers serving the same captured lab (so every hostname and job id exists in both), a
real ZMQ publisher each, real Socket.IO clients and the REST API."""
import datetime
import json
import pathlib
import time
from urllib.parse import quote

import pytest

from tests.fake_lava import FakeLava
from tests.helpers import AppProcess, LiveView, TestPublisher, model_view, utc_stamp, wait_until

EAST_TOKEN = "tok-EAST-5ecret-0a1b2c"


def _frames(topic, uuid, data, when=None):
    """A message published now, unless `when` says otherwise (the CSV export reads the last day
    unless asked: a fixed date made the export test fail a day after it was written)."""
    when = when or utc_stamp()
    return [topic.encode(), uuid.encode(), when.encode(), b"lavaserver", json.dumps(data).encode()]


@pytest.fixture
def labs(tmp_path):
    """Two fake LAVAs (east needs a token), a publisher each, and a factory for the app with a
    --labs file naming both (`east_extra`: more of east's fields, TOML lines). East names its
    event source; west's is found from its LAVA (discovery, per lab)."""
    east_pub, west_pub = TestPublisher(), TestPublisher()
    east, west = FakeLava(token=EAST_TOKEN), FakeLava(event_socket=f"tcp://*:{west_pub.port}")
    token = tmp_path / "east.token"
    token.write_text(EAST_TOKEN + "\n")
    config = tmp_path / "labs.toml"
    made = []

    def start(*extra, subscribe=True, east_extra=""):
        config.write_text(f"""
[labs.east]
lava_url = "{east.url}"
token_file = "{token}"
event_source = "{east_pub.endpoint}"
{east_extra}

[labs.west]
lava_url = "{west.url}"
""")
        app = AppProcess("--labs", str(config), "--access", "open", "--reconcile-interval", "2",
                         *extra)
        made.append(app)
        if subscribe:
            east_pub.wait_for_subscriber()
            west_pub.wait_for_subscriber()
        return app

    yield {"east": east, "west": west, "east_pub": east_pub, "west_pub": west_pub}, start
    for app in made:
        app.stop()
    for part in (east_pub, west_pub, east, west):
        part.close()


def _loaded(app):
    labs = app.json("/healthz")["labs"]
    return all(lab["lava"]["loaded"] for lab in labs) and labs


def _device(app, lab, hostname):
    """The device of this lab, or {} while the dashboard does not know it (404)."""
    return app.json(f"/api/v1/devices/{hostname}?lab={lab}").get("device") or {}


def test_two_labs_with_the_same_ids_are_shown_apart_and_each_change_reaches_its_own(labs):
    parts, start = labs
    app = start()
    health = wait_until(lambda: _loaded(app), timeout=30, what="both labs loaded")
    assert [lab["name"] for lab in health] == ["east", "west"]
    state = app.json("/api/v1/state")
    hostnames = {d["hostname"] for d in state["devices"] if d["lab"] == "east"}
    assert hostnames and hostnames == {d["hostname"] for d in state["devices"] if d["lab"] == "west"}
    assert len(state["devices"]) == 2 * len(hostnames)  # qemu-01 of east is not qemu-01 of west
    assert {j["lab"] for j in state["jobs"]} == {"east", "west"}
    # East's token went to east alone; west was read anonymously.
    assert {auth for path, _, auth in parts["east"].requests if path.startswith("/api/")} == {
        f"Token {EAST_TOKEN}"}
    assert {auth for path, _, auth in parts["west"].requests if path.startswith("/api/")} == {None}

    everyone, west_only = LiveView(app.url).connect(), LiveView(app.url, {"labs": ["west"]}).connect()
    try:
        for lab in everyone.meta["labs"]:  # in this state since (ISO 8601): the page's "failing 5 min"
            assert datetime.datetime.fromisoformat(lab["lava"].pop("since")).tzinfo is not None
        assert everyone.meta["labs"] == [
            {"name": "east", "lava_url": parts["east"].url, "simulated": False,
             "lava": {"state": "ok", "error": None, "loaded": True}},
            {"name": "west", "lava_url": parts["west"].url, "simulated": False,
             "lava": {"state": "ok", "error": None, "loaded": True}}]
        assert {s["lab"] for s in everyone.meta["sources"]} == {"east", "west"}
        for lab in ("east", "west"):  # the reconciler's lines say which lab's boards they are about
            assert f"loaded LAVA's state (lab {lab}): " in app.log_text()
        assert everyone.state() == model_view(state)
        assert west_only.state() == model_view(state, {"labs": ["west"]})
        assert west_only.state()["devices"] and {
            d["lab"] for d in west_only.state()["devices"]} == {"west"}
        answers = []  # a lab it does not watch: refused, naming those it does
        everyone.client.emit("subscribe", {"filter": {"labs": ["north"]}}, callback=answers.append)
        wait_until(lambda: answers, what="the ack")
        assert answers[0]["code"] == "bad_filter" and "'north'" in answers[0]["error"]
        assert "east, west" in answers[0]["error"]

        west_before = _device(app, "west", "qemu-03")
        parts["east_pub"].send(_frames("org.lavasoftware.device", "e-1",
                                       {"device": "qemu-03", "state": "Idle", "health": "Bad"}))
        parts["west_pub"].send(_frames("org.lavasoftware.testjob", "w-1",
                                       {"job": 5, "state": "Finished", "health": "Incomplete",
                                        "description": "west's job 5"}))
        wait_until(lambda: _device(app, "east", "qemu-03")["health"] == "Bad", what="east's change")
        wait_until(lambda: any(c["kind"] == "job" and c["id"] == 5 for c in west_only.received),
                   what="west's change on a west-only client")
        assert _device(app, "west", "qemu-03") == west_before
        jobs = {(j["lab"], j["id"]): j for j in app.json("/api/v1/jobs")["jobs"]}
        assert jobs[("west", 5)]["description"] == "west's job 5"
        assert jobs[("east", 5)]["description"] != "west's job 5"
        # Both waited for: west's change reached the west-only client, but this client's copy of
        # its batch may still be on the way (two sockets), and east's may have come in an earlier
        # batch.
        wait_until(lambda: everyone.objects["device"].get(("east", "qemu-03"), {}).get("health")
                   == "Bad" and everyone.objects["job"].get(("west", 5), {}).get("description")
                   == "west's job 5", what="both changes on an unfiltered client")
        assert everyone.objects["device"][("west", "qemu-03")]["health"] != "Bad"
        assert {(c["lab"], c["kind"], c["id"]) for c in everyone.received} >= {
            ("east", "device", "qemu-03"), ("west", "job", 5)}
        assert not any(c.get("lab") != "west" for c in west_only.received)
    finally:
        everyone.close()
        west_only.close()


def test_each_labs_history_is_its_own_and_the_rest_api_asks_which(labs):
    parts, start = labs
    app = start()
    wait_until(lambda: _loaded(app), timeout=30, what="both labs loaded")
    parts["east_pub"].send(_frames("org.lavasoftware.event", "e-msg",
                                   {"job": 3, "message": "east only"}))
    parts["west_pub"].send(_frames("org.lavasoftware.event", "w-msg",
                                   {"job": 3, "message": "west only"}))

    def messages(lab):
        rows = app.json(f"/api/v1/events?lab={lab}&kind=event")["events"]
        return [r["data"]["message"] for r in rows]
    wait_until(lambda: messages("east") and messages("west"), what="both stored")
    assert messages("east") == ["east only"] and messages("west") == ["west only"]
    assert {r["lab"] for r in app.json("/api/v1/events?lab=west")["events"]} == {"west"}
    csv_text = app.get("/export/events.csv?lab=east")[2]
    assert csv_text.splitlines()[0].endswith(",lab") and "east only" in csv_text
    assert "west only" not in csv_text and csv_text.splitlines()[1].endswith(",east")
    atom = app.get("/feeds/events.atom?lab=west")[2]
    assert "of lab west" in atom and "[west] " in atom and "east only" not in atom
    for path in ("/api/v1/events", "/api/v1/devices/qemu-01", "/api/v1/jobs/3",
                 "/export/events.csv", "/feeds/events.atom", "/api/v1/stats/events",
                 "/api/v1/reports", "/api/v1/devices/qemu-01/timeline"):
        status, _, body = app.get(path)
        assert status == 400, path
        if isinstance(body, dict):
            assert body["code"] in ("lab_required", "bad_parameter"), path
    status, _, body = app.get("/api/v1/events?lab=north")
    assert (status, body["code"]) == (400, "bad_parameter") and "known: east, west" in body["error"]
    status, _, body = app.get("/api/v1/jobs/3?lab=west")
    assert status == 200 and body["job"]["lab"] == "west"
    # The live model's lists take every lab, or one.
    assert {d["lab"] for d in app.json("/api/v1/devices")["devices"]} == {"east", "west"}
    assert {d["lab"] for d in app.json("/api/v1/devices?lab=east")["devices"]} == {"east"}
    files = sorted(p.name for p in pathlib.Path(app.data_dir).glob("*.sqlite3"))
    assert files == ["events-east.sqlite3", "events-west.sqlite3"]
    document = app.json("/api/v1/openapi.json")
    operations = [op for path in document["paths"].values()
                  for method, op in path.items() if method == "get"]
    assert operations and all(any(p["name"] == "lab" for p in op["parameters"])
                              for op in operations)
    metrics = app.get("/metrics")[2]
    for lab in ("east", "west"):
        devices = [d for d in app.json(f"/api/v1/devices?lab={lab}")["devices"]]
        lines = [line for line in metrics.splitlines()
                 if line.startswith("lava_devices{") and f'lab="{lab}"' in line]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in lines) == len(devices)


def test_one_lab_down_degrades_that_lab_only(labs):
    parts, start = labs
    parts["east"].stop()  # east's LAVA cannot be reached from the start
    app = start()
    wait_until(lambda: app.json("/healthz")["labs"][1]["lava"]["loaded"], timeout=30,
               what="west loaded")
    # (West's sources may still be connecting on a busy machine: wait for them, not for east.)
    health = wait_until(lambda: (lambda h: h if "east:lava-api" in h["degraded"] and not any(
        part.startswith("west:") for part in h["degraded"]) else None)(app.json("/healthz")),
        timeout=30, what="east said to be down, west not")
    east, west = health["labs"]
    assert east["lava"]["state"] != "ok" and west["lava"]["state"] == "ok"
    parts["west_pub"].send(_frames("org.lavasoftware.device", "w-2",
                                   {"device": "qemu-04", "state": "Idle", "health": "Good"}))
    wait_until(lambda: _device(app, "west", "qemu-04").get("health") == "Good", what="west lives on")
    parts["east_pub"].send(_frames("org.lavasoftware.device", "e-2",
                                   {"device": "qemu-04", "state": "Idle", "health": "Bad"}))
    wait_until(lambda: _device(app, "east", "qemu-04").get("health") == "Bad",
               what="east's events still arrive")
    view = LiveView(app.url).connect()
    try:
        east_meta = view.meta["labs"][0]
        assert east_meta["name"] == "east" and east_meta["lava"]["state"] != "ok"
    finally:
        view.close()


def test_a_lab_can_keep_its_history_in_postgresql_and_no_secret_reaches_the_log(labs):
    from tests.pgserver import PostgresServer

    parts, start = labs
    pg = PostgresServer().start()
    try:
        url = pg.create_database()
        app = start("--log-level", "DEBUG", east_extra=f'database = "{url}"')
        wait_until(lambda: _loaded(app), timeout=30, what="both labs loaded")
        parts["east_pub"].send(_frames("org.lavasoftware.event", "e-pg",
                                       {"job": 3, "message": "kept in PostgreSQL"}))
        wait_until(lambda: app.json("/api/v1/events?lab=east&kind=event")["events"],
                   what="east's event stored")
        import psycopg
        with psycopg.connect(url) as conn:
            stored = conn.execute("SELECT count(*) FROM events WHERE uuid = 'e-pg'").fetchone()[0]
        assert stored == 1
        files = sorted(p.name for p in pathlib.Path(app.data_dir).glob("*.sqlite3"))
        assert files == ["events-west.sqlite3"]  # east's history is in PostgreSQL alone
        health = {lab["name"]: lab for lab in app.json("/healthz")["labs"]}
        assert pg.password not in json.dumps(health)
        log = app.log_text()
        assert EAST_TOKEN not in log and pg.password not in log
        assert quote(pg.password, safe="") not in log  # as the URL has it: neither form leaks
    finally:
        pg.cleanup()


def test_several_labs_in_a_cluster_a_web_process_serves_both(labs, tmp_path):
    from tests.servers import RedisServer

    parts, start = labs
    redis = RedisServer().start()
    data = str(tmp_path / "shared")
    common = ("--message-queue", redis.url, "--data-dir", data, "--batch-interval", "0.05")
    web = None
    try:
        # No scheduled reconcile here: the fake LAVAs say qemu-03 is not Bad, and a reconcile
        # right after the event below undid it within the same batch (the client never saw Bad).
        ingest = start("--role", "ingest", *common, "--reconcile-interval", "3600")
        web = AppProcess("--role", "web", "--labs", str(tmp_path / "labs.toml"), "--access", "open",
                         *common)
        wait_until(lambda: _loaded(ingest), timeout=30, what="both labs loaded")
        epoch = ingest.json("/healthz")["epoch"]
        wait_until(lambda: web.json("/healthz")["epoch"] == epoch, what="the web process following")
        view = LiveView(web.url).connect()
        try:
            assert {lab["name"] for lab in view.meta["labs"]} == {"east", "west"}
            assert {k[0] for k in view.objects["device"]} == {"east", "west"}
            parts["west_pub"].send(_frames("org.lavasoftware.device", "w-c",
                                           {"device": "qemu-03", "state": "Idle", "health": "Bad"}))
            wait_until(lambda: view.objects["device"][("west", "qemu-03")]["health"] == "Bad",
                       what="west's change through Redis")
            assert view.objects["device"][("east", "qemu-03")]["health"] != "Bad"
            wait_until(lambda: web.json("/healthz")["seq"] == ingest.json("/healthz")["seq"],
                       what="the web process at the ingest process's seq")
            assert web.json("/api/v1/state?lab=west") == ingest.json("/api/v1/state?lab=west")
            # The web process reads each lab's history from the files the ingest process writes.
            wait_until(lambda: any(r["uuid"] == "w-c" for r in
                                   web.json("/api/v1/events?lab=west&device=qemu-03")["events"]),
                       what="west's event in its history, read by the web process")
            assert not any(r["uuid"] == "w-c" for r in
                           web.json("/api/v1/events?lab=east&device=qemu-03")["events"])
        finally:
            view.close()
    finally:
        if web is not None:
            web.stop()
        redis.stop()


def test_each_labs_alerts_are_its_own(labs, tmp_path):
    parts, start = labs
    rules = tmp_path / "alerts.toml"
    rules.write_text("[rules.device_bad]\nenabled = false\n\n"
                     "[labs.east.rules.device_bad]\nenabled = true\nminutes = 1\n")
    app = start("--alerts-config", str(rules), "--alerts-interval", "0.5")
    wait_until(lambda: _loaded(app), timeout=30, what="both labs loaded")
    an_hour_ago = utc_stamp(time.time() - 3600)
    for lab in ("east", "west"):
        parts[f"{lab}_pub"].send(_frames("org.lavasoftware.device", f"{lab}-bad",
                                         {"device": "qemu-03", "state": "Idle", "health": "Bad"},
                                         when=an_hour_ago))  # Bad for longer than the rule's minute
    for lab in ("east", "west"):
        wait_until(lambda: _device(app, lab, "qemu-03").get("health") == "Bad", what=f"{lab} Bad")

    def bad(query=""):
        return [(a.get("lab"), a["subject"]) for a in app.json(f"/api/v1/alerts{query}")["alerts"]
                if a["rule"] == "device_bad"]
    wait_until(lambda: bad("?status=firing"), timeout=20, what="east's alert")
    assert bad("?status=firing") == [("east", "qemu-03")]  # west's rule is off
    assert bad("?lab=west") == [] and bad("?lab=east") == [("east", "qemu-03")]
    # Both labs' queue_starving fired for their own x86 queue: the same key, two labs, two alerts.
    wait_until(lambda: sorted((a["lab"], a["subject"]) for a in app.json("/api/v1/alerts")["alerts"]
                              if a["rule"] == "queue_starving") == [("east", "x86"), ("west", "x86")],
               timeout=20, what="each lab's own queue_starving alert")
    # West's source was found through west's LAVA; east's was named in the file.
    sources = {s["lab"]: s["name"] for s in app.json("/healthz")["sources"]}
    assert sources == {"east": parts["east_pub"].endpoint, "west": parts["west_pub"].endpoint}
