/**
 * A wall that is no longer up to date says so across the screen, in words (an audit: a wall that
 * had lost the server kept its red banner, its counts and its ages counting on as if current, and
 * only the header's small "Offline" said otherwise). Shown once the page has been stale for
 * STALE_NOTICE_AFTER_MS, so that a resync's moment says nothing; fixed over the bottom of the
 * screen, so that nothing else moves. Its age is counted by the page's clock from when it saw the
 * data stop (clock.js: the server's time, counted on by the monotonic clock).
 */
import { useRef } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { now as clockNow, useClockValue } from "./clock.js";
import { formatClock, formatDuration } from "./time.js";

export const STALE_NOTICE_AFTER_MS = 10000;

/** What the page waits for, in words: `status` is the connection's, `feedLost` a cluster's. */
export function staleWords(status, feedLost) {
  if (status.state !== "live") return "Not connected to the dashboard";
  if (feedLost) return "The dashboard has lost its live feed";
  return "Waiting for the dashboard's current state";
}

/**
 * `waiting`: the page has had no state at all yet (a wall that loaded while its Socket.IO could
 * not connect, e.g. through a proxy that refuses WebSockets and polling): said as the same
 * notice, since nothing can show on the board until the connection is made (an audit: the page
 * said "Waiting for the lab's current state" for ever, and never why).
 */
export function StaleNotice({ stale, status, feedLost = false, waiting = false }) {
  const since = useRef(null);
  if (!stale) since.current = null;
  else if (since.current === null) since.current = clockNow();
  // The seconds since (-1 while up to date: no render a second then).
  const age = useClockValue((at) => (since.current === null ? -1 : Math.floor((at - since.current) / 1000)));
  if (since.current === null || age * 1000 < STALE_NOTICE_AFTER_MS) return null;
  // The words read out once (an alert); the age that counts on, and the connection's own words
  // (which change as it retries), are not (a review: each change would be announced again).
  const detail = sentence([status.text, status.error].filter(Boolean).join(": "));
  // (The colon's space is in the text: htm drops a space that ends a line of the template, and a
  // new user's walk-through read "(15 s):what this screen shows".)
  const said = waiting ? "this screen can show nothing until it is." : "what this screen shows may be out of date.";
  return html`
    <div class="stale-notice" role="alert" data-since=${since.current}>
      <strong>${staleWords(status, feedLost)} since ${formatClock(since.current)}</strong>
      <span aria-hidden="true"> (${formatDuration(age * 1000)})</span>${`: ${said}`}${detail && html`<span aria-hidden="true"> ${detail}</span>`}
    </div>`;
}

/** `text` ending as a sentence does: a full stop added unless it ends with one, or with "…"
 * ("error).." and "Connecting…." before). */
function sentence(text) {
  return !text || /[.!?…]$/.test(text) ? text : `${text}.`;
}
