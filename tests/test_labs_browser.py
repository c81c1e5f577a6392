"""Several labs in one dashboard (issue 14), in the browser: Debian's Chromium driven by Playwright.

First the page's own modules with crafted messages of two labs, `east` and `west`, that have the
SAME device hostname (q-1), worker (w-1) and job id (42): store.js keeps them apart (labs.js keys),
a change or a removal in one lab leaves the other alone, and every relation (a device's job, a job's
device, a worker's devices, the attention strip, the groups, the queues, the links to LAVA) stays
within its lab; a dashboard of one unnamed lab keeps the keys it always had. The whole page is
then drawn from such a state (App.js rendered into the page with a crafted state).

Then end to end: the app started with a TOML file of two simulated labs (`--labs`): every device
is shown with its lab, `?lab=east` shows only east's, and a wall shows both labs.
"""
import re

import pytest

from tests.helpers import AppProcess, wait_until
from tests.test_app_browser import open_page
# The app of one unnamed lab (no store): it serves the modules and the bootstrap they read.
from tests.test_attention_browser import served  # noqa: F401 (a fixture)
from tests.test_job_log import shoot
from tests.test_wall_browser import CLIPPED

# The wall's check that no word is cut, with the labs' words too.
CLIPPED_LABS = CLIPPED.replace("'.panel-title'", "'.panel-title', '.device-group-lab', '.lab-state', '.tile-lab'")
assert CLIPPED_LABS != CLIPPED

# Two labs with the same hostname, worker and job id; east has a LAVA URL, west (simulated) none.
TWO_LABS_JS = """
const LABS = [{name: 'east', lava_url: 'https://lava.east.example.org', simulated: false},
              {name: 'west', lava_url: '', simulated: true}];
const T = '2026-11-27T10:00:00Z';
const dev = (lab, hostname, over = {}) => ({lab, hostname, device_type: 'qemu', state: 'Running', health: 'Good',
  worker: 'w-1', job: 42, since: T, updated: T, ...over});
const job = (lab, id, over = {}) => ({lab, id, state: 'Running', health: 'Unknown', device: 'q-1', device_type: 'qemu',
  worker: 'w-1', description: `${lab} job ${id}`, submitter: 'alice', submit_time: T, start_time: T, updated: T, ...over});
const wrk = (lab, hostname, over = {}) => ({lab, hostname, state: 'Online', health: 'Active', since: T, updated: T, ...over});
const twoLabs = (over = {}) => ({
  seq: 10, epoch: 'e1', filter: {},
  meta: {simulated: false, lava_url: '', lava: null, cluster: null, labs: LABS,
         sources: [{lab: 'east', name: 'tcp://lava.east.example.org:5500', kind: 'zmq', state: 'connected', lost: false},
                   {lab: 'west', name: 'tcp://127.0.0.1:5501', kind: 'zmq', state: 'disconnected', lost: true}]},
  devices: [dev('east', 'q-1'), dev('west', 'q-1', {state: 'Idle', job: null})],
  jobs: [job('east', 42), job('west', 42, {state: 'Finished', health: 'Complete', end_time: T})],
  workers: [wrk('east', 'w-1'), wrk('west', 'w-1')],
  events: [{lab: 'east', uuid: 'ev-1', time: T, type: 'event', job: 42, message: 'east boots'},
           {lab: 'west', uuid: 'ev-1', time: T, type: 'event', job: 42, message: 'west boots'}],
  ...over,
});
const apply = (state, messages, now = 1000) => store.processMessages(state, messages, now).state;
const batch = (prev, seq, changes) => ({type: 'changes', payload: {prev, seq, epoch: 'e1', changes}});
"""


@pytest.fixture
def page(browser, served):
    page = open_page(browser)
    page.goto(served.url + "/")
    page.wait_for_selector(".dashboard .topbar", timeout=10000)
    yield page
    # The details panel asks the REST API for history, which this app (--no-store) answers with 400.
    errors = [e for e in page.errors if "status of 400" not in e]
    assert errors == [] and page.evaluate("window.__csp") == []
    page.context.close()


def run(page, body):
    """Evaluate `body` with store.js, labs.js, selectors.js, attention.js and queue.js in scope."""
    return page.evaluate("""async () => {
      const store = await import('/static/js/store.js');
      const labs = await import('/static/js/labs.js');
      const s = await import('/static/js/selectors.js');
      const a = await import('/static/js/attention.js');
      const q = await import('/static/js/queue.js');
    """ + TWO_LABS_JS + body + "\n}")


# -- the store: one key per lab and id ---------------------------------------------------------


def test_two_labs_with_the_same_hostname_worker_and_job_id_are_kept_apart(page):
    got = run(page, """
      const state = apply(store.initialState(), [{type: 'snapshot', payload: twoLabs()}]);
      return {devices: [...state.devices.keys()], jobs: [...state.jobs.keys()], workers: [...state.workers.keys()],
              east: state.devices.get('east/q-1').state, west: state.devices.get('west/q-1').state,
              jobs42: [state.jobs.get('east/42').description, state.jobs.get('west/42').description],
              events: state.events.map((e) => `${e.lab}:${e.message}`),
              feed: state.feed.map((i) => [i.id, i.name, i.lab]).sort(),
              labs: state.labs, metaKeys: Object.keys(state.meta).sort(),
              sources: state.meta.sources.map((x) => `${x.lab}:${x.state}`)};""")
    assert got["devices"] == ["east/q-1", "west/q-1"]
    assert got["jobs"] == ["east/42", "west/42"] and got["workers"] == ["east/w-1", "west/w-1"]
    assert got["east"] == "Running" and got["west"] == "Idle"
    assert got["jobs42"] == ["east job 42", "west job 42"]
    # The same uuid in two labs is two messages.
    assert sorted(got["events"]) == ["east:east boots", "west:west boots"]
    assert got["feed"] == [["east/ev-1", "ev-1", "east"], ["west/ev-1", "ev-1", "west"]]
    assert [lab["name"] for lab in got["labs"]] == ["east", "west"]
    assert got["labs"][0] == {"name": "east", "lava_url": "https://lava.east.example.org", "simulated": False,
                              "lava": None}
    # The labs are the state's, next to meta: meta keeps the fields it always had.
    assert got["metaKeys"] == ["access", "cluster", "lava", "lava_url", "simulated", "sources", "store_recovered"]
    assert got["sources"] == ["east:connected", "west:disconnected"]


def test_a_change_in_one_lab_leaves_the_other_alone(page):
    got = run(page, """
      const before = apply(store.initialState(), [{type: 'snapshot', payload: twoLabs()}]);
      const after = apply(before, [batch(10, 14, [
        {seq: 11, kind: 'device', id: 'q-1', lab: 'east', data: dev('east', 'q-1', {health: 'Bad'})},
        {seq: 12, kind: 'event', id: 'ev-2', lab: 'west', data: {lab: 'west', uuid: 'ev-2', time: T, type: 'event',
                                                                 job: 42, message: 'west says hi'}},
        // A change that names its lab only in its object is understood the same way.
        {seq: 13, kind: 'worker', id: 'w-1', data: wrk('west', 'w-1', {state: 'Offline'})},
        // ... and one that names it only next to its id: its object is given its lab.
        {seq: 14, kind: 'job', id: 7, lab: 'east', data: {id: 7, state: 'Submitted', device_type: 'qemu'}}])], 2000);
      return {eastHealth: after.devices.get('east/q-1').health,
              westShared: after.devices.get('west/q-1') === before.devices.get('west/q-1'),
              eastWorker: after.workers.get('east/w-1').state, westWorker: after.workers.get('west/w-1').state,
              eastWorkerShared: after.workers.get('east/w-1') === before.workers.get('east/w-1'),
              job7: after.jobs.get('east/7').lab, seq: after.seq,
              history: [...after.history.keys()].sort(),
              feed: after.feed.slice(0, 3).map((i) => [i.kind, i.id, i.name, i.lab])};""")
    assert got["eastHealth"] == "Bad" and got["westShared"] is True
    assert got["eastWorker"] == "Online" and got["westWorker"] == "Offline" and got["eastWorkerShared"]
    # Each change is noted in its own lab's object: west's job 42 got the message, not east's.
    assert got["job7"] == "east" and got["seq"] == 14
    assert got["history"] == ["device:east/q-1", "job:east/7", "job:west/42", "worker:west/w-1"]
    assert got["feed"] == [["job", "east/7", "7", "east"], ["worker", "west/w-1", "w-1", "west"],
                           ["event", "west/ev-2", "ev-2", "west"]]


def test_a_removal_in_one_lab_removes_only_that_labs_object(page):
    got = run(page, """
      let state = apply(store.initialState(), [{type: 'snapshot', payload: twoLabs()}]);
      state = apply(state, [batch(10, 12, [
        {seq: 11, kind: 'job', id: 42, lab: 'west', data: null},
        {seq: 12, kind: 'device', id: 'q-1', lab: 'east', data: null}])]);
      return {jobs: [...state.jobs.keys()], devices: [...state.devices.keys()],
              westDevice: state.devices.get('west/q-1').hostname};""")
    assert got["jobs"] == ["east/42"] and got["devices"] == ["west/q-1"] and got["westDevice"] == "q-1"


def test_relations_stay_within_a_lab(page):
    """A device's job, a job's device, a worker's devices, Offline workers, health checks, queues,
    groups and LAVA links: each found in the object's own lab."""
    got = run(page, """
      let state = apply(store.initialState(), [{type: 'snapshot', payload: twoLabs({
        devices: [dev('east', 'q-1', {health: 'Bad', job: null, state: 'Idle'}), dev('west', 'q-1', {state: 'Idle', job: null}),
                  dev('west', 'q-2', {state: 'Idle', job: null, worker: 'w-2'}), dev('east', 'b-1', {device_type: 'bbb', job: 7})],
        jobs: [job('east', 42, {state: 'Finished', health: 'Incomplete', health_check: true, end_time: T}),
               job('west', 42, {state: 'Finished', health: 'Complete', health_check: true, end_time: T}),
               job('east', 7, {device: 'b-1', device_type: 'bbb'}),
               job('east', 50, {state: 'Submitted', device: null, worker: null, start_time: null,
                                submit_time: new Date(Date.now() - 30 * 60000).toISOString()}),
               job('west', 50, {state: 'Submitted', device: null, worker: null, start_time: null,
                                submit_time: new Date(Date.now() - 30 * 60000).toISOString()})],
        workers: [wrk('east', 'w-1'), wrk('west', 'w-1', {state: 'Offline'}), wrk('west', 'w-2')]})}]);
      const b1 = state.devices.get('east/b-1');
      const j7 = state.jobs.get(labs.relatedKey(b1, b1.job));
      const offline = new Set([...state.workers].filter(([, w]) => w.state === 'Offline').map(([k]) => k));
      const byType = s.groupDevices(state.devices, 'type').groups;
      const bases = labs.lavaBases('', state.labs);
      return {
        jobOfDevice: j7.description, deviceOfJob: state.devices.get(labs.relatedKey(j7, j7.device)).device_type,
        workers: [...s.devicesByWorker(state.devices)].sort(),
        checks: [...a.lastHealthChecks(state.jobs)].map(([k, j]) => [k, j.health]).sort(),
        attention: a.attentionItems({devices: state.devices, jobs: state.jobs, workers: state.workers}, Date.now())
          .map((i) => [i.kind, i.id, i.lab, i.text]),
        queues: [...q.queueByType(state.jobs)].map(([k, v]) => [k, v.lab, v.type, v.count]).sort(),
        byType: byType.map((g) => [g.key, g.lab, g.name, g.devices.map((d) => d.hostname).join(' ')]),
        byLab: s.groupDevices(state.devices, 'lab').groups.map((g) => [g.key, g.devices.length]),
        byWorker: s.groupDevices(state.devices, 'worker').groups.map((g) => g.key),
        problems: s.problemsFirst(byType, offline).map((g) => g.key),
        ranks: [...state.devices].map(([k, d]) => [k, s.problemRank(d, offline)]).sort(),
        links: [labs.baseFor(bases, 'east'), labs.baseFor(bases, 'west'), labs.baseFor(bases, 'north')],
        split: [labs.splitKey('east/q-1', ['east', 'west']), labs.splitKey('north/x', ['east', 'west']),
                labs.splitKey('q-1', [])],
        rest: [labs.withLab('/api/v1/jobs/42', 'east'), labs.withLab('/api/v1/x?window=24h', 'west'),
               labs.withLab('/api/v1/jobs/42', '')],
        labState: ['east', 'west', 'north'].map((l) => labs.labState(l, state.meta.sources, Date.now())),
        alertKey: a.alertObject({subject_kind: 'device', subject: 'q-1', lab: 'west'}),
      };""")
    assert got["jobOfDevice"] == "east job 7" and got["deviceOfJob"] == "bbb"
    assert got["workers"] == [["east/w-1", ["b-1", "q-1"]], ["west/w-1", ["q-1"]], ["west/w-2", ["q-2"]]]
    assert got["checks"] == [["east/q-1", "Incomplete"], ["west/q-1", "Complete"]]
    # West's w-1 is Offline: its one device; east's q-1 is Bad (its own w-1 is Online, so it is not
    # folded into west's worker item); each queue of qemu waits in its own lab, where no qemu device
    # is Idle and Good (east's q-1 is Bad; west's q-1 is under its Offline worker, q-2 is Idle Good).
    assert [i[:3] for i in got["attention"]] == [["worker", "west/w-1", "west"], ["device", "east/q-1", "east"],
                                                 ["queue", "east/qemu", "east"]]
    assert re.fullmatch(r"west · worker w-1 Offline [^:]+: 1 device", got["attention"][0][3]), got["attention"]
    assert got["attention"][1][3].startswith("east · q-1 Bad") and "last health check #42 Incomplete" in got["attention"][1][3]
    assert got["attention"][2][3].startswith("east · qemu: 1 queued")
    assert got["queues"] == [["east/qemu", "east", "qemu", 1], ["west/qemu", "west", "qemu", 1]]
    assert got["byType"] == [["east/bbb", "east", "bbb", "b-1"], ["east/qemu", "east", "qemu", "q-1"],
                             ["west/qemu", "west", "qemu", "q-1 q-2"]]
    assert got["byLab"] == [["east", 2], ["west", 2]]
    assert got["byWorker"] == ["east/w-1", "west/w-1", "west/w-2"]
    assert got["problems"][0] == "west/qemu", "the group under an Offline worker first"
    assert got["ranks"] == [["east/b-1", 5], ["east/q-1", 1], ["west/q-1", 0], ["west/q-2", 5]]
    assert got["links"] == ["https://lava.east.example.org", "", ""]
    assert got["split"] == [{"lab": "east", "id": "q-1"}, {"lab": "", "id": "north/x"}, {"lab": "", "id": "q-1"}]
    assert got["rest"] == ["/api/v1/jobs/42?lab=east", "/api/v1/x?window=24h&lab=west", "/api/v1/jobs/42"]
    assert got["labState"] == ["live", "down", "unknown"]
    assert got["alertKey"] == "device:west/q-1"


def test_one_unnamed_lab_keeps_the_keys_it_always_had(page):
    got = run(page, """
      const strip = (o) => { const {lab, ...rest} = o; return rest; };
      const snap = twoLabs({meta: {simulated: false, lava_url: 'https://lava.example.org', labs: [],
                                   sources: [{name: 'tcp://l:5500', kind: 'zmq', state: 'connected'}]},
                            devices: [strip(dev('', 'q-1'))], jobs: [strip(job('', 42))], workers: [strip(wrk('', 'w-1'))],
                            events: [{uuid: 'ev-1', time: T, type: 'event', job: 42, message: 'boots'}]});
      let state = apply(store.initialState(), [{type: 'snapshot', payload: snap}]);
      state = apply(state, [batch(10, 11, [{seq: 11, kind: 'job', id: 42, data: strip(job('', 42, {state: 'Finished'}))}])]);
      const bases = labs.lavaBases(state.meta.lava_url, state.labs);
      return {devices: [...state.devices.keys()], jobs: [...state.jobs.keys()], workers: [...state.workers.keys()],
              history: [...state.history.keys()], feed: state.feed.map((i) => [i.id, i.name, i.lab]), labs: state.labs,
              sources: state.meta.sources, groups: s.groupDevices(state.devices, 'type').groups.map((g) => [g.key, g.lab, g.name]),
              byWorker: [...s.devicesByWorker(state.devices)], queue: [...q.queueByType(new Map([['1',
                {id: 1, state: 'Submitted', device_type: 'qemu', submit_time: T}]]))].map(([k]) => k),
              link: labs.baseFor(bases, undefined), key: labs.keyOf('job', {id: 42})};""")
    assert got["devices"] == ["q-1"] and got["jobs"] == ["42"] and got["workers"] == ["w-1"]
    assert got["history"] == ["job:42"]
    assert got["feed"] == [["42", "42", ""], ["ev-1", "ev-1", ""]]
    assert got["labs"] == [] and got["sources"] == [
        {"name": "tcp://l:5500", "kind": "zmq", "state": "connected", "lost": False, "since": None}]  # no `lab` key
    assert got["groups"] == [["qemu", "", "qemu"]] and got["byWorker"] == [["w-1", ["q-1"]]]
    assert got["queue"] == ["qemu"] and got["link"] == "https://lava.example.org" and got["key"] == "42"


def test_labs_come_with_status_messages_and_keep_their_identity_when_unchanged(page):
    got = run(page, """
      let state = apply(store.initialState(), [{type: 'snapshot', payload: twoLabs()}]);
      const before = state.labs;
      state = apply(state, [{type: 'status', payload: {labs: JSON.parse(JSON.stringify(LABS))}}]);
      const same = state.labs === before;
      state = apply(state, [{type: 'status', payload: {labs: [...LABS, {name: 'north', lava_url: 'https://n'},
        {name: 42}, 'junk', {name: 'x'.repeat(300)}]}}]);
      const many = labs.labsOf(Array.from({length: 100}, (_, i) => ({name: `lab-${i}`}))).length;
      return {same, names: state.labs.map((l) => l.name), many, max: labs.MAX_LABS,
              kept: apply(state, [{type: 'status', payload: {lava: {state: 'ok'}}}]).labs.length};""")
    assert got["same"] is True
    assert got["names"] == ["east", "west", "north"], "names that are not short strings are left out"
    assert got["many"] == got["max"] == 64
    assert got["kept"] == 3, "a status without labs keeps them"


def test_the_lab_filter_and_a_labs_key_round_trip_through_the_url(page):
    got = page.evaluate("""async () => {
      const url = await import('/static/js/url.js');
      const filter = await import('/static/js/filter.js');
      const p = await import('/static/js/protocol.js');
      const o = url.parseOptions('?lab=west,east&lab=north&group=lab&detail=device:east/q-1');
      const plain = url.parseOptions('?device_type=qemu&detail=job:42');
      return {served: p.FILTER_KEYS.includes('labs'), labs: o.filter.labs, group: o.group, detail: o.detail,
              search: url.serializeOptions(o), again: url.parseOptions(url.serializeOptions(o)), o,
              sub: filter.subscriptionFilter(o), plain: url.serializeOptions(plain),
              cleared: url.clearFilters(o).filter.labs, rate: url.RATE_KEYS.map(([k]) => k),
              match: [filter.matchesFilter({labs: ['east']}, 'device', {lab: 'east'}),
                      filter.matchesFilter({labs: ['east']}, 'job', {lab: 'west'})]};
    }""")
    assert got["served"], "the server's filter keys include labs"
    assert got["labs"] == ["west", "east", "north"] and got["group"] == "lab"
    assert got["detail"] == {"kind": "device", "id": "east/q-1"}
    assert got["search"] == "?group=lab&lab=west,east,north&detail=device:east/q-1"
    assert got["again"] == got["o"]
    assert got["sub"] == {"labs": ["east", "north", "west"]}
    assert got["plain"] == "?device_type=qemu&detail=job:42", "one lab: the URL it always had"
    assert got["cleared"] == [] and "lab" not in got["rate"]
    assert got["match"] == [True, False]


# -- the page drawn from a two-lab state ---------------------------------------------------------


RENDER_JS = """
async (query) => {
  const store = await import('/static/js/store.js');
  const url = await import('/static/js/url.js');
  const { App } = await import('/static/js/App.js');
  const { html } = await import('/static/js/html.js');
  const { render } = await import('/static/vendor/htm/standalone.module.js');
""" + TWO_LABS_JS + """
  document.getElementById('app').remove();  // the served page's own app: not under test here
  const box = document.createElement('div');
  box.id = 'labs-app';
  document.body.append(box);
  const state = apply(store.initialState(), [{type: 'snapshot', payload: twoLabs({
    devices: [dev('east', 'q-1'), dev('west', 'q-1', {state: 'Idle', job: null, health: 'Bad'})],
    jobs: [job('east', 42), job('west', 42, {state: 'Submitted', device: null, worker: null, start_time: null})]})},
    // East's reconciler cannot reach its LAVA API: said in its lab's entry of the meta.
    {type: 'status', payload: {labs: [{...LABS[0], lava: {state: 'error', error: 'HTTP 502'}}, LABS[1]]}}]);
  window.opened = [];
  const actions = new Proxy({}, {get: (_, name) => name === 'open' ? (kind, id) => window.opened.push(`${kind}:${id}`)
    : name === 'followLog' ? () => () => {} : () => {}});
  window.draw = (search) => render(html`<${App} state=${state} status=${{state: 'live'}} version="test"
    options=${url.parseOptions(search)} actions=${actions} />`, box);
  window.draw(query);
}
"""


def test_the_page_says_each_objects_lab_and_links_to_its_own_labs_lava(page):
    page.evaluate(RENDER_JS, "")
    page.wait_for_selector('#labs-app [data-device="q-1"][data-lab="west"]', timeout=5000)
    tiles = page.query_selector_all("#labs-app [data-device]")
    assert sorted(t.get_attribute("data-lab") for t in tiles) == ["east", "west"]
    # Each tile says its lab in words (its foot, and its accessible name).
    for tile in tiles:
        lab = tile.get_attribute("data-lab")
        assert tile.query_selector(".tile-lab").text_content() == lab
        assert f"q-1 in lab {lab}:" in tile.query_selector(".tile-open").get_attribute("aria-label")
    # Groups are each lab's own type, named with their lab; the group links to its lab's LAVA.
    groups = page.query_selector_all("#labs-app .device-group")
    assert [(g.get_attribute("data-lab"), g.get_attribute("data-group")) for g in groups] == [
        ("east", "qemu"), ("west", "qemu")]
    assert groups[0].query_selector(".device-group-lab").text_content() == "east"
    assert groups[0].query_selector("a.device-group-name").get_attribute("href") == \
        "https://lava.east.example.org/scheduler/device_type/qemu"
    assert groups[1].query_selector("a.device-group-name") is None, "west has no LAVA URL: no link"
    # Job rows: both jobs 42, each with its lab in words.
    rows = page.query_selector_all("#labs-app .job-row[data-job='42']")
    assert sorted((r.get_attribute("data-lab"), r.query_selector(".job-lab").text_content()) for r in rows) == [
        ("east", "east"), ("west", "west")]
    # The header: each lab, whether its events flow, in words; west's source is down.
    status = {li.get_attribute("data-lab"): li.inner_text() for li in page.query_selector_all("#labs-app .lab-state")}
    assert "live" in status["east"] and "events down" in status["west"] and "simulated" in status["west"]
    assert "LAVA API failing" in status["east"] and "LAVA API" not in status["west"]
    assert "lab west" in page.inner_text("#labs-app .source-status")
    # Opening a tile names its lab; the board can be grouped by lab.
    page.click('#labs-app [data-device="q-1"][data-lab="west"] .tile-open')
    assert page.evaluate("window.opened") == ["device:west/q-1"]
    assert page.query_selector("#labs-app [role=group][aria-label='Group devices'] button:has-text('By lab')")
    # The attention strip: west's Bad q-1, said with its lab.
    assert "west · q-1 Bad" in page.inner_text("#labs-app .attention")


def test_the_details_of_an_object_are_its_own_labs(page):
    page.evaluate(RENDER_JS, "?detail=job:west/42")
    panel = page.wait_for_selector('#labs-app #detail[data-id="west/42"]', timeout=5000)
    assert panel.get_attribute("data-lab") == "west"
    assert page.inner_text("#labs-app #detail-title") == "Job #42"
    assert "in lab west" in page.inner_text("#labs-app .detail-kind")
    assert "Lab west has no LAVA URL" in page.inner_text("#labs-app .detail-no-link")
    page.evaluate("window.draw('?detail=device:east/q-1')")
    page.wait_for_selector('#labs-app #detail[data-id="east/q-1"]', timeout=5000)
    assert page.get_attribute("#labs-app #detail-lava-link", "href") == \
        "https://lava.east.example.org/scheduler/device/q-1"
    # The device's job is east's job 42; its worker is east's w-1.
    page.click("#labs-app #detail [data-field=job] button")
    page.click("#labs-app #detail [data-field=worker] button")
    assert page.evaluate("window.opened") == ["job:east/42", "worker:east/w-1"]


def test_a_wall_of_two_labs_groups_and_labels_them(page):
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.evaluate(RENDER_JS, "?wall=1&sort=problems")
    page.wait_for_selector("#labs-app .device-groups.is-fit", timeout=5000)
    labels = [t.inner_text() for t in page.query_selector_all("#labs-app .device-group-title")]
    # Problems first: west's group (its q-1 is Bad) before east's; each names its lab in words.
    assert [re.sub(r"\s+", " ", t).split(" ·")[0] for t in labels][:2] == ["west", "east"], labels
    assert page.query_selector_all("#labs-app .lab-state[data-state=down]")[0].get_attribute("data-lab") == "west"
    page.evaluate("window.draw('?wall=1&group=lab')")
    page.wait_for_selector("#labs-app .device-group[data-group=west]", timeout=5000)
    assert [g.get_attribute("data-group") for g in page.query_selector_all("#labs-app .device-group")] == ["east", "west"]


# -- end to end: the app with two simulated labs ------------------------------------------------


@pytest.fixture(scope="module")
def two_labs(tmp_path_factory):
    path = tmp_path_factory.mktemp("labs") / "two.toml"
    path.write_text("[labs.east]\nsimulated = true\n\n[labs.west]\nsimulated = true\n")
    app = AppProcess("--labs", str(path), "--access", "open", "--no-store", "--sim-devices", "12",
                     "--sim-seed", "7")
    try:
        yield app
    finally:
        app.stop()


def tiles_by_lab(page):
    return page.evaluate("""() => {
      const out = {};
      for (const t of document.querySelectorAll('[data-device]')) {
        const lab = t.dataset.lab || '';
        (out[lab] = out[lab] || []).push(t.dataset.device);
      }
      return out;
    }""")


def test_the_app_shows_both_labs_each_labelled_and_a_lab_filter_in_the_url(two_labs, browser):
    page = open_page(browser, width=1400, height=900)
    try:
        page.goto(two_labs.url + "/")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        wait_until(lambda: set(tiles_by_lab(page)) == {"east", "west"}, timeout=15, what="tiles of both labs")
        seen = tiles_by_lab(page)
        # Two simulated labs of one seed: the same hostnames, each shown once per lab.
        assert sorted(seen["east"]) == sorted(seen["west"]) and len(seen["east"]) == 12
        for tile in page.query_selector_all("[data-device]")[:6]:
            assert tile.query_selector(".tile-lab").text_content() == tile.get_attribute("data-lab")
        assert {li.get_attribute("data-lab") for li in page.query_selector_all(".lab-state")} == {"east", "west"}
        shoot(page, "labs")  # docs/labs.md
        # The lab filter: a switch per lab, written to the URL as ?lab=east, and only east is sent.
        page.click("[data-lab-filter=east]")
        wait_until(lambda: "lab=east" in page.evaluate("location.search"), timeout=5, what="lab=east in the URL")
        wait_until(lambda: set(tiles_by_lab(page)) == {"east"}, timeout=15, what="only east's tiles")
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()
    page = open_page(browser, width=1400, height=900)
    try:
        page.goto(two_labs.url + "/?lab=east")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        wait_until(lambda: len(tiles_by_lab(page).get("east", [])) == 12, timeout=15, what="east's tiles")
        assert set(tiles_by_lab(page)) == {"east"}
        assert page.get_attribute("[data-lab-filter=east]", "aria-pressed") == "true"
        assert all(r.get_attribute("data-lab") == "east" for r in page.query_selector_all(".job-row"))
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()


def test_a_wall_shows_both_labs_on_one_screen(two_labs, browser):
    page = open_page(browser, width=1920, height=1080)
    try:
        page.goto(two_labs.url + "/?wall=1&sort=problems")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        wait_until(lambda: len(page.query_selector_all("[data-device]")) == 24, timeout=15, what="24 tiles")
        page.wait_for_selector(".device-groups.is-fit", timeout=5000)
        order = [g.get_attribute("data-lab") for g in page.query_selector_all(".device-group")]
        assert set(order) == {"east", "west"}
        # Problems first keeps each lab's groups together: the labs come one after the other.
        assert [lab for i, lab in enumerate(order) if i == 0 or order[i - 1] != lab] in (["east", "west"], ["west", "east"])
        # Every group's title names its lab; every tile lies on the screen; nothing scrolls.
        for title in page.query_selector_all(".device-group-title"):
            assert title.query_selector(".device-group-lab").text_content() in ("east", "west")
        assert page.evaluate("""() => [...document.querySelectorAll('[data-device]')].every((t) => {
          const r = t.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight && r.right <= innerWidth; })""")
        assert page.evaluate("document.scrollingElement.scrollHeight <= innerHeight")
        assert {li.get_attribute("data-lab") for li in page.query_selector_all(".lab-state")} == {"east", "west"}
        assert page.evaluate(CLIPPED_LABS) == []
        shoot(page, "labs-wall")  # docs/labs.md
        page.goto(two_labs.url + "/?wall=1&group=lab")
        page.wait_for_selector(".device-groups.is-fit .device-group[data-group=west]", timeout=15000)
        assert [g.get_attribute("data-group") for g in page.query_selector_all(".device-group")] == ["east", "west"]
        assert page.evaluate(CLIPPED_LABS) == []
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_two_labs_have_no_serious_accessibility_violation(two_labs, browser, theme):
    """axe-core (as tests/test_accessibility_browser.py) on the views that show the labs' words:
    desk and wall, light and dark, and a device's details. (The desk's `all` view holds the
    devices, jobs, workers and feed panes; every single view is checked for one lab by
    tests/test_accessibility_browser.py.)"""
    from axe_playwright_python.sync_playwright import Axe
    from tests.test_accessibility_browser import problems
    axe = Axe()
    found = {}
    for query, width, height in [("?view=all", 1280, 800), ("?wall=1", 1920, 1080),
                                 ("?detail=device:west/qemu-01", 1280, 800)]:
        page = open_page(browser, width=width, height=height)
        try:
            page.goto(f"{two_labs.url}/{query}&theme={theme}")
            page.wait_for_selector("#connection[data-state=live]", timeout=15000)
            page.wait_for_selector("[data-lab]", timeout=15000)
            page.wait_for_timeout(800)
            found[query] = problems(axe, page)
        finally:
            page.context.close()
    assert {view: v for view, v in found.items() if v} == {}


def test_a_lab_down_and_a_failing_lava_api_have_no_serious_accessibility_violation(page):
    from axe_playwright_python.sync_playwright import Axe
    from tests.test_accessibility_browser import problems
    page.evaluate(RENDER_JS, "")
    page.wait_for_selector("#labs-app .lab-state[data-state=down]", timeout=5000)
    assert problems(Axe(), page) == []


def test_a_source_still_connecting_after_30_s_is_said_down_without_new_data(page):
    """The header's labs (LabsStatus) and the attention strip look again as the shared clock
    ticks: a source connecting since 27 s ago is said down by itself ("events down (TLS
    failed)", "not connected <1 min: TLS failed"), with no new meta from the server; not before."""
    page.evaluate("""async () => {
      const { LabsStatus } = await import('/static/js/LabsStatus.js');
      const { AttentionStrip } = await import('/static/js/AttentionStrip.js');
      const { html } = await import('/static/js/html.js');
      const { render } = await import('/static/vendor/htm/standalone.module.js');
      const box = document.createElement('div');
      box.id = 'labs-status-box';
      document.body.append(box);
      const since = new Date(Date.now() - 27000).toISOString();
      const sources = [{lab: 'west', name: 'wss://w/ws/', kind: 'ws', state: 'connecting', lost: false, since, problem: 'tls'},
                       {lab: 'east', name: 'tcp://e:5500', kind: 'zmq', state: 'connected', lost: false}];
      render(html`<${LabsStatus} labs=${[{name: 'east'}, {name: 'west'}]} sources=${sources} />
        <div id="strip-box"><${AttentionStrip} devices=${new Map()} jobs=${new Map()} workers=${new Map()}
          feeds=${{sources, lava: null, labs: []}} /></div>`, box);
    }""")
    west = "#labs-status-box .lab-state[data-lab=west]"
    assert page.get_attribute(west, "data-state") == "connecting"
    assert page.inner_text(f"{west} .lab-words") == "connecting"
    assert "wss://w/ws/" not in page.inner_text("#strip-box")
    page.wait_for_selector(f"{west}[data-state=down]", timeout=8000)
    assert page.inner_text(f"{west} .lab-words") == "events down (TLS failed)"
    assert page.get_attribute("#labs-status-box .lab-state[data-lab=east]", "data-state") == "live"
    page.wait_for_function("() => document.querySelector('#strip-box').textContent.includes('wss://w/ws/')",
                           timeout=3000)
    assert "west · event source wss://w/ws/ not connected <1 min: TLS failed" in \
        " ".join(page.inner_text("#strip-box").split())
