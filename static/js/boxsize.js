/** `useBoxSize(enabled)`: the content size of an element, kept current with a ResizeObserver; `useViewportSize`. */
import { useLayoutEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";

/** Returns `[size, ref]`: put `ref` on the element; `size` is `{width, height}` (px) or null. */
export function useBoxSize(enabled = true) {
  const ref = useRef(null);
  const [size, setSize] = useState(null);
  useLayoutEffect(() => {
    const element = ref.current;
    if (!enabled || !element || typeof ResizeObserver === "undefined") {
      setSize(null);
      return undefined;
    }
    const observer = new ResizeObserver((entries) => {
      const box = entries[entries.length - 1].contentRect;
      const width = Math.floor(box.width);
      const height = Math.floor(box.height);
      // Same size, same object: nothing downstream recomputes.
      setSize((prev) => (prev && prev.width === width && prev.height === height ? prev : { width, height }));
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, [enabled]);
  return [size, ref];
}

/** `useViewportSize(enabled)`: the window's inner size in CSS px (zoom included), or null. */
export function useViewportSize(enabled = true) {
  const read = () => ({ width: window.innerWidth, height: window.innerHeight });
  const [size, setSize] = useState(() => (enabled ? read() : null));
  useLayoutEffect(() => {
    if (!enabled) {
      setSize(null);
      return undefined;
    }
    const update = () => {
      const next = read();
      setSize((prev) => (prev && prev.width === next.width && prev.height === next.height ? prev : next));
    };
    update();
    window.addEventListener("resize", update);
    return () => window.removeEventListener("resize", update);
  }, [enabled]);
  return size;
}
