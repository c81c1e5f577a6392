/**
 * Where the live events come from, in words: each source's kind (lava-publisher's ZMQ socket or its
 * WebSocket) and state, and with several labs which lab it feeds. `sources`: the meta's [{name,
 * kind, state, lost, lab?}] (names never hold credentials; `lost`: it was connected and is not now,
 * the header says so until it is again).
 */
import { html } from "./html.js";

const KINDS = { zmq: "lava-publisher's ZMQ socket", websocket: "lava-publisher's WebSocket" };
const STATES = { connected: "connected", connecting: "connecting", disconnected: "disconnected, reconnecting",
  stopped: "stopped" };
const NO_LABS = [];

/** Is this source a simulated lab's: its own lab's flag with several labs, the page's otherwise. */
export function sourceSimulated(source, labs, simulated) {
  if (!source.lab) return simulated;
  const lab = labs.find((l) => l.name === source.lab);
  return Boolean(lab && lab.simulated);
}

export function sourceWords(source, simulated = false) {
  const kind = simulated ? "the simulated lab" : (KINDS[source.kind] || String(source.kind));
  const state = source.lost && source.state !== "disconnected" ? "lost, reconnecting"
    : STATES[source.state] || String(source.state);
  return `${source.lab ? `lab ${source.lab}: ` : ""}${kind} ${source.name}: ${state}`;
}

/**
 * `labs`: the named labs (state.labs), for each lab's simulated flag. `offline`: the page is not
 * connected: the sources' states are what the server said last, and the note says so (a new
 * user's walk-through: the footer said "connected" under the header's "Offline"). A resync's
 * moment, connected, is not (a review).
 */
export function SourcesNote({ sources, simulated, labs = NO_LABS, offline = false }) {
  if (!Array.isArray(sources) || sources.length === 0) return null;
  return html`<p id="sources-note" class="access-note sources-note" data-offline=${offline ? "true" : "false"}>${offline
    ? "When this page last heard from the dashboard, events came from" : "Events from"}${" "}
    ${sources.map((s, i) => html`${i ? "; " : ""}<span key=${`${s.lab || ""}/${s.name}`} class="source" data-kind=${s.kind}
      data-state=${s.state} data-lab=${s.lab || undefined}>${sourceWords(s, sourceSimulated(s, labs, simulated))}</span>`)}.</p>`;
}
