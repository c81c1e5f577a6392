/**
 * Colours for the canvas charts, read from the stylesheet's custom properties (a canvas cannot use
 * `var(--x)`), so that one stylesheet decides both themes. Read again when the theme changes, or,
 * with theme=auto, when the system switches between light and dark.
 */
import { useEffect, useMemo, useState } from "/static/vendor/htm/standalone.module.js";

const NAMES = {
  text: "--text", muted: "--muted", grid: "--rule", axis: "--border", panel: "--panel",
  running: "--running", idle: "--idle", maintenance: "--maint", bad: "--bad", retired: "--retired",
  good: "--good", waiting: "--waiting",
  series1: "--series-1", series2: "--series-2", series3: "--series-3", series4: "--series-4",
  series5: "--series-5", series6: "--series-6",
};

/** The colours now in force on <html>: `{text, muted, grid, ..., series: [..6]}`. */
export function readColours(element = document.documentElement) {
  const style = getComputedStyle(element);
  const out = {};
  for (const [name, property] of Object.entries(NAMES)) out[name] = style.getPropertyValue(property).trim() || "#888";
  out.series = [out.series1, out.series2, out.series3, out.series4, out.series5, out.series6];
  return out;
}

const DARK = "(prefers-color-scheme: dark)";

/** `theme` ("light", "dark", "auto") → the colours, a new object whenever they may have changed. */
export function useChartColours(theme) {
  const [system, setSystem] = useState(() => window.matchMedia(DARK).matches);
  useEffect(() => {
    if (theme !== "auto") return undefined;
    const query = window.matchMedia(DARK);
    const onChange = (event) => setSystem(event.matches);
    query.addEventListener("change", onChange);
    return () => query.removeEventListener("change", onChange);
  }, [theme]);
  // <html data-theme> is set before the render that brings a new theme (theme.js), so this reads it.
  return useMemo(() => readColours(), [theme, theme === "auto" && system]);
}
