/** One job: id (and its lab, with several), state or outcome in words, where it runs or waits, and how long. */
import { html } from "./html.js";
import { Elapsed } from "./Elapsed.js";
import { memo } from "./memo.js";
import { label, symbolFor, token } from "./lava.js";
import { inLab, labOf, objectKey, relatedKey } from "./labs.js";
import { itemLabel } from "./focus.js";
import { durationBetween, formatClock, formatDateTime, formatDuration, parseTime } from "./time.js";

/** The device a job runs on (opens its details), or the type it waits for. */
function where(job, onOpen) {
  if (job.device) {
    return html`<button type="button" class="link-button job-device" title=${`Show ${job.device}`}
      onClick=${() => onOpen("device", relatedKey(job, job.device))}>${job.device}</button>`;
  }
  const text = job.device_type ? `any ${job.device_type}` : "no device";
  return html`<span class="job-device muted" title=${text}>${text}</span>`;
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
function JobRowView({ job, variant, onOpen }) {
  const word = variant === "finished" ? label(job.health) : label(job.state);
  const symbol = symbolFor(variant === "finished" ? job.health : job.state);
  const cls = `job-row job-${variant} state-${token(job.state)} outcome-${token(job.health)}`;
  const lab = labOf(job.lab);
  return html`
    <li class=${cls} data-job=${job.id} data-lab=${lab || undefined} data-state=${job.state ?? ""} data-health=${job.health ?? ""}
        data-focus-key=${`job:${objectKey(lab, job.id)}`} data-focus-label=${itemLabel("job", job.id, lab)}>
      <div class="job-line">
        <button type="button" class="link-button job-id" onClick=${() => onOpen("job", objectKey(lab, job.id))}
          aria-label=${`Job ${job.id}${inLab(lab)}: ${word}. Show details`}>#${job.id}</button>
        ${lab && html`<span class="job-lab" title=${`lab ${lab}`}>${lab}</span>`}
        <span class="job-word" title=${word}><span class="symbol" aria-hidden="true">${symbol}</span> ${word}</span>
        ${where(job, onOpen)}
        ${when(job, variant)}
      </div>
      <div class="job-detail">
        ${variant === "queued" && html`<span class="job-tag job-priority" title="priority">priority ${job.priority ?? "–"}</span>`}
        ${job.health_check && html`<span class="job-tag job-hc">health check</span>`}
        ${job.sub_id && html`<span class="job-tag" title="multinode sub-job">${job.sub_id}</span>`}
        ${job.hidden ? html`<span class="job-description job-hidden"
            title="LAVA shows this job's details only to those allowed to see it: sign in to see yours">private job</span>`
          : html`<span class="job-description" title=${job.description || ""}>${job.description || "(no description)"}</span>`}
        ${job.submitter && html`<span class="job-submitter">${job.submitter}</span>`}
      </div>
    </li>`;
}

/** A row re-renders only when its job changes (the lists re-render on every change). */
export const JobRow = memo(JobRowView);
