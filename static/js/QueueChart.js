/** The most jobs waiting in the queue in each 15-minute step of the last 24 h, or each hour of 7 days. */
import { useMemo, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { ChartPanel } from "./ChartPanel.js";
import { Toggle } from "./Toggle.js";
import { UPlotChart } from "./UPlotChart.js";
import { lineSeries, timeChart, withAlpha } from "./chartOptions.js";
import { useRemote } from "./remote.js";
import { WINDOWS, queueColumns, statsRequests } from "./stats.js";
import { formatDateTime } from "./time.js";

function Plot({ bodies, colours }) {
  const columns = useMemo(() => queueColumns(bodies), [bodies]);
  const opts = useMemo(() => (uPlot) => {
    const base = timeChart(uPlot, { colours, xLabel: "At", valueOfX: (ts) => (ts == null ? "–" : formatDateTime(ts * 1000)) });
    return {
      ...base,
      series: [base.series[0], lineSeries("Most jobs queued", colours.waiting, 0,
        { fill: withAlpha(colours.waiting, 0.18), points: { show: false } })],
    };
  }, [colours]);
  const data = useMemo(() => [columns.x, columns.y], [columns]);
  return html`
    ${columns.max === 0 && html`<p class="chart-message">No job waited in this window.</p>`}
    <${UPlotChart} opts=${opts} data=${data} height=${170}
      label=${`Most jobs queued per step: at most ${columns.max}, last step ${columns.y.length ? columns.y[columns.y.length - 1] : 0}`} />`;
}

export function QueueChart({ filter, colours }) {
  const [windowKey, setWindow] = useState("24h");
  const requests = useMemo(() => statsRequests("queue", { window: windowKey }, filter), [windowKey, filter]);
  const remote = useRemote(requests.urls);
  const controls = html`<${Toggle} label="Window" value=${windowKey} choices=${WINDOWS} onChange=${setWindow}
    class="chart-window" />`;
  return html`
    <${ChartPanel} id="queue" title="Queue length" controls=${controls} requests=${requests} remote=${remote}>
      ${(bodies) => html`<${Plot} bodies=${bodies} colours=${colours} />`}
    <//>`;
}
