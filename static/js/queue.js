/**
 * The queue per device type: how many jobs wait and how long the oldest has waited. Pure: the
 * jobs Map and `now` (epoch ms) go in.
 */
import { QUEUED_JOB_STATES } from "./lava.js";
import { parseTime } from "./time.js";

/**
 * Queued jobs by device type: Map type → `{count, oldest}`, `oldest` the earliest submit time
 * (epoch ms, null when no queued job of the type has one). Jobs without a type count under "".
 */
export function queueByType(jobs) {
  const out = new Map();
  for (const job of jobs.values()) {
    if (!QUEUED_JOB_STATES.includes(job.state)) continue;
    const type = job.device_type ?? "";
    const entry = out.get(type) || { count: 0, oldest: null };
    const submitted = parseTime(job.submit_time);
    out.set(type, { count: entry.count + 1,
      oldest: submitted == null ? entry.oldest : entry.oldest == null ? submitted : Math.min(entry.oldest, submitted) });
  }
  return out;
}
