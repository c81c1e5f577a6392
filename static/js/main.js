/**
 * Entry point: connect to the server, keep the state, render <App>.
 *
 * Messages are queued as they arrive and applied together once per animation frame (store.js
 * does the applying), so a burst of changes costs one render, not one per message.
 */
import { html, render } from "/static/vendor/htm/standalone.module.js";
import { io } from "/static/vendor/socket.io-client/socket.io.esm.min.js";
import { App } from "./App.js";
import { subscriptionFilter } from "./filter.js";
import { initialState, processMessages } from "./store.js";

const SUBSCRIBE_TIMEOUT_MS = 10000;
const SUBSCRIBE_RETRY_MS = 3000;
// Beyond this many queued messages, drop them and ask for a fresh snapshot instead.
const MAX_QUEUED_MESSAGES = 5000;
// Hidden tabs get no animation frames; apply queued messages at least this often anyway.
const FALLBACK_FLUSH_MS = 1000;

const root = document.getElementById("app");
const page = root.dataset;
const version = page.version || "";

let state = initialState({ simulated: page.simulated === "true", lava_url: page.lavaUrl || "" });
let status = { state: "reconnecting", text: "Connecting…", error: null };
let queue = [];
let frame = 0;
let fallback = 0;

function draw() {
  render(html`<${App} state=${state} status=${status} version=${version} onReconnect=${reconnect} />`, root);
  root.dataset.seq = state.ready ? String(state.seq) : "";
}

function flush() {
  cancelAnimationFrame(frame);
  clearTimeout(fallback);
  frame = 0;
  fallback = 0;
  if (queue.length) {
    const messages = queue;
    queue = [];
    const result = processMessages(state, messages, Date.now());
    state = result.state;
    if (result.resync) subscribe();
  }
  root.textContent = ""; // drop the server-rendered placeholder; Preact owns #app from here on
draw();
}

function schedule() {
  if (frame || fallback) return;
  frame = requestAnimationFrame(flush);
  fallback = setTimeout(flush, FALLBACK_FLUSH_MS);
}

function enqueue(message) {
  if (message.type === "snapshot") queue = []; // it replaces everything queued before it
  queue.push(message);
  if (queue.length > MAX_QUEUED_MESSAGES) queue = [{ type: "resync" }];
  schedule();
}

/** Replace the connection status; `text` and `error` are cleared unless given. */
function setStatus(next) {
  status = { text: null, error: null, ...next };
  schedule();
}

const socket = io({ transports: ["websocket"] });
let retryTimer = 0;

/** Ask for a snapshot and the changes after it, with the page's one filter. */
function subscribe() {
  clearTimeout(retryTimer);
  if (!socket.connected) return; // the next `connect` subscribes
  socket.timeout(SUBSCRIBE_TIMEOUT_MS).emit("subscribe", { filter: subscriptionFilter() }, (err, ack) => {
    if (err) {
      if (!socket.connected) return;
      setStatus({ ...status, error: "The server did not answer; asking again." });
      retryTimer = setTimeout(subscribe, SUBSCRIBE_RETRY_MS);
    } else if (!ack || ack.ok !== true) {
      const reason = ack && typeof ack.error === "string" ? ack.error : "no reason given";
      setStatus({ state: "offline", text: "Not subscribed", error: `The server refused: ${reason}` });
    }
  });
}

function reconnect() {
  setStatus({ state: "reconnecting", text: "Connecting…" });
  if (socket.connected) subscribe();
  else socket.connect();
}

socket.on("connect", () => {
  setStatus({ state: "reconnecting", text: "Synchronising…" });
  subscribe();
});
socket.on("snapshot", (snapshot) => {
  enqueue({ type: "snapshot", payload: snapshot });
  setStatus({ state: "live" });
});
socket.on("changes", (changes) => enqueue({ type: "changes", payload: changes }));
socket.on("resync", () => enqueue({ type: "resync" }));
socket.on("disconnect", (reason) => {
  clearTimeout(retryTimer);
  if (socket.active) setStatus({ state: "reconnecting" });
  else setStatus({ state: "offline", error: reason === "io server disconnect" ? "The server closed the connection." : null });
});
socket.on("connect_error", (error) => {
  const detail = error && error.message ? `Cannot reach the server (${error.message}).` : "Cannot reach the server.";
  setStatus(socket.active ? { state: "reconnecting", error: detail } : { state: "offline", error: detail });
});

window.addEventListener("offline", () => setStatus({ state: "offline", error: "The browser reports no network." }));
window.addEventListener("online", () => {
  if (socket.connected) setStatus({ state: "live" });
  else reconnect();
});

root.textContent = ""; // drop the server-rendered placeholder; Preact owns #app from here on
draw();
