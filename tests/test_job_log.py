"""The live log tail (live/logtail.py): a fake LAVA serving job logs as LAVA does (line ranges,
404 when there is nothing new), the app as a subprocess with --access lava, real Socket.IO clients.
A viewer gets the lines of a job they may see, then the new ones as LAVA writes them; never those of
a job LAVA would not show them; bad requests and a failing LAVA are answered, counted and survived."""
import json
import re
import os
import shutil
import threading
import time

import socketio

from tests.helpers import ROOT, in_order, wait_until
from tests.test_access import ALICE, MALLORY, get, lab, private_job  # noqa: F401 (lab: a fixture)


SHOTS = ROOT / "test-artifacts" / "screenshots"


def shoot(page, name):
    """Into test-artifacts/screenshots/; with UPDATE_SCREENSHOTS=1 into docs/screenshots/ too."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    if os.environ.get("UPDATE_SCREENSHOTS"):
        shutil.copyfile(SHOTS / f"{name}.png", ROOT / "docs" / "screenshots" / f"{name}.png")


def line(i, message, level="info"):
    return "- " + json.dumps({"dt": f"2026-11-30T10:00:{i % 60:02d}.000000", "lvl": level,
                              "msg": message})


class LogClient:
    """A Socket.IO client that follows job logs and records every `log_lines` message."""

    def __init__(self, app, token=None):
        self.pushed = []
        self.lock = threading.Lock()
        # In order: the 500 lines of a first read must be recorded before the "finished" after them.
        self.client = in_order(socketio.Client(reconnection=False))
        self.client.on("log_lines", self._on_lines)
        self.client.connect(app.url, transports=["websocket"], wait_timeout=10,
                            headers={"Authorization": f"Token {token}"} if token else {})

    def _on_lines(self, data):
        with self.lock:
            self.pushed.append(data)

    def follow(self, job):
        return self.client.call("log_follow", {"job": job}, timeout=10)

    def lines(self, job):
        """Every line pushed of this job (`log_lines`), by number."""
        with self.lock:
            pushed = [m for m in self.pushed if m["job"] == job]
        return {entry["n"]: entry for m in pushed for entry in m["lines"]}

    def everything(self):
        with self.lock:
            return json.dumps(self.pushed)

    def close(self):
        self.client.disconnect()


def test_a_viewer_follows_the_log_of_a_job_they_may_see_and_only_that(lab):  # noqa: F811
    lava, publisher, start = lab
    private_job(lava, 901, "priv-alice", "SECRET-PERSONAL-901", [])
    lava.logs[13] = [line(i, f"boot step {i}") for i in range(3)]
    lava.logs[1] = [line(i, f"finished job line {i}") for i in range(1200)]  # three reads
    lava.logs[901] = [line(0, "SECRET-LOG-901"),
                      line(1, {"case": "SECRET-CASE", "result": "pass"}, "results")]
    app = start("--job-log-poll", "0.3", "--job-logs-max", "3")
    wait_until(lambda: all("hidden" not in get(app, f"/api/v1/jobs/{i}").json()["job"]
                           for i in (1, 12, 13)), timeout=20, what="jobs 1, 12 and 13 known public")
    anonymous, alice, stranger = LogClient(app), LogClient(app, ALICE), LogClient(app, MALLORY)
    try:
        # A job LAVA does not show them: refused, with why (a signed-in stranger once LAVA has
        # answered with their token: not known yet until then).
        ack = anonymous.follow(901)
        assert ack["ok"] is False and ack["code"] == "forbidden", ack
        assert stranger.follow(901)["code"] == "not_known_yet"
        wait_until(lambda: stranger.follow(901)["code"] == "forbidden", timeout=20, interval=0.3,
                   what="LAVA says the stranger may not see 901")
        # A public running job: what is there, then each new line as LAVA writes it.
        ack = anonymous.follow(13)
        assert ack["ok"] is True and ack["job"] == 13, ack
        wait_until(lambda: len(anonymous.lines(13)) == 3, timeout=10, what="the first lines")
        assert anonymous.lines(13)[0]["msg"] == "boot step 0"
        assert anonymous.lines(13)[2]["lvl"] == "info"
        lava.logs[13].append(line(3, "login prompt"))
        lava.logs[13].append("not YAML at all")
        wait_until(lambda: len(anonymous.lines(13)) == 5, timeout=10, what="the new lines pushed")
        assert anonymous.lines(13)[3]["msg"] == "login prompt"
        assert anonymous.lines(13)[4] == {"n": 4, "dt": None, "lvl": "raw", "msg": "not YAML at all"}
        # A finished job: read to its end (over several requests), then said to be finished;
        # by a LAVA whose answers ignore their `end` too: no more lines are taken from an answer
        # than were asked for (an audit: 512 KiB of empty lines, half a million in one message).
        lava.log_end_ignored = True
        assert stranger.follow(1)["ok"] is True
        wait_until(lambda: any(m["job"] == 1 and m["finished"] for m in stranger.pushed),
                   timeout=15, what="job 1 read to its end")
        lava.log_end_ignored = False
        assert sorted(stranger.lines(1)) == list(range(1200))
        sizes = [len(m["lines"]) for m in stranger.pushed if m["job"] == 1]
        assert max(sizes) == 500 and sum(sizes) == 1200, sizes
        # alice may see her private job: she gets its log, results as JSON text.
        first = alice.follow(901)  # LAVA is asked, with her token
        assert first["ok"] is False and first["code"] == "not_known_yet" and first["retry"], first
        wait_until(lambda: alice.follow(901)["ok"], timeout=20, interval=0.3,
                   what="LAVA says alice may see 901")
        wait_until(lambda: len(alice.lines(901)) == 2, timeout=10, what="alice's job's log")
        assert json.loads(alice.lines(901)[1]["msg"]) == {"case": "SECRET-CASE", "result": "pass"}
        # Nobody else ever got a word of it.
        for client in (anonymous, stranger):
            assert "SECRET" not in client.everything()
        # Bad requests: a clear code each, and the connection stays.
        for bad in (None, "13", {"job": "13"}, {"job": -1}, {"job": True}, {"job": 2**70}, [13]):
            ack = anonymous.client.call("log_follow", bad, timeout=10)
            assert ack["ok"] is False and ack["code"] == "bad_request", (bad, ack)
        # Bounds: two logs per page, --job-logs-max for the whole dashboard.
        assert anonymous.follow(1)["ok"] is True
        assert anonymous.follow(12)["code"] == "too_many"

        def allowed(client, job):  # (alice asked again and again while LAVA was asked about 901:
            # her follows may be rate-limited for a moment, and are said to be so)
            return wait_until(lambda: (a := client.follow(job)).get("code") != "rate_limited" and a,
                              timeout=15, interval=0.5, what=f"a follow of {job} allowed")
        # 13, 1 and 901 are followed, 1 read to its end: it gives its place to alice's 12 (an
        # audit: finished logs, or logs of jobs that do not exist, held every place for as long
        # as their pages stayed).
        assert allowed(alice, 12)["ok"] is True
        assert get(app, "/healthz").json()["job_logs"]["finished_given_up"] == 1
        alice.client.call("log_unfollow", {"job": 12}, timeout=10)
        assert allowed(stranger, 14)["ok"] is True  # Canceling: still read
        # 13, 901 and 14 are all still read: no place to give.
        busy = allowed(stranger, 8)
        assert busy["code"] == "busy", busy
        # Follows are rate-limited per client (each new one reads the log from its start).
        acks = [stranger.follow(13) for _ in range(8)]
        limited = [a for a in acks if a.get("code") == "rate_limited"]
        assert limited and all(a["retry"] and a["retry_after"] > 0 for a in limited), acks
        stranger.client.call("log_unfollow", {"job": 13}, timeout=10)
        health = get(app, "/healthz").json()["job_logs"]
        # 13 (anonymous), 901 (alice) and 14 (stranger)
        assert health["followed"] == 3 and health["followers"] == 3 and health["refused"] >= 11
        # LAVA fails: the viewers are told, it is counted, and the tail resumes afterwards.
        lava.fault = "500"
        wait_until(lambda: any(m["job"] == 13 and m["error"] for m in anonymous.pushed),
                   timeout=10, what="the failure told to the viewer")
        health = get(app, "/healthz").json()["job_logs"]
        assert health["errors"] >= 1 and "HTTP 500" in health["last_error"]
        # Which job is followed is the viewers' business: /healthz does not name it.
        assert not re.search(r"/jobs/(13|1|901)/", health["last_error"]), health["last_error"]
        lava.fault = None
        lava.logs[13].append(line(5, "after the outage"))
        wait_until(lambda: 5 in anonymous.lines(13), timeout=10, what="lines after the outage")
        assert anonymous.pushed[-1]["error"] is None
        # Closing the panel, or the page, stops the reading.
        assert anonymous.client.call("log_unfollow", {"job": 13}, timeout=10)["ok"] is True
        assert anonymous.client.call("log_unfollow", "junk", timeout=10)["code"] == "bad_request"
        anonymous.close()
        stranger.close()
        wait_until(lambda: get(app, "/healthz").json()["job_logs"]["followed"] == 1, timeout=10,
                   what="only alice's log still followed")
    finally:
        for client in (anonymous, alice, stranger):
            client.close()
    assert not any(t in app.log_text() for t in (ALICE, MALLORY))


def test_the_pages_of_one_address_and_viewer_cannot_hold_every_followed_log(lab):  # noqa: F811
    """An audit: with two logs a page the only bound, ten pages of one address held all 20 places
    of --job-logs-max, and nobody else could open a log. Together they follow at most a quarter
    of it (2 at least); a log they share counts once; another viewer has their own."""
    lava, publisher, start = lab
    lava.logs[13] = [line(0, "running")]
    app = start("--job-logs-max", "8")
    wait_until(lambda: all("hidden" not in get(app, f"/api/v1/jobs/{i}").json()["job"]
                           for i in (8, 12, 13, 14)), timeout=20, what="jobs 8, 12, 13 and 14 known public")
    first, second, alice = LogClient(app), LogClient(app), LogClient(app, ALICE)
    try:
        assert first.follow(13)["ok"] is True and first.follow(14)["ok"] is True
        refused = second.follow(8)  # a third log for the same address and viewer
        assert refused["code"] == "too_many" and "one address and viewer" in refused["error"], refused
        assert second.follow(13)["ok"] is True  # one they follow already: no new place
        assert alice.follow(8)["ok"] is True  # signed in: a viewer of her own
        health = get(app, "/healthz").json()["job_logs"]
        assert health["max_per_client"] == 2 and health["followed"] == 3, health
        # A log read to its end no longer counts against its address (a review: an address
        # holding only finished logs was refused). 12 is Finished.
        assert first.client.call("log_unfollow", {"job": 14}, timeout=10)["ok"] is True

        def allowed(client, job):  # (the address's budget: 4 at once, then one every 2 s)
            return wait_until(lambda: (a := client.follow(job)).get("code") != "rate_limited" and a,
                              timeout=15, interval=0.5, what=f"a follow of {job} allowed")
        assert allowed(first, 12)["ok"] is True
        wait_until(lambda: any(m["job"] == 12 and m["finished"] for m in first.pushed), timeout=10,
                   what="job 12 read to its end")
        assert first.client.call("log_unfollow", {"job": 13}, timeout=10)["ok"] is True
        assert second.client.call("log_unfollow", {"job": 13}, timeout=10)["ok"] is True
        # The address holds 12, read to its end, and nothing still read: two more may come.
        assert allowed(second, 13)["ok"] is True
        assert allowed(second, 14)["ok"] is True  # 12, 13, 14: two of them still read
        refused = allowed(first, 8)
        assert refused["code"] == "too_many" and "one address and viewer" in refused["error"], refused
        # A page that goes gives its places back to its address.
        second.close()
        wait_until(lambda: get(app, "/healthz").json()["job_logs"]["followed"] == 2, timeout=10,
                   what="the second page's 13 and 14 let go")  # first's 12, alice's 8
        assert allowed(first, 8)["ok"] is True
    finally:
        for client in (first, second, alice):
            client.close()


def test_log_follows_are_rate_limited_per_address_and_viewer_not_per_session(lab):  # noqa: F811
    """log_follow's budget (4 at once, then one every 2 s: each new follow reads a log from its
    start) is shared by every session of one address and viewer, as subscribe's is: three sessions
    of one anonymous viewer together are refused past one bucket, and a session opened anew brings
    no fresh one; a viewer signed in from the same address has their own."""
    lava, publisher, start = lab
    app = start()
    clients = [LogClient(app) for _ in range(3)]
    alice = None
    try:
        began = time.monotonic()
        acks = [client.follow(13) for _ in range(4) for client in clients]
        took = time.monotonic() - began
        allowed = [a for a in acks if a.get("code") != "rate_limited"]
        # One bucket: 4, and what refilled meanwhile (half a follow a second); a bucket per
        # session would have let all 12 through.
        assert 4 <= len(allowed) <= 4 + int(took * 0.5) + 1, (took, acks)
        limited = [a for a in acks if a.get("code") == "rate_limited"]
        assert all(a["retry"] and a["retry_after"] > 0 for a in limited), limited
        clients[0].close()  # a page reloaded: its new session shares the address's bucket
        clients[0] = LogClient(app)
        assert clients[0].follow(13)["code"] == "rate_limited"
        alice = LogClient(app, ALICE)
        assert alice.follow(13).get("code") != "rate_limited"
        health = get(app, "/healthz").json()["job_logs"]
        assert health["follow_buckets"] == 2, health
    finally:
        for client in [*clients, *([alice] if alice else [])]:
            client.close()


def test_without_a_lava_server_the_log_is_said_to_need_one(tmp_path):
    from tests.helpers import AppProcess

    app = AppProcess("--sim-devices", "5")
    try:
        client = socketio.Client(reconnection=False)
        client.connect(app.url, transports=["websocket"], wait_timeout=10)
        ack = client.call("log_follow", {"job": 1}, timeout=10)
        assert ack["ok"] is False and ack["code"] == "no_lava" and "--lava-url" in ack["error"]
        client.disconnect()
        assert app.json("/healthz")["job_logs"]["refused"] == 1
    finally:
        app.stop()


def test_the_job_panel_tails_the_log_in_chromium(lab, browser):  # noqa: F811
    from tests.test_accessibility_browser import problems
    from tests.test_app_browser import open_page
    from axe_playwright_python.sync_playwright import Axe

    lava, publisher, start = lab
    private_job(lava, 901, "priv-alice", "SECRET-PERSONAL-901", [])
    lava.logs[901] = [line(0, "SECRET-LOG-901")]
    app = start("--job-log-poll", "0.3")
    wait_until(lambda: "hidden" not in get(app, "/api/v1/jobs/13").json()["job"], timeout=20,
               what="job 13 known to be public")
    for theme in ("light", "dark"):
        lava.logs[13] = [line(i, f"boot step {i}") for i in range(3)] + [line(3, "oops", "error")]
        page = open_page(browser, width=1280, height=800)
        try:
            page.goto(app.url + f"/?detail=job:13&theme={theme}")
            page.wait_for_selector('#job-log[data-state="following live"][data-count="4"]', timeout=10000)
            lava.logs[13].append(line(4, "login prompt reached"))
            page.wait_for_selector('#job-log[data-count="5"]', timeout=10000)
            rows = page.evaluate("""() => [...document.querySelectorAll('#job-log .log-line')].map((el) =>
              [el.dataset.n, el.querySelector('.log-level').textContent, el.querySelector('.log-msg').textContent])""")
            assert rows[3] == ["3", "error", "oops"] and rows[4] == ["4", "info", "login prompt reached"]
            # Its time in the page's one form (24-hour), the ISO form in the tooltip.
            assert page.get_attribute("#job-log .log-line time", "datetime") == "2026-11-30T10:00:00.000Z"
            if theme == "light":
                shoot(page, "job-log")
            # Reachable by keyboard (it scrolls), and no serious accessibility problem.
            assert page.get_attribute("#job-log .job-log", "tabindex") == "0"
            assert problems(Axe(), page) == []
            # Closing the panel stops the reading.
            page.keyboard.press("Escape")
            wait_until(lambda: get(app, "/healthz").json()["job_logs"]["followed"] == 0, timeout=10,
                       what="the log no longer followed")
            # A job LAVA does not show an anonymous viewer: said so, and nothing of its log.
            page.goto(app.url + f"/?detail=job:901&theme={theme}")
            page.wait_for_selector('#job-log[data-state="not available"]', timeout=10000)
            assert "does not show you" in page.inner_text("#job-log")
            page.wait_for_timeout(800)
            assert "SECRET" not in page.content()
            assert "SECRET" not in "".join(str(f) for f in page.frames_in)
            assert page.errors == []
        finally:
            page.context.close()


def test_a_page_that_does_not_read_holds_its_log_back_not_the_apps_memory(lab):  # noqa: F811
    """An audit: a page that followed a log and did not read had every page of it (up to half a
    MiB each) queued for it, up to the relay's bound of 1,000 messages. A follower with more than
    20 messages waiting is sent no more (live/logtail.py, BEHIND), and a log all of whose
    followers are behind is read no further; once the page reads them, reading goes on to the
    log's end."""
    from tests.hostile import RawSocketIO

    lava, publisher, start = lab
    # Lines of about 1,000 characters: over 120 requests of 512 KiB. (The page's socket and the
    # server's take about six; with no bound, every one is read within a second or two.)
    total = 60_000
    lava.logs[1] = [line(i, f"{i:06d} " + "x" * 990) for i in range(total)]
    app = start("--job-log-poll", "0.3")
    wait_until(lambda: "hidden" not in get(app, "/api/v1/jobs/1").json()["job"], timeout=20,
               what="job 1 known public")
    tail = lambda: get(app, "/healthz").json()["job_logs"]  # noqa: E731
    raw = RawSocketIO(app.port, rcvbuf=4096)
    try:
        raw.connect_namespace()
        raw.send('420["log_follow",{"job":1}]')
        # Held for its follower at some point (a wait, not a fixed sleep: a loaded machine reads
        # the first pages more slowly), then no further: ten polls more, by which time the log
        # would be read to its end without the bound.
        wait_until(lambda: tail()["waited_for_followers"] > 0, timeout=20,
                   what="the log held back for its follower")
        time.sleep(3)
        held = tail()
        assert held["lines"] < total / 2, held
        deadline = time.monotonic() + 30  # it reads now: the rest comes, to the end
        while tail()["lines"] < total and time.monotonic() < deadline:
            raw.drain(0.5)
            raw.received = b""  # (read, not kept)
        assert tail()["lines"] == total, tail()
    finally:
        raw.sock.close()


def test_a_page_that_does_not_read_holds_back_nobody_else(lab):  # noqa: F811
    """Before, a job's log was read no further while any one of its followers was behind: one page
    that did not read (a laptop gone to sleep, a client that means harm) held the log back for
    everyone else who followed it. Now the others are sent every line; the page behind gets the
    newest lines kept (as many as a page keeps) once it reads again, though the log was read to
    its end meanwhile and new ones were asked for at --job-logs-max (a review: the finished log
    gave its place away, and the page never got its lines, nor that it was finished)."""
    from tests.hostile import RawSocketIO

    lava, publisher, start = lab
    total = 30_000  # lines of about 1,000 characters: 60 requests of 512 KiB
    lava.logs[1] = [line(i, f"{i:06d} " + "x" * 990) for i in range(total)]
    lava.logs[12] = [line(i, f"job 12 line {i}") for i in range(3)]
    lava.logs[13] = [line(i, f"job 13 line {i}") for i in range(3)]
    app = start("--job-log-poll", "0.3", "--job-logs-max", "2")
    wait_until(lambda: all("hidden" not in get(app, f"/api/v1/jobs/{i}").json()["job"]
                           for i in (12, 13)), timeout=20, what="jobs 12 and 13 known public")
    wait_until(lambda: "hidden" not in get(app, "/api/v1/jobs/1").json()["job"], timeout=20,
               what="job 1 known public")
    tail = lambda: get(app, "/healthz").json()["job_logs"]  # noqa: E731
    raw = RawSocketIO(app.port, rcvbuf=4096)
    reader = None
    try:
        raw.connect_namespace()
        raw.send('420["log_follow",{"job":1}]')
        wait_until(lambda: tail()["waited_for_followers"] > 0, timeout=20,
                   what="the log held back for its one follower, behind")
        # (Signed in: its follows count for another address and viewer than the page behind's.)
        reader = LogClient(app, ALICE)
        ack = reader.follow(1)  # the lines kept so far, then every new one pushed
        # (held back at about 13,000 lines here: the sockets' buffers and 20 messages of 500)
        assert ack["ok"] is True and ack["next"] < total - 5_000, {**ack, "lines": "..."}
        wait_until(lambda: any(m["job"] == 1 and m["finished"] for m in reader.pushed),
                   timeout=60, what="the reading page sent the log to its end")
        assert sorted(reader.lines(1)) == list(range(ack["next"], total))
        figures = tail()
        # ... while the page behind still followed it (before, the log went on only once its
        # connection was dropped for not answering Engine.IO's pings, 45 s on)
        assert figures["followers"] == 2, figures
        assert figures["lines"] == total and figures["held_for_a_follower"] > 0, figures
        # Two more logs asked for, at --job-logs-max 2: job 1's, read to its end, keeps its place
        # while it owes the page behind its lines.
        assert reader.client.call("log_unfollow", {"job": 1}, timeout=10)["ok"] is True
        for job in (12, 13):
            answer = reader.follow(job)
            assert answer["ok"] is True or answer["code"] == "busy", answer
        # The page behind reads again: the newest lines kept, and that the log is finished.
        deadline, got = time.monotonic() + 30, b""
        while b'"finished":true' not in got and time.monotonic() < deadline:
            raw.drain(0.5)
            got += raw.received
            raw.received = b""
        assert b'"finished":true' in got
        assert f'"n":{total - 1},'.encode() in got  # the last line came with it
    finally:
        raw.sock.close()
        if reader is not None:
            reader.close()
