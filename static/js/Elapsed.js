/** Time elapsed since an ISO time, kept current: "3 m 12 s" (or "3m" with `short`). */
import { useMemo } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { useClockValue } from "./clock.js";
import { formatDateTime, formatDuration, formatShortDuration, parseTime } from "./time.js";

export function Elapsed({ from, prefix = "", short = false, title, class: className = "" }) {
  const start = useMemo(() => parseTime(from), [from]);
  const format = short ? formatShortDuration : formatDuration;
  const text = useClockValue((now) => (start == null ? null : format(Math.max(0, now - start))));
  if (text == null) return html`<span class=${`elapsed muted ${className}`}>–</span>`;
  return html`<time class=${`elapsed ${className}`} datetime=${from}
    title=${title || `since ${formatDateTime(start)}`}>${prefix}${text}</time>`;
}
