/** The time of day, large, for a wall display. */
import { html } from "./html.js";
import { clockOffset, useClockValue } from "./clock.js";
import { offsetWords } from "./ClockNote.js";

const pad = (n) => String(n).padStart(2, "0");

export function WallClock() {
  const text = useClockValue((now) => {
    const d = new Date(now);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  });
  // (The time of day by the server's clock; the screen's own may be off: ClockNote.)
  const off = offsetWords(clockOffset());
  return html`<time class="wall-clock" aria-label="Time"
    title=${off ? `This screen's clock is ${off}; shown by the server's` : undefined}>${text}</time>`;
}
