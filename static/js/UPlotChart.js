/**
 * One uPlot chart (static/vendor/uplot, loaded the first time a chart is shown: the dashboard's
 * other views never pay for it). uPlot draws on a canvas and sets its few styles through the
 * CSSOM, which the page's Content-Security-Policy allows.
 *
 * `opts(uPlot)`: the chart's options (a new function makes a new chart: theme, series);
 * `data`: uPlot's columns `[x, y1, y2, ...]` (new data is drawn into the same chart);
 * the width follows the box, the height is `height` px.
 */
import { useEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { useBoxSize } from "./boxsize.js";

const UPLOT_URL = "/static/vendor/uplot/uPlot.esm.js";
let loading = null;

/** The uPlot constructor, imported once for the whole page. */
export function loadUPlot() {
  if (!loading) {
    loading = import(UPLOT_URL).then((module) => module.default).catch((err) => {
      loading = null; // try again next time
      throw err;
    });
  }
  return loading;
}

export function UPlotChart({ opts, data, height = 220, label }) {
  const [size, ref] = useBoxSize();
  const host = useRef(null);
  const chart = useRef(null);
  const [uPlot, setUPlot] = useState(null);
  const [failed, setFailed] = useState(null);
  const width = size ? size.width : 0;

  useEffect(() => {
    let live = true;
    loadUPlot().then((ctor) => live && setUPlot(() => ctor), (err) => live && setFailed(String(err)));
    return () => { live = false; };
  }, []);

  useEffect(() => {
    if (!uPlot || !width || !host.current) return undefined;
    const given = opts(uPlot);
    // The x scale's ends, on the host (tests read them: the outcomes axis must end with today).
    const showRange = (u) => {
      host.current && Object.assign(host.current.dataset, { xMin: String(u.scales.x.min), xMax: String(u.scales.x.max) });
    };
    const hooks = { ...(given.hooks || {}), setScale: [...((given.hooks && given.hooks.setScale) || []), showRange] };
    const made = new uPlot({ ...given, hooks, width, height }, data, host.current);
    chart.current = made;
    return () => {
      made.destroy();
      if (chart.current === made) chart.current = null;
    };
    // Width changes are handled below without a new chart; only a first width creates one.
  }, [uPlot, opts, height, width > 0]);

  useEffect(() => { if (chart.current) chart.current.setData(data); }, [data]);
  useEffect(() => {
    if (chart.current && width) chart.current.setSize({ width, height });
  }, [width, height]);

  return html`
    <div class="chart-box" ref=${ref} role="figure" aria-label=${label}>
      ${failed ? html`<p class="chart-message is-error">The chart library did not load: ${failed}</p>` : ""}
      <div class="chart-host" ref=${host}></div>
    </div>`;
}
