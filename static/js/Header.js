/**
 * The page header: title, version, stale marker, the LAVA API's state and the connection indicator;
 * and the page's polite live region (`#announcer`, focus.js' `announce`: "Job 42 is no longer
 * shown"), empty in the markup so that Preact never touches the words put in it.
 */
import { html } from "./html.js";
import { AlertCount } from "./AlertCount.js";
import { ConnectionStatus } from "./ConnectionStatus.js";
import { WallClock } from "./WallClock.js";
import { LabsStatus } from "./LabsStatus.js";
import { sourceSimulated, sourceWords } from "./SourcesNote.js";

const NO_LABS = [];

/**
 * `wall`: the compact, chrome-less strip of a wall display (with a clock); `labs`: the named labs
 * (several labs: each is listed with whether its events flow).
 */
export function Header({ version, stale, status, lastChangeAt, lava, cluster, simulated, sources = null, storeRecovered = null,
  labs = NO_LABS, wall = false, onReconnect, alertCount = 0, alertsHref = "?view=alerts" }) {
  return html`
    <header class=${`topbar${wall ? " topbar-wall" : ""}`}>
      <div class="brand">
        <h1>LAVA Live Dashboard</h1>
        ${version && !wall && html`<span class="version">v${version}</span>`}
        ${wall && (simulated || labs.some((l) => l.simulated)) && html`<span id="simulated-banner" class="simulated-tag" role="note"
          title="No LAVA server configured: the built-in simulated lab">Simulated lab</span>`}
      </div>
      ${stale && html`<span id="stale-label" class="stale-label"
        title="Not connected: what is shown may be out of date">stale</span>`}
      ${lava && lava.state === "error" && html`<span id="lava-status" class="lava-status" role="alert"
        title=${lava.error || ""}>LAVA API failing, data may be stale: ${lava.error || "unknown error"}</span>`}
      ${storeRecovered && html`<span id="store-status" class="lava-status" role="alert"
        title="The event store could not be read at start: history before then is in the file named">
        History restarted: the event store was unusable and was moved aside (${storeRecovered.moved_to})</span>`}
      <${LabsStatus} labs=${labs} sources=${sources} />
      ${Array.isArray(sources) && sources.filter((s) => s.lost).slice(0, 8).map((s) => html`<span
        key=${`${s.lab || ""}/${s.name}`} class="lava-status source-status" role="alert">Event source down: ${sourceWords(s,
          sourceSimulated(s, labs, simulated))}</span>`)}
      ${cluster && cluster.state === "error" && html`<span id="cluster-status" class="lava-status" role="alert"
        title=${cluster.error || ""}>Live feed paused: ${cluster.error || "unknown error"}</span>`}
      ${!wall && html`<${AlertCount} firing=${alertCount} href=${alertsHref} />`}
      ${wall && html`<${WallClock} />`}
      <${ConnectionStatus} status=${status} lastChangeAt=${lastChangeAt} onReconnect=${onReconnect} />
      <p id="announcer" class="visually-hidden" role="status"></p>
    </header>`;
}
