/**
 * Entry point: read the view from the URL, connect to the server, keep the state, render <App>.
 *
 * Messages are queued as they arrive and applied together once per animation frame (store.js
 * does the applying), so a burst of changes costs one render, not one per message.
 */
import { render } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { io } from "/static/vendor/socket.io-client/socket.io.esm.min.js";
import { App } from "./App.js";
import { clockOffset, noteServerTime, now as clockNow, stamp } from "./clock.js";
import { sweepFlashes } from "./flash.js";
import { findAgain, focusBefore, restoreFocus } from "./focus.js";
import { sameFilter, subscriptionFilter } from "./filter.js";
import { createLogTail } from "./logtail.js";
import { initialState, processMessages } from "./store.js";
import { applyTheme } from "./theme.js";
import { RATE_KEYS, clearFilters, parseOptions, serializeOptions, withOptions } from "./url.js";
import { PROTOCOL } from "./protocol.js";

const SUBSCRIBE_TIMEOUT_MS = 10000;
// At most this many `changes` messages a second (docs/protocol.md, `max_rate`): the page renders
// a few times a second whatever it receives, and each message costs its main thread; the server
// holds what comes between two messages and sends it in the next.
const MAX_RATE = 20;
const SUBSCRIBE_RETRY_MS = 3000;
// Beyond this many queued messages, drop them and ask for a fresh snapshot instead.
const MAX_QUEUED_MESSAGES = 5000;
// Hidden tabs get no animation frames; apply queued messages at least this often anyway.
const FALLBACK_FLUSH_MS = 1000;
// Data renders may take at most this share of the time: after a render frame that cost c ms,
// the next one waits c / RENDER_SHARE ms. A small board renders every frame; a wall of 2,000
// tiles (a frame of ~40 ms in software rendering) a few times a second, and stays smooth between.
// Renders longer than a frame drop about this share of the frames: 0.15 keeps some 51 of 60 a
// second (0.25 kept 45; docs/performance.md).
const RENDER_SHARE = 0.15;
const FRAME_MS = 1000 / 60;
const MAX_PACE_MS = 1000;
// Socket.IO retries by itself after a lost connection, backing off up to this delay...
const RECONNECT_DELAY_MAX_MS = 5000;
// ...but not after the server closed the connection on purpose (e.g. while restarting): a wall
// display must come back by itself, so the page retries then too, backing off the same way.
const SERVER_CLOSE_RETRY_MS = [1000, 2000, 4000, 5000];

const root = document.getElementById("app");
const page = root.dataset;
const version = page.version || "";

let options = parseOptions(location.search);
// The labs are known before the first snapshot when the bootstrap names them (the charts and
// reports then ask each lab's history from the start).
let state = initialState({ simulated: page.simulated === "true", lava_url: page.lavaUrl || "", labs: PROTOCOL.labs });
let status = { state: "reconnecting", text: "Connecting…", error: null };
let queue = [];
let frame = 0;
let fallback = 0;
let paced = 0; // timer holding the next flush back (pacing)
let nextFlushAt = 0; // performance.now() before which no data render starts
let opener = null; // what opened the details panel (focus.js' focusBefore), focused again when it closes

/** Read-only figures for benchmarks and debugging: `window.lavaDashboard.stats`. */
const stats = { renders: 0, messages: 0, changes: 0, snapshots: 0, catchups: 0, lastRenderMs: 0,
  get clockOffsetMs() { return clockOffset(); } };
window.lavaDashboard = Object.freeze({ stats, version });

// Bumped when a snapshot is made for another viewer than the one before (store.js `view`): <App>
// keyed by it is made anew, and with it what each component fetched. Not at the first snapshot.
let viewer = { view: null, key: 0 };

function draw() {
  const started = performance.now();
  if (state.view && viewer.view && state.view !== viewer.view) viewer = { ...viewer, key: viewer.key + 1 };
  if (state.view) viewer = { ...viewer, view: state.view };
  // A render that moves or remakes the focused element drops the focus: it goes back to the same item.
  const focused = focusBefore();
  // Keyed by whom the data was made for: another viewer (a session that ended meanwhile) remakes
  // every component, and with them what each fetched for the one before (a job's details, its log).
  render(html`<${App} key=${viewer.key} state=${state} status=${status} version=${version}
    options=${options} actions=${actions} />`, root);
  restoreFocus(focused);
  root.dataset.seq = state.ready ? String(state.seq) : "";
  stats.renders += 1;
  stats.lastRenderMs = performance.now() - started;
}

function flush() {
  cancelAnimationFrame(frame);
  clearTimeout(fallback);
  frame = 0;
  fallback = 0;
  const started = performance.now();
  if (queue.length) {
    const messages = queue;
    queue = [];
    const result = processMessages(state, messages, clockNow());
    state = result.state;
    if (result.resync) subscribe();
  }
  draw();
  sweepFlashes();
  // The next frame starts once this one is styled, laid out, painted and rastered: its delay
  // beyond a normal frame is what this render cost.
  requestAnimationFrame(() => {
    const cost = Math.max(0, performance.now() - started - FRAME_MS);
    nextFlushAt = started + Math.min(MAX_PACE_MS, cost / RENDER_SHARE);
  });
}

/** Flush at the next frame, or later when pacing holds it back; `urgent` (a person's action) never waits. */
function schedule(urgent = false) {
  if (urgent && paced) {
    clearTimeout(paced);
    paced = 0;
    nextFlushAt = 0;
  }
  if (frame || fallback || paced) return;
  const wait = nextFlushAt - performance.now();
  if (wait > 1) {
    paced = setTimeout(() => {
      paced = 0;
      schedule();
    }, wait);
    return;
  }
  frame = requestAnimationFrame(flush);
  fallback = setTimeout(flush, FALLBACK_FLUSH_MS);
}

function enqueue(message) {
  if (message.type === "snapshot") queue = queue.filter((m) => m.type === "status"); // it replaces the rest
  queue.push(message);
  if (queue.length > MAX_QUEUED_MESSAGES) queue = [{ type: "resync" }];
  schedule();
}

/** Replace the connection status; `text` and `error` are cleared unless given. */
function setStatus(next) {
  status = { text: null, error: null, ...next };
  schedule();
}

// ---- the URL: every option lives there (history.replaceState), so a URL reproduces a view ----

/** Change the options: write the URL, subscribe again if the server-side filter changed, draw. */
function setOptions(next) {
  const before = options;
  options = next;
  const search = serializeOptions(options);
  if (search !== location.search) history.replaceState(null, "", location.pathname + search + location.hash);
  applyTheme(options);
  if (!sameFilter(subscriptionFilter(before), subscriptionFilter(options))) {
    enqueue({ type: "resync" }); // marks the data stale and subscribes again once applied
  }
  schedule(true);
}

const update = (patch) => setOptions(withOptions(options, patch));

const actions = Object.freeze({
  open(kind, id) {
    if (!options.detail) opener = focusBefore();
    update({ detail: { kind, id: String(id) } });
  },
  close() {
    update({ detail: null });
    const back = opener;
    opener = null;
    // The same item, even if it moved or changed list meanwhile (a job started).
    requestAnimationFrame(() => {
      const el = findAgain(back);
      if (el) el.focus();
    });
  },
  setView: (view) => update({ view: view === "all" && !options.wall ? null : view }),
  setGroup: (group) => update({ group }),
  setSort: (sort) => update({ sort }),
  // The attention strip's queue item: the Jobs view, narrowed to the device type (and its lab).
  showQueue: (type, lab) => update({ view: options.wall ? options.view : "jobs",
    filter: type ? { device_types: [type], ...(lab && options.filter.labs ? { labs: [lab] } : {}) } : {} }),
  setTheme: (theme) => update({ theme }),
  setHealthCheck: (healthCheck) => update({ healthCheck }),
  setFeedKinds: (feedKinds) => update({ feedKinds }),
  setFilter: (key, values) => update({ filter: { [key]: values } }),
  setQuery: (q) => update({ q }),
  clearFilters: () => setOptions(clearFilters(options)),
  reconnect,
  // A job panel's live log: follow(job, onMessage) → stop (logtail.js).
  followLog: (job, onMessage, lab) => followLog(job, onMessage, lab),
});

window.addEventListener("popstate", () => setOptions(parseOptions(location.search)));

// ---- the connection --------------------------------------------------------------------------

const socket = io({ transports: ["websocket"], reconnectionDelayMax: RECONNECT_DELAY_MAX_MS });
const followLog = createLogTail(socket);
let retryTimer = 0;
let serverCloseTimer = 0;
let serverCloses = 0;
let sessionEnded = false; // the server said so: no reconnecting, the sign-in page is next
let signingOut = false; // this page's sign-out form was sent

/**
 * Ask for a snapshot and the changes after it, with the filter the URL asks for. After a
 * reconnect with the same filter, offer our seq, epoch and view: the server then sends only the
 * changes we missed when it still holds them all (any web process can: they share the numbers)
 * and the page's data was made for the viewer it now serves.
 */
function subscribe() {
  clearTimeout(retryTimer);
  if (!socket.connected) return; // the next `connect` subscribes
  const filter = subscriptionFilter(options);
  const request = { filter, max_rate: MAX_RATE };
  if (state.ready && !state.syncing && state.epoch && state.view && sameFilter(state.filter, filter)) {
    request.since = state.seq;
    request.epoch = state.epoch;
    request.view = state.view; // another viewer by now (the session ended meanwhile): a snapshot
  }
  const sent = stamp();
  socket.timeout(SUBSCRIBE_TIMEOUT_MS).emit("subscribe", request, (err, ack) => {
    // The answer says when the server read its clock: the page's times follow it (clock.js).
    if (ack && typeof ack === "object") noteServerTime(ack.now, sent, stamp());
    if (ack && ack.ok === true) {
      seeding.answered = true;
      seedWhenReady();
    }
    if (ack && ack.ok === true && ack.catchup === true) {
      stats.catchups += 1;
      setStatus({ state: "live" });
    } else if (ack && ack.ok !== true && ack.retry === true) {
      // A web process that has not yet loaded the model: ask again shortly, keep what is shown.
      setStatus({ state: "reconnecting", text: "Synchronising…", error: ack.error || null });
      retryTimer = setTimeout(subscribe, SUBSCRIBE_RETRY_MS);
    } else if (err) {
      if (!socket.connected) return;
      setStatus({ ...status, error: "The server did not answer; asking again." });
      retryTimer = setTimeout(subscribe, SUBSCRIBE_RETRY_MS);
    } else if (!ack || ack.ok !== true) {
      const reason = ack && typeof ack.error === "string" ? ack.error : "no reason given";
      setStatus({ state: "offline", text: "Not subscribed", error: `The server refused: ${reason}` });
    }
  });
}

/**
 * Events per minute must not restart at 0 on a reload: ask the server's event store for the last
 * minute, per second, with the page's filter, once per page load. A filter the store cannot follow
 * (several values of a key, or health), history off or an error: the page counts from now. With
 * several labs each keeps its own store: each lab shown is asked (at most RATE_LABS), and added up.
 */
const RATE_LABS = 8;
// Seeded once, from the first snapshot, after the first answer to a subscribe (which comes after
// its snapshot): the answer says the server's clock, and the minute asked for is the server's.
const seeding = { snapshot: null, answered: false, done: false };
function seedWhenReady() {
  if (seeding.done || !seeding.snapshot || !seeding.answered) return;
  seeding.done = true;
  seedRateFromServer(seeding.snapshot);
  seeding.snapshot = null;
}
function seedRateFromServer(snapshot) {
  const flt = options.filter;
  if (page.history !== "true" || flt.health.length || RATE_KEYS.some(([, key]) => flt[key].length > 1)) return;
  const named = snapshot && snapshot.meta && Array.isArray(snapshot.meta.labs)
    ? snapshot.meta.labs.map((lab) => lab && lab.name).filter((name) => typeof name === "string" && name) : [];
  const labs = flt.labs && flt.labs.length ? flt.labs : named.length ? named : [""];
  if (labs.length > RATE_LABS) return;
  const now = clockNow();
  const params = new URLSearchParams({ bucket: "second", since: new Date(now - 61000).toISOString(),
    until: new Date(now + 1000).toISOString() });
  for (const [name, key] of RATE_KEYS) if (flt[key].length) params.set(name, flt[key][0]);
  const ask = (lab) => fetch(`/api/v1/stats/events?${params}${lab ? `&lab=${encodeURIComponent(lab)}` : ""}`,
    { headers: { Accept: "application/json" } }).then((response) => (response.ok ? response.json() : null));
  Promise.all(labs.map(ask))
    .then((bodies) => {
      if (bodies.some((body) => !body || !body.series)) return;
      const perSecond = new Map();
      for (const body of bodies) {
        for (const points of Object.values(body.series)) {
          for (const [second, n] of points) perSecond.set(second, (perSecond.get(second) || 0) + n);
        }
      }
      enqueue({ type: "rate", payload: { seconds: [...perSecond] } });
    })
    .catch(() => {});
}

function reconnect() {
  setStatus({ state: "reconnecting", text: "Connecting…" });
  if (socket.connected) subscribe();
  else socket.connect();
}

socket.on("connect", () => {
  clearTimeout(serverCloseTimer);
  serverCloses = 0;
  setStatus({ state: "reconnecting", text: "Synchronising…" });
  subscribe();
});
socket.on("snapshot", (snapshot) => {
  // An answer to an older subscribe (the filter changed since): the next snapshot is ours.
  if (snapshot && snapshot.filter && !sameFilter(snapshot.filter, subscriptionFilter(options))) return;
  stats.snapshots += 1;
  enqueue({ type: "snapshot", payload: snapshot });
  if (stats.snapshots === 1) {
    seeding.snapshot = snapshot;
    seedWhenReady();
  }
  setStatus({ state: "live" });
});
socket.on("changes", (changes) => {
  stats.messages += 1;
  if (changes && Array.isArray(changes.changes)) stats.changes += changes.changes.length;
  enqueue({ type: "changes", payload: changes });
});
socket.on("resync", () => enqueue({ type: "resync" }));
// The viewer's session ended (signed out in another tab, unused for too long, or at the end of its
// lifetime): the server closes this connection, and the sign-in page says why. Unless this very
// page is signing out: then the sign-out's own answer says where the page goes.
document.addEventListener("submit", (event) => {
  if (event.target instanceof Element && event.target.matches(".signout-form")) signingOut = true;
});
socket.on("session_ended", () => {
  sessionEnded = true;
  if (!signingOut) location.assign("/signin?ended=1");
});
socket.on("status", (payload) => enqueue({ type: "status", payload }));
socket.on("disconnect", (reason) => {
  clearTimeout(retryTimer);
  if (sessionEnded) {
    setStatus({ state: "offline", text: "Signed out", error: "Your session has ended: sign in again." });
  } else if (socket.active) {
    setStatus({ state: "reconnecting" });
  } else if (reason === "io server disconnect") {
    const delay = SERVER_CLOSE_RETRY_MS[Math.min(serverCloses, SERVER_CLOSE_RETRY_MS.length - 1)];
    serverCloses += 1;
    setStatus({ state: "offline", text: "Offline · retrying", error: "The server closed the connection." });
    clearTimeout(serverCloseTimer);
    serverCloseTimer = setTimeout(() => socket.connect(), delay);
  } else {
    setStatus({ state: "offline" });
  }
});
socket.on("connect_error", (error) => {
  const code = error && error.data && error.data.code;
  if (code === "unauthorized" && !options.wall) {
    location.assign("/signin"); // login mode, and the session has ended: sign in again
    return;
  }
  if (code === "wall_link" || code === "unauthorized") {
    // A wall link that was revoked or has expired: the screen says why, in large type, and
    // stops trying (a new link is needed).
    socket.disconnect();
    setStatus({ state: "offline", text: "Not allowed", error: error.message, refused: error.message });
    return;
  }
  if (code === "too_many_sessions") {
    // Too many pages or screens of this address are connected: said, and tried again later (the
    // Socket.IO client does not retry a connection the server refused).
    const wait = Math.min(300, Math.max(5, Number(error.data.retry_after) || 45));
    setStatus({ state: "offline", text: "Offline · retrying", error: error.message });
    clearTimeout(serverCloseTimer);
    serverCloseTimer = setTimeout(() => socket.connect(), wait * 1000);
    return;
  }
  const detail = error && error.message ? `Cannot reach the server (${error.message}).` : "Cannot reach the server.";
  // The server cannot be reached: offline, while Socket.IO keeps trying in the background.
  setStatus({ state: "offline", text: socket.active ? "Offline · retrying" : "Offline", error: detail });
});

window.addEventListener("offline", () => setStatus({ state: "offline", error: "The browser reports no network." }));
window.addEventListener("online", () => {
  if (socket.connected) setStatus({ state: "live" });
  else reconnect();
});

applyTheme(options);
root.textContent = ""; // drop the server-rendered placeholder; Preact owns #app from here on
draw();
