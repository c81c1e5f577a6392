/**
 * Under the header: the views, the theme, and a link to the same view as a wall display. A named
 * region, so that every part of the page is in a landmark (axe's `region` rule).
 */
import { html } from "./html.js";
import { ViewTabs } from "./ViewTabs.js";
import { THEMES } from "./url.js";

export function Toolbar({ view, theme, hrefFor, wallHref, onView, onTheme }) {
  return html`
    <section class="toolbar" aria-label="Views and display">
      <${ViewTabs} view=${view} hrefFor=${hrefFor} onView=${onView} />
      <div class="toolbar-end">
        <label class="theme-choice">Theme
          <select value=${theme} onChange=${(event) => onTheme(event.currentTarget.value)}>
            ${THEMES.map((t) => html`<option key=${t} value=${t}>${t}</option>`)}
          </select>
        </label>
        <a class="wall-link" href=${wallHref} title="This view, full screen, for a wall display">Wall mode</a>
      </div>
    </section>`;
}
