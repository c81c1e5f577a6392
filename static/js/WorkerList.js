/** Workers: state, health, how long since they changed, and their devices. */
import { useMemo } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { Panel } from "./Panel.js";
import { WorkerRow } from "./WorkerRow.js";
import { sortedWorkers } from "./selectors.js";
import { keyOf } from "./labs.js";
import { useWallCut } from "./wallcut.js";

/** `hostsOf`: worker's key (labs.js) → its devices' hostnames (devicesByWorker). */
const NONE = [];

/**
 * `wall`: the Offline workers first, each with chips of its devices that are not Good only; the
 * panel shows the rows that fit whole, and says how many it leaves out (wallcut.js).
 */
export function WorkerList({ workers, devices, hostsOf, onOpen, note, wall = false }) {
  const list = useMemo(() => sortedWorkers(workers, wall), [workers, wall]);
  const [ref, cut] = useWallCut(wall, "tbody tr", [list, devices]);
  return html`
    <${Panel} id="workers" title="Workers" count=${workers.size} class="panel-workers">
      ${note && html`<p class="panel-note">${note}</p>`}
      ${list.length === 0 ? html`<p class="empty">No workers match.</p>` : html`
        <table class="workers" ref=${ref}>
          <thead><tr><th scope="col">Worker</th><th scope="col">State</th><th scope="col">Health</th>
            <th scope="col" title="How long since its state or health changed">For</th><th scope="col">Devices</th></tr></thead>
          <tbody>
            ${list.map((w) => {
              const key = keyOf("worker", w);
              return html`<${WorkerRow} key=${key} worker=${w} hosts=${hostsOf.get(key) || NONE} devices=${devices}
                onOpen=${onOpen} problems=${wall} />`;
            })}
          </tbody>
        </table>`}
      ${cut.length > 0 && html`<p class="wall-cut">Not shown here: ${cut.length} more ${cut.length === 1 ? "worker" : "workers"}</p>`}
    <//>`;
}
