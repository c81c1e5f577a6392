/**
 * A job's path through the states, from the stored events (/api/v1/jobs/<id>): each state with
 * its time and how long after the one before it came, e.g. Submitted 10:00:01 → Scheduled (+3 s)
 * → Running (+5 s) → Finished Complete (+2 m 00 s). A step that came from a correction (the
 * dashboard's model was wrong, LAVA's REST API said otherwise) says so in words.
 */
import { useMemo } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { memo } from "./memo.js";
import { useClockValue } from "./clock.js";
import { JobMessages } from "./JobMessages.js";
import { symbolFor, token } from "./lava.js";
import { useRemote } from "./remote.js";
import { formatClock, formatDateTime, formatDuration } from "./time.js";
import { jobSteps } from "./timeline.js";
import { withLab } from "./labs.js";

function Steps({ body }) {
  const steps = useMemo(() => jobSteps(body.path), [body]);
  if (!steps.length) return html`<p class="empty">No state of this job is stored.</p>`;
  const first = steps[0].at;
  const last = steps[steps.length - 1].at;
  const finished = steps[steps.length - 1].state === "Finished";
  // Not finished: the time so far runs to now, not to the last change (to the second).
  const nowSecond = useClockValue((now) => (finished ? null : Math.floor(now / 1000)));
  const end = finished || nowSecond == null ? last : Math.max(last, nowSecond * 1000);
  return html`
    <ol class="job-path" data-steps=${steps.length}>
      ${steps.map((step, i) => {
        const health = step.state === "Finished" || (step.health && step.health !== "Unknown") ? step.health : null;
        const cls = `value-word state-${token(step.state)}${health ? ` health-${token(health)}` : ""}`;
        return html`<li key=${i} class=${`job-path-step${step.correction ? " is-corrected" : ""}`} data-state=${step.state}
            data-health=${step.health || ""} data-correction=${step.correction ? "true" : "false"}>
          <span class=${cls}>${symbolFor(health || step.state)} ${step.state}${health ? ` ${health}` : ""}</span>
          ${" "}<time datetime=${step.time} title=${formatDateTime(step.at)}>${formatClock(step.at)}</time>
          ${step.delta != null && html` <span class="job-path-delta">(+${formatDuration(step.delta)})</span>`}
          ${step.device && html` <span class="job-path-device">on ${step.device}</span>`}
          ${step.correction && html` <span class="job-path-corrected" title="No event said this: the dashboard's model differed from LAVA's REST API, which it then followed">(corrected from LAVA)</span>`}
        </li>`;
      })}
    </ol>
    ${first != null && last != null && (steps.length > 1 || !finished) && html`<p class="job-path-total muted"
        data-ms=${end - first}>
      ${finished ? "From submission to the end" : "So far"}: ${formatDuration(end - first)}</p>`}`;
}

/** `id` (of `lab`, if named); `reloadKey` changes when the live job does (its state or health): ask again. */
function JobPathView({ id, lab = "", reloadKey }) {
  const urls = useMemo(() => [withLab(`/api/v1/jobs/${encodeURIComponent(id)}`, lab)], [id, lab]);
  const remote = useRemote(urls, { reloadKey });
  let body;
  if (remote.bodies) body = html`<${Steps} body=${remote.bodies[0]} /><${JobMessages} messages=${remote.bodies[0].messages} leftOut=${remote.bodies[0].left_out} />`;
  else if (remote.error) body = html`<p class="empty is-error">Could not load the job's path: ${remote.error.message}.</p>`;
  else body = html`<p class="empty">Loading…</p>`;
  return html`
    <section class="detail-section" id="job-path" aria-labelledby="job-path-title">
      <h3 id="job-path-title" class="detail-subtitle">Path through the states</h3>
      ${body}
    </section>`;
}

/** Memoized: the details panel re-renders on every data frame, the path only when its props change. */
export const JobPath = memo(JobPathView);
