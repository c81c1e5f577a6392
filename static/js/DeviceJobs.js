/**
 * A device's last jobs and its last health check, from the store
 * (/api/v1/devices/<hostname>/jobs, the access rules applied by the server: a private job the
 * viewer may not see comes as its id, state and outcome only).
 */
import { useMemo } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { memo } from "./memo.js";
import { Timestamp } from "./Timestamp.js";
import { jobUrl } from "./links.js";
import { label, symbolFor, token } from "./lava.js";
import { useRemote } from "./remote.js";
import { parseTime } from "./time.js";
import { objectKey, withLab } from "./labs.js";

export const DEVICE_JOBS = 10;

const outcome = (job) => (job.state === "Finished" ? label(job.health) : label(job.state));

/** `lab`: the device's (its jobs are of its lab). */
function JobLine({ job, lab, lavaBase, onOpen }) {
  const word = outcome(job);
  const ended = job.end_time || job.time;
  return html`<li class=${`device-job health-${token(job.state === "Finished" ? job.health : null)}`} data-job=${job.id}
      data-outcome=${word}>
    <button type="button" class="link-button" onClick=${() => onOpen("job", objectKey(lab, job.id))}>#${job.id}</button>
    ${" "}<span class="value-word">${symbolFor(word)} ${word}</span>
    ${job.health_check ? html` <span class="tag">health check</span>` : ""}
    ${job.hidden ? html` <span class="muted">private job</span>` : job.description ? html` <span class="device-job-desc">${job.description}</span>` : ""}
    ${" "}<${Timestamp} class="muted" iso=${ended} ms=${parseTime(ended)} />
    ${lavaBase && html` <a href=${jobUrl(lavaBase, job.id)} target="_blank" rel="noopener noreferrer"
      aria-label=${`Job ${job.id} in LAVA`}>LAVA ↗</a>`}
  </li>`;
}

function DeviceJobsView({ hostname, lab = "", reloadKey, lavaBase, onOpen }) {
  const urls = useMemo(() => [withLab(`/api/v1/devices/${encodeURIComponent(hostname)}/jobs?limit=${DEVICE_JOBS}`, lab)],
    [hostname, lab]);
  const remote = useRemote(urls, { reloadKey });
  let check = null;
  let list = html`<p class="empty">Loading…</p>`;
  if (remote.bodies) {
    const body = remote.bodies[0];
    check = body.last_health_check
      ? html`<ul class="device-jobs" id="device-last-check"><${JobLine} job=${body.last_health_check} lab=${lab} lavaBase=${lavaBase} onOpen=${onOpen} /></ul>`
      : html`<p class="empty" id="device-last-check">No finished health check of this device is stored.</p>`;
    list = body.jobs.length ? html`<ol class="device-jobs" id="device-jobs-list">
        ${body.jobs.map((job) => html`<${JobLine} key=${job.id} job=${job} lab=${lab} lavaBase=${lavaBase} onOpen=${onOpen} />`)}</ol>`
      : html`<p class="empty">No job of this device is stored.</p>`;
  } else if (remote.error) {
    list = html`<p class="empty is-error">${remote.error.code === "history_off" ? "History is off on this dashboard."
      : `Could not load the device's jobs: ${remote.error.message}.`}</p>`;
  }
  return html`
    <section class="detail-section" id="device-jobs" aria-labelledby="device-jobs-title">
      <h3 class="detail-subtitle">Last health check</h3>
      ${check}
      <h3 id="device-jobs-title" class="detail-subtitle">Last ${DEVICE_JOBS} jobs</h3>
      ${list}
    </section>`;
}

export const DeviceJobs = memo(DeviceJobsView);
