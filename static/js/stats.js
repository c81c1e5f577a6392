/**
 * The charts' data: which REST requests follow the URL's filters (docs/api.md, "Statistics"), and
 * their answers turned into the columns a chart draws. Pure: values in, values out.
 *
 * The statistics endpoints take one value per filter key; the page's filter may hold several
 * (device_type=qemu,bbb means either). Values of one key never overlap (an event has one device
 * type), so the page asks once per combination and adds the answers up: exact, and bounded by
 * MAX_QUERIES.
 */
import { JOB_OUTCOMES } from "./lava.js";
import { CATEGORIES, KINDS } from "./protocol.js";

/** Server filter key (filter.js) → query parameter of the statistics endpoints. */
const PARAMS = { labs: "lab", device_types: "device_type", workers: "worker", submitters: "submitter", devices: "device" };

/**
 * What each statistic can be narrowed by (dashboard/web/history.py). With several labs each lab
 * keeps its own history: the page asks each lab (`labs`, one value a request) and adds them up.
 */
export const ACCEPTS = {
  events: ["labs", "device_types", "workers", "submitters", "devices"],
  utilisation: ["labs", "device_types", "workers", "devices"],
  outcomes: ["labs", "device_types", "submitters", "devices"],
  queue: ["labs", "device_types", "submitters"],
};

/** URL words for the notes ("not by submitter"). */
export const FILTER_WORDS = { device_types: "device type", workers: "worker", submitters: "submitter",
  devices: "device", health: "health", labs: "lab" };

/** At most this many requests per chart and refresh; past it the chart asks for a narrower filter. */
export const MAX_QUERIES = 8;

/** The windows of utilisation, queue and timelines: [value, label]. */
export const WINDOWS = [["24h", "24 h"], ["7d", "7 days"]];

/**
 * Stored event kinds as the legends name them: the server's kinds (protocol.js), in its order,
 * then the reconciler's corrections; any other topic suffix keeps its own name.
 */
export const KIND_LABELS = { device: "Device", job: "Job", worker: "Worker", event: "Test shell",
  correction: "Correction" };
export const KIND_ORDER = [...KINDS, "correction"];
/** Device time categories (dashboard/core/statistics.py, through protocol.js), in the order they are stacked. */
export { CATEGORIES };
/** Job outcomes, bottom of the stack first. */
export const OUTCOMES = JOB_OUTCOMES;

const HOUR = 3600;
const DAY = 86400;

/**
 * The requests for one statistic: `{urls, ignored, tooMany}`. `base` holds the fixed parameters
 * (`{bucket: "hour"}`); `filter` is the subscription filter ({device_types: [...], ...});
 * `ignored` lists the set filter keys this statistic cannot follow.
 */
export function statsRequests(endpoint, base, filter) {
  const accepts = ACCEPTS[endpoint];
  const set = Object.keys(filter || {}).filter((key) => Array.isArray(filter[key]) && filter[key].length);
  const ignored = set.filter((key) => !accepts.includes(key));
  let combos = [[]];
  for (const key of accepts) {
    const values = (filter && filter[key]) || [];
    if (!values.length) continue;
    combos = combos.flatMap((pairs) => values.map((value) => [...pairs, [PARAMS[key], value]]));
    if (combos.length > MAX_QUERIES) return { urls: [], ignored, tooMany: true };
  }
  const urls = combos.map((pairs) => {
    const query = new URLSearchParams([...Object.entries(base), ...pairs]);
    return `/api/v1/stats/${endpoint}?${query}`;
  });
  return { urls, ignored, tooMany: false };
}

/** Several /stats/events answers → one `{kind: Map(bucket start → n)}`, added up. */
function sumSeries(bodies) {
  const out = {};
  for (const body of bodies) {
    for (const [kind, points] of Object.entries((body && body.series) || {})) {
      const map = out[kind] || (out[kind] = new Map());
      for (const [t, n] of points) map.set(t, (map.get(t) || 0) + n);
    }
  }
  return out;
}

/** Kinds in a stable order: the known ones first, then any other alphabetically. */
function orderKinds(kinds) {
  return [...KIND_ORDER.filter((k) => kinds.includes(k)), ...kinds.filter((k) => !KIND_ORDER.includes(k)).sort()];
}

/**
 * /stats/events answers → `{x, kinds, ys, total}`: one x per bucket over the whole window (the
 * bucket's middle, in epoch seconds; empty buckets are 0), one column per kind.
 */
export function eventsColumns(bodies, bucket) {
  const width = bucket === "day" ? DAY : HOUR;
  const first = bodies.find((b) => b && Number.isFinite(b.from));
  const sums = sumSeries(bodies);
  const kinds = orderKinds(Object.keys(sums));
  if (!first) return { x: [], kinds, ys: [], total: 0 };
  const start = Math.floor(first.from / width) * width;
  const x = [];
  for (let t = start; t <= first.to; t += width) x.push(t);
  let total = 0;
  const ys = kinds.map((kind) => x.map((t) => {
    const n = sums[kind].get(t) || 0;
    total += n;
    return n;
  }));
  return { x: x.map((t) => t + width / 2), kinds, ys, total };
}

/** Several /stats/utilisation answers → `{type: {seconds, Running, ...}}`; shares weighted by time. */
export function mergeUtilisation(bodies) {
  const seconds = {};
  for (const body of bodies) {
    for (const [type, row] of Object.entries((body && body.device_types) || {})) {
      const acc = seconds[type] || (seconds[type] = { seconds: 0, ...Object.fromEntries(CATEGORIES.map((c) => [c, 0])) });
      acc.seconds += row.seconds || 0;
      for (const c of CATEGORIES) acc[c] += (row[c] || 0) * (row.seconds || 0);
    }
  }
  const out = {};
  for (const [type, acc] of Object.entries(seconds)) {
    out[type] = { seconds: acc.seconds };
    for (const c of CATEGORIES) out[type][c] = acc.seconds ? acc[c] / acc.seconds : 0;
  }
  return out;
}

/** Device types by name, each with its shares as `[{category, share}]` (zeros left out). */
export function utilisationRows(merged) {
  return Object.keys(merged).sort((a, b) => a.localeCompare(b)).map((type) => ({
    type,
    seconds: merged[type].seconds,
    parts: CATEGORIES.map((category) => ({ category, share: merged[type][category] || 0 }))
      .filter((p) => p.share > 0),
  }));
}

const DAY_KEY = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * /stats/outcomes answers → `{x, outcomes, ys, total}` for the last `days` UTC days up to `now`
 * (epoch ms): x is each day's middle (epoch seconds), one column per outcome, missing days 0.
 */
export function outcomeColumns(bodies, days, now) {
  const sums = new Map(); // day start (s) → {outcome: n}
  const seen = new Set();
  for (const body of bodies) {
    for (const [key, counts] of Object.entries((body && body.days) || {})) {
      const m = DAY_KEY.exec(key);
      if (!m) continue;
      const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 1000;
      const acc = sums.get(t) || {};
      for (const [outcome, n] of Object.entries(counts)) {
        acc[outcome] = (acc[outcome] || 0) + n;
        seen.add(outcome);
      }
      sums.set(t, acc);
    }
  }
  const outcomes = [...OUTCOMES, ...[...seen].filter((o) => !OUTCOMES.includes(o)).sort()];
  const today = Math.floor(now / 1000 / DAY) * DAY;
  const x = [];
  for (let i = days - 1; i >= 0; i -= 1) x.push(today - i * DAY);
  let total = 0;
  const ys = outcomes.map((o) => x.map((t) => {
    const n = (sums.get(t) || {})[o] || 0;
    total += n;
    return n;
  }));
  return { x: x.map((t) => t + DAY / 2), outcomes, ys, total };
}

/** /stats/queue answers → `{x, y, max}`, added up point by point (each answer has the same steps). */
export function queueColumns(bodies) {
  const lists = bodies.map((b) => (b && Array.isArray(b.points) ? b.points : []));
  const longest = lists.reduce((a, b) => (b.length > a.length ? b : a), []);
  const x = longest.map(([t]) => t);
  const y = x.map((_, i) => lists.reduce((sum, list) => sum + (list[i] ? list[i][1] : 0), 0));
  return { x, y, max: y.reduce((a, b) => Math.max(a, b), 0) };
}

/** Columns stacked for a bar chart: each is the running sum of those before it and itself. */
export function stack(ys) {
  const out = [];
  let below = null;
  for (const column of ys) {
    const sum = below ? column.map((v, i) => v + below[i]) : column.slice();
    out.push(sum);
    below = sum;
  }
  return out;
}

/**
 * What the server's answers say they left out, and why (their `left_out`: {what: reason}; a
 * statistic that leaves out private jobs' messages, or the history of boards LAVA hides: the
 * reason in words, docs/api.md), each reason once. Pure.
 */
export function leftOutWords(bodies) {
  const out = new Set();
  for (const body of bodies || []) {
    const leftOut = body && typeof body.left_out === "object" && body.left_out ? body.left_out : {};
    for (const reason of Object.values(leftOut)) {
      if (typeof reason === "string" && reason) out.add(reason);
    }
  }
  return [...out];
}
