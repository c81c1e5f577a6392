/**
 * The queue per device type: how many jobs wait and how long the oldest has waited. Pure: the
 * jobs Map and `now` (epoch ms) go in.
 */
import { QUEUED_JOB_STATES } from "./lava.js";
import { labOf, objectKey } from "./labs.js";
import { parseTime } from "./time.js";

/**
 * Queued jobs by device type: Map key → `{count, oldest, lab, type}`, `oldest` the earliest submit
 * time (epoch ms, null when no queued job of the type has one). Jobs without a type count under
 * "". A queue is one lab's: with several labs the key is the type with its lab ("east/qemu",
 * labs.js), with one unnamed lab the type itself.
 */
export function queueByType(jobs) {
  const out = new Map();
  for (const job of jobs.values()) {
    if (!QUEUED_JOB_STATES.includes(job.state)) continue;
    const lab = labOf(job.lab);
    const type = job.device_type ?? "";
    const key = objectKey(lab, type);
    const entry = out.get(key) || { count: 0, oldest: null, lab, type };
    const submitted = parseTime(job.submit_time);
    out.set(key, { count: entry.count + 1, lab, type,
      oldest: submitted == null ? entry.oldest : entry.oldest == null ? submitted : Math.min(entry.oldest, submitted) });
  }
  return out;
}
