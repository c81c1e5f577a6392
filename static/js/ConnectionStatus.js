/** The always-visible connection indicator: live / reconnecting / offline, and the last change's age. */
import { html } from "./html.js";
import { LastChange } from "./LastChange.js";

const LABELS = { live: "Live", reconnecting: "Reconnecting…", offline: "Offline" };

/**
 * `status`: `{state: "live" | "reconnecting" | "offline", text?, error?}`; `text` overrides the
 * label (e.g. "Connecting…"); `onReconnect` is offered when offline.
 */
export function ConnectionStatus({ status, lastChangeAt, onReconnect }) {
  const state = status.state;
  return html`
    <div id="connection" class=${`connection connection-${state}`} data-state=${state}>
      <span class="connection-dot" aria-hidden="true"></span>
      <span class="connection-label" role="status">${status.text || LABELS[state] || state}</span>
      <${LastChange} at=${lastChangeAt} />
      ${status.error && html`<span class="connection-error" title=${status.error}>${status.error}</span>`}
      ${state === "offline" && onReconnect
        && html`<button type="button" class="reconnect" onClick=${onReconnect}>Reconnect</button>`}
    </div>`;
}
