/** The time of day, large, for a wall display. */
import { html } from "./html.js";
import { useClockValue } from "./clock.js";

const pad = (n) => String(n).padStart(2, "0");

export function WallClock() {
  const text = useClockValue((now) => {
    const d = new Date(now);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  });
  return html`<time class="wall-clock" aria-label="Time">${text}</time>`;
}
