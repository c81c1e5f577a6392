/**
 * What needs a person, worst first (attention.js): a worker Offline, a Bad or Looping device, a
 * queue with nothing to run on, and the server's firing alerts that say something else. Each item
 * is a button that opens the object's details (a queue opens the Jobs view filtered to its device
 * type (and lab), an alert about the whole lab the Alerts view). Nothing when all is well; on a wall the strip
 * keeps its height either way (the board below must not move), shows the first few items, and when
 * all is well says so in that row ("Nothing needs attention"), for a room to read; while the page
 * is not connected (stale), that it cannot know. An item's name
 * may be cut (an ellipsis; the whole text is its tooltip and its button's name), its status never:
 * on a wall a cell whose status does not fit whole is left out, and counted in "and N more", but
 * the worst item is always named (its status let wrap, when even alone it does not fit).
 * A focused item keeps the focus when the strip changes (focus.js); when it leaves the strip, the
 * focus goes to the board (`#main`) and screen readers hear that it is no longer shown.
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { attentionItems, levelWord, splitName } from "./attention.js";
import { bannerAlerts } from "./AlertBanner.js";
import { now as clockNow, useClockValue } from "./clock.js";
import { useViewportSize } from "./boxsize.js";
import { symbolFor, token } from "./lava.js";
import { sourceDown } from "./labs.js";
import { useIdleClose } from "./idle.js";

/** Items a wall shows (one row of equal cells); the desk shows this many before "N more". */
export const WALL_ITEMS = 5;
export const DESK_ITEMS = 8;

// An alert's item carries its severity as its level.
const SYMBOLS = { Offline: "○", Queue: "…", critical: "‼", warning: "!", info: "i" };
const NO_ALERTS = [];
const NO_FEEDS = {};

/**
 * `said`: the objects ("kind:id", one per line) that the wall's alert banner already names; the
 * strip leaves them out, so that a wall says each problem once. `feeds`: `{sources, lava, labs}`,
 * where the data comes from (an event source down, the LAVA API failing: attention.js). `stale`: what the page shows may be
 * out of date, so the wall does not say that all is well.
 */
export function AttentionStrip({ devices, jobs, workers, alerts = NO_ALERTS, feeds = NO_FEEDS, wall = false, said = "",
  stale = false, onOpen, onQueue, onAlerts }) {
  // Durations are to the minute: recomputed when the model or the alerts change, or a minute passes.
  const minute = useClockValue((now) => Math.floor(now / 60000));
  // ... and when a source still connecting has tried long enough to be named (labs.js sourceDown),
  // looked at on the same clock's tick.
  const down = useClockValue((now) => (Array.isArray(feeds.sources)
    ? feeds.sources.map((source) => (source && sourceDown(source, now) ? "1" : "0")).join("") : ""));
  const items = useMemo(() => {
    const skip = new Set(said ? said.split("\n") : []);
    return attentionItems({ devices, jobs, workers, alerts, ...feeds }, clockNow())
      .filter((item) => !skip.has(`${item.kind}:${item.id}`));
  }, [devices, jobs, workers, alerts, feeds, said, minute, down]);
  // A wall shows as many cells (items, and "and N more") as its row holds whole, at most
  // WALL_ITEMS: measured after layout, one cell fewer until none is cut or overlaps ("fits" below),
  // again when the items or the screen change.
  const viewport = useViewportSize(wall);
  const fitKey = wall ? `${items.map((item) => item.key).join("\n")}|${viewport && viewport.width}x${viewport && viewport.height}` : "";
  const [fitted, setFitted] = useState(null);
  // "and N more" is a button: it shows every item (a wall's strip grows over the board's top for
  // it, and shrinks back after a minute untouched, as the details do); "Show fewer" folds it again.
  // Before (an audit), the rest could not be reached by keyboard, nor by pointer.
  const [expanded, setExpanded] = useState(false);
  const whole = expanded && items.length > (wall ? 1 : DESK_ITEMS);
  // The toggle is a new button in each state (its place moves): it keeps the keyboard's focus.
  const toggleRef = useRef(null);
  const refocus = useRef(false);
  const toggle = (value) => {
    refocus.current = Boolean(toggleRef.current && document.activeElement === toggleRef.current);
    setExpanded(value);
  };
  useLayoutEffect(() => {
    if (!refocus.current) return;
    refocus.current = false;
    if (toggleRef.current) toggleRef.current.focus();
  });
  useEffect(() => { if (expanded && !whole) setExpanded(false); }, [expanded, whole]);
  useIdleClose(wall && whole ? "expanded" : null, () => toggle(false));
  const current = wall && fitted && fitted.key === fitKey ? fitted : null;
  const cells = whole ? items.length : wall ? (current ? current.cells : WALL_ITEMS) : DESK_ITEMS;
  // A wall's last cell says "and N more"; when its row holds one cell only, that cell is the
  // worst item (the heading's number says there are more), its status let wrap when even then it
  // is not whole (`squeezed`: the whole text is its tooltip and name). Before (audits), a wall of
  // 800×600 with two items said "Needs attention 2" and named neither; then a phone's, whose items
  // were alerts ("x86-05 changed health more than 2 times in 10 minutes"), "Needs attention 7".
  const squeezed = Boolean(!whole && current && current.squeezed);
  // The worst item alone in its row, the others counted by the heading only: a "show all" beside
  // the heading reaches them (on a narrow wall the heading has a row of its own).
  const alone = wall && !whole && cells <= 1 && items.length > 1;
  const shown = items.length > cells ? items.slice(0, wall && cells > 1 ? cells - 1 : cells) : items;
  const more = !wall || cells > 1 ? items.length - shown.length : 0;
  const listRef = useRef(null);
  useLayoutEffect(() => {
    const list = listRef.current;
    if (!wall || whole || !list || cells <= 0 || items.length === 0) return;
    if (fits(list)) return;
    const fewer = Math.max(1, Math.min(cells, items.length) - 1);
    if (fewer < cells) setFitted({ key: fitKey, cells: fewer });
    else if (!squeezed) setFitted({ key: fitKey, cells: 1, squeezed: true });
  }, [wall, whole, fitKey, cells, squeezed]);
  if (!wall && items.length === 0) return null;
  // All clear only when the banner above says nothing either (its alerts are left out of the items).
  // Words to read, not a live region: a screen reader is not told each time the lab becomes calm.
  const clear = items.length === 0 && !stale && bannerAlerts(alerts).length === 0;
  const open = (item) => {
    if (item.kind === "queue") onQueue && onQueue(item.type, item.lab);
    else if (item.kind === "lab") onAlerts && onAlerts();
    else onOpen(item.kind, item.id);
  };
  return html`
    <section class=${`attention${wall ? " attention-wall" : ""}${whole ? " is-expanded" : ""}`} aria-label="Needs attention"
        data-count=${items.length} data-focus-home="#main">
      ${items.length > 0 && html`<h2 class="attention-title">Needs attention <span class="num">${items.length}</span></h2>`}
      ${alone && html`<button type="button" class="attention-more-open attention-all" ref=${toggleRef}
        aria-expanded="false" onClick=${() => toggle(true)}>show all</button>`}
      ${clear && html`<p class="attention-clear">
        <span class="symbol" aria-hidden="true">✓</span> Nothing needs attention</p>`}
      ${wall && stale && items.length === 0 && html`<p class="attention-unknown">
        <span class="symbol" aria-hidden="true">?</span> Not connected: what is shown may be out of date</p>`}
      <ul class=${`attention-items${squeezed ? " is-squeezed" : ""}`} ref=${listRef}>
        ${shown.map((item) => html`<li key=${item.key} class=${`attention-item level-${token(item.level)}`}
            data-kind=${item.kind} data-id=${item.id} data-alert=${item.alert}
            data-focus-key=${`attention:${item.key}`} data-focus-label=${`${item.name || item.text} (needs attention)`}>
          <button type="button" class="attention-open" title=${item.text} onClick=${() => open(item)}>
            <span class="symbol" aria-hidden="true">${SYMBOLS[item.level] || symbolFor(item.level)}</span>
            ${item.alert && html`<span class="visually-hidden">${levelWord(item.level)}: </span>`}
            <${ItemText} item=${item} />
          </button>
        </li>`)}
        ${(more > 0 || whole) && html`<li class="attention-more" data-focus-key="attention:more" data-focus-label="Show every item">
          <button type="button" class="attention-more-open" ref=${toggleRef} aria-expanded=${whole ? "true" : "false"}
            onClick=${() => toggle(!whole)}>${whole ? "Show fewer" : `and ${more} more`}</button></li>`}
      </ul>
    </section>`;
}

/**
 * An item's words: its name (cut first, with an ellipsis) and its status, or its text whole. Inline
 * boxes, so that the text reads as one line (innerText, copying) wherever it wraps.
 */
function ItemText({ item }) {
  const [name, rest] = splitName(item.name, item.text);
  if (!name) return html`<span class="attention-text">${item.text}</span>`;
  const status = rest.trimStart();
  return html`<span class="attention-text is-split"><span class="attention-name">${name}</span>${
    rest.slice(0, rest.length - status.length)}<span class="attention-status">${status}</span></span>`;
}

/** Whether every cell of a wall's row is inside the row, none overlaps the next, and no status is cut. */
function fits(list) {
  const box = list.getBoundingClientRect();
  let right = box.left;
  for (const cell of list.children) {
    const r = cell.getBoundingClientRect();
    const content = cell.firstElementChild;
    if (r.left < right - 0.5 || r.right > box.right + 0.5 || r.bottom > box.bottom + 0.5) return false;
    if (content && content.scrollWidth > content.clientWidth + 1) return false;
    // Against the text's own box, inside the button's padding: a status 2 px past it was cut,
    // though inside the cell (a portrait wall's full-width row showed it).
    const text = cell.querySelector(".attention-text");
    const edge = text ? Math.min(r.right, text.getBoundingClientRect().right) : r.right;
    for (const status of cell.querySelectorAll(".attention-status")) {
      for (const s of status.getClientRects()) if (s.bottom > r.bottom + 0.5 || s.right > edge + 0.5) return false;
    }
    right = r.right;
  }
  return true;
}
