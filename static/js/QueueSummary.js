/**
 * The queue per device type: how many jobs wait for each type and how long the oldest has waited,
 * the longest wait first (each type of each lab, with several labs). Shown above the queued jobs
 * (Jobs view, desk and wall).
 */
import { useMemo } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { formatWait } from "./attention.js";
import { now as clockNow, useClockValue } from "./clock.js";
import { queueByType } from "./queue.js";
import { compareNames } from "./selectors.js";

export function QueueSummary({ jobs }) {
  const queues = useMemo(() => [...queueByType(jobs)]
    .sort(([a, x], [b, y]) => (x.oldest ?? Infinity) - (y.oldest ?? Infinity) || compareNames(a, b)), [jobs]);
  const minute = useClockValue((now) => Math.floor(now / 60000));
  if (queues.length === 0) return null;
  const now = clockNow();
  return html`
    <ul class="queue-summary" aria-label="Queued jobs per device type" data-minute=${minute}>
      ${queues.map(([key, { count, oldest, lab, type }]) => html`<li key=${key} class="queue-type" data-device-type=${type}
          data-lab=${lab || undefined} data-queued=${count}>
        ${lab && html`<span class="queue-type-lab">${lab} · </span>`}<span class="queue-type-name">${type || "unknown type"}</span>
        ${` ${count} queued`}${oldest != null ? `, oldest ${formatWait(now - oldest)}` : ""}
      </li>`)}
    </ul>`;
}
