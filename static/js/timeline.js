/**
 * What the details panel draws from the history endpoints: a device's bands of state and health
 * placed on a window, and a job's path through the states. Pure: values in, values out.
 */
import { parseTime } from "./time.js";
import { CATEGORIES } from "./stats.js";

/**
 * /devices/<hostname>/timeline bands → each with `left` and `width` in percent of [from, to]
 * (epoch seconds), clipped to the window; bands outside it, or empty, are left out.
 */
export function placeBands(bands, from, to) {
  const span = to - from;
  if (!(span > 0) || !Array.isArray(bands)) return [];
  const out = [];
  for (const band of bands) {
    const start = Math.max(from, Number(band.from));
    const end = Math.min(to, Number(band.to));
    if (!(end > start)) continue;
    out.push({ ...band, start, end, left: ((start - from) / span) * 100, width: ((end - start) / span) * 100 });
  }
  return out;
}

/** Time spent in each category over the placed bands: `[{category, seconds, share}]`, in CATEGORIES order. */
export function categoryTotals(placed) {
  const seconds = new Map();
  let total = 0;
  for (const band of placed) {
    const s = band.end - band.start;
    seconds.set(band.category, (seconds.get(band.category) || 0) + s);
    total += s;
  }
  const known = CATEGORIES.filter((c) => seconds.has(c));
  const other = [...seconds.keys()].filter((c) => !CATEGORIES.includes(c)).sort();
  return [...known, ...other].map((category) => ({
    category, seconds: seconds.get(category), share: total ? seconds.get(category) / total : 0,
  }));
}

/**
 * Tick marks for a window: `[{left, at}]` (percent, epoch ms) on round local hours (24 h: every 6 h)
 * or local midnights (7 days), strictly inside the window.
 */
export function windowTicks(from, to, windowKey) {
  const out = [];
  const span = to - from;
  if (!(span > 0)) return out;
  const d = new Date(from * 1000);
  if (windowKey === "7d") {
    d.setHours(24, 0, 0, 0);
  } else {
    d.setMinutes(0, 0, 0);
    d.setHours(d.getHours() + (6 - (d.getHours() % 6)));
  }
  while (d.getTime() / 1000 < to && out.length < 50) {
    const at = d.getTime();
    out.push({ left: ((at / 1000 - from) / span) * 100, at });
    if (windowKey === "7d") d.setDate(d.getDate() + 1);
    else d.setHours(d.getHours() + 6);
  }
  return out;
}

/**
 * /jobs/<id> `path` → the steps a person reads: consecutive entries with the same state and
 * health are one step; each has `at` (epoch ms), `delta` (ms since the previous step, null for
 * the first), `device` when it differs from the step before, and `correction` when an entry of
 * it is a correction (the reconciler found the model wrong and took LAVA's REST API's word).
 */
export function jobSteps(path) {
  const steps = [];
  let last = null;
  let device = null; // the device named last, so that each step names only a new one
  for (const entry of Array.isArray(path) ? path : []) {
    if (!entry || typeof entry.state !== "string") continue;
    const newDevice = entry.device && entry.device !== device ? entry.device : null;
    if (entry.device) device = entry.device;
    if (last && last.state === entry.state && last.health === (entry.health ?? null)) {
      if (newDevice && !last.device) last.device = newDevice;
      if (entry.correction === true) last.correction = true;
      continue;
    }
    const at = parseTime(entry.time);
    last = {
      state: entry.state,
      health: entry.health ?? null,
      time: entry.time,
      at,
      delta: last && last.at != null && at != null ? Math.max(0, at - last.at) : null,
      device: newDevice,
      correction: entry.correction === true,
    };
    steps.push(last);
  }
  return steps;
}
