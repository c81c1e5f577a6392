/**
 * The whole page. The view (`view=` in the URL) picks what the board shows: everything (the desk
 * layout), one of devices, jobs, workers and the live feed full size, or the charts of the stored
 * history. Wall mode drops the chrome, fits everything on one screen and may rotate between views.
 */
import { useMemo } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { ChartsView } from "./ChartsView.js";
import { DetailPanel } from "./DetailPanel.js";
import { DeviceBoard } from "./DeviceBoard.js";
import { FilterBar } from "./FilterBar.js";
import { AccessFooter } from "./AccessFooter.js";
import { SourcesNote } from "./SourcesNote.js";
import { AttentionStrip } from "./AttentionStrip.js";
import { AlertAnnouncer, AlertBanner, bannerAlerts, bannerRoom } from "./AlertBanner.js";
import { StaleNotice } from "./StaleNotice.js";
import { useViewportSize } from "./boxsize.js";
import { alertObject, alertsOnPage } from "./attention.js";
import { AlertsView } from "./AlertsView.js";
import { ReportsView } from "./ReportsView.js";
import { useAlerts } from "./alerts.js";
import { Header } from "./Header.js";
import { JobList } from "./JobList.js";
import { LiveFeed } from "./LiveFeed.js";
import { Overview } from "./Overview.js";
import { SimulatedBanner } from "./SimulatedBanner.js";
import { Toolbar } from "./Toolbar.js";
import { WorkerList } from "./WorkerList.js";
import { lavaBases as toLavaBases } from "./labs.js";
import { JOB_HEALTHS, WORKER_HEALTHS } from "./lava.js";
import { useRotation } from "./rotation.js";
import { useBurnIn } from "./burnin.js";
import { devicesByWorker, visibleLab } from "./selectors.js";
import { LIMITS, historyKey } from "./store.js";
import { effectiveTheme, effectiveView, hasFilters, serializeOptions, withOptions } from "./url.js";

const COLLECTIONS = { device: "devices", job: "jobs", worker: "workers" };
// Rows a wall's feed shows (the panel's count says how many there are): enough to fill a 1080p
// screen, no more.
const WALL_FEED_ROWS = 40;
// Rows of the desk's side feed while it is live: more than its panel shows, and at hundreds of
// changes a second every render would mount and unmount 200 rows nobody can read (docs/performance.md).
const DESK_FEED_ROWS = 50;

/** "A, B or C". */
const oneOf = (words) => (words.length > 1 ? `${words.slice(0, -1).join(", ")} or ${words[words.length - 1]}` : words.join(""));

const NO_HOSTS = new Map();

/**
 * The object a detail panel shows (null if the page no longer has it); a worker with its devices.
 * `target.id` is the object's key (labs.js), as every Map of the state.
 */
function detailObject(state, target, hostsOf) {
  const obj = state[COLLECTIONS[target.kind]].get(String(target.id)) || null;
  return obj && target.kind === "worker" ? { ...obj, devices: hostsOf.get(String(target.id)) || [] } : obj;
}

/** Why a panel may be empty because of the health filter (it applies to jobs and workers too). */
function healthNotes(health) {
  if (!health.length) return {};
  return {
    jobs: health.some((h) => JOB_HEALTHS.includes(h)) ? null
      : `The health filter applies to jobs too, and a job's health is one of ${oneOf(JOB_HEALTHS)}.`,
    workers: health.some((h) => WORKER_HEALTHS.includes(h)) ? null
      : `The health filter applies to workers too (${oneOf(WORKER_HEALTHS)}).`,
  };
}

/**
 * `state`: the store's state; `status`: the connection status (see ConnectionStatus);
 * `options`: the URL's options (url.js); `actions`: what the controls call (main.js).
 */
export function App({ state, status, version, options, actions }) {
  // Each lab's LAVA address: every link to LAVA goes to its object's own lab.
  const lavaBases = useMemo(() => toLavaBases(state.meta.lava_url, state.labs), [state.meta.lava_url, state.labs]);
  const labNames = useMemo(() => state.labs.map((lab) => lab.name), [state.labs]);
  const simulatedLabs = useMemo(() => state.labs.filter((lab) => lab.simulated).map((lab) => lab.name), [state.labs]);
  // Data shown while not live (or while waiting for a fresh snapshot) may be out of date.
  // Stale: not connected, a fresh snapshot awaited, or (a web process of a cluster) the ingest
  // process's feed lost: what is shown may be out of date.
  const feedLost = Boolean(state.meta.cluster && state.meta.cluster.state === "error");
  const stale = state.ready && (status.state !== "live" || state.syncing || feedLost);
  // No state yet: past the notice's delay a wall says why across the screen too (StaleNotice).
  const waiting = !state.ready;
  const wall = options.wall;
  const chosen = effectiveView(options);
  const view = useRotation(chosen, wall ? options.rotate : 0);
  const burnIn = useBurnIn(wall);
  const alerts = useAlerts(!status.refused);
  // On a wall the alert banner's type and lines follow the screen (a quarter of its height at most).
  const viewport = useViewportSize(wall);
  const room = useMemo(() => (viewport ? bannerRoom(viewport.width, viewport.height) : null), [viewport]);
  const visible = useMemo(() => visibleLab(state, options.q, options.healthCheck),
    [state.devices, state.jobs, state.workers, options.q, options.healthCheck]);
  // The alerts about what the page shows (the filter's objects, and the lab as a whole): the
  // wall's banner and the attention strip leave out the same ones (attention.js, alertsOnPage).
  const shownAlerts = useMemo(() => alertsOnPage(alerts.alerts,
    { devices: visible.devices, workers: state.workers, jobs: visible.jobs }),
  [alerts.alerts, visible.devices, visible.jobs, state.workers]);
  // On a wall, what the alert banner names is left out of the attention strip: said once.
  const bannerSaid = useMemo(() => (wall ? bannerAlerts(shownAlerts, room ? room.lines : undefined).map(alertObject)
    .filter(Boolean).join("\n") : ""), [wall, shownAlerts, room]);
  const notes = useMemo(() => healthNotes(options.filter.health), [options.filter.health]);
  // Several labs keep their history apart: the charts ask the labs chosen, or every lab, and add up.
  const chosenLabs = options.filter.labs;
  const chartFilter = useMemo(() => (labNames.length && !(chosenLabs && chosenLabs.length)
    ? { ...options.filter, labs: labNames } : options.filter), [options.filter, labNames]);
  // Where the data comes from, for the strip (attention.js feedItems): the chosen labs' only.
  const feeds = useMemo(() => {
    const chosen = chosenLabs && chosenLabs.length ? new Set(chosenLabs) : null;
    const mine = (lab) => !chosen || chosen.has(lab || "");
    return { sources: (state.meta.sources || []).filter((s) => s && mine(s.lab)),
      lava: chosen ? null : state.meta.lava, labs: state.labs.filter((lab) => mine(lab.name)) };
  }, [state.meta.sources, state.meta.lava, state.labs, chosenLabs]);
  // Workers' devices (grouped from the devices' `worker`): only while a workers panel or a
  // worker's details are shown (it sorts every device).
  const showsWorkers = view === "workers" || (!wall && view === "all")
    || Boolean(options.detail && options.detail.kind === "worker");
  const hostsOf = useMemo(() => (showsWorkers ? devicesByWorker(state.devices) : NO_HOSTS),
    [state.devices, showsWorkers]);
  // Offline workers' keys (labs.js): a string that changes only when the set does, so tiles keep memoized.
  const offlineKey = useMemo(() => [...state.workers].filter(([, w]) => w.state === "Offline")
    .map(([key]) => key).sort().join("\n"), [state.workers]);
  const offline = useMemo(() => new Set(offlineKey ? offlineKey.split("\n") : []), [offlineKey]);
  const hrefFor = (v) => location.pathname + serializeOptions(withOptions(options,
    { view: v === "all" ? null : v, detail: null }));
  const target = options.detail;
  const cls = ["dashboard", `view-${view}`, wall ? "is-wall" : "", stale ? "is-stale" : "",
    target ? "has-detail" : ""].filter(Boolean).join(" ");

  const board = html`<${DeviceBoard} devices=${visible.devices} jobs=${state.jobs} group=${options.group}
    sort=${options.sort} offline=${offline} fit=${wall} lavaBases=${lavaBases} labs=${state.labs} onOpen=${actions.open}
    onGroup=${wall ? null : actions.setGroup} onSort=${wall ? null : actions.setSort} />`;
  const jobs = html`<${JobList} jobs=${visible.jobs} healthCheck=${options.healthCheck}
    onHealthCheck=${wall ? null : actions.setHealthCheck} onOpen=${actions.open} note=${notes.jobs} wall=${wall} />`;
  const workers = html`<${WorkerList} workers=${visible.workers} devices=${state.devices} hostsOf=${hostsOf}
    onOpen=${actions.open} note=${notes.workers} wall=${wall} />`;
  // The side feed's link goes with the view it opens: the focus goes to that view's tab.
  const openFullFeed = () => {
    actions.setView("feed");
    const tab = document.querySelector('[data-view-tab="feed"]');
    if (tab) tab.focus();
  };
  const feed = html`<${LiveFeed} feed=${state.feed} terms=${visible.terms} kinds=${options.feedKinds}
    onKinds=${wall ? null : actions.setFeedKinds} onOpen=${actions.open} limit=${wall ? WALL_FEED_ROWS : 0}
    liveRows=${view === "all" ? DESK_FEED_ROWS : 0} fullHref=${hrefFor("feed")} onFull=${openFullFeed} />`;
  const panels = {
    all: html`${board}${jobs}<div class="board-side">${wall ? "" : workers}${feed}</div>`,
    devices: board,
    jobs,
    workers,
    feed,
  };
  // The charts come from the REST API: they need neither the live snapshot nor the counters.
  const charts = view === "charts";

  if (status.refused) {
    return html`
      <div id="dashboard" class="dashboard is-refused">
        <main id="main" class="refused" role="alert">
          <h1>LAVA Live Dashboard</h1>
          <p class="refused-reason">${status.refused}</p>
          <p>Ask the lab's administrator for a new wall link.</p>
        </main>
      </div>`;
  }
  return html`
    <div id="dashboard" class=${cls} data-stale=${stale ? "true" : "false"} style=${burnIn}>
      ${!wall && html`<a class="skip-link" href="#main">Skip to the board</a>`}
      <${Header} version=${version} stale=${stale} status=${status} lastChangeAt=${state.lastChangeAt}
        lava=${state.meta.lava} cluster=${state.meta.cluster} simulated=${state.meta.simulated}
        sources=${state.meta.sources} labs=${state.labs}
        storeRecovered=${state.meta.store_recovered} wall=${wall} onReconnect=${actions.reconnect}
        alertCount=${alerts.firing} alertsHref=${hrefFor("alerts")} />
      ${wall ? html`<${AlertBanner} alerts=${shownAlerts} room=${room} />` : html`<${AlertAnnouncer} alerts=${shownAlerts} />`}
      ${wall && html`<${StaleNotice} stale=${stale || waiting} waiting=${waiting} status=${status} feedLost=${feedLost} />`}
      ${(state.meta.simulated || simulatedLabs.length > 0) && !wall && html`<${SimulatedBanner} labs=${simulatedLabs} />`}
      ${!wall && html`
        <${Toolbar} view=${chosen} theme=${effectiveTheme(options)} hrefFor=${hrefFor}
          wallHref=${location.pathname + serializeOptions({ ...options, wall: true, detail: null })}
          onView=${actions.setView} onTheme=${actions.setTheme} />
        <${FilterBar} state=${state} options=${options} active=${hasFilters(options)}
          onFilter=${actions.setFilter} onQuery=${actions.setQuery} onClear=${actions.clearFilters} />`}
      ${view === "reports" ? html`
        <main id="main" class="board board-reports" tabindex="-1"><${ReportsView} labs=${labNames}
          chosen=${chosenLabs && chosenLabs.length ? chosenLabs[0] : ""} /></main>` : view === "alerts" ? html`
        <main id="main" class="board board-alerts" tabindex="-1">
          <${AlertsView} alerts=${alerts.alerts} error=${alerts.error} />
        </main>` : charts ? html`
        <main id="main" class="board board-charts" tabindex="-1">
          <${ChartsView} filter=${chartFilter} q=${options.q} healthCheck=${options.healthCheck}
            theme=${effectiveTheme(options)} />
        </main>` : state.ready ? html`
        <${AttentionStrip} devices=${visible.devices} jobs=${visible.jobs} workers=${state.workers}
          alerts=${shownAlerts} feeds=${feeds} wall=${wall} said=${bannerSaid} stale=${stale} onOpen=${actions.open}
          onQueue=${actions.showQueue} onAlerts=${wall ? null : () => actions.setView("alerts")} />
        <${Overview} devices=${visible.devices} jobs=${visible.jobs} workers=${visible.workers}
          rate=${state.rate} limit=${LIMITS.finishedJobs} compact=${wall} />
        <main id="main" class=${`board board-${view}`} tabindex="-1">${panels[view]}</main>` : html`
        <main id="main" class="waiting">
          <p>Waiting for the lab's current state from the server…</p>
        </main>`}
      ${target && html`<${DetailPanel} target=${target}
        obj=${detailObject(state, target, hostsOf)}
        history=${state.history.get(historyKey(target.kind, target.id)) || []}
        lavaBases=${lavaBases} labNames=${labNames} onOpen=${actions.open} onClose=${actions.close} onFollowLog=${actions.followLog} />`}
      ${!wall && html`<${AccessFooter} access=${state.meta.access}>${Array.isArray(state.meta.sources)
        && state.meta.sources.length > 0
        && html`<${SourcesNote} sources=${state.meta.sources} simulated=${state.meta.simulated} labs=${state.labs}
          offline=${status.state !== "live"} />`}<//>`}
    </div>`;
}
