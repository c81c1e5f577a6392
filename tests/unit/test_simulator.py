"""The simulated lab: pure traffic through the real parser and model, and the CLI's arguments
(its publisher on real ZMQ sockets: tests/test_simulator_publisher.py)."""
import collections
import datetime as dt
import random
import re

import pytest

from dashboard.core.events import DEVICE_HEALTHS, parse_frames, parse_time
from dashboard.sources.simulator import DEFAULT_START, SimLab, parse_args, to_frames
from dashboard.core.state import LabState

STEP = dt.timedelta(seconds=30)
JOB_BASE = {"job", "state", "health", "description", "priority", "submit_time", "submitter",
            "health_check", "device_type"}
DEVICE_BASE = {"device", "device_type", "state", "health", "worker"}


# -- helpers ----------------------------------------------------------------------------------
def invariant_violations(state):
    """What is wrong with a LabState: Running devices, their jobs and job ownership."""
    problems = []
    active = collections.defaultdict(list)
    for job in state.jobs.values():
        if job["state"] in ("Running", "Canceling"):
            active[job["device"]].append(job["id"])
    holders = collections.defaultdict(list)
    for hostname, device in state.devices.items():
        if device["job"] is not None:
            holders[device["job"]].append(hostname)
        if device["state"] == "Running" and active.get(hostname, []) != [device["job"]]:
            problems.append(f"{hostname} Running with job {device['job']}, "
                            f"active jobs {active.get(hostname)}")
    for hostname, jobs in active.items():
        if len(jobs) != 1 or state.devices[hostname]["state"] != "Running":
            problems.append(f"jobs {jobs} on {hostname} ({state.devices[hostname]['state']})")
    problems += [f"job {j} on {hosts}" for j, hosts in holders.items() if len(hosts) > 1]
    return problems


def events_of(messages, prefix="org.lavasoftware"):
    return [parse_frames(to_frames(m, prefix)) for m in messages]


def roll_call_starts(events, lab):
    """Where complete roll calls (every worker, then every device) start in a stream of events."""
    wanted = [("worker", w) for w in lab.workers] + [("device", d) for d in lab.devices]
    seen = [(e.kind, e.data.get("hostname") or e.data.get("device")) for e in events]
    return [i for i in range(len(seen)) if seen[i:i + len(wanted)] == wanted]


# -- the pure core ----------------------------------------------------------------------------
Run = collections.namedtuple("Run", "lab first_roll_call messages frames events state violations")


@pytest.fixture(scope="module")
def two_hours():
    """A seeded lab run for 2 virtual hours, replayed into LabState with checks after each step;
    each message is kept with the frames it was sent as and the event they parse to."""
    lab = SimLab(random.Random(1))
    first_roll_call = lab.roll_call()
    state = LabState(max_finished_jobs=50)
    for event in events_of(first_roll_call):
        state.apply(event)
    messages, frames, events, violations = [], [], [], []
    end = lab.now + dt.timedelta(hours=2)
    for _ in range(1000):
        if lab.now >= end:
            break
        batch = lab.advance(lab.now + STEP)
        batch_frames = [to_frames(m) for m in batch]
        batch_events = [parse_frames(f) for f in batch_frames]
        for event in batch_events:
            state.apply(event)
        violations += [f"{lab.now}: {p}" for p in invariant_violations(state)]
        messages += batch
        frames += batch_frames
        events += batch_events
    return Run(lab, first_roll_call, messages, frames, events, state, violations)


def test_lab_layout():
    lab = SimLab(random.Random(9), n_devices=50, n_workers=4)
    assert len(lab.devices) == 50
    assert list(lab.workers) == ["lab-worker-01", "lab-worker-02", "lab-worker-03", "lab-worker-04"]
    assert len({d.device_type for d in lab.devices.values()}) >= 4
    assert all(re.fullmatch(r"[a-z0-9]+-\d\d", h) for h in lab.devices)
    per_worker = collections.Counter(d.worker for d in lab.devices.values())
    assert set(per_worker) == set(lab.workers) and min(per_worker.values()) >= 12
    healths = collections.Counter(d.health for d in lab.devices.values())
    assert healths["Maintenance"] == 1 and healths["Good"] >= 35
    assert {d.state for d in lab.devices.values()} == {"Idle"}


def test_every_message_is_a_real_lava_message(two_hours):
    messages = two_hours.messages
    times = [m.time for m in messages]
    assert times == sorted(times) and times[0] >= DEFAULT_START
    assert len(two_hours.events) == len(two_hours.frames) == len(messages)
    for msg, frames, event in zip(messages, two_hours.frames, two_hours.events):
        assert event.topic == "org.lavasoftware." + msg.suffix
        assert frames[2].endswith(b"+00:00")
        username = msg.data["submitter"] if msg.suffix == "testjob" else "lavaserver"
        assert event.username == username
        assert set(msg.data) == expected_fields(msg), msg
        for field in ("submit_time", "start_time", "end_time"):
            assert msg.data.get(field, "+00:00").endswith("+00:00")
    assert events_of(messages[:1], prefix="org.example.lab")[0].topic == (
        "org.example.lab." + messages[0].suffix)


def expected_fields(msg):
    data = msg.data
    if msg.suffix == "worker":
        return {"hostname", "state", "health"}
    if msg.suffix == "event":
        return {"job", "message"}
    if msg.suffix == "device":
        # LAVA names the job while Running and on the Idle right after a job, never on Reserved.
        has_job = data["state"] == "Running" or (data["state"] == "Idle" and "job" in data)
        return DEVICE_BASE | ({"job"} if has_job else set())
    fields = set(JOB_BASE)
    if data["state"] != "Submitted" and (data["state"] != "Finished" or "device" in data):
        fields |= {"device", "worker"}
    if data["state"] in ("Running", "Canceling", "Finished"):
        fields.add("start_time")
    if data["state"] == "Finished":
        fields.add("end_time")
    return fields


def test_invariants_hold_throughout(two_hours):
    messages, state, violations = two_hours.messages, two_hours.state, two_hours.violations
    assert violations == []
    assert any(d["state"] == "Running" for d in state.devices.values())
    device_of = {}
    for m in messages:
        if m.suffix == "testjob" and "device" in m.data:
            assert device_of.setdefault(m.data["job"], m.data["device"]) == m.data["device"]


def test_traffic_has_the_whole_life_of_a_lab(two_hours):
    messages = two_hours.messages
    jobs = [m.data for m in messages if m.suffix == "testjob"]
    finished = [j for j in jobs if j["state"] == "Finished"]
    outcomes = collections.Counter(j["health"] for j in finished if not j["health_check"])
    total = sum(outcomes.values())
    assert total > 1000
    assert 0.65 < outcomes["Complete"] / total < 0.9
    assert 0.08 < outcomes["Incomplete"] / total < 0.3
    assert 0.01 < outcomes["Canceled"] / total < 0.1
    assert any(j["state"] == "Canceling" for j in jobs)
    dequeued = [j for j in finished if "device" not in j]
    assert dequeued and all(j["health"] == "Canceled" and j["start_time"] == j["end_time"]
                            for j in dequeued)
    assert {j["submitter"] for j in jobs} >= {"alice", "bob", "ci-bot", "kernelci", "lava-health"}
    assert {j["priority"] for j in jobs} == {0, 50, 100}
    device_healths = {m.data["health"] for m in messages if m.suffix == "device"}
    assert device_healths >= {"Good", "Unknown", "Bad", "Looping", "Maintenance"}
    assert device_healths <= set(DEVICE_HEALTHS)
    shell = [m for m in messages if m.suffix == "event" and "started on" not in m.data["message"]]
    assert len(shell) > 1000
    for j in finished:
        if j["health"] == "Complete":
            seconds = (parse_time(j["end_time"]) - parse_time(j["start_time"])).total_seconds()
            assert 10 <= seconds <= 400, j


def test_health_checks_decide_device_health(two_hours):
    messages = two_hours.messages
    checks = 0
    for before, msg in zip(messages, messages[1:]):
        if msg.suffix == "testjob" and msg.data["health_check"]:
            assert msg.data["submitter"] == "lava-health" and msg.data["priority"] == 100
            assert msg.data["description"] == f"{msg.data['device_type']} health-check"
            if msg.data["state"] == "Finished" and "device" in msg.data:
                checks += 1
                # the Idle event right before names the job and carries the verdict
                assert before.suffix == "device" and before.data["job"] == msg.data["job"]
                verdict = {"Complete": "Good", "Incomplete": "Bad"}[msg.data["health"]]
                assert before.data["health"] in (verdict, "Looping")
    assert checks > 50


def test_worker_outage_and_the_burst_when_it_comes_back(two_hours):
    messages = two_hours.messages
    workers = [(i, m) for i, m in enumerate(messages) if m.suffix == "worker"]
    offline = [(i, m) for i, m in workers if m.data["state"] == "Offline"]
    assert offline
    start, outage = offline[0]
    name = outage.data["hostname"]
    steps = [(m.data["state"], m.data["health"]) for i, m in workers
             if m.data["hostname"] == name and i >= start][:4]
    assert steps == [("Offline", "Active"), ("Offline", "Maintenance"),
                     ("Online", "Maintenance"), ("Online", "Active")]
    back = next(i for i, m in workers if i > start and m.data == {
        "hostname": name, "state": "Online", "health": "Active"})
    burst = []
    for m in reversed(messages[:back]):
        if m.suffix != "device" or m.time != messages[back].time:
            break
        burst.append(m)
    assert len(burst) >= 3
    assert all(m.data["worker"] == name and m.data["health"] == "Unknown" for m in burst)
    # the worker's jobs ended Incomplete when it went away; health checks follow the burst
    at_outage = [m for m in messages if m.time == outage.time and m.suffix == "testjob"]
    assert at_outage and all(m.data["health"] == "Incomplete" for m in at_outage)
    checked = {m.data["device"] for m in messages[back:back + 200]
               if m.suffix == "testjob" and m.data["health_check"] and "device" in m.data}
    assert {m.data["device"] for m in burst} <= checked


def test_same_seed_same_traffic():
    def run(seed):
        lab = SimLab(random.Random(seed), n_devices=20, n_workers=2)
        return lab.roll_call() + lab.advance(lab.now + dt.timedelta(minutes=30))
    first = run(42)
    assert first == run(42)
    assert first != run(43)
    # uuids are the only thing that differs between two encodings of the same message
    a, b = to_frames(first[-1]), to_frames(first[-1])
    assert a[1] != b[1] and a[:1] + a[2:] == b[:1] + b[2:]


def test_a_faster_pace_lives_the_same_life_in_less_time_on_a_true_clock():
    """--sim-speed: at pace 60 the lab sends the same messages as at pace 1, in the same order, at
    a 60th of the time from its start, its data's times with them. (Its clock once ran 60 times
    faster instead, and after 24 minutes its events, a day ahead, were refused.)"""
    def strip(m):
        times = {k: m.data[k] for k in ("submit_time", "start_time", "end_time") if m.data.get(k)}
        return (m.suffix, m.username, {k: v for k, v in m.data.items() if k not in times}), times

    slow = SimLab(random.Random(8), n_devices=20, n_workers=2)
    fast = SimLab(random.Random(8), n_devices=20, n_workers=2, pace=60)
    hours = slow.advance(DEFAULT_START + dt.timedelta(hours=2))
    minutes = fast.advance(DEFAULT_START + dt.timedelta(minutes=2))
    assert fast.now == DEFAULT_START + dt.timedelta(minutes=2)  # its clock: two minutes, not hours
    assert len(hours) > 500 and len(minutes) == len(hours)
    assert [strip(m)[0] for m in minutes] == [strip(m)[0] for m in hours]
    for quick, slow_one in zip(minutes, hours):
        since = (slow_one.time - DEFAULT_START).total_seconds() / 60
        assert abs((quick.time - DEFAULT_START).total_seconds() - since) < 1e-6
        for key, text in strip(quick)[1].items():
            assert abs((parse_time(text) - DEFAULT_START).total_seconds()
                       - (parse_time(strip(slow_one)[1][key]) - DEFAULT_START).total_seconds() / 60) < 1e-5
    assert max(m.time for m in minutes) <= fast.now


@pytest.mark.parametrize("pace", [0, -1, float("nan"), float("inf"), 1001])
def test_a_pace_out_of_bounds_is_refused(pace):
    with pytest.raises(ValueError, match="pace"):
        SimLab(random.Random(1), pace=pace)


def test_roll_call_agrees_with_the_lab(two_hours):
    lab, first_roll_call, state = two_hours.lab, two_hours.first_roll_call, two_hours.state
    assert len(first_roll_call) == len(lab.workers) + len(lab.devices)
    roll_call = lab.roll_call()
    assert all(m.time == lab.now for m in roll_call)
    events = events_of(roll_call)
    assert roll_call_starts(events, lab) == [0]
    for e in events:
        if e.kind == "worker":
            got = state.workers[e.data["hostname"]]
            assert (got["state"], got["health"]) == (e.data["state"], e.data["health"])
        else:
            got = state.devices[e.data["device"]]
            assert {k: got[k] for k in ("state", "health", "worker", "device_type")} == {
                k: e.data[k] for k in ("state", "health", "worker", "device_type")}
            assert got["job"] == e.data.get("job") == lab.devices[e.data["device"]].job


def test_small_lab_long_run_stays_bounded():
    lab = SimLab(random.Random(5), n_devices=3, n_workers=1)
    state = LabState()
    for _ in range(6 * 120):  # six virtual hours
        for event in events_of(lab.advance(lab.now + STEP)):
            state.apply(event)
        assert invariant_violations(state) == []
        assert len(lab.jobs) <= 3 * 3 + 20 + 3


# -- the CLI's arguments ----------------------------------------------------------------------
def test_cli_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--bind", "--rate", "--devices", "--workers", "--seed", "--speed", "--duration",
                 "--topic-prefix"):
        assert flag in text
    args = parse_args(["--rate", "1000", "--duration", "0", "--topic-prefix", "org.example"])
    assert (args.rate, args.duration, args.topic_prefix) == (1000, 0, "org.example")
    assert parse_args(["--speed", "1000"]).speed == 1000


@pytest.mark.parametrize("args", [["--speed", "0"], ["--speed", "nan"], ["--speed", "1001"],
                                  ["--speed", "-2"], ["--rate", "inf"], ["--rate", "nan"]])
def test_cli_refuses_a_speed_or_rate_out_of_bounds(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(args)
    assert exit_.value.code == 2
    assert "--rate a finite number >= 0 and --speed above 0 and at most 1000" in capsys.readouterr().err
