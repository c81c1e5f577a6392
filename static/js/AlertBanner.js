/**
 * The wall's banner of alerts firing now: large type, high contrast, readable from across the
 * room, worst first. It never takes more than a quarter of the screen's height, whatever the
 * screen (a phone, 200 % zoom): one line per alert, or two where the screen is tall enough (cut
 * with an ellipsis, the whole text in its tooltip and to screen readers; a rule's "(threshold N)"
 * only there; the name is kept whole before the status after it is cut, up to 60 % of the line),
 * at most four, fewer when they do not fit, then "and N more".
 * With several labs each line begins with its lab. A named region, not a live one: each alert
 * that fires is said once to screen readers (the header's polite live region, focus.js).
 */
import { useEffect } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { memo } from "./memo.js";
import { announce } from "./focus.js";
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
  // Room for the most alerts shown on two lines each, and "and N more" (a tall screen: portrait, a
  // phone): a line wraps before its name is cut. `lines` then counts alerts, each two lines high.
  const wrap = lines >= 2 * SHOWN + 1;
  return { fontPx, lines: wrap ? Math.floor((lines - 1) / 2) + 1 : lines, wrap };
}

// A rule's "(threshold N)" at the end of its message: for the record, not for the room. Left to the
// line's tooltip and to screen readers (an audit: it kept its room while the name was cut to "be…").
const TAIL = /\s*\(threshold\b[^)]*\)\s*$/;

/** `text` as [what the banner shows, its "(threshold N)" tail or ""]. Pure. */
export function splitTail(text) {
  const found = TAIL.exec(text);
  return found && found.index > 0 ? [text.slice(0, found.index), text.slice(found.index)] : [text, ""];
}

// The alerts announced to screen readers (their keys): each once, however often the banner changes.
// Bounded: past ANNOUNCED_MAX the oldest are forgotten (an id is never reused for a new firing).
const announced = new Set();
const ANNOUNCED_MAX = 2000;
// Alerts named in one announcement; the others are counted.
const ANNOUNCE_NAMED = 3;

/** Says the alerts in `firing` not said before through the page's polite live region, once each. */
function announceNew(firing) {
  const fresh = firing.filter((a) => !announced.has(objectKey(labOf(a.lab), a.id)));
  if (!fresh.length) return;
  for (const a of fresh) {
    announced.add(objectKey(labOf(a.lab), a.id));
    if (announced.size > ANNOUNCED_MAX) announced.delete(announced.values().next().value);
  }
  const said = fresh.slice(0, ANNOUNCE_NAMED).map((a) => `${levelWord(a.severity)}: ${alertText(a)}`);
  const more = fresh.length - said.length;
  announce(`${fresh.length === 1 ? "Alert firing" : `${fresh.length} alerts firing`}: ${said.join("; ")}${
    more > 0 ? `; and ${more} more` : ""}`);
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
 * The desk's: says the alerts that newly fire as the wall's banner does, once each, and shows
 * nothing (the header's count and the strip show them). Before (an audit), a desk's screen-reader
 * user heard nothing of an alert firing: only a wall said so.
 */
export const AlertAnnouncer = memo(({ alerts }) => {
  useAnnounced(firingWorstFirst(alerts));
  return null;
});

/** Says the alerts of `firing` that newly fire (announceNew), when the set of them changes. */
function useAnnounced(firing) {
  const keys = firing.map((a) => objectKey(labOf(a.lab), a.id)).join("\n");
  useEffect(() => announceNew(firing), [keys]);
}

/**
 * `alerts`: those about what the page shows (App.js gives it `alertsOnPage`'s, the strip's rule);
 * `room`: `bannerRoom` for the screen (null: the stylesheet's type, four lines).
 */
export function AlertBanner({ alerts, room = null }) {
  const firing = firingWorstFirst(alerts);
  // Not a live region (role="alert" re-read every line whenever any alert fired or resolved): the
  // alerts that newly fire are said once each, through the page's polite live region.
  useAnnounced(firing);
  if (!firing.length) return null;
  const shown = firing.slice(0, shownCount(firing.length, room ? room.lines : SHOWN + 1));
  const critical = firing.some((a) => a.severity === "critical");
  const more = firing.length - shown.length;
  return html`
    <section id="alert-banner" class=${`alert-banner${critical ? " is-critical" : ""}${room && room.wrap ? " is-wrapped" : ""}`}
      role="region" aria-label="Alerts firing" style=${room ? { fontSize: `${room.fontPx}px` } : undefined}>
      ${shown.map((a) => {
        const { said, acked } = alertWords(a);
        const [name, rest] = splitName(alertName(a), said);
        const [status, tail] = splitTail(rest);
        const hidden = tail && html`<span class="visually-hidden">${tail}</span>`;
        // Its severity in words, not only in its colour (an audit: critical by its background alone).
        const level = levelWord(a.severity);
        return html`<p key=${objectKey(labOf(a.lab), a.id)} class="alert-banner-line" title=${`${level} ${alertText(a)}`}
          data-severity=${a.severity}>
          <span class="alert-banner-level">${level}</span>${" "}<strong>${name ? html`<span class="alert-banner-name">${name}</span><span class="alert-banner-status">${status}</span>${hidden}`
            : html`${status}${hidden}`}</strong>${acked ? html` <em>${acked}</em>` : ""}</p>`;
      })}
      ${more > 0 && html`<p class="alert-banner-more">and ${more} more</p>`}
    </section>`;
}
