/** One device: hostname, state and health in words and colour, current job, time in state. */
import { html } from "/static/vendor/htm/standalone.module.js";
import { Elapsed } from "./Elapsed.js";
import { LavaLink } from "./LavaLink.js";
import { useFlash } from "./flash.js";
import { memo } from "./memo.js";
import { deviceUrl, jobUrl } from "./links.js";
import { ALERT_HEALTHS, label, token } from "./lava.js";

function DeviceTileView({ device, lavaBase }) {
  const { hostname, state, health, job } = device;
  const flash = useFlash(device.updated);
  const alert = ALERT_HEALTHS.includes(health);
  const cls = ["tile", `health-${token(health)}`, `state-${token(state)}`,
    alert ? "tile-alert" : "", flash ? "tile-flash" : ""].join(" ").trim();
  return html`
    <li class=${cls} data-device=${hostname} data-state=${state ?? ""} data-health=${health ?? ""}
        title=${`${hostname}: ${label(state)}, ${label(health)}${device.worker ? ` on ${device.worker}` : ""}`}>
      <${LavaLink} class="tile-host" href=${deviceUrl(lavaBase, hostname)}>${hostname}<//>
      <div class="tile-status">
        <span class="tile-state">${label(state)}</span>
        <span class="tile-health">${alert ? "⚠ " : ""}${label(health)}</span>
      </div>
      <div class="tile-foot">
        ${job != null
          ? html`<${LavaLink} class="tile-job" href=${jobUrl(lavaBase, job)}>job #${job}<//>`
          : html`<span class="tile-job muted">no job</span>`}
        <${Elapsed} class="tile-since" from=${device.since} />
      </div>
    </li>`;
}

/** Re-renders only when this device (or the LAVA URL) changes. */
export const DeviceTile = memo(DeviceTileView);
