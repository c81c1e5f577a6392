/**
 * A chart's frame: its title and controls, and what to say when there is nothing to draw: history
 * off (--no-store), a failed request, a filter with too many values, still loading. Data that
 * could not be refreshed stays shown, with a note saying since when.
 */
import { html } from "./html.js";
import { Panel } from "./Panel.js";
import { FILTER_WORDS, MAX_QUERIES, leftOutWords } from "./stats.js";
import { formatClock } from "./time.js";

/** `requests`: from statsRequests; `remote`: from useRemote; `children(bodies)` draws the data. */
export function ChartPanel({ id, title, controls, requests, remote, children, class: className = "" }) {
  let body;
  let status;
  if (requests.tooMany) {
    status = "too-many";
    body = html`<p class="chart-message">This chart asks the server once per combination of filter values,
      at most ${MAX_QUERIES}: choose fewer device types, workers, submitters or devices.</p>`;
  } else if (remote.off) {
    status = "off";
    body = html`<p class="chart-message is-off">History is off on this dashboard (the server runs
      with <code>--no-store</code>): there is nothing stored to chart.</p>`;
  } else if (remote.bodies) {
    status = remote.error ? "stale" : "ok";
    const leftOut = leftOutWords(remote.bodies);
    body = html`${children(remote.bodies)}
      ${leftOut.length > 0 && html`<p class="chart-message chart-left-out">Not counted here: ${leftOut.join("; ")}.</p>`}
      ${remote.error && html`<p class="chart-message is-error">Could not refresh (${remote.error.message});
        showing the data of ${formatClock(remote.at)}.</p>`}`;
  } else if (remote.error) {
    status = "error";
    body = html`<p class="chart-message is-error">Could not load this chart: ${remote.error.message}.
      Trying again every minute.</p>`;
  } else {
    status = "loading";
    body = html`<p class="chart-message">Loading…</p>`;
  }
  const ignored = requests.ignored.map((key) => FILTER_WORDS[key] || key);
  return html`
    <${Panel} id=${`chart-${id}`} title=${title} controls=${controls} class=${`panel-chart ${className}`}>
      <div class="chart" data-chart=${id} data-status=${status} aria-busy=${remote.loading ? "true" : "false"}>
        ${body}
        <p class="chart-foot">
          ${remote.at ? html`<span>Updated <time>${formatClock(remote.at)}</time>, every minute.</span>` : ""}
          ${ignored.length > 0 && html` <span class="chart-ignored">Not narrowed by ${ignored.join(" or ")}:
            this statistic does not have it.</span>`}
        </p>
      </div>
    <//>`;
}
