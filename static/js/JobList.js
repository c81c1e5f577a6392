/**
 * Jobs: running (device, elapsed), queued (waiting time, priority), the last finished (outcome,
 * duration). Submitter and device type are server-side filters (the filter bar); health check or
 * not is chosen here and applied by the page.
 */
import { useMemo } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { JobSection, MAX_ROWS } from "./JobSection.js";
import { Panel } from "./Panel.js";
import { QueueSummary } from "./QueueSummary.js";
import { Toggle } from "./Toggle.js";
import { partitionJobs } from "./selectors.js";
import { useWallCut } from "./wallcut.js";

export const FINISHED_SHOWN = 20;
const HC_CHOICES = [["any", "All jobs"], ["only", "Health checks"], ["exclude", "Test jobs"]];

/** `wall`: each section shows the rows that fit whole; the panel says how many it leaves out. */
export function JobList({ jobs, healthCheck = "any", onHealthCheck, onOpen, note, wall = false }) {
  const { running, queued, finished } = useMemo(() => partitionJobs(jobs, FINISHED_SHOWN), [jobs]);
  const controls = onHealthCheck && html`<${Toggle} label="Which jobs" value=${healthCheck}
    choices=${HC_CHOICES} onChange=${onHealthCheck} />`;
  const [ref, cut] = useWallCut(wall, ".job-row", [running, queued, finished]);
  // Per section: the rows hidden for want of room, and those never drawn (JobSection's MAX_ROWS).
  const left = (id, list) => cut.filter((row) => row.closest(`#${id}`)).length + Math.max(0, list.length - MAX_ROWS);
  const unsaid = [["running", left("jobs-running", running)], ["queued", left("jobs-queued", queued)],
    ["finished", left("jobs-finished", finished)]].filter(([, n]) => n > 0);
  return html`
    <${Panel} id="jobs" title="Jobs" class="panel-jobs" controls=${controls}>
      ${note && html`<p class="panel-note">${note}</p>`}
      <${QueueSummary} jobs=${jobs} />
      <div class="job-sections" ref=${ref}>
        <${JobSection} id="jobs-running" title="Running" jobs=${running} variant="running"
          onOpen=${onOpen} empty="No job is running." />
        <${JobSection} id="jobs-queued" title="Queued" jobs=${queued} variant="queued"
          onOpen=${onOpen} empty="Nothing is waiting." />
        <${JobSection} id="jobs-finished" title="Recently finished" jobs=${finished}
          variant="finished" onOpen=${onOpen} empty="No finished job yet." />
      </div>
      ${wall && unsaid.length > 0 && html`<p class="wall-cut">Not shown here: ${unsaid.map(([word, n]) => `${n} ${word}`).join(", ")}</p>`}
    <//>`;
}
