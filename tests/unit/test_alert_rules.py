"""Alert rules and their lifecycle, pure: events applied to a real LabState, the rules over its
changes and over a clock passed in."""
import datetime as dt
import itertools
import logging

import pytest

from dashboard.alerts.engine import AlertEngine
from dashboard.alerts.lifecycle import AlertBook
from dashboard.alerts.rules import AlertsConfig, AlertsConfigError, Rules, parse_config
from dashboard.core import records
from dashboard.core.events import Event
from dashboard.core.state import LabState

T0 = 1_800_000_000.0  # epoch seconds: every test's "now" is relative to it
_uuids = itertools.count()


def at(seconds):
    return dt.datetime.fromtimestamp(T0 + seconds, dt.timezone.utc)


def ev(kind, seconds, **data):
    return Event(kind=kind, topic=f"org.lavasoftware.{kind}", uuid=f"u{next(_uuids)}",
                 time=at(seconds), username="lavaserver", data=data)


class Lab:
    """A LabState, the rules and the book, driven the way the engine drives them."""

    def __init__(self, text=""):
        self.config = parse_config(text)
        self.state, self.rules, self.book = LabState(), Rules(self.config), AlertBook(self.config)
        self.log = []

    def apply(self, event, now=None):
        now = event.time.timestamp() if now is None else now
        changes = self.state.apply(event)
        self.log += self.book.apply(self.rules.on_changes(changes, now), now)

    def tick(self, seconds, silence=None, api=None, store=None):
        now = T0 + seconds
        self.log += self.book.apply(self.rules.tick(self.state, now, silence, api,
                                                    store_failing_for=store), now)
        self.log += self.book.due(now)

    def what(self):
        out = [(what, alert["key"]) for alert, what in self.log]
        self.log = []
        return out


def device(host, seconds, health, state="Idle", dtype="qemu", worker="w1"):
    return ev("device", seconds, device=host, device_type=dtype, state=state, health=health,
              worker=worker)


def test_device_bad_fires_after_threshold_once_renotifies_and_resolves():
    lab = Lab("[rules.device_bad]\nminutes = 30\nrenotify_minutes = 60\n")
    lab.apply(device("qemu-01", 0, "Good"))
    lab.apply(device("qemu-01", 60, "Bad"))
    lab.tick(60 + 29 * 60)
    assert lab.what() == []
    lab.tick(60 + 30 * 60)
    assert lab.what() == [("fired", "device_bad/qemu-01")]
    lab.tick(60 + 31 * 60)  # still Bad: the same episode
    assert lab.what() == []
    lab.tick(60 + 30 * 60 + 3600)
    assert lab.what() == [("renotify", "device_bad/qemu-01")]
    lab.apply(device("qemu-01", 60 + 30 * 60 + 3700, "Good"))
    assert lab.what() == [("resolved", "device_bad/qemu-01")]
    lab.apply(device("qemu-01", 9000, "Bad"))
    lab.tick(9000 + 1800)
    assert lab.what() == [("fired", "device_bad/qemu-01")]  # a new episode: a new alert


def test_per_device_type_override_and_disable():
    lab = Lab('[rules.device_bad]\nminutes = 30\nrenotify_minutes = 0\n[rules.device_bad.device_type."slow"]\nminutes = 120\n'
              '[rules.device_maintenance]\nenabled = false\n')
    lab.apply(device("a", 0, "Bad", dtype="qemu"))
    lab.apply(device("b", 0, "Bad", dtype="slow"))
    lab.apply(device("c", 0, "Maintenance", dtype="qemu"))
    lab.tick(3600)
    assert lab.what() == [("fired", "device_bad/a")]
    lab.tick(7200)
    assert lab.what() == [("fired", "device_bad/b")]
    lab.tick(10 * 86400)
    assert lab.what() == []  # maintenance: disabled


def test_health_checks_failed_in_a_row():
    lab = Lab("[rules.health_checks_failed]\ncount = 3\n")
    lab.apply(device("qemu-01", 0, "Good"))
    for i, health in enumerate(["Incomplete", "Incomplete", "Complete", "Incomplete",
                                "Incomplete", "Canceled", "Incomplete"]):
        common = dict(job=100 + i, health_check=True, device="qemu-01", device_type="qemu")
        lab.apply(ev("testjob", 10 * i + 1, state="Running", health="Unknown", **common))
        lab.apply(ev("testjob", 10 * i + 2, state="Finished", health=health, **common))
        lab.apply(ev("testjob", 10 * i + 3, state="Finished", health=health, **common))  # no double count
    assert lab.what() == [("fired", "health_checks_failed/qemu-01")]
    alert = lab.book.firing["health_checks_failed/qemu-01"]
    assert alert["jobs"] == [103, 104, 106]  # canceled checks say nothing about the board
    assert "103" not in alert["message"]  # jobs may be private: the message never names them
    common = dict(job=200, health_check=True, device="qemu-01", device_type="qemu")
    lab.apply(ev("testjob", 500, state="Finished", health="Complete", **common))
    assert lab.what() == [("resolved", "health_checks_failed/qemu-01")]


def test_flapping_fires_above_m_changes_in_t_minutes_and_resolves_when_it_calms():
    lab = Lab("[rules.flapping]\nchanges = 3\nminutes = 10\n")
    lab.apply(device("d", 0, "Good"))
    for i, health in enumerate(["Unknown", "Good", "Unknown"]):
        lab.apply(device("d", 60 * (i + 1), health))
    assert lab.what() == []
    lab.apply(device("d", 240, "Good"))
    assert lab.what() == [("fired", "flapping/d")]
    lab.tick(240 + 300)
    assert lab.what() == []
    lab.tick(240 + 601)
    assert lab.what() == [("resolved", "flapping/d")]


def test_a_board_flapping_for_an_hour_keeps_only_what_the_rule_needs():
    """A health change every second for an hour: one alert, and no more than changes + 1 times
    kept for the board (memory stays flat, issue 11's soak); it resolves as the window passes."""
    lab = Lab("[rules.flapping]\nchanges = 6\nminutes = 60\n")
    for i in range(3600):
        lab.apply(device("d", i, ("Good", "Unknown")[i % 2]))
    fired = [alert for alert, what in lab.log if what == "fired"]
    assert lab.what() == [("fired", "flapping/d")]
    assert len(lab.rules.flaps["d"]) == 7
    assert "more than 6 times in 60 minutes" in fired[0]["message"]
    lab.tick(3599 + 3600 - 7)
    assert ("resolved", "flapping/d") not in lab.what()  # (a re-notification, maybe)
    lab.tick(3599 + 3601)
    assert ("resolved", "flapping/d") in lab.what()


def test_queue_starving_needs_old_jobs_and_no_idle_good_board():
    lab = Lab("[rules.queue_starving]\nminutes = 60\n")
    lab.apply(device("q1", 0, "Good", state="Running"))
    lab.apply(ev("testjob", 0, job=7, state="Submitted", health="Unknown", device_type="qemu",
                 submit_time=at(0).isoformat(), submitter="alice", description="secret"))
    lab.tick(3599)
    assert lab.what() == []
    lab.tick(3600)
    assert lab.what() == [("fired", "queue_starving/qemu")]
    alert = lab.book.firing["queue_starving/qemu"]
    assert "alice" not in alert["message"] and "secret" not in alert["message"]
    assert alert["waiting"] == 1
    lab.apply(device("q1", 3700, "Good", state="Idle"))
    lab.tick(3700)
    assert lab.what() == []  # Idle a moment (maybe between two jobs): still firing
    lab.tick(3700 + 120)
    assert lab.what() == [("resolved", "queue_starving/qemu")]


def test_worker_offline_and_lab_wide_rules():
    lab = Lab("[rules.worker_offline]\nminutes = 10\n[rules.stream_silent]\nminutes = 5\n"
              "[rules.lava_api_failing]\nminutes = 2\n")
    lab.apply(ev("worker", 0, hostname="w1", state="Offline", health="Active"))
    lab.tick(599, silence=299, api=119)
    assert lab.what() == []
    lab.tick(600, silence=300, api=120)
    assert sorted(lab.what()) == [("fired", "lava_api_failing/lab"), ("fired", "stream_silent/lab"),
                                  ("fired", "worker_offline/w1")]
    lab.apply(ev("worker", 700, hostname="w1", state="Online", health="Active"))
    lab.tick(700, silence=1, api=None)
    assert sorted(lab.what()) == [("resolved", "lava_api_failing/lab"),
                                  ("resolved", "stream_silent/lab"), ("resolved", "worker_offline/w1")]


def test_a_store_failing_to_keep_events_fires_after_its_threshold_and_resolves_once_it_keeps_them():
    lab = Lab("[rules.store_failing]\nminutes = 5\n[rules.stream_silent]\nenabled = false\n")
    lab.tick(0)
    assert lab.what() == []  # (a store that keeps its events, or none: nothing to say)
    lab.tick(299, store=299)
    assert lab.what() == []
    lab.tick(300, store=300)
    [(what, key)] = lab.what()
    assert (what, key) == ("fired", "store_failing/lab")
    assert "failing to keep events for 5 minutes" in lab.book.firing[key]["message"]
    lab.tick(900, store=900)
    assert lab.what() == []  # the same episode
    lab.tick(901)
    assert lab.what() == [("resolved", "store_failing/lab")]
    off = Lab("[rules.store_failing]\nenabled = false\n")
    off.tick(3600, store=3600)
    assert off.what() == []


def test_lava_s_clock_off_fires_with_its_direction_and_size_and_resolves_once_right():
    lab = Lab("[rules.lava_clock_skew]\nseconds = 120\n[rules.stream_silent]\nenabled = false\n")
    rules, book = lab.rules, lab.book

    def tick(seconds, offset, watched=True):
        lab.log += book.apply(rules.tick(lab.state, T0 + seconds, clock_offset=offset,
                                         clock_watched=watched), T0 + seconds)
        return lab.what()

    assert tick(0, None) == [] and tick(15, 119.9) == [] and tick(30, -119.9) == []
    assert tick(45, -300) == [("fired", "lava_clock_skew/lab")]
    alert = book.firing["lava_clock_skew/lab"]
    assert alert["message"].startswith("LAVA's clock is 5 minutes ahead of this dashboard's: its "
                                       "events carry times 300 s after they arrive")
    assert "off by as much (threshold 120 s)" in alert["message"]
    assert alert["subject_kind"] == "lab" and alert["severity"] == "warning"
    assert tick(60, None) == []  # not known (quiet, or a clock just moved): it stays
    assert tick(70, -119) == [] and tick(72, 61) == []  # hovering at the threshold: one episode
    assert tick(75, 59) == [("resolved", "lava_clock_skew/lab")]  # under half of it
    assert tick(90, 150) == [("fired", "lava_clock_skew/lab")]
    assert book.firing["lava_clock_skew/lab"]["message"].startswith(
        "LAVA's clock is 2.5 minutes behind this dashboard's, or its events arrive 150 s late")
    lab.rules = Rules(parse_config("[rules.lava_clock_skew]\nenabled = false\n"))
    rules = lab.rules
    assert tick(105, 150) == [("resolved", "lava_clock_skew/lab")]  # turned off
    lab.rules = rules = Rules(parse_config(""))
    assert tick(120, -600) == [("fired", "lava_clock_skew/lab")]
    # No source of the lab can tell any more (its event source removed, say): it resolves.
    assert tick(135, None, watched=False) == [("resolved", "lava_clock_skew/lab")]


def test_lava_s_clock_off_by_the_default_two_minutes_and_the_threshold_s_bounds():
    lab = Lab()
    lab.log += lab.book.apply(lab.rules.tick(lab.state, T0, clock_offset=-120), T0)
    assert lab.what() == [("fired", "lava_clock_skew/lab")]
    for bad in ("-1", "86401", "nan", "true", '"60"'):
        with pytest.raises(AlertsConfigError, match="lava_clock_skew.seconds: a number from 0 to 86,400"):
            parse_config(f"[rules.lava_clock_skew]\nseconds = {bad}\n")
    with pytest.raises(AlertsConfigError, match="lava_clock_skew.*device type"):
        parse_config('[rules.lava_clock_skew.device_type."qemu"]\nseconds = 60\n')


def test_the_engine_asks_its_sources_for_lava_s_clock_at_each_tick():
    offset = [None]
    engine = AlertEngine(LabState(), None, parse_config("[rules.stream_silent]\nenabled = false\n"),
                         None, None, lambda fn, *a: fn(*a), lambda s: None, _Event,
                         lambda: (None, True), lambda: None, clock=lambda: T0,
                         clock_offset=lambda: (offset[0], True))
    engine.tick()
    assert list(engine.outbox) == []
    offset[0] = 600.0
    engine.tick()
    [(alert, what)] = list(engine.outbox)
    assert what == "fired" and alert["key"] == "lava_clock_skew/lab" and "10 minutes behind" in alert["message"]


def test_a_restored_book_does_not_fire_again_and_acknowledgement_stops_renotifying():
    lab = Lab("[rules.device_bad]\nminutes = 1\nrenotify_minutes = 5\n")
    lab.apply(device("d", 0, "Bad"))
    lab.tick(60)
    [(alert, what)] = lab.log
    lab.what()
    book = AlertBook(lab.config)
    book.restore([alert])
    assert book.apply(lab.rules.tick(lab.state, T0 + 120), T0 + 120) == []
    acked, what = book.acknowledge(alert["id"], "alice", T0 + 130)
    assert what == "acknowledged" and acked["acked_by"] == "alice"
    assert book.due(T0 + 3600) == []
    assert book.acknowledge(alert["id"], "bob", T0 + 140)[0]["acked_by"] == "alice"


@pytest.mark.parametrize("text, message", [
    ("[rules.nope]\n", "unknown rule"),
    ("[rules.device_bad]\nminutes = -1\n", "a number"),
    ("[rules.device_bad]\nminuts = 3\n", "unknown key"),
    # (An audit: `url` for `urls` turned every notification off, unsaid.)
    ('[notify]\nurl = ["json://127.0.0.1:1/x"]\n', "notify: unknown key.s. url"),
    ("[rules.device_bad]\nnotify = ['not a url']\n", "Apprise URLs"),
    ('[rules.worker_offline.device_type."x"]\nminutes = 3\n', "whole lab"),
    ("[rules.device_bad\n", "not valid TOML"),
    # A number TOML allows and no rule can use: each made every batch of changes fail before.
    ("[rules.device_bad]\nminutes = nan\n", "a number from 0 to 525,600, got nan"),
    ("[rules.flapping]\nchanges = inf\n", "rules.flapping.changes: a number from 0 to 1,000"),
    ("[rules.health_checks_failed]\ncount = 100000000\n", "a number from 1 to 1,000"),
    ("[rules.device_bad]\nrenotify_minutes = 1e300\n", "a number from 0 to 525,600"),
    # A value where a table belongs: a clear message, not a traceback.
    ('[rules.device_bad]\ndevice_type = "x"\n', "rules.device_bad.device_type: expected a table"),
    ("rules = 5\n", "rules: expected a table, got int"),
    ('notify = ["json://127.0.0.1:1/x"]\n', "notify: expected a table, got list"),
    ("[rules]\ndevice_bad = 30\n", "rules.device_bad: expected a table"),
    ('[rules.device_bad.device_type."x"]\ndevice_type = {}\n', "not inside a device type"),
    # A device type's own table is named (a new-user audit: `rules.device_bad.minutes` was said).
    ("[rules.device_bad.device_type.qemu]\nminutes = 1e999\n",
     r"^rules.device_bad.device_type.qemu.minutes: a number from 0 to 525,600, got inf$"),
    ('[rules.device_bad.device_type."a b"]\nseverity = "x"\n',
     r'^rules.device_bad.device_type."a b".severity: one of'),
    ('[labs.west.rules.device_bad.device_type.qemu]\nminuts = 1\n',
     r"^labs.'west'.rules.device_bad.device_type.qemu: unknown key"),
])
def test_config_errors_say_where(text, message):
    with pytest.raises(AlertsConfigError, match=message):
        parse_config(text)


def test_lab_section_overrides_for_this_lab_only():
    text = ('[notify]\nurls = ["json://127.0.0.1:1/x"]\n[rules.device_bad]\nminutes = 30\n'
            '[labs."lava.example.org".rules.device_bad]\nminutes = 5\n')
    assert parse_config(text, "lava.example.org").get("device_bad", "minutes") == 5
    assert parse_config(text, "other").get("device_bad", "minutes") == 30
    assert parse_config(text).get("worker_offline", "notify") == ["json://127.0.0.1:1/x"]
    assert AlertsConfig().get("device_bad", "minutes") == 30.0


def test_a_labs_value_that_is_no_table_is_refused_whichever_lab_reads_the_file():
    for lab in ("h", "other", ""):
        with pytest.raises(AlertsConfigError, match=r"labs.'h': expected a table, got int"):
            parse_config("[labs]\nh = 1\n", lab)


@pytest.mark.parametrize("text, message", [
    # Another lab's table is checked as this lab's is: a mistake there stops the start too.
    ('[labs.eats.rules.device_bda]\nminutes = 3\n', "unknown rule 'device_bda'"),
    ('[labs.eats.rules.device_bad]\nminutes = "soon"\n', "a number from 0"),
    ('[labs.eats]\nrule = {}\n', r"labs.'eats': unknown key\(s\) rule"),
    ('[labs.east]\nrules = {}\nminutes = 3\n', r"labs.'east': unknown key\(s\) minutes"),
])
def test_every_labs_table_is_checked_by_every_lab(text, message):
    for lab in ("east", "west", ""):
        with pytest.raises(AlertsConfigError, match=message):
            parse_config(text, lab)


def test_with_every_lab_known_a_table_of_no_lab_is_refused():
    text = "[labs.eats.rules.device_bad]\nminutes = 3\n[labs.west.rules.device_bad]\nminutes = 4\n"
    with pytest.raises(AlertsConfigError, match=r"labs.'eats': no lab of that name \(--labs names "
                                                r"east, west\)"):
        parse_config(text, "east", known_labs=("west", "east"))
    config = parse_config(text.replace("eats", "east"), "east", known_labs=("west", "east"))
    assert config.get("device_bad", "minutes") == 3
    # One lab by its LAVA's host: a file may name other dashboards' hosts too.
    assert parse_config(text, "lava.example.org").get("device_bad", "minutes") == 30.0


def test_a_device_type_s_own_destinations_are_secrets_too():
    text = ('[rules.device_bad.device_type."qemu"]\n'
            'notify = ["slack://T0SECRET1/B0SECRET2/XxSecretTokenXx"]\n')
    config = parse_config(text)
    assert config.urls() == ["slack://T0SECRET1/B0SECRET2/XxSecretTokenXx"]
    assert list(config.destinations()) == [
        ("rules.device_bad.device_type.'qemu'.notify", "slack://T0SECRET1/B0SECRET2/XxSecretTokenXx")]


def test_a_queue_of_a_device_type_that_left_the_model_resolves():
    lab = Lab("[rules.queue_starving]\nminutes = 60\n")
    lab.rules.firing = lab.book.firing  # as the engine links them
    lab.apply(device("q1", 0, "Good", state="Running"))
    lab.apply(ev("testjob", 0, job=7, state="Submitted", health="Unknown", device_type="qemu",
                 submit_time=at(0).isoformat()))
    lab.tick(3600)
    assert lab.what() == [("fired", "queue_starving/qemu")]
    # The type's boards are removed from LAVA, then its queued job is canceled.
    lab.state.reconcile(records.build([], [], []), at(3700))
    lab.apply(ev("testjob", 3700, job=7, state="Finished", health="Canceled", device_type="qemu"))
    assert "qemu" not in {d.get("device_type") for d in lab.state.devices.values()}
    lab.tick(3800)
    assert lab.what() == [("resolved", "queue_starving/qemu")]
    lab.tick(3800 + 7200)
    assert lab.what() == []  # and never re-notified


@pytest.mark.parametrize("rule, fire", [
    ("stream_silent", lambda lab: lab.tick(600, silence=600)),
    ("lava_api_failing", lambda lab: lab.tick(600, api=600)),
    ("store_failing", lambda lab: lab.tick(600, store=600)),
    ("device_bad", lambda lab: (lab.apply(device("d", 0, "Bad")), lab.tick(600))),
    ("worker_offline", lambda lab: (lab.apply(ev("worker", 0, hostname="w1", state="Offline",
                                                 health="Active")), lab.tick(600))),
])
def test_an_alert_of_a_rule_turned_off_since_resolves_after_a_restart(rule, fire):
    lab = Lab(f"[rules.{rule}]\nminutes = 1\n")
    fire(lab)
    [(alert, what)] = lab.log
    assert what == "fired"
    # Restarted with the rule turned off: the alert comes back from the store, and resolves.
    restarted = Lab(f"[rules.{rule}]\nminutes = 1\nenabled = false\n")
    restarted.state = lab.state
    restarted.book.restore([alert])
    assert restarted.rules.config.enabled(rule) is False
    restarted.tick(700, silence=700 if rule == "stream_silent" else None,
                   api=700 if rule == "lava_api_failing" else None,
                   store=700 if rule == "store_failing" else None)  # the condition still holds
    assert restarted.what() == [("resolved", alert["key"])]


class _Event:
    def set(self):
        pass


def engine_with(text, state, alerts, api=None):
    """An AlertEngine over `state` (no sink, store or notifier), its book restored from `alerts`;
    `api` the LAVA API's state (None: no LAVA API)."""
    engine = AlertEngine(state, None, parse_config(text), None, None, lambda fn, *a: fn(*a),
                         lambda s: None, _Event, lambda: (None, True), lambda: api,
                         clock=lambda: T0 + 7200)
    engine.book.restore(alerts)
    return engine


def restored(rule, subject, dtype="qemu"):
    return {"id": f"id-{rule}", "key": f"{rule}/{subject}", "rule": rule, "subject": subject,
            "device_type": dtype, "status": "firing", "fired_at": T0, "notified_at": T0,
            "notifications": 1, "message": "m", "severity": "warning"}


def test_the_engine_resolves_alerts_of_boards_gone_rules_turned_off_and_rules_unknown():
    lab = Lab()
    lab.apply(device("still-here", 0, "Bad"))  # still Bad: only its rule is turned off
    alerts = [restored("health_checks_failed", "gone-board"), restored("flapping", "gone-board"),
              restored("health_checks_failed", "still-here"), restored("device_bad", "still-here"),
              restored("a_rule_of_an_older_version", "lab")]
    text = '[rules.device_bad.device_type."qemu"]\nenabled = false\n'
    engine = engine_with(text, lab.state, alerts, api="ok")
    engine.tick()
    resolved = {alert["key"] for alert, what in engine.outbox if what == "resolved"}
    # The board that is still there keeps its health check alert: its rule is on.
    assert resolved == {"health_checks_failed/gone-board", "flapping/gone-board",
                        "device_bad/still-here", "a_rule_of_an_older_version/lab"}
    assert list(engine.book.firing) == ["health_checks_failed/still-here"]
    assert engine.errors == 0
    # Without LAVA's API the model knows only the boards events named: a health check's board
    # may be one of the others, and its alert stays.
    engine = engine_with(text, lab.state, alerts)
    engine.tick()
    assert set(engine.book.firing) == {"health_checks_failed/gone-board", "flapping/gone-board",
                                       "health_checks_failed/still-here"}


class _Store:
    """The engine's store: its alerts from before a restart, and what each save kept, in order
    (`fail`: a save that fails)."""

    def __init__(self, alerts=(), fail=False):
        self._alerts, self.saved, self.fail = list(alerts), [], fail

    def health_spans(self, healths, limit):
        return []

    def alerts(self, status=None, limit=None, with_delivery=False, since=None,
               resolved_since=None):
        return [a for a in self._alerts if status is None or a["status"] == status]

    def save_alerts(self, alerts):
        if self.fail:
            raise OSError("disk full")
        self.saved.append([dict(a) for a in alerts])


def test_every_log_line_of_a_named_lab_s_engine_names_its_lab(caplog):
    """Several labs share one log: the restored alerts, a store that fails, a rule's bug and an
    alert's own line each say which lab's engine wrote them."""
    lab = Lab()
    lab.apply(device("still-here", 0, "Bad"))
    store = _Store([restored("device_bad", "still-here")], fail=True)
    engine = AlertEngine(lab.state, None, parse_config(""), store, None, lambda fn, *a: fn(*a),
                         lambda s: None, _Event, lambda: (None, True), lambda: None,
                         clock=lambda: T0 + 7200, lab="east")
    caplog.set_level(logging.INFO, logger="dashboard")
    engine.restore()
    engine.rules.on_changes = None  # a rule's bug: calling it raises TypeError
    engine.sink = type("Sink", (), {"push": lambda self, changes: None})()
    engine.push([("device", "still-here")])
    engine._queue([(dict(restored("device_bad", "still-here"), status="resolved"), "resolved")])
    assert engine.drain() == 1
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("dashboard.alerts")]
    assert len(lines) == 4, lines
    assert all(line.startswith("[east] ") or line.startswith("alert resolved: [east] ")
               for line in lines), lines
    assert engine.errors == 1 and engine.store_errors == 1
