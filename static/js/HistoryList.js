/** The changes of one object seen since the page loaded, newest first (bounded by the store). */
import { html } from "./html.js";
import { messageText } from "./describe.js";
import { formatClock, formatDateTime } from "./time.js";

function entryText(entry, kind) {
  if (entry.added) return `appeared (${kind} first seen)`;
  if (entry.removed) return "left the page (removed, or no longer matches the filters)";
  if (entry.message) return `message: ${messageText(entry.message)}`;
  const show = (v) => (v == null ? "–" : String(v));
  return entry.fields.map(([name, before, after]) => `${name.replace(/_/g, " ")}: ${show(before)} → ${show(after)}`).join("; ");
}

export function HistoryList({ entries, kind }) {
  if (!entries || entries.length === 0) {
    return html`<p class="empty">No change seen since the page loaded.</p>`;
  }
  return html`
    <ol class="history">
      ${entries.map((entry, i) => html`
        <li key=${`${entry.seq ?? "r"}-${entry.at}-${i}`} class=${`history-item via-${entry.via}`}>
          <time title=${formatDateTime(entry.at)}>${formatClock(entry.at)}</time>
          ${entry.via === "resync" && html`<span class="history-via" title="Found in a fresh snapshot after the connection came back">on resync</span>`}
          <span class="history-text">${entryText(entry, kind)}</span>
        </li>`)}
    </ol>`;
}
