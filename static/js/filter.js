/**
 * The subscription filter sent with every `subscribe`: built here and nowhere else. The server
 * does the filtering (docs/protocol.md); `matchesFilter` mirrors its rules only so that history
 * the page already holds (the live feed) can be trimmed to a new filter without asking again.
 */
// The keys the server understands (each value a list of strings, empty or missing = everything)
// and which field of which kind each compares are the server's own, from the page's bootstrap.
import { CRITERIA, FILTER_KEYS } from "./protocol.js";

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
