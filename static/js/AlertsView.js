/**
 * The alerts view: what fires now, then what fired before (newest first), sortable by column;
 * opt-in browser notifications; acknowledgement by a signed-in viewer. With several labs each alert
 * says its lab (an alert's id is unique within its lab only).
 */
import { useEffect, useMemo, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { canNotify } from "./alerts.js";
import { getJson } from "./remote.js";
import { parseTime } from "./time.js";
import { Timestamp } from "./Timestamp.js";
import { labOf, objectKey, withLab } from "./labs.js";
import { levelRank, levelWord } from "./attention.js";

const COLUMNS = [["status", "Status"], ["severity", "Severity"], ["rule", "Rule"], ["subject", "About"], ["message", "What"],
  ["fired_at", "Fired"], ["resolved_at", "Resolved"], ["acked_by", "Acknowledged by"]];
const LAB_COLUMNS = [["lab", "Lab"], ...COLUMNS];

// The page's one time form (24-hour, the viewer's zone, ISO in the tooltip); nothing when unset.
const when = (iso) => (iso ? html`<${Timestamp} iso=${iso} ms=${parseTime(iso)} />` : "");

function NotificationsToggle() {
  const [permission, setPermission] = useState(canNotify() ? Notification.permission : "unsupported");
  if (permission === "unsupported") return html`<p class="alerts-note">This browser cannot show notifications.</p>`;
  if (permission === "granted") {
    return html`<p id="notifications-on" class="alerts-note">Browser notifications are on: an alert that
      fires while this tab is in the background shows as a notification.</p>`;
  }
  if (permission === "denied") {
    return html`<p class="alerts-note">Notifications are blocked for this site in the browser's settings.</p>`;
  }
  return html`<button id="enable-notifications" type="button" class="button"
    onClick=${async () => setPermission(await Notification.requestPermission())}>
    Notify me in this browser when an alert fires</button>`;
}

/** POST the acknowledgement; null when done, else why not, in words (the API's error). */
async function acknowledge(id, lab, csrf) {
  let why = null;
  try {
    const response = await fetch(withLab(`/api/v1/alerts/${encodeURIComponent(id)}/ack`, lab),
      { method: "POST", headers: { "X-CSRF-Token": csrf || "", Accept: "application/json" } });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      why = body.error || `the dashboard answered ${response.status}`;
    }
  } catch {
    why = "the dashboard cannot be reached";
  }
  window.dispatchEvent(new Event("dashboard:alerts-changed"));
  return why;
}

export function AlertsView({ alerts, error }) {
  const [sort, setSort] = useState({ key: "fired_at", down: true });
  const [who, setWho] = useState(null);
  const [ackError, setAckError] = useState(null);
  useEffect(() => {
    const controller = new AbortController();
    getJson("/api/v1/whoami", controller.signal).then(setWho).catch(() => {});
    return () => controller.abort();
  }, []);
  const rows = useMemo(() => {
    // Severity by rank (descending: critical first), not by its word's letters.
    const value = (a) => (sort.key === "severity" ? -levelRank(a.severity) : a[sort.key] ?? "");
    const sorted = [...alerts].sort((a, b) => (value(a) < value(b) ? -1 : value(a) > value(b) ? 1 : 0));
    if (sort.down) sorted.reverse();
    // What fires now comes first, whatever the order asked for.
    return [...sorted.filter((a) => a.status === "firing"), ...sorted.filter((a) => a.status !== "firing")];
  }, [alerts, sort]);
  const canAck = Boolean(who && who.username && !who.wall);
  const columns = alerts.some((a) => labOf(a.lab)) ? LAB_COLUMNS : COLUMNS;
  return html`
    <section id="alerts-view" class="panel alerts-view" aria-label="Alerts">
      <h2>Alerts</h2>
      <${NotificationsToggle} />
      ${error && html`<p class="alerts-note" role="alert">Alerts cannot be loaded: ${error}</p>`}
      ${ackError && html`<p id="ack-error" class="alerts-note" role="alert">The alert was not acknowledged: ${ackError}</p>`}
      ${!rows.length ? html`<p class="alerts-note" id="no-alerts">No alerts.</p>` : html`
        <div class="panel-body" tabindex="0" role="region" aria-label="Alerts table">
        <table class="alerts-table">
          <thead><tr>${columns.map(([key, label]) => html`<th key=${key} scope="col"
            aria-sort=${sort.key === key ? (sort.down ? "descending" : "ascending") : "none"}>
            <button type="button" class="sort" onClick=${() => setSort({ key, down: sort.key === key ? !sort.down : true })}>
              ${label}</button></th>`)}<th scope="col"></th></tr></thead>
          <tbody>${rows.map((a) => html`<tr key=${objectKey(labOf(a.lab), a.id)} class=${`alert-row is-${a.status}`}
              data-alert-key=${a.key} data-lab=${labOf(a.lab) || undefined}>
            ${columns !== COLUMNS && html`<td>${labOf(a.lab)}</td>`}<td>${a.status}</td><td>${levelWord(a.severity)}</td><td>${a.rule}</td><td>${a.subject}</td>
            <td>${a.message}${a.hidden_jobs ? html` <em>(${a.hidden_jobs} job(s) you may not see)</em>` : ""}</td>
            <td>${when(a.fired_at)}</td><td>${when(a.resolved_at)}</td><td>${a.acked_by || (a.acked ? "someone" : "")}</td>
            <td>${a.status === "firing" && !a.acked && canAck && html`<button type="button" class="button"
              onClick=${async () => setAckError(await acknowledge(a.id, labOf(a.lab), who.csrf))}>Acknowledge</button>`}</td></tr>`)}</tbody>
        </table></div>`}
      <p class="alerts-note"><a href="/feeds/alerts.atom">Atom feed of alerts</a></p>
    </section>`;
}
