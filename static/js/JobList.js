/**
 * Jobs: running (device, elapsed), queued (waiting time, priority), the last finished (outcome,
 * duration). Submitter and device type are server-side filters (the filter bar); health check or
 * not is chosen here and applied by the page.
 */
import { useMemo } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { JobSection } from "./JobSection.js";
import { Panel } from "./Panel.js";
import { QueueSummary } from "./QueueSummary.js";
import { Toggle } from "./Toggle.js";
import { partitionJobs } from "./selectors.js";

export const FINISHED_SHOWN = 20;
const HC_CHOICES = [["any", "All jobs"], ["only", "Health checks"], ["exclude", "Test jobs"]];

export function JobList({ jobs, healthCheck = "any", onHealthCheck, onOpen, note }) {
  const { running, queued, finished } = useMemo(() => partitionJobs(jobs, FINISHED_SHOWN), [jobs]);
  const controls = onHealthCheck && html`<${Toggle} label="Which jobs" value=${healthCheck}
    choices=${HC_CHOICES} onChange=${onHealthCheck} />`;
  return html`
    <${Panel} id="jobs" title="Jobs" class="panel-jobs" controls=${controls}>
      ${note && html`<p class="panel-note">${note}</p>`}
      <${QueueSummary} jobs=${jobs} />
      <div class="job-sections">
        <${JobSection} id="jobs-running" title="Running" jobs=${running} variant="running"
          onOpen=${onOpen} empty="No job is running." />
        <${JobSection} id="jobs-queued" title="Queued" jobs=${queued} variant="queued"
          onOpen=${onOpen} empty="Nothing is waiting." />
        <${JobSection} id="jobs-finished" title="Recently finished" jobs=${finished}
          variant="finished" onOpen=${onOpen} empty="No finished job yet." />
      </div>
    <//>`;
}
