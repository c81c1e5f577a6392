/**
 * The browser's copy of the live model, and the only place it changes. Pure: a state and a
 * message go in, a new state comes out (unchanged parts are shared, so components can compare
 * by identity). No sockets, no DOM, no clock: `now` (epoch ms) is passed in.
 *
 * Protocol (docs/protocol.md): a `snapshot` replaces everything and sets `seq`; `changes` carry
 * `{prev, seq, changes: [{seq, kind, id, data}]}`. They are ignored until a snapshot arrived; if
 * `prev > seq` a batch was missed, so the caller must subscribe again for a fresh snapshot.
 */
import { parseTime } from "./time.js";

/** Every list kept in memory is bounded by one of these. */
export const LIMITS = Object.freeze({
  finishedJobs: 100, // finished jobs kept (the page shows the last 20)
  events: 100, // test-shell / unknown-topic messages kept
  feed: 100, // entries of the live feed
});

const COLLECTIONS = { device: "devices", job: "jobs", worker: "workers" };
const ID_FIELDS = { device: "hostname", job: "id", worker: "hostname", event: "uuid" };

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const asList = (value) => (Array.isArray(value) ? value : []);
const finiteOr = (value, fallback) => (Number.isFinite(value) ? value : fallback);

/** The state before any snapshot: empty, not ready. `meta` comes from the page's data attributes. */
export function initialState(meta = {}) {
  return {
    ready: false, // a snapshot has been applied
    syncing: false, // a fresh snapshot was asked for: ignore changes until it arrives
    seq: 0,
    filter: {},
    meta: { simulated: Boolean(meta.simulated), lava_url: meta.lava_url || "" },
    devices: new Map(), // hostname → device
    jobs: new Map(), // String(id) → job
    workers: new Map(), // hostname → worker
    events: [], // oldest first, at most LIMITS.events
    feed: [], // newest first, at most LIMITS.feed
    lastChangeAt: null, // epoch ms of the newest change seen
  };
}

function indexBy(list, field) {
  const map = new Map();
  for (const item of asList(list)) {
    if (isObject(item) && item[field] != null) map.set(String(item[field]), item);
  }
  return map;
}

/** Drop the oldest finished jobs beyond `limit` (mutates `jobs`, which must be a private copy). */
function keepRecentFinished(jobs, limit) {
  const finished = [];
  for (const [key, job] of jobs) {
    if (job.state === "Finished") {
      finished.push([key, finiteOr(parseTime(job.end_time) ?? parseTime(job.updated), 0), Number(job.id) || 0]);
    }
  }
  if (finished.length <= limit) return jobs;
  finished.sort((a, b) => b[1] - a[1] || b[2] - a[2]);
  for (const [key] of finished.slice(limit)) jobs.delete(key);
  return jobs;
}

function objectTime(kind, data) {
  if (!isObject(data)) return null;
  return parseTime(kind === "event" ? data.time : data.updated);
}

function feedItem(kind, id, data, prev, seq, now) {
  return { key: seq == null ? `${kind}:${id}` : String(seq), seq, kind, id, data, prev,
    at: objectTime(kind, data) ?? now };
}

/** Newest time of any object in a snapshot, never later than `now`. */
function newestTime(snapshot, now) {
  let newest = null;
  for (const [kind, list] of [["device", snapshot.devices], ["job", snapshot.jobs],
    ["worker", snapshot.workers], ["event", snapshot.events]]) {
    for (const item of asList(list)) {
      const t = objectTime(kind, item);
      if (t != null && (newest == null || t > newest)) newest = t;
    }
  }
  return newest == null ? null : Math.min(newest, now);
}

/** Keep the feed across snapshots (it is history), adding snapshot events it has not shown yet. */
function mergeFeed(feed, events, now) {
  const shown = new Set(feed.filter((item) => item.kind === "event").map((item) => item.id));
  const added = events.filter((e) => !shown.has(String(e.uuid)))
    .map((e) => feedItem("event", String(e.uuid), e, null, null, now));
  if (added.length === 0) return feed;
  return added.concat(feed).sort((a, b) => b.at - a.at).slice(0, LIMITS.feed);
}

/** A `snapshot` message → a new state that replaces every object; the feed is kept. */
export function applySnapshot(state, snapshot, now) {
  if (!isObject(snapshot)) return state;
  const meta = isObject(snapshot.meta) ? snapshot.meta : {};
  const events = asList(snapshot.events).filter((e) => isObject(e) && e.uuid != null)
    .slice(-LIMITS.events);
  const times = [state.lastChangeAt, newestTime(snapshot, now)].filter((t) => t != null);
  return {
    ...state,
    ready: true,
    syncing: false,
    seq: finiteOr(snapshot.seq, 0),
    filter: isObject(snapshot.filter) ? snapshot.filter : {},
    meta: {
      simulated: typeof meta.simulated === "boolean" ? meta.simulated : state.meta.simulated,
      lava_url: typeof meta.lava_url === "string" ? meta.lava_url : state.meta.lava_url,
    },
    devices: indexBy(snapshot.devices, "hostname"),
    jobs: keepRecentFinished(indexBy(snapshot.jobs, "id"), LIMITS.finishedJobs),
    workers: indexBy(snapshot.workers, "hostname"),
    events,
    feed: mergeFeed(state.feed, events, now),
    lastChangeAt: times.length ? Math.max(...times) : null,
  };
}

/** Copy-on-write view of a state: collections are copied at most once per batch of messages. */
class Draft {
  constructor(state) {
    this.base = state;
    this.next = { ...state };
    this.copied = new Set();
    this.dirty = false;
    this.newEvents = [];
    this.removedEvents = new Set();
    this.newFeed = []; // oldest first
  }

  collection(name) {
    if (!this.copied.has(name)) {
      this.next[name] = new Map(this.next[name]);
      this.copied.add(name);
    }
    return this.next[name];
  }

  finish() {
    if (!this.dirty) return this.base;
    const state = this.next;
    if (this.copied.has("jobs")) keepRecentFinished(state.jobs, LIMITS.finishedJobs);
    if (this.newEvents.length || this.removedEvents.size) {
      const replaced = new Set([...this.removedEvents, ...this.newEvents.map((e) => String(e.uuid))]);
      state.events = state.events.filter((e) => !replaced.has(String(e.uuid)))
        .concat(this.newEvents).slice(-LIMITS.events);
    }
    if (this.newFeed.length) {
      state.feed = this.newFeed.reverse().concat(state.feed).slice(0, LIMITS.feed);
    }
    return state;
  }
}

function changeId(change) {
  if (change.id != null) return String(change.id);
  const field = ID_FIELDS[change.kind];
  return isObject(change.data) && change.data[field] != null ? String(change.data[field]) : null;
}

/** Apply one change to the draft; returns false if it was not understood. */
function applyOne(draft, change, now) {
  const id = changeId(change);
  if (id == null || !(change.data === null || isObject(change.data))) return false;
  let prev = null;
  if (COLLECTIONS[change.kind]) {
    const map = draft.collection(COLLECTIONS[change.kind]);
    prev = map.get(id) ?? null;
    if (change.data === null) map.delete(id);
    else map.set(id, change.data);
    // Forgetting an old finished job is memory housekeeping, not news.
    if (change.kind === "job" && change.data === null) return true;
  } else if (change.kind === "event") {
    if (change.data === null) {
      draft.removedEvents.add(id);
      return true;
    }
    draft.newEvents.push(change.data);
  } else {
    return false; // a kind this page does not know yet
  }
  draft.newFeed.push(feedItem(change.kind, id, change.data, prev, change.seq, now));
  return true;
}

/** Apply a `changes` message to the draft; returns true if a gap means a new snapshot is needed. */
function applyChangesTo(draft, message, now) {
  const state = draft.next;
  if (!state.ready || state.syncing || !isObject(message)) return false;
  if (Number.isFinite(message.prev) && message.prev > state.seq) {
    state.syncing = true;
    draft.dirty = true;
    return true;
  }
  const localSeq = state.seq;
  let newestSeq = localSeq;
  let applied = 0;
  for (const change of asList(message.changes)) {
    if (!isObject(change) || !Number.isFinite(change.seq) || change.seq <= localSeq) continue;
    if (applyOne(draft, change, now)) applied += 1;
    newestSeq = Math.max(newestSeq, change.seq);
  }
  // Never move backwards: an old, repeated batch must not make us re-apply what we have.
  const seq = Math.max(localSeq, finiteOr(message.seq, newestSeq));
  if (seq !== localSeq || applied) {
    state.seq = seq;
    if (applied) state.lastChangeAt = now;
    draft.dirty = true;
  }
  return false;
}

/** A `changes` message → `{state, resync}`; `resync` true means: emit `subscribe` again. */
export function applyChanges(state, message, now) {
  const draft = new Draft(state);
  const resync = applyChangesTo(draft, message, now);
  return { state: draft.finish(), resync };
}

/**
 * Apply a batch of queued messages, in order, as one update (one render per animation frame).
 * Each message is `{type: "snapshot" | "changes", payload}` or `{type: "resync"}` (the server
 * asked for a fresh snapshot). Returns `{state, resync}`; the state is the same object if nothing
 * changed.
 */
export function processMessages(state, messages, now) {
  let draft = new Draft(state);
  let resync = false;
  for (const message of messages) {
    if (message.type === "snapshot") {
      draft = new Draft(applySnapshot(draft.finish(), message.payload, now));
      resync = false; // a full snapshot supersedes any gap seen before it
    } else if (message.type === "changes") {
      if (applyChangesTo(draft, message.payload, now)) resync = true;
    } else if (message.type === "resync") {
      if (draft.next.ready && !draft.next.syncing) {
        draft.next.syncing = true;
        draft.dirty = true;
      }
      resync = true;
    }
  }
  return { state: draft.finish(), resync };
}
