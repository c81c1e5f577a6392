/** One job: id, state or outcome in words, where it runs or waits, and how long. */
import { html } from "/static/vendor/htm/standalone.module.js";
import { Elapsed } from "./Elapsed.js";
import { LavaLink } from "./LavaLink.js";
import { deviceUrl, jobUrl } from "./links.js";
import { label, token } from "./lava.js";
import { durationBetween, formatClock, formatDateTime, formatDuration, parseTime } from "./time.js";

/** The device a job runs on, or the type it waits for. */
function where(job, lavaBase) {
  if (job.device) {
    return html`<${LavaLink} class="job-device" href=${deviceUrl(lavaBase, job.device)}>${job.device}<//>`;
  }
  return html`<span class="job-device muted">${job.device_type ? `any ${job.device_type}` : "no device"}</span>`;
}

/** The time column: elapsed while running, waiting time while queued, duration once finished. */
function when(job, variant) {
  if (variant === "running") return html`<${Elapsed} class="job-time" from=${job.start_time} />`;
  if (variant === "queued") return html`<${Elapsed} class="job-time" prefix="waiting " from=${job.submit_time} />`;
  const started = parseTime(job.start_time);
  const ended = parseTime(job.end_time);
  const ran = durationBetween(job.start_time, job.end_time);
  const text = started == null || ran === 0 ? "did not run" : `took ${formatDuration(ran)}`;
  return html`<span class="job-time" title=${ended == null ? "" : `ended ${formatDateTime(ended)}`}>
    ${text}${ended == null ? "" : ` · ${formatClock(ended)}`}</span>`;
}

/** `variant`: "running" | "queued" | "finished". */
export function JobRow({ job, variant, lavaBase }) {
  const word = variant === "finished" ? label(job.health) : label(job.state);
  const cls = `job-row job-${variant} state-${token(job.state)} outcome-${token(job.health)}`;
  return html`
    <li class=${cls} data-job=${job.id} data-state=${job.state ?? ""} data-health=${job.health ?? ""}>
      <div class="job-line">
        <${LavaLink} class="job-id" href=${jobUrl(lavaBase, job.id)}>#${job.id}<//>
        <span class="job-word">${word}</span>
        ${where(job, lavaBase)}
        ${when(job, variant)}
      </div>
      <div class="job-detail">
        ${variant === "queued" && html`<span class="job-tag job-priority" title="priority">priority ${job.priority ?? "–"}</span>`}
        ${job.health_check && html`<span class="job-tag">health check</span>`}
        ${job.sub_id && html`<span class="job-tag" title="multinode sub-job">${job.sub_id}</span>`}
        <span class="job-description" title=${job.description || ""}>${job.description || "(no description)"}</span>
        ${job.submitter && html`<span class="job-submitter">${job.submitter}</span>`}
      </div>
    </li>`;
}
