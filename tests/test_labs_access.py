"""Who may see what with several labs (docs/labs.md, docs/security.md): two fake LAVAs, each with
its own users and private jobs under the same ids, a real ZMQ publisher each carrying everything,
the app with --labs in access mode lava, real Socket.IO clients and plain HTTP. A viewer is signed
in by one lab's LAVA and is anonymous to the other; a token only ever goes to its own lab's LAVA."""
import re

import pytest
import requests

from tests.fake_lava import FakeLava
from tests.helpers import AppProcess, LiveView, TestPublisher, free_port, wait_until
from tests.test_access import frames, get, private_job

ADMIN_EAST, ADMIN_WEST = "tok-ADMIN-east-0a1b2c", "tok-ADMIN-west-3d4e5f"
ALICE_EAST, ALICE_WEST = "tok-alice-east-1111", "tok-alice-west-2222"
SECRETS = ("SECRET-EAST-901", "SECRET-WEST-902", "SECRET-SHELL-EAST-901", "SECRET-EAST-903",
           "SECRET-WEST-903")


def _publish(publisher, job_id, submitter, text, shell=None):
    publisher.send(frames("testjob", {
        "job": job_id, "state": "Running", "health": "Unknown", "description": text,
        "submitter": submitter, "device": "qemu-02", "device_type": "qemu",
        "worker": "lab-worker-01", "submit_time": "2026-11-27T17:30:00+00:00",
        "start_time": "2026-11-27T17:31:00+00:00"}, submitter))
    if shell:
        publisher.send(frames("event", {"job": job_id, "message": shell}))


@pytest.fixture(scope="module")
def two_labs(tmp_path_factory):
    """One app for the module: its tests only read, sign in and are refused (nothing they do
    changes what another test sees), but for one acknowledgement of an east alert, which no other
    test reads."""
    east, west = FakeLava(token=ADMIN_EAST), FakeLava(token=ADMIN_WEST)
    east.users[ALICE_EAST] = ("priv-alice", [])
    west.users[ALICE_WEST] = ("priv-alice", [])  # the same name in another LAVA: another person
    private_job(east, 901, "priv-alice", "SECRET-EAST-901", [])
    job = private_job(west, 901, "priv-carol", "PUBLIC-WEST-901", [])
    del west.private[job["id"]]  # west's job 901 is public
    private_job(west, 902, "priv-alice", "SECRET-WEST-902", [])
    # Job 903 in both labs, each private to that lab's priv-alice: east's answer for her must
    # never apply to west's 903.
    private_job(east, 903, "priv-alice", "SECRET-EAST-903", [])
    private_job(west, 903, "priv-alice", "SECRET-WEST-903", [])
    # East's LAVA hides its docker-02 from anonymous users (and job 10, which ran on it); west's
    # shows its own.
    east.hidden_devices.add("docker-02")
    tmp_path = tmp_path_factory.mktemp("labs")
    pubs = {"east": TestPublisher(), "west": TestPublisher()}
    for name, admin in (("east", ADMIN_EAST), ("west", ADMIN_WEST)):
        (tmp_path / f"{name}.token").write_text(admin)
    config = tmp_path / "labs.toml"
    config.write_text("".join(f"""
[labs.{name}]
lava_url = "{lava.url}"
token_file = "{tmp_path / f'{name}.token'}"
event_source = "{pubs[name].endpoint}"
""" for name, lava in (("east", east), ("west", west))))
    # Each lab's x86 queue starves: its notification goes to a port where no one listens, and
    # the notifier's log line of its failure says its lab. (No webhook receiver here: its server
    # thread may never run in a test process another test file monkey-patched with eventlet.)
    alerts = tmp_path / "alerts.toml"
    alerts.write_text(f'[rules.queue_starving]\nnotify = ["json://127.0.0.1:{free_port()}/hook"]\n')
    app = AppProcess("--labs", str(config), "--reconcile-interval", "2",  # access: lava, the default
                     "--alerts-config", str(alerts), "--alerts-interval", "0.5")
    try:
        for pub in pubs.values():
            pub.wait_for_subscriber()
        wait_until(lambda: all(lab["lava"]["loaded"] for lab in app.json("/healthz")["labs"]),
                   timeout=30, what="both labs loaded")
        _publish(pubs["east"], 901, "priv-alice", "SECRET-EAST-901", "SECRET-SHELL-EAST-901")
        _publish(pubs["west"], 901, "priv-carol", "PUBLIC-WEST-901")
        _publish(pubs["west"], 902, "priv-alice", "SECRET-WEST-902")
        _publish(pubs["east"], 903, "priv-alice", "SECRET-EAST-903")
        _publish(pubs["west"], 903, "priv-alice", "SECRET-WEST-903")
        # Both labs' jobs are in, and LAVA has said which are public.
        wait_until(lambda: "PUBLIC-WEST-901" in get(app, "/api/v1/jobs/901?lab=west").text,
                   timeout=20, what="west's job 901 known to be public")
        # ...and each lab's store (which writes in batches, a lab's rows in the order they came)
        # has its rows too: the tests read the history, and a check that nothing leaks from rows
        # not yet written proves nothing (an audit). Each lab's last job's stored path (which a
        # private job's shows anyone) proves the rows before it are there; a count of rows
        # written did not (a review: a reconcile's corrections count too).
        wait_until(lambda: all(get(app, f"/api/v1/jobs/903?lab={lab}").json()["path"]
                               for lab in ("east", "west")),
                   timeout=20, what="each lab's rows stored")
        yield app, east, west
    finally:
        app.stop()
        for part in (*pubs.values(), east, west):
            part.close()


def _sign_in(app, lab, username, token):
    session = requests.Session()
    page = session.get(app.url + "/signin", timeout=10).text
    assert '<select id="lab" name="lab"' in page and '<option value="west">' in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = session.post(app.url + "/signin", data={"csrf": csrf, "username": username,
                                                     "token": token, "lab": lab},
                          allow_redirects=False, timeout=10)
    return session, answer


OUTPUTS = ("/api/v1/state", "/api/v1/jobs", "/api/v1/jobs/901?lab=east",
           "/api/v1/jobs/902?lab=west", "/api/v1/events?lab=east", "/api/v1/events?lab=west",
           "/api/v1/events?lab=east&kind=event", "/feeds/events.atom?lab=east",
           "/export/events.csv?lab=east", "/export/events.json?lab=west",
           "/api/v1/jobs?submitter=priv-alice")


def test_an_anonymous_viewer_sees_each_labs_public_jobs_only(two_labs):
    app, _, _ = two_labs
    for path in OUTPUTS:
        response = get(app, path)
        assert response.status_code == 200, path
        assert not [s for s in SECRETS if s in response.text], path
    # The export reads the history (a check of what leaks from an empty export proves nothing);
    # the store writes in batches, so the event may take a moment to be there.
    wait_until(lambda: "PUBLIC-WEST-901" in get(app, "/export/events.json?lab=west").text,
               timeout=10, what="west's public job in its export")
    east_901 = get(app, "/api/v1/jobs/901?lab=east").json()["job"]
    assert east_901["hidden"] and east_901["lab"] == "east"
    assert get(app, "/api/v1/jobs/901?lab=west").json()["job"]["description"] == "PUBLIC-WEST-901"
    view = LiveView(app.url).connect()
    try:
        jobs = view.objects["job"]
        assert jobs[("east", 901)].get("hidden") and "description" not in jobs[("east", 901)]
        assert jobs[("west", 901)]["description"] == "PUBLIC-WEST-901"
        assert jobs[("west", 902)].get("hidden")
        assert not [s for s in SECRETS if s in repr(view.objects) + repr(view.received)]
    finally:
        view.close()


def test_each_lab_keeps_out_the_devices_its_own_lava_hides(two_labs):
    """Each lab's screen is its own LAVA's answer (core/screen.py): east's hidden docker-02, and
    its job 10, are kept out; west's docker-02 and job 10 are shown."""
    app, east, west = two_labs
    assert "LAVA (lab east) hides 1 of the 8 devices" in app.log_text()
    assert "LAVA (lab west) hides" not in app.log_text()
    labs = {lab["name"]: lab for lab in app.json("/healthz")["labs"]}
    assert labs["east"]["lava"]["screen"]["devices_listed_anonymously"] == 7
    assert labs["west"]["lava"]["screen"]["devices_listed_anonymously"] == 8
    devices = [(d["lab"], d["hostname"]) for d in get(app, "/api/v1/devices").json()["devices"]]
    assert ("west", "docker-02") in devices and ("east", "docker-02") not in devices
    assert ("east", "docker-01") in devices
    assert get(app, "/api/v1/devices/docker-02?lab=east").status_code == 404
    assert get(app, "/api/v1/jobs/10?lab=east").status_code == 404
    assert get(app, "/api/v1/jobs/10?lab=west").status_code == 200
    assert get(app, "/api/v1/events?lab=east&device=docker-02").json()["events"] == []


def test_a_viewer_signed_in_by_one_lab_is_anonymous_to_the_other(two_labs):
    app, east, west = two_labs
    session, answer = _sign_in(app, "east", "priv-alice", ALICE_EAST)
    assert answer.status_code == 302, answer.text[:300]
    who = session.get(app.url + "/api/v1/whoami", timeout=10).json()
    assert (who["username"], who["lab"]) == ("priv-alice", "east")
    wait_until(lambda: "SECRET-EAST-901" in session.get(app.url + "/api/v1/jobs/901?lab=east",
                                                        timeout=10).text,
               timeout=20, what="east says alice may see her job")
    # Its messages come from the store, which writes in batches: on a busy machine the job's
    # rows may be a moment behind the live model (a CI run saw "path": [] here).
    wait_until(lambda: "SECRET-SHELL-EAST-901" in session.get(
        app.url + "/api/v1/jobs/901?lab=east", timeout=10).text,
        timeout=20, what="alice sees her job's messages once the store has them")
    wait_until(lambda: "SECRET-EAST-903" in session.get(app.url + "/api/v1/jobs/903?lab=east",
                                                        timeout=10).text,
               timeout=20, what="east says alice may see her job 903")
    # West's priv-alice is someone else: west's private jobs stay hidden from east's alice, job
    # 903 included, which east's answer about her own 903 must not open.
    for path in ("/api/v1/jobs/902?lab=west", "/api/v1/jobs/903?lab=west",
                 "/api/v1/events?lab=west", "/api/v1/state", "/feeds/events.atom?lab=west"):
        text = session.get(app.url + path, timeout=10).text
        assert "SECRET-WEST-902" not in text and "SECRET-WEST-903" not in text, path
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in session.cookies.items())}
    view = LiveView(app.url).connect(headers=cookie)
    try:
        wait_until(lambda: view.objects["job"][("east", 901)].get("description")
                   == "SECRET-EAST-901", timeout=20, what="alice's live view shows her job")
        assert view.objects["job"][("west", 902)].get("hidden")
        wait_until(lambda: view.objects["job"][("east", 903)].get("description")
                   == "SECRET-EAST-903", timeout=20, what="alice's live view shows her job 903")
        assert view.objects["job"][("west", 903)].get("hidden")
        assert "SECRET-WEST" not in repr(view.objects) + repr(view.received)
    finally:
        view.close()
    # An alert of west (its queue of x86 jobs starves): not hers to acknowledge.
    alerts = wait_until(lambda: [a for a in session.get(app.url + "/api/v1/alerts?lab=west",
                                                        timeout=10).json()["alerts"]
                                 if a["status"] == "firing"], timeout=30, what="a west alert")
    csrf = session.get(app.url + "/api/v1/whoami", timeout=10).json()["csrf"]
    ack = session.post(f"{app.url}/api/v1/alerts/{alerts[0]['id']}/ack?lab=west",
                       headers={"X-CSRF-Token": csrf}, timeout=10)
    assert ack.status_code == 403 and "anonymous visitor to lab west" in ack.json()["error"]
    # Her east token never went to west's LAVA (until she signs in there with it, below); west's
    # token is not east's.
    assert not any(ALICE_EAST in (auth or "") for _, _, auth in west.requests)
    assert not any(ADMIN_EAST in (auth or "") for _, _, auth in west.requests)
    assert not any(ADMIN_WEST in (auth or "") for _, _, auth in east.requests)
    # West does not know east's token: signing in to west with it is refused.
    _, refused = _sign_in(app, "west", "priv-alice", ALICE_EAST)
    assert refused.status_code == 401
    _, no_lab = _sign_in(app, "north", "priv-alice", ALICE_EAST)
    assert no_lab.status_code == 400 and "Choose the lab" in no_lab.text


def test_an_api_token_is_checked_by_the_lab_it_names(two_labs):
    app, east, west = two_labs
    before = len(west.requests)  # (another test signs in to west with east's token, on purpose)
    # The `lab` parameter names the LAVA that checks the token (and the lab whose data is read).
    wait_until(lambda: "SECRET-EAST-901" in get(app, "/api/v1/jobs/901?lab=east",
                                                token=ALICE_EAST).text,
               timeout=20, what="east says alice may see her job")
    assert get(app, "/api/v1/jobs/901?lab=east").json()["job"]["hidden"]  # not without her token
    missing = get(app, "/api/v1/state", token=ALICE_EAST)
    assert missing.status_code == 401 and "give token_lab=NAME (or lab=NAME)" in missing.json()["error"]
    # Named for east, her token reads every lab: west's objects as anonymous visitors see them.
    state = get(app, "/api/v1/state?lab=east", token=ALICE_EAST).json()
    assert {j["lab"] for j in state["jobs"]} == {"east"}
    assert not any(ALICE_EAST in (auth or "") for _, _, auth in west.requests[before:])
    assert any(ALICE_EAST in (auth or "") for _, _, auth in east.requests)
    # Her east token reads west's history with token_lab=east: checked by east's LAVA only (an
    # audit: `lab=west` alone sent it to west's), and west's data as west's anonymous visitors see
    # it. A token_lab that names no lab is refused before any LAVA is asked.
    west_before = len(west.requests)
    for path in ("/api/v1/events?lab=west&token_lab=east", "/export/events.csv?lab=west&token_lab=east",
                 "/api/v1/jobs/902?lab=west&token_lab=east"):
        answer = get(app, path, token=ALICE_EAST)
        assert answer.status_code == 200, (path, answer.text)
        assert "SECRET-WEST" not in answer.text, path
    assert "PUBLIC-WEST-901" in get(app, "/api/v1/events?lab=west&token_lab=east", token=ALICE_EAST).text
    assert not any(ALICE_EAST in (auth or "") for _, _, auth in west.requests[west_before:])
    wrong = get(app, "/api/v1/events?lab=west&token_lab=north", token=ALICE_EAST)
    assert wrong.status_code == 401 and "give token_lab=NAME" in wrong.json()["error"]
    assert not any(ALICE_EAST in (auth or "") for _, _, auth in west.requests[west_before:])
    # A reverse proxy's Basic header is not a LAVA token: no lab needed, an anonymous view.
    basic = requests.get(app.url + "/api/v1/state", headers={"Authorization": "Basic dXNlcjpwdw=="},
                         timeout=10)
    assert basic.status_code == 200 and not [s for s in SECRETS if s in basic.text]


def test_each_labs_job_logs_come_from_its_own_lava_and_only_to_who_may_see_them(two_labs):
    import json
    import threading

    import socketio

    app, east, west = two_labs

    def lines(prefix, n=3):
        return ["- " + json.dumps({"dt": f"2026-11-30T10:00:0{i}.000000", "lvl": "info",
                                   "msg": f"{prefix} {i}"}) for i in range(n)]
    east.logs[901] = lines("SECRET-LOG-EAST")
    west.logs[901] = lines("west public log")
    clients, lock = [], threading.Lock()
    received = {}  # client → the log_lines messages it got

    def client(url, headers=None):
        sio = socketio.Client(reconnection=False)
        got = received[sio] = []
        sio.on("log_lines", lambda data: (lock.acquire(), got.append(data), lock.release()))
        sio.connect(url, transports=["websocket"], wait_timeout=10, headers=headers or {})
        clients.append(sio)
        return sio

    try:
        anonymous = client(app.url)
        assert anonymous.call("log_follow", {"job": 901}, timeout=10)["code"] == "bad_request"
        assert anonymous.call("log_follow", {"job": 901, "lab": "north"},
                              timeout=10)["code"] == "bad_request"
        assert anonymous.call("log_follow", {"job": 901, "lab": "east"},
                              timeout=10)["code"] == "forbidden"
        ack = anonymous.call("log_follow", {"job": 901, "lab": "west"}, timeout=10)
        assert ack["ok"] and ack["lab"] == "west", ack
        wait_until(lambda: any(m["lab"] == "west" and m["lines"] for m in received[anonymous]),
                   timeout=20, what="west's log lines")
        alice = client(app.url + "?lab=east", {"Authorization": f"Token {ALICE_EAST}"})

        def follow_east():
            ack = alice.call("log_follow", {"job": 901, "lab": "east"}, timeout=10)
            return ack if ack.get("ok") else None
        wait_until(follow_east, timeout=20, what="east lets alice follow her job's log")
        wait_until(lambda: "SECRET-LOG-EAST" in json.dumps(received[alice]), timeout=20,
                   what="east's log lines to alice")
        assert {m["lab"] for m in received[alice]} == {"east"}
        health = app.json("/healthz")["job_logs"]["labs"]
        assert health["east"]["followed"] == 1 and health["west"]["followed"] == 1
    finally:
        for sio in clients:
            sio.disconnect()
    assert "SECRET-LOG-EAST" not in json.dumps(received[anonymous])
    assert {m["lab"] for m in received[anonymous]} == {"west"}


def test_each_labs_notifications_and_acknowledgements_say_the_lab(two_labs):
    # The same rule fires in both labs about the same name: the app hands each lab's name to its
    # alert engine and notifier, whose log lines say it (they were the same text before; the
    # notification's title, which says it as they do, is tests/test_alert_delivery.py's), and an
    # acknowledgement's answer is the alert of its lab, with the jobs its viewer may see (it had
    # no lab, and hid them).
    app, _, _ = two_labs

    def said(what):  # the labs the log's lines of `what` begin with ("[east] alert fired: ...")
        return {line.split(what, 1)[0].rsplit(" ", 2)[-2] for line in app.log_text().splitlines()
                if f"] {what}" in line}
    wait_until(lambda: said("alert fired: ") >= {"[east]", "[west]"}, timeout=30,
               what="each lab's alert, with its lab, in the log")
    wait_until(lambda: said("notifying ") == {"[east]", "[west]"}, timeout=30,
               what="each lab's notification, with its lab, in the notifier's log")
    session, answer = _sign_in(app, "east", "priv-alice", ALICE_EAST)
    assert answer.status_code == 302, answer.text[:300]
    # (The engine logs and notifies before the store has the alert: the list may be a moment late.)
    firing = wait_until(lambda: [a for a in session.get(app.url + "/api/v1/alerts?lab=east", timeout=10)
                                 .json()["alerts"] if a["status"] == "firing"],
                        timeout=20, what="east's firing alert stored")
    assert all(a["lab"] == "east" for a in firing), firing
    csrf = session.get(app.url + "/api/v1/whoami", timeout=10).json()["csrf"]
    ack = session.post(f"{app.url}/api/v1/alerts/{firing[0]['id']}/ack?lab=east",
                       headers={"X-CSRF-Token": csrf}, timeout=10)
    assert ack.status_code == 200, ack.text
    done = ack.json()["alert"]
    assert (done["lab"], done["acked_by"]) == ("east", "east/priv-alice"), done
    assert {k: done[k] for k in ("jobs", "hidden_jobs", "key")} == {
        k: firing[0][k] for k in ("jobs", "hidden_jobs", "key")}
