/**
 * The details of one device, job or worker: every field the page knows, a device's timeline or a
 * job's path through the states (from the stored history), the changes seen since the page loaded,
 * and a link to its page on the LAVA server when a LAVA URL is configured (its own lab's, with
 * several labs: the panel names the lab, and everything it asks the server is asked with it).
 * Not modal: the board stays live beside or behind it, and it is a complementary landmark (an <aside>
 * named by its heading), not a dialog; Tab passes over what it covers (useFocusNotHidden).
 * Escape or the close button closes it; on a wall, so do 60 s with no pointer or key activity.
 * Where it covers the page it stays below the header (the connection: usePlacement). When its object goes (a
 * finished job the server no longer keeps), the panel says so, and so does the live region.
 */
import { useEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { DeviceJobs } from "./DeviceJobs.js";
import { DeviceTimeline } from "./DeviceTimeline.js";
import { HealthSince } from "./HealthSince.js";
import { HistoryList } from "./HistoryList.js";
import { JobLog } from "./JobLog.js";
import { JobPath } from "./JobPath.js";
import { deviceUrl, jobUrl, workerUrl } from "./links.js";
import { ALERT_HEALTHS, symbolFor, token } from "./lava.js";
import { formatAge, formatDateTime, parseTime } from "./time.js";
import { useNow } from "./clock.js";
import { ID_FIELDS, baseFor, labOf, objectKey, splitKey } from "./labs.js";
import { announce, itemLabel } from "./focus.js";
import { useIdleClose } from "./idle.js";

/** Fields in the order a person looks for them; any others follow. */
const FIELD_ORDER = {
  device: ["hostname", "device_type", "state", "health", "worker", "job", "since", "updated"],
  job: ["id", "description", "submitter", "state", "health", "health_check", "priority", "device_type",
    "device", "worker", "sub_id", "submit_time", "start_time", "end_time", "updated"],
  worker: ["hostname", "state", "health", "devices", "since", "updated"],
};
const TIME_FIELDS = new Set(["since", "updated", "submit_time", "start_time", "end_time"]);
const PAGE_URLS = { device: deviceUrl, job: jobUrl, worker: workerUrl };
const MAX_LIST = 200;
/**
 * Never over the control the keyboard is on (WCAG 2.4.11, focus not obscured). On a desk wide
 * enough to keep its widest layout beside the panel (BESIDE: 1,200 px and the panel's 460), the
 * page is laid out beside it (dashboard.css: `.has-detail`'s padding). Narrower, and on a wall
 * (whose board keeps its size), the panel covers part of the page: it starts below the header,
 * never over the connection, the alerts' count or the words said to screen readers, and follows the
 * header as it grows, shrinks or scrolls (usePlacement); Tab passes over the controls it hides
 * (useFocusNotHidden), while what shows beside it stays as it was: reached, clicked, read.
 * On a wall, `close` is called after IDLE_MS with no pointer or key activity.
 */
const BESIDE = "(min-width: 1660px)";
const besideQuery = typeof window.matchMedia === "function" ? window.matchMedia(BESIDE) : null; // (live)
const covers = (onWall) => onWall || !besideQuery || !besideQuery.matches;

function usePlacement(panel, close, key) {
  const [onWall, setOnWall] = useState(false);
  useEffect(() => {
    const el = panel.current;
    const wall = Boolean(el && el.closest(".is-wall"));
    setOnWall(wall);
    if (!el) return undefined;
    const header = document.querySelector(".topbar");
    const place = () => {
      el.style.top = header && covers(wall)
        ? `${Math.max(0, Math.ceil(header.getBoundingClientRect().bottom))}px` : "";
    };
    place();
    window.addEventListener("resize", place);
    window.addEventListener("scroll", place, { passive: true });
    const observer = header && typeof ResizeObserver !== "undefined" ? new ResizeObserver(place) : null;
    if (observer) observer.observe(header);
    return () => {
      window.removeEventListener("resize", place);
      window.removeEventListener("scroll", place);
      if (observer) observer.disconnect();
    };
  }, [key]);
  useIdleClose(onWall ? key : null, close);
}

const FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), "
  + "textarea:not([disabled]), summary, [tabindex]:not([tabindex='-1'])";
const SEEN_PX = 16; // less of a control than this beside the panel is not seen
const TAB_MS = 500; // a focus this soon after Tab came from Tab

/**
 * The focus that Tab brought to a control the panel hides goes on, in Tab's direction, to the next
 * control it does not hide, or to the panel's heading. The control the focus came to is judged by
 * what is drawn on its points, once it is in view (the browser scrolls it there: a table scrolled
 * sideways may bring it under the panel; a control drawn above the panel, the skip link, is seen);
 * the controls passed on the way, against the panel's width (it spans the window's height below
 * the header, so a control within its width is under it wherever the page scrolls). The page is
 * walked from the control's own place to the first one that may take the focus: no list of them
 * all. A focus the page itself moves (to keep it on an item the live data moved) is left where it
 * is put.
 */
function useFocusNotHidden(panel) {
  useEffect(() => {
    const el = panel.current;
    if (!el) return undefined;
    const onWall = Boolean(el.closest(".is-wall"));
    let tab = { at: -Infinity, backwards: false };
    let frame = 0;
    const beside = (node) => { // the width of it beside the panel
      const r = node.getBoundingClientRect();
      const p = el.getBoundingClientRect();
      return Math.max(0, Math.min(r.right, p.left) - r.left) + Math.max(0, r.right - Math.max(r.left, p.right));
    };
    // (The header, and the skip link, which is drawn above the panel once it has the focus.)
    const mayHide = (node) => !node.closest(".topbar, .skip-link") && beside(node) < SEEN_PX;
    const drawnOver = (node) => { // on screen: every point of it looked at shows something else
      const r = node.getBoundingClientRect();
      const y = r.top + r.height / 2;
      return ![r.left + 2, r.left + r.width / 2, r.right - 2].some((x) => {
        const top = document.elementFromPoint(x, y);
        return top && (top === node || node.contains(top));
      });
    };
    // From `from` on (in the page's order, or back), round from the other end as Tab goes round,
    // until `from` again: the first control that is not hidden and takes the focus.
    const next = (from, backwards) => {
      // A part of the page within the panel's width is passed whole (a phone's board, under a
      // panel as wide as the window: thousands of elements, none to stop at).
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_ELEMENT, (node) => (
        node.firstElementChild && !el.contains(node) && !node.contains(el) && mayHide(node)
          ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT));
      const step = () => (backwards ? walker.previousNode() : walker.nextNode());
      walker.currentNode = from;
      for (let round = 0; round < 2; round += 1) {
        for (let node = step(); node && node !== from; node = step()) {
          if (!node.matches(FOCUSABLE) || node.getClientRects().length === 0) continue;
          if (!el.contains(node) && mayHide(node)) continue;
          node.focus();
          if (document.activeElement === node) return true; // (else one that takes no focus: on)
        }
        walker.currentNode = document.body;
        if (backwards) while (walker.lastChild()); // (the page's last element)
      }
      return false;
    };
    const move = (target) => {
      if (!next(target, tab.backwards)) {
        const heading = el.querySelector("#detail-title");
        if (heading) heading.focus();
      }
    };
    const onKey = (event) => {
      if (event.key === "Tab") tab = { at: performance.now(), backwards: event.shiftKey };
    };
    const onFocus = (event) => {
      const target = event.target;
      if (!target || !target.getBoundingClientRect || el.contains(target) || !covers(onWall)
        || performance.now() - tab.at > TAB_MS) return;
      const r = target.getBoundingClientRect();
      if (r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth) {
        if (drawnOver(target)) move(target); // in view: the browser does not scroll it
        return;
      }
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => { // scrolled into view by now
        if (document.activeElement === target && !el.contains(target) && drawnOver(target)) move(target);
      });
    };
    document.addEventListener("keydown", onKey, true);
    document.addEventListener("focusin", onFocus);
    return () => {
      cancelAnimationFrame(frame);
      document.removeEventListener("keydown", onKey, true);
      document.removeEventListener("focusin", onFocus);
    };
  }, []);
}

function fieldNames(kind, obj) {
  const order = FIELD_ORDER[kind];
  return order.concat(Object.keys(obj).filter((k) => !order.includes(k)).sort());
}

/** A field's value as text, or as buttons to the objects it names (of the same `lab`). */
function value(kind, name, v, onOpen, now, lab) {
  if (v == null || v === "") return html`<span class="muted">–</span>`;
  const open = (k, id, text = id) => html`<button type="button" class="link-button"
    onClick=${() => onOpen(k, objectKey(lab, id))}>${text}</button>`;
  if (name === "worker" && kind !== "worker") return open("worker", v);
  if (name === "device" && kind === "job") return open("device", v);
  if (name === "job" && kind === "device") return open("job", v, `#${v}`);
  if (name === "devices" && Array.isArray(v)) {
    return html`<span class="chips">${v.slice(0, MAX_LIST).map((host) => html`<span key=${host}>${open("device", host)} </span>`)}
      ${v.length > MAX_LIST ? html`<span class="more">+${v.length - MAX_LIST} more</span>` : ""}</span>`;
  }
  if (TIME_FIELDS.has(name)) {
    const t = parseTime(v);
    return t == null ? String(v) : html`<time datetime=${new Date(t).toISOString()} title=${v}>${formatDateTime(t)} <span class="muted">(${formatAge(t, now)})</span></time>`;
  }
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "object") return JSON.stringify(v);
  if (name === "state" || name === "health") return html`<span class=${`value-word ${name}-${token(v)}`}>${symbolFor(v)} ${v}</span>`;
  return String(v);
}

/**
 * `target`: {kind, id} (`id` the object's key, labs.js); `obj`: the object now (null if the page no
 * longer has it); `lavaBases`: each lab's LAVA base; `labNames`: the named labs (to read a key).
 */
export function DetailPanel({ target, obj, history, lavaBases, labNames = [], onOpen, onClose, onFollowLog }) {
  const heading = useRef(null);
  const panel = useRef(null);
  const now = useNow();
  const { kind, id } = target;
  // The object's lab and its id within it: from the object, or from the key when the page lost it.
  const parts = obj && obj[ID_FIELDS[kind]] != null ? { lab: labOf(obj.lab), id: String(obj[ID_FIELDS[kind]]) }
    : splitKey(id, labNames);
  const lab = parts.lab;
  const name = parts.id;
  // Focus moves to the panel when it opens (or shows another object) so a keyboard user lands in it.
  useEffect(() => { if (heading.current) heading.current.focus(); }, [kind, id]);
  // The object gone while shown (not one that was already gone when the panel opened): said in
  // words to screen readers too (the focus, if it was on a field, is put on the heading: main.js).
  const shown = useRef(null);
  const present = Boolean(obj);
  useEffect(() => {
    const was = shown.current;
    shown.current = { target: `${kind}:${id}`, present };
    if (was && was.target === `${kind}:${id}` && was.present && !present) {
      announce(`${itemLabel(kind, name, lab)} is no longer shown`);
    }
  }, [kind, id, present]);
  useEffect(() => {
    // Not an Escape meant for a field (an audit: Escape in the search box, which clears it, also
    // closed the details and took the focus out of the field).
    const onKey = (event) => {
      if (event.key !== "Escape" || event.defaultPrevented) return;
      const target = event.target;
      if (target && target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
      onClose();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [onClose]);
  usePlacement(panel, onClose, `${kind}:${id}`);
  useFocusNotHidden(panel);
  const lavaBase = baseFor(lavaBases, lab);
  const href = PAGE_URLS[kind](lavaBase, name);
  const title = kind === "job" ? `Job #${name}` : name;
  return html`
    <aside id="detail" class="detail-panel" ref=${panel} aria-labelledby="detail-title" data-focus-home="#detail-title"
        data-focus-of=${`${kind}:${id}`} data-kind=${kind} data-id=${id} data-lab=${lab || undefined}>
      <div class="detail-head">
        <p class="detail-kind">${kind}${lab && html` <span class="detail-lab">in lab ${lab}</span>`}</p>
        <h2 id="detail-title" class="detail-title" tabindex="-1" ref=${heading}>${title}</h2>
        <button type="button" class="detail-close" onClick=${onClose} aria-label="Close details">✕</button>
      </div>
      ${href ? html`<a id="detail-lava-link" class="detail-lava-link" href=${href} target="_blank"
          rel="noopener noreferrer">Open in LAVA ↗</a>`
        : html`<p class="muted detail-no-link">${lab ? `Lab ${lab} has no LAVA URL` : "No LAVA URL configured"}: no link to LAVA's page.</p>`}
      ${kind === "device" && obj && ALERT_HEALTHS.includes(obj.health) && html`<${HealthSince} hostname=${name} lab=${lab} health=${obj.health} />`}
      ${obj ? html`
        <dl class="detail-fields">
          ${fieldNames(kind, obj).map((field) => html`<div key=${field} class="detail-field" data-field=${field}>
            <dt>${field.replace(/_/g, " ")}</dt><dd>${value(kind, field, obj[field], onOpen, now, lab)}</dd></div>`)}
        </dl>` : html`<p class="detail-gone">The page no longer has this ${kind}: it finished long ago, was
          removed, or does not match the filters.</p>`}
      ${kind === "device" && html`<${DeviceTimeline} hostname=${name} lab=${lab} reloadKey=${obj ? `${obj.state}|${obj.health}` : ""} />`}
      ${kind === "device" && html`<${DeviceJobs} hostname=${name} lab=${lab} reloadKey=${obj ? `${obj.state}|${obj.health}|${obj.job}` : ""}
        lavaBase=${lavaBase} onOpen=${onOpen} />`}
      ${kind === "job" && html`<${JobPath} id=${name} lab=${lab} reloadKey=${obj ? `${obj.state}|${obj.health}` : ""} />`}
      ${kind === "job" && onFollowLog && html`<${JobLog} job=${name} lab=${lab} follow=${onFollowLog} />`}
      <h3 class="detail-subtitle">Changes since the page loaded</h3>
      <${HistoryList} entries=${history} kind=${kind} />
    </aside>`;
}
