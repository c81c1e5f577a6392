"""static/js/store.js, the page's copy of the live model, and static/js/protocol.js, the constants
the server gives the page: run in Debian's Chromium (Playwright), imported by the page the real app
serves (`python app.py` as a subprocess, started with a non-default --max-finished-jobs).

store.js is pure: each test hands it crafted snapshots and batches of changes, as the server's
protocol (docs/protocol.md) would, and reads the state it returns.
"""
import json
import re

import pytest

from dashboard.web.protocol import bootstrap
from tests.helpers import AppProcess

MAX_FINISHED = 7  # not the default (500): the page must take the server's value

# A snapshot: two devices, a worker, a running job, and finished jobs 1..12 (12 ended last).
SNAPSHOT_JS = """
const finished = (id) => ({id, state: 'Finished', health: 'Complete', device_type: 'qemu',
  end_time: `2026-11-27T10:${String(id).padStart(2, '0')}:00Z`, updated: '2026-11-27T11:00:00Z'});
const snapshot = (over = {}) => ({
  seq: 100, epoch: 'e1', filter: {},
  meta: {simulated: false, lava_url: 'https://lava.example.org', lava: null, cluster: null},
  devices: [{hostname: 'q-1', device_type: 'qemu', state: 'Idle', health: 'Good', worker: 'w-1',
             job: null, updated: '2026-11-27T10:00:00Z'},
            {hostname: 'b-1', device_type: 'bbb', state: 'Idle', health: 'Good', worker: 'w-1',
             job: null, updated: '2026-11-27T10:00:00Z'}],
  jobs: [{id: 50, state: 'Running', health: 'Unknown', device: 'q-1', updated: '2026-11-27T10:30:00Z'},
         ...Array.from({length: 12}, (_, i) => finished(i + 1))],
  workers: [{hostname: 'w-1', state: 'Online', health: 'Active', devices: ['b-1', 'q-1'],
             updated: '2026-11-27T10:00:00Z'}],
  events: [{uuid: 'ev-1', time: '2026-11-27T10:05:00Z', type: 'event', job: 50, message: 'booting'}],
  ...over,
});
const dev = (hostname, state, health) => ({hostname, device_type: 'qemu', state, health,
  worker: 'w-1', job: null, updated: '2026-11-27T10:40:00Z'});
"""


@pytest.fixture(scope="module")
def app():
    """The app, without a store (the charts are not under test), with a small finished-job bound."""
    process = AppProcess("--zmq", "tcp://127.0.0.1:9", "--no-store",
                         "--max-finished-jobs", str(MAX_FINISHED))
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def page(browser, app):
    """The dashboard's page, loaded, recording errors; store.js is imported from within it."""
    context = browser.new_context()
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and page.errors.append(msg.text))
    page.goto(app.url + "/")
    page.wait_for_selector(".dashboard .topbar", timeout=10000)
    yield page
    context.close()


def run(page, body):
    """Evaluate `body` (an async function body with `store` in scope) in the page, → its value."""
    return page.evaluate("async () => { const store = await import('/static/js/store.js');\n"
                         + SNAPSHOT_JS + body + "\n}")


# -- the bootstrap: the server's constants, and the page using them ---------------------------


def test_the_page_carries_the_servers_constants_and_honours_max_finished_jobs(app, page):
    status, headers, html = app.get("/")
    match = re.search(r'<script type="application/json" id="bootstrap">(.*?)</script>', html, re.S)
    assert match, "no bootstrap in the page"
    assert json.loads(match.group(1)) == bootstrap({"max_finished_jobs": MAX_FINISHED})
    assert "script-src 'self'" in headers["Content-Security-Policy"]  # data, not a script: allowed
    got = run(page, """
      const protocol = await import('/static/js/protocol.js');
      return {limit: store.LIMITS.finishedJobs, max: protocol.MAX_FINISHED_JOBS,
              kinds: protocol.KINDS, keys: protocol.FILTER_KEYS, objects: protocol.OBJECT_KINDS};""")
    assert got["limit"] == got["max"] == MAX_FINISHED
    want = bootstrap({"max_finished_jobs": MAX_FINISHED})
    assert got["kinds"] == want["kinds"] == ["device", "job", "worker", "event"]
    assert got["keys"] == want["filter_keys"] == list(want["criteria"]) and got["objects"] == ["device", "job", "worker"]
    assert page.errors == []


def test_every_module_that_used_to_write_the_constants_takes_the_servers(page):
    """filter.js, url.js, lava.js, stats.js and selectors.js against the bootstrap: the same kinds,
    criteria and enumerations, and the page's own groupings and symbols name only values the
    server has (a value renamed in dashboard/core/events.py shows up here); every server filter key
    the page sends (url.js URL_FILTERS, and RATE_KEYS for main.js's rate meter) is one the server
    serves in FILTER_KEYS."""
    got = run(page, """
      const p = await import('/static/js/protocol.js');
      const filter = await import('/static/js/filter.js');
      const url = await import('/static/js/url.js');
      const lava = await import('/static/js/lava.js');
      const stats = await import('/static/js/stats.js');
      const selectors = await import('/static/js/selectors.js');
      const b = JSON.parse(document.getElementById('bootstrap').textContent);
      const same = (a, c) => JSON.stringify(a) === JSON.stringify(c);
      const states = Object.values(b.objects).flatMap((o) => o.states);
      const healths = Object.values(b.objects).flatMap((o) => o.healths);
      // The server's criteria, applied by the page's matchesFilter: each key restricts exactly the
      // kinds the bootstrap names, on exactly the field it names.
      const criteriaHold = Object.entries(b.criteria).filter(([, fields]) => fields).every(([key, fields]) =>
        b.kinds.every((kind) => {
          const field = fields[kind];
          const miss = filter.matchesFilter({[key]: ['x']}, kind, {[field]: 'y'});
          const hit = filter.matchesFilter({[key]: ['x']}, kind, {[field]: 'x'});
          return field ? (!miss && hit) : (miss && hit);
        }));
      const jobs = new Map([['1', {id: 1, state: 'Finished', health: b.objects.job.healths[1],
                                   end_time: new Date().toISOString()}]]);
      return {
        lava: [same(lava.DEVICE_STATES, b.objects.device.states), same(lava.DEVICE_HEALTHS, b.objects.device.healths),
               same(lava.JOB_STATES, b.objects.job.states), same(lava.JOB_HEALTHS, b.objects.job.healths),
               same(lava.WORKER_STATES, b.objects.worker.states), same(lava.WORKER_HEALTHS, b.objects.worker.healths)],
        feedKinds: url.FEED_KINDS, detailKinds: url.DETAIL_KINDS,
        parsedKinds: url.parseOptions('?feed=job,testjob,event').feedKinds,
        kindOrder: stats.KIND_ORDER, labelled: b.kinds.every((k) => stats.KIND_LABELS[k]),
        categories: same(stats.CATEGORIES, b.categories), outcomes: stats.OUTCOMES,
        criteriaHold,
        unknownSymbols: [...Object.keys(lava.HEALTH_SYMBOLS).filter((v) => !healths.includes(v)),
                         ...Object.keys(lava.STATE_SYMBOLS).filter((v) => !states.includes(v))],
        noSymbol: [...states, ...healths].filter((v) => !lava.symbolFor(v)),
        groupsOk: lava.ALERT_HEALTHS.every((h) => b.objects.device.healths.includes(h))
          && [...lava.QUEUED_JOB_STATES, ...lava.RUNNING_JOB_STATES].every((s) => b.objects.job.states.includes(s))
          && p.JOB_HEALTHS.includes('Unknown'),
        hour: selectors.finishedLastHour(jobs, Date.now()),
        // The server filter keys the page sends: the URL's filters and the rate meter's (main.js).
        urlKeys: url.URL_FILTERS.map(([, key]) => key), rateKeys: url.RATE_KEYS.map(([, key]) => key),
        servedKeys: p.FILTER_KEYS,
      };""")
    assert got["lava"] == [True] * 6
    assert got["feedKinds"] == ["device", "job", "worker", "event"]
    assert got["detailKinds"] == ["device", "job", "worker"]
    assert got["parsedKinds"] == ["job", "event"]
    assert got["kindOrder"] == ["device", "job", "worker", "event", "correction"] and got["labelled"]
    assert got["categories"] and got["outcomes"] == ["Complete", "Incomplete", "Canceled"]
    assert got["criteriaHold"]
    assert got["unknownSymbols"] == [] and got["noSymbol"] == [] and got["groupsOk"]
    assert got["hour"]["total"] == 1 and got["hour"]["Complete"] == 1 and got["hour"]["other"] == 0
    served = got["servedKeys"]
    assert got["urlKeys"] and set(got["urlKeys"]) <= set(served), (got["urlKeys"], served)
    assert got["rateKeys"] and set(got["rateKeys"]) <= set(got["urlKeys"]) and "health" not in got["rateKeys"]


def test_errors_are_recognised_by_their_code(page):
    """remote.js: --no-store is `history_off` (the charts say history is off), whatever the words."""
    got = page.evaluate("""async () => {
      const { getJson } = await import('/static/js/remote.js');
      const fail = async (url) => { try { await getJson(url); return null; }
        catch (e) { return {code: e.code, off: e.off, status: e.status, message: e.message}; } };
      return {off: await fail('/api/v1/events?kind=job'), bad: await fail('/api/v1/devices?health=%01'),
              missing: await fail('/api/v1/devices/nope')};
    }""")
    assert got["off"]["code"] == "history_off" and got["off"]["off"] is True and got["off"]["status"] == 400
    assert got["bad"]["code"] == "bad_parameter" and got["bad"]["off"] is False
    assert got["missing"]["code"] == "not_found" and got["missing"]["status"] == 404


# -- store.js -----------------------------------------------------------------------------------


def test_a_snapshot_replaces_everything_and_keeps_the_servers_number_of_finished_jobs(page):
    got = run(page, """
      const s0 = store.initialState({simulated: true});
      const {state, resync} = store.processMessages(s0, [{type: 'snapshot', payload: snapshot()}], 1000);
      const kept = [...state.jobs.values()].filter((j) => j.state === 'Finished').map((j) => j.id).sort((a, b) => a - b);
      return {ready: state.ready, seq: state.seq, epoch: state.epoch, resync, kept,
              running: state.jobs.has('50'), devices: [...state.devices.keys()], meta: state.meta,
              events: state.events.length, feed: state.feed.map((i) => [i.kind, i.id])};""")
    assert got["ready"] and got["seq"] == 100 and got["epoch"] == "e1" and not got["resync"]
    assert got["kept"] == list(range(12 - MAX_FINISHED + 1, 13)), "the newest 7 finished jobs"
    assert got["running"], "unfinished jobs are never dropped"
    assert got["devices"] == ["q-1", "b-1"]
    assert got["meta"] == {"simulated": False, "lava_url": "https://lava.example.org", "lava": None,
                           "cluster": None, "access": None, "store_recovered": None, "sources": None}
    assert got["events"] == 1 and got["feed"] == [["event", "ev-1"]]


def test_keep_recent_finished_orders_by_end_then_id_and_falls_back_to_updated(page):
    got = run(page, """
      const jobs = new Map([
        ['1', {id: 1, state: 'Finished', end_time: '2026-11-27T10:00:00Z'}],
        ['2', {id: 2, state: 'Finished', end_time: '2026-11-27T12:00:00Z'}],
        ['3', {id: 3, state: 'Finished', end_time: '2026-11-27T12:00:00Z'}],
        ['4', {id: 4, state: 'Finished', end_time: null, updated: '2026-11-27T11:00:00Z'}],
        ['5', {id: 5, state: 'Finished'}],
        ['6', {id: 6, state: 'Running', end_time: null}],
      ]);
      const same = store.keepRecentFinished(jobs, 3);
      const untouched = store.keepRecentFinished(new Map([['9', {id: 9, state: 'Finished'}]]), 3);
      return {same: same === jobs, left: [...jobs.keys()].sort(), untouched: [...untouched.keys()]};""")
    # 3 and 2 ended last (same time: the larger id first), then 4 by its update; 1 and 5 (no time) go.
    assert got["same"] and got["left"] == ["2", "3", "4", "6"] and got["untouched"] == ["9"]


def test_changes_apply_in_order_and_share_what_did_not_change(page):
    got = run(page, """
      let {state} = store.processMessages(store.initialState(), [{type: 'snapshot', payload: snapshot()}], 1000);
      const before = state;
      // Ignored: a change not newer than the state (seq 100), and an unknown kind; applied: the rest.
      const batch = {prev: 100, seq: 104, epoch: 'e1', changes: [
        {seq: 99, kind: 'device', id: 'q-1', data: dev('q-1', 'Running', 'Bad')},
        {seq: 101, kind: 'device', id: 'q-1', data: dev('q-1', 'Running', 'Good')},
        {seq: 102, kind: 'gadget', id: 'g', data: {}},
        {seq: 103, kind: 'event', id: 'ev-2', data: {uuid: 'ev-2', time: '2026-11-27T10:41:00Z', type: 'event', job: 50, message: 'hi'}},
        {seq: 104, kind: 'job', id: 3, data: null}]};
      ({state} = store.processMessages(state, [{type: 'changes', payload: batch}], 2000));
      const after = state;
      // The same batch again (a repeat): nothing moves, the state is the same object.
      const again = store.processMessages(after, [{type: 'changes', payload: batch}], 3000);
      return {seq: after.seq, q1: after.devices.get('q-1').state, workersShared: after.workers === before.workers,
              devicesCopied: after.devices !== before.devices, b1Shared: after.devices.get('b-1') === before.devices.get('b-1'),
              job3: after.jobs.has('3'), events: after.events.map((e) => e.uuid),
              feed: after.feed.map((i) => [i.kind, i.id, i.seq]), lastChangeAt: after.lastChangeAt,
              history: (after.history.get('device:q-1') || []).length, jobHistory: (after.history.get('job:50') || []).length,
              repeat: again.state === after && !again.resync, rate: after.rate.reduce((n, [, c]) => n + c, 0)};""")
    assert got["seq"] == 104 and got["q1"] == "Running"
    assert got["workersShared"] and got["devicesCopied"] and got["b1Shared"]
    assert got["job3"] is False, "a job removed (data null) goes"
    assert got["events"] == ["ev-1", "ev-2"]
    # Forgetting a job is housekeeping, not news: no feed entry; the unknown kind is skipped.
    assert got["feed"] == [["event", "ev-2", 103], ["device", "q-1", 101], ["event", "ev-1", None]]
    assert got["lastChangeAt"] == 2000 and got["history"] == 1 and got["jobHistory"] == 1
    assert got["repeat"] and got["rate"] == 2


def test_a_gap_asks_for_a_snapshot_and_ignores_changes_until_it_comes(page):
    got = run(page, """
      let {state} = store.processMessages(store.initialState(), [{type: 'snapshot', payload: snapshot()}], 1000);
      const gap = store.processMessages(state, [{type: 'changes', payload: {prev: 102, seq: 105, epoch: 'e1',
        changes: [{seq: 105, kind: 'device', id: 'q-1', data: dev('q-1', 'Running', 'Good')}]}}], 2000);
      // While syncing, even a batch that follows on is not applied.
      const meanwhile = store.processMessages(gap.state, [{type: 'changes', payload: {prev: 100, seq: 101,
        epoch: 'e1', changes: [{seq: 101, kind: 'device', id: 'q-1', data: dev('q-1', 'Running', 'Bad')}]}}], 2500);
      const fresh = store.processMessages(meanwhile.state, [{type: 'snapshot', payload: snapshot({seq: 110,
        devices: [dev('q-1', 'Reserved', 'Good')]})}], 3000);
      const early = store.processMessages(store.initialState(), [{type: 'changes', payload: {prev: 0, seq: 5,
        changes: [{seq: 5, kind: 'device', id: 'q-1', data: dev('q-1', 'Idle', 'Good')}]}}], 1000);
      return {gap: [gap.resync, gap.state.syncing, gap.state.seq, gap.state.devices.get('q-1').state],
              meanwhile: [meanwhile.resync, meanwhile.state.seq, meanwhile.state.devices.get('q-1').health],
              fresh: [fresh.resync, fresh.state.syncing, fresh.state.seq, fresh.state.devices.get('q-1').state,
                      [...fresh.state.devices.keys()]],
              resyncHistory: (fresh.state.history.get('device:q-1') || []).map((e) => e.via),
              early: [early.state.ready, early.state.devices.size, early.resync]};""")
    assert got["gap"] == [True, True, 100, "Idle"], "prev 102 > seq 100: missed a batch"
    assert got["meanwhile"] == [False, 100, "Good"]
    assert got["fresh"] == [False, False, 110, "Reserved", ["q-1"]]
    assert got["resyncHistory"] == ["resync"], "a difference found in a fresh snapshot is noted as such"
    assert got["early"] == [False, 0, False], "changes before any snapshot are ignored"


def test_another_epoch_or_a_resync_message_asks_for_a_snapshot(page):
    got = run(page, """
      let {state} = store.processMessages(store.initialState(), [{type: 'snapshot', payload: snapshot()}], 1000);
      const other = store.processMessages(state, [{type: 'changes', payload: {prev: 50, seq: 60, epoch: 'e2',
        changes: [{seq: 60, kind: 'device', id: 'q-1', data: dev('q-1', 'Running', 'Good')}]}}], 2000);
      const told = store.processMessages(state, [{type: 'resync', payload: {reason: 'backlog'}}], 2000);
      // A snapshot later in the same batch supersedes the gap seen before it.
      const healed = store.processMessages(state, [{type: 'resync'}, {type: 'snapshot', payload: snapshot({epoch: 'e2', seq: 3})}], 2000);
      const notReady = store.processMessages(store.initialState(), [{type: 'resync'}], 2000);
      return {other: [other.resync, other.state.syncing, other.state.devices.get('q-1').state, other.state.epoch],
              told: [told.resync, told.state.syncing], healed: [healed.resync, healed.state.syncing, healed.state.epoch, healed.state.seq],
              notReady: [notReady.resync, notReady.state.syncing]};""")
    assert got["other"] == [True, True, "Idle", "e1"]
    assert got["told"] == [True, True]
    assert got["healed"] == [False, False, "e2", 3], "seq of a new epoch may go back"
    assert got["notReady"] == [True, False]


def test_a_snapshot_for_another_viewer_keeps_nothing_of_before(page):
    """Found by an audit: after a page's session ended while it was away, its fresh anonymous
    snapshot redacted the job, but the feed and the job's history kept its description, submitter
    and messages (and the resync's history entry quoted them)."""
    got = run(page, """
      const secret = {id: 50, state: 'Running', health: 'Unknown', device: 'q-1', description: 'SECRET-DESC',
                      submitter: 'alice', updated: '2026-11-27T10:30:00Z'};
      const redacted = {id: 50, state: 'Running', health: 'Unknown', device: 'q-1', hidden: true,
                        updated: '2026-11-27T10:30:00Z'};
      const mine = snapshot({view: 'alice-tag', jobs: [secret]});
      let {state} = store.processMessages(store.initialState(), [{type: 'snapshot', payload: mine}], 1000);
      ({state} = store.processMessages(state, [{type: 'changes', payload: {prev: 100, seq: 102, epoch: 'e1',
        changes: [{seq: 101, kind: 'job', id: 50, data: {...secret, state: 'Canceling'}},
                  {seq: 102, kind: 'event', id: 'ev-9', data: {uuid: 'ev-9', time: '2026-11-27T10:41:00Z',
                   type: 'event', job: 50, message: 'SECRET-MESSAGE'}}]}}], 2000));
      const held = JSON.stringify([state.feed, [...state.history]]);
      const same = store.processMessages(state, [{type: 'snapshot', payload: snapshot({view: 'alice-tag', seq: 103,
        jobs: [{...secret, state: 'Canceling'}]})}], 3000).state;
      const other = store.processMessages(state, [{type: 'snapshot', payload: snapshot({view: 'anonymous-tag',
        seq: 103, jobs: [redacted], events: []})}], 3000).state;
      return {held, kept: same.feed.length, view: other.view, job: other.jobs.get('50'),
              after: JSON.stringify([other.feed, [...other.history], [...other.jobs.values()], other.events])};""")
    assert "SECRET-DESC" in got["held"] and "SECRET-MESSAGE" in got["held"]  # (what it held)
    assert got["kept"] >= 3, "the same viewer's fresh snapshot keeps the feed"
    assert got["view"] == "anonymous-tag" and got["job"]["hidden"] is True
    for secret in ("SECRET-DESC", "SECRET-MESSAGE", "alice"):
        assert secret not in got["after"], secret


def test_a_job_that_comes_redacted_after_it_was_shown_in_full_leaves_nothing_behind(page):
    """Found by a review: when LAVA made a job private (the model's visibility, not the viewer's
    view), the job came redacted, but the feed kept its messages and "submitted by", and its
    history gained an entry listing "description: SECRET → —", in a change and in a snapshot."""
    got = run(page, """
      const secret = {id: 50, state: 'Running', health: 'Unknown', device: 'q-1', description: 'SECRET-DESC',
                      submitter: 'alice', updated: '2026-11-27T10:30:00Z'};
      const redacted = {id: 50, state: 'Running', health: 'Unknown', device: 'q-1', hidden: true,
                        updated: '2026-11-27T10:31:00Z'};
      const held = () => {
        let {state} = store.processMessages(store.initialState(), [{type: 'snapshot', payload: snapshot({jobs: [secret]})}], 1000);
        ({state} = store.processMessages(state, [{type: 'changes', payload: {prev: 100, seq: 103, epoch: 'e1',
          changes: [{seq: 101, kind: 'device', id: 'b-1', data: {...dev('b-1', 'Running', 'Good'), device_type: 'bbb'}},
                    {seq: 102, kind: 'job', id: 50, data: {...secret, state: 'Canceling'}},
                    {seq: 103, kind: 'event', id: 'ev-9', data: {uuid: 'ev-9', time: '2026-11-27T10:41:00Z',
                     type: 'event', job: 50, message: 'SECRET-MESSAGE'}}]}}], 2000));
        return state;
      };
      const text = (state) => JSON.stringify([state.feed, [...state.history], [...state.jobs.values()], state.events]);
      const before = held();
      const changed = store.processMessages(before, [{type: 'changes', payload: {prev: 103, seq: 104, epoch: 'e1',
        changes: [{seq: 104, kind: 'job', id: 50, data: redacted}]}}], 3000).state;
      const resynced = store.processMessages(held(), [{type: 'snapshot', payload: snapshot({seq: 104,
        jobs: [redacted], events: []})}], 3000).state;
      return {before: text(before), changed: text(changed), resynced: text(resynced),
              jobs: [changed.jobs.get('50').hidden, resynced.jobs.get('50').hidden],
              others: [changed.feed.some((i) => i.id === 'b-1'), resynced.feed.some((i) => i.id === 'b-1')]};""")
    assert "SECRET-DESC" in got["before"] and "SECRET-MESSAGE" in got["before"]  # (what it held)
    assert got["jobs"] == [True, True]
    for name in ("changed", "resynced"):
        for secret in ("SECRET-DESC", "SECRET-MESSAGE", "alice"):
            assert secret not in got[name], (name, secret)
    assert got["others"] == [True, True], "the rest of the feed stays"


def test_a_device_lava_no_longer_shows_leaves_nothing_behind_in_the_page(page):
    """A wall runs for weeks: when LAVA hides a board, the server takes it and its jobs out with
    removals marked `screened`, and the page dropped nothing but the objects: its feed kept the
    board's changes, its jobs' and their messages, until newer ones pushed them out. A page away
    when the removals came learns it from the next snapshot of the whole lab."""
    got = run(page, """
      const held = () => {
        let {state} = store.processMessages(store.initialState(), [{type: 'snapshot', payload: snapshot()}], 1000);
        ({state} = store.processMessages(state, [{type: 'changes', payload: {prev: 100, seq: 104, epoch: 'e1',
          changes: [{seq: 101, kind: 'device', id: 'q-1', data: {...dev('q-1', 'Running', 'Good'), job: 50}},
                    {seq: 102, kind: 'job', id: 50, data: {id: 50, state: 'Running', health: 'Unknown',
                     device: 'q-1', description: 'SECRET-DESC', updated: '2026-11-27T10:40:00Z'}},
                    {seq: 103, kind: 'event', id: 'ev-9', data: {uuid: 'ev-9', time: '2026-11-27T10:41:00Z',
                     type: 'event', job: 50, device: 'q-1', message: 'SECRET-MESSAGE'}},
                    {seq: 104, kind: 'device', id: 'b-1', data: {...dev('b-1', 'Running', 'Good'), device_type: 'bbb'}}]}}], 2000));
        return state;
      };
      const text = (state) => JSON.stringify([state.feed, [...state.history], state.events]);
      const removed = (screened) => store.processMessages(held(), [{type: 'changes', payload: {prev: 104, seq: 106,
        epoch: 'e1', changes: [{seq: 105, kind: 'job', id: 50, data: null, ...screened},
                               {seq: 106, kind: 'device', id: 'q-1', data: null, ...screened}]}}], 3000).state;
      const screened = removed({screened: true});
      const gone = removed({});
      const resynced = (filter) => store.processMessages(held(), [{type: 'snapshot', payload: snapshot({seq: 106,
        filter, devices: [{...dev('b-1', 'Running', 'Good'), device_type: 'bbb'}], jobs: [], events: []})}], 3000).state;
      // The server restarted (another epoch): its model may not hold every board yet.
      const restarted = store.processMessages(held(), [{type: 'snapshot', payload: snapshot({seq: 3,
        epoch: 'e2', devices: [], jobs: [], events: []})}], 3000).state;
      return {before: text(held()), screened: text(screened), gone: text(gone),
              whole: text(resynced({})), filtered: text(resynced({health: ['Good']})),
              restarted: text(restarted),
              devices: [...screened.devices.keys()],
              others: [screened, resynced({})].map((s) => s.feed.some((i) => i.id === 'b-1'))};""")
    for secret in ("q-1", "SECRET-DESC", "SECRET-MESSAGE"):
        assert secret in got["before"], secret  # (what the page held)
        assert secret not in got["screened"], ("screened", secret)
        assert secret not in got["whole"], ("a snapshot of the whole lab", secret)
    assert got["devices"] == ["b-1"] and got["others"] == [True, True], "the rest stays"
    # An ordinary removal (a job forgotten, a device LAVA retired) keeps the feed: it is history.
    assert "SECRET-MESSAGE" in got["gone"] and "q-1" in got["gone"]
    # A snapshot under a filter may leave a board out for the filter alone: its entries stay; so
    # do they after the server's restart, whose model may not hold every board yet (a review
    # found a wall's feed emptied at every restart in lava mode).
    assert "SECRET-MESSAGE" in got["filtered"]
    assert "SECRET-MESSAGE" in got["restarted"] and "b-1" in got["restarted"]


def test_finished_jobs_stay_bounded_as_changes_come(page):
    got = run(page, """
      let {state} = store.processMessages(store.initialState(), [{type: 'snapshot', payload: snapshot()}], 1000);
      const changes = Array.from({length: 5}, (_, i) => ({seq: 101 + i, kind: 'job', id: 20 + i,
        data: {id: 20 + i, state: 'Finished', health: 'Incomplete', end_time: `2026-11-27T11:0${i}:00Z`}}));
      ({state} = store.processMessages(state, [{type: 'changes', payload: {prev: 100, seq: 105, epoch: 'e1', changes}}], 2000));
      return [...state.jobs.values()].filter((j) => j.state === 'Finished').map((j) => j.id).sort((a, b) => a - b);""")
    assert got == [11, 12, 20, 21, 22, 23, 24], "the newest 7: the five that just ended, then 12 and 11"


def test_meta_merges_known_fields_only(page):
    got = run(page, """
      const base = store.initialState({simulated: true, lava_url: 'https://a'}).meta;
      const m1 = store.mergeMeta(base, {lava: {state: 'error', error: 'down', token: 'secret'}, extra: 1});
      const m2 = store.mergeMeta(m1, {cluster: {state: 'ok', error: null}, simulated: 'yes'});
      const m3 = store.mergeMeta(m2, 'nonsense');
      const m4 = store.mergeMeta(m2, {access: 'lava', store_recovered: {moved_to: 'events.sqlite3.corrupt-1', reason: 'x'}});
      const m5 = store.mergeMeta(m4, {access: 'everyone', store_recovered: 'no'});
      const m6 = store.mergeMeta(m5, {sources: [{name: 'wss://l/ws/', kind: 'websocket', state: 'connecting',
        lost: true, token: 'secret', since: '2026-12-05T01:00:00+00:00'}, 'junk', {name: 7, since: 5}]});
      const m7 = store.mergeMeta(m6, {sources: 'nonsense'});
      const viaStatus = store.processMessages(store.initialState(), [{type: 'status', payload: {lava: {state: 'ok', error: null}}}], 1);
      return {m1, m2, m4, m5, m6, m7, same: m3 === m2, status: viaStatus.state.meta.lava};""")
    assert got["m6"]["sources"] == [{"name": "wss://l/ws/", "kind": "websocket", "state": "connecting",
                                     "lost": True, "since": "2026-12-05T01:00:00+00:00"},
                                    {"name": "", "kind": "", "state": "", "lost": False, "since": None}]
    assert got["m7"]["sources"] == got["m6"]["sources"]
    assert got["m1"] == {"simulated": True, "lava_url": "https://a",
                         "lava": {"state": "error", "error": "down", "since": None},
                         "cluster": None, "access": None, "store_recovered": None, "sources": None}
    assert got["m4"]["access"] == "lava" and got["m4"]["store_recovered"] == {"moved_to": "events.sqlite3.corrupt-1"}
    assert got["m5"]["access"] == "lava" and got["m5"]["store_recovered"] == got["m4"]["store_recovered"]
    assert got["m2"]["cluster"] == {"state": "ok", "error": None, "since": None} and got["m2"]["simulated"] is True
    assert got["m2"]["lava"] == {"state": "error", "error": "down", "since": None} and got["same"]
    assert got["status"] == {"state": "ok", "error": None, "since": None}


def test_the_feed_survives_a_new_snapshot_trimmed_to_its_filter(page):
    got = run(page, """
      let {state} = store.processMessages(store.initialState(), [{type: 'snapshot', payload: snapshot()}], 1000);
      ({state} = store.processMessages(state, [{type: 'changes', payload: {prev: 100, seq: 102, epoch: 'e1', changes: [
        {seq: 101, kind: 'device', id: 'q-1', data: dev('q-1', 'Running', 'Good')},
        {seq: 102, kind: 'device', id: 'b-1', data: {...dev('b-1', 'Running', 'Good'), device_type: 'bbb'}}]}}], 2000));
      const before = state.feed.map((i) => i.id);
      // The filter changes to qemu devices: b-1's entry goes, ev-1 is kept once, ev-3 is new.
      ({state} = store.processMessages(state, [{type: 'snapshot', payload: snapshot({seq: 120,
        filter: {device_types: ['qemu']}, devices: [dev('q-1', 'Running', 'Good')], events: [
          {uuid: 'ev-1', time: '2026-11-27T10:05:00Z', type: 'event', job: 50, message: 'booting', device_type: 'qemu'},
          {uuid: 'ev-3', time: '2026-11-27T10:50:00Z', type: 'event', job: 50, message: 'later', device_type: 'qemu'}]})}], 3000));
      return {before, after: state.feed.map((i) => i.id), filter: state.filter};""")
    assert got["before"] == ["b-1", "q-1", "ev-1"]
    # ev-1 as the new snapshot has it (with its device type), once; newest first.
    assert got["after"] == ["ev-3", "q-1", "ev-1"]
    assert got["filter"] == {"device_types": ["qemu"]}


def test_feed_entries_of_two_epochs_never_share_a_key(page):
    """Found by an audit: a change's number starts again in the server's next run, and the feed
    keeps entries of the run before: two entries had the same key (Preact's list key)."""
    got = run(page, """
      let {state} = store.processMessages(store.initialState(), [{type: 'snapshot', payload: snapshot()}], 1000);
      ({state} = store.processMessages(state, [{type: 'changes', payload: {prev: 100, seq: 101, epoch: 'e1',
        changes: [{seq: 101, kind: 'device', id: 'q-1', data: dev('q-1', 'Running', 'Good')}]}}], 2000));
      ({state} = store.processMessages(state, [{type: 'snapshot', payload: snapshot({epoch: 'e2', seq: 100})}], 3000));
      ({state} = store.processMessages(state, [{type: 'changes', payload: {prev: 100, seq: 101, epoch: 'e2',
        changes: [{seq: 101, kind: 'device', id: 'b-1', data: dev('b-1', 'Running', 'Good')}]}}], 4000));
      return state.feed.filter((i) => i.seq === 101).map((i) => i.key);""")
    assert sorted(got) == ["e1:101", "e2:101"]


def test_a_jobs_log_lines_merge_by_number_and_keep_the_newest(page):
    """logtail.js: an ack after a reconnect repeats lines (each is kept once, in order); a page
    keeps the newest MAX_LOG_LINES; a refusal and the end of a job are told apart."""
    got = page.evaluate("""async () => {
      const t = await import('/static/js/logtail.js');
      const l = (n) => ({n, dt: null, lvl: 'info', msg: 'm' + n});
      const a = t.mergeLogLines([], [l(0), l(1), l(2)]);
      const again = t.mergeLogLines(a, [l(1), l(2), l(3)]);
      const late = t.mergeLogLines([l(5), l(6)], [l(4)]);
      const big = t.mergeLogLines([], Array.from({length: 700}, (_, i) => l(i)));
      const empty = {lines: a, finished: false, error: null, refused: false, code: null, started: true};
      const refused = t.reduceLog(empty, {type: 'ack', ok: false, code: 'forbidden', error: 'not shown to you'});
      const lost = t.reduceLog(empty, {type: 'lines', lines: [], code: 'forbidden', error: 'not shown to you', finished: true});
      const failing = t.reduceLog(empty, {type: 'lines', lines: [], finished: false, error: 'HTTP 500'});
      const done = t.reduceLog(failing, {type: 'lines', lines: [l(3)], finished: true, error: null});
      return {again: again.map((x) => x.n), late: late.map((x) => x.n), bigLen: big.length,
              bigFirst: big[0].n, max: t.MAX_LOG_LINES, same: t.mergeLogLines(a, []) === a,
              refused: [refused.refused, refused.code, refused.lines.length],
              lost: [lost.refused, lost.code], failing: [failing.error, failing.refused],
              done: [done.finished, done.error, done.lines.map((x) => x.n)]};
    }""")
    assert got["again"] == [0, 1, 2, 3] and got["late"] == [4, 5, 6]
    assert got["max"] == 500 and got["bigLen"] == 500 and got["bigFirst"] == 200
    assert got["same"] is True
    assert got["refused"] == [True, "forbidden", 3] and got["lost"] == [True, "forbidden"]
    assert got["failing"] == ["HTTP 500", False]
    assert got["done"] == [True, None, [0, 1, 2, 3]]


def test_older_firing_alerts_merge_by_when_they_fired_in_lavas_time_forms(browser, app):
    """alerts.js `withFiring`: the firing alerts older than the newest page join it once each, newest
    first, whatever form the times take (microseconds, no zone: UTC, as time.js reads them, in a
    browser whose zone is not UTC); an alert without a time goes last."""
    context = browser.new_context(timezone_id="Asia/Kolkata")
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(app.url + "/")
    page.wait_for_selector(".dashboard .topbar", timeout=10000)
    got = page.evaluate("""async () => {
      const { withFiring } = await import('/static/js/alerts.js');
      const a = (id, fired_at, lab) => ({ id, fired_at, lab, status: 'firing' });
      const newest = [a(9, '2026-12-05T06:00:00.123456+00:00'), a(8, '2026-12-05T05:59:00Z')];
      const firing = [a(8, '2026-12-05T05:59:00Z'), a(3, '2026-12-05T05:00:00.999999'),
                      a(4, '2026-12-05T05:30:00.5+01:00'), a(5, null), a(3, '2026-12-05T05:00:00Z', 'east')];
      return withFiring(newest, firing).map((x) => `${x.lab || ''}${x.id}`);
    }""")
    # 4 fired at 04:30 UTC (+01:00); 3 at 05:00 UTC in both labs (the same time: kept in order).
    try:
        assert got == ["9", "8", "3", "east3", "4", "5"]
        assert page.evaluate("new Date(0).getTimezoneOffset()") == -330  # (the zone is in force)
        assert not page.errors, page.errors
    finally:
        context.close()
