/** `useRotation(view, seconds)`: on a wall, the view shown now, moving on every `seconds`. */
import { useEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";
import { ROTATION, nextInRotation } from "./url.js";

export function useRotation(view, seconds) {
  const [shown, setShown] = useState(view);
  // Whether the keyboard's focus was on something in the page when the view moved on.
  const held = useRef(false);
  // A view chosen by a person (or a new URL) restarts the rotation from there.
  useEffect(() => setShown(view), [view, seconds]);
  useEffect(() => {
    if (!seconds) return undefined;
    const timer = setInterval(() => {
      const focused = document.activeElement;
      held.current = Boolean(focused && focused !== document.body);
      setShown((current) => nextInRotation(ROTATION.includes(current) ? current : ROTATION[ROTATION.length - 1]));
    }, seconds * 1000);
    return () => clearInterval(timer);
  }, [view, seconds]);
  // The focused item went with the view it was in: the focus goes to the board (<main>), not to
  // <body>, where a keyboard user would start again from the top (an audit: at every rotation).
  useEffect(() => {
    if (!held.current) return;
    held.current = false;
    const focused = document.activeElement;
    const main = document.getElementById("main");
    if ((!focused || focused === document.body) && main) main.focus({ preventScroll: true });
  }, [shown]);
  return seconds ? shown : view;
}
