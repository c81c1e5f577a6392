/**
 * The browser's copy of the live model, and the only place it changes. Pure: a state and a
 * message go in, a new state comes out (unchanged parts are shared, so components can compare
 * by identity). No sockets, no DOM, no clock: `now` (epoch ms) is passed in.
 *
 * Protocol (docs/protocol.md): a `snapshot` replaces everything and sets `seq`; `changes` carry
 * `{prev, seq, changes: [{seq, kind, id, data}]}`. They are ignored until a snapshot arrived; if
 * `prev > seq` a batch was missed, so the caller must subscribe again for a fresh snapshot.
 *
 * Every object is kept under its key (labs.js `objectKey`): its lab and id when the dashboard
 * watches several named labs ("east/qemu-01"; a change names its lab next to its id), the id alone
 * otherwise.
 */
import { matchesFilter } from "./filter.js";
import { historyEntry } from "./history.js";
import { ID_FIELDS, keyOf, labOf, labsOf, lavaOf, objectKey, relatedKey } from "./labs.js";
import { MAX_FINISHED_JOBS } from "./protocol.js";
import { countEvents, seedRate } from "./rate.js";
import { parseTime } from "./time.js";

/** Every list kept in memory is bounded by one of these: memory stays flat over weeks. */
export const LIMITS = Object.freeze({
  finishedJobs: MAX_FINISHED_JOBS, // finished jobs kept: as many as the server (--max-finished-jobs)
  events: 100, // test-shell / unknown-topic messages kept
  feed: 200, // entries of the live feed
  historyPerObject: 12, // changes remembered per device, job or worker (details panel)
  historyObjects: 3000, // objects with a history; the least recently changed are forgotten first
});

const COLLECTIONS = { device: "devices", job: "jobs", worker: "workers" };

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const asList = (value) => (Array.isArray(value) ? value : []);
const finiteOr = (value, fallback) => (Number.isFinite(value) ? value : fallback);

/**
 * The state before any snapshot: empty, not ready. `meta` comes from the page's data attributes
 * (and `meta.labs` from its bootstrap, when the server puts the labs there).
 */
export function initialState(meta = {}) {
  return {
    ready: false, // a snapshot has been applied
    syncing: false, // a fresh snapshot was asked for: ignore changes until it arrives
    seq: 0,
    epoch: null, // the server's model run: `seq` only compares within one epoch
    view: null, // whom the server made the snapshot for: a catch-up continues only the same
    filter: {},
    meta: { simulated: Boolean(meta.simulated), lava_url: meta.lava_url || "", lava: null, cluster: null,
      access: null, store_recovered: null },
    labs: labsOf(meta.labs, []), // the named labs, [{name, lava_url, simulated, lava}]; empty for one unnamed lab
    devices: new Map(), // key (labs.js: hostname, or "lab/hostname") → device
    jobs: new Map(), // key (String(id), or "lab/id") → job
    workers: new Map(), // key (hostname, or "lab/hostname") → worker
    events: [], // oldest first, at most LIMITS.events
    feed: [], // newest first, at most LIMITS.feed
    history: new Map(), // "kind:key" → entries, newest first (see history.js), least recent first
    rate: [], // events per second over the last minute (see rate.js)
    lastChangeAt: null, // epoch ms of the newest change seen
  };
}

/** The key of an object's history: "device:qemu-01", "job:42", "worker:lab-worker-01" (with a lab: "job:east/42"). */
export const historyKey = (kind, id) => `${kind}:${id}`;

/** Add an entry to a history Map (a private copy: mutated), keeping both bounds. */
function record(history, key, entry) {
  if (!entry) return;
  const before = history.get(key);
  history.delete(key); // re-inserted last: the Map's order is least recently changed first
  history.set(key, before ? [entry, ...before.slice(0, LIMITS.historyPerObject - 1)] : [entry]);
}

function trimHistory(history) {
  for (const key of history.keys()) {
    if (history.size <= LIMITS.historyObjects) break;
    history.delete(key);
  }
}

function indexBy(list, kind) {
  const map = new Map();
  for (const item of asList(list)) {
    const key = isObject(item) ? keyOf(kind, item) : null;
    if (key != null) map.set(key, item);
  }
  return map;
}

/** An event's key: its uuid, with its lab when it has one. */
const eventKey = (event) => keyOf("event", event);

/** Drop the oldest finished jobs beyond `limit` (mutates `jobs`, which must be a private copy). */
export function keepRecentFinished(jobs, limit) {
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

/**
 * A live-feed entry; `id` is the object's key (to open it), `name` its id within its lab (to show),
 * `received` (epoch ms) when the page got it, to highlight new rows.
 */
function feedItem(kind, id, data, prev, seq, now, lab = "", name = id, epoch = "") {
  // A change's number is its epoch's: after the server's restart they start again, and the feed
  // keeps entries of the run before (an audit found 45 keys twice after two restarts).
  return { key: seq == null ? `${kind}:${id}` : `${epoch ?? ""}:${seq}`, seq, kind, id, name, lab, data, prev,
    at: objectTime(kind, data) ?? now, received: now };
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

/**
 * Keep the feed across snapshots (it is history), adding snapshot events it has not shown yet;
 * entries about objects outside a new filter go (the filter changed, not the lab).
 */
function mergeFeed(feed, events, filter, now) {
  const kept = feed.filter((item) => matchesFilter(filter, item.kind, item.data ?? item.prev));
  const shown = new Set(kept.filter((item) => item.kind === "event").map((item) => item.id));
  const added = events.filter((e) => !shown.has(eventKey(e)))
    .map((e) => feedItem("event", eventKey(e), e, null, null, now, labOf(e.lab), String(e.uuid)));
  if (added.length === 0) return kept.length === feed.length ? feed : kept;
  return added.concat(kept).sort((a, b) => b.at - a.at).slice(0, LIMITS.feed);
}

/** Whether a job now comes redacted that the page held in full: LAVA made it private to us. */
const becameHidden = (prev, next) => Boolean(prev && next && next.hidden === true && prev.hidden !== true);

/** The key (labs.js) of the job a test-shell message is about, or null. */
function jobOfMessage(event, lab) {
  return isObject(event) && event.job != null ? objectKey(labOf(event.lab) || lab, String(event.job)) : null;
}

/**
 * What the page holds about jobs it may no longer see in full (`hidden`: their keys): feed items
 * of them and of their messages, and their messages, go; their histories go (the caller). They
 * held the fields and messages LAVA now hides (found by a review: the details panel then listed
 * "description: … → —").
 */
function withoutHidden(feed, events, hidden) {
  return withoutKeys(feed, events, hidden, jobOfItem, (e) => jobOfMessage(e, labOf(e.lab)));
}

/** The key of the job a feed item is about (its own, or its message's), or null. */
function jobOfItem(item) {
  return item.kind === "job" ? item.id : item.kind === "event" ? jobOfMessage(item.data, item.lab) : null;
}

/** The feed items and messages whose keys (`itemKey`, `messageKey`) are not among `keys`. */
function withoutKeys(feed, events, keys, itemKey, messageKey) {
  if (!keys.size) return { feed, events };
  return {
    feed: feed.filter((item) => !keys.has(itemKey(item))),
    events: events.filter((e) => !keys.has(messageKey(e))),
  };
}

/** The key of the device a feed item is about (its own, a job's or a message's board), or null. */
function deviceOfItem(item) {
  if (item.kind === "device") return item.id;
  const obj = item.data ?? item.prev;
  return isObject(obj) ? relatedKey(obj, obj.device) : null;
}

/**
 * What the page holds about devices LAVA no longer shows (`gone`: their keys; a removal the
 * server marks `screened`): feed items of them, of jobs on them and of their messages, and their
 * messages, go. A wall runs for weeks: it kept them, where LAVA shows nothing of such a board.
 */
function withoutDevices(feed, events, gone) {
  return withoutKeys(feed, events, gone, deviceOfItem, (e) => relatedKey(e, e.device));
}

/**
 * After a reconnect (or a gap) a fresh snapshot may differ from what the page held: note each
 * difference in the objects' histories, marked as seen on resync. Objects new to the page are not
 * news (a filter change brings many), and the history is kept across snapshots.
 */
function resyncHistory(state, next, now) {
  if (!state.ready) return state.history;
  let history = null;
  for (const [kind, name] of Object.entries(COLLECTIONS)) {
    const before = state[name];
    for (const [id, obj] of next[name]) {
      const prev = before.get(id);
      if (!prev || prev === obj || becameHidden(prev, obj)) continue; // (its history goes: applySnapshot)
      const entry = historyEntry(prev, obj, { at: now, via: "resync" });
      if (!entry) continue;
      history = history || new Map(state.history);
      record(history, historyKey(kind, id), entry);
    }
  }
  if (!history) return state.history;
  trimHistory(history);
  return history;
}

/**
 * A `snapshot` message → a new state that replaces every object; the feed and the histories are
 * kept, unless the snapshot was made for another viewer than what the page holds (`view`: its
 * session ended while it was away, or LAVA lets its viewer see less). Then nothing of before is
 * kept: the feed and the histories hold the old objects' fields and messages (found by an audit:
 * a hidden job's description, submitter and messages stayed there after its redacted snapshot).
 */
export function applySnapshot(state, snapshot, now) {
  if (!isObject(snapshot)) return state;
  const view = typeof snapshot.view === "string" ? snapshot.view : null;
  if (state.ready && view !== state.view) state = { ...state, ready: false, feed: [], history: new Map() };
  const meta = isObject(snapshot.meta) ? snapshot.meta : {};
  const events = asList(snapshot.events).filter((e) => isObject(e) && e.uuid != null)
    .slice(-LIMITS.events);
  const times = [state.lastChangeAt, newestTime(snapshot, now)].filter((t) => t != null);
  const filter = isObject(snapshot.filter) ? snapshot.filter : {};
  const objects = {
    devices: indexBy(snapshot.devices, "device"),
    jobs: keepRecentFinished(indexBy(snapshot.jobs, "job"), LIMITS.finishedJobs),
    workers: indexBy(snapshot.workers, "worker"),
  };
  // Jobs the page held in full that now come redacted: nothing of what it knew of them stays.
  const hidden = new Set(state.ready ? [...objects.jobs]
    .filter(([key, job]) => becameHidden(state.jobs.get(key), job)).map(([key]) => key) : []);
  // Devices the page held that the lab's whole model no longer has (no filter, before or now;
  // the same run of the server): LAVA no longer shows them, or they are gone. A page away when
  // their removal came keeps nothing of them either (the server's feed keeps none). After the
  // server's restart (another epoch) its model may not hold every board yet: the feed stays.
  const whole = (f) => Object.keys(f ?? {}).length === 0;
  const sameRun = typeof snapshot.epoch === "string" && snapshot.epoch === state.epoch;
  const gone = new Set(state.ready && sameRun && whole(filter) && whole(state.filter)
    ? [...state.devices.keys()].filter((key) => !objects.devices.has(key)) : []);
  // ... and the jobs it held on them that the snapshot has not: what it knew of them goes too.
  for (const [key, job] of gone.size ? state.jobs : []) {
    if (!objects.jobs.has(key) && gone.has(relatedKey(job, job.device))) hidden.add(key);
  }
  let history = resyncHistory(state, objects, now);
  if (hidden.size || gone.size) {
    history = new Map(history);
    for (const key of hidden) history.delete(historyKey("job", key));
    for (const key of gone) history.delete(historyKey("device", key));
  }
  return {
    ...state,
    ready: true,
    syncing: false,
    seq: finiteOr(snapshot.seq, 0),
    epoch: typeof snapshot.epoch === "string" ? snapshot.epoch : null,
    view,
    filter,
    meta: mergeMeta(state.meta, meta),
    labs: labsOf(meta.labs, state.labs),
    ...objects,
    events,
    feed: withoutDevices(withoutHidden(mergeFeed(state.feed, events, filter, now), [], hidden).feed, [], gone).feed,
    history,
    lastChangeAt: times.length ? Math.max(...times) : null,
  };
}

/** The server's `meta` (snapshot) or `status` message merged into the page's: known fields only. */
export function mergeMeta(current, incoming) {
  if (!isObject(incoming)) return current;
  // {state, error, since} (ISO 8601: in this state since), bounded as a lab's (labs.js lavaOf).
  const problem = (value, before) => (isObject(value) ? lavaOf(value) : before ?? null);
  return {
    simulated: typeof incoming.simulated === "boolean" ? incoming.simulated : current.simulated,
    lava_url: typeof incoming.lava_url === "string" ? incoming.lava_url : current.lava_url,
    lava: problem(incoming.lava, current.lava), // the REST reconciler's state, when there is one
    cluster: problem(incoming.cluster, current.cluster), // a web process's link to the ingest process
    // Who may see what: open, lava or login (docs/security.md); the footer says it.
    access: ["open", "lava", "login"].includes(incoming.access) ? incoming.access : current.access ?? null,
    // The event store was unusable at start and was moved aside (docs/api.md).
    store_recovered: isObject(incoming.store_recovered) && typeof incoming.store_recovered.moved_to === "string"
      ? { moved_to: incoming.store_recovered.moved_to } : current.store_recovered ?? null,
    // Where the events come from: [{name, kind, state, lost, since, problem}] (a URL without
    // credentials, zmq or websocket; `since`: ISO 8601, in this state since; `problem`: why not
    // connected).
    sources: Array.isArray(incoming.sources) ? sourcesOf(incoming.sources) : current.sources ?? null,
  };
}

const MAX_SOURCES = 256; // the server's bound: 8 sources for each of at most 32 labs
function sourcesOf(list) {
  const text = (v) => (typeof v === "string" ? v.slice(0, 200) : "");
  // A named lab's sources say which lab they feed (a dashboard of one lab: no `lab`).
  return list.filter(isObject).slice(0, MAX_SOURCES)
    .map((s) => ({ name: text(s.name), kind: text(s.kind), state: text(s.state), lost: s.lost === true,
      since: text(s.since).slice(0, 40) || null,
      // Why it is not connected, one word of the server's set (labs.js problemWords says it)
      ...(/^[a-z_]{1,40}$/.test(text(s.problem)) ? { problem: s.problem } : {}),
      ...(labOf(s.lab) ? { lab: labOf(s.lab) } : {}) }));
}

/** Copy-on-write view of a state: collections are copied at most once per batch of messages. */
class Draft {
  constructor(state, now) {
    this.base = state;
    this.now = now;
    this.next = { ...state };
    this.copied = new Set();
    this.dirty = false;
    this.applied = 0; // changes that count as events (for events per minute)
    this.newEvents = [];
    this.removedEvents = new Set();
    this.newFeed = []; // oldest first
    this.hidden = new Set(); // keys of jobs the page held in full that now come redacted
    this.screened = new Set(); // keys of devices LAVA no longer shows (their removals say so)
  }

  record(kind, id, entry) {
    if (entry) record(this.collection("history"), historyKey(kind, id), entry);
  }

  forget(kind, id) {
    const key = historyKey(kind, id);
    if (this.next.history.has(key)) this.collection("history").delete(key);
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
      const replaced = new Set([...this.removedEvents, ...this.newEvents.map(eventKey)]);
      state.events = state.events.filter((e) => !replaced.has(eventKey(e)))
        .concat(this.newEvents).slice(-LIMITS.events);
    }
    if (this.newFeed.length) {
      state.feed = this.newFeed.reverse().slice(0, LIMITS.feed)
        .concat(state.feed.slice(0, Math.max(0, LIMITS.feed - this.newFeed.length)));
    }
    if (this.hidden.size) {
      ({ feed: state.feed, events: state.events } = withoutHidden(state.feed, state.events, this.hidden));
      for (const key of this.hidden) this.forget("job", key);
    }
    if (this.screened.size) {
      ({ feed: state.feed, events: state.events } = withoutDevices(state.feed, state.events, this.screened));
      for (const key of this.screened) this.forget("device", key);
    }
    if (this.copied.has("history")) trimHistory(state.history);
    if (this.applied) state.rate = countEvents(state.rate, this.applied, this.now);
    return state;
  }
}

/** A change's lab (next to its id; its object's when it does not say) and id within it. */
function changeLab(change) {
  return labOf(change.lab) || (isObject(change.data) ? labOf(change.data.lab) : "");
}

function changeId(change) {
  if (change.id != null) return String(change.id);
  const field = ID_FIELDS[change.kind];
  return isObject(change.data) && change.data[field] != null ? String(change.data[field]) : null;
}

/** Apply one change to the draft; returns false if it was not understood. */
function applyOne(draft, change, now) {
  const name = changeId(change);
  if (name == null || !(change.data === null || isObject(change.data))) return false;
  const lab = changeLab(change);
  const id = objectKey(lab, name);
  // The object says its lab as its change does (relations are looked for in the object's lab).
  if (lab && change.data && change.data.lab !== lab) change = { ...change, data: { ...change.data, lab } };
  let prev = null;
  if (COLLECTIONS[change.kind]) {
    const map = draft.collection(COLLECTIONS[change.kind]);
    prev = map.get(id) ?? null;
    if (change.data === null) map.delete(id);
    else map.set(id, change.data);
    // LAVA no longer shows it (the server's device screen): nothing the page knew of it stays,
    // and its removal makes no feed item (Draft.finish; a job's as one made private to us).
    if (change.data === null && change.screened === true && (change.kind === "device" || change.kind === "job")) {
      draft[change.kind === "device" ? "screened" : "hidden"].add(id);
      draft.dirty = true;
      return true;
    }
    // Forgetting an old finished job is memory housekeeping, not news: its history goes too.
    if (change.kind === "job" && change.data === null) {
      draft.forget("job", id);
      return true;
    }
    // LAVA made a job private to us: what the page knew of it goes (Draft.finish), and this
    // change makes no history entry or feed item, which would quote what it hides.
    if (change.kind === "job" && becameHidden(prev, change.data)) {
      draft.hidden.add(id);
      draft.dirty = true;
      return true;
    }
    draft.record(change.kind, id, historyEntry(prev, change.data, { seq: change.seq, at: now }));
  } else if (change.kind === "event") {
    if (change.data === null) {
      draft.removedEvents.add(id);
      return true;
    }
    draft.newEvents.push(change.data);
    if (change.data.job != null) {
      draft.record("job", objectKey(lab, change.data.job), { seq: change.seq, at: now, via: "live", fields: [],
        message: change.data });
    }
  } else {
    return false; // a kind this page does not know yet
  }
  draft.applied += 1;
  draft.newFeed.push(feedItem(change.kind, id, change.data, prev, change.seq, now, lab, name, draft.next.epoch));
  return true;
}

/** Apply a `changes` message to the draft; returns true if a gap means a new snapshot is needed. */
function applyChangesTo(draft, message, now) {
  const state = draft.next;
  if (!state.ready || state.syncing || !isObject(message)) return false;
  const otherEpoch = typeof message.epoch === "string" && message.epoch !== state.epoch;
  if (otherEpoch || (Number.isFinite(message.prev) && message.prev > state.seq)) {
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

/**
 * Apply a batch of queued messages, in order, as one update (one render per animation frame).
 * Each message is `{type: "snapshot" | "changes" | "status" | "rate", payload}` or `{type: "resync"}`
 * (the server, or the page after a filter change, wants a fresh snapshot). Returns `{state, resync}`; the state is the same object if nothing
 * changed.
 */
export function processMessages(state, messages, now) {
  let draft = new Draft(state, now);
  let resync = false;
  for (const message of messages) {
    if (message.type === "snapshot") {
      draft = new Draft(applySnapshot(draft.finish(), message.payload, now), now);
      resync = false; // a full snapshot supersedes any gap seen before it
    } else if (message.type === "status") {
      const meta = mergeMeta(draft.next.meta, message.payload);
      const labs = isObject(message.payload) ? labsOf(message.payload.labs, draft.next.labs) : draft.next.labs;
      if (meta !== draft.next.meta || labs !== draft.next.labs) {
        draft.next.meta = meta;
        draft.next.labs = labs;
        draft.dirty = true;
      }
    } else if (message.type === "rate") {
      // The server's last minute (from its event store), for the seconds before the page counted.
      const rate = seedRate(draft.next.rate, message.payload && message.payload.seconds, now);
      if (rate !== draft.next.rate) {
        draft.next.rate = rate;
        draft.dirty = true;
      }
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
