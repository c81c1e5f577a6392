/**
 * On a wall nothing scrolls, so a list longer than its panel used to be cut off at the bottom, a
 * row in half and the rest unsaid (a wall audit: the Workers and Jobs views). `useWallCut` hides
 * the rows that do not fit whole (never half a row) and counts them, so that the panel can say how
 * many it leaves out ("Not shown here: …"), on a line of its own at the panel's foot.
 */
import { useLayoutEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";
import { useViewportSize } from "./boxsize.js";

/**
 * `enabled`: a wall. Put the returned `ref` on the panel's content; `rowSelector` finds its rows.
 * Returns `[ref, cut]`: `cut` the rows left out (elements, in order), re-measured when `deps`
 * change or the screen's size does. The mark is an attribute (`data-cut`) Preact leaves alone.
 */
export function useWallCut(enabled, rowSelector, deps) {
  const ref = useRef(null);
  const [cut, setCut] = useState(NONE);
  const viewport = useViewportSize(enabled);
  useLayoutEffect(() => {
    const element = ref.current;
    if (!enabled || !element) {
      if (element) for (const row of element.querySelectorAll("[data-cut]")) row.removeAttribute("data-cut");
      setCut(NONE);
      return;
    }
    const measure = () => {
      const rows = markCutRows(element, rowSelector);
      setCut((before) => (sameRows(before, rows) ? before : rows));
    };
    measure();
    if (typeof ResizeObserver === "undefined") return undefined;
    // Measured again when the panel's room changes with no change of the list (a banner or the
    // stale notice comes, the attention strip grows) or a row does (a time wraps onto a second
    // line): a review found rows left half cut until the next change of the data.
    const observer = new ResizeObserver(measure);
    const body = element.closest(".panel-body");
    // ... and when the note itself grows: it wraps, and a recount that takes it onto one more line
    // must leave a row more (a review: the bottom row then lay under it until the data changed).
    const note = body && body.querySelector(":scope > .wall-cut");
    for (const box of [body, element, note, ...element.querySelectorAll("ol, tbody")]) {
      if (box) observer.observe(box);
    }
    return () => observer.disconnect();
  }, [enabled, viewport, cut.length > 0, ...deps]);
  return [ref, cut];
}

const NONE = [];

function sameRows(a, b) {
  return a.length === b.length && a.every((row, i) => row === b[i]);
}

/**
 * Marks `data-cut` each row under `content` whose bottom is below what clips it (the panel's body,
 * or a box of its own that clips, such as a wall's job column) or, when any row is left out, under
 * the note, which lies over the body's last line. Returns the rows left out. (A box of its own
 * that ends above the note loses nothing to it: a wall's queued column of one job, as high as
 * that job, hid it whenever another column was cut; a new user's walk-through.)
 */
export function markCutRows(content, rowSelector) {
  const body = content.closest(".panel-body") || content;
  const rows = [...content.querySelectorAll(rowSelector)];
  const bottoms = rows.map((row) => row.getBoundingClientRect().bottom);
  const byParent = new Map(); // rows of one list share what clips them: measured once
  const clips = rows.map((row) => {
    const parent = row.parentElement;
    if (!byParent.has(parent)) byParent.set(parent, clipBottom(row, body));
    return byParent.get(parent);
  });
  const note = body.querySelector(":scope > .wall-cut");
  const line = note ? note.getBoundingClientRect().height
    : 1.6 * (parseFloat(getComputedStyle(body).fontSize) || 16);
  const foot = body.getBoundingClientRect().bottom;
  const over = (i, room) => bottoms[i] > Math.min(clips[i], foot - room) + 0.5;
  const room = rows.some((_, i) => over(i, 0)) ? line : 0;
  const out = [];
  rows.forEach((row, i) => {
    const isCut = over(i, room);
    if (isCut) out.push(row);
    if (row.hasAttribute("data-cut") !== isCut) row.toggleAttribute("data-cut", isCut);
  });
  return out;
}

/** The lowest a row can show: the least bottom of the boxes that clip it, up to the panel's body. */
function clipBottom(row, body) {
  let bottom = body.getBoundingClientRect().bottom;
  for (let node = row.parentElement; node && node !== body; node = node.parentElement) {
    if (getComputedStyle(node).overflowY !== "visible") bottom = Math.min(bottom, node.getBoundingClientRect().bottom);
  }
  return bottom;
}
