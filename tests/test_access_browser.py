"""Access control as a person meets it, in Debian's Chromium: signing in and out, a private job that
appears only once signed in, the open-access footer, and a wall link revoked while its screen is open."""
import subprocess
import sys


from tests.helpers import ROOT, AppProcess, TestPublisher, wait_until
from tests.test_access import ALICE, get, publish_private_jobs  # noqa: F401  (the same lab)
from tests.test_access import lab  # noqa: F401  (fixture)
from tests.test_browser import page  # noqa: F401  (fixture)

ARTIFACTS = ROOT / "test-artifacts"


def job_row(page, job_id):
    return page.wait_for_selector(f'[data-job="{job_id}"]', timeout=15000)


def sign_in_as_alice(page, app):
    """Sign the page in as priv-alice, by the sign-in form, by keyboard."""
    page.goto(app.url + "/signin")
    page.fill("#username", "priv-alice")
    page.fill("#token", ALICE)
    page.keyboard.press("Enter")
    page.wait_for_selector("#sign-out", timeout=10000)


def test_signing_in_shows_ones_private_job_and_signing_out_hides_it(lab, page):  # noqa: F811
    lava, publisher, start = lab
    app = start()
    publish_private_jobs(publisher)
    page.goto(app.url + "/?view=jobs")
    page.wait_for_selector("#connection[data-state=live]", timeout=15000)
    assert "Anonymous view" in page.inner_text("#access-note")
    assert "Sign in with your LAVA username" in page.inner_text("#access-note")
    wait_until(lambda: "private job" in job_row(page, 901).inner_text(), timeout=15,
               what="job 901 shown as a private job")
    assert "SECRET" not in page.content()
    page.click("#sign-in")
    page.fill("#username", "priv-alice")
    page.fill("#token", ALICE)
    page.keyboard.press("Enter")  # the form by keyboard
    page.wait_for_selector("#connection[data-state=live]", timeout=15000)
    page.wait_for_selector("#sign-out", timeout=10000)
    assert "Signed in as priv-alice" in page.inner_text("#access-note")
    # (Boards LAVA hides from anonymous users are kept out for everyone: core/screen.py.)
    assert "boards LAVA shows only to some of its users" in page.inner_text("#access-note")
    wait_until(lambda: "SECRET-PERSONAL-901" in job_row(page, 901).inner_text(), timeout=20,
               what="alice's private job in full once LAVA says she may see it")
    assert "SECRET-GROUP-902" not in page.content()
    page.screenshot(path=str(ARTIFACTS / "signed-in.png"))
    page.click("#sign-out")
    page.wait_for_selector("#connection[data-state=live]", timeout=15000)
    page.wait_for_selector("#sign-in", timeout=10000)
    wait_until(lambda: "private job" in job_row(page, 901).inner_text(), timeout=15,
               what="job 901 hidden again after signing out")
    assert "SECRET" not in page.content()
    assert ALICE not in app.log_text()
    assert page.errors == [], page.errors


def test_signing_out_in_one_tab_sends_the_other_to_the_sign_in_saying_why(lab, page):  # noqa: F811
    lava, publisher, start = lab
    app = start()
    publish_private_jobs(publisher)
    sign_in_as_alice(page, app)
    other = page.context.new_page()  # a second tab of the same browser: the same session
    other.goto(app.url + "/?view=jobs")
    other.wait_for_selector("#connection[data-state=live]", timeout=15000)
    wait_until(lambda: "SECRET-PERSONAL-901" in job_row(other, 901).inner_text(), timeout=20,
               what="the second tab shows alice's private job")
    page.click("#sign-out")
    other.wait_for_url("**/signin?ended=1", timeout=10000)
    note = other.wait_for_selector(".signin-error", timeout=10000).inner_text()
    assert "Your session has ended" in note and "signed out in another tab" in note
    assert "SECRET" not in other.content()
    # The tab that signed out goes where its sign-out sends it: the board, anonymous.
    page.wait_for_selector("#sign-in", timeout=10000)
    assert "ended=1" not in page.url
    assert page.errors == [], page.errors


def test_a_page_away_while_its_session_ended_comes_back_anonymous_and_keeps_nothing(lab, page):  # noqa: F811
    """Found by an audit: a page offline while its session ended (here unused for 4 s) came back
    anonymous and was caught up, keeping alice's private job in its table, its feed, its
    histories and its open details panel for whoever looked next."""
    lava, publisher, start = lab
    app = start("--session-idle", "4")
    publish_private_jobs(publisher)
    sign_in_as_alice(page, app)
    # Stored, and LAVA has said she may see it, before her panel fetches it: its messages (from
    # the store) are then in the panel, and the check at the end can see them kept (an audit:
    # without this wait the panel could open before they were there, and prove nothing).
    wait_until(lambda: "SECRET-SHELL-901" in get(app, "/api/v1/jobs/901", ALICE).text, timeout=20,
               what="her job's messages stored, and hers to see")
    page.goto(app.url + "/?view=jobs&detail=job:901")
    page.wait_for_selector("#connection[data-state=live]", timeout=15000)
    wait_until(lambda: "SECRET-PERSONAL-901" in job_row(page, 901).inner_text(), timeout=20,
               what="alice's private job in full")
    wait_until(lambda: "SECRET-PERSONAL-901" in page.inner_text(".detail-panel"), timeout=10,
               what="its details open")
    wait_until(lambda: "SECRET-SHELL-901" in page.inner_text("#job-messages"), timeout=10,
               what="its messages in the panel")
    page.context.set_offline(True)  # the laptop shut: the connection goes, the session idles out
    wait_until(lambda: app.json("/healthz")["relay"]["clients"] == 0, timeout=10, what="offline")
    page.wait_for_timeout(6000)
    page.context.set_offline(False)
    page.wait_for_selector("#sign-in", timeout=20000)  # anonymous now
    page.wait_for_selector("#connection[data-state=live]", timeout=15000)
    wait_until(lambda: "private job" in job_row(page, 901).inner_text(), timeout=15,
               what="job 901 redacted")
    page.wait_for_timeout(500)
    assert "SECRET" not in page.content() and "priv-alice" not in page.content()
    stats = page.evaluate("({...window.lavaDashboard.stats})")
    assert stats["catchups"] == 0 and stats["snapshots"] >= 2
    errors = [e for e in page.errors if "ERR_INTERNET_DISCONNECTED" not in e]  # (while offline)
    assert errors == [], errors


def test_open_access_says_so_in_the_footer(page):  # noqa: F811
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint)
    try:
        page.goto(app.url + "/")
        note = page.wait_for_selector("#access-note", timeout=15000)
        assert "Access is open" in note.inner_text()
        assert "access is OPEN" in app.log_text()
    finally:
        app.stop()
        publisher.close()


def test_a_revoked_wall_link_says_why_in_large_type(lab, page):  # noqa: F811
    lava, publisher, start = lab
    app = start("--access", "login")
    made = subprocess.run([sys.executable, "-m", "dashboard.walls", "--data-dir", app.data_dir,
                           "create", "--name", "lobby", "--filter", "device_type=qemu",
                           "--url", app.url], cwd=ROOT, capture_output=True, text=True, timeout=30)
    forbidden, history = [], []
    page.on("response", lambda r: forbidden.append(r.url) if r.status == 403 else None)
    page.on("request", lambda r: history.append(r.url) if "/api/v1/stats/" in r.url else None)
    page.goto(made.stdout.split()[0])
    page.wait_for_selector("#connection[data-state=live]", timeout=15000)
    assert "link=" not in page.url and "wall=1" in page.url  # the token left the address bar
    page.wait_for_selector('[data-device="qemu-01"]', timeout=10000)
    # It asks for nothing a wall link may not read (the rate's history was): that request went out
    # at the first snapshot, before the board showed.
    assert history == [] and forbidden == [], (history, forbidden)
    revoked = subprocess.run([sys.executable, "-m", "dashboard.walls", "--data-dir", app.data_dir,
                              "revoke", "lobby"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert revoked.returncode == 0
    # The screen's next reconnect: the dashboard restarts (same port, same data folder).
    port, data_dir = app.port, app.data_dir
    app.kill()  # (stop() would remove its data folder: the key and the links live there)
    again = start("--access", "login", "--data-dir", data_dir, port=port)
    try:
        reason = page.wait_for_selector(".refused-reason", timeout=30000)
        assert "revoked" in reason.inner_text()
        size = float(page.evaluate("() => parseFloat(getComputedStyle("
                                   "document.querySelector('.refused-reason')).fontSize)"))
        assert size >= 32, size  # readable from across the room
        page.screenshot(path=str(ARTIFACTS / "wall-revoked.png"))
        # Loaded again (a kiosk restarted): the same reason, not the sign-in form.
        page.reload()
        said = page.wait_for_selector(".wall-error", timeout=15000).inner_text()
        assert "lobby" in said and "revoked" in said and page.query_selector("#token") is None
    finally:
        again.stop()


def test_a_board_lava_hides_later_leaves_the_pages_feed_too(lab, page):  # noqa: F811
    """A wall runs for weeks: when LAVA hid a board, the page took the board and its jobs away
    but its feed kept their changes and messages (the server's removals did not say why). LAVA
    shows nothing of such a board; now neither does the page, and the other boards' entries stay."""
    from tests.helpers import message, utc_stamp

    lava, publisher, start = lab
    app = start()
    # A second page asks the server for Maintenance boards only (a wall of problems): docker-01
    # leaves its filter before LAVA hides it, so no ordinary removal would reach it then.
    problems = page.context.new_page()
    problems.errors = []
    problems.on("pageerror", lambda exc: problems.errors.append(str(exc)))
    page.goto(app.url + "/")
    problems.goto(app.url + "/?health=Maintenance")
    for each in (page, problems):
        each.wait_for_selector("#connection[data-state=live]", timeout=15000)
    page.wait_for_selector('[data-device="docker-01"]', timeout=15000)
    for uid, hostname in (("d-docker-01", "docker-01"), ("d-qemu-01", "qemu-01")):
        publisher.send(message("device", utc_stamp(), uid, device=hostname, health="Maintenance"))
    publisher.send(message("event", utc_stamp(), "m-7", job=7, message="MESSAGE-OF-JOB-7"))
    for each in (page, problems):
        wait_until(lambda: all(word in each.inner_text("#feed") for word in ("docker-01", "qemu-01", "MESSAGE-OF-JOB-7")),
                   timeout=15, what="the feed holding both boards' changes and job 7's message (on docker-01)")
    publisher.send(message("device", utc_stamp(), "d-docker-01-good", device="docker-01", health="Good"))
    problems.wait_for_selector('[data-device="docker-01"]', state="detached", timeout=15000)
    assert "MESSAGE-OF-JOB-7" in problems.inner_text("#feed")  # (its feed keeps what it held)
    lava.hidden_devices.add("docker-01")
    page.wait_for_selector('[data-device="docker-01"]', state="detached", timeout=15000)
    for each in (page, problems):
        wait_until(lambda: "MESSAGE-OF-JOB-7" not in each.inner_text("#feed"), timeout=10,
                   what="job 7's message gone from the feed")
        feed = each.inner_text("#feed")
        assert "docker-01" not in feed and "job #7" not in feed, feed
        assert "qemu-01" in feed
    assert page.errors == [] and problems.errors == [], (page.errors, problems.errors)
