/** The views, as links (a view is a URL: middle-click opens it in a new tab) that switch in place. */
import { html } from "./html.js";

const LABELS = { all: "Dashboard", devices: "Devices", jobs: "Jobs", workers: "Workers", feed: "Live feed",
  charts: "Charts", alerts: "Alerts", reports: "Reports" };

/** `hrefFor(view)` gives each link's URL; `onView(view)` switches without loading a page. */
export function ViewTabs({ view, hrefFor, onView }) {
  return html`
    <nav class="view-tabs" aria-label="Views">
      ${Object.entries(LABELS).map(([key, text]) => html`<a key=${key} href=${hrefFor(key)} class="view-tab"
        data-view-tab=${key} aria-current=${key === view ? "page" : undefined}
        onClick=${(event) => {
          if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
          event.preventDefault();
          onView(key);
        }}>${text}</a>`)}
    </nav>`;
}
