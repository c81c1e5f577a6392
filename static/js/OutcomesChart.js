/** Finished jobs per UTC day over the last 30 days, stacked by outcome (Complete, Incomplete, Canceled). */
import { useMemo, useRef } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { ChartPanel } from "./ChartPanel.js";
import { now as clockNow } from "./clock.js";
import { UPlotChart } from "./UPlotChart.js";
import { timeChart, withAlpha } from "./chartOptions.js";
import { useRemote } from "./remote.js";
import { outcomeColumns, stack, statsRequests } from "./stats.js";

const DAYS = 30;
const DAY = 86400;

function outcomeColour(colours, outcome, i) {
  return { Complete: colours.good, Incomplete: colours.bad, Canceled: colours.retired }[outcome]
    || colours.series[(i + 3) % colours.series.length];
}

function Plot({ bodies, colours }) {
  // Asked again every minute: a new day's column appears soon after UTC midnight.
  const columns = useMemo(() => outcomeColumns(bodies, DAYS, clockNow()), [bodies]);
  // The bars are drawn stacked (each a running sum); the legend shows each outcome's own count.
  const raw = useRef(columns.ys);
  raw.current = columns.ys;
  // The axis ends with today: from the first day's start to the last moment of today (UTC), so
  // no tick for tomorrow (uPlot's own range pads past the last bar's middle).
  const xs = useRef(columns.x);
  xs.current = columns.x;
  const names = columns.outcomes.join(",");
  const opts = useMemo(() => (uPlot) => {
    const base = timeChart(uPlot, { colours, width: DAY, utc: true, xLabel: "Day" });
    const bars = uPlot.paths.bars({ size: [0.7, 40] });
    const n = columns.outcomes.length;
    return {
      ...base,
      cursor: { ...base.cursor, points: { show: false } },
      scales: { ...base.scales, x: { ...((base.scales && base.scales.x) || {}),
        range: () => [xs.current[0] - DAY / 2, xs.current[xs.current.length - 1] + DAY / 2 - 1] } },
      series: [base.series[0], ...columns.outcomes.map((outcome, i) => {
        const colour = outcomeColour(colours, outcome, i);
        return {
          label: outcome,
          stroke: colour,
          fill: withAlpha(colour, 0.75),
          width: 1,
          paths: bars,
          points: { show: false },
          value: (u, v, si, idx) => (idx == null || !raw.current[si - 1] ? "–" : String(raw.current[si - 1][idx])),
        };
      })],
      // Each band fills between an outcome's running sum and the one below it: a stacked bar.
      bands: Array.from({ length: n - 1 }, (_, i) => ({ series: [i + 2, i + 1] })),
    };
  }, [colours, names]);
  const data = useMemo(() => [columns.x, ...stack(columns.ys)], [columns]);
  const label = `Job outcomes per day, last ${DAYS} days: ${columns.outcomes.map((o, i) =>
    `${o} ${columns.ys[i].reduce((a, b) => a + b, 0)}`).join(", ")}`;
  return html`
    ${columns.total === 0 && html`<p class="chart-message">No job finished in the last ${DAYS} days.</p>`}
    <${UPlotChart} opts=${opts} data=${data} height=${170} label=${label} />`;
}

export function OutcomesChart({ filter, colours }) {
  const requests = useMemo(() => statsRequests("outcomes", { days: DAYS }, filter), [filter]);
  const remote = useRemote(requests.urls);
  return html`
    <${ChartPanel} id="outcomes" title="Job outcomes per day · last 30 days (UTC)" requests=${requests} remote=${remote}>
      ${(bodies) => html`<${Plot} bodies=${bodies} colours=${colours} />`}
    <//>`;
}
