/** Time elapsed since an ISO time, updated every second: "3 m 12 s". */
import { html } from "/static/vendor/htm/standalone.module.js";
import { useNow } from "./clock.js";
import { durationBetween, formatDateTime, formatDuration, parseTime } from "./time.js";

export function Elapsed({ from, prefix = "", class: className = "" }) {
  const now = useNow();
  const ms = durationBetween(from, null, now);
  if (ms == null) return html`<span class=${`elapsed muted ${className}`}>–</span>`;
  return html`<time class=${`elapsed ${className}`} datetime=${from}
    title=${`since ${formatDateTime(parseTime(from))}`}>${prefix}${formatDuration(ms)}</time>`;
}
