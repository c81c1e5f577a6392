"""The labs file's URLs are checked when it is read (dashboard/labs.py): an event source whose
port or host cannot be used is refused at start, naming the lab and the field, never the URL; and
two spellings of one PostgreSQL database are one database."""
import pytest

from dashboard import config, labs

pytestmark = pytest.mark.unit


def lab_with(**fields):
    """A labs file of one lab, `west`, with these fields (TOML strings)."""
    return "[labs.west]\n" + "".join(f"{k} = {v!r}\n" for k, v in fields.items())


@pytest.mark.parametrize("url, says", [
    ("ws://127.0.0.1:99999/ws/",
     "labs.west.event_source: the port must be a number from 1 to 65535"),
    ("wss://lava.example.org:0/ws/", "labs.west.event_source: the port must be a number"),
    ("ws://lava.example.org:abc/ws/", "labs.west.event_source: the port must be a number"),
    ("tcp://lava.example.org:70000", "labs.west.event_source: the port must be a number"),
    ("tcp://lava.example.org", "labs.west.event_source: a tcp:// URL needs a port"),
    ("tcp://:5500", "labs.west.event_source: the URL needs a host"),
    ("ws:///ws/", "labs.west.event_source: the URL needs a host"),
    ("ws://[::1/ws/", "labs.west.event_source: not a URL that can be read"),
    ("ipc://", "labs.west.event_source: an ipc:// URL needs a path"),
])
def test_an_event_source_that_cannot_be_opened_is_refused_naming_lab_and_field(url, says):
    with pytest.raises(config.ConfigError) as err:
        labs.parse(lab_with(event_source=url))
    assert str(err.value).startswith(says)


def test_the_refusal_never_echoes_the_url():
    with pytest.raises(config.ConfigError) as err:
        labs.parse(lab_with(event_source="wss://alice:s3cret@lava.example.org:123456/ws/"))
    assert "s3cret" not in str(err.value) and "alice" not in str(err.value)
    with pytest.raises(config.ConfigError) as err:
        labs.parse(lab_with(lava_url="https://alice:s3cret@lava.example.org:99999/"))
    assert str(err.value) == "labs.west.lava_url: the port must be a number from 1 to 65535"
    with pytest.raises(config.ConfigError) as err:
        labs.parse(lab_with(event_source="tcp://x:5500",
                            database="postgresql://a:s3cret@db:99999/x"))
    assert str(err.value).startswith("labs.west.database:") and "s3cret" not in str(err.value)


def test_good_sources_pass_and_one_bad_among_them_is_refused():
    good = ["tcp://lava.example.org:5500", "tcp://[::1]:5500", "ws://lava.example.org/ws/",
            "wss://lava.example.org:8443/ws/", "ipc:///run/lava-publisher.sock"]
    [west] = labs.parse(lab_with(event_source=good))
    assert west.event_sources == tuple(good)
    with pytest.raises(config.ConfigError, match="labs.west.event_source: the port"):
        labs.parse(lab_with(event_source=good + ["ws://lava.example.org:99999/ws/"]))


def test_the_single_lab_flags_are_checked_the_same_way():
    settings = config.load(["--event-source", "ws://127.0.0.1:99999/ws/", "--access", "open"],
                           environ={})
    with pytest.raises(config.ConfigError, match=r"^event_source: the port must be a number"):
        labs.from_settings(settings)


def two_labs(east, west):
    return (f"[labs.east]\nevent_source = 'tcp://e:5500'\ndatabase = {east!r}\n"
            f"[labs.west]\nevent_source = 'tcp://w:5500'\ndatabase = {west!r}\n")


@pytest.mark.parametrize("east, west", [
    ("postgres://dash:pw@DB.example.org/lava", "postgresql://db.example.org:5432/lava"),
    ("postgresql://alice@db.example.org/lava", "postgresql://bob:pw@db.example.org/lava"),
    ("postgresql://db.example.org/lava?port=5432", "postgresql://db.example.org:5432/lava"),
    ("postgresql://alice@db.example.org", "postgresql://db.example.org/alice"),
    ("postgresql://db.example.org/l%61va", "postgresql://db.example.org/lava"),
])
def test_two_spellings_of_one_database_are_refused(east, west):
    with pytest.raises(config.ConfigError) as err:
        labs.parse(two_labs(east, west))
    assert str(err.value).startswith("labs.west.database: the same database as lab east's")
    assert "pw" not in str(err.value)


@pytest.mark.parametrize("east, west", [
    ("postgresql://db.example.org/lava", "postgresql://db.example.org:5433/lava"),
    ("postgresql://db.example.org/east", "postgresql://db.example.org/west"),
    ("postgresql://db1.example.org/lava", "postgresql://db2.example.org/lava"),
    ("postgresql:///lava?host=/run/a", "postgresql:///lava?host=/run/b"),
])
def test_different_databases_are_accepted_and_each_one_respelt_is_not(east, west):
    assert [lab.database for lab in labs.parse(two_labs(east, west))] == [east, west]
    # The same as east's, spelt otherwise: the other scheme, the default port, the host's case.
    respelt = east.replace("postgresql://", "postgres://").replace(
        "db.example.org/", "DB.example.org:5432/").replace("db1.example.org/", "Db1.example.org/")
    with pytest.raises(config.ConfigError, match="the same database as lab east's"):
        labs.parse(two_labs(east, respelt))


def test_a_single_labs_lava_url_with_a_password_is_never_echoed_and_its_credentials_are_said_unsent(
        tmp_path, caplog):
    """A reach audit: `--lava-url https://tokuser:SECRET/PW@host:port` stopped the start with
    Python's "Port could not be cast to integer value as 'SECRET'" (a '/' in the password ends
    the host part); a URL whose user and password could be read dropped them unsaid (LAVA takes
    a token), a puzzle behind a proxy that asks for them."""
    from dashboard import factory

    def client(url):
        settings = config.load([], environ={}, overrides={"lava_url": url, "data_dir": str(tmp_path)})
        return factory._lava_client(settings)

    for url in ("https://tokuser:SECRET/PW@127.0.0.1:42102", "https://127.0.0.1:99999",
                "https://tokuser:SECRET@127.0.0.1:4x"):
        with pytest.raises(config.ConfigError) as err:
            client(url)
        assert str(err.value).startswith("lava_url: not a URL that can be read: its port must be "
                                         "a number from 1 to 65535"), str(err.value)
        assert "SECRET" not in str(err.value) and "tokuser" not in str(err.value)
    with caplog.at_level("WARNING", logger="dashboard"):
        made = client("https://tokuser:SECRET@127.0.0.1:42102/lava")
    assert made.base == "https://127.0.0.1:42102/lava"
    assert [r.getMessage() for r in caplog.records] == [
        "lava_url: the user and password in the URL are not sent to LAVA (it takes a token: "
        "--lava-token-file); LAVA is asked at https://127.0.0.1:42102/lava"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="dashboard"):
        client("https://127.0.0.1:42102/lava")
    assert caplog.records == []
    # LAVA's API URL for LAVA's: its base is asked, and the start says so (every read answered
    # 404 before, without a hint: a reach audit).
    for given in ("https://127.0.0.1:42102/lava/api/v0.2/", "https://127.0.0.1:42102/lava/api/v0.2"):
        caplog.clear()
        with caplog.at_level("WARNING", logger="dashboard"):
            assert client(given).base == "https://127.0.0.1:42102/lava"
        assert [r.getMessage() for r in caplog.records] == [
            "lava_url: LAVA's own address is meant, not its API's: https://127.0.0.1:42102/lava is "
            "asked (give it without /api/v0.2/)"]
