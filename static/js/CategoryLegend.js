/** The key to the device time categories' colours and patterns, by name (used by bars and timelines). */
import { html } from "./html.js";
import { token } from "./lava.js";

/** `categories`: names; `extra(category)`: optional text after each name (a duration, a share). */
export function CategoryLegend({ categories, extra }) {
  return html`
    <ul class="category-legend">
      ${categories.map((category) => html`<li key=${category} data-category=${category}>
        <span class=${`category-swatch cat-${token(category)}`} aria-hidden="true"></span>${category}${
          extra ? html` <span class="muted">${extra(category)}</span>` : ""}
      </li>`)}
    </ul>`;
}
