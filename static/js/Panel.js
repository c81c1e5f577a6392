/**
 * A titled section of the board with an optional count and controls beside the title. Its heading
 * takes the focus when a focused item of the panel goes away (focus.js).
 */
import { html } from "./html.js";

export function Panel({ id, title, count, controls, class: className = "", children }) {
  return html`
    <section id=${id} class=${`panel ${className}`} aria-labelledby=${`${id}-title`} data-focus-home=${`#${id}-title`}>
      <div class="panel-head">
        <h2 id=${`${id}-title`} class="panel-title" tabindex="-1">
          ${title}${count != null && html` <span class="panel-count">${count}</span>`}
        </h2>
        ${controls && html`<div class="panel-controls">${controls}</div>`}
      </div>
      <div class="panel-body">${children}</div>
    </section>`;
}
