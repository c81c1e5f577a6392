/** Jobs: running (device, elapsed), queued (waiting time, priority), the last finished (outcome, duration). */
import { html, useMemo } from "/static/vendor/htm/standalone.module.js";
import { JobSection } from "./JobSection.js";
import { Panel } from "./Panel.js";
import { partitionJobs } from "./selectors.js";

export const FINISHED_SHOWN = 20;

export function JobList({ jobs, lavaBase }) {
  const { running, queued, finished } = useMemo(() => partitionJobs(jobs, FINISHED_SHOWN), [jobs]);
  return html`
    <${Panel} id="jobs" title="Jobs" class="panel-jobs">
      <${JobSection} id="jobs-running" title="Running" jobs=${running} variant="running"
        lavaBase=${lavaBase} empty="No job is running." />
      <${JobSection} id="jobs-queued" title="Queued" jobs=${queued} variant="queued"
        lavaBase=${lavaBase} empty="Nothing is waiting." />
      <${JobSection} id="jobs-finished" title="Recently finished" jobs=${finished}
        variant="finished" lavaBase=${lavaBase} empty="No finished job yet." />
    <//>`;
}
