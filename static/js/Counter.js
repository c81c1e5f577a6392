/** One counter: a number and what it counts, in words; zero dims, alerts stand out. */
import { html } from "./html.js";
import { token } from "./lava.js";

/**
 * `kind` and `tone` (default: `word`) pick the colour, e.g. kind "health", tone "Bad"; `display`
 * replaces the number shown (e.g. "500+") while `value` stays in data-count.
 */
export function Counter({ name, value, display, kind, word, tone = word, alert = false, title }) {
  const cls = `counter ${kind}-${token(tone)}${value === 0 ? " is-zero" : ""}${alert && value > 0 ? " is-alert" : ""}`;
  return html`<li class=${cls} data-counter=${name} data-count=${value} title=${title}>
    <span class="counter-value">${display ?? value}</span> <span class="counter-word">${word}</span></li>`;
}
