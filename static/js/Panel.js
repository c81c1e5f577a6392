/** A titled section of the board with an optional count beside the title. */
import { html } from "/static/vendor/htm/standalone.module.js";

export function Panel({ id, title, count, class: className = "", children }) {
  return html`
    <section id=${id} class=${`panel ${className}`} aria-labelledby=${`${id}-title`}>
      <h2 id=${`${id}-title`} class="panel-title">
        ${title}${count != null && html` <span class="panel-count">${count}</span>`}
      </h2>
      <div class="panel-body">${children}</div>
    </section>`;
}
