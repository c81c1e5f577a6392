/** A titled section of the board with an optional count and controls beside the title. */
import { html } from "./html.js";

export function Panel({ id, title, count, controls, class: className = "", children }) {
  return html`
    <section id=${id} class=${`panel ${className}`} aria-labelledby=${`${id}-title`}>
      <div class="panel-head">
        <h2 id=${`${id}-title`} class="panel-title">
          ${title}${count != null && html` <span class="panel-count">${count}</span>`}
        </h2>
        ${controls && html`<div class="panel-controls">${controls}</div>`}
      </div>
      <div class="panel-body">${children}</div>
    </section>`;
}
