/**
 * The wall's banner of alerts firing now: large type, high contrast, readable from across the
 * room. At most four lines, then "and N more". With several labs each line begins with its lab.
 */
import { html } from "./html.js";
import { labOf, objectKey } from "./labs.js";

const SHOWN = 4;

/** The alerts the banner shows in full: the first SHOWN that fire. */
export function bannerAlerts(alerts) {
  return alerts.filter((a) => a.status === "firing").slice(0, SHOWN);
}

export function AlertBanner({ alerts }) {
  const firing = alerts.filter((a) => a.status === "firing");
  if (!firing.length) return null;
  const critical = firing.some((a) => a.severity === "critical");
  return html`
    <section id="alert-banner" class=${`alert-banner${critical ? " is-critical" : ""}`} role="alert"
      aria-label="Alerts firing">
      ${firing.slice(0, SHOWN).map((a) => html`<p key=${objectKey(labOf(a.lab), a.id)} class="alert-banner-line">
        <strong>${labOf(a.lab) ? `${a.lab} · ` : ""}${a.message}</strong>${a.acked_by ? html` <em>(acknowledged by ${a.acked_by})</em>` : ""}</p>`)}
      ${firing.length > SHOWN && html`<p class="alert-banner-more">and ${firing.length - SHOWN} more</p>`}
    </section>`;
}
