/** Counters: devices by health and by state, jobs queued/running/finished, workers online/offline. */
import { html, useMemo } from "/static/vendor/htm/standalone.module.js";
import { deviceCounts, jobCounts, workerCounts } from "./selectors.js";
import { Counter } from "./Counter.js";
import { ALERT_HEALTHS } from "./lava.js";

export function Overview({ devices, jobs, workers, finishedLimit }) {
  const d = useMemo(() => deviceCounts(devices), [devices]);
  const j = useMemo(() => jobCounts(jobs), [jobs]);
  const w = useMemo(() => workerCounts(workers), [workers]);
  return html`
    <section class="overview" aria-label="Overview">
      <div class="overview-card">
        <h2 class="overview-title">Devices <span class="overview-total">${d.total}</span></h2>
        <ul class="counters" aria-label="Devices by health">
          ${d.byHealth.map(([health, n]) => html`<${Counter} key=${health} name=${`device-health-${health}`}
            kind="health" word=${health} value=${n} alert=${ALERT_HEALTHS.includes(health)} />`)}
        </ul>
        <ul class="counters" aria-label="Devices by state">
          ${d.byState.map(([state, n]) => html`<${Counter} key=${state} name=${`device-state-${state}`}
            kind="state" word=${state} value=${n} />`)}
        </ul>
      </div>
      <div class="overview-card">
        <h2 class="overview-title">Jobs</h2>
        <ul class="counters">
          <${Counter} name="jobs-queued" kind="jobs" word="queued" value=${j.queued} />
          <${Counter} name="jobs-running" kind="jobs" word="running" value=${j.running} />
          <${Counter} name="jobs-finished" kind="jobs" word="recently finished" tone="finished"
            value=${j.finished}
            title=${`Finished jobs this page keeps: the last ${finishedLimit}`} />
        </ul>
      </div>
      <div class="overview-card">
        <h2 class="overview-title">Workers <span class="overview-total">${workers.size}</span></h2>
        <ul class="counters">
          ${w.map(([state, n]) => html`<${Counter} key=${state} name=${`workers-${state}`}
            kind="worker" word=${state} value=${n} alert=${state === "Offline"} />`)}
        </ul>
      </div>
    </section>`;
}
