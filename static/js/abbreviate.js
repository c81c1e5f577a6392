/**
 * Hostnames that fit a small tile: shortened the way a person would read them, keeping the part
 * that tells devices apart (usually the end). The full name stays in the tile's label. Pure.
 */

/**
 * `hostname` in at most `max` characters. Tries, in order: the whole name; the name without its
 * group's prefix ("qemu-07" in group "qemu" → "07"); without a domain; then the head and the tail
 * around an ellipsis, favouring the tail ("imx8mm-evk-sam-03" → "im…am-03").
 */
export function abbreviate(hostname, group, max) {
  const name = String(hostname ?? "");
  if (!Number.isFinite(max) || name.length <= max) return name;
  const limit = Math.max(2, Math.floor(max));
  const candidates = [];
  if (group && name.toLowerCase().startsWith(String(group).toLowerCase()) && name.length > group.length) {
    const rest = name.slice(group.length).replace(/^[-_.]+/, "");
    if (rest) candidates.push(rest);
  }
  const dot = name.indexOf(".");
  if (dot > 0) candidates.push(name.slice(0, dot));
  for (const candidate of candidates) if (candidate.length <= limit) return candidate;
  const base = candidates[0] && candidates[0].length < name.length ? candidates[0] : name;
  if (base.length <= limit) return base;
  if (limit <= 3) return base.slice(-limit);
  const tail = Math.ceil((limit - 1) * 0.6);
  const head = limit - 1 - tail;
  return `${base.slice(0, head)}…${base.slice(base.length - tail)}`;
}
