/**
 * How wide a hostname is in the tiles' bold type, in em: measured on a canvas in the page's own
 * font (DejaVu Sans on Debian), for a wall to show a name whole when it fits, rather than cut it by
 * fit.js' count of letters at a digit's width ("rp…b-01" where "rpi4b-01" fit: an audit).
 * Remembered per name, at most MAX_KEPT (a lab's hostnames).
 */
const MAX_KEPT = 10000;
const SIZE = 100; // px: the measure's type, divided out
const kept = new Map();
let context = null;
let family = "";

function measurer() {
  if (context === null) {
    const canvas = typeof document !== "undefined" ? document.createElement("canvas") : null;
    context = (canvas && canvas.getContext && canvas.getContext("2d")) || false;
    family = typeof document !== "undefined" && document.body ? getComputedStyle(document.body).fontFamily : "";
    if (context) context.font = `700 ${SIZE}px ${family || "sans-serif"}`;
  }
  return context;
}

/** `text`'s width in bold type, in em; Infinity when it cannot be measured (no canvas). */
export function boldWidthEm(text) {
  const known = kept.get(text);
  if (known !== undefined) return known;
  const ctx = measurer();
  const em = ctx ? ctx.measureText(text).width / SIZE : Infinity;
  if (kept.size >= MAX_KEPT) kept.delete(kept.keys().next().value);
  kept.set(text, em);
  return em;
}

/** Whether every name fits whole in `roomEm` (a margin of 3 %: rounding, hinting). */
export function allFit(names, roomEm) {
  if (!(roomEm > 0)) return false;
  return names.every((name) => boldWidthEm(name) * 1.03 <= roomEm);
}
