"""The history of boards LAVA hides now, left out of every aggregate (core.withheld), on both
backends: a store holding every board's rows, asked to leave some boards (and a device type only
they have) out, answers as a store that never held their rows: reports, utilisation, outcomes,
events per hour (whose totals it takes their own rows' counts from) and the rows themselves.
The app's outputs: tests/test_access.py (test_history_stored_before_lava_hid_a_board_...)."""
import time

import pytest

from dashboard.core.events import parse_frames
from dashboard.core.visibility import EVERYONE, Viewing, Visibility
from dashboard.core.withheld import MAX_LEFT_OUT, Withheld
from dashboard.storage.store import COLUMNS, open_store, row_for
from dashboard.web.history import queue_of_shown_types
from dashboard.web.reports import period, report, utilisation
from dashboard.web.withheld import FRESH_FOR
from tests.fake_lava import FakeLava
from tests.helpers import AppProcess, TestPublisher, message, utc_stamp, wait_until
from tests.pgserver import PostgresServer
from tests.test_app_browser import open_page
from tests.test_pgstore import pg  # noqa: F401 (a fixture, asked for by name)
from tests.test_time_rollups import NOW, PERIODS, T0, WAITS, device_row, fill, history, iso, same

DEVICE = COLUMNS.index("device") - 1
DEVICE_TYPE = COLUMNS.index("device_type") - 1
KIND = COLUMNS.index("kind") - 1
HIDDEN = ("b2", "b5", "h9")  # b5 moves between qemu, bbb and x86; h9 is the one board of its type


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request, tmp_path):
    """Two fresh stores of the backend under test."""
    def database():
        return "" if request.param == "sqlite" else request.getfixturevalue("pg").create_database()
    return [open_store(database(), str(tmp_path / f"events-{i}.sqlite3")) for i in range(2)]


def job_row(i, ts, job, state, device_type, device=None):
    frames = message("testjob", iso(ts), f"s{i}", job=job, state=state, health="Unknown",
                     device_type=device_type, device=device, worker="w9" if device else None)
    return row_for(parse_frames(frames), frames, {}, 0.0)


def hidden_type_rows():
    """h9, the one board of type secret, and jobs queued for secret, then run on it; and jobs
    queued for qemu then run on b0 (shown), from the third day on."""
    rows = []
    for i in range(60):
        ts = T0 + 2 * 86400 + i * 3000
        rows.append(device_row(9000 + i, ts, "h9", "secret", "w9", ("Idle", "Running")[i % 2],
                               "Good"))
        job = 5000 + i // 3
        if i % 3 == 0:
            rows.append(job_row(i, ts + 1, job, "Submitted", "secret"))
            rows.append(job_row(i, ts + 2, job + 100, "Submitted", "qemu"))
        elif i % 3 == 1:
            rows.append(job_row(i, ts + 1, job, "Running", "secret", "h9"))
            rows.append(job_row(i, ts + 2, job + 100, "Running", "qemu", "b0"))
    return rows


def test_a_store_leaves_out_withheld_boards_as_if_it_never_held_them(stores):
    everything, only_shown = stores
    # b2 has jobs and no transition of its own stored (LAVA's REST loaded it): the store still
    # counts it among its boards (stored_boards), by the events' roll-ups. h9 is the one board of
    # its type, and jobs queued for that type name no board.
    rows = [r for r in history(1200, seed=29) if r[DEVICE] != "b2" or r[KIND] == "testjob"]
    rows = sorted(rows + hidden_type_rows(), key=lambda r: r[2])
    fill(everything, rows)
    names, types = everything.stored_boards(100_000)
    boards = {r[DEVICE]: r[DEVICE_TYPE] for r in rows if r[DEVICE]}
    assert set(names) == set(boards) and set(types) <= set(boards.values())
    shown = {d for d in boards if d not in HIDDEN}
    # (The model's boards and their types now; stored_boards as the app reads it: web/withheld.py)
    withheld = Withheld(shown, {boards[d] for d in shown}, names, types)
    assert set(withheld.names) == set(HIDDEN) and withheld.types == ("secret",)
    assert withheld.excluded and not withheld.too_many
    kept = [r for r in rows if not withheld.row(r[DEVICE], r[DEVICE_TYPE])]
    assert 0 < len(kept) < len(rows)
    fill(only_shown, kept)
    exclude = withheld.excluded
    for since, until in PERIODS[:4]:
        for group in ("device", "device_type", "worker"):
            got = report(everything, since, until, group, now=NOW, withheld=withheld)
            want = report(only_shown, since, until, group, now=NOW)
            assert report(everything, since, until, group, now=NOW) != want  # (it can fail)
            # A type whose jobs ran on a hidden board mixes their waits in: it has none (see
            # report); the others keep theirs.
            same(got, want, skip=WAITS if group == "device_type" else ())
            if group == "device_type":
                lo, hi = period(since, until, now=NOW)
                mixed = everything.job_types_of(withheld.names, lo, -(-hi // 3600) * 3600)
                for t in got:
                    assert got[t]["queue_wait_p50_s"] == (None if t in mixed else
                                                          want[t]["queue_wait_p50_s"]), t
        for filters in ({}, {"device_type": "qemu"}, {"worker": "w2"}):
            assert (utilisation(everything, since, until, filters, now=NOW, withheld=withheld)
                    == utilisation(only_shown, since, until, filters, now=NOW)), filters
        lo, hi = period(since, until, now=NOW)
        for filters in ({}, {"device_type": "bbb"}, {"device": "b3"}):
            assert (everything.outcome_days(lo, hi, filters, exclude=exclude)
                    == only_shown.outcome_days(lo, hi, filters)), filters
            assert (everything.outcomes(lo, hi, filters, exclude=exclude)
                    == only_shown.outcomes(lo, hi, filters)), filters
        for width in (3600, 86400):
            for filters in ({}, {"kind": "device"}, {"device_type": "qemu"}, {"worker": "w1"},
                            {"kind": "testjob"}, {"submitter": "alice"}):  # (the last: a scan)
                got = everything.buckets(width, lo, hi, filters, exclude=exclude)
                assert got == only_shown.buckets(width, lo, hi, filters), (width, filters)
                assert got == everything.buckets(width, lo, hi, filters, rollups=False,
                                                 exclude=exclude)  # (the scan leaves them out too)
    assert everything.buckets(3600, T0, NOW) != only_shown.buckets(3600, T0, NOW)
    # The queue of every type together, without secret's: that of all types before its first job;
    # from then on each shown type's peak in a step, summed (a bound on the true peak)
    for start, end, step in ((T0, T0 + 2 * 86400, 900), (T0, NOW, 3600)):
        got = queue_of_shown_types(everything, withheld, start, end, step)
        if end <= T0 + 2 * 86400:
            assert got == everything.queue_points(None, start, end, step)
        else:
            want = only_shown.queue_points_of(["qemu", "bbb", "x86"], start, end, step)
            assert got == [(t, sum(points[i][1] for points in want.values()))
                           for i, (t, _) in enumerate(want["qemu"])]
            assert got != everything.queue_points(None, start, end, step) and any(n for _, n in got)
        true = only_shown.queue_points(None, start, end, step)
        assert [t for t, _ in got] == [t for t, _ in true]
        assert all(a >= b for (_, a), (_, b) in zip(got, true))
    # The rows read for the statistics: a worker's row (no board, no type) is everyone's
    for kind in ("device", "testjob"):
        assert (everything.rows(kind, T0, NOW, exclude=exclude)
                == only_shown.rows(kind, T0, NOW)), kind


def test_every_row_of_a_job_that_ran_on_a_withheld_board_goes_with_it(stores):
    """A job queued for a type anyone may see, then run on a board LAVA hides now: its row from
    before (no board) goes too, as does a message stored before its board was known."""
    store = stores[0]
    fill(store, [job_row(1, T0, 77, "Submitted", "qemu"), job_row(2, T0 + 5, 77, "Running",
                                                                 "qemu", "b2"),
                 job_row(3, T0 + 6, 78, "Submitted", "qemu")])
    assert store.jobs_on(["b2"], 100) == [77] and store.jobs_on([], 100) == []
    withheld = Withheld({"b0"}, {"qemu"}, ["b0", "b2"], ["qemu"], jobs=store.jobs_on(["b2"], 100))
    assert withheld.row(None, "qemu", 77) and withheld.row("b2", "qemu", 77)
    assert not withheld.row(None, "qemu", 78) and not withheld.row(None, None, None)
    view = Viewing(EVERYONE, {}, Visibility(), withheld=withheld)
    assert [r["job"] for r in view.rows(store.events(limit=10))] == [78]


def test_while_the_roll_ups_are_rebuilt_the_events_name_every_stored_board(stores):
    """A store an older build made has its roll-ups rebuilt at start (minutes on a large one),
    meanwhile naming no board (found by a review: a board LAVA hides was then left in the raw
    counts): the boards the store holds are then read from the events themselves, with the type
    each last said."""
    store = stores[0]
    fill(store, history(200, seed=3) + hidden_type_rows())
    complete = store.stored_boards(1000)
    assert "h9" in complete[0] and "secret" in complete[1]
    with store._transaction() as conn:  # as an older build's store, before its rebuild
        for table in ("rollup_hourly", "rollup_time", "device_span", "rollup_queue",
                      "rollup_time_state", "rollup_state"):
            conn.execute(f"DELETE FROM {table}")
    assert not store.rollups_complete()
    names, types = store.stored_boards(1000)
    assert sorted(names) == sorted(complete[0]) and "h9" in names, (names, complete)
    assert set(types) >= {"secret", "qemu"} and None not in types, types
    assert store.stored_boards(2)[0] == sorted(complete[0])[:2]  # (bounded as before)
    store.ensure_rollups()
    assert sorted(store.stored_boards(1000)[0]) == sorted(complete[0])


def test_what_is_withheld_and_when_too_many_to_leave_out():
    withheld = Withheld({"a", "b"}, {"qemu"}, ["a", "b", "c", ""], ["qemu", "x86", None])
    assert (withheld.names, withheld.types) == (("c",), ("x86",))
    assert withheld.device("c") and not withheld.device("a")
    assert withheld.row("c", "qemu") and not withheld.row("a", "x86")  # a board decides
    assert withheld.row(None, "x86") and not withheld.row(None, "qemu")  # else its type
    assert not withheld.row(None, None) and not withheld.row("", "")  # a worker's, the lab's
    assert withheld.excluded == (("c",), ("x86",)) and not withheld.too_many
    assert Withheld({"a"}, {"qemu"}, ["a"], ["qemu"]).excluded is None  # nothing to leave out
    many = Withheld(set(), set(), [f"d{i}" for i in range(MAX_LEFT_OUT + 1)])
    assert many.too_many and "more than 500" in many.why()
    # The jobs on withheld boards not all known: a job's row with no board goes, whatever its job
    unsure = Withheld({"a"}, {"qemu"}, ["a", "c"], ["qemu"], jobs=[5], jobs_cut=True)
    assert unsure.row(None, "qemu", 6) and unsure.row(None, None, 7) and unsure.row("c", "qemu", 6)
    assert not unsure.row("a", "qemu", 6) and not unsure.row(None, "qemu", None)
    assert not unsure.too_many  # (the aggregates do not use the jobs)
    cut = Withheld({"a"}, {"qemu"}, ["a"], ["qemu"], cut_short=True)  # the rest not read
    assert cut.too_many and cut.excluded is not None and "could not be read whole" in cut.why()


def test_a_store_that_cannot_say_which_boards_it_holds_withholds_the_charts_not_the_live_view(
        tmp_path, browser):
    """The app on PostgreSQL with access control: while its server is down, the live model's
    answers still come (they read nothing of the store), the charts answer with nothing and say
    why, in the page too (Chromium), and the log says it once; once the server is back, the
    charts count again."""
    server = PostgresServer()
    lava = FakeLava(token="tok-withheld-0123456789")
    publisher = TestPublisher()
    token_file = tmp_path / "token"
    token_file.write_text(lava.token)
    app = None
    try:
        url = server.start().url
        rules = tmp_path / "alerts.toml"
        rules.write_text("[rules.device_bad]\nminutes = 0\n")
        app = AppProcess("--lava-url", lava.url, "--lava-token-file", str(token_file), "--zmq",
                         publisher.endpoint, "--database", url, "--access", "lava",
                         "--alerts-config", str(rules), "--alerts-interval", "0.2")
        publisher.wait_for_subscriber()
        wait_until(lambda: app.json("/healthz")["lava"]["loaded"], timeout=20, what="loaded")
        publisher.send(message("device", utc_stamp(), "w-1", device="qemu-01", device_type="qemu",
                               worker="lab-worker-01", state="Idle", health="Bad"))
        wait_until(lambda: app.json("/api/v1/stats/events?bucket=hour")["series"].get("device"),
                   timeout=20, what="the device's change counted")
        wait_until(lambda: [a for a in app.json("/api/v1/alerts")["alerts"]
                            if a["key"] == "device_bad/qemu-01"], timeout=20, what="its alert kept")
        before = app.json("/api/v1/alerts?limit=200")
        server.stop()
        time.sleep(FRESH_FOR + 0.5)  # (what is withheld is found again after this)
        assert [d["hostname"] for d in app.json("/api/v1/state")["devices"]]  # the live view
        for path in ("/api/v1/stats/events?bucket=hour", "/api/v1/stats/outcomes",
                     "/api/v1/stats/queue", "/api/v1/stats/utilisation"):
            status, _, body = app.get(path)
            assert status == 200, (path, status, body)
            assert "could not be read whole" in body["left_out"]["withheld"], (path, body)
        status, _, body = app.get("/api/v1/reports")
        assert status == 200 and body["rows"] == [] and body["left_out"]["withheld"], body
        # The page says it under each chart, and over the report (it said nothing: an empty chart)
        page = open_page(browser)
        failed = []
        page.on("response", lambda r: r.status >= 500 and failed.append(r.url))
        try:
            page.goto(app.url + "/?view=charts")
            page.wait_for_selector(".chart-left-out", timeout=20000)
            page.wait_for_function("(n) => document.querySelectorAll('.chart-left-out').length >= n",
                                   arg=4, timeout=20000)
            said = page.eval_on_selector_all(".chart-left-out", "(els) => els.map((e) => e.textContent)")
            assert all(t.startswith("Not counted here: which boards the store holds") for t in said), said
            page.goto(app.url + "/?view=reports")
            page.wait_for_selector(".report-left-out", timeout=20000)
            assert "could not be read whole" in page.inner_text(".report-left-out")
            assert page.query_selector("#no-report") is None  # (not "no stored transitions")
            # (The alerts list, which reads the store too, answers from the engine's memory.)
            assert failed == [] and page.errors == [], (failed, page.errors)
        finally:
            page.context.close()
        assert app.log_text().count("cannot read which boards the store holds") == 1
        status, _, alerts = app.get("/api/v1/alerts?limit=200")  # (the wall's banner reads it)
        assert status == 200 and alerts["firing"] == before["firing"] >= 1, (alerts, before)
        firing = {a["key"] for a in alerts["alerts"] if a["status"] == "firing"}
        assert "device_bad/qemu-01" in firing
        assert firing == {a["key"] for a in before["alerts"] if a["status"] == "firing"}
        assert app.log_text().count("cannot read the stored alerts") == 1
        # Every other output that reads the store says why, 503 with Retry-After (it said 500,
        # "internal error", counted with the handlers' defects): /healthz counts them.
        failures = app.json("/healthz")["store"]["read_failures"]
        reads = ("/api/v1/events", "/api/v1/events?device=qemu-01", "/feeds/events.atom",
                 "/export/events.csv", "/export/events.json", "/api/v1/devices/qemu-01",
                 "/api/v1/devices/qemu-01/timeline", "/api/v1/devices/qemu-01/jobs", "/api/v1/jobs/1",
                 "/export/reports.csv", "/feeds/alerts.atom")
        for path in reads:
            status, headers, body = app.get(path)
            if path in ("/export/reports.csv", "/feeds/alerts.atom"):  # (withheld, or memory)
                assert status == 200, (path, status, body)
                continue
            assert status == 503 and body["code"] == "store_unavailable", (path, status, body)
            assert "cannot be read now" in body["error"] and headers["Retry-After"] == "10"
        health = app.json("/healthz")
        assert health["store"]["read_failures"] == failures + len(reads) - 2, health["store"]
        assert "OperationalError" in health["store"]["last_read_failure"]["error"]
        assert "store" in health["degraded"] and health["status"] == "degraded"
        assert app.log_text().count("cannot be read now") == 1  # (once a minute)
        assert "Traceback" not in app.log_text()
        # The page's details panel says why (it said "internal error").
        page = open_page(browser)
        try:
            page.goto(app.url + "/?detail=device:qemu-01")
            page.wait_for_selector(".is-error", timeout=20000)
            said = page.inner_text(".detail, [role=dialog], body")
            assert "Could not load the timeline: the event store cannot be read now" in said, said[:600]
        finally:
            page.context.close()
        server.start()
        wait_until(lambda: app.get("/api/v1/stats/events?bucket=hour")[2].get("series", {})
                   .get("device"), timeout=30, what="the charts counting again")
        assert "left_out" not in app.json("/api/v1/stats/events?bucket=hour")
    finally:
        if app is not None:
            app.stop()
        publisher.close()
        lava.close()
        server.cleanup()


def app_with_boards(tmp_path, shown, health):
    """(app, its lab's parts) of an app made in the process with `--access lava`: boards a and b
    (qemu) queued for the store, those LAVA's anonymous device list shows (`shown`) in the model."""
    from dashboard.factory import create_app

    app = create_app(overrides={"zmq": ["tcp://127.0.0.1:9"], "data_dir": str(tmp_path),
                                "access": "lava", "lava_url": "http://127.0.0.1:9"})
    parts = app.extensions["dashboard"].labs[0]
    parts.state.screen.learn([{"hostname": n, "device_type": "qemu"} for n in shown])
    for name in ("a", "b"):
        frames = message("device", utc_stamp(), f"u-{name}", device=name, device_type="qemu",
                         state="Idle", health=health, worker="w1")
        event = parse_frames(frames)
        if name in shown:
            parts.state.apply(event)
        parts.store.enqueue(row_for(event, frames, {}, time.time()))
    return app, parts


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (eventlet's, imported by the app)
def test_a_request_while_another_finds_the_withheld_boards_again_withholds_one_lava_just_hid(
        tmp_path):
    """(In the process: the moment is too short to catch over HTTP.) While one request reads which
    boards the store holds again, the others answered with the last reading as it was: a board
    LAVA had just hidden (gone from the model) was still shown to them, with its history (a
    review). They answer with it taken against the model's boards now (Withheld.against)."""
    from dashboard.web.withheld import lab_withheld

    # (What LAVA's anonymous device list said: both shown, then.)
    app, parts = app_with_boards(tmp_path, shown=("a", "b"), health="Good")
    try:
        assert parts.store.flush() == 2
        with app.test_request_context("/api/v1/events"):
            first = lab_withheld()
            assert not first.device("b") and first.names == ()
            cache = app.extensions["dashboard_withheld"]
            cache[parts.name] = (*cache[parts.name][:2], True)  # another request finding it
            del parts.state.devices["b"]  # LAVA hid b: the model no longer holds it
            meanwhile = lab_withheld()
            assert meanwhile.device("b") and meanwhile.row("b", "qemu")
            assert meanwhile.names == ("b",) and meanwhile.jobs_cut  # (its jobs not read yet)
            assert not meanwhile.row("a", "qemu") and lab_withheld().device("b")
            cache[parts.name] = (*cache[parts.name][:2], False)  # that request done: read anew
            found = lab_withheld()
            assert found.device("b") and found.names == ("b",) and not found.jobs_cut
    finally:
        parts.store.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (eventlet's, imported by the app)
def test_a_full_read_of_alerts_mostly_withheld_is_not_taken_for_all_of_them(tmp_path):
    """(In the process: 1,001 alerts.) The alerts list counts the firing ones in the rows it read
    when that read was the whole of them; a read of the 1,000 newest of which most were about a
    board LAVA hides now is not: a firing alert older than them is still counted (docs/security.md,
    "Alerts"), read again among the firing ones."""
    # LAVA hides b; b's history was stored before it did
    app, parts = app_with_boards(tmp_path, shown=("a",), health="Bad")

    def alert(n, device, status, at):
        return {"id": f"alert-{n}", "key": f"device_bad/{device}", "rule": "device_bad",
                "status": status, "fired_at": at, "resolved_at": at + 1 if status == "resolved"
                else None, "subject": device, "subject_kind": "device", "device": device,
                "device_type": "qemu", "severity": "warning", "message": f"{device} is Bad"}
    now = time.time()
    try:
        assert parts.store.flush() == 2
        parts.store.save_alerts([alert(0, "a", "firing", now - 5000)]
                                + [alert(n, "b", "resolved", now - 4000 + n) for n in range(1, 1001)])
        body = app.test_client().get("/api/v1/alerts").get_json()
        assert body["alerts"] == [] and body["firing"] == 1, body  # (a's: older than b's 1,000)
        firing = app.test_client().get("/api/v1/alerts?status=firing").get_json()
        assert [a["subject"] for a in firing["alerts"]] == ["a"] and firing["firing"] == 1
    finally:
        parts.store.close()
