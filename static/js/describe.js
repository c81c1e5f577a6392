/** Feed entries in words: what changed, said the way a person reads it. Pure. */
import { ALERT_HEALTHS, label } from "./lava.js";
import { durationBetween, formatDuration } from "./time.js";

export const MAX_MESSAGE_CHARS = 300;

function transition(prev, next, field) {
  if (!prev || prev[field] === next[field]) return null;
  return `${label(prev[field])} → ${label(next[field])}`;
}

function describeDevice(device, prev) {
  if (device === null) return { text: "removed", tone: "muted" };
  if (!prev) return { text: `${label(device.state)} · ${label(device.health)}`, tone: "plain" };
  const parts = [transition(prev, device, "state"), transition(prev, device, "health")].filter(Boolean);
  if (device.job != null && device.job !== prev.job) parts.push(`job #${device.job}`);
  else if (device.job == null && prev.job != null) parts.push(`job #${prev.job} done`);
  if (device.worker !== prev.worker) parts.push(device.worker ? `on worker ${device.worker}` : "no worker");
  const healthChanged = prev.health !== device.health;
  let tone = "plain";
  if (healthChanged && ALERT_HEALTHS.includes(device.health)) tone = "alert";
  else if (healthChanged && device.health === "Good") tone = "good";
  return { text: parts.join(", ") || "updated", tone };
}

function describeJob(job) {
  if (job === null) return { text: "removed", tone: "muted" };
  switch (job.state) {
    case "Submitted":
      return { text: `submitted${job.device_type ? ` for ${job.device_type}` : ""}${job.submitter ? ` by ${job.submitter}` : ""}`, tone: "plain" };
    case "Scheduling":
      return { text: "scheduling (multinode)", tone: "plain" };
    case "Scheduled":
      return { text: `scheduled on ${label(job.device)}`, tone: "plain" };
    case "Running":
      return { text: `running on ${label(job.device)}`, tone: "plain" };
    case "Canceling":
      return { text: "canceling", tone: "muted" };
    case "Finished": {
      const ran = durationBetween(job.start_time, job.end_time);
      const took = ran ? ` after ${formatDuration(ran)}` : "";
      const tone = { Complete: "good", Incomplete: "alert" }[job.health] || "muted";
      return { text: `finished: ${label(job.health)}${took}`, tone };
    }
    default:
      return { text: label(job.state), tone: "plain" };
  }
}

function describeWorker(worker, prev) {
  if (worker === null) return { text: "removed", tone: "muted" };
  const tone = worker.state === "Offline" && prev?.state !== "Offline" ? "alert"
    : worker.state === "Online" && prev?.state === "Offline" ? "good" : "plain";
  if (!prev) return { text: `${label(worker.state)} · ${label(worker.health)}`, tone };
  const parts = [transition(prev, worker, "state"), transition(prev, worker, "health")].filter(Boolean);
  return { text: parts.join(", ") || "updated", tone };
}

/** An event's message as bounded plain text (it may be a string, an object or missing). */
export function messageText(event) {
  let text = event.message;
  if (text == null) text = event.data != null ? JSON.stringify(event.data) : `${label(event.type)} message`;
  else if (typeof text !== "string") text = JSON.stringify(text);
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS - 1)}…` : text;
}

/**
 * Is this feed item a correction: the server's model differed from LAVA's REST API and was put
 * right (an `event` whose `type` is "correction"; its message says what was wrong)?
 */
export function isCorrection(item) {
  return item.kind === "event" && item.data != null && item.data.type === "correction";
}

/** The word a feed item is labelled with: its kind, or "correction". */
export function feedLabel(item) {
  return isCorrection(item) ? "correction" : item.kind;
}

/** A feed item → `{text, tone}`; tone is one of plain, good, alert, muted. */
export function describe(item) {
  switch (item.kind) {
    case "device": return describeDevice(item.data, item.prev);
    case "job": return describeJob(item.data);
    case "worker": return describeWorker(item.data, item.prev);
    case "event": return item.data ? { text: messageText(item.data), tone: "plain" } : { text: "removed", tone: "muted" };
    default: return { text: "changed", tone: "plain" };
  }
}
