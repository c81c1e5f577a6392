/** "last change 3 s ago", updated every second. */
import { html } from "./html.js";
import { useNow } from "./clock.js";
import { formatAge, formatDateTime } from "./time.js";

export function LastChange({ at }) {
  const now = useNow();
  if (at == null) return html`<span class="last-change" id="last-change">no changes yet</span>`;
  return html`<span class="last-change" id="last-change" title=${formatDateTime(at)}>
    last change ${formatAge(at, now)}</span>`;
}
