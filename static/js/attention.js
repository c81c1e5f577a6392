/**
 * The attention strip's facts: what needs a person, worst first, computed from the live model and
 * merged with the server's firing alerts (GET /api/v1/alerts, docs/alerts.md). Pure: the state's
 * Maps, the alerts and `now` (epoch ms) go in, a list of items comes out (empty when all is well).
 * Each item names its object (to open its details) and says what is wrong in words.
 *
 * Worst first: a worker Offline (its devices cannot run anything), then Bad devices, a starving
 * queue, then Looping devices; within a kind, the one with more devices affected or the longer
 * standing first. Maintenance is left out: a person put the device there (an alert about it, if
 * the server's rules say so, is shown). The page's own facts rank as warnings: a critical alert
 * comes before them all, an info one after.
 *
 * With several labs every object is one lab's (labs.js keys): a device's worker and health checks,
 * a worker's devices and a type's queue are looked for in its own lab, and each item says its lab.
 *
 * Each item's text begins with its `name`, the words that name its object ("east · qemu-01",
 * "worker w-1", "qemu:"): with a long hostname the strip and the banner cut the name, never the
 * status after it ("Bad 12 min").
 */
import { labOf, objectKey, problemWords, relatedKey, sourceDown } from "./labs.js";
import { queueByType } from "./queue.js";
import { parseTime } from "./time.js";
import { compareNames } from "./selectors.js";

/** A queue counts as starving once its oldest job has waited this long with no Idle Good device. */
export const STARVING_AFTER_MS = 5 * 60 * 1000;
/** Items kept (the strip shows the first few and "N more"). */
export const MAX_ITEMS = 200;

const SEVERITY = { lab: 5, worker: 4, bad: 3, queue: 2, looping: 1 };
// An alert ranks by its rule's object like the page's facts; a lab-wide one (the event stream
// silent, LAVA's API failing) first: everything shown may be out of date. LAVA's clock off skews
// the durations shown, but nothing is down: last. The dashboard's store failing loses history,
// not what is shown now: with a starving queue.
const RULE_SEVERITY = { stream_silent: 5, lava_api_failing: 5, worker_offline: 4, device_bad: 3,
  health_checks_failed: 3, queue_starving: 2, store_failing: 2, flapping: 1, lava_clock_skew: 1 };
// The strip's kinds of object, by an alert's `subject_kind`.
const KINDS = { device: "device", worker: "worker", device_type: "queue", lab: "lab" };

const pad = (n) => String(n).padStart(2, "0");

/** "kind:key" of the object an alert is about, as the strip names its items (null: none). */
export function alertObject(alert) {
  const kind = KINDS[alert.subject_kind];
  return kind ? `${kind}:${objectKey(labOf(alert.lab), alert.subject)}` : null;
}

/** An item's words begin with its lab when it has one: "east · qemu-01 Bad 5 min". */
const labWords = (lab) => (lab ? `${lab} · ` : "");

// Alerts' severities, worst first (the strip's and the wall's banner's one order).
const LEVELS = ["critical", "warning", "info"];

/** An alert's severity as the page ranks it: one it does not know counts as a warning. */
export const alertLevel = (severity) => (LEVELS.includes(severity) ? severity : "warning");

/** How bad a severity is, worst first: critical 0, warning 1 (and one the page does not know), info 2. */
export const levelRank = (severity) => LEVELS.indexOf(alertLevel(severity));

/** A severity in a word, as the page ranks it ("Warning" for one it does not know): every place
 * that shows a severity says it in words, not by its colour alone. */
const LEVEL_WORDS = { critical: "Critical", warning: "Warning", info: "Info" };
export const levelWord = (severity) => LEVEL_WORDS[alertLevel(severity)];

/**
 * An alert's words, as the strip and the wall's banner say them: `said`, its lab (several labs)
 * and its message; `acked`, who acknowledged it (only "acknowledged" when the viewer may not know
 * who: the server leaves the name out; "" when nobody has).
 */
export function alertWords(alert) {
  return { said: `${labWords(labOf(alert.lab))}${alert.message}`,
    acked: alert.acked_by ? `(acknowledged by ${alert.acked_by})` : alert.acked ? "(acknowledged)" : "" };
}

/**
 * The start of an alert's words (`alertWords`' `said`) that names its object, up to the end of its
 * subject's name ("east · qemu-01" of "east · qemu-01 has been Bad for 12 minutes"); "" when the
 * message does not begin with it, or with its kind's word and it ("worker w-1"): an alert about the
 * whole lab; "1 qemu job(s) waiting…", whose "1 qemu" a wall's banner cut to "1 …" as if it were a
 * long name (found by an audit).
 */
export function alertName(alert) {
  const said = alertWords(alert).said;
  const subject = KINDS[alert.subject_kind] && alert.subject_kind !== "lab" ? String(alert.subject ?? "") : "";
  if (!subject) return "";
  const start = labWords(labOf(alert.lab)).length;
  const rest = said.slice(start);
  // The subject alone, or after its kind's word ("worker w-1 has been Offline…"), then a space.
  const lead = [subject, `worker ${subject}`, `device ${subject}`]
    .find((n) => rest.startsWith(n) && (rest.length === n.length || rest[n.length] === " "));
  return lead ? said.slice(0, start + lead.length) : "";
}

/** `text` as [the `name` it begins with, the rest]; ["", text] when it does not begin with `name`. */
export function splitName(name, text) {
  return name && text.startsWith(name) ? [name, text.slice(name.length)] : ["", text];
}

/** An alert's whole line of text: "east · Device qemu-01 is Bad (acknowledged by ana)". */
export function alertText(alert) {
  const { said, acked } = alertWords(alert);
  return acked ? `${said} ${acked}` : said;
}

/**
 * A wait to the minute, as the strip says it: "<1 min", "12 min", "3 h 05 min", "2 d 4 h". To
 * the minute, so the strip changes (and renders) once a minute, not every second.
 */
export function formatWait(ms) {
  const m = Math.max(0, Math.floor(ms / 60000));
  if (m < 1) return "<1 min";
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${pad(m % 60)} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** How long since `iso`, to the minute, or null when unknown. */
function since(iso, now) {
  const t = parseTime(iso);
  return t == null ? null : formatWait(now - t);
}

/** The newest finished health check of each device among the jobs the page holds: Map device key → job. */
export function lastHealthChecks(jobs) {
  const out = new Map();
  for (const job of jobs.values()) {
    if (job.health_check !== true || job.state !== "Finished" || !job.device) continue;
    const ended = parseTime(job.end_time) ?? parseTime(job.updated) ?? 0;
    const device = relatedKey(job, job.device);
    const before = out.get(device);
    if (!before || ended > before.ended) out.set(device, { job, ended });
  }
  return new Map([...out].map(([host, { job }]) => [host, job]));
}

function deviceItems(devices, workers, checks, now) {
  const items = [];
  for (const [key, device] of devices) {
    if (device.health !== "Bad" && device.health !== "Looping") continue;
    const worker = device.worker ? workers.get(relatedKey(device, device.worker)) : null;
    if (worker && worker.state === "Offline") continue; // said once, by its worker's item
    const check = checks.get(key);
    const age = since(device.since, now);
    const lab = labOf(device.lab);
    const name = `${labWords(lab)}${device.hostname}`;
    const text = [`${name} ${device.health}${age ? ` ${age}` : ""}`,
      check ? `last health check #${check.id} ${check.health}` : ""].filter(Boolean).join(" · ");
    items.push({ key: `device:${key}`, severity: device.health === "Bad" ? SEVERITY.bad : SEVERITY.looping,
      weight: 1, started: parseTime(device.since) ?? now, kind: "device", id: key, lab, level: device.health, name, text });
  }
  return items;
}

function workerItems(devices, workers, now) {
  const items = [];
  for (const [key, worker] of workers) {
    if (worker.state !== "Offline") continue;
    let count = 0;
    for (const device of devices.values()) {
      if (device.worker != null && relatedKey(device, device.worker) === key && device.health !== "Retired") count += 1;
    }
    const age = since(worker.since, now);
    const lab = labOf(worker.lab);
    const name = `${labWords(lab)}worker ${worker.hostname}`;
    items.push({ key: `worker:${key}`, severity: SEVERITY.worker, weight: count,
      started: parseTime(worker.since) ?? now, kind: "worker", id: key, lab, level: "Offline", name,
      text: `${name} Offline${age ? ` ${age}` : ""}: ${count} device${count === 1 ? "" : "s"}` });
  }
  return items;
}

/** Device types whose queue waits with no device that could take a job (Idle, Good, worker Online). */
function queueItems(devices, workers, jobs, now) {
  const ready = new Set();
  for (const device of devices.values()) {
    const worker = device.worker ? workers.get(relatedKey(device, device.worker)) : null;
    if (device.state === "Idle" && device.health === "Good" && !(worker && worker.state === "Offline")) {
      ready.add(relatedKey(device, device.device_type ?? ""));
    }
  }
  const items = [];
  for (const [key, { count, oldest, lab, type }] of queueByType(jobs)) {
    if (ready.has(key) || oldest == null || now - oldest < STARVING_AFTER_MS) continue;
    const name = `${labWords(lab)}${type || "unknown type"}:`;
    items.push({ key: `queue:${key}`, severity: SEVERITY.queue, weight: count, started: oldest,
      kind: "queue", id: key, lab, type, level: "Queue", name,
      text: `${name} ${count} queued, oldest ${formatWait(now - oldest)}, no Idle Good device` });
  }
  return items;
}

/**
 * What the page knows of where its data comes from: an event source lost or still not connected
 * after labs.js CONNECT_GRACE_MS (the live view may miss changes), and a LAVA API that fails (what is shown
 * may be out of date). First in the strip, so that a wall never says all is well while it cannot
 * know (an audit: a lab whose publisher refused connections showed "Nothing needs attention" until
 * the stream_silent alert fired, 15 minutes later). `sources`: the meta's (each with `lab`, `state`,
 * `lost`, `since`); `lava`: the one unnamed lab's LAVA API state; `labs`: named labs, each its own.
 * Each item `covers` the server's alert that says the same (it is left out of the alert items).
 */
function feedItems({ sources, lava, labs }, now) {
  const items = [];
  for (const source of Array.isArray(sources) ? sources : []) {
    if (!source || !sourceDown(source, now)) continue;
    const started = parseTime(source.since);
    const waited = started == null ? 0 : now - started;
    const lab = labOf(source.lab);
    const name = `${labWords(lab)}event source ${source.name}`;
    const state = source.lost || source.state !== "connecting" ? "down" : "not connected";
    const why = problemWords(source);
    items.push({ key: `lab:${objectKey(lab, `events/${source.name}`)}`, severity: SEVERITY.lab, weight: 1,
      started: started ?? now, kind: "lab", id: objectKey(lab, "events"), lab, level: "Offline", name,
      text: `${name} ${state}${started == null ? "" : ` ${formatWait(waited)}`}${why ? `: ${why}` : ""}`,
      covers: objectKey(lab, "stream_silent/lab") });
  }
  const apis = [...(lava ? [{ name: "", lava }] : []), ...(Array.isArray(labs) ? labs : [])];
  for (const { name: labName, lava: api } of apis) {
    if (!api || api.state !== "error") continue;
    const lab = labOf(labName);
    const started = parseTime(api.since);
    const name = `${labWords(lab)}LAVA API`;
    items.push({ key: `lab:${objectKey(lab, "api")}`, severity: SEVERITY.lab, weight: 1,
      started: started ?? now, kind: "lab", id: objectKey(lab, "api"), lab, level: "Offline", name,
      text: `${name} failing${started == null ? "" : ` ${formatWait(now - started)}`}: shown data may be out of date`,
      covers: objectKey(lab, "lava_api_failing/lab") });
  }
  return items;
}

/**
 * Whether the page shows what an alert is about: its device, worker or device type among the
 * page's objects (`devices`, `workers`, `jobs`: Maps already narrowed by the filter, as the strip
 * gets them). One about no object the filter narrows (the lab as a whole: the event stream silent,
 * LAVA's API failing) is always shown. The one rule of the strip and of the wall's banner.
 */
function alertOnPage(alert, { devices, workers, jobs }) {
  const kind = KINDS[alert.subject_kind];
  const lab = labOf(alert.lab);
  const id = alert.subject;
  if (kind === "device") return devices.has(objectKey(lab, id));
  if (kind === "worker") return workers.has(objectKey(lab, id));
  if (kind === "queue") {
    for (const d of devices.values()) if (d.device_type === id && labOf(d.lab) === lab) return true;
    for (const j of jobs.values()) if (j.device_type === id && labOf(j.lab) === lab) return true;
    return false;
  }
  return true;
}

/** The alerts about what the page shows (`alertOnPage`), in their order. */
export function alertsOnPage(alerts, page) {
  return alerts.filter((alert) => alertOnPage(alert, page));
}

/**
 * The firing alerts the page's own facts do not already say: one about an object the strip names
 * (a Bad device, an Offline worker, a starving queue, or a device under its Offline worker's item)
 * is left out, the strip's words having the page's newest figures.
 */
function alertItems(alerts, said, page, covered) {
  const items = [];
  for (const alert of alerts) {
    const kind = KINDS[alert.subject_kind];
    const lab = labOf(alert.lab);
    const id = objectKey(lab, alert.subject);
    if (alert.status !== "firing" || !kind || said.has(`${kind}:${id}`) || covered.has(objectKey(lab, alert.key))
      || !alertOnPage(alert, page)) continue;
    items.push({ key: `alert:${objectKey(lab, alert.key)}`, severity: RULE_SEVERITY[alert.rule] ?? 0, weight: 1,
      started: parseTime(alert.fired_at) ?? 0, kind, id, lab, type: kind === "queue" ? alert.subject : undefined,
      alert: alert.key, level: alertLevel(alert.severity), name: alertName(alert), text: alertText(alert) });
  }
  return items;
}

/**
 * `{devices, jobs, workers}`: the page's Maps (already narrowed by the filter); `alerts`: the
 * server's alerts (only the firing ones count); `sources`, `lava`, `labs`: the meta's, for where
 * the data comes from (`feedItems`); `now`: epoch ms.
 * → items `{key, severity, kind, id, lab, level, name, text}` (`name` the start of `text` that names
 * the object, "" when none does; `id` the object's key, labs.js; `type`
 * for a queue; `alert`, its key, for an alert's item), worst first, at most MAX_ITEMS.
 */
export function attentionItems({ devices, jobs, workers, alerts = [], sources = null, lava = null, labs = null }, now) {
  const checks = lastHealthChecks(jobs);
  const own = [...feedItems({ sources, lava, labs }, now), ...workerItems(devices, workers, now),
    ...deviceItems(devices, workers, checks, now), ...queueItems(devices, workers, jobs, now)];
  const covered = new Set(own.map((item) => item.covers).filter(Boolean));
  // A page's fact that stands for a firing alert ranks as that alert's severity (a review: a
  // critical `stream_silent` it left out had come first, and the fact then came after other
  // critical alerts).
  const coveredLevel = new Map(alerts.filter((a) => a.status === "firing")
    .map((a) => [objectKey(labOf(a.lab), a.key), alertLevel(a.severity)]));
  const said = new Set(own.map((item) => `${item.kind}:${item.id}`));
  for (const [key, device] of devices) {
    if (device.worker && said.has(`worker:${relatedKey(device, device.worker)}`)) said.add(`device:${key}`);
  }
  const rank = (item) => levelRank(item.alert ? item.level : coveredLevel.get(item.covers) || "warning");
  return [...own, ...alertItems(alerts, said, { devices, workers, jobs }, covered)]
    .sort((a, b) => rank(a) - rank(b) || b.severity - a.severity || b.weight - a.weight
      || a.started - b.started || compareNames(a.key, b.key))
    .slice(0, MAX_ITEMS);
}
