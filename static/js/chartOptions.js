/**
 * uPlot options shared by the charts: axes in the theme's colours, whole-number counts, time on x
 * (local hours, or UTC days for the daily charts: the server counts days in UTC), and a legend
 * that names every series (colour is never the only carrier: lines also differ by dash).
 */
import { formatDayMonth } from "./time.js";

/** Dash patterns by series position: solid, dashed, dotted, dash-dot, … */
export const DASHES = [null, [7, 4], [2, 3], [9, 3, 2, 3], [4, 4], [1, 2]];

const COUNT_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000,
  20000, 25000, 50000, 100000, 200000, 250000, 500000, 1e6, 2e6, 5e6, 1e7];
const FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'DejaVu Sans', sans-serif";
const pad = (n) => String(n).padStart(2, "0");

/** "#rrggbb" with an alpha (0..1) appended; other colour syntaxes are returned unchanged. */
export function withAlpha(colour, alpha) {
  if (!/^#[0-9a-f]{6}$/i.test(colour)) return colour;
  return colour + pad(Math.round(alpha * 255).toString(16));
}

/** A count for an axis: 950, 1.2k, 35k, 1.5M. */
export function shortCount(n) {
  if (n == null) return "";
  const abs = Math.abs(n);
  if (abs >= 1e6) return `${+(n / 1e6).toFixed(abs >= 1e7 ? 0 : 1)}M`;
  if (abs >= 1e4) return `${Math.round(n / 1e3)}k`;
  if (abs >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** An epoch-seconds x (a bucket's middle) → the bucket as text, e.g. "14:00–15:00" or "2026-11-27 UTC". */
export function bucketText(ts, width, utc) {
  if (ts == null) return "–";
  const start = new Date((ts - width / 2) * 1000);
  if (utc) return `${start.getUTCFullYear()}-${pad(start.getUTCMonth() + 1)}-${pad(start.getUTCDate())} UTC`;
  const end = new Date((ts + width / 2) * 1000);
  const day = `${pad(start.getMonth() + 1)}-${pad(start.getDate())}`;
  return `${day} ${pad(start.getHours())}:${pad(start.getMinutes())}–${pad(end.getHours())}:${pad(end.getMinutes())}`;
}

/**
 * Time-axis labels in the page's 24-hour style: "18:00" (with the date under the first tick and
 * under midnight), or "27 Nov" when the ticks are days apart. `utc`: read the times in UTC.
 */
export function timeTicks(ticks, incr, utc) {
  return ticks.map((ts, i) => {
    const d = new Date(ts * 1000);
    const [hours, minutes] = utc ? [d.getUTCHours(), d.getUTCMinutes()] : [d.getHours(), d.getMinutes()];
    const date = formatDayMonth(ts * 1000, utc);
    if (incr >= 86400) return date;
    const clock = `${pad(hours)}:${pad(minutes)}`;
    return i === 0 || (hours === 0 && minutes === 0) ? `${clock}\n${date}` : clock;
  });
}

/**
 * The frame of a time chart: `{colours, utc, width}` where `width` is a bucket's length in
 * seconds (the x range is widened by half of one on both sides so that edge bars show whole).
 */
export function timeChart(uPlot, { colours, utc = false, width = 0, xLabel = "Time", valueOfX }) {
  const axis = {
    stroke: colours.muted,
    font: FONT,
    grid: { stroke: colours.grid, width: 1 },
    ticks: { stroke: colours.axis, width: 1, size: 4 },
  };
  return {
    ...(utc ? { tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC") } : {}),
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    legend: { show: true, live: true },
    scales: {
      x: { time: true, range: (u, min, max) => (min == null ? [0, 1] : [min - width / 2, max + width / 2]) },
      y: { range: (u, min, max) => [0, Math.max(1, uPlot.rangeNum(0, max || 1, 0.1, true)[1])] },
    },
    axes: [
      { ...axis, space: 60, values: (u, ticks, ax, space, incr) => timeTicks(ticks, incr, utc) },
      { ...axis, incrs: COUNT_STEPS, values: (u, ticks) => ticks.map(shortCount), size: 44 },
    ],
    series: [{ label: xLabel, value: (u, ts) => (valueOfX ? valueOfX(ts) : bucketText(ts, width, utc)) }],
  };
}

/** A line series named `label` in `colour`, with the dash pattern for position `index`. */
export function lineSeries(label, colour, index, extra = {}) {
  return {
    label,
    stroke: colour,
    width: 2,
    dash: DASHES[index % DASHES.length] || undefined,
    points: { size: 5, fill: colour },
    value: (u, v) => (v == null ? "–" : String(v)),
    ...extra,
  };
}
