/**
 * Against burn-in on a wall: the static chrome (header, attention strip, overview) moves by a few
 * pixels every few minutes, around a small circuit. A transform, so nothing reflows and the
 * browser counts no layout shift.
 */
import { useEffect, useState } from "/static/vendor/htm/standalone.module.js";

export const BURN_IN_STEP_MS = 3 * 60 * 1000;
/** Offsets in px, visited in turn: never more than 3 px from where the layout put things. */
export const BURN_IN_OFFSETS = [[0, 0], [2, 1], [3, 3], [1, 2], [-1, 3], [-2, 1], [-3, -1], [-1, -2], [1, -3], [3, -1]];

/** The offset [x, y] for the step'th interval since the epoch (pure). */
export function burnInOffset(step) {
  const n = BURN_IN_OFFSETS.length;
  return BURN_IN_OFFSETS[((Math.floor(step) % n) + n) % n];
}

/** The current offset as CSS custom properties for the wall's root (none off the wall). */
export function useBurnIn(enabled) {
  const [step, setStep] = useState(() => Math.floor(Date.now() / BURN_IN_STEP_MS));
  useEffect(() => {
    if (!enabled) return undefined;
    const timer = setInterval(() => setStep(Math.floor(Date.now() / BURN_IN_STEP_MS)), 10_000);
    return () => clearInterval(timer);
  }, [enabled]);
  if (!enabled) return undefined;
  const [x, y] = burnInOffset(step);
  return { "--burn-x": `${x}px`, "--burn-y": `${y}px` };
}
