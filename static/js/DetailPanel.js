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
 * header as it grows, shrinks or scrolls (usePlacement); Tab passes over the controls it covers
 * whole (useFocusNotHidden), while what shows beside it stays as it was: reached, clicked, read.
 * On a wall, `close` is called after IDLE_MS with no pointer or key activity.
 */
const BESIDE = "(min-width: 1660px)";
const covers = (onWall) => onWall || typeof window.matchMedia !== "function"
  || !window.matchMedia(BESIDE).matches;

function usePlacement(panel, close, key) {
  const [onWall, setOnWall] = useState(false);
  useEffect(() => {
    const el = panel.current;
    const wall = Boolean(el && el.closest(".is-wall"));
    setOnWall(wall);
    if (!el) return undefined;
    const place = () => {
      const header = document.querySelector(".topbar");
      el.style.top = header && covers(wall)
        ? `${Math.max(0, Math.ceil(header.getBoundingClientRect().bottom))}px` : "";
    };
    place();
    window.addEventListener("resize", place);
    window.addEventListener("scroll", place, { passive: true });
    const header = document.querySelector(".topbar");
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

/** The focus, come to a control the panel covers whole, goes on to the next one it does not (in
 * the direction Tab went), or to the panel's heading. The panel spans the window's height below the
 * header, so a control within its width is under it wherever the page is scrolled (the browser
 * scrolls a focused control into view after this has looked): only the header is above it. */
function useFocusNotHidden(panel) {
  useEffect(() => {
    const el = panel.current;
    if (!el) return undefined;
    const onWall = Boolean(el.closest(".is-wall"));
    let backwards = false;
    const under = (node) => {
      if (node.closest(".topbar")) return false;
      const r = node.getBoundingClientRect();
      const p = el.getBoundingClientRect();
      return r.left >= p.left - 0.5 && r.right <= p.right + 0.5;
    };
    const onKey = (event) => { if (event.key === "Tab") backwards = event.shiftKey; };
    const onFocus = (event) => {
      const target = event.target;
      if (!target || !target.getBoundingClientRect || el.contains(target) || !covers(onWall)
        || !under(target)) return;
      const order = [...document.querySelectorAll(FOCUSABLE)]
        .filter((node) => node === target || (node.getClientRects().length > 0 && !node.closest("[inert]")));
      const step = backwards ? -1 : 1;
      for (let i = order.indexOf(target) + step; i >= 0 && i < order.length; i += step) {
        if (el.contains(order[i]) || !under(order[i])) {
          order[i].focus();
          if (document.activeElement === order[i]) return; // (else one that takes no focus: on)
        }
      }
      const heading = el.querySelector("#detail-title");
      if (heading) heading.focus();
    };
    document.addEventListener("keydown", onKey, true);
    document.addEventListener("focusin", onFocus);
    return () => {
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
