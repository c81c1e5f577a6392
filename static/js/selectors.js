/** Views derived from the state for display: counts, groups, job lists. Pure. */
import { filterMap, matchesTerms, queryTerms } from "./search.js";
import { parseTime } from "./time.js";
import { labOf, objectKey, relatedKey } from "./labs.js";
import {
  DEVICE_HEALTHS, DEVICE_STATES, JOB_OUTCOMES, QUEUED_JOB_STATES, RUNNING_JOB_STATES, WORKER_STATES,
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

const GROUP_FIELDS = { type: "device_type", worker: "worker", lab: "lab" };

/**
 * A device's group: `{key, lab, name}`. Types and workers are a lab's own (east's qemu queue is not
 * west's, nor its workers), so with several labs a group is one lab's type or worker, keyed like
 * an object ("east/qemu"); by lab, the lab itself. One unnamed lab: the key is the name.
 */
function groupOf(device, by) {
  const lab = labOf(device.lab);
  if (by === "lab") return { key: lab, lab, name: lab };
  const name = device[GROUP_FIELDS[by]] ?? "";
  return { key: objectKey(lab, name), lab, name };
}

function sortGroups(devices, by) {
  const groups = new Map();
  for (const [key, device] of devices) {
    const group = groupOf(device, by);
    if (!groups.has(group.key)) groups.set(group.key, { ...group, hosts: [] });
    groups.get(group.key).hosts.push(key);
  }
  // By lab, then by name with the unknown ("") last; devices by key (their lab's, then hostname).
  return [...groups.values()]
    .sort((a, b) => compareNames(a.lab, b.lab) || (a.name === "") - (b.name === "") || compareNames(a.name, b.name))
    .map((g) => ({ ...g, hosts: g.hosts.sort(compareNames) }));
}

/** Does the cached order still hold: same devices, each still in the same group? */
function orderHolds(cache, devices, by) {
  if (!cache || cache.by !== by || cache.size !== devices.size) return false;
  for (const [key, group] of cache.groupOf) {
    const device = devices.get(key);
    if (!device || groupOf(device, by).key !== group) return false;
  }
  return true;
}

/**
 * Devices grouped by device type (`by` "type"), worker ("worker") or lab ("lab"), groups and
 * hostnames in natural order: `{groups: [{key, lab, name, devices}], cache}`. Pass the previous
 * `cache` back in: while no device joins, leaves or changes group, the sort is skipped (it
 * dominates with thousands of devices) and a group whose devices are all unchanged keeps its
 * array, so it can skip rendering.
 */
export function groupDevices(devices, by = "type", cache = null) {
  const field = GROUP_FIELDS[by] ? by : "type";
  let order = cache && cache.order;
  let groupOfKey = cache && cache.groupOf;
  if (!orderHolds(cache, devices, field)) {
    order = sortGroups(devices, field);
    groupOfKey = new Map();
    for (const { key, hosts } of order) for (const host of hosts) groupOfKey.set(host, key);
  }
  const previous = new Map(((cache && cache.groups) || []).map((g) => [g.key, g.devices]));
  const groups = order.map(({ key, lab, name, hosts }) => {
    const list = hosts.map((host) => devices.get(host));
    const before = previous.get(key);
    const same = before && before.length === list.length && before.every((d, i) => d === list[i]);
    return { key, lab, name, devices: same ? before : list };
  });
  return { groups, cache: { by: field, size: devices.size, order, groupOf: groupOfKey, groups } };
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
  // Only the newest few finished jobs are shown, newest first (at most --max-finished-jobs kept).
  const ended = (job) => parseTime(job.end_time) ?? parseTime(job.updated) ?? 0;
  const newest = finished.map((job) => [ended(job), job]).sort((a, b) => b[0] - a[0] || b[1].id - a[1].id);
  return { running, queued, finished: newest.slice(0, finishedLimit).map(([, job]) => job) };
}


/**
 * Jobs that ended in the last hour, by outcome: `{total, Complete, Incomplete, Canceled, other,
 * since}`. `since` is the end time of the oldest finished job the page still holds: when it is
 * within the hour the counts may be incomplete (the page keeps a bounded number of jobs).
 */
export function finishedLastHour(jobs, now) {
  const from = now - 3600 * 1000;
  const out = { total: 0, ...Object.fromEntries(JOB_OUTCOMES.map((o) => [o, 0])), other: 0, since: null };
  for (const job of jobs.values()) {
    if (job.state !== "Finished") continue;
    const ended = parseTime(job.end_time) ?? parseTime(job.updated);
    if (ended == null) continue;
    if (out.since == null || ended < out.since) out.since = ended;
    if (ended < from) continue;
    out.total += 1;
    if (JOB_OUTCOMES.includes(job.health)) out[job.health] += 1;
    else out.other += 1;
  }
  return out;
}

/**
 * The part of the lab the page shows: the state's objects narrowed by the free-text search
 * (`q`) and, for jobs, by health check or not. The server already applied the other filters.
 * Unfiltered collections are returned as they are (same identity).
 */
export function visibleLab(state, q, healthCheck = "any") {
  const terms = queryTerms(q);
  const hc = healthCheck === "only" ? (job) => job.health_check === true
    : healthCheck === "exclude" ? (job) => job.health_check !== true : null;
  if (terms.length === 0 && !hc) {
    return { devices: state.devices, jobs: state.jobs, workers: state.workers, terms };
  }
  return {
    devices: terms.length ? filterMap(state.devices, (d) => matchesTerms("device", d, terms)) : state.devices,
    jobs: filterMap(state.jobs, (j) => (!hc || hc(j)) && matchesTerms("job", j, terms)),
    workers: terms.length ? filterMap(state.workers, (w) => matchesTerms("worker", w, terms)) : state.workers,
    terms,
  };
}

/**
 * Feed items of the given kinds (all when empty) that match the search terms. (A health filter is
 * the server's: it sends only the messages of jobs on matching devices, docs/protocol.md.)
 */
export function visibleFeed(feed, kinds, terms) {
  if ((!kinds || kinds.length === 0) && terms.length === 0) return feed;
  return feed.filter((item) => (!kinds || kinds.length === 0 || kinds.includes(item.kind))
    && matchesTerms(item.kind, item.data ?? item.prev, terms));
}

/**
 * Each worker's devices, in natural order of hostname: the devices' `worker` field is the one
 * owner of that fact (worker records do not list their devices). Map worker's key (labs.js) →
 * [hostname]: a worker has the devices of its own lab that name it.
 */
export function devicesByWorker(devices) {
  const out = new Map();
  for (const device of devices.values()) {
    if (device.worker == null) continue;
    const worker = relatedKey(device, device.worker);
    const list = out.get(worker);
    if (list) list.push(device.hostname);
    else out.set(worker, [device.hostname]);
  }
  for (const list of out.values()) list.sort(compareNames);
  return out;
}

/** Workers in natural order of lab, then hostname. */
export function sortedWorkers(workers, problemsFirst = false) {
  // On a wall, whose panel shows what fits, an Offline worker that is meant to be Active comes
  // first (a wall audit: sorted by name alone, it could be the one cut off the bottom).
  const rank = (w) => (problemsFirst && w.state === "Offline" && w.health === "Active" ? 0 : 1);
  return [...workers.values()].sort((a, b) => rank(a) - rank(b) || compareNames(a.lab, b.lab)
    || compareNames(a.hostname, b.hostname));
}

/**
 * The problems among devices' healths, worst first (not the protocol's order, which has Looping
 * before Bad): a wall's overview puts their counters first in this order (what is left when its
 * row runs out of room is the worst), and the problems-first sort ranks devices by it.
 *  - Bad: a health check failed; nobody chose it, the device takes no jobs until someone looks.
 *  - Maintenance: out of service until an admin puts it back; deliberate, but the capacity lost
 *    lasts (the server has an alert for a device in Maintenance too long, docs/alerts.md).
 *  - Looping: an admin is running health checks on it on purpose; someone is already on it.
 * The other healths (Unknown, Good, Retired) come after these: in the protocol's order in the
 * overview, in problemRank's below.
 */
export const HEALTH_SEVERITY = ["Bad", "Maintenance", "Looping"];

// A device's rank by its health (problemRank): HEALTH_SEVERITY's from 1, then Unknown; any other
// health (Good) is the rest, REST_RANK; Retired last.
const RANKED = [...HEALTH_SEVERITY, "Unknown"];
const REST_RANK = RANKED.length + 1;
const HEALTH_RANK = new Map([...RANKED.map((health, i) => [health, i + 1]), ["Retired", REST_RANK + 1]]);

/**
 * How much a device needs a person, for the problems-first sort: 0 its worker is Offline, then
 * Bad, Maintenance, Looping (HEALTH_SEVERITY), Unknown, the rest, Retired last. `offlineWorkers`:
 * the keys of the Offline workers (labs.js: the hostname, with its lab when it has one).
 */
export function problemRank(device, offlineWorkers) {
  if (device.worker && offlineWorkers.has(relatedKey(device, device.worker)) && device.health !== "Retired") return 0;
  return HEALTH_RANK.get(device.health) ?? REST_RANK;
}

/**
 * Groups (from groupDevices) with problems first: in each group by rank then name, and the
 * groups by their worst device, then by how many of their devices rank below "the rest". With
 * several labs a lab's groups stay together (a wall is read lab by lab), the labs ordered the same
 * way by their worst group. A group whose order is unchanged keeps its array.
 */
export function problemsFirst(groups, offlineWorkers) {
  const ranked = groups.map((g) => {
    const ranks = new Map(g.devices.map((d) => [d, problemRank(d, offlineWorkers)]));
    const sorted = [...g.devices].sort((a, b) => ranks.get(a) - ranks.get(b) || compareNames(a.hostname, b.hostname));
    const same = sorted.every((d, i) => d === g.devices[i]);
    const worst = sorted.length ? ranks.get(sorted[0]) : 9;
    const problems = sorted.filter((d) => ranks.get(d) < REST_RANK).length;
    return { ...g, devices: same ? g.devices : sorted, worst, problems };
  });
  const labs = new Map();
  for (const g of ranked) {
    const lab = labs.get(g.lab || "") || { worst: 9, problems: 0 };
    labs.set(g.lab || "", { worst: Math.min(lab.worst, g.worst), problems: lab.problems + g.problems });
  }
  const labOrder = (a, b) => {
    const x = labs.get(a.lab || "");
    const y = labs.get(b.lab || "");
    return x.worst - y.worst || y.problems - x.problems || compareNames(a.lab, b.lab);
  };
  return ranked.sort((a, b) => labOrder(a, b) || a.worst - b.worst || b.problems - a.problems || compareNames(a.key, b.key))
    .map(({ worst, problems, ...group }) => group);
}
