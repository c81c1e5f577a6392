/** The whole page: header, simulated-lab banner, counters, devices, jobs, workers and the live feed. */
import { html, useMemo } from "/static/vendor/htm/standalone.module.js";
import { DeviceBoard } from "./DeviceBoard.js";
import { Header } from "./Header.js";
import { JobList } from "./JobList.js";
import { LiveFeed } from "./LiveFeed.js";
import { Overview } from "./Overview.js";
import { SimulatedBanner } from "./SimulatedBanner.js";
import { WorkerList } from "./WorkerList.js";
import { lavaBase as toLavaBase } from "./links.js";
import { LIMITS } from "./store.js";

/**
 * `state`: the store's state; `status`: the connection status (see ConnectionStatus);
 * `version`: the dashboard's version; `onReconnect`: called by the Reconnect button.
 */
export function App({ state, status, version, onReconnect }) {
  const lavaBase = useMemo(() => toLavaBase(state.meta.lava_url), [state.meta.lava_url]);
  // Data shown while not live (or while waiting for a fresh snapshot) may be out of date.
  const stale = state.ready && (status.state !== "live" || state.syncing);
  return html`
    <div id="dashboard" class=${`dashboard${stale ? " is-stale" : ""}`}
        data-seq=${state.ready ? state.seq : ""} data-ready=${state.ready ? "true" : "false"}
        data-stale=${stale ? "true" : "false"}>
      <${Header} version=${version} stale=${stale} status=${status}
        lastChangeAt=${state.lastChangeAt} onReconnect=${onReconnect} />
      ${state.meta.simulated && html`<${SimulatedBanner} />`}
      ${state.ready ? html`
        <${Overview} devices=${state.devices} jobs=${state.jobs} workers=${state.workers}
          finishedLimit=${LIMITS.finishedJobs} />
        <main class="board">
          <${DeviceBoard} devices=${state.devices} lavaBase=${lavaBase} />
          <${JobList} jobs=${state.jobs} lavaBase=${lavaBase} />
          <div class="board-side">
            <${WorkerList} workers=${state.workers} lavaBase=${lavaBase} />
            <${LiveFeed} feed=${state.feed} lavaBase=${lavaBase} />
          </div>
        </main>` : html`
        <main class="waiting">
          <p>Waiting for the lab's current state from the server…</p>
        </main>`}
    </div>`;
}
