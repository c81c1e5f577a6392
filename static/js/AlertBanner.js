/**
 * The wall's banner of alerts firing now: large type, high contrast, readable from across the
 * room, worst first. It never takes more than a quarter of the screen's height, whatever the
 * screen (a phone, 200 % zoom): one line per alert (cut with an ellipsis, the whole text in its
 * tooltip and to screen readers; a long name is cut before the status after it), at most four,
 * fewer when they do not fit, then "and N more".
 * With several labs each line begins with its lab.
 */
import { html } from "./html.js";
import { labOf, objectKey } from "./labs.js";
import { parseTime } from "./time.js";
import { alertName, alertText, alertWords, levelRank, levelWord, splitName } from "./attention.js";

const SHOWN = 4;
/** The share of the screen's height the banner may take: the board keeps the rest. */
const BANNER_SHARE = 0.25;
// Em the banner's box adds to its lines (padding), and a line's height in em (with room to spare
// for an acknowledgement's smaller type on the same line).
const PADDING_EM = 0.8;
const LINE_EM = 1.25;

const rank = (alert) => levelRank(alert.severity);
const firedAt = (alert) => parseTime(alert.fired_at) ?? 0;  // (the page's one time parser)

/** The alerts firing, worst first: critical, warning, info, then the newest first. Pure. */
function firingWorstFirst(alerts) {
  return alerts.filter((a) => a.status === "firing")
    .sort((a, b) => rank(a) - rank(b) || firedAt(b) - firedAt(a));
}

/**
 * The banner's type and how many lines it has room for on a `width` × `height` screen (CSS px):
 * type as large as 3.2 % of the width allows, but no larger than lets five lines (four alerts and
 * "and N more") fill a quarter of the height; never under 14 px, so a very short screen gets
 * fewer lines instead. Pure.
 */
export function bannerRoom(width, height) {
  const budget = BANNER_SHARE * height;
  const fit = budget / (PADDING_EM + (SHOWN + 1) * LINE_EM);
  const fontPx = Math.floor(Math.max(14, Math.min(64, 0.032 * width, fit)) * 10) / 10;
  const lines = Math.max(1, Math.floor((budget / fontPx - PADDING_EM) / LINE_EM + 1e-9));
  return { fontPx, lines };
}

/** How many alerts of `count` firing are shown with `lines` of room (one more line says "and N more"). */
function shownCount(count, lines) {
  if (count <= Math.min(SHOWN, lines)) return count;
  return Math.max(1, Math.min(SHOWN, lines - 1));
}

/** The alerts the banner shows, worst first, with `lines` of room (a wall's `bannerRoom`). */
export function bannerAlerts(alerts, lines = SHOWN + 1) {
  const firing = firingWorstFirst(alerts);
  return firing.slice(0, shownCount(firing.length, lines));
}

/**
 * `alerts`: those about what the page shows (App.js gives it `alertsOnPage`'s, the strip's rule);
 * `room`: `bannerRoom` for the screen (null: the stylesheet's type, four lines).
 */
export function AlertBanner({ alerts, room = null }) {
  const firing = firingWorstFirst(alerts);
  if (!firing.length) return null;
  const shown = firing.slice(0, shownCount(firing.length, room ? room.lines : SHOWN + 1));
  const critical = firing.some((a) => a.severity === "critical");
  const more = firing.length - shown.length;
  return html`
    <section id="alert-banner" class=${`alert-banner${critical ? " is-critical" : ""}`} role="alert"
      aria-label="Alerts firing" style=${room ? { fontSize: `${room.fontPx}px` } : undefined}>
      ${shown.map((a) => {
        const { said, acked } = alertWords(a);
        const [name, status] = splitName(alertName(a), said);
        // Its severity in words, not only in its colour (an audit: critical by its background alone).
        const level = levelWord(a.severity);
        return html`<p key=${objectKey(labOf(a.lab), a.id)} class="alert-banner-line" title=${`${level} ${alertText(a)}`}
          data-severity=${a.severity}>
          <span class="alert-banner-level">${level}</span>${" "}<strong>${name ? html`<span class="alert-banner-name">${name}</span><span class="alert-banner-status">${status}</span>`
            : said}</strong>${acked ? html` <em>${acked}</em>` : ""}</p>`;
      })}
      ${more > 0 && html`<p class="alert-banner-more">and ${more} more</p>`}
    </section>`;
}
