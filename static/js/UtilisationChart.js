/**
 * Device utilisation: per device type, the share of time Running, Idle, Maintenance, Bad and
 * Retired over 24 h or 7 days, as one bar per type. Plain DOM: a handful of labelled rows reads
 * better than a canvas, and every share is also written out as text.
 */
import { useMemo, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { ChartPanel } from "./ChartPanel.js";
import { CategoryLegend } from "./CategoryLegend.js";
import { Toggle } from "./Toggle.js";
import { token } from "./lava.js";
import { useRemote } from "./remote.js";
import { formatShare } from "./time.js";
import { CATEGORIES, WINDOWS, mergeUtilisation, statsRequests, utilisationRows } from "./stats.js";

const MAX_ROWS = 100;

const hours = (seconds) => (seconds >= 36000 ? Math.round(seconds / 3600) : (seconds / 3600).toFixed(1));

function Rows({ bodies }) {
  const rows = useMemo(() => utilisationRows(mergeUtilisation(bodies)), [bodies]);
  if (!rows.length) return html`<p class="chart-message">No device state recorded in this window.</p>`;
  return html`
    <${CategoryLegend} categories=${CATEGORIES} />
    <ul class="utilisation">
      ${rows.slice(0, MAX_ROWS).map((row) => html`
        <li key=${row.type} class="utilisation-row" data-device-type=${row.type}>
          <span class="utilisation-type" title=${row.type}>${row.type}</span>
          <span class="utilisation-bar">
            ${row.parts.map((p) => html`<span key=${p.category} class=${`utilisation-part cat-${token(p.category)}`}
              data-category=${p.category} style=${{ width: `${p.share * 100}%` }}
              title=${`${row.type}: ${p.category} ${formatShare(p.share)} of ${hours(row.seconds)} device-hours`}></span>`)}
          </span>
          <span class="utilisation-text">${row.parts.map((p) => `${p.category} ${formatShare(p.share)}`).join(" · ")}</span>
          <span class="utilisation-hours muted" title="Time covered: the devices' hours added up">${hours(row.seconds)} device-h</span>
        </li>`)}
    </ul>
    ${rows.length > MAX_ROWS && html`<p class="more">and ${rows.length - MAX_ROWS} more device types</p>`}`;
}

export function UtilisationChart({ filter }) {
  const [windowKey, setWindow] = useState("24h");
  const requests = useMemo(() => statsRequests("utilisation", { window: windowKey }, filter), [windowKey, filter]);
  const remote = useRemote(requests.urls);
  const controls = html`<${Toggle} label="Window" value=${windowKey} choices=${WINDOWS} onChange=${setWindow}
    class="chart-window" />`;
  return html`
    <${ChartPanel} id="utilisation" title="Device utilisation" controls=${controls} requests=${requests}
        remote=${remote} class="panel-utilisation">
      ${(bodies) => html`<${Rows} bodies=${bodies} />`}
    <//>`;
}
