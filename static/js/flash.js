/** `useFlash(value)`: true for a moment each time `value` changes after the first render. */
import { useEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";

export const FLASH_MS = 1600;

export function useFlash(value, ms = FLASH_MS) {
  const [on, setOn] = useState(false);
  const mounted = useRef(false);
  useEffect(() => {
    if (!mounted.current) {
      mounted.current = true; // appearing is not a change
      return undefined;
    }
    setOn(true);
    const timer = setTimeout(() => setOn(false), ms);
    return () => clearTimeout(timer);
  }, [value]);
  return on;
}
