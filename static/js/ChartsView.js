/**
 * The Charts view (`view=charts`): the lab's history from the REST statistics (docs/api.md),
 * following the URL's filters where a statistic can. Each chart asks again every minute while the
 * view is shown, with at most one request of its own in flight.
 */
import { html } from "./html.js";
import { EventsChart } from "./EventsChart.js";
import { OutcomesChart } from "./OutcomesChart.js";
import { QueueChart } from "./QueueChart.js";
import { UtilisationChart } from "./UtilisationChart.js";
import { useChartColours } from "./chartColors.js";
import { memo } from "./memo.js";

/** What the page filters by that no chart can follow (the statistics know nothing of them). */
function unfollowed(filter, q, healthCheck) {
  const out = [];
  if (filter.health && filter.health.length) out.push("health");
  if (q) out.push("the search");
  if (healthCheck !== "any") out.push("the health-check choice");
  return out;
}

/** `filter`: the page's server-side filter (url.js options.filter); `theme`: light, dark or auto. */
function ChartsViewImpl({ filter, q, healthCheck, theme }) {
  const colours = useChartColours(theme);
  const notFollowed = unfollowed(filter, q, healthCheck);
  return html`
    <div class="charts" id="charts">
      ${notFollowed.length > 0 && html`<p class="panel-note charts-note">The charts do not follow ${notFollowed.join(", ")}:
        the server's statistics cannot be narrowed by ${notFollowed.length > 1 ? "them" : "it"}.</p>`}
      <${EventsChart} bucket="hour" filter=${filter} colours=${colours} />
      <${EventsChart} bucket="day" filter=${filter} colours=${colours} />
      <${OutcomesChart} filter=${filter} colours=${colours} />
      <${UtilisationChart} filter=${filter} />
      <${QueueChart} filter=${filter} colours=${colours} />
    </div>`;
}

export const ChartsView = memo(ChartsViewImpl);
