/**
 * A device's state and health over the last 24 h or 7 days, as bands on a line (plain DOM: one
 * element per band, placed in percent). Each band names its state, health and times in its title
 * and accessible name; the legend names the categories with the time spent in each.
 */
import { useMemo, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { CategoryLegend } from "./CategoryLegend.js";
import { memo } from "./memo.js";
import { Toggle } from "./Toggle.js";
import { token } from "./lava.js";
import { useRemote } from "./remote.js";
import { WINDOWS } from "./stats.js";
import { formatClock, formatDateTime, formatDayMonth, formatDuration, formatShare } from "./time.js";
import { categoryTotals, placeBands, windowTicks } from "./timeline.js";
import { withLab } from "./labs.js";

const pad = (n) => String(n).padStart(2, "0");
const NO_RECORD = "No record";

function tickText(at, windowKey) {
  const d = new Date(at);
  return windowKey === "7d" ? formatDayMonth(at) : `${pad(d.getHours())}:00`;
}

function bandText(band) {
  return `${band.state} / ${band.health} (${band.category}): ${formatDateTime(band.start * 1000)} – `
    + `${formatDateTime(band.end * 1000)}, ${formatDuration((band.end - band.start) * 1000)}`;
}

function Bands({ body, windowKey }) {
  const placed = useMemo(() => placeBands(body.bands, body.from, body.to), [body]);
  const texts = useMemo(() => placed.map(bandText), [placed]);
  const totals = useMemo(() => categoryTotals(placed), [placed]);
  const ticks = useMemo(() => windowTicks(body.from, body.to, windowKey), [body, windowKey]);
  if (!placed.length) return html`<p class="empty">No state recorded for this device in this window.</p>`;
  const span = body.to - body.from;
  const seconds = Object.fromEntries(totals.map((t) => [t.category, { seconds: t.seconds, share: t.seconds / span }]));
  const known = totals.reduce((sum, t) => sum + t.seconds, 0);
  // Time before the device's first stored state shows as the line's empty background.
  if (span - known > span * 0.005) seconds[NO_RECORD] = { seconds: span - known, share: (span - known) / span };
  return html`
    <div class="timeline" role="list" aria-label=${`State and health over the last ${windowKey === "7d" ? "7 days" : "24 hours"}`}
        data-bands=${placed.length}>
      ${placed.map((band, i) => html`<span key=${band.start} role="listitem"
        class=${`timeline-band cat-${token(band.category)}`} data-category=${band.category}
        data-state=${band.state} data-health=${band.health} style=${{ left: `${band.left}%`, width: `${band.width}%` }}
        title=${texts[i]} aria-label=${texts[i]}></span>`)}
    </div>
    <div class="timeline-axis" aria-hidden="true">
      ${ticks.map((tick) => html`<span key=${tick.at} class="timeline-tick"
        style=${{ left: `${tick.left}%` }}>${tickText(tick.at, windowKey)}</span>`)}
    </div>
    <div class="timeline-ends muted">
      <time title=${formatDateTime(body.from * 1000)}>${windowKey === "7d" ? "7 days ago" : "24 h ago"}</time>
      <time title=${formatDateTime(body.to * 1000)}>now (${formatClock(body.to * 1000)})</time>
    </div>
    <${CategoryLegend} categories=${Object.keys(seconds)}
      extra=${(c) => `${formatDuration(seconds[c].seconds * 1000)} (${formatShare(seconds[c].share)})`} />`;
}

/** `hostname` (of `lab`, if named); `reloadKey` changes when the live device does (its state or health): ask again. */
function DeviceTimelineView({ hostname, lab = "", reloadKey }) {
  const [windowKey, setWindow] = useState("24h");
  const urls = useMemo(() => [withLab(`/api/v1/devices/${encodeURIComponent(hostname)}/timeline?window=${windowKey}`, lab)],
    [hostname, lab, windowKey]);
  const remote = useRemote(urls, { reloadKey });
  let body;
  if (remote.off) body = html`<p class="empty">History is off on this dashboard (<code>--no-store</code>): no timeline.</p>`;
  else if (remote.bodies) body = html`<${Bands} body=${remote.bodies[0]} windowKey=${windowKey} />`;
  else if (remote.error) body = html`<p class="empty is-error">Could not load the timeline: ${remote.error.message}.</p>`;
  else body = html`<p class="empty">Loading…</p>`;
  return html`
    <section class="detail-section device-timeline" id="device-timeline" aria-labelledby="device-timeline-title">
      <div class="detail-section-head">
        <h3 id="device-timeline-title" class="detail-subtitle">Timeline</h3>
        <${Toggle} label="Timeline window" value=${windowKey} choices=${WINDOWS} onChange=${setWindow} />
      </div>
      ${body}
    </section>`;
}

/** Memoized: the details panel re-renders on every data frame, the bands only when these props change. */
export const DeviceTimeline = memo(DeviceTimelineView);
