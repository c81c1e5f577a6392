/**
 * Hostnames that fit a small tile: shortened the way a person would read them, keeping the part
 * that tells devices apart (usually the end). The full name stays in the tile's label. Pure.
 */

// Fewer characters than this tell too little apart: bcm2711-rpi-4-b-001, -201 and -401 all end in
// "01". A tile layout (fit.js) always leaves room for this many.
export const MIN_CHARS = 3;

/** The name as it is shortened: without its group's prefix, or else without a domain. */
function candidatesOf(name, group) {
  const candidates = [];
  if (group && name.toLowerCase().startsWith(String(group).toLowerCase()) && name.length > group.length) {
    const rest = name.slice(group.length).replace(/^[-_.]+/, "");
    if (rest) candidates.push(rest);
  }
  const dot = name.indexOf(".");
  if (dot > 0) candidates.push(name.slice(0, dot));
  return candidates;
}

function baseOf(name, candidates) {
  return candidates[0] && candidates[0].length < name.length ? candidates[0] : name;
}

/**
 * `hostname` in at most `max` characters (never fewer than MIN_CHARS of room). Tries, in order:
 * the whole name; the name without its group's prefix ("qemu-07" in group "qemu" → "07"); without
 * a domain; then the head and the tail around an ellipsis, favouring the tail ("imx8mm-evk-sam-03"
 * → "im…am-03"). `unique`: how many characters of the name's end tell it apart from the others of
 * its group (`uniqueTails`): the tail shown is never shorter when there is room for it.
 */
export function abbreviate(hostname, group, max, unique = 0) {
  const name = String(hostname ?? "");
  if (!Number.isFinite(max) || name.length <= max) return name;
  const limit = Math.max(MIN_CHARS, Math.floor(max));
  const candidates = candidatesOf(name, group);
  for (const candidate of candidates) if (candidate.length <= limit) return candidate;
  const base = baseOf(name, candidates);
  if (base.length <= limit) return base;
  const need = Math.min(Math.max(unique, MIN_CHARS), base.length);
  const tail = Math.max(Math.ceil((limit - 1) * 0.6), need);
  const head = limit - 1 - tail;
  // No room for a head and an ellipsis in front of the tail that matters: the end alone. (Always
  // so with MIN_CHARS of room: the base is longer than that here, so the tail takes it all.)
  if (head < 1) return base.slice(-limit);
  return `${base.slice(0, head)}…${base.slice(base.length - tail)}`;
}

/** Length of the common suffix of two strings given reversed. */
function commonPrefix(a, b) {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n += 1;
  return n;
}

/**
 * The shortest end of each name (as `abbreviate` shortens it) that no other name of the group
 * ends with: `Map(hostname → characters)`. Sorting the reversed names puts the names that share
 * the longest ends next to each other, so only neighbours are compared.
 */
function uniqueTails(hostnames, group) {
  const entries = hostnames.map((hostname) => {
    const name = String(hostname ?? "");
    const base = baseOf(name, candidatesOf(name, group));
    return { hostname: name, reversed: [...base].reverse().join(""), length: base.length };
  }).sort((a, b) => (a.reversed < b.reversed ? -1 : a.reversed > b.reversed ? 1 : 0));
  const tails = new Map();
  entries.forEach((entry, i) => {
    const shared = Math.max(i > 0 ? commonPrefix(entry.reversed, entries[i - 1].reversed) : 0,
      i + 1 < entries.length ? commonPrefix(entry.reversed, entries[i + 1].reversed) : 0);
    tails.set(entry.hostname, Math.min(shared + 1, entry.length));
  });
  return tails;
}

/**
 * Every hostname of a group in at most `max` characters, each keeping enough of its end to be
 * told apart from the others when there is room: `Map(hostname → shown)`, or null when nothing
 * needs shortening (`max` infinite).
 */
export function abbreviateGroup(hostnames, group, max) {
  if (!Number.isFinite(max)) return null;
  const long = hostnames.filter((h) => String(h ?? "").length > max);
  if (long.length === 0) return null;
  const tails = uniqueTails(hostnames, group);
  const shown = new Map();
  for (const hostname of long) shown.set(hostname, abbreviate(hostname, group, max, tails.get(String(hostname))));
  return shown;
}
