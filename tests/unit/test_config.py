"""Settings are declared once: the environment, the flags and the README's table all follow SETTINGS
(app.py's --help and exit codes: tests/test_config_cli.py)."""
import re

import pytest

from dashboard import config
from tests.helpers import ROOT


def test_readme_table_is_generated_from_the_declaration():
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- settings:start -->\n(.*?)<!-- settings:end -->", readme, re.S)
    assert table, "README.md lacks the settings markers"
    assert table.group(1) == config.markdown_table(), \
        "README's configuration table is stale: regenerate it with `python -m dashboard.config`"


def test_layering_defaults_environment_flags_overrides():
    values = config.load([], environ={})
    assert (values["host"], values["port"], values["zmq"]) == ("127.0.0.1", 5000, [])
    env = {"DASHBOARD_PORT": "6000", "DASHBOARD_ZMQ": "tcp://a:5500, tcp://b:5500",
           "DASHBOARD_WS_COMPRESSION": "yes"}
    values = config.load([], environ=env)
    assert values["port"] == 6000 and values["zmq"] == ["tcp://a:5500", "tcp://b:5500"]
    assert values["ws_compression"] is True
    values = config.load(["--port", "7000", "--zmq", "tcp://c:1", "--zmq", "tcp://d:2",
                          "--no-ws-compression"], environ=env)
    assert values["port"] == 7000 and values["zmq"] == ["tcp://c:1", "tcp://d:2"]
    assert values["ws_compression"] is False
    assert config.load(["--port", "7000"], environ={}, overrides={"port": 1})["port"] == 1


@pytest.mark.parametrize("env", [{"DASHBOARD_PORT": "many"}, {"DASHBOARD_ASYNC_MODE": "threads"},
                                 {"DASHBOARD_WS_COMPRESSION": "perhaps"}])
def test_bad_environment_value_is_a_clear_error(env):
    with pytest.raises(config.ConfigError) as info:
        config.load([], environ=env)
    assert next(iter(env)).replace("DASHBOARD_", "").lower() in str(info.value).lower()


def test_unknown_override_is_refused():
    with pytest.raises(config.ConfigError):
        config.load([], environ={}, overrides={"colour": "blue"})


def test_the_token_is_trimmed_and_an_unusable_one_refused_without_echoing_it(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("  tok-123\n")
    assert config.lava_token({"lava_token_file": str(token_file)}) == "tok-123"
    assert config.lava_token({"lava_token": "tok-456\n"}) == "tok-456"
    for bad in ("tok 789", "tok\x00789", "tok\u2019789"):
        with pytest.raises(config.ConfigError) as info:
            config.lava_token({"lava_token": bad})
        assert "789" not in str(info.value)
    with pytest.raises(config.ConfigError):
        config.lava_token({"lava_token_file": str(tmp_path / "missing")})


@pytest.mark.parametrize("flag", ["--reconcile-interval", "--batch-interval", "--max-events"])
def test_numbers_that_must_be_positive_are_checked(flag):
    with pytest.raises(config.ConfigError) as info:
        config.load([flag, "0"], environ={})
    assert "greater than 0" in str(info.value)


def refusal(argv, capsys):
    """Why config refuses argv: a ConfigError's words, or argparse's (a value it cannot convert
    ends the start as argparse does, its words on stderr)."""
    try:
        config.load(argv, environ={})
    except config.ConfigError as exc:
        return str(exc)
    except SystemExit:
        return capsys.readouterr().err
    raise AssertionError(f"{argv} accepted")


@pytest.mark.parametrize("speed, said", [("nan", "expected a number"), ("1001", "at most 1000"),
                                         ("inf", "expected a number")])
def test_the_simulated_lab_s_speed_is_bounded(speed, said, capsys):
    assert f"sim_speed{'' if said.startswith('at') else ' (DASHBOARD_SIM_SPEED)'}: {said}" in refusal(
        ["--sim-speed", speed], capsys)
    assert config.load(["--sim-speed", "1000"], environ={})["sim_speed"] == 1000


def test_the_batching_knee_config_gives_is_the_one_the_relay_takes():
    # config keeps its own copy (it does not import core/batching): the default and the help's
    # "up to 40 ms" must follow it.
    from dashboard.core import batching
    assert config.BY_NAME["batch_knee"].default == batching.KNEE
    assert f"up to {batching.STREAM_MOST * 1000:g} ms" in config.BY_NAME["batch_knee"].help


def test_the_speed_config_accepts_is_the_one_the_simulated_lab_takes():
    # config keeps its own copy of the bound (it does not import the simulator): the two must agree,
    # or a speed config accepts would stop the lab at start.
    from dashboard.sources.simulator.lab import SimLab
    assert config.MAX_SIM_SPEED == SimLab.MAX_PACE


@pytest.mark.parametrize("floor", ["-0.01", "0.2"])
def test_the_adaptive_batching_floor_lies_between_0_and_the_interval(floor):
    with pytest.raises(config.ConfigError) as info:
        config.load(["--batch-floor", floor, "--batch-interval", "0.1"], environ={})
    assert "batch_floor" in str(info.value)
    assert config.load(["--batch-floor", "0.005"], environ={})["batch_floor"] == 0.005
    # An interval set below the default floor (as before adaptive batching) still starts.
    assert config.load(["--batch-interval", "0.01"], environ={})["batch_floor"] == 0.01


@pytest.mark.parametrize("knee", ["-1", "nan", "inf", "1000001"])
def test_the_batching_knee_is_a_rate_from_0_up(knee, capsys):
    assert "batch_knee" in refusal(["--batch-knee", knee], capsys)
    assert config.load([], environ={})["batch_knee"] == 300
    assert config.load(["--batch-knee", "0"], environ={})["batch_knee"] == 0
    assert config.load([], environ={"DASHBOARD_BATCH_KNEE": "500"})["batch_knee"] == 500


@pytest.mark.parametrize("gather", ["-0.001", "0.051", "nan"])
def test_the_zmq_readers_gathering_wait_lies_between_0_and_50_ms(gather, capsys):
    assert "zmq_gather" in refusal(["--zmq-gather", gather], capsys)
    assert config.load([], environ={})["zmq_gather"] == 0.002
    assert config.load(["--zmq-gather", "0"], environ={})["zmq_gather"] == 0.0
    assert config.load([], environ={"DASHBOARD_ZMQ_GATHER": "0.01"})["zmq_gather"] == 0.01


@pytest.mark.parametrize("args", [["--zmq-gather-max", "0.001"], ["--zmq-gather-max", "0.051"],
                                  ["--zmq-gather-max", "nan"],
                                  ["--zmq-gather", "0.03", "--zmq-gather-max", "0.025"]])
def test_the_gathering_waits_ceiling_lies_between_its_floor_and_50_ms(args, capsys):
    assert "zmq_gather_max" in refusal(args, capsys)


def test_the_gathering_waits_ceiling_defaults_to_40_ms_or_the_floor_set_above_it():
    assert config.load([], environ={})["zmq_gather_max"] == 0.04
    assert config.load(["--zmq-gather", "0.045"], environ={})["zmq_gather_max"] == 0.045
    assert config.load(["--zmq-gather", "0.03"], environ={})["zmq_gather_max"] == 0.04
    assert config.load(["--zmq-gather-max", "0.002"], environ={})["zmq_gather_max"] == 0.002
    assert config.load([], environ={"DASHBOARD_ZMQ_GATHER_MAX": "0.03"})["zmq_gather_max"] == 0.03


def test_behind_a_trusted_proxy_connections_per_address_are_unbounded_unless_given():
    # Behind nginx every connection is nginx's: 200 would have refused the 201st viewer.
    assert config.load([], environ={})["max_connections_per_address"] == 200
    assert config.load(["--trusted-proxy"], environ={})["max_connections_per_address"] == 0
    assert config.load([], environ={"DASHBOARD_TRUSTED_PROXY": "1"})["max_connections_per_address"] == 0
    assert config.load(["--trusted-proxy", "--max-connections-per-address", "200"],
                       environ={})["max_connections_per_address"] == 200
    assert config.load(["--trusted-proxy"], environ={"DASHBOARD_MAX_CONNECTIONS_PER_ADDRESS": "50"}
                       )["max_connections_per_address"] == 50


@pytest.mark.parametrize("queue", ["", "http://user:s3cret@127.0.0.1:6379"])
def test_a_cluster_role_needs_a_redis_url_and_the_error_never_echoes_it(queue):
    for role in ("ingest", "web"):
        with pytest.raises(config.ConfigError) as info:
            config.load(["--role", role, "--message-queue", queue], environ={})
        assert "message-queue" in str(info.value) and "s3cret" not in str(info.value)
    assert config.load(["--role", "web", "--message-queue", "redis://127.0.0.1:1/0"],
                       environ={})["role"] == "web"
    assert config.load([], environ={})["role"] == "all"  # one process, no Redis: the default


@pytest.mark.parametrize("url, shown", [
    ("redis://:pw1@127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://user:pw1@redis.lab:6379/0", "redis://user@redis.lab:6379/0"),
    ("redis://127.0.0.1:6379/0?password=pw1&socket_timeout=3", "redis://127.0.0.1:6379/0?socket_timeout=3"),
    ("postgresql://lava:p%40w1@db/lava?sslpassword=pw1&sslmode=require",
     "postgresql://lava@db/lava?sslmode=require"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
])
def test_urls_are_shown_without_any_password(url, shown):
    from dashboard.core.redact import redact, split_secrets

    assert redact(url) == shown
    assert "pw1" not in redact(url) and "p%40w1" not in redact(url)
    assert split_secrets("postgresql://lava:p%40w1@db/lava")[1] == {"password": "p@w1"}


@pytest.mark.parametrize("value", ["0.05", "2.5", "0", "-1", "soon"])
def test_the_store_s_write_interval_under_load_is_bounded(value):
    # Past 2 s the store's queue (100,000 events) would fill at the rates bench/store.py reaches.
    with pytest.raises(config.ConfigError) as info:
        config.load([], environ={"DASHBOARD_STORE_WRITE_EVERY": value})
    assert "store_write_every" in str(info.value)
    assert config.load(["--store-write-every", "2"], environ={})["store_write_every"] == 2.0
    assert config.load([], environ={})["store_write_every"] == 0.5


@pytest.mark.parametrize("env, said", [
    ({"DASHBOARD_STORE": "maybe"}, "store (DASHBOARD_STORE): expected true or false"),
    ({"DASHBOARD_PORT": "abc"}, "port (DASHBOARD_PORT): expected int"),
    ({"DASHBOARD_ASYNC_MODE": "threads"}, "async_mode (DASHBOARD_ASYNC_MODE): expected one of")])
def test_a_bad_value_names_the_setting_and_its_variable_alike(env, said):
    """A new user's walkthrough: booleans named the variable, the others the setting."""
    with pytest.raises(config.ConfigError) as info:
        config.load([], environ=env)
    assert str(info.value).startswith(said), str(info.value)


@pytest.mark.parametrize("port, ok", [("65535", True), ("65536", False), ("83536", False), ("1", True)])
def test_a_port_beyond_65535_is_refused(port, ok):
    """The server listened on 83536 modulo 65536 (18000) while its log said 83536 (an audit)."""
    if ok:
        assert config.load(["--port", port], environ={})["port"] == int(port)
    else:
        with pytest.raises(config.ConfigError, match="1 to 65535"):
            config.load(["--port", port], environ={})


def test_a_bad_choice_lists_the_choices_without_the_empty_default():
    with pytest.raises(config.ConfigError) as info:
        config.load([], environ={"DASHBOARD_ACCESS": "bogus"})
    assert "expected one of open, lava, login, got 'bogus'" in str(info.value)


@pytest.mark.parametrize("argv, said", [
    (["--alerts-interval", "nan"], "alerts_interval (DASHBOARD_ALERTS_INTERVAL): expected a number"),
    (["--shutdown-timeout", "1e300"], "shutdown_timeout (DASHBOARD_SHUTDOWN_TIMEOUT): expected a number"),
    (["--lava-timeout", "inf"], "lava_timeout (DASHBOARD_LAVA_TIMEOUT): expected a number"),
    (["--max-events", "1" + "0" * 23], "max_events (DASHBOARD_MAX_EVENTS): expected a whole number"),
    (["--change-log", "1" + "0" * 22], "change_log (DASHBOARD_CHANGE_LOG): expected a whole number"),
    (["--sim-devices", "100000000"], "sim_devices: at most --max-devices (20000)")])
def test_a_number_beyond_any_use_is_refused_at_start(argv, said, capsys):
    """A new-user audit: NaN passed every "greater than 0" check (--alerts-interval nan held the
    loop at 100 % CPU and /healthz never answered; --shutdown-timeout nan ended the shutdown's
    watchdog in a traceback, as 1e300 did); --max-events 1e23 failed every pruning, --change-log
    1e22 ended the start in a traceback, --sim-devices 1e8 held the start for good."""
    assert said in refusal(argv, capsys)
    env = {"DASHBOARD_RETENTION_DAYS": "nan"}  # the environment's values alike
    with pytest.raises(config.ConfigError, match="retention_days .*expected a number"):
        config.load([], environ=env)
    assert config.load(["--shutdown-timeout", "1e9", "--sim-devices", "20000"],
                       environ={})["shutdown_timeout"] == 1e9
