/**
 * A job's test-shell messages from the store (/api/v1/jobs/<id>: the newest 1,000), a page of
 * them at a time, oldest first, so a reload loses none and a long job does not flood the panel.
 * When the server left older ones out (`left_out`), the panel says so in words.
 */
import { useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { Timestamp } from "./Timestamp.js";
import { parseTime } from "./time.js";

export const MESSAGES_PER_PAGE = 50;

const count = (n) => n.toLocaleString("en");

/** `leftOut`: how many older messages the server did not send. */
export function JobMessages({ messages, leftOut = 0 }) {
  const list = Array.isArray(messages) ? messages : [];
  const older = Number.isInteger(leftOut) && leftOut > 0 ? leftOut : 0;
  const pages = Math.max(1, Math.ceil(list.length / MESSAGES_PER_PAGE));
  const [pageIndex, setPage] = useState(pages - 1); // the newest page first
  const at = Math.min(pageIndex, pages - 1);
  const shown = list.slice(at * MESSAGES_PER_PAGE, (at + 1) * MESSAGES_PER_PAGE);
  return html`
    <section class="detail-section" id="job-messages" aria-labelledby="job-messages-title" data-count=${list.length}>
      <h3 id="job-messages-title" class="detail-subtitle">Test-shell messages <span class="panel-count">${count(list.length + older)}</span></h3>
      ${older > 0 && html`<p class="muted" id="job-messages-truncated">${`Showing the newest ${count(list.length)} of ${count(list.length + older)} messages: the ${count(older)} older ones are stored but not shown here.`}</p>`}
      ${list.length === 0 ? html`<p class="empty">No message of this job is stored (or it may not be shown to you).</p>` : html`
        <ol class="job-messages" start=${older + at * MESSAGES_PER_PAGE + 1}>
          ${shown.map((m, i) => html`<li key=${at * MESSAGES_PER_PAGE + i} class="job-message">
            <${Timestamp} iso=${m.time} ms=${parseTime(m.time)} /> <span class="job-message-text">${String(m.message ?? "")}</span></li>`)}
        </ol>
        ${pages > 1 && html`<nav class="job-messages-pages" aria-label="Pages of messages">
          <button type="button" class="link-button" disabled=${at === 0} onClick=${() => setPage(at - 1)}>Earlier</button>
          <span class="muted">page ${at + 1} of ${pages}</span>
          <button type="button" class="link-button" disabled=${at === pages - 1} onClick=${() => setPage(at + 1)}>Later</button>
        </nav>`}`}
    </section>`;
}
