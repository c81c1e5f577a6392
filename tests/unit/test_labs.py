"""Several labs in one dashboard (docs/labs.md): the --labs file, and the models of several labs as
one (core/labset.py), fed the real captured events."""
import pytest

from dashboard import config, labs
from dashboard.core.events import parse_frames
from dashboard.core.filters import parse_filter
from dashboard.core.labset import LabSet
from dashboard.core.state import LabState, Sequence
from tests.fixtures import captured_frames

TWO = """
[labs.east]
lava_url = "https://lava.east.example.org/"
token_file = "/etc/lava-dashboard/east.token"

[labs.west]
event_source = ["tcp://lava.west.example.org:5500", "wss://lava.west.example.org/ws/"]
topic_prefix = "org.lavasoftware"

[labs.demo]
simulated = true
"""


def test_a_labs_file_names_each_lab_with_its_server_token_and_sources():
    east, west, demo = labs.parse(TWO)
    assert east == labs.Lab("east", "https://lava.east.example.org",
                            "/etc/lava-dashboard/east.token", (), "", False)
    assert west.event_sources == ("tcp://lava.west.example.org:5500",
                                  "wss://lava.west.example.org/ws/")
    assert west.topic_prefix == "org.lavasoftware" and not west.lava_url
    assert demo.simulated and not demo.lava_url and not demo.event_sources


def test_a_labs_settings_are_the_dashboards_with_its_own_server():
    settings = config.load([], environ={})
    east = labs.parse(TWO)[0]
    own = east.settings(settings)
    assert (own["lava_url"], own["lava_token_file"], own["event_source"]) == (
        "https://lava.east.example.org", "/etc/lava-dashboard/east.token", [])
    assert own["batch_interval"] == settings["batch_interval"]
    assert labs.Lab("").settings(settings) is settings


@pytest.mark.parametrize("text, says", [
    ("", "no lab"),
    ("not toml [", "not TOML"),
    ("[lab.east]\nsimulated = true", "unknown table 'lab'"),
    ("[labs.East]\nsimulated = true", "lab name 'East'"),
    ("[labs.-x]\nsimulated = true", "lab name '-x'"),
    (f"[labs.{'a' * 33}]\nsimulated = true", "lab name"),
    ("[labs.east]\ntoken = 'secret'\nlava_url = 'https://x'", "give the token in token_file"),
    ("[labs.east]\nlava_url = 'ftp://x'", "labs.east.lava_url: expected an http:// or https:// URL"),
    ("[labs.east]\nevent_source = 'udp://x:1'", "labs.east.event_source: expected tcp://"),
    ("[labs.east]\nevent_source = 5", "labs.east.event_source: must be a URL or a list"),
    ("[labs.east]\nevent_source = ['tcp://x:1'] \ntopic_prefix = 3", "topic_prefix: must be a string"),
    ("[labs.east]\ndescription = 'x'", "unknown field 'description'"),
    ("[labs.east]\n", "needs lava_url or event_source"),
    ("[labs.east]\nsimulated = 'yes'", "simulated: must be true or false"),
    ("[labs.east]\nsimulated = true\nlava_url = 'https://x'", "a simulated lab has no lava_url"),
    ("[labs.east]\nevent_source = 'tcp://x:1'\ntoken_file = '/t'", "token is for lava_url's server"),
    ("\n".join(f"[labs.l{i}]\nsimulated = true" for i in range(33)), "33 labs, at most 32"),
])
def test_a_bad_labs_file_is_refused_with_the_lab_and_field_named(text, says):
    with pytest.raises(config.ConfigError) as err:
        labs.parse(text)
    assert says in str(err.value)


def test_the_labs_file_and_the_single_lab_flags_exclude_each_other(tmp_path):
    path = tmp_path / "labs.toml"
    path.write_text(TWO)
    with pytest.raises(config.ConfigError, match="give each lab's lava_url in"):
        labs.from_settings(config.load(["--labs", str(path), "--access", "open", "--lava-url",
                                        "https://x"], environ={}))
    assert [lab.name for lab in labs.from_settings(
        config.load(["--labs", str(path), "--access", "open"], environ={}))] == ["east", "west", "demo"]
    # Several labs default to --access lava: each lab then needs the LAVA that says who sees what.
    assert config.load(["--labs", str(path)], environ={})["access"] == "lava"
    with pytest.raises(config.ConfigError, match="labs.west: access lava needs its lava_url"):
        labs.from_settings(config.load(["--labs", str(path)], environ={}))
    assert labs.from_settings(config.load([], environ={})) == [labs.Lab("", simulated=True)]
    with pytest.raises(config.ConfigError, match="cannot read"):
        labs.from_settings(config.load(["--labs", str(tmp_path / "none.toml"), "--access", "open"],
                                       environ={}))
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(config.ConfigError, match="not UTF-8"):
        labs.from_settings(config.load(["--labs", str(path), "--access", "open"], environ={}))


@pytest.mark.parametrize("flags, says", [
    (["--access", "open", "--database", "postgresql://u@127.0.0.1/db"], "its `database` in the labs file"),
])
def test_a_global_database_with_several_labs_is_refused_with_why(flags, says):
    with pytest.raises(config.ConfigError, match=says):
        config.load(["--labs", "labs.toml", *flags], environ={})


def _two_labs():
    sequence = Sequence()
    return LabSet([LabState(name="east", sequence=sequence), LabState(name="west", sequence=sequence)])


def _replay(state):
    changes = []
    for frames in captured_frames():
        changes += state.apply(parse_frames(frames)) or []
    return changes


def test_two_labs_with_the_same_ids_are_kept_apart_and_numbered_as_one_stream():
    labset = _two_labs()
    east, west = labset.labs["east"], labset.labs["west"]
    east_changes = _replay(east)
    west_changes = _replay(west)  # the same capture: the same hostnames, job ids and uuids
    assert east_changes and len(west_changes) == len(east_changes)  # no uuid is a duplicate across labs
    numbers = [c.seq for c in east_changes + west_changes]
    assert numbers == list(range(1, len(numbers) + 1)) and labset.seq == numbers[-1]
    assert {c.lab for c in east_changes} == {"east"} and {c.lab for c in west_changes} == {"west"}
    assert all(c.data is None or c.data["lab"] == c.lab for c in east_changes + west_changes)
    assert all(c.wire()["lab"] == c.lab for c in east_changes)
    hostname = next(iter(east.devices))
    assert labset.devices[("east", hostname)] is east.devices[hostname]
    assert labset.devices[("west", hostname)] is west.devices[hostname]
    assert labset.devices.get(hostname) is None and ("north", hostname) not in labset.devices
    assert len(labset.devices) == 2 * len(east.devices)
    job = next(iter(east.jobs))
    west.jobs[job] = dict(west.jobs[job], description="west's own")
    assert labset.jobs[("east", job)]["description"] != "west's own"


def test_a_change_in_one_lab_does_not_touch_the_other():
    labset = _two_labs()
    east, west = labset.labs["east"], labset.labs["west"]
    _replay(east)
    _replay(west)
    hostname = next(iter(east.devices))
    before = dict(west.devices[hostname])
    frames = [b"org.lavasoftware.device", b"uuid-east-only", b"2026-12-01T10:00:00",
              b"lavaserver", b'{"device": "%s", "health": "Bad", "state": "Idle"}' % hostname.encode()]
    changes = east.apply(parse_frames(frames))
    assert [(c.kind, c.id, c.lab, c.data["health"]) for c in changes] == [
        ("device", hostname, "east", "Bad")]
    assert west.devices[hostname] == before


def test_the_snapshot_of_several_labs_lists_every_labs_objects_and_filters_by_lab():
    labset = _two_labs()
    _replay(labset.labs["east"])
    _replay(labset.labs["west"])
    snap = labset.snapshot()
    assert snap["seq"] == labset.seq
    for name in ("devices", "jobs", "workers", "events"):
        assert {o["lab"] for o in snap[name]} == {"east", "west"}, name
        assert len(snap[name]) == 2 * len(labset.labs["east"].snapshot()[name]), name
    only_west = parse_filter({"labs": ["west"]})
    west = labset.snapshot(only_west.matches)
    assert west["devices"] and {o["lab"] for k in ("devices", "jobs", "workers", "events")
                                for o in west[k]} == {"west"}
    worker = west["workers"][0]
    assert labset.with_devices(worker)["devices"] == labset.labs["west"].devices_of(worker["hostname"])


def test_labs_sharing_a_sequence_restore_without_numbering_backwards():
    labset = _two_labs()
    _replay(labset.labs["east"])
    east_dump = labset.labs["east"].dump()
    _replay(labset.labs["west"])
    west_dump = labset.labs["west"].dump()
    again = _two_labs()
    again.labs["west"].restore(west_dump)
    again.labs["east"].restore(east_dump)  # the older one last: the sequence stays ahead
    assert again.seq == west_dump["seq"] > east_dump["seq"]
    assert again.labs["east"].devices == labset.labs["east"].devices


def test_an_unnamed_lab_is_as_before():
    state = LabState()
    changes = _replay(state)
    assert all(c.lab == "" and "lab" not in c.wire() for c in changes)
    assert all("lab" not in o for name in ("devices", "jobs", "workers", "events")
               for o in state.snapshot()[name])


def test_a_labset_needs_distinct_names_and_one_sequence():
    with pytest.raises(ValueError):
        LabSet([LabState(name="east"), LabState(name="west")])  # two sequences
    sequence = Sequence()
    with pytest.raises(ValueError):
        LabSet([LabState(name="east", sequence=sequence), LabState(name="east", sequence=sequence)])
    with pytest.raises(ValueError):
        LabSet([LabState(sequence=sequence)])


def test_a_lab_may_name_its_own_postgresql_database_never_echoed():
    lab, = labs.parse('[labs.east]\nlava_url = "https://x"\ndatabase = "postgresql://u:pw@db/east"')
    assert lab.settings(config.load([], environ={}))["database"] == "postgresql://u:pw@db/east"
    with pytest.raises(config.ConfigError) as err:
        labs.parse('[labs.east]\nlava_url = "https://x"\ndatabase = "mysql://u:pw@db/east"')
    assert "postgresql://" in str(err.value) and "pw" not in str(err.value)
    with pytest.raises(config.ConfigError, match="simulated lab keeps its history apart"):
        labs.parse('[labs.east]\nsimulated = true\ndatabase = "postgresql://u:pw@db/east"')


def test_a_restored_model_says_its_own_lab_whatever_the_dump_said():
    unnamed = LabState()
    _replay(unnamed)
    dump = unnamed.dump()  # an unnamed lab's saved model, moved to [labs.east]
    east = _two_labs().labs["east"]
    east.restore(dump)
    for name in ("devices", "jobs", "workers", "events"):
        assert {o.get("lab") for o in east.snapshot()[name]} == {"east"}, name
    back = LabState()
    back.restore(east.dump())
    assert all("lab" not in o for name in ("devices", "jobs", "workers", "events")
               for o in back.snapshot()[name])


def test_two_labs_may_not_share_a_database():
    with pytest.raises(config.ConfigError, match="labs.west.database: the same database as lab east"):
        labs.parse('[labs.east]\nlava_url = "https://e"\ndatabase = "postgresql://u:pw@db/x"\n'
                   '[labs.west]\nlava_url = "https://w"\ndatabase = "postgresql://u:pw@db/x/"\n')
    assert len(labs.parse('[labs.east]\nlava_url = "https://e"\ndatabase = "postgresql://db/e"\n'
                          '[labs.west]\nlava_url = "https://w"\ndatabase = "postgresql://db/w"\n')) == 2


def test_the_jobs_each_labs_screen_keeps_out_reach_that_lab_of_a_follower_only():
    """What a cluster's ingest process tells its web processes of the jobs its screens keep out
    (LabSet.kept_out; live/cluster_ingest.py): each lab's own, to the same lab's followed screen,
    the same job id in another lab untouched."""
    from dashboard.core.screen import DeviceScreen

    ingest, web = _two_labs(), _two_labs()
    for state in ingest.labs.values():
        state.screen = DeviceScreen()
    for state in web.labs.values():
        state.followed_screen = DeviceScreen()
    ingest.labs["east"].screen.keep_out_job(7)
    ingest.labs["west"].screen.keep_out_job(8)
    ingest.labs["west"].screen.keep_out_job(8)  # (already kept out: not anew)
    assert ingest.kept_out() == (2, {"east": [7], "west": [8]}) and ingest.kept_out_version() == 2
    web.learn_kept_out({"east": [7, "7", True, None], "west": [8], "north": [9]})
    east, west = web.labs["east"].followed_screen, web.labs["west"].followed_screen
    assert east.kept_out_job(7) and not east.kept_out_job(8) and not east.kept_out_job("7")
    assert west.kept_out_job(8) and not west.kept_out_job(7) and not west.kept_out_job(9)
    assert _two_labs().kept_out() == (0, {})  # no screen (open access): nothing to tell
