/**
 * A wall's "nobody is there": what a person opened on a wall (the details panel, the attention
 * strip's full list) closes by itself after IDLE_MS with no pointer or key in the page (an audit: a
 * tap left the details over the board for ever).
 */
import { useEffect, useRef } from "/static/vendor/htm/standalone.module.js";

const WALL_IDLE_MS = 60 * 1000;
const ACTIVITY = ["pointerdown", "pointermove", "keydown", "wheel", "touchstart"];

/** The wall's idle time: WALL_IDLE_MS, or `?detail_timeout=` seconds (1 to 3600; for tests). Read
 * once, at load: the page's URL keeps only the options it knows. */
export const IDLE_MS = (() => {
  const seconds = Number(new URLSearchParams(location.search).get("detail_timeout"));
  return Number.isFinite(seconds) && seconds >= 1 ? Math.min(seconds, 3600) * 1000 : WALL_IDLE_MS;
})();

/** Calls `close` after IDLE_MS with no pointer or key activity, while `key` is not null (anew
 * when it changes). */
export function useIdleClose(key, close) {
  const latest = useRef(close);
  latest.current = close;
  useEffect(() => {
    if (key == null) return undefined;
    let timer = 0;
    const restart = () => {
      clearTimeout(timer);
      timer = setTimeout(() => latest.current(), IDLE_MS);
    };
    restart();
    for (const name of ACTIVITY) document.addEventListener(name, restart, { capture: true, passive: true });
    return () => {
      clearTimeout(timer);
      for (const name of ACTIVITY) document.removeEventListener(name, restart, { capture: true });
    };
  }, [key]);
}
