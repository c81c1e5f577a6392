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
