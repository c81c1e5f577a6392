/**
 * What changed in one object: the entries of its history in the details panel. Pure. Entries hold
 * only the fields that changed (not whole copies), so keeping a few per object stays small.
 */

// Bookkeeping fields that change with every event: not news on their own.
const IGNORED = new Set(["updated", "since"]);
const MAX_FIELDS = 12;
const MAX_VALUE_CHARS = 200;

function shown(value) {
  if (Array.isArray(value)) return `${value.length} device${value.length === 1 ? "" : "s"}`;
  if (value !== null && typeof value === "object") value = JSON.stringify(value);
  if (typeof value === "string" && value.length > MAX_VALUE_CHARS) {
    return `${value.slice(0, MAX_VALUE_CHARS - 1)}…`;
  }
  return value;
}

function same(a, b) {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

/** [[field, before, after]] for every field that differs (lists shown as counts). */
export function diffFields(prev, next) {
  const out = [];
  const keys = new Set([...Object.keys(prev || {}), ...Object.keys(next || {})]);
  for (const key of keys) {
    if (IGNORED.has(key)) continue;
    const a = prev ? prev[key] : undefined;
    const b = next ? next[key] : undefined;
    if (!same(a ?? null, b ?? null)) out.push([key, shown(a ?? null), shown(b ?? null)]);
    if (out.length >= MAX_FIELDS) break;
  }
  return out;
}

/**
 * One history entry, or null when nothing worth showing changed. `via` is "live" (a change as it
 * happened) or "resync" (a difference found in a fresh snapshot after a reconnect or a gap).
 */
export function historyEntry(prev, next, { seq = null, at, via = "live" }) {
  if (next === null) return { seq, at, via, removed: true, fields: [] };
  if (!prev) return { seq, at, via, added: true, fields: [] };
  const fields = diffFields(prev, next);
  return fields.length ? { seq, at, via, fields } : null;
}
