/** A time as the page shows every time: 24-hour, in the viewer's zone; ISO 8601 in the tooltip. */
import { html } from "./html.js";
import { formatDateTime } from "./time.js";

/** `iso`: the time as the server sent it; `ms`: the same, parsed (epoch ms). */
export function Timestamp({ iso, ms, class: className = "" }) {
  if (ms == null) return html`<span class=${`muted ${className}`}>${iso || "–"}</span>`;
  const full = new Date(ms).toISOString();
  return html`<time class=${className} datetime=${full} title=${iso && iso !== full ? `${iso} (${full})` : full}>${formatDateTime(ms)}</time>`;
}
