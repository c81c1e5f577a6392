/**
 * The Reports view: reliability per device, device type or worker over a period (GET
 * /api/v1/reports), in a sortable table, printable, with CSV and JSON exports of the same figures,
 * and each row's availability per UTC day as a sparkline (bars, with the lowest and highest day in
 * words for screen readers and as a tooltip). With several labs, one lab's report at a time (each
 * lab keeps its own history): a choice of lab, the lab of the page's filter first.
 */
import { useEffect, useMemo, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { now as clockNow } from "./clock.js";
import { getJson } from "./remote.js";
import { leftOutWords } from "./stats.js";

const GROUPS = [["device", "Device"], ["device_type", "Device type"], ["worker", "Worker"]];
const COLUMNS = [["availability", "Availability", "pct"], ["utilisation", "Utilisation", "pct"],
  ["known_hours", "Known (h)", "h"], ["failures", "Failures"], ["mtbf_hours", "MTBF (h)"], ["mttr_hours", "MTTR (h)"],
  ["health_check_pass_rate", "Health checks passed", "pct"], ["health_checks", "Health checks"],
  ["jobs_run", "Jobs run"], ["jobs_completed", "Completed"],
  ["queue_wait_p50_s", "Queue wait p50 (min)", "min"], ["queue_wait_p95_s", "p95 (min)", "min"]];

const show = (value, unit) => {
  if (value === null || value === undefined) return "–";
  if (unit === "pct") return `${(value * 100).toFixed(1)} %`;
  if (unit === "min") return (value / 60).toFixed(1);
  if (unit === "h") return value.toFixed(1);
  return String(value);
};

/**
 * The words over a report whose rows know less of the period than its length (a dashboard that
 * has run for an hour, over 30 days: "100.0 %" read as a month's figure; a new user's
 * walk-through), or null.
 */
export function coverageWords(body, group = "device") {
  // A type's or a worker's known hours are its boards' together (ten boards known for three days
  // make 720 h of a 30-day period): only a board's say how much of the period is known (a review).
  if (group !== "device" || !body || !body.rows || !body.rows.length) return null;
  const period = Math.max(0, (body.to - body.from) / 3600);
  const most = Math.max(...body.rows.map((r) => r.known_hours || 0));
  if (!period || most >= 0.9 * period) return null;
  const hours = (h) => (h < 10 ? h.toFixed(1) : Math.round(h).toLocaleString("en"));
  // (Under an hour in minutes: a fresh lab's "at most 0.0 h" beside "100.0 %" read as nothing known.)
  const span = (h) => (h >= 1 ? `at most ${hours(h)} h` : h >= 1 / 60 ? `at most ${Math.floor(h * 60)} min`
    : "less than a minute");
  return `Known for ${span(most)} of this period's ${hours(period)} h: each row's figures ` +
    "cover only its known hours (“Known (h)”), not the whole period.";
}

/** A bar as wide as a share: a sparkline of one figure, readable on paper too. */
const Bar = ({ share }) => (share === null || share === undefined ? "" : html`<span class="report-bar"
  aria-hidden="true"><span style=${`width:${Math.round(share * 100)}%`}></span></span>`);

const day = (epoch) => new Date(epoch * 1000).toISOString().slice(0, 10);

/** In words, what a sparkline of availability per day shows (for screen readers and tooltips). */
export function describeDays(days) {
  const known = (days || []).filter(([, v]) => v !== null && v !== undefined);
  if (!known.length) return "Availability per day: no day known";
  const low = known.reduce((a, b) => (b[1] < a[1] ? b : a));
  const high = known.reduce((a, b) => (b[1] > a[1] ? b : a));
  return `Availability per day over ${days.length} day${days.length > 1 ? "s" : ""}: lowest ` +
    `${show(low[1], "pct")} on ${day(low[0])}, highest ${show(high[1], "pct")} on ${day(high[0])}` +
    (known.length < days.length ? `, ${days.length - known.length} not known` : "");
}

/** Availability per UTC day as small bars (a gap where a day is not known), with its words. */
const Sparkline = ({ days }) => {
  if (!days || !days.length) return "";
  const w = Math.max(2, Math.min(6, Math.floor(120 / days.length)));
  const label = describeDays(days);
  return html`<svg class="sparkline" role="img" aria-label=${label} width=${w * days.length} height="16"
    viewBox=${`0 0 ${w * days.length} 16`}><title>${label}</title>
    ${days.map(([ts, v], i) => (v === null || v === undefined ? null : html`<rect key=${ts}
      x=${i * w} y=${16 - Math.max(1, Math.round(v * 16))} width=${Math.max(1, w - 1)}
      height=${Math.max(1, Math.round(v * 16))} class=${v < 0.5 ? "low" : ""} />`))}</svg>`;
};

const NO_LABS = [];

/** `labs`: the named labs (none for a dashboard of one unnamed lab); `chosen`: the filter's lab, if any. */
export function ReportsView({ labs = NO_LABS, chosen = "" }) {
  const [picked, setLab] = useState(null);
  const lab = labs.length ? (labs.includes(picked) ? picked : labs.includes(chosen) ? chosen : labs[0]) : "";
  const [group, setGroup] = useState("device");
  const [days, setDays] = useState(30);
  const [sort, setSort] = useState({ key: "availability", down: false });
  const [body, setBody] = useState(null);
  const [error, setError] = useState(null);
  const query = useMemo(() => {
    const until = new Date(clockNow());
    const since = new Date(until.getTime() - days * 86400 * 1000);
    return `since=${since.toISOString()}&until=${until.toISOString()}&group=${group}${lab ? `&lab=${encodeURIComponent(lab)}` : ""}`;
  }, [group, days, lab]);
  useEffect(() => {
    const controller = new AbortController();
    setError(null);
    getJson(`/api/v1/reports?${query}`, controller.signal).then(setBody)
      .catch((err) => { if (!controller.signal.aborted) setError(err.message); });
    return () => controller.abort();
  }, [query]);
  const rows = useMemo(() => {
    if (!body) return [];
    const value = (r) => (r[sort.key] === null || r[sort.key] === undefined ? -Infinity : r[sort.key]);
    const out = [...body.rows].sort((a, b) => (value(a) < value(b) ? -1 : value(a) > value(b) ? 1 : 0));
    return sort.down ? out.reverse() : out;
  }, [body, sort]);
  const leftOut = useMemo(() => leftOutWords(body ? [body] : []), [body]);  // (what the server did not count)
  const coverage = useMemo(() => coverageWords(body, group), [body, group]);
  // Queue waits are a device type's figure (jobs wait for a type, not a board): shown per type only.
  const columns = (group === "device_type" ? COLUMNS : COLUMNS.filter(([key]) => !key.startsWith("queue_wait")))
    // A group's known hours are its boards' together: said so.
    .map((column) => (column[0] === "known_hours" && group !== "device" ? ["known_hours", "Board-hours known", "h"] : column));
  const header = (key, label) => html`<th key=${key} scope="col"
    aria-sort=${sort.key === key ? (sort.down ? "descending" : "ascending") : "none"}>
    <button type="button" class="sort" data-sort=${key}
      onClick=${() => setSort({ key, down: sort.key === key ? !sort.down : false })}>${label}</button></th>`;
  return html`
    <section id="reports-view" class="panel reports-view" aria-label="Reliability report">
      <h2>Reliability${lab ? ` of lab ${lab}` : ""}${body ? ` ${day(body.from)} – ${day(body.to)}` : ""}</h2>
      <div class="report-controls">
        ${labs.length > 0 && html`<label>Lab <select id="report-lab" value=${lab} onChange=${(e) => setLab(e.target.value)}>
          ${labs.map((name) => html`<option key=${name} value=${name}>${name}</option>`)}</select></label>`}
        <label>Per <select id="report-group" value=${group} onChange=${(e) => setGroup(e.target.value)}>
          ${GROUPS.map(([key, label]) => html`<option key=${key} value=${key}>${label}</option>`)}</select></label>
        <label>Over <select id="report-days" value=${days} onChange=${(e) => setDays(Number(e.target.value))}>
          ${[1, 7, 30, 90].map((n) => html`<option key=${n} value=${n}>${n} day${n > 1 ? "s" : ""}</option>`)}</select></label>
        <a href=${`/export/reports.csv?${query}`} download>CSV</a>
        <a href=${`/api/v1/reports?${query}`} target="_blank" rel="noopener">JSON</a>
        <button type="button" class="button" onClick=${() => window.print()}>Print</button>
      </div>
      ${error && html`<p role="alert">The report cannot be loaded: ${error}</p>`}
      ${leftOut.length > 0 && html`<p class="report-left-out">Not counted here: ${leftOut.join("; ")}.</p>`}
      ${coverage && html`<p class="report-coverage">${coverage}</p>`}
      ${body && !rows.length && !body.left_out && html`<p id="no-report">No stored transitions in this period.</p>`}
      ${rows.length > 0 && html`
        <div class="panel-body" tabindex="0" role="region" aria-label="Report table">
        <table class="report-table">
          <thead><tr>${header("name", GROUPS.find(([k]) => k === group)[1])}
            ${columns.map(([key, label]) => header(key, label))}
            <th scope="col">Availability per day</th></tr></thead>
          <tbody>${rows.map((r) => html`<tr key=${r.name} data-report-row=${r.name}>
            <th scope="row">${r.name}</th>
            ${columns.map(([key, , unit]) => html`<td key=${key} data-field=${key}>${show(r[key], unit)}
              ${key === "availability" && html`<${Bar} share=${r[key]} />`}</td>`)}
            <td class="spark" data-field="days"><${Sparkline} days=${r.days} /></td></tr>`)}</tbody>
        </table></div>`}
    </section>`;
}
