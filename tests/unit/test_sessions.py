"""Sessions end for good: their live connections are closed, their tokens forgotten, with a clock we
turn; and the key that signs the cookies is its owner's only."""
import os
import stat
import sys

import flask
import pytest

from dashboard.core.state import LabState
from dashboard.core.visibility import ANONYMOUS, Viewer, Visibility
from dashboard.live.meta import Meta
from dashboard.live.relay import Relay
from dashboard.storage import secrets
from dashboard.web import auth, sessions as web_sessions
from dashboard.web.sessions import Sessions
from tests.helpers import RecordingSocketIO

ALICE, BOB, CAROL = Viewer(username="alice"), Viewer(username="bob"), Viewer(username="carol")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Server:
    """python-socketio's server, as far as the relay uses it to close a connection."""

    def __init__(self):
        self.disconnected = []

    def disconnect(self, sid, namespace=None, ignore_queue=False):
        self.disconnected.append(sid)

    def leave_room(self, sid, room, namespace=None):
        pass


def relay_with(sessions, clients):
    """A relay whose clients `clients` ({sid: what identify says}) have connected."""
    sio = RecordingSocketIO()
    app = flask.Flask(__name__)
    identities = iter(clients.values())
    relay = Relay(sio, LabState(), Meta(epoch="e1"), identify=lambda: next(identities))
    sio.server = Server()  # after: the relay installs no message budget on it
    relay.sessions = sessions
    for sid in clients:
        with app.test_request_context():
            flask.request.sid = sid
            assert relay.on_connect() is True
    return relay, sio, app


def ended(sio):
    return [to for event, data, to in sio.sent if event == "session_ended"
            and data["code"] == "session_ended" and "sign in" in data["error"]]


def test_a_connection_ends_with_its_session_and_activity_keeps_the_session_in_use():
    clock = Clock()
    sessions = Sessions(idle=60, lifetime=300, clock=clock)
    alice, bob = sessions.create("alice", "tok-a"), sessions.create("bob", "tok-b")
    relay, sio, _ = relay_with(sessions, {
        "c-alice": (ALICE, None, alice), "c-bob": (BOB, None, bob),
        "c-anonymous": (ANONYMOUS, None, None),
        "c-carol": (CAROL, None, None)})  # an API client's token: no session to end
    assert relay.viewer_of("c-alice") == (ALICE, None)
    clock.now += 50
    assert relay.note_activity("c-alice") is True  # alice's page subscribes again
    clock.now += 20  # bob's session unused for 70 s (idle: 60), alice's for 20
    assert sessions.alive(alice) and not sessions.alive(bob)
    assert relay.end_ended_sessions() == 1
    assert sio.server.disconnected == ["c-bob"] and ended(sio) == ["c-bob"]
    assert relay.viewer_of("c-bob") == (ANONYMOUS, None)  # until the disconnect is done
    assert relay.end_ended_sessions() == 0  # told once
    # Used every 40 s, alice's session still ends at its lifetime (300 s), and so does her page.
    while clock.now + 40 <= 1000 + 300:
        clock.now += 40
        assert relay.note_activity("c-alice") is True
    assert relay.end_ended_sessions() == 0
    clock.now = 1000 + 301  # used 31 s ago: only the lifetime ends it
    assert relay.end_ended_sessions() == 1 and sio.server.disconnected == ["c-bob", "c-alice"]
    assert relay.stats()["sessions_ended"] == 2
    assert set(relay.viewers) >= {"c-anonymous", "c-carol"}  # never ended


def test_signing_out_elsewhere_ends_the_connection_at_its_next_subscribe_or_the_sweep():
    clock = Clock()
    sessions = Sessions(idle=60, lifetime=300, clock=clock)
    alice = sessions.create("alice", "tok-a")
    relay, sio, app = relay_with(sessions, {"c-1": (ALICE, None, alice),
                                            "c-2": (ALICE, None, alice)})
    sessions.end(alice)  # signed out in another tab
    with app.test_request_context():
        flask.request.sid = "c-1"
        ack = relay.on_subscribe({"filter": {}})
    assert ack["ok"] is False and ack["code"] == "session_ended"
    assert sio.server.disconnected == ["c-1"]
    assert relay.end_ended_sessions() == 1 and sio.server.disconnected == ["c-1", "c-2"]


def test_the_pages_own_polls_do_not_keep_a_session_in_use():
    """The alerts every 10 s and a panel's refresh (X-Dashboard-Poll) find the session, and do not
    keep it past its idle limit; a request of the person does."""
    clock = Clock()
    sessions = Sessions(idle=60, lifetime=3600, clock=clock)
    ctl = auth.Access("lava", sessions, Visibility(), Rest, "k" * 32, "/nonexistent", clock=clock)
    sid = sessions.create("alice", "tok-a")
    for _ in range(5):  # polled every 10 s for 50 s: still signed in, use not noted
        clock.now += 10
        assert ctl.viewer({"sid": sid}, poll=True)[0] == ALICE
    clock.now += 11  # 61 s since the sign-in, the last use
    assert ctl.viewer({"sid": sid}, poll=True)[0] == ANONYMOUS
    other = sessions.create("bob", "tok-b")
    for _ in range(10):  # the person clicks every 10 s: the session lasts
        clock.now += 10
        assert ctl.viewer({"sid": other})[0] == BOB


class Rest:
    def __init__(self, user):
        self.user = user

    def whoami(self):
        return self.user


def tokens_held(access):
    """Every token in the internals of Access and its sessions."""
    return ({s.token for s in access.sessions._by_id.values()}
            | {token for token, _ in access._api_tokens.values()})


def test_the_sweep_forgets_every_token_once_its_session_or_check_has_ended(tmp_path):
    clock = Clock()
    visibility = Visibility()
    sessions = Sessions(idle=60, lifetime=300, clock=clock)
    access = auth.Access("lava", sessions, visibility, lambda token, lab: Rest("bob"), "k" * 32,
                         str(tmp_path), clock=clock)
    sessions.create("alice", "tok-alice-1")
    assert access.whoami("tok-bob-api") == "bob"  # an API client
    visibility.learn("alice", 7, True)
    visibility.learn("bob", 8, True)
    clock.now += 40
    assert access.sweep() == set() and tokens_held(access) == {"tok-alice-1", "tok-bob-api"}
    clock.now += 300  # past the session's lifetime and the token check's 300 s
    assert tokens_held(access) == {"tok-alice-1", "tok-bob-api"}  # nobody asked for them again
    assert access.sweep() == {"alice", "bob"}
    assert tokens_held(access) == set() and len(sessions) == 0 and not access._tokens
    assert visibility.known("alice", 7) is None and visibility.known("bob", 8) is None
    # A sign-in also forgets the sessions that ended before it.
    sessions.create("alice", "tok-alice-2")
    clock.now += 61
    sessions.create("bob", "tok-bob-2")
    assert tokens_held(access) == {"tok-bob-2"}


def test_the_sweeper_runs_every_interval_and_has_ended_sessions_disconnected(monkeypatch, tmp_path):
    monkeypatch.setattr(web_sessions, "SWEEP_INTERVAL", 0.5)
    clock, slept, swept = Clock(), [], []
    sessions = Sessions(idle=60, lifetime=300, clock=clock)
    access = auth.Access("lava", sessions, Visibility(), None, "k" * 32, str(tmp_path), clock=clock)
    sessions.create("alice", "tok-a")

    class Relay:
        def end_ended_sessions(self):
            swept.append(len(sessions))

    def sleep(seconds):
        slept.append(seconds)
        clock.now += 100

    access.run_sweeper(sleep, Relay(), rounds=2)
    assert slept == [0.5, 0.5] and swept == [0, 0]  # the session idled out before the first sweep


def test_the_signing_key_file_is_made_readable_by_its_owner_only(monkeypatch, tmp_path):
    data_dir = tmp_path / "data"
    key = secrets.load_or_create(str(data_dir))
    path = data_dir / secrets.FILE_NAME
    assert len(key) >= 32 and path.read_text().strip() == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secrets.load_or_create(str(data_dir)) == key  # made once
    assert os.listdir(data_dir) == [secrets.FILE_NAME]
    assert secrets.load_or_create(str(tmp_path / "other"), configured="from-env") == "from-env"
    assert not (tmp_path / "other").exists()
    path.write_text("short\n")  # not a key: said, never silently replaced
    monkeypatch.setattr(secrets, "READ_PAUSE", 0.0)
    with pytest.raises(secrets.KeyFileError):
        secrets.load_or_create(str(data_dir))


def test_a_connection_opened_with_a_token_ends_when_lava_no_longer_takes_the_token(tmp_path):
    """No session, but a lease: the sweep asks LAVA again once the token's check has run out (not
    before), closes the connection when LAVA refuses the token or names another user, and, while
    LAVA cannot be asked, keeps it only TOKEN_GRACE_SECONDS after the last yes."""
    from dashboard.sources.rest import LavaError

    clock = Clock()
    lava = {"tok-carol": "carol", "tok-dave": "dave", "tok-erin": "erin"}  # what LAVA says now
    asked = []

    class Lava:
        def __init__(self, token, lab):
            assert lab == ""  # the one unnamed lab's LAVA
            self.token = token

        def whoami(self):
            asked.append(self.token)
            answer = lava[self.token]
            if isinstance(answer, Exception):
                raise answer
            return answer
    sessions = Sessions(idle=60, lifetime=300, clock=clock)
    ctl = auth.Access("lava", sessions, Visibility(), Lava, "k" * 32, str(tmp_path), clock=clock)
    leases = {t: auth.TokenLease(ctl, t, ctl.whoami(t)) for t in lava}
    assert "tok-carol" not in repr(leases["tok-carol"])
    erin_too = auth.TokenLease(ctl, "tok-erin", "erin")  # a second connection with erin's token
    relay, sio, _ = relay_with(sessions, {
        "c-carol": (CAROL, None, leases["tok-carol"]),
        "c-dave": (Viewer(username="dave"), None, leases["tok-dave"]),
        "c-erin": (Viewer(username="erin"), None, leases["tok-erin"]),
        "c-erin-2": (Viewer(username="erin"), None, erin_too)})
    asked.clear()
    lava["tok-carol"] = None  # revoked in LAVA
    lava["tok-dave"] = "mallory"  # LAVA now says it is someone else's
    lava["tok-erin"] = LavaError("connection", "LAVA is down")
    clock.now += 30
    assert relay.end_ended_sessions() == 0 and asked == []  # the checks are cached for 300 s
    assert relay.note_activity("c-carol") is True  # a subscribe does not ask LAVA
    # The sweep every 30 s: LAVA is asked again once the checks made at 1000 run out.
    while clock.now + 30 < 1000 + auth.TOKEN_CACHE_SECONDS:
        clock.now += 30
        assert relay.end_ended_sessions() == 0
    clock.now += 30
    assert relay.end_ended_sessions(tokens=False) == 0 and asked == []  # a sign-out asks LAVA nothing
    assert relay.end_ended_sessions() == 2
    assert sorted(asked) == ["tok-carol", "tok-dave", "tok-erin"]  # once per token, not per connection
    assert sio.server.disconnected == ["c-carol", "c-dave"] and ended(sio) == ["c-carol", "c-dave"]
    assert relay.viewer_of("c-carol") == (ANONYMOUS, None)
    # erin's LAVA cannot answer: her connections stay until TOKEN_GRACE_SECONDS after LAVA last
    # said yes (at 1000; the sweeps since then only saw that answer in the cache).
    while clock.now + 30 < 1000 + auth.TOKEN_GRACE_SECONDS:
        clock.now += 30
        assert relay.end_ended_sessions() == 0
    clock.now = 1000 + auth.TOKEN_GRACE_SECONDS
    assert relay.end_ended_sessions() == 2 and sio.server.disconnected[-2:] == ["c-erin", "c-erin-2"]
    # A lease that cannot even be asked (a bug): denied, the client is closed.

    class Broken:
        def alive(self):
            raise RuntimeError("boom")
    relay2, sio2, _ = relay_with(sessions, {"c-x": (CAROL, None, Broken())})
    assert relay2.end_ended_sessions() == 1 and sio2.server.disconnected == ["c-x"]


def test_one_viewer_signing_in_again_and_again_replaces_only_their_own_oldest_sessions():
    """Before, one LAVA user signing in 10,000 times signed every other viewer out."""
    clock = Clock()
    sessions = Sessions(idle=600, lifetime=3600, clock=clock, size=50, per_viewer=3)
    bob = sessions.create("bob", "tok-b")
    mallory = [sessions.create("mallory", "tok-m") for _ in range(100)]
    assert sessions.get(bob).username == "bob"
    assert [sessions.get(sid) is not None for sid in mallory[-4:]] == [False, True, True, True]
    assert len(sessions) == 4 and sessions.replaced == 97


def test_signing_out_forgets_the_token_the_sign_in_s_check_kept(tmp_path):
    """The sign-in form's token check files the token as an API client's too; signing out took
    the session's copy only, and the viewer's questions to LAVA went on with it for 5 minutes."""
    clock = Clock()
    sessions = Sessions(idle=60, lifetime=300, clock=clock)
    ctl = auth.Access("lava", sessions, Visibility(), lambda token, lab: Rest("alice"), "k" * 32,
                      str(tmp_path), clock=clock)
    assert ctl.whoami("tok-alice-1234") == "alice"  # the sign-in form's check
    sid = sessions.create("alice", "tok-alice-1234")
    assert ctl.token_of("alice") == "tok-alice-1234"
    assert ctl.sign_out(sid) == "alice"
    assert ctl.token_of("alice") is None and "tok-alice-1234" not in tokens_held(ctl)
    assert ctl.sign_out(sid) is None  # twice: nothing more
    # An API client's own token (not the session's) stays for its cached check.
    assert ctl.whoami("tok-alice-api-99") == "alice"
    sid = sessions.create("alice", "tok-alice-1234")
    ctl.sign_out(sid)
    assert ctl.token_of("alice") == "tok-alice-api-99"


def test_a_viewers_token_is_their_newest_live_sessions_however_the_others_ended():
    """token_of reads a viewer's own sessions (an index kept as sessions come and go), and gives
    what a scan of every session gives: through sign-outs, idle and absolute ends, a sweep, the
    per-viewer and the overall bounds."""
    clock = Clock()
    sessions = Sessions(idle=60, lifetime=300, clock=clock, size=6, per_viewer=3)

    def scan(username):  # the newest live session's token, from every session
        live = [s for s in sessions._by_id.values() if s.username == username
                and not sessions._over(s, clock.now)]
        return live[-1].token if live else None

    def check():
        for name in ("alice", "bob", "carol", "dave"):
            assert sessions.token_of(name) == scan(name), name

    a1 = sessions.create("alice", "a1")
    clock.now += 10
    a2 = sessions.create("alice", "a2")
    b1 = sessions.create("bob", "b1")
    check()
    assert sessions.token_of("alice") == "a2"
    sessions.end(a2)  # signed out: her older session's token
    assert sessions.token_of("alice") == "a1" and sessions.end(a2) is None
    check()
    clock.now += 55  # a1 idle for 65 s: ended, though not yet swept
    assert sessions.token_of("alice") is None and sessions.token_of("bob") == "b1"
    assert sessions.get(a1) is None  # asked for: forgotten
    check()
    for i in range(4):  # bob's 3 newest stay (per_viewer)
        sessions.create("bob", f"b{i + 2}")
    assert sessions.get(b1) is None and sessions.token_of("bob") == "b5"
    check()
    for i in range(4):  # carol's 3, and the whole bound (6): bob's oldest go
        sessions.create("carol", f"c{i}")
    assert len(sessions) == 6 and sessions.token_of("carol") == "c3"
    check()
    clock.now += 61
    assert sessions.sweep() == {"bob", "carol"} and len(sessions) == 0
    check()
    assert sessions.token_of("alice") is None and sessions._by_user == {}


@pytest.mark.parametrize("args, says", [
    (["--filter", "health=bad"], "health 'bad' is not one of LAVA's: Good, Unknown"),
    (["--url", "notaurl"], "--url 'notaurl' is not an http:// or https:// address"),
    (["--url", "ftp://x.example.org"], "is not an http:// or https:// address"),
])
def test_a_wall_link_that_would_show_nothing_is_not_made(tmp_path, capsys, args, says):
    """A health LAVA never gives made a wall that shows nothing for ever; an --url that is no web
    address, a link no screen opens (an audit). Refused with why, and nothing is kept."""
    from dashboard import walls as cli
    from dashboard.storage import secrets, walls
    secrets.load_or_create(str(tmp_path))  # the dashboard's data folder: its key made at its start
    status = cli.main(["--data-dir", str(tmp_path), "create", "--name", "lobby", *args])
    assert status == 2 and says in capsys.readouterr().err
    assert walls.load(str(tmp_path)) == {}
    # A job's and a worker's healths are LAVA's too: a wall's health filter is of all three.
    made = cli.main(["--data-dir", str(tmp_path), "create", "--name", "lobby", "--filter",
                     "health=Bad&health=Incomplete&health=Active", "--url", "https://dash.example.org"],
                    out=sys.stdout)
    said = capsys.readouterr()
    assert made == 0 and "https://dash.example.org/?link=" in said.out, said


def test_a_snapshot_s_view_tag_names_its_viewer_and_changes_when_lava_changes_what_they_see():
    """A catch-up continues a page only for the viewer its data was made for (relay.view_tag)."""
    relay = Relay(RecordingSocketIO(), LabState(), Meta(epoch="e1"))
    tags = {name: relay.view_tag(v) for name, v in (("anonymous", ANONYMOUS), ("alice", ALICE),
                                                    ("bob", BOB))}
    assert len(set(tags.values())) == 3 and all(len(t) == 16 for t in tags.values())
    assert relay.view_tag(Viewer(username="alice")) == tags["alice"]  # the same viewer, the same
    relay.refresh_viewer("alice")  # LAVA changed what alice may see: her pages away get snapshots
    assert relay.view_tag(ALICE) not in tags.values()
    assert relay.view_tag(BOB) == tags["bob"] and relay.view_tag(ANONYMOUS) == tags["anonymous"]
    changed = relay.view_tag(ALICE)
    relay.refresh_viewer("alice")
    assert relay.view_tag(ALICE) not in (changed, tags["alice"])
    relay.refresh_viewer("bob", less=False)  # LAVA lets bob see more: what his pages hold stays true
    assert relay.view_tag(BOB) == tags["bob"]
    # Another web process (or this one restarted): an anonymous viewer's tag is the same (what
    # they may see is the shared model's); a signed-in viewer's is not (LAVA's answers are each
    # process's own), so their page gets a snapshot there, not a catch-up.
    other = Relay(RecordingSocketIO(), LabState(), Meta(epoch="e1"))
    assert other.view_tag(ANONYMOUS) == tags["anonymous"] and other.view_tag(BOB) != tags["bob"]


def test_a_viewer_whose_count_the_bound_lets_go_never_gets_an_old_tag_back(monkeypatch):
    """relay._view_changes is bounded: a viewer it lets go would count from 0 again, and a page of
    theirs from before their first change (tag of 0) could be caught up. Letting one go changes
    every signed-in viewer's tag instead (as a restart does); anonymous viewers' stay."""
    from dashboard.live import relay as relay_module
    monkeypatch.setattr(relay_module, "MAX_VIEW_CHANGES", 2)
    relay = Relay(RecordingSocketIO(), LabState(), Meta(epoch="e1"))
    dave = Viewer(username="dave")  # never refreshed: his tag changes all the same
    before = {v.username: relay.view_tag(v) for v in (ALICE, BOB, ANONYMOUS, dave)}
    relay.refresh_viewer("alice")
    after_hers = relay.view_tag(ALICE)
    relay.refresh_viewer("bob")
    relay.refresh_viewer("carol")  # lets alice's count go: it would be 0 again
    assert len(relay._view_changes) == 2
    assert relay.view_tag(ALICE) not in (before["alice"], after_hers)
    assert relay.view_tag(dave) != before["dave"] and relay.view_tag(ANONYMOUS) == before[""]


def test_a_wall_link_is_made_only_where_the_dashboard_keeps_its_key(tmp_path, capsys, monkeypatch):
    """A new operator's walkthrough: run from another folder, `create` made ./data and a key of
    its own and printed a link the dashboard refused (401). A folder without the dashboard's key
    (and no DASHBOARD_SECRET_KEY) is refused, saying why; --data-dir may follow the command."""
    from dashboard import walls as cli
    from dashboard.storage import secrets, walls
    monkeypatch.delenv("DASHBOARD_SECRET_KEY", raising=False)
    elsewhere = tmp_path / "not-the-dashboards"
    status = cli.main(["create", "--name", "lobby", "--data-dir", str(elsewhere)])
    said = capsys.readouterr().err
    assert status == 2 and "no signing key in" in said and "would never open" in said, said
    assert not elsewhere.exists()  # nothing made: no folder, no key, no link
    # `list` and `revoke` there say which folder they read, and that it has no key.
    assert cli.main(["list", "--data-dir", str(elsewhere)], out=sys.stdout) == 0
    said = capsys.readouterr().err
    assert f"no wall links in {elsewhere}" in said and "is it the dashboard's --data-dir?" in said
    assert cli.main(["revoke", "lobby", "--data-dir", str(elsewhere)]) == 2
    said = capsys.readouterr().err
    assert "no wall link named 'lobby' in" in said and "no signing key there" in said, said
    assert not elsewhere.exists()
    home = tmp_path / "data"
    secrets.load_or_create(str(home))
    assert cli.main(["create", "--name", "lobby", "--data-dir", str(home)], out=sys.stdout) == 0
    assert "/?link=" in capsys.readouterr().out and "lobby" in walls.load(str(home))
    # With the key the dashboard runs with, no file is needed.
    monkeypatch.setenv("DASHBOARD_SECRET_KEY", "k" * 48)
    assert cli.main(["--data-dir", str(elsewhere), "create", "--name", "hall"], out=sys.stdout) == 0
