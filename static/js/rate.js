/**
 * Events per minute: a sliding one-minute window of per-second counts. Pure and bounded (at most
 * one entry per second of the window); `now` (epoch ms) is passed in.
 */

export const RATE_WINDOW_S = 60;

/** `rate` ([[second, count], …], oldest first) with `n` more events at `now`. */
export function countEvents(rate, n, now) {
  if (!n) return rate;
  const second = Math.floor(now / 1000);
  const oldest = second - RATE_WINDOW_S + 1;
  const kept = rate.filter(([s]) => s >= oldest && s <= second);
  const last = kept[kept.length - 1];
  if (last && last[0] === second) kept[kept.length - 1] = [second, last[1] + n];
  else kept.push([second, n]);
  return kept;
}

/** Events counted in the last minute before `now`. */
export function eventsPerMinute(rate, now) {
  const oldest = Math.floor(now / 1000) - RATE_WINDOW_S + 1;
  let total = 0;
  for (const [second, count] of rate) if (second >= oldest) total += count;
  return total;
}

/**
 * `rate` with the server's per-second counts (`seconds`: [[second, count]], from the event store)
 * filled in for the seconds before the page counted any itself: after a reload the meter starts
 * from the last minute the server saw, not from 0. Seconds the page has counted are its own.
 */
export function seedRate(rate, seconds, now) {
  const current = Math.floor(now / 1000);
  const oldest = current - RATE_WINDOW_S + 1;
  const first = rate.length ? rate[0][0] : current + 1;
  const seeded = (Array.isArray(seconds) ? seconds : [])
    .filter((entry) => Array.isArray(entry) && Number.isFinite(entry[0]) && Number.isFinite(entry[1]) && entry[1] > 0)
    .map(([s, n]) => [Math.floor(s), Math.floor(n)])
    .filter(([s]) => s >= oldest && s < first && s <= current)
    .sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const [s, n] of seeded) {
    const last = merged[merged.length - 1];
    if (last && last[0] === s) last[1] += n;
    else merged.push([s, n]);
  }
  return merged.length ? merged.concat(rate) : rate;
}
