"""Alerts obey the access rules (docs/security.md): an alert about private jobs lists only the jobs
a viewer may see and its message names none; a signed-in viewer acknowledges, and is named."""
import json

import requests

from tests.test_browser import page  # noqa: F401 (fixture)

from tests.helpers import wait_until
from tests.test_access import ADMIN, BOB, SECRETS, frames, get, lab, sign_in  # noqa: F401 (fixture)


def failed_check(job_id, submitter, description):
    return frames("testjob", {"job": job_id, "state": "Finished", "health": "Incomplete",
                              "health_check": True, "device": "qemu-02", "device_type": "qemu",
                              "worker": "lab-worker-01", "submitter": submitter,
                              "description": description,
                              "submit_time": "2026-11-27T17:30:00+00:00"}, submitter)


def failing_board(lab, tmp_path):  # noqa: F811 (the fixture's value, handed on)
    """The app with alerts on, and qemu-02's health checks failing twice: 901 (alice's, private to
    her) and 902 (carol's, visible to lab-staff). → (app, the alert's key)."""
    lava, publisher, start = lab
    config = tmp_path / "alerts.toml"
    config.write_text("[rules.health_checks_failed]\ncount = 2\n")
    app = start("--alerts-config", str(config), "--alerts-interval", "0.2")
    publisher.send(failed_check(901, "priv-alice", "SECRET-PERSONAL-901"))
    publisher.send(failed_check(902, "priv-carol", "SECRET-GROUP-902"))
    return app, "health_checks_failed/qemu-02"


def the_alert(app, key, token=None):
    """The one alert with this key, as this viewer gets it (other rules may fire meanwhile)."""
    [alert] = [a for a in get(app, "/api/v1/alerts", token).json()["alerts"] if a["key"] == key]
    return alert


def test_an_alert_about_private_jobs_names_only_what_each_viewer_may_see(lab, tmp_path):  # noqa: F811
    app, key = failing_board(lab, tmp_path)
    wait_until(lambda: any(a["key"] == key for a in get(app, "/api/v1/alerts").json()["alerts"]),
               timeout=15, what="the alert")

    for path in ("/api/v1/alerts", "/feeds/alerts.atom"):
        text = get(app, path).text
        assert [s for s in SECRETS if s in text] == [], path
    alert = the_alert(app, key)
    assert alert["jobs"] == [] and alert["hidden_jobs"] == 2  # anonymous: neither job
    assert "901" not in alert["message"] and "902" not in alert["message"]
    # bob (lab-staff) may see carol's job 902, not alice's 901: once LAVA has told.
    get(app, "/api/v1/alerts", BOB)
    wait_until(lambda: the_alert(app, key, BOB)["jobs"] == [902],
               timeout=20, what="bob sees job 902 in the alert")
    assert the_alert(app, key, BOB)["hidden_jobs"] == 1

    # Acknowledgement: not anonymously; bob, named.
    url = f"{app.url}/api/v1/alerts/{alert['id']}/ack"
    refused = requests.post(url, timeout=10)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    done = requests.post(url, headers={"Authorization": f"Token {BOB}"}, timeout=10)
    assert done.status_code == 200, done.text
    assert done.json()["alert"]["acked_by"] == "bob"
    wait_until(lambda: the_alert(app, key, BOB)["acked_by"] == "bob",
               timeout=10, what="the acknowledgement kept")
    # Who acknowledged it is a LAVA username: anonymous visitors learn that it is, not by whom
    # (an audit), in the list and the feed alike.
    anonymous = the_alert(app, key)
    assert anonymous["acked"] is True and anonymous["acked_by"] is None, anonymous
    feed = get(app, "/feeds/alerts.atom").text
    # (The feed holds the acknowledged alert: a check of a name absent from an empty feed, or one
    # without it, would prove nothing.)
    assert alert["id"] in feed and key.split("/", 1)[1] in feed, feed[:500]
    assert "bob" not in get(app, "/api/v1/alerts").text and "bob" not in feed
    assert requests.post(f"{app.url}/api/v1/alerts/nope/ack", headers={
        "Authorization": f"Token {BOB}"}, timeout=10).status_code == 404
    # Signed in by the session cookie, bob needs the CSRF token, whatever other Authorization the
    # request carries (a proxy's Basic, which a browser adds to a forged request too).
    session, _ = sign_in(app, "bob", BOB)
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Token "}):
        forged = session.post(url, headers=headers, timeout=10)
        assert forged.status_code == 400 and "X-CSRF-Token" in forged.json()["error"], headers
    csrf = session.get(app.url + "/api/v1/whoami", timeout=10).json()["csrf"]
    done = session.post(url, headers={"X-CSRF-Token": csrf,
                                      "Authorization": "Basic dXNlcjpwYXNz"}, timeout=10)
    assert done.status_code == 200 and done.json()["alert"]["acked_by"] == "bob", done.text
    assert ADMIN not in json.dumps(get(app, "/healthz").json())


def test_a_signed_in_viewer_acknowledges_in_the_alerts_view(lab, tmp_path, page):  # noqa: F811
    """In Chromium: anonymous viewers get no Acknowledge button; bob signs in, acknowledges by
    keyboard, and the row names him (kept in the store: the API says so too)."""
    app, key = failing_board(lab, tmp_path)
    row = f'[data-alert-key="{key}"]'
    page.goto(app.url + "/?view=alerts")
    page.wait_for_selector(row, timeout=20000)
    assert page.query_selector(f"{row} button") is None  # anonymous: nobody to name
    page.click("#sign-in")
    page.fill("#username", "bob")
    page.fill("#token", BOB)
    page.keyboard.press("Enter")
    page.wait_for_selector("#sign-out", timeout=10000)
    page.goto(app.url + "/?view=alerts")
    page.wait_for_selector(f"{row} button:has-text('Acknowledge')", timeout=20000)
    # A locator, not an element handle: a render between finding the button and pressing it
    # must not leave the key press on a node that is gone.
    page.locator(f"{row} button:has-text('Acknowledge')").focus()
    with page.expect_response(lambda r: r.url.endswith("/ack") and r.request.method == "POST",
                              timeout=20000) as answer:
        page.keyboard.press("Enter")
    assert answer.value.ok, answer.value.text()
    wait_until(lambda: "bob" in page.inner_text(row), timeout=20, what="the row names bob")
    assert page.query_selector(f"{row} button") is None
    assert the_alert(app, key, BOB)["acked_by"] == "bob"
    # Signed out, the row says it is acknowledged, not by whom, and offers no button.
    page.click("#sign-out")
    page.wait_for_selector("#sign-in", timeout=10000)
    page.goto(app.url + "/?view=alerts")
    wait_until(lambda: "someone" in page.inner_text(row), timeout=20, what="the row says someone")
    assert "bob" not in page.inner_text(row) and page.query_selector(f"{row} button") is None
    assert [s for s in SECRETS if s in page.content() and s != "priv-carol"] == []
    assert page.errors == [], page.errors
