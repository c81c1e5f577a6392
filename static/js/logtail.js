/**
 * The live tail of a job's log (the server's live/logtail.py; docs/protocol.md): while a job's panel
 * is open the page follows its log, and the server pushes `log_lines` as LAVA writes them.
 */
import { labOf, objectKey } from "./labs.js";

export const MAX_LOG_LINES = 500; // the newest lines a page keeps of one job's log
const FOLLOW_TIMEOUT_MS = 10000;
const RETRY_MS = 1500; // "not known yet": the server is asking LAVA whether we may see the job
const MAX_RETRIES = 20;

/**
 * `socket`'s follow(job, onMessage, lab) → stop(): messages are {type: "ack"|"lines"|"error", ...}.
 * A job of a named lab is followed with its lab (`{job, lab}`), and its lines are told apart by it
 * (job 42 of east is not job 42 of west).
 */
export function createLogTail(socket) {
  const listeners = new Map(); // key (labs.js) → {request: {job, lab?}, fns: Set of fn(message)}
  const tell = (key, message) => {
    const entry = listeners.get(key);
    if (entry) for (const fn of entry.fns) fn(message);
  };
  const ask = (key, tries) => {
    const entry = listeners.get(key);
    if (!entry) return;
    socket.timeout(FOLLOW_TIMEOUT_MS).emit("log_follow", entry.request, (err, ack) => {
      if (!listeners.has(key)) return;
      if (!err && ack && ack.ok !== true && ack.retry === true && tries < MAX_RETRIES) {
        setTimeout(() => { if (listeners.has(key) && socket.connected) ask(key, tries + 1); }, RETRY_MS);
        return;
      }
      tell(key, err ? { type: "error", error: "The server did not answer." } : { type: "ack", ...ack });
    });
  };
  socket.on("log_lines", (message) => {
    if (!message || message.job == null) return;
    const key = objectKey(labOf(message.lab), message.job);
    if (listeners.has(key)) tell(key, { type: "lines", ...message });
  });
  // A new connection knows nothing of what the old one followed: follow again (the ack brings
  // the lines held, merged by number, so none is shown twice).
  socket.on("connect", () => { for (const key of listeners.keys()) ask(key, 0); });
  return function follow(job, onMessage, lab = "") {
    const key = objectKey(lab, job);
    let entry = listeners.get(key);
    if (!entry) {
      entry = { request: lab ? { job, lab } : { job }, fns: new Set() };
      listeners.set(key, entry);
      if (socket.connected) ask(key, 0);
    }
    entry.fns.add(onMessage);
    return () => {
      entry.fns.delete(onMessage);
      if (entry.fns.size || listeners.get(key) !== entry) return;
      listeners.delete(key);
      if (socket.connected) socket.emit("log_unfollow", entry.request);
    };
  };
}

/** Lines (each {n, dt, lvl, msg}) in order of `n`, each once, at most MAX_LOG_LINES (the newest). */
export function mergeLogLines(held, incoming) {
  if (!Array.isArray(incoming) || incoming.length === 0) return held;
  let out;
  if (held.length === 0 || incoming[0].n > held[held.length - 1].n) {
    out = held.concat(incoming);
  } else {
    const byNumber = new Map(held.map((line) => [line.n, line]));
    for (const line of incoming) byNumber.set(line.n, line);
    out = [...byNumber.values()].sort((a, b) => a.n - b.n);
  }
  return out.length > MAX_LOG_LINES ? out.slice(out.length - MAX_LOG_LINES) : out;
}

/** The log panel's state after one message of follow(). */
export function reduceLog(log, message) {
  if (message.type === "error") return { ...log, error: message.error };
  if (message.type === "ack" && message.ok !== true) {
    return { ...log, refused: true, code: message.code || null, error: message.error || "refused" };
  }
  if (message.code === "forbidden") return { ...log, refused: true, code: "forbidden", error: message.error };
  return { ...log, lines: mergeLogLines(log.lines, message.lines), finished: message.finished === true,
    error: message.error || null, refused: false, code: null, started: true };
}
