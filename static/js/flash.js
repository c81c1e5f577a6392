/**
 * `useFlash(value)`: true for a moment each time `value` changes after the first render.
 *
 * Decided during the render that shows the change, so the highlight costs no extra render (an
 * effect turning it on would paint the board a second time). During a burst hundreds of tiles
 * flash at once: rather than one timer each, expired highlights end together, by `sweepFlashes()`,
 * which the page calls while it applies new data (no frame of their own), or by a slow timer
 * when no data comes.
 */
import { useEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";

export const FLASH_MS = 1600;
const SWEEP_MS = 1000;

const lit = new Map(); // re-render function of a lit component → time its highlight ends
let sweeper = 0;

/** End every expired highlight now (their re-renders join the render in progress). */
export function sweepFlashes() {
  const now = Date.now();
  for (const [rerender, until] of lit) {
    if (until <= now) {
      lit.delete(rerender);
      rerender((n) => n + 1);
    }
  }
  if (lit.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = 0;
  }
}

export function useFlash(value, ms = FLASH_MS) {
  const [, rerender] = useState(0);
  const seen = useRef(null); // {value, until}: the last value rendered, and when its flash ends
  const now = Date.now();
  if (seen.current === null) {
    seen.current = { value, until: 0 }; // appearing is not a change
  } else if (seen.current.value !== value) {
    seen.current = { value, until: now + ms };
    lit.set(rerender, seen.current.until);
    if (!sweeper) sweeper = setInterval(sweepFlashes, SWEEP_MS);
  }
  useEffect(() => () => lit.delete(rerender), []);
  return seen.current.until > now;
}
