/** The page header: title, version, stale marker and the connection indicator. */
import { html } from "/static/vendor/htm/standalone.module.js";
import { ConnectionStatus } from "./ConnectionStatus.js";

export function Header({ version, stale, status, lastChangeAt, onReconnect }) {
  return html`
    <header class="topbar">
      <div class="brand">
        <h1>LAVA Live Dashboard</h1>
        ${version && html`<span class="version">v${version}</span>`}
      </div>
      ${stale && html`<span id="stale-label" class="stale-label"
        title="Not connected: what is shown may be out of date">stale</span>`}
      <${ConnectionStatus} status=${status} lastChangeAt=${lastChangeAt} onReconnect=${onReconnect} />
    </header>`;
}
