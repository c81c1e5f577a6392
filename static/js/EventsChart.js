/** Events per hour over the last 24 h, or per day over the last 30 days, one line per kind. */
import { useMemo } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { ChartPanel } from "./ChartPanel.js";
import { UPlotChart } from "./UPlotChart.js";
import { lineSeries, timeChart } from "./chartOptions.js";
import { useRemote } from "./remote.js";
import { KIND_LABELS, KIND_ORDER, eventsColumns, statsRequests } from "./stats.js";

const BUCKETS = {
  hour: { title: "Events per hour · last 24 h", width: 3600, utc: false },
  day: { title: "Events per day · last 30 days (UTC)", width: 86400, utc: true },
};

/** A kind's colour: the known kinds keep theirs whichever are present. */
function kindColour(colours, kind, index) {
  const at = KIND_ORDER.indexOf(kind);
  return colours.series[(at >= 0 ? at : KIND_ORDER.length + index) % colours.series.length];
}

function Plot({ bodies, bucket, colours }) {
  const spec = BUCKETS[bucket];
  const columns = useMemo(() => eventsColumns(bodies, bucket), [bodies, bucket]);
  const names = columns.kinds.join(",");
  const opts = useMemo(() => (uPlot) => {
    const base = timeChart(uPlot, { colours, width: spec.width, utc: spec.utc,
      xLabel: bucket === "day" ? "Day" : "Hour" });
    return {
      ...base,
      series: [base.series[0], ...columns.kinds.map((kind, i) => {
        const at = KIND_ORDER.indexOf(kind);
        return lineSeries(KIND_LABELS[kind] || kind, kindColour(colours, kind, i), at >= 0 ? at : i);
      })],
    };
  }, [colours, bucket, names]);
  const data = useMemo(() => [columns.x, ...columns.ys], [columns]);
  return html`
    ${columns.total === 0 && html`<p class="chart-message">No events stored in this window.</p>`}
    <${UPlotChart} opts=${opts} data=${data} height=${170} label=${`${spec.title}: ${columns.total} events, by kind (${
      columns.kinds.map((k) => KIND_LABELS[k] || k).join(", ") || "none"})`} />`;
}

export function EventsChart({ bucket, filter, colours }) {
  const requests = useMemo(() => statsRequests("events", { bucket }, filter), [bucket, filter]);
  const remote = useRemote(requests.urls);
  return html`
    <${ChartPanel} id=${`events-${bucket}`} title=${BUCKETS[bucket].title} requests=${requests} remote=${remote}>
      ${(bodies) => html`<${Plot} bodies=${bodies} bucket=${bucket} colours=${colours} />`}
    <//>`;
}
