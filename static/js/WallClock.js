/** The time of day, large, for a wall display: by the server's clock (clock.js), and a tooltip
 * when the screen's own clock is off (ClockNote). */
import { html } from "./html.js";
import { clockOffset, useClockValue } from "./clock.js";
import { offsetWords } from "./ClockNote.js";

const pad = (n) => String(n).padStart(2, "0");

export function WallClock() {
  // One value for both, so that the tooltip follows the offset as soon as it is known.
  const shown = useClockValue((now) => {
    const d = new Date(now);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}|${offsetWords(clockOffset())}`;
  });
  const [text, off] = shown.split("|");
  return html`<time class="wall-clock" aria-label="Time"
    title=${off ? `This screen's clock is ${off}; shown by the server's` : undefined}>${text}</time>`;
}
