/** Views derived from the state for display: counts, groups, job lists. Pure. */
import { parseTime } from "./time.js";
import {
  DEVICE_HEALTHS, DEVICE_STATES, QUEUED_JOB_STATES, RUNNING_JOB_STATES, WORKER_STATES,
} from "./lava.js";

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/** Natural order for names: qemu-2 before qemu-10. */
export const compareNames = (a, b) => collator.compare(String(a ?? ""), String(b ?? ""));

/** Count the values of `field`: [[value, count]], known values first in their order, even at 0. */
export function countBy(items, field, known = []) {
  const counts = new Map(known.map((value) => [value, 0]));
  for (const item of items) {
    const value = item[field] ?? "unknown";
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return [...counts];
}

/** Device totals by health and by state. */
export function deviceCounts(devices) {
  const list = [...devices.values()];
  return {
    total: list.length,
    byHealth: countBy(list, "health", DEVICE_HEALTHS),
    byState: countBy(list, "state", DEVICE_STATES),
  };
}

/** Jobs queued (not started), running (incl. canceling) and finished (those kept in memory). */
export function jobCounts(jobs) {
  const counts = { queued: 0, running: 0, finished: 0 };
  for (const job of jobs.values()) {
    if (QUEUED_JOB_STATES.includes(job.state)) counts.queued += 1;
    else if (RUNNING_JOB_STATES.includes(job.state)) counts.running += 1;
    else if (job.state === "Finished") counts.finished += 1;
  }
  return counts;
}

/** Workers by state: [[state, count]], Online and Offline always present. */
export function workerCounts(workers) {
  return countBy([...workers.values()], "state", WORKER_STATES);
}

/** Devices grouped by device type, types and hostnames in natural order. */
export function groupDevicesByType(devices) {
  const groups = new Map();
  for (const device of devices.values()) {
    const type = device.device_type ?? "";
    if (!groups.has(type)) groups.set(type, []);
    groups.get(type).push(device);
  }
  return [...groups]
    .sort(([a], [b]) => (a === "") - (b === "") || compareNames(a, b))
    .map(([type, list]) => ({ type, devices: list.sort((a, b) => compareNames(a.hostname, b.hostname)) }));
}

const time = (value) => parseTime(value) ?? Infinity;

/**
 * Jobs as the page lists them: running (longest-running first), queued (in LAVA's scheduling
 * order: priority, then oldest submission) and the last `finishedLimit` finished (newest first).
 */
export function partitionJobs(jobs, finishedLimit = 20) {
  const running = [];
  const queued = [];
  const finished = [];
  for (const job of jobs.values()) {
    if (RUNNING_JOB_STATES.includes(job.state)) running.push(job);
    else if (QUEUED_JOB_STATES.includes(job.state)) queued.push(job);
    else if (job.state === "Finished") finished.push(job);
  }
  running.sort((a, b) => time(a.start_time) - time(b.start_time) || a.id - b.id);
  queued.sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0)
    || time(a.submit_time) - time(b.submit_time) || a.id - b.id);
  const ended = (job) => parseTime(job.end_time) ?? parseTime(job.updated) ?? 0;
  finished.sort((a, b) => ended(b) - ended(a) || b.id - a.id);
  return { running, queued, finished: finished.slice(0, finishedLimit) };
}

/** Workers in natural order of hostname. */
export function sortedWorkers(workers) {
  return [...workers.values()].sort((a, b) => compareNames(a.hostname, b.hostname));
}
