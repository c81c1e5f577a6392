"""`Authorization: Token` while LAVA fails (docs/security.md, "Signing in"): a header token is
checked like the sign-in form's before LAVA is asked; while LAVA fails (not refuses), tokens it
has not vouched for get 503 without a new question to LAVA, for a back-off that grows while it
keeps failing; known tokens keep working; the warnings are rate-limited and never hold a token.
A real HTTP server on 127.0.0.1 (tests/fake_lava.py) stands in for LAVA, asked by the real
client; then the app itself, over HTTP and Socket.IO."""
import logging
import re
import time

import pytest
import requests
import socketio

from dashboard.core.visibility import Visibility
from dashboard.sources.rest import LavaRest
from dashboard.web import auth
from dashboard.web.sessions import Sessions
from tests.fake_lava import API, FakeLava
from tests.helpers import AppProcess, TestPublisher, wait_until

ADMIN = "tok-ADMIN-header-0a1b2c"
ALICE, BOB = "tok-alice-11112222", "tok-bob-33334444"
USERS = {ALICE: ("alice", []), BOB: ("bob", [])}
MALFORMED = {"too long": "t" * (auth.MAX_FIELD + 1), "a space": "tok alice",
             "not ASCII": "tok-\u00e9t\u00e9-1234", "a control character": "tok-\x7f-1234"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def lava():
    server = FakeLava(token=ADMIN)
    server.users.update(USERS)
    yield server
    server.close()


def asked(lava, token=None):
    """How many times LAVA was asked whose a token is (`token`'s, or any viewer's)."""
    return sum(1 for path, _, header in lava.requests if path == f"{API}/system/whoami/"
               and header != f"Token {ADMIN}" and (token is None or header == f"Token {token}"))


@pytest.fixture
def ctl(lava, tmp_path):
    clock = Clock()
    access = auth.Access("lava", Sessions(idle=60, lifetime=300, clock=clock), Visibility(),
                         lambda token, lab: LavaRest(lava.url, token, timeout=2), "k" * 32,
                         str(tmp_path), clock=clock)
    return access, clock


def test_a_header_token_is_checked_like_the_form_s_before_lava_is_asked(lava, ctl):
    access, _ = ctl
    for why, token in MALFORMED.items():
        viewer, _, reason, _ = access.who({}, f"Token {token}", address="10.0.0.1")
        assert viewer is None and reason.startswith("not a LAVA token"), why
        assert token not in reason
    assert asked(lava) == 0 and access.stats()["malformed"] == len(MALFORMED)
    assert auth.token_problem(ALICE) is None and auth.token_problem("x" * auth.MAX_FIELD) is None
    # They count as refusals of the address: a fifth and more wait like guessed tokens.
    with pytest.raises(auth.TooManyRefusals):
        for _ in range(auth.MAX_FAILURES):
            access.who({}, "Token " + MALFORMED["a space"], address="10.0.0.1")


def test_while_lava_fails_unknown_tokens_wait_and_known_ones_keep_working(lava, ctl, caplog):
    access, clock = ctl
    assert access.whoami(ALICE) == "alice"  # vouched for, cached TOKEN_CACHE_SECONDS
    lava.fault = "500"
    caplog.set_level(logging.WARNING, logger="dashboard.auth")
    with pytest.raises(auth.LavaUnavailable) as info:
        access.whoami(BOB)
    first = info.value.wait
    assert info.value.kind == "server_error" and 1 <= first <= 3  # LAVA_RETRY_FIRST, jittered
    assert "LAVA cannot be reached" in str(info.value) and asked(lava, BOB) == 1
    before = asked(lava)  # ALICE's question, and BOB's
    # During the back-off: no question to LAVA, whatever the token; ALICE is still alice.
    for i in range(20):
        with pytest.raises(auth.LavaUnavailable) as info:
            access.whoami(f"tok-unknown-{i:04d}")
        assert info.value.kind is None and 1 <= info.value.wait <= first
    assert access.whoami(ALICE) == "alice"
    assert asked(lava) == before and access.stats()["held_back"] == 20
    assert access.stats()["lava_failing"] == [""] and access.stats()["lava_errors"] == 1
    # Past it LAVA is asked once more; it still fails: a longer wait.
    clock.now += auth.LAVA_RETRY_FIRST * 1.2
    with pytest.raises(auth.LavaUnavailable) as info:
        access.whoami(BOB)
    assert asked(lava) == before + 1 and info.value.wait >= 3
    # One warning in LOG_INTERVAL, however many failures; never a token.
    warnings = [r.getMessage() for r in caplog.records if "cannot check a token" in r.getMessage()]
    assert len(warnings) == 1 and "server_error" in warnings[0] and "503" in warnings[0], warnings
    clock.now += auth.LOG_INTERVAL
    with pytest.raises(auth.LavaUnavailable):
        access.whoami(BOB)
    warnings = [r.getMessage() for r in caplog.records if "cannot check a token" in r.getMessage()]
    assert len(warnings) == 2 and "1 more like this since" in warnings[1], warnings
    assert not any(t in m for m in warnings for t in (ALICE, BOB, ADMIN))
    # LAVA answers again: after the back-off the next question goes, and all is as before.
    lava.fault = None
    clock.now += auth.LAVA_RETRY_MOST * 1.2
    assert access.whoami(BOB) == "bob"
    assert access.stats()["lava_failing"] == []
    assert access.whoami("tok-nobody-00000000") is None  # a refusal is an answer, not a failure
    assert asked(lava) == before + 4


def test_one_question_at_a_time_once_the_back_off_has_passed(lava, ctl):
    """While LAVA is asked again after failing, another unknown token waits rather than asks."""
    access, clock = ctl
    lava.fault = "500"
    with pytest.raises(auth.LavaUnavailable):
        access.whoami(BOB)
    clock.now += auth.LAVA_RETRY_MOST
    assert access.outage.wait("") == 0
    access.outage.asking("")  # a question in flight (another request's)
    assert access.outage.wait("") == 1
    with pytest.raises(auth.LavaUnavailable):
        access.whoami(ALICE)
    assert asked(lava) == 1
    access.outage.done("")
    assert access.outage.wait("") == 0


@pytest.fixture
def app(lava, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(ADMIN)
    publisher = TestPublisher()
    running = None
    try:
        running = AppProcess("--lava-url", lava.url, "--lava-token-file", str(token_file),
                             "--zmq", publisher.endpoint, "--reconcile-interval", "60",
                             "--lava-timeout", "0.5")
        wait_until(lambda: running.json("/healthz")["lava"]["loaded"], timeout=20, what="loaded")
        yield running
    finally:
        if running:
            running.stop()
        publisher.close()


def get(app, token, path="/api/v1/state"):
    return requests.get(app.url + path, headers={"Authorization": f"Token {token}"}, timeout=10)


def refusal(app, token):
    """The data of the Socket.IO connection's refusal (connect_error) with this token."""
    client = socketio.Client(reconnection=False)
    errors = []
    client.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(app.url, headers={"Authorization": f"Token {token}"},
                       transports=["websocket"], wait_timeout=10)
    client.disconnect()
    assert errors, "no connect_error"
    return errors[-1]


def sign_in(app, token, username="bob"):
    session = requests.Session()
    csrf = re.search(r'name="csrf" value="([^"]+)"',
                     session.get(app.url + "/signin", timeout=10).text).group(1)
    return session.post(app.url + "/signin", data={"csrf": csrf, "username": username,
                                                   "token": token},
                        allow_redirects=False, timeout=10)


def test_the_app_refuses_malformed_header_tokens_unasked(lava, app):
    for why, token in MALFORMED.items():
        if not token.isascii():
            continue  # requests sends latin-1; the Access test covers it
        resp = get(app, token)
        assert resp.status_code == 401 and resp.json()["code"] == "unauthorized", why
        assert resp.json()["error"].startswith("not a LAVA token") and token not in resp.text
    assert refusal(app, MALFORMED["too long"]) == {  # as a token LAVA refused is
        "message": f"not a LAVA token: it is longer than {auth.MAX_FIELD} characters",
        "data": {"code": "unauthorized"}}
    assert asked(lava) == 0
    assert app.json("/healthz")["access"]["malformed"] >= 4


def test_the_app_answers_503_while_lava_fails_and_asks_it_again_only_after_a_while(lava, app):
    assert get(app, ALICE).status_code == 200  # known and cached before LAVA fails
    before = asked(lava)
    lava.fault = "500"
    started = time.monotonic()
    resp = get(app, BOB)
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["ok"] is False and body["code"] == "lava_unavailable"
    assert body["error"].startswith("LAVA cannot be reached") and BOB not in resp.text
    assert 1 <= int(resp.headers["Retry-After"]) <= 3
    assert asked(lava) == before + 1
    # Within the back-off: 503 for every unknown token, over REST, Socket.IO and the sign-in
    # form, and LAVA is not asked; the known token still works.
    for i in range(10):
        assert get(app, f"tok-unknown-{i:04d}").status_code == 503
    data = refusal(app, "tok-unknown-sio-0000")
    assert data["data"]["code"] == "lava_unavailable" and data["data"]["retry_after"] >= 1
    assert data["message"].startswith("LAVA cannot be reached to check the token")
    resp = sign_in(app, "tok-unknown-form-000")
    assert resp.status_code == 503 and "LAVA cannot be reached" in resp.text
    assert get(app, ALICE).status_code == 200
    # One question, unless this machine was so slow that the back-off (at least 1.6 s: 2 s less
    # its jitter) ran out meanwhile: then one more each time it did.
    spent = time.monotonic() - started
    most = 1 + int(spent / (0.8 * auth.LAVA_RETRY_FIRST))
    assert 1 <= asked(lava) - before <= most, (spent, asked(lava) - before)
    health = app.json("/healthz")["access"]
    assert health["lava_errors"] == asked(lava) - before
    assert health["lava_errors"] + health["held_back"] == 13  # BOB, 10 unknown, Socket.IO, form
    assert health["lava_failing"] == [""]
    assert health["refused"] == 0  # LAVA refused nothing: no address is held back for it
    # LAVA answers again: once the back-off is over, the next unknown token is asked about.
    lava.fault = None
    wait_until(lambda: get(app, BOB).status_code == 200, timeout=10, interval=0.5,
               what="bob let in after the back-off")
    assert app.json("/healthz")["access"]["lava_failing"] == []
    log = app.log_text()
    assert log.count("cannot check a token with LAVA") == 1, log[-2000:]
    assert not any(t in log for t in (ALICE, BOB, ADMIN, "tok-unknown"))


def test_a_slow_lava_holds_a_request_with_a_token_only_until_the_deadline(lava, app):
    """LAVA answers, but after longer than the deadline (2 × --lava-timeout 0.5 s): the request
    gets 503 at the deadline, not when LAVA answers, and the next ones without asking LAVA. (The
    bounds on how long they took leave a loaded machine room: LAVA answers after 8 s, and a
    request that asked it again would take the deadline, 1 s.)"""
    lava.delay = 8.0
    before = asked(lava)
    started = time.monotonic()
    resp = get(app, BOB)
    assert resp.status_code == 503 and time.monotonic() - started < 5.0
    assert asked(lava) == before + 1
    started = time.monotonic()
    assert get(app, "tok-unknown-9999").status_code == 503
    assert asked(lava) == before + 1  # held back by the back-off: LAVA is not asked
    assert time.monotonic() - started < 1.0
    lava.delay = 0
