/**
 * `useAlerts()`: the dashboard's alerts (GET /api/v1/alerts), polled every 10 s while the tab is
 * shown, and a browser notification for each alert that starts firing while the tab is in the
 * background (only after the person allowed notifications: see AlertsView).
 *
 * Bounded: one request at a time, each times out, at most 200 alerts kept (and at most 200 firing
 * ones older than those: `withFiring`), and the ids already notified are kept for the alerts the
 * server still lists.
 */
import { useEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";
import { getJson } from "./remote.js";
import { labOf, objectKey } from "./labs.js";
import { parseTime } from "./time.js";

// An alert's id is unique within its lab only (several labs): its lab and id tell it apart.
const alertKey = (a) => objectKey(labOf(a.lab), a.id);

export const POLL_MS = 10000;
const LIMIT = 200;

/** Whether this browser can show notifications at all. */
export const canNotify = () => typeof Notification !== "undefined";

/** Show one notification per newly firing alert (the first answer only marks what is known). */
function notifyNew(alerts, seen, first) {
  const firing = alerts.filter((a) => a.status === "firing");
  const fresh = firing.filter((a) => !seen.has(alertKey(a)));
  seen.clear();
  for (const a of firing) seen.add(alertKey(a));
  if (first || !canNotify() || Notification.permission !== "granted" || !document.hidden) return;
  for (const a of fresh.slice(0, 5)) {
    try {
      // `tag`: one notification per alert, however often it is seen.
      new Notification(`${labOf(a.lab) ? `${a.lab} · ` : ""}${a.rule}: ${a.subject}`, { body: a.message, tag: alertKey(a) });
    } catch (err) { /* a browser that only notifies from a service worker: the page still shows it */ }
  }
}

/**
 * The newest alerts with the firing ones that are older than all of them: each once (by lab and
 * id), newest first.
 */
export function withFiring(newest, firing) {
  const have = new Set(newest.map(alertKey));
  const older = firing.filter((a) => !have.has(alertKey(a)));
  if (!older.length) return newest;
  return [...newest, ...older].sort((a, b) => (parseTime(b.fired_at) ?? 0) - (parseTime(a.fired_at) ?? 0));
}

export function useAlerts(enabled = true) {
  const [state, setState] = useState({ alerts: [], firing: 0, error: null, loaded: false });
  const seen = useRef(new Set());
  const first = useRef(true);
  const tick = useRef(0);
  useEffect(() => {
    if (!enabled) return undefined;
    let stopped = false;
    let busy = false;
    let again = false; // a refresh asked for while a poll was under way: it may predate the change
    const controller = new AbortController();
    const poll = async () => {
      if (busy) { again = true; return; }
      if (stopped || (document.hidden && !first.current
        && !(canNotify() && Notification.permission === "granted"))) return;
      busy = true;
      try {
        const body = await getJson(`/api/v1/alerts?limit=${LIMIT}`, controller.signal, { poll: true });
        let list = body.alerts;
        if (body.firing > list.filter((a) => a.status === "firing").length) {
          // Some still firing fired before the newest LIMIT: asked for apart, so that the count,
          // the banner and the strip keep them (an audit: past 200 newer alerts they were lost).
          const older = await getJson(`/api/v1/alerts?status=firing&limit=${LIMIT}`, controller.signal, { poll: true });
          list = withFiring(list, older.alerts);
        }
        notifyNew(list, seen.current, first.current);
        first.current = false;
        if (!stopped) setState({ alerts: list, firing: body.firing, error: null, loaded: true });
      } catch (err) {
        if (!stopped && !controller.signal.aborted) setState((s) => ({ ...s, error: err.message, loaded: true }));
      } finally {
        busy = false;
        if (again && !stopped) { again = false; poll(); }
      }
    };
    poll();
    const timer = setInterval(poll, POLL_MS);
    const refresh = () => { tick.current += 1; poll(); };
    window.addEventListener("dashboard:alerts-changed", refresh);
    return () => {
      stopped = true;
      controller.abort();
      clearInterval(timer);
      window.removeEventListener("dashboard:alerts-changed", refresh);
    };
  }, [enabled]);
  return state;
}
