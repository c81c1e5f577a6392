/** `useRotation(view, seconds)`: on a wall, the view shown now, moving on every `seconds`. */
import { useEffect, useState } from "/static/vendor/htm/standalone.module.js";
import { ROTATION, nextInRotation } from "./url.js";

export function useRotation(view, seconds) {
  const [shown, setShown] = useState(view);
  // A view chosen by a person (or a new URL) restarts the rotation from there.
  useEffect(() => setShown(view), [view, seconds]);
  useEffect(() => {
    if (!seconds) return undefined;
    const timer = setInterval(() => setShown((current) => nextInRotation(
      ROTATION.includes(current) ? current : ROTATION[ROTATION.length - 1])), seconds * 1000);
    return () => clearInterval(timer);
  }, [view, seconds]);
  return seconds ? shown : view;
}
