/**
 * The protocol's constants, as the server defines them (dashboard/web/protocol.py, from
 * dashboard/core): the kinds, the filter criteria, the states and healths of each kind of object,
 * the utilisation categories and the number of finished jobs kept (--max-finished-jobs). They come
 * in the page's JSON bootstrap (`<script type="application/json" id="bootstrap">` in
 * templates/index.html) and are read here once; every other module takes them from here, so the
 * page and the server cannot disagree.
 */

/** The bootstrap's data, or an error that says what is missing (a page not served by the app). */
function readBootstrap() {
  const element = typeof document === "undefined" ? null : document.getElementById("bootstrap");
  if (!element) throw new Error("protocol.js: no #bootstrap in this page (it comes with templates/index.html)");
  const data = JSON.parse(element.textContent);
  const finished = data && data.max_finished_jobs;
  if (!data || !Array.isArray(data.kinds) || !Array.isArray(data.filter_keys) || !data.criteria || !data.objects || !Array.isArray(data.categories)
    || !(Number.isInteger(finished) && finished > 0)) {
    throw new Error("protocol.js: the bootstrap lacks kinds, filter_keys, criteria, objects, categories or max_finished_jobs");
  }
  return data;
}

function deepFreeze(value) {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The whole bootstrap, frozen. */
export const PROTOCOL = deepFreeze(readBootstrap());

/** Kinds of change (and of the REST API's events): device, job, worker, event. */
export const KINDS = PROTOCOL.kinds;
/** Filter key → {kind: the field of that kind's object it is compared with}; null: the kind itself. */
export const CRITERIA = PROTOCOL.criteria;
/** The filter keys the server understands, in its order. */
export const FILTER_KEYS = PROTOCOL.filter_keys;
/** Kinds that are objects with a state and a health (device, job, worker), in the kinds' order. */
export const OBJECT_KINDS = Object.freeze(KINDS.filter((kind) => kind in PROTOCOL.objects));

/** LAVA's enumerations, display strings exactly as LAVA sends them. */
export const DEVICE_STATES = PROTOCOL.objects.device.states;
export const DEVICE_HEALTHS = PROTOCOL.objects.device.healths;
export const JOB_STATES = PROTOCOL.objects.job.states;
export const JOB_HEALTHS = PROTOCOL.objects.job.healths;
export const WORKER_STATES = PROTOCOL.objects.worker.states;
export const WORKER_HEALTHS = PROTOCOL.objects.worker.healths;

/** Where a device's time goes in the utilisation statistics, in the order they are stacked. */
export const CATEGORIES = PROTOCOL.categories;

/** Finished jobs the server keeps in its model, and so the page too (--max-finished-jobs). */
export const MAX_FINISHED_JOBS = PROTOCOL.max_finished_jobs;
