/** Every device as a tile, grouped by device type. */
import { html, useMemo } from "/static/vendor/htm/standalone.module.js";
import { DeviceTile } from "./DeviceTile.js";
import { LavaLink } from "./LavaLink.js";
import { Panel } from "./Panel.js";
import { groupDevicesByType } from "./selectors.js";
import { deviceTypeUrl } from "./links.js";
import { ALERT_HEALTHS } from "./lava.js";

function groupSummary(devices) {
  const running = devices.filter((d) => d.state === "Running").length;
  const alerts = devices.filter((d) => ALERT_HEALTHS.includes(d.health)).length;
  return [`${devices.length} device${devices.length === 1 ? "" : "s"}`, `${running} running`,
    alerts ? `${alerts} need${alerts === 1 ? "s" : ""} attention` : ""].filter(Boolean).join(" · ");
}

export function DeviceBoard({ devices, lavaBase }) {
  const groups = useMemo(() => groupDevicesByType(devices), [devices]);
  return html`
    <${Panel} id="devices" title="Devices" count=${devices.size} class="panel-devices">
      ${groups.length === 0 && html`<p class="empty">No devices.</p>`}
      ${groups.map(({ type, devices: list }) => html`
        <section class="device-group" key=${type} data-device-type=${type}>
          <h3 class="device-group-title">
            ${type ? html`<${LavaLink} href=${deviceTypeUrl(lavaBase, type)}>${type}<//>`
              : html`<span class="muted">unknown type</span>`}
            <span class="device-group-summary">${groupSummary(list)}</span>
          </h3>
          <ul class="tiles">
            ${list.map((device) => html`<${DeviceTile} key=${device.hostname} device=${device}
              lavaBase=${lavaBase} />`)}
          </ul>
        </section>`)}
    <//>`;
}
