/**
 * One shared one-second clock for everything that shows an age or a duration, by the server's
 * clock: a wall display's own clock may be minutes off (no time server on the lab's network, no
 * clock battery), and every time the page shows is the server's or LAVA's.
 */
import { useEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";

// A browser clock within this of the server's (beyond what the answer's round trip leaves
// uncertain) is left as it is: durations are shown to the second at best.
export const CLOCK_TOLERANCE_MS = 1000;
// An answer slower than this says too little about when the server read its clock.
export const MAX_SAMPLE_RTT_MS = 5000;

const listeners = new Set();
let timer = null;
// The server's time at a moment of this page's monotonic clock (performance.now()), when the
// browser's own clock is off: {server, perf, offset}. null: the browser's clock is right.
let anchor = null;

/**
 * The time now (epoch ms) by the server's clock. The browser's own, unless the server's answers
 * showed it to be off: then counted on from the last answer by the monotonic clock, which a
 * correction of the browser's clock (a time server reached later) does not move.
 */
export function now() {
  return anchor === null ? Date.now() : anchor.server + (performance.now() - anchor.perf);
}

/** How far the browser's clock is behind the server's (ms; negative: ahead), 0 when within tolerance. */
export function clockOffset() {
  return anchor === null ? 0 : anchor.offset;
}

// A server's time outside these (epoch ms: 2000 to 2200) is not a time in milliseconds (a server
// sending seconds, or garbage): ignored. A browser's clock may be anywhere (1970, when never set).
const EARLIEST_SERVER_MS = Date.UTC(2000, 0, 1);
const LATEST_SERVER_MS = Date.UTC(2200, 0, 1);

/** Whether an answer can tell the server's clock: a time in range, answered within MAX_SAMPLE_RTT_MS. */
function usable(serverMs, rtt) {
  return typeof serverMs === "number" && serverMs >= EARLIEST_SERVER_MS && serverMs <= LATEST_SERVER_MS
    && rtt >= 0 && rtt <= MAX_SAMPLE_RTT_MS;
}

/**
 * What one answer tells of the browser's clock (pure): the server read its clock (`serverMs`,
 * epoch ms) between `sentAt` and `receivedAt` (this browser's epoch ms). The offset (server minus
 * browser) or 0 when within CLOCK_TOLERANCE_MS beyond the round trip's uncertainty; `current`
 * when the answer cannot tell (too slow, not a time in range) or agrees with it within that
 * uncertainty.
 */
export function measuredOffset(current, serverMs, sentAt, receivedAt) {
  const rtt = receivedAt - sentAt;
  if (!usable(serverMs, rtt)) return current;
  const offset = serverMs - (sentAt + rtt / 2);
  const uncertain = rtt / 2 + CLOCK_TOLERANCE_MS;
  if (Math.abs(offset) <= uncertain) return 0;
  return Math.abs(offset - current) <= uncertain ? current : Math.round(offset);
}

/**
 * Note the server's clock from an answer (`serverMs`) to a request sent at `sent` and answered
 * at `received` (stamp()s: the browser's clock and its monotonic clock). The round trip is timed by
 * the monotonic clock, so that the browser's clock set meanwhile does not count. Every answer that
 * can tell moves the anchor to the server's time at the answer (the monotonic clock stops while the
 * machine sleeps: counting on from an old anchor would then lag by the sleep); the offset said
 * changes only when it moved beyond what the answer can tell.
 */
export function noteServerTime(serverMs, sent, received) {
  const rtt = received.perf - sent.perf;
  if (!usable(serverMs, rtt)) return;
  const offset = measuredOffset(clockOffset(), serverMs, received.wall - rtt, received.wall);
  anchor = offset === 0 ? null : { server: serverMs + rtt / 2, perf: received.perf, offset };
  tick();
}

/** This moment by both of the browser's clocks, for noteServerTime. */
export function stamp() {
  return { wall: Date.now(), perf: performance.now() };
}

function tick() {
  const at = now();
  for (const listener of listeners) listener(at);
}

function subscribe(listener) {
  listeners.add(listener);
  if (timer === null) timer = setInterval(tick, 1000);
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0) {
      clearInterval(timer);
      timer = null;
    }
  };
}

/** The current time in epoch ms, re-rendering the calling component once a second. */
export function useNow() {
  const [at, setAt] = useState(now);
  useEffect(() => subscribe(setAt), []);
  return at;
}

/**
 * `compute(now)` every second, re-rendering only when its result changes. Thousands of tiles show
 * a duration; most of them change once a minute, so most ticks render nothing.
 */
export function useClockValue(compute) {
  const latest = useRef(compute);
  latest.current = compute;
  // The state only triggers renders (Preact skips a render when it is set to an equal value); the
  // value shown is computed afresh, since the inputs may have changed since the last tick.
  const [, setValue] = useState(() => compute(now()));
  useEffect(() => subscribe((at) => setValue(latest.current(at))), []);
  return compute(now());
}
