/** Workers: state and health in words, and how many devices each hosts. */
import { html, useMemo } from "/static/vendor/htm/standalone.module.js";
import { LavaLink } from "./LavaLink.js";
import { Panel } from "./Panel.js";
import { sortedWorkers } from "./selectors.js";
import { workerUrl } from "./links.js";
import { label, token } from "./lava.js";
import { formatDateTime, parseTime } from "./time.js";

export function WorkerList({ workers, lavaBase }) {
  const list = useMemo(() => sortedWorkers(workers), [workers]);
  return html`
    <${Panel} id="workers" title="Workers" count=${workers.size} class="panel-workers">
      ${list.length === 0 ? html`<p class="empty">No workers.</p>` : html`
        <table class="workers">
          <thead><tr><th scope="col">Worker</th><th scope="col">State</th><th scope="col">Health</th>
            <th scope="col" class="num">Devices</th></tr></thead>
          <tbody>
            ${list.map((w) => {
              const devices = Array.isArray(w.devices) ? w.devices : [];
              const since = parseTime(w.since);
              const sinceText = since == null ? "" : ` since ${formatDateTime(since)}`;
              return html`
                <tr key=${w.hostname} data-worker=${w.hostname} data-state=${w.state ?? ""}
                    data-health=${w.health ?? ""}
                    class=${`worker-row state-${token(w.state)} health-${token(w.health)}`}>
                  <th scope="row"><${LavaLink} href=${workerUrl(lavaBase, w.hostname)}>${w.hostname}<//></th>
                  <td class="worker-state" title=${`${label(w.state)}${sinceText}`}>${label(w.state)}</td>
                  <td class="worker-health" title=${`${label(w.health)}${sinceText}`}>${label(w.health)}</td>
                  <td class="num" title=${devices.join(", ")}>${devices.length}</td>
                </tr>`;
            })}
          </tbody>
        </table>`}
    <//>`;
}
