/** A titled list of job rows, drawing at most MAX_ROWS and counting the rest. */
import { html } from "./html.js";
import { JobRow } from "./JobRow.js";
import { keyOf } from "./labs.js";

export const MAX_ROWS = 50;

/** `variant` is passed to each JobRow; `empty` is shown when there is no job. */
export function JobSection({ id, title, jobs, variant, onOpen, empty }) {
  const shown = jobs.slice(0, MAX_ROWS);
  return html`
    <section class=${`job-section job-section-${variant}`} id=${id} aria-labelledby=${`${id}-title`}>
      <h3 class="job-section-title" id=${`${id}-title`}>${title} <span class="panel-count">${jobs.length}</span></h3>
      ${shown.length === 0 ? html`<p class="empty">${empty}</p>` : html`
        <ol class="job-rows">
          ${shown.map((job) => html`<${JobRow} key=${keyOf("job", job)} job=${job} variant=${variant} onOpen=${onOpen} />`)}
        </ol>`}
      ${jobs.length > shown.length && html`<p class="more">and ${jobs.length - shown.length} more</p>`}
    </section>`;
}
