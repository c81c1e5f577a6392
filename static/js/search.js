/**
 * Free-text search (`q=` in the URL). Client-side only: the server filters by exact values, this
 * narrows what the page shows by any word (a lab's name too, with several labs). Pure.
 */
import { messageText } from "./describe.js";

// The searchable text of an object, by identity: objects are replaced, never changed, so a cached
// text stays right, and a WeakMap lets replaced objects (and their text) be collected.
const texts = new WeakMap();

function textOf(kind, obj) {
  let text = texts.get(obj);
  if (text === undefined) {
    let parts;
    if (kind === "device") {
      parts = [obj.hostname, obj.device_type, obj.worker, obj.state, obj.health,
        obj.job == null ? "" : `#${obj.job}`, obj.lab];
    } else if (kind === "job") {
      parts = [`#${obj.id}`, obj.description, obj.submitter, obj.device, obj.device_type, obj.worker,
        obj.state, obj.health, obj.health_check ? "health check" : "", obj.sub_id, obj.lab];
    } else if (kind === "worker") {
      parts = [obj.hostname, obj.state, obj.health, obj.lab];
    } else {
      parts = [obj.job == null ? "" : `#${obj.job}`, messageText(obj), obj.device, obj.device_type,
        obj.worker, obj.submitter, obj.topic, obj.lab];
    }
    text = parts.filter((p) => p != null && p !== "").join(" ").toLowerCase();
    texts.set(obj, text);
  }
  return text;
}

/** The query split into lower-case words; every word must match. */
export function queryTerms(q) {
  return typeof q === "string" ? q.toLowerCase().split(/\s+/).filter(Boolean).slice(0, 10) : [];
}

/** Does an object of `kind` contain every term? No terms: everything matches. */
export function matchesTerms(kind, obj, terms) {
  if (terms.length === 0) return true;
  if (!obj) return false;
  const text = textOf(kind, obj);
  return terms.every((term) => text.includes(term));
}

/** The entries of a Map that match, as a Map; the same Map when nothing is filtered out. */
export function filterMap(map, keep) {
  let out = null;
  let i = 0;
  for (const [key, value] of map) {
    if (keep(value)) {
      if (out) out.set(key, value);
    } else if (!out) {
      // First miss: copy what was kept so far, then carry on selectively.
      out = new Map();
      let j = 0;
      for (const entry of map) {
        if (j++ >= i) break;
        out.set(entry[0], entry[1]);
      }
    }
    i += 1;
  }
  return out || map;
}
