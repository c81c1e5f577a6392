"""The ingest process's ModelPublisher and a web process's Replica, step by step, against a real
redis-server: the orderings an integration test cannot provoke on demand (a snapshot taken in the
middle of a batch, an ingest restart in a quiet lab, a second ingest process, a gap no snapshot can
fill yet, changes dropped while Redis is away)."""
import datetime as dt
import json
import types

import pytest

from dashboard.live.meta import Meta
from dashboard.live.cluster import Keys, RivalIngest, connect
from dashboard.live.cluster_ingest import ModelPublisher
from dashboard.live.cluster_web import Replica
from dashboard.core.events import Event
from dashboard.live.relay import Relay
from dashboard.core.state import LabState
from tests.servers import RedisServer
from tests.helpers import RecordingSocketIO, wait_until


@pytest.fixture(scope="module")
def redis_url():
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def keys(redis_url, request):
    keys = Keys("units-" + request.node.name)
    yield keys
    connect(redis_url).delete(keys.changes, keys.snapshot, keys.ingest)


def event(i, state="Idle"):
    return Event(kind="device", topic="org.lavasoftware.device", uuid=f"u-{i}-{state}",
                 time=dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc), username="lava",
                 data={"device": f"d{i % 7}", "device_type": "qemu", "state": state,
                       "health": ("Good", "Bad")[i % 2], "worker": f"w{i % 3}"})


def still():
    """The processes' clock, which stands still: a heartbeat is written, and read, only when a test
    says so (with real time, a loaded machine that took a second between two steps made the old
    ingest process write a heartbeat, and the web process reload for it)."""
    return 1000.0


class Ingest:
    """A model and its ModelPublisher, as in the ingest process."""

    def __init__(self, url, keys, epoch, max_pending=20000, **meta):
        self.state = LabState()
        self.publisher = ModelPublisher(connect(url), keys, self.state, Meta(epoch=epoch, **meta), epoch,
                                        sleep=lambda s: None, emit=lambda *a: None,
                                        health_fn=lambda: {"degraded": []},
                                        max_pending=max_pending, clock=still)

    def apply(self, start, n, state="Idle"):
        for i in range(start, start + n):
            self.publisher.push(self.state.apply(event(i, state)))


class Web:
    """A model copy, its Relay (recording what it would send) and its Replica."""

    def __init__(self, url, keys, access=None, lava=None):
        self.state = LabState()
        self.sio = RecordingSocketIO()
        self.meta = Meta(epoch=None, access=access)
        self.relay = Relay(self.sio, self.state, self.meta)
        self.disconnected = []  # (the server, given after the relay is made: it asks nothing of it)
        self.sio.server = types.SimpleNamespace(
            disconnect=lambda sid, namespace, ignore_queue: self.disconnected.append(sid))
        self.replica = Replica(connect(url), keys, self.state, self.relay, self.meta,
                               sleep=lambda s: None, block_ms=10, clock=still, access=access,
                               lava=lava)
        self.relay.refusal = self.replica.refusal  # as the app wires it

    def follow(self, rounds=5):
        return [self.replica.follow_once() for _ in range(rounds)]

    def resyncs(self):
        return sum(1 for event, *_ in self.sio.sent if event == "resync")


def test_a_web_process_follows_and_holds_the_ingest_model(redis_url, keys):
    ingest, web = Ingest(redis_url, keys, "e1"), Web(redis_url, keys)
    ingest.apply(0, 20)
    ingest.publisher.publish_once()
    web.follow()
    ingest.apply(20, 30, "Running")
    ingest.publisher.publish_once()
    web.follow()
    assert web.state.snapshot() == ingest.state.snapshot()
    assert web.replica.snapshots == 1 and web.replica.gaps == 0 and web.relay.epoch == "e1"
    # Every change after the snapshot went to the relay with the ingest's numbers, in order, with
    # its old value from the copy.
    seqs = [c.seq for c in web.relay.log]
    assert seqs and seqs == list(range(seqs[0], ingest.state.seq + 1))
    assert all(c.prev is not None for c in web.relay.log if c.kind == "device")


def test_a_snapshot_taken_inside_a_batch_is_followed_without_a_reload(redis_url, keys):
    ingest = Ingest(redis_url, keys, "e1")
    ingest.apply(0, 10)
    ingest.publisher.publish_once()
    # The next batch is published, then a web process starts from a snapshot newer than the
    # batch's start (as when the model moved on while Redis answered): it applies the rest only.
    ingest.apply(10, 10, "Running")
    batch_last = ingest.state.seq
    ingest.publisher.publish_once()
    snapshot_model = ingest.state.dump()
    mid = batch_last - 5
    client = connect(redis_url)
    body = json.loads(client.hget(keys.snapshot, "body"))
    # A model at `mid`: replay the ingest's events up to that seq in a fresh model.
    replay = LabState()
    for i in range(20):
        replay.apply(event(i, "Idle" if i < 10 else "Running"))
        if replay.seq >= mid:
            break
    assert replay.seq >= mid and replay.seq < batch_last
    body["model"] = replay.dump()
    entries = client.xrange(keys.changes)
    before_batch = entries[-2][0] if len(entries) > 1 else b"0-0"
    client.hset(keys.snapshot, mapping={"seq": replay.seq, "entry": before_batch,
                                        "body": json.dumps(body)})
    web = Web(redis_url, keys)
    web.follow()
    expected = LabState()
    expected.restore(snapshot_model)
    assert web.state.snapshot() == expected.snapshot()
    assert web.replica.snapshots == 1 and web.replica.gaps == 0


def test_an_ingest_restart_in_a_quiet_lab_is_one_reload_not_a_loop(redis_url, keys):
    first = Ingest(redis_url, keys, "e1")
    first.apply(0, 30)
    first.publisher.publish_once()
    web = Web(redis_url, keys)
    web.follow()
    first.publisher.close()  # it stopped (SIGTERM)
    # A new ingest process: a new epoch, its model restored, nothing new happening.
    second = Ingest(redis_url, keys, "e2")
    second.state.restore(first.state.dump())
    second.publisher.publish_once()
    web.replica.last_check = float("-inf")
    web.follow(rounds=20)
    assert web.replica.snapshots == 2 and web.resyncs() == 2 and web.relay.epoch == "e2"  # start, restart
    assert web.replica.gaps == 0  # the old epoch's entries were never read again
    second.apply(30, 5, "Running")
    second.publisher.publish_once()
    web.follow()
    assert web.state.snapshot() == second.state.snapshot() and web.replica.snapshots == 2


def test_a_late_batch_of_an_old_ingest_process_is_skipped_not_applied(redis_url, keys):
    old = Ingest(redis_url, keys, "e1")
    old.apply(0, 10)
    old.publisher.publish_once()
    old.publisher.close()
    new = Ingest(redis_url, keys, "e2")  # took over (the old one was not quite gone)
    new.state.restore(old.state.dump())
    new.publisher.publish_once()
    web = Web(redis_url, keys)
    web.follow()
    assert web.relay.epoch == "e2"
    old.apply(100, 5)
    old.publisher.last_snapshot = float("inf")  # a last batch, no snapshot
    old.publisher.publish_once()
    new.apply(10, 5, "Running")
    new.publisher.publish_once()
    web.follow(rounds=10)
    assert web.replica.skipped == 1 and web.replica.snapshots == 1
    assert web.state.snapshot() == new.state.snapshot()


def test_a_gap_waits_for_a_newer_snapshot_instead_of_reloading_in_a_loop(redis_url, keys):
    ingest = Ingest(redis_url, keys, "e1")
    ingest.apply(0, 10)
    ingest.publisher.publish_once()
    web = Web(redis_url, keys)
    web.follow()
    ingest.apply(10, 5, "Running")
    ingest.publisher.pending = []  # lost: the stream will not follow on from the web's seq
    ingest.apply(15, 5)
    ingest.publisher.publish_once()  # not due for a snapshot yet
    pauses = web.follow(rounds=5)
    assert web.replica.waiting and web.replica.snapshots == 1 and pauses[-1] == 1.0
    assert "stream" in web.replica.degraded()
    ingest.publisher.needs_snapshot = True
    ingest.publisher.publish_once()
    web.follow()
    assert web.replica.snapshots == 2 and web.state.snapshot() == ingest.state.snapshot()
    assert not web.replica.waiting


def test_changes_dropped_while_redis_is_away_never_make_a_broken_batch(redis_url, keys):
    ingest = Ingest(redis_url, keys, "e1", max_pending=30)
    ingest.apply(0, 10)
    ingest.publisher.publish_once()
    web = Web(redis_url, keys)
    web.follow()
    # Redis fails while a batch is in flight, and meanwhile the pending changes overflow.
    real = ingest.publisher.redis

    class Failing:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                ingest.apply(200, 40, "Running")  # overflow: dropped
                ingest.apply(300, 5)
                raise ConnectionError("Redis went away")
            return fail
    ingest.apply(10, 5)
    ingest.publisher.redis = Failing()
    ingest.publisher.needs_snapshot = False
    ingest.publisher.last_snapshot = float("inf")
    ingest.publisher.run(rounds=1)  # its loop: the error is noted, and a snapshot will come first
    stats = ingest.publisher.stats()  # what /healthz says
    assert stats["redis"] == "error" and "Redis went away" in stats["error"] and stats["errors"] == 1
    ingest.publisher.redis = real
    ingest.publisher.publish_once()  # a snapshot first, then only consecutive changes
    web.follow(rounds=10)
    assert web.state.snapshot() == ingest.state.snapshot()
    assert web.replica.errors == 0
    for _, fields in connect(redis_url).xrange(keys.changes):  # no entry glues two runs together
        seqs = [c["seq"] for c in json.loads(fields[b"changes"])]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_a_second_ingest_process_waits_while_the_first_one_publishes(redis_url, keys):
    from dashboard.live.cluster import RivalIngest

    first, second = Ingest(redis_url, keys, "e1"), Ingest(redis_url, keys, "e2")
    first.apply(0, 10)
    first.publisher.publish_once()
    second.apply(0, 10)
    with pytest.raises(RivalIngest):
        second.publisher.publish_once()
    second.publisher.run(rounds=1)  # its loop: the rival is noted, nothing published, no crash
    assert second.publisher.stats()["rival"] == "e1" and second.publisher.published == 0
    assert not second.publisher.connected
    web = Web(redis_url, keys)
    web.follow()
    assert web.relay.epoch == "e1"
    # The first one stops: the second (a standby, its model kept current) takes over at once.
    first.publisher.close()
    second.apply(10, 5, "Running")
    second.publisher.publish_once()
    assert second.publisher.stats()["rival"] is None
    web.replica.last_check = float("-inf")
    web.follow()
    assert web.relay.epoch == "e2" and web.state.snapshot() == second.state.snapshot()


def test_a_standby_stays_one_while_redis_fails_and_queues_nothing_meanwhile(redis_url, keys):
    """An audit: a Redis that hung 12 s made a standby drop its rival at the first error, write
    the shared store beside the main process (131 events twice) and then win the claim; and a
    standby queued changes up to --max-pending-changes, then warned "Redis is behind" and counted
    them dropped, every few minutes. Only Redis's answer says whether another publishes."""
    import redis

    first, second = Ingest(redis_url, keys, "e1"), Ingest(redis_url, keys, "e2", max_pending=5)
    first.apply(0, 3)
    first.publisher.publish_once()
    second.publisher.run(rounds=1)
    assert second.publisher.standing_by() == "another"
    second.apply(0, 20)  # more than its max_pending: as a standby it queues none
    assert second.publisher.pending == [] and second.publisher.dropped == 0
    working = second.publisher.redis
    second.publisher.redis = redis.Redis(host="127.0.0.1", port=1, socket_timeout=0.2)  # away
    second.publisher.run(rounds=1)
    assert second.publisher.error and "RivalIngest" not in second.publisher.error
    assert second.publisher.standing_by() == "another"  # still: Redis said nothing of e1
    from dashboard.live.health import Health, summary
    services = types.SimpleNamespace(health=Health(), labs=[], publisher=second.publisher,
                                     replica=None)
    assert summary(services)["degraded"] == ["another-ingest", "redis"]  # each said
    second.publisher.redis = working
    second.publisher.run(rounds=1)
    assert second.publisher.standing_by() == "another" and second.publisher.published == 0
    first.publisher.close()  # the main process ends: the standby takes over, a snapshot first
    second.publisher.publish_once()
    assert second.publisher.standing_by() == "" and second.publisher.dropped == 0
    web = Web(redis_url, keys)
    web.follow()
    assert web.relay.epoch == "e2" and web.state.snapshot() == second.state.snapshot()


def test_a_standby_takes_over_only_once_redis_takes_its_claim(redis_url, keys):
    """An audit: a Redis that answered reads but refused writes (full under `noeviction`, a
    replica after a failover) let the main process's heartbeat expire; the standby, reading no
    claim, wrote the shared store beside the main process until Redis took writes again. Here
    Redis refuses writes as a primary without its replicas does (`min-replicas-to-write`): the
    standby stays one, the main process goes on alone; once writes come back, one claim wins."""
    admin = connect(redis_url)
    first, second = Ingest(redis_url, keys, "e1"), Ingest(redis_url, keys, "e2")
    first.apply(0, 3)
    first.publisher.publish_once()
    second.publisher.run(rounds=1)
    assert second.publisher.standing_by() == "another"

    def rounds(ingest):
        ingest.publisher.last_heartbeat = float("-inf")  # (the still clock: a heartbeat is due)
        ingest.publisher.run(rounds=1)
    admin.pexpire(keys.ingest, 1)  # the main heartbeat's last moment; then no writes are taken
    admin.config_set("min-replicas-to-write", 1)
    try:
        wait_until(lambda: admin.get(keys.ingest) is None, timeout=5, what="the heartbeat expired")
        for _ in range(3):
            rounds(second)
            rounds(first)
        assert "NOREPLICAS" in second.publisher.error and "NOREPLICAS" in first.publisher.error
        assert second.publisher.standing_by() == "another"  # it read no claim, and could not write one
        assert first.publisher.standing_by() == ""  # it goes on storing: nobody else does
    finally:
        admin.config_set("min-replicas-to-write", 0)
    rounds(second)  # writes taken: its claim first
    rounds(first)
    assert second.publisher.standing_by() == "" and second.publisher.error is None
    assert first.publisher.standing_by() == "another" and first.publisher.rival == "e2"
    assert json.loads(admin.get(keys.ingest))["epoch"] == "e2"
    # A claim held by another is read back, not written over.
    assert first.publisher._write_claim() == "e2"
    # A review: the refresh was a plain SET. Here e2's heartbeat expires and e1 claims in that
    # moment: e2's next refresh finds e1's claim, keeps it, and stands by.
    admin.delete(keys.ingest)
    assert first.publisher._write_claim() == "e1"
    with pytest.raises(RivalIngest):
        second.publisher._heartbeat()
    assert json.loads(admin.get(keys.ingest))["epoch"] == "e1"
    # And a heartbeat of another shape: the first to claim keeps it (before, each deleted it first,
    # and the second could delete the first's fresh claim).
    admin.set(keys.ingest, '{"pid": 1}', ex=5)
    assert second.publisher._write_claim() == "e2" and first.publisher._write_claim() == "e2"
    # Two that look at once: e3 claims between e1's look and e1's write. The WATCH undoes e1's
    # write, and e1's next look finds e3's claim (a plain look-then-SET would have overwritten it).
    admin.delete(keys.ingest)
    look = first.publisher._read_claim

    def look_while_another_claims():
        seen = look()
        if not admin.exists(keys.ingest):
            admin.set(keys.ingest, json.dumps({**json.loads(second.publisher._heartbeat_body()),
                                               "epoch": "e3"}), ex=5)
        return seen
    first.publisher._read_claim = look_while_another_claims
    assert first.publisher._write_claim() == "e3"
    assert json.loads(admin.get(keys.ingest))["epoch"] == "e3"


def test_a_heartbeat_of_another_shape_claims_nothing_even_with_a_ttl(redis_url, keys):
    """An audit: `SET lava-dashboard:ingest '{"epoch":"zzz"}' EX 25` held a running ingest
    process standing by for 25 s (only a heartbeat that never expires was taken for no claim),
    while web processes counted it malformed."""
    connect(redis_url).set(keys.ingest, '{"epoch":"zzz"}', ex=25)
    ingest = Ingest(redis_url, keys, "e1")
    ingest.apply(0, 3)
    ingest.publisher.publish_once()
    assert ingest.publisher.standing_by() == "" and ingest.publisher.malformed["heartbeats"] == 1
    assert json.loads(connect(redis_url).get(keys.ingest))["epoch"] == "e1"  # overwritten


def test_a_web_process_serves_no_one_until_it_knows_it_is_as_strict_as_the_ingest_process(
        redis_url, keys):
    """A web process of access `open` or `lava` serves nothing before it has read the ingest
    process's access (the store's history is there before any model); then as the comparison says:
    an ingest process as strict or less lets it serve, a stricter one (or one that does not say,
    taken as `login`) does not, and its snapshot is not even read again (only the heartbeat, every
    second, until that changes)."""
    web = Web(redis_url, keys, access="open")
    assert "not known yet" in web.replica.access_problem  # REST answers 503, the log tail refuses
    assert "not known yet" in web.relay.refusal(unknown_too=True)
    assert web.relay.refusal() is None  # clients may connect and wait: there is no model to send
    ingest = Ingest(redis_url, keys, "e1", access="lava")
    ingest.apply(0, 10)
    ingest.publisher.publish_once()
    web.follow()
    assert "access is open, the ingest process's is lava" in web.replica.access_problem
    assert web.replica.mismatch and web.replica.snapshots == 0 and not web.state.devices
    assert web.replica.degraded() == ["access"] and web.meta["access"] == "open"
    reads = []
    web.replica._load_snapshot = lambda reason: reads.append(reason)
    web.follow(rounds=5)
    assert reads == []  # the mismatch is not a reason to fetch the whole model twice a second
    # A `login` web process under an ingest process whose meta has no access: taken as login.
    silent = Web(redis_url, Keys("units-silent"), access="login")
    assert silent.replica.access_problem is None  # nothing is stricter than login
    assert silent.replica._access_differs({}) is False
    lava_web = Web(redis_url, keys, access="lava")
    assert lava_web.replica._access_differs({"access": "login"})
    assert lava_web.replica._access_differs({}) and "is unknown" in lava_web.replica.access_problem
    assert not lava_web.replica._access_differs({"access": "lava"})
    assert lava_web.replica.access_problem is None and lava_web.relay.refusal() is None
    # An open ingest process under a web process with access control (an audit: a `lava` web
    # process showed everyone the boards LAVA hides, which only an ingest process with access
    # control keeps out of the model, and their jobs).
    for access, web_ in (("lava", lava_web), ("login", silent)):
        assert web_.replica._access_differs({"access": "open"}), access
        assert (f"access is {access}, the ingest process's is open" in web_.replica.access_problem
                and web_.relay.refusal() is not None), web_.replica.access_problem
    assert not web.replica._access_differs({"access": "open"})  # open under open: served


def test_a_web_process_of_another_lava_than_the_ingest_process_serves_no_one(redis_url, keys,
                                                                              tmp_path):
    """Found by an audit: a web process given another LAVA's --lava-url (a staging server) signed
    viewers in there, and a staging user who may see staging's job 5 was shown production's job 5
    in full. In `lava` and `login` modes its LAVA servers must be the ingest process's."""
    from dashboard.live.cluster_web import lava_servers

    mine = lava_servers({"lava_url": "https://lava.example.org/"})
    assert mine == (("", "https://lava.example.org"),)
    ingest = Ingest(redis_url, keys, "e1", access="lava", lava_url="https://staging.example.org")
    ingest.apply(0, 10)
    ingest.publisher.publish_once()
    web = Web(redis_url, keys, access="lava", lava=mine)
    web.follow()
    assert "another LAVA server than the ingest process" in web.replica.access_problem
    assert web.replica.mismatch and not web.state.devices and web.replica.degraded() == ["access"]
    assert web.relay.refusal() is not None
    assert not web.replica._access_differs({"access": "lava", "lava_url": "https://lava.example.org"})
    assert web.replica.access_problem is None  # the same server (a trailing slash aside): served
    labs = {"access": "login", "labs": [{"name": "east", "lava_url": "https://e"},
                                        {"name": "west", "lava_url": "https://w"}]}
    several = Web(redis_url, keys, access="login", lava=lava_servers(labs))
    assert not several.replica._access_differs(labs)
    assert several.replica._access_differs(dict(labs, labs=labs["labs"][:1]))  # a lab less
    # In `open` mode every viewer sees everything: which LAVA signs them in does not matter.
    # What a web process says of its own settings is what an ingest process's meta says of them.
    from dashboard import config, factory
    from dashboard.sources.rest import LavaRest

    labs_file = tmp_path / "labs.toml"
    labs_file.write_text('[labs.east]\nlava_url = "https://lava.east.example.org/"\n'
                         '[labs.west]\nlava_url = "https://LAVA.west.example.org:8443/lava/"\n')
    for flags, ingest_meta in (
            (["--lava-url", "https://lava.example.org/"],
             {"lava_url": LavaRest("https://lava.example.org/").base}),
            (["--labs", str(labs_file)],
             {"labs": [{"name": "east", "lava_url": LavaRest("https://lava.east.example.org/").base},
                       {"name": "west", "lava_url": LavaRest("https://LAVA.west.example.org:8443/lava/").base}]})):
        settings = config.load([*flags, "--role", "web", "--message-queue", redis_url], environ={})
        assert factory._lava_servers(settings) == lava_servers(ingest_meta), flags
    open_web = Web(redis_url, keys, access="open", lava=mine)
    assert not open_web.replica._access_differs({"access": "open", "lava_url": "https://other"})
    assert lava_servers("not a meta") is None


def test_an_ingest_process_that_restarts_stricter_takes_the_model_and_the_clients_away(
        redis_url, keys):
    """An open web process followed an open ingest process, with a model and a client; the ingest
    process restarts as `lava`: the web process drops the model, tells its clients why and
    disconnects them, and refuses Socket.IO (relay.refusal) until that changes."""
    first = Ingest(redis_url, keys, "e1", access="open")
    first.apply(0, 10)
    first.publisher.publish_once()
    web = Web(redis_url, keys, access="open")
    web.follow()
    assert web.replica.access_problem is None and web.state.devices and web.relay.epoch == "e1"
    web.relay.clients["sid-1"] = "group"
    first.publisher.close()
    second = Ingest(redis_url, keys, "e2", access="lava")
    second.state.restore(first.state.dump())
    second.publisher.publish_once()
    web.replica.last_check = float("-inf")
    web.follow()
    assert web.replica.mismatch and not web.state.devices and web.relay.epoch is None
    assert web.disconnected == ["sid-1"]
    told = [data for event, data, to in web.sio.sent if event == "refused" and to == "sid-1"]
    assert told and told[0]["code"] == "access_mismatch"
    assert any(event == "resync" for event, *_ in web.sio.sent)
    assert "the ingest process's is lava" in web.relay.refusal()


def test_a_web_process_learns_the_jobs_kept_out_that_the_ingest_model_never_held(redis_url, keys):
    """An audit: an ingest process that restored a model saved without a screen (access control
    turned on over a store written in open mode) kept out, at its first reconciliation, a job its
    model no longer held: queued for a type anyone may see, then run on a board LAVA hides while
    the dashboard was down. No removal in the stream said so, and a web process showed the job's
    stored queued row, redacted. The jobs the screen keeps out go beside the snapshot
    (`kept_out`), and the heartbeat says when they grew."""
    from dashboard.core.screen import DeviceScreen

    ingest = Ingest(redis_url, keys, "e1", access="lava")
    ingest.state.screen = DeviceScreen()
    ingest.state.screen.learn([{"hostname": f"d{i}", "device_type": "qemu"} for i in range(7)])
    ingest.apply(0, 10)
    ingest.state.screen.keep_out_job(949)  # (before the first snapshot: loaded with it)
    ingest.publisher.publish_once()
    web = Web(redis_url, keys, access="lava")
    web.state.followed_screen = DeviceScreen()  # (as the factory gives a web process, --lava-url)
    web.follow()
    assert web.relay.epoch == "e1" and web.state.followed_screen.kept_out_job(949)
    # Kept out by a reconciliation (LabState._admits_record): no change, no removal.
    ingest.state.screen.keep_out_job(950)
    ingest.publisher.push(ingest.state.apply(event(12)))
    seq = ingest.state.seq
    ingest.publisher.last_heartbeat = float("-inf")
    ingest.publisher.publish_once()
    assert json.loads(connect(redis_url).get(keys.ingest))["kept_out"] == 2
    web.replica.last_check = float("-inf")
    web.follow()
    assert web.state.seq == seq and web.state.followed_screen.kept_out_job(950)
    assert web.replica.kept_seen == 2 and web.replica.snapshots == 1  # (no model loaded again)
    # Kept out again: not written before KEPT_EVERY has passed (the clock stands still here).
    ingest.state.screen.keep_out_job(951)
    ingest.publisher.last_heartbeat = float("-inf")
    ingest.publisher.publish_once()
    assert json.loads(connect(redis_url).get(keys.ingest))["kept_out"] == 2
    ingest.publisher.last_kept -= 1.0
    ingest.publisher.last_heartbeat = float("-inf")
    ingest.publisher.publish_once()
    web.replica.last_check = float("-inf")
    web.follow()
    assert web.state.followed_screen.kept_out_job(951) and web.replica.kept_seen == 3
    # Of another shape (another version, a hand-written HSET): counted, said, nothing learnt.
    redis = connect(redis_url)
    redis.hset(keys.snapshot, mapping={"kept_version": 9, "kept_out": '{"": 952}'})
    redis.set(keys.ingest, json.dumps(dict(json.loads(redis.get(keys.ingest)), kept_out=9)))
    before = web.replica.malformed["snapshots"]
    web.replica.last_check = float("-inf")
    web.follow()
    assert web.replica.malformed["snapshots"] == before + 1 and web.replica.kept_seen == 3
    assert not web.state.followed_screen.kept_out_job(952) and web.relay.epoch == "e1"
    # A new web process loads the snapshot (of these fields too) all the same.
    late = Web(redis_url, keys, access="lava")
    late.state.followed_screen = DeviceScreen()
    late.follow()
    assert late.relay.epoch == "e1" and late.state.seq == seq
    assert late.replica.malformed["snapshots"] == 1 and late.state.followed_screen.kept_out_job(949)
