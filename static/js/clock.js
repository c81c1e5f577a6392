/** One shared one-second clock for everything that shows an age or a duration. */
import { useEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";

const listeners = new Set();
let timer = null;

function tick() {
  const now = Date.now();
  for (const listener of listeners) listener(now);
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
  const [now, setNow] = useState(Date.now);
  useEffect(() => subscribe(setNow), []);
  return now;
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
  const [, setValue] = useState(() => compute(Date.now()));
  useEffect(() => subscribe((now) => setValue(latest.current(now))), []);
  return compute(Date.now());
}
