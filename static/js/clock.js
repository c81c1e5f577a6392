/** One shared one-second clock for everything that shows an age or a duration. */
import { useEffect, useState } from "/static/vendor/htm/standalone.module.js";

const listeners = new Set();
let timer = null;

function tick() {
  const now = Date.now();
  for (const listener of listeners) listener(now);
}

/** The current time in epoch ms, re-rendering the calling component once a second. */
export function useNow() {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    listeners.add(setNow);
    if (timer === null) timer = setInterval(tick, 1000);
    return () => {
      listeners.delete(setNow);
      if (listeners.size === 0) {
        clearInterval(timer);
        timer = null;
      }
    };
  }, []);
  return now;
}
