/**
 * Where the live events come from, in words: each source's kind (lava-publisher's ZMQ socket or its
 * WebSocket) and state. `sources`: the meta's [{name, kind, state, lost}] (names never hold
 * credentials; `lost`: it was connected and is not now, the header says so until it is again).
 */
import { html } from "./html.js";

const KINDS = { zmq: "lava-publisher's ZMQ socket", websocket: "lava-publisher's WebSocket" };
const STATES = { connected: "connected", connecting: "connecting", disconnected: "disconnected, reconnecting",
  stopped: "stopped" };

export function sourceWords(source, simulated = false) {
  const kind = simulated ? "the simulated lab" : (KINDS[source.kind] || String(source.kind));
  const state = source.lost && source.state !== "disconnected" ? "lost, reconnecting"
    : STATES[source.state] || String(source.state);
  return `${kind} ${source.name}: ${state}`;
}

export function SourcesNote({ sources, simulated }) {
  if (!Array.isArray(sources) || sources.length === 0) return null;
  return html`<p id="sources-note" class="access-note sources-note">Events from${" "}
    ${sources.map((s, i) => html`${i ? "; " : ""}<span key=${s.name} class="source" data-kind=${s.kind}
      data-state=${s.state}>${sourceWords(s, simulated)}</span>`)}.</p>`;
}
