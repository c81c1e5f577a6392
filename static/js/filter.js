/**
 * The subscription filter sent with every `subscribe`: built here and nowhere else. The server
 * does the filtering (docs/protocol.md); `matchesFilter` mirrors its rules only so that history
 * the page already holds (the live feed) can be trimmed to a new filter without asking again.
 */

/** Keys the server understands; each value is a list of strings, empty or missing = everything. */
export const FILTER_KEYS = ["kinds", "device_types", "devices", "workers", "submitters", "health"];

/** filter key → {kind: the field of that kind's object it is compared with} (dashboard/filters.py). */
const CRITERIA = {
  kinds: null, // compared with the kind itself
  device_types: { device: "device_type", job: "device_type", event: "device_type" },
  devices: { device: "hostname", job: "device", event: "device" },
  workers: { device: "worker", job: "worker", worker: "hostname", event: "worker" },
  submitters: { job: "submitter", event: "submitter" },
  health: { device: "health", job: "health", worker: "health" },
};

/** The page's options → the filter to subscribe with: only non-empty keys, values sorted. */
export function subscriptionFilter(options = {}) {
  const out = {};
  for (const key of FILTER_KEYS) {
    const values = options.filter && options.filter[key];
    if (Array.isArray(values) && values.length) out[key] = [...values].sort();
  }
  return out;
}

/** Same keys with the same values, in any order (missing and empty are the same). */
export function sameFilter(a, b) {
  for (const key of FILTER_KEYS) {
    const x = new Set((a && a[key]) || []);
    const y = new Set((b && b[key]) || []);
    if (x.size !== y.size) return false;
    for (const value of x) if (!y.has(value)) return false;
  }
  return true;
}

/** Does an object of this kind pass every key of `filter` that applies to its kind? */
export function matchesFilter(filter, kind, obj) {
  if (!filter) return true;
  for (const key of FILTER_KEYS) {
    const values = filter[key];
    if (!Array.isArray(values) || values.length === 0) continue;
    const fields = CRITERIA[key];
    if (fields === null) {
      if (!values.includes(kind)) return false;
      continue;
    }
    const field = fields[kind];
    if (field !== undefined && !values.includes(obj ? obj[field] : undefined)) return false;
  }
  return true;
}
