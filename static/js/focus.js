/**
 * The keyboard's focus across renders. Preact moves a keyed element when its item moves (a tile
 * put first by `sort=problems`), and makes a new one when the item changes list (a job from
 * Queued to Running); either way Chromium drops the focus to <body>. Around each render the page
 * notes what had the focus (`focusBefore`) and, if the focus fell, puts it back on the same item
 * (`restoreFocus`), found by its `data-focus-key`. When the item is gone, the focus goes to a place
 * named by `data-focus-home` (its panel's heading, or the details panel's when that panel shows
 * the item), and the page says so in the polite live region (`announce`, `#announcer`). A focused
 * item the render moved out of its panel's view is scrolled back into it (`keepInView`).
 */

const ANNOUNCER = "announcer";
const CLEAR_AFTER_MS = 10000;
const REPEAT_WITHIN_MS = 2000;

let last = { text: "", at: 0 };
let clearTimer = 0;
// Words waiting for the live region: each stays there at least SAY_GAP_MS before the next takes
// its place, so that one said in the same moment as another (an alert firing as a focused item
// goes) is not overwritten before a screen reader reads it. At most QUEUE_MAX wait: the oldest
// waiting gives way.
const SAY_GAP_MS = 1500;
const QUEUE_MAX = 4;
const waiting = [];
let shownAt = 0;
let sayTimer = 0;

/** Whether nothing has the focus (it fell to <body>, or the document has none). */
const lost = (el) => !el || el === document.body || el === document.documentElement;

/** A selector for a control among its item's: its tag and classes (the same on a remade element). */
function controlOf(el, item) {
  if (!item || el === item) return null;
  return el.tagName.toLowerCase() + [...el.classList].map((c) => `.${CSS.escape(c)}`).join("");
}

/**
 * What has the focus now, so that it can be found again after a render: the element, its item's
 * key and words (`data-focus-key`, `data-focus-label`), which control of the item it is, and
 * where the focus goes when the item is gone (`data-focus-home`, a selector). Null: nothing.
 */
export function focusBefore(el = document.activeElement) {
  if (lost(el)) return null;
  const item = el.closest("[data-focus-key]");
  const home = el.closest("[data-focus-home]");
  return {
    el,
    key: item ? item.dataset.focusKey : null,
    label: item ? item.dataset.focusLabel || "" : "",
    control: controlOf(el, item),
    home: home ? home.dataset.focusHome : null,
    // Where a live item was, and whether the person could see it (followed by `keepInView`).
    seen: item ? seenAt(el) : null,
  };
}

/** The nearest ancestor of `el` that scrolls its content, or null (the page itself scrolls). */
function scroller(el) {
  for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    const y = getComputedStyle(p).overflowY;
    if ((y === "auto" || y === "scroll") && p.scrollHeight > p.clientHeight) return p;
  }
  return null;
}

/**
 * Where `el` is on the screen ({top}) and whether any of it shows ({visible}) and all of it
 * ({whole}): within its scrolling panel and the window. Null when it is not laid out.
 */
function seenAt(el) {
  const r = el.getBoundingClientRect();
  if (!r.width && !r.height) return null;
  const box = scroller(el);
  const b = box ? box.getBoundingClientRect() : null;
  const top = Math.max(b ? b.top : 0, 0);
  const bottom = Math.min(b ? b.bottom : Infinity, window.innerHeight);
  return { top: r.top, visible: r.bottom > top && r.top < bottom, whole: r.top >= top - 1 && r.bottom <= bottom + 1 };
}

/**
 * A focused item that the live data moved (a tile put first by `sort=problems` or back in its
 * place, a job row whose list grew above it) out of its panel's view is scrolled back into it: the
 * keyboard's focus must stay where the person can see it (WCAG 2.4.11). Only when the person could
 * see some of it before the render and it moved: one they scrolled away from is left where it is.
 */
function keepInView(before) {
  const el = document.activeElement;
  if (!before.seen || !before.seen.visible || lost(el) || !el.closest("[data-focus-key]")) return;
  const now = seenAt(el);
  if (now && !now.whole && Math.abs(now.top - before.seen.top) >= 1) {
    el.scrollIntoView({ block: "nearest", inline: "nearest" });
  }
}

/** The item with `key` on the page now (null: none). */
function findItem(key) {
  return document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
}

/** The element `before` described, or the same control of the same item (remade), or null. */
export function findAgain(before) {
  if (!before) return null;
  if (before.el.isConnected) return before.el;
  if (!before.key) return null;
  const item = findItem(before.key);
  if (!item) return null;
  if (!before.control) return item;
  return item.querySelector(before.control);
}

function focusOn(el) {
  el.focus({ preventScroll: true });
  return document.activeElement === el;
}

/**
 * `keepInView` at the next frame, once the browser lays the page out for its paint anyway: read
 * right after the render, the item's place forced a layout of its own at every render while an
 * item had the focus (a review).
 */
function inViewSoon(before) {
  if (before.seen && before.seen.visible) requestAnimationFrame(() => keepInView(before));
}

/**
 * After a render: if the focus fell to <body> from what `before` describes, put it back on the
 * same item; if the item is gone, on its home (the details panel's heading when the panel shows
 * that item), and say that the item is no longer shown. Does nothing when the focus did not fall
 * (the person moved it, or it is still where it was).
 */
export function restoreFocus(before) {
  if (!before) return;
  if (!lost(document.activeElement)) {
    if (document.activeElement === findAgain(before)) inViewSoon(before);
    return;
  }
  const again = findAgain(before);
  if (again && focusOn(again)) {
    inViewSoon(before);
    return;
  }
  const gone = before.key && !findItem(before.key);
  // The details of the very item, still open: its heading is where the person was looking.
  const panel = gone ? document.querySelector(`#detail[data-focus-of="${CSS.escape(before.key)}"]`) : null;
  const home = panel ? panel.querySelector("#detail-title")
    : before.home ? document.querySelector(before.home) : null;
  if (home) focusOn(home);
  if (gone && before.label) announce(`${before.label} is no longer shown`);
}

/**
 * Say `text` to screen readers through the page's polite live region (`#announcer`, in the
 * header). The same words twice within a moment are said once (the list and the details panel
 * may both notice one item go); they are cleared after a while. Words said while others have
 * been there less than SAY_GAP_MS wait their turn (sayNext).
 */
export function announce(text) {
  const now = Date.now();
  if (!document.getElementById(ANNOUNCER) || waiting.includes(text)
      || (text === last.text && now - last.at < REPEAT_WITHIN_MS)) return;
  waiting.push(text);
  if (waiting.length > QUEUE_MAX) waiting.shift();
  sayNext();
}

/** Puts the next waiting words in the live region, once the ones there have had their moment. */
function sayNext() {
  const region = document.getElementById(ANNOUNCER);
  if (!region || !waiting.length || sayTimer) return;
  const now = Date.now();
  if (now - shownAt < SAY_GAP_MS) {
    sayTimer = setTimeout(() => { sayTimer = 0; sayNext(); }, SAY_GAP_MS - (now - shownAt));
    return;
  }
  const text = waiting.shift();
  last = { text, at: now };
  shownAt = now;
  region.textContent = text;
  clearTimeout(clearTimer);
  clearTimer = setTimeout(() => {
    region.textContent = "";
    last = { text: "", at: 0 };
  }, CLEAR_AFTER_MS);
  if (waiting.length) sayNext();
}

/** "Job 42", "Device qemu-01 in lab east": an item as `announce` names it. */
export function itemLabel(kind, name, lab = "") {
  const word = { device: "Device", job: "Job", worker: "Worker" }[kind] || kind;
  return `${word} ${name}${lab ? ` in lab ${lab}` : ""}`;
}
