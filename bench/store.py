"""Store benchmark: ingest N events (default 1,000,000) with and without the event store, then the
latency of the history API over that store. Prints JSON.

The baseline for ingest is the same app with --no-store, measured in the same run. Events are a
synthetic lab (devices changing state and health, jobs flowing, test-shell messages) spread over the
last 7 days, so that statistics and timelines have something to chew on. Each ingest arm also gives
the % of one core that each part used (`percent_of_a_core`: the app's loop thread, its other
threads, both together (one interpreter lock: near 100, the app is what bounds the rate), the
store's writer process, and this benchmark's publisher), and the bytes the app and
its writer process had written to disk, per event (`disk_written_bytes_per_event`).

    python bench/store.py --events 1000000
    python bench/store.py --direct --events 1000000 --devices 1000   # roll-ups vs scan, reports
    python bench/store.py --direct --events 1000000 --devices 1000 --withheld 10   # boards LAVA hides
    python bench/store.py --events 1000000 --thread-writer-too  # and the writer in a thread
    python bench/store.py --events 500000 --ingest-runs 3  # arms alternating, medians compared

With `--pregenerate` the messages are made before each arm's app starts, so that the publisher
(which shares the machine with the app) only sends them; without it, as the issue measured, it
makes each message as it sends it.

With `--ingest-runs N` each ingest arm runs N times, alternating (without, [thread writer,] [with at REF,]
with, without, ...): the ratio is of the arms' median rates, and each pair's own ratio is
listed too. The figures of each arm are then its median run's.

With `--baseline-ref REF` an arm `with_store_at_ref` ingests with the store through the app as it
was at REF (`git worktree add` into a temporary folder, removed afterwards), in the same rounds:
`ref_ratio_store_over_none` is its ratio against this code's run without the store (the path
without a store being the same in both), `with_store_over_ref` this code's rate over REF's.

    python bench/store.py --events 1000000 --ingest-runs 3 --baseline-ref 5c799e9

With `--store-arg ARG` (repeatable) an arm `with_store_args` ingests with the store through this
code with those arguments of the app too, in the same rounds: `store_args_ratio_over_none` and
`store_args_over_with_store`.

    python bench/store.py --events 1000000 --ingest-runs 3 --store-arg=--store-write-every=2

Each ingest arm also gives the µs of user and of system CPU per event of the app, its writer
process and the benchmark's publisher (`cpu_us_per_event_user_system`). With `--profile PREFIX`
each arm then runs once more under py-spy (the app, and the writer process), and the summaries
of the functions by samples go to PREFIX-*.txt:

    python bench/store.py --events 1000000 --profile docs/results/store-profile
"""
import argparse
import json
import pathlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import psutil


ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import core_shares, cpu_parts, profile_summary, py_spy  # noqa: E402
from tests.helpers import AppProcess, TestPublisher, wait_until  # noqa: E402
from dashboard.sources.zmq import RCVHWM  # noqa: E402
from dashboard.storage.store import MAX_QUEUE as STORE_QUEUE  # noqa: E402

TYPES = ("qemu", "docker", "bbb", "rpi4b", "x86")
PROFILE_AFTER = 8.0  # s into the stream before --profile's py-spy starts: past the start-up
# --profile-seconds' most: the benchmark waits that long and a minute more for each py-spy, and
# py-spy keeps every sample in memory until it ends (200 a second, each a stack per thread).
MOST_PROFILE_SECONDS = 300.0
DEVICES = 500
IN_FLIGHT = 40_000  # keep ZMQ's and the store's queues far from their limits: nothing may be dropped
# --in-flight's most: a tenth below the smallest queue between the publisher and the store (ZMQ's
# RCVHWM, the store's queue), so that a run that loses an event is the app's fault.
MOST_IN_FLIGHT = min(RCVHWM, STORE_QUEUE) * 9 // 10
# How often the flow control asks /healthz how far the app got, while --in-flight // 2 events are
# still in flight (so the app never runs dry in between). Every 10 ms, the app's HTTP handling took
# 5 % of its py-spy samples in the arm with the store (docs/performance.md, "The statement journal").
POLL_S = 0.05


def messages(n, start, end, seed=1):
    """n synthetic lava-publisher messages with times rising from start to end (epoch seconds)."""
    rng = random.Random(seed)
    job = 0
    running = {}
    for i in range(n):
        ts = start + (end - start) * i / n
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}+00:00"
        d = rng.randrange(DEVICES)
        host, dtype, worker = f"dev-{d:03d}", TYPES[d % len(TYPES)], f"worker-{d % 20:02d}"
        r = rng.random()
        if r < 0.45:
            if host in running:
                job_id = running.pop(host)
                data, topic, user = {"job": job_id, "state": "Finished", "health": rng.choice(
                    ("Complete", "Complete", "Incomplete", "Canceled")), "submitter": "bench",
                    "device_type": dtype, "device": host, "worker": worker,
                    "submit_time": stamp, "start_time": stamp, "end_time": stamp}, "testjob", "bench"
            else:
                job += 1
                running[host] = job
                data, topic, user = {"job": job, "state": rng.choice(("Submitted", "Running")),
                                     "health": "Unknown", "submitter": "bench", "device_type": dtype,
                                     "device": host, "worker": worker, "submit_time": stamp}, "testjob", "bench"
        elif r < 0.9:
            data, topic, user = {"device": host, "device_type": dtype, "worker": worker,
                                 "state": rng.choice(("Idle", "Running", "Reserved")),
                                 "health": rng.choice(("Good", "Good", "Good", "Unknown", "Bad", "Maintenance"))}, "device", "lavaserver"
        else:
            data, topic, user = {"job": running.get(host, job), "message": f"step {i}"}, "event", "lavaserver"
        yield [f"org.lavasoftware.{topic}".encode(), f"b{seed}-{i}".encode(), stamp.encode(),
               user.encode(), json.dumps(data).encode()]


def each_process(pid, read):
    """[read(process)] of process `pid` and of each of its live children (those that end
    meanwhile are left out)."""
    out = []
    try:
        root = psutil.Process(pid)
        for proc in (root, *root.children(recursive=True)):
            try:
                out.append(read(proc))
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return out


def is_writer(proc):
    """Whether a child of the app is the store's writer process."""
    return "dashboard.storage.writer" in proc.cmdline()


def user_system(pid):
    """{pid: (name, user, system)}: CPU seconds so far of the app and of each live child (the
    store's writer process). By pid, so that a writer process started again is not measured
    against the one before it."""
    def read(proc):
        name = "app" if proc.pid == pid else "writer process" if is_writer(proc) else "child"
        return proc.pid, (name, *proc.cpu_times()[:2])
    return dict(each_process(pid, read))


def user_system_per_event(before, after, events):
    """µs of user and of system CPU per event between two user_system() readings, by process name
    (a process started in between counts from 0; one that ended is left out)."""
    out = {}
    for proc, (name, user, system) in after.items():
        _, user0, system0 = before.get(proc, (name, 0.0, 0.0))
        part = out.setdefault(name, {"user": 0.0, "system": 0.0})
        part["user"] += (user - user0) / events * 1e6
        part["system"] += (system - system0) / events * 1e6
    return {name: {k: round(v, 1) for k, v in part.items()} for name, part in out.items()}


def start_profiles(app, store, profile, started):
    """With --profile: once PROFILE_AFTER s of the stream have passed, py-spy on the app and (with
    the store) on its writer process, for --profile-seconds. Returns the spies started, or []
    while it is not time yet."""
    if time.monotonic() - started < PROFILE_AFTER:
        return []
    prefix, seconds = profile
    spies = [(py_spy(app.proc.pid, seconds, f"{prefix}-app.raw"), f"{prefix}-app")]
    if store:
        writers = [pid for pid in each_process(app.proc.pid, lambda p: is_writer(p) and p.pid) if pid]
        if writers:
            spies.append((py_spy(writers[0], seconds, f"{prefix}-writer.raw"), f"{prefix}-writer"))
    return spies


def finish_profiles(spies, profile):
    """Wait for the spies (killed if they outlive their time by a minute), write each one's
    summary beside its prefix and remove its raw stacks; returns the summaries written. Says so
    on stderr when a profile was asked for and none was written."""
    written = []
    for proc, prefix in spies:
        try:
            proc.wait(profile[1] + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        raw = pathlib.Path(f"{prefix}.raw")
        if proc.returncode == 0 and raw.exists():
            what = "the writer process" if prefix.endswith("writer") else "the app's threads"
            profile_summary(raw, f"{prefix}.txt", what=what)
            written.append(f"{prefix}.txt")
        raw.unlink(missing_ok=True)
    if profile and not written:
        print(f"no profile written for {profile[0]}: the stream ended before {PROFILE_AFTER:g} s, "
              "or py-spy failed (it needs ptrace)", file=sys.stderr, flush=True)
    return written


def ingest(args, store, data_dir, extra_args=(), root=ROOT, profile=None):
    """Publish every message as fast as the app takes them; events/s until all are accepted
    (and, with the store, written). With `profile` (prefix, seconds), py-spy samples the app and
    its writer process for that long, PROFILE_AFTER s into the stream, and their summaries are
    written to prefix-app.txt and prefix-writer.txt."""
    publisher = TestPublisher()
    extra = ["--zmq", publisher.endpoint, "--log-level", "WARNING", "--data-dir", data_dir,
             "--max-events", str(args.events * 2), "--retention-days", "3650",
             "--async-mode", args.async_mode]
    if not store:
        extra.append("--no-store")
    end = time.time()
    # --pregenerate: made before the app starts, so that the publisher's only work is sending.
    source = (list(messages(args.events, end - 7 * 86400, end)) if args.pregenerate
              else messages(args.events, end - 7 * 86400, end))
    app = AppProcess(*extra, *extra_args, async_mode=args.async_mode, root=root)
    spies = []
    try:
        return _ingest(args, store, app, publisher, source, spies, profile)
    except BaseException:
        for proc, _ in spies:
            proc.kill()
        app.stop()
        publisher.close()
        raise


def _ingest(args, store, app, publisher, source, spies, profile):
    """ingest()'s stream and figures; the spies it starts go into `spies`."""
    publisher.wait_for_subscriber()
    parts0, bench0 = cpu_parts(app.proc.pid), psutil.Process().cpu_times()[:2]
    split0 = user_system(app.proc.pid)
    disk0 = disk_written(app.proc.pid)
    sent, t0 = 0, time.monotonic()
    done, waited = 0, 0.0
    in_flight = args.in_flight
    for frames in source:
        publisher.send(frames)
        sent += 1
        if profile and not spies and sent % 1000 == 0:
            spies.extend(start_profiles(app, store, profile, t0))
        if sent - done >= in_flight:
            # Sustained rate: with the store, "done" means written, so its queue never overflows.
            wait0 = time.monotonic()
            while sent - done >= in_flight // 2:
                health = app.json("/healthz")
                done = health["store"]["written"] if store else health["counters"]["accepted"]
                time.sleep(POLL_S)
            waited += time.monotonic() - wait0
    wait_until(lambda: app.json("/healthz")["counters"]["accepted"] >= sent, timeout=600,
               interval=0.1, what="all accepted")
    accepted_s = time.monotonic() - t0
    written_s = None
    if store:
        wait_until(lambda: app.json("/healthz")["store"]["written"] >= sent, timeout=600,
                   interval=0.1, what="all written")
        written_s = time.monotonic() - t0
    seconds = time.monotonic() - t0
    disk = disk_written(app.proc.pid) - disk0
    shares = core_shares(parts0, cpu_parts(app.proc.pid), seconds)
    bench1 = psutil.Process().cpu_times()[:2]
    shares["benchmark (publisher)"] = round((sum(bench1) - sum(bench0)) / seconds * 100)
    split = user_system_per_event(split0, user_system(app.proc.pid), sent)
    split["benchmark (publisher)"] = {"user": round((bench1[0] - bench0[0]) / sent * 1e6, 1),
                                      "system": round((bench1[1] - bench0[1]) / sent * 1e6, 1)}
    health = app.json("/healthz")
    publisher.close()
    profiles = finish_profiles(spies, profile)
    result = {"events": sent, "accepted_per_s": round(sent / accepted_s),
                 "written_per_s": round(sent / written_s) if written_s else None,
                 "rejected": health["counters"]["rejected_total"],
                 "store_dropped": health["store"]["dropped"] if health["store"] else None,
                 "disk_written_bytes_per_event": round(disk / sent),
                 # The publisher's time held back by the flow control, of the time to accept all
                 # (with the store it waits for the writer's commits). Twice the window left it
                 # and the rate unchanged (docs/performance.md, "Is the flow control's window the
                 # limit?").
                 "flow_control_wait_share": round(waited / accepted_s, 3),
                 "percent_of_a_core": shares,
                 "cpu_us_per_event_user_system": split}
    if profile:
        result["profiles"] = profiles
    return app, result


def disk_written(pid):
    """Bytes the app and its children (the store's writer process) have had written to disk
    (Linux's write_bytes: what reached the block layer, the WAL's and the checkpoints' pages)."""
    return sum(each_process(pid, lambda proc: proc.io_counters().write_bytes))


def latency(app, path, repeat):
    """Median and max seconds of GET path."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        with urllib.request.urlopen(app.url + path, timeout=300) as resp:
            resp.read()
            assert resp.status == 200, path
        times.append(time.perf_counter() - t0)
    return {"median_ms": round(statistics.median(times) * 1000, 1), "max_ms": round(max(times) * 1000, 1)}


def timed(fn, repeat):
    """Median and max milliseconds of fn()."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_ms": round(statistics.median(times) * 1000, 1), "max_ms": round(max(times) * 1000, 1)}


def write(store, events, end, days=30):
    """`events` synthetic messages over the `days` days before end, stored in batches of 5,000 as
    the writer does; returns events/s."""
    from dashboard.core.events import parse_frames
    from dashboard.storage.store import row_for

    t0 = time.monotonic()
    for frames in messages(events, end - days * 86400, end):
        store.enqueue(row_for(parse_frames(frames), frames, {}, 0.0))
        if len(store.queue) >= 5000:
            store.flush()
    while store.queue:
        store.flush()
    return round(events / (time.monotonic() - t0))


def agree(got, want, group):
    """Fields of a report from the roll-ups that differ from the scan's beyond float rounding:
    MTTR aside (core.reports says why); queue waits a device type's only (null per board and per
    worker), within the histogram's 0.5 %."""
    from dashboard.core.reports import FIELDS

    differ = []
    for name in set(got) | set(want):
        for field in FIELDS:
            a, b = (got.get(name) or {}).get(field), (want.get(name) or {}).get(field)
            if field == "mttr_hours" or a == b:
                continue
            if field.startswith("queue_wait"):
                if group != "device_type":
                    b = None
                    if a is None:
                        continue
                elif a is not None and b is not None and abs(a - b) <= 0.006 * abs(b) + 0.01:
                    continue
            if a is None or b is None or abs(a - b) > max(2e-4, 1e-3 * abs(b)):
                differ.append((name, field, a, b))
    return differ


def withheld_costs(store, n, end, repeat):
    """The charts and a month's reports with boards LAVA hides now left out (core.withheld: from
    the totals, their own rows' counts taken away), against the same with none left out (the
    baseline), on the same store in the same run: with `n` boards withheld, and with every board
    of one type (the type withheld too, whose queue the all-types chart then leaves out); with
    their own counts read (`withheld_read`) and kept from the last time (`withheld_kept`, as the
    store keeps them for 5 minutes): {case: {name: {none, withheld_read, withheld_kept: ms,
    ratio_read, ratio_kept}}}."""
    from dashboard.core.withheld import Withheld
    from dashboard.web.history import queue_of_shown_types
    from dashboard.web.reports import period, report, utilisation

    names, types = store.stored_boards(1_000_000)
    spans = store.open_spans()
    first = (end - 30 * 86400) // 86400 * 86400
    lo, hi = period(end - 30 * 86400, end, now=end)
    day, week = end - 86400, end - 7 * 86400
    asked = {
        "chart_events_per_hour_24h": lambda w: store.buckets(3600, day, end,
                                                             exclude=w and w.excluded),
        "chart_events_per_day_30d": lambda w: store.buckets(
            86400, end - 30 * 86400, end, exclude=w and w.excluded),
        "chart_utilisation_7d": lambda w: utilisation(store, week, end, now=end, withheld=w),
        "chart_outcomes_30d": lambda w: store.outcome_days(first, end, exclude=w and w.excluded),
        "chart_queue_24h": lambda w: (store.queue_points(None, day // 900 * 900, end, 900)
                                      if w is None else queue_of_shown_types(
                                          store, w, day // 900 * 900, end, 900)),
        "chart_queue_7d": lambda w: (store.queue_points(None, week // 3600 * 3600, end, 3600)
                                     if w is None else queue_of_shown_types(
                                         store, w, week // 3600 * 3600, end, 3600)),
        **{f"report_month_per_{group}": (lambda w, group=group: report(
            store, lo, hi, group, now=end, withheld=w)) for group in ("device", "device_type",
                                                                       "worker")}}
    out = {"stored_boards": timed(lambda: store.stored_boards(100_000), repeat)}
    a_type = TYPES[-1]
    for case, hidden in ((f"{n}_boards", set(sorted(names)[:n])),
                         (f"every_board_of_{a_type}", {d for d in names if spans[d][3] == a_type})):
        shown = {d for d in names if d not in hidden}
        withheld = Withheld(shown, {spans[d][3] for d in shown}, names, types,
                            jobs=store.jobs_on(sorted(hidden), 100_000))
        got = out[case] = {"boards_withheld": len(withheld.names),
                           "types_withheld": len(withheld.types),
                           "jobs_on_them": timed(lambda: store.jobs_on(sorted(hidden), 100_000),
                                                 repeat)}
        assert withheld.excluded and not withheld.too_many
        for name, ask in asked.items():
            if name.startswith("chart_queue") and not withheld.types:
                continue  # (the queue is per type: only a withheld type changes it)
            assert ask(withheld) != ask(None), (case, name)  # (they are left out)

            def unkept():  # the withheld boards' own counts read, not kept from the last time
                store.__dict__.pop("_withheld_kept", None)
                return ask(withheld)
            none, read = timed(lambda: ask(None), repeat), timed(unkept, repeat)
            ask(withheld)
            kept = timed(lambda: ask(withheld), repeat)  # as the app answers for 5 minutes
            got[name] = {"none": none, "withheld_read": read, "withheld_kept": kept,
                         "ratio_read": round(read["median_ms"] / max(none["median_ms"], 0.1), 2),
                         "ratio_kept": round(kept["median_ms"] / max(none["median_ms"], 0.1), 2)}
    return out


def direct(args):
    """The store alone (no app): N events written in batches as the writer does, with the time
    roll-ups and, as the baseline, without them; then the events chart from the hourly roll-ups
    and by scanning the window (the baseline), and a month's reliability report from the time
    roll-ups and by scanning the month's transitions (the baseline), all in the same run."""
    from dashboard.storage.store import EventStore
    from dashboard.web.reports import period, report, scan_report

    global DEVICES
    DEVICES = args.devices
    out = {"command": "python " + " ".join(sys.argv), "events": args.events, "devices": DEVICES}
    with tempfile.TemporaryDirectory() as tmp:
        end = time.time()
        plain = EventStore(tmp + "/plain.sqlite3", max_queue=10_000_000)
        plain._count_time = lambda conn, tracker, devices, jobs: ({}, 0)  # no time roll-ups
        out["written_per_s_without_time_rollups"] = write(plain, args.events, end)
        del plain
        store = EventStore(tmp + "/events.sqlite3", max_queue=10_000_000)
        out["written_per_s"] = write(store, args.events, end)
        out["write_rate_ratio"] = round(out["written_per_s"] / out["written_per_s_without_time_rollups"], 3)
        out["rollup_rows"] = store._rows("SELECT COUNT(*) AS n FROM rollup_hourly")[0]["n"]
        out["time_rollup_rows"] = store._rows("SELECT COUNT(*) AS n FROM rollup_time")[0]["n"]
        out["finished_jobs"] = store._rows("SELECT COUNT(*) AS n FROM finished_jobs")[0]["n"]
        for name, width, days in (("chart_events_per_hour_24h", 3600, 1),
                                  ("chart_events_per_day_30d", 86400, 30)):
            since = end - days * 86400
            assert store.buckets(width, since, end) == store.buckets(width, since, end, rollups=False)
            out[name] = {"rollups": timed(lambda: store.buckets(width, since, end), args.repeat),
                         "scan": timed(lambda: store.buckets(width, since, end, rollups=False),
                                       args.repeat)}
        # The other charts: from the roll-ups (as served) and by scanning (the baseline).
        from dashboard.core import statistics as stats
        from dashboard.web.reports import utilisation
        for days in (1, 7):
            since = end - days * 86400
            u_lo, u_hi = period(since, end, now=end)
            out[f"chart_utilisation_{days}d"] = {
                "rollups": timed(lambda: utilisation(store, since, end, now=end), args.repeat),
                "scan": timed(lambda: stats.utilisation(store.state_before("device", "device", u_lo),
                                                        store.rows("device", u_lo, u_hi), u_lo, u_hi), 1)}
            step = 900 if days == 1 else 3600
            q_lo = since // step * step
            out[f"chart_queue_{days}d"] = {
                "rollups": timed(lambda: store.queue_points(None, q_lo, end, step), args.repeat),
                "scan": timed(lambda: stats.queue_length(
                    store.state_before("testjob", "job", q_lo, lookback=7 * 86400),
                    store.rows("testjob", q_lo, end, columns=("ts", "job", "state")), q_lo, end, step), 1)}
        first = (end - 30 * 86400) // 86400 * 86400  # whole UTC days, as the chart
        out["chart_outcomes_30d"] = {
            "rollups": timed(lambda: store.outcome_days(first, end), args.repeat),
            "scan": timed(lambda: stats.outcomes_per_day(store.outcomes(first, end)), 1)}
        assert store.outcome_days(first, end) == stats.outcomes_per_day(store.outcomes(first, end))
        lo, hi = period(end - 30 * 86400, end, now=end)
        for group in ("device", "device_type", "worker"):
            got = report(store, lo, hi, group, now=end)
            want = scan_report(store, lo, hi, group)
            out[f"report_month_per_{group}"] = {
                "rollups": timed(lambda: report(store, lo, hi, group, now=end), args.repeat),
                "scan": timed(lambda: scan_report(store, lo, hi, group), 1),
                "rows": len(got), "fields_that_differ": agree(got, want, group)[:10]}
        if args.withheld:
            out["withheld"] = withheld_costs(store, args.withheld, end, args.repeat)
        t0 = time.monotonic()
        store.rebuild_time_rollups()
        out["rebuild_time_rollups_s"] = round(time.monotonic() - t0, 1)
        rebuilt = agree(report(store, lo, hi, "device", now=end), scan_report(store, lo, hi, "device"),
                        "device")
        assert not rebuilt, f"the rebuilt roll-ups disagree with the scan: {rebuilt[:3]}"
    print(json.dumps(out, indent=2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--async-mode", default="eventlet", choices=("eventlet", "gevent"))
    parser.add_argument("--direct", action="store_true",
                        help="the store alone: roll-ups against the scan, and a month's report")
    parser.add_argument("--devices", type=int, default=DEVICES, help="with --direct")
    parser.add_argument("--withheld", type=int, default=0, metavar="N",
                        help="with --direct: also the charts and reports with N boards LAVA "
                             "hides now left out (core.withheld), against none")
    parser.add_argument("--ingest-runs", type=int, default=1,
                        help="runs of each ingest arm, alternating; medians compared")
    parser.add_argument("--in-flight", type=int, default=IN_FLIGHT,
                        help="events sent and not yet done (accepted; with the store, written) at "
                             "which the publisher waits until half are done; at most "
                             f"{MOST_IN_FLIGHT:,}")
    parser.add_argument("--pregenerate", action="store_true",
                        help="make every message before the app starts (memory: about 0.5 KB "
                             "each), so that the publisher only sends: it shares the 2 cores")
    parser.add_argument("--thread-writer-too", action="store_true",
                        help="also ingest with --store-writer thread (the writer in a thread of the "
                             "app), in the same run")
    parser.add_argument("--store-arg", action="append", default=[],
                        help="one more argument of the app (repeatable) for one more arm with the "
                             "store, in the same rounds, e.g. --store-arg=--store-write-every=2")
    parser.add_argument("--baseline-ref", help="also ingest with the store through the app at "
                        "this git ref, in the same rounds")
    parser.add_argument("--profile", metavar="PREFIX",
                        help="then one more run of each arm under py-spy (its figures apart, in "
                             "profiled_runs): the app's and the writer process's summaries in "
                             "PREFIX-without-store-app.txt, PREFIX-with-store-app.txt and "
                             "PREFIX-with-store-writer.txt")
    parser.add_argument("--profile-seconds", type=float, default=20.0,
                        help=f"with --profile: seconds sampled, from {PROFILE_AFTER:g} s into the stream")
    args = parser.parse_args()
    if args.ingest_runs < 1:
        parser.error("--ingest-runs must be at least 1")
    if args.profile and not shutil.which("py-spy"):
        parser.error("--profile needs py-spy (pip install py-spy)")
    if not 1000 <= args.in_flight <= MOST_IN_FLIGHT:
        parser.error(f"--in-flight must be from 1,000 to {MOST_IN_FLIGHT:,}")
    if not 0 < args.profile_seconds <= MOST_PROFILE_SECONDS:
        parser.error(f"--profile-seconds must be above 0 and at most {MOST_PROFILE_SECONDS:g}")
    if args.direct:
        return direct(args)
    out = {"command": "python " + " ".join(sys.argv), "ingest": {}, "queries": {}}
    with tempfile.TemporaryDirectory() as tmp:
        arms = [("without_store", False, (), ROOT)]
        if args.thread_writer_too:
            arms.append(("with_store_thread_writer", True, ("--store-writer", "thread"), ROOT))
        from bench.ingest import Checkout  # (bench.ingest imports this module)
        baseline = Checkout(args.baseline_ref, tmp) if args.baseline_ref else None
        if baseline:
            out["baseline_commit"] = baseline.commit
            arms.append(("with_store_at_ref", True, (), baseline.path))
        if args.store_arg:
            out["store_args"] = args.store_arg
            arms.append(("with_store_args", True, tuple(args.store_arg), ROOT))
        arms.append(("with_store", True, (), ROOT))  # last: the queries below ask its app
        runs = {name: [] for name, _, _, _ in arms}
        app = data_dir = None
        try:
            for run in range(args.ingest_runs):
                for name, store, extra, root in arms:
                    if app is not None:  # an earlier run's app and store: not needed any more
                        app.stop()
                        shutil.rmtree(data_dir, ignore_errors=True)
                    data_dir = f"{tmp}/{name}-{run}"
                    app = None
                    app, result = ingest(args, store, data_dir, extra, root)
                    runs[name].append(result)
                    print(json.dumps({name: result}), file=sys.stderr, flush=True)
        except BaseException:
            if app is not None:
                app.stop()
            raise
        finally:
            if baseline:
                baseline.close()
        # `app` is the last run's with the store: the queries below ask it.
        for name, results in runs.items():
            middle = sorted(results, key=lambda r: r["accepted_per_s"])[(len(results) - 1) // 2]
            out["ingest"][name] = dict(middle, runs_accepted_per_s=[r["accepted_per_s"] for r in results])
        if args.ingest_runs > 1:
            out["ingest"]["pair_ratios_store_over_none"] = [
                round(w["accepted_per_s"] / n["accepted_per_s"], 3)
                for w, n in zip(runs["with_store"], runs["without_store"])]
        try:
            first = app.json("/api/v1/events?limit=100")
            deep = app.json("/api/v1/events?limit=1000&before=" + str(first["events"][0]["id"] - args.events // 2))
            paths = {
                "events_first_page": "/api/v1/events?limit=100",
                "events_page_in_the_middle": "/api/v1/events?limit=100&before=" + str(deep["events"][0]["id"]),
                "events_of_one_device": "/api/v1/events?device=dev-042&limit=100",
                "events_of_one_job": "/api/v1/events?job=1234&limit=100",
                "device_with_transitions": "/api/v1/devices/dev-042",
                "device_timeline_24h": "/api/v1/devices/dev-042/timeline?window=24h",
                "device_timeline_7d": "/api/v1/devices/dev-042/timeline?window=7d",
                "chart_events_per_hour_24h": "/api/v1/stats/events?bucket=hour",
                "chart_events_per_day_30d": "/api/v1/stats/events?bucket=day",
                "chart_utilisation_24h": "/api/v1/stats/utilisation?window=24h",
                "chart_utilisation_7d": "/api/v1/stats/utilisation?window=7d",
                "chart_outcomes_30d": "/api/v1/stats/outcomes?days=30",
                "chart_queue_24h": "/api/v1/stats/queue?window=24h",
                "chart_queue_7d": "/api/v1/stats/queue?window=7d",
            }
            for name, path in paths.items():
                out["queries"][name] = latency(app, path, args.repeat)
                print(json.dumps({name: out["queries"][name]}), file=sys.stderr, flush=True)
        finally:
            app.stop()
        if args.profile:  # one more run of each arm, under py-spy: not in the figures above
            out["profiled_runs"] = {}
            for name, store in (("without_store", False), ("with_store", True)):
                prefix = f"{args.profile}-{name.replace('_', '-')}"
                data_dir = f"{tmp}/profiled-{name}"
                app, result = ingest(args, store, data_dir, profile=(prefix, args.profile_seconds))
                app.stop()
                shutil.rmtree(data_dir, ignore_errors=True)
                out["profiled_runs"][name] = result
                print(json.dumps({f"profiled {name}": result}), file=sys.stderr, flush=True)
    ws, wo = out["ingest"]["with_store"], out["ingest"]["without_store"]
    out["ingest"]["accepted_rate_ratio_store_over_none"] = round(ws["accepted_per_s"] / wo["accepted_per_s"], 3)
    def ratio(a, b):
        return round(a["accepted_per_s"] / b["accepted_per_s"], 3)

    def another_arm(name, key, pairs_key):
        """An arm with the store besides this code's: its ratio to the arm without the store
        (`key`), and with several runs each round's (`pairs_key`)."""
        arm = out["ingest"][name]
        out["ingest"][key] = ratio(arm, wo)
        if args.ingest_runs > 1:
            out["ingest"][pairs_key] = [
                ratio(a, n) for a, n in zip(runs[name], runs["without_store"])]
        return arm
    if baseline:
        out["ingest"]["with_store_over_ref"] = ratio(ws, another_arm(
            "with_store_at_ref", "ref_ratio_store_over_none", "pair_ratios_ref_over_none"))
    if args.store_arg:
        out["ingest"]["store_args_over_with_store"] = ratio(another_arm(
            "with_store_args", "store_args_ratio_over_none", "pair_ratios_store_args_over_none"), ws)
    if args.thread_writer_too:
        out["ingest"]["thread_writer_ratio_over_none"] = round(
            out["ingest"]["with_store_thread_writer"]["accepted_per_s"] / wo["accepted_per_s"], 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
