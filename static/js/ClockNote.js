/**
 * Says that this screen's clock is off, when the server's answers show it (clock.js): the times
 * and durations the page shows follow the server's clock instead, and whoever looks after the
 * screen learns that its clock wants setting.
 */
import { html } from "./html.js";
import { clockOffset, useClockValue } from "./clock.js";
import { formatDuration } from "./time.js";

/** The offset in words: "3 m 12 s slow" (behind the server's) or "… fast"; "" when right. */
export function offsetWords(offset) {
  if (!offset) return "";
  return `${formatDuration(Math.abs(offset))} ${offset > 0 ? "slow" : "fast"}`;
}

export function ClockNote() {
  const words = useClockValue(() => offsetWords(clockOffset()));
  if (!words) return null;
  return html`<p class="clock-note" id="clock-note">This screen's clock is ${words}: the times shown
    follow the dashboard server's clock.</p>`;
}
