/** The header's count of alerts firing now: a link to the alerts view (nothing when none fire). */
import { html } from "./html.js";

export function AlertCount({ firing, href }) {
  if (!firing) return null;
  return html`<a id="alert-count" class="alert-count" href=${href}
    title="Alerts firing now: open the alerts view">${firing} alert${firing === 1 ? "" : "s"} firing</a>`;
}
