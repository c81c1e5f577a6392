/** One worker: state and health in words, how long since it changed, and its devices. */
import { html } from "./html.js";
import { Elapsed } from "./Elapsed.js";
import { label, symbolFor, token } from "./lava.js";
import { inLab, labOf, objectKey } from "./labs.js";
import { itemLabel } from "./focus.js";

export const MAX_DEVICE_CHIPS = 16;

/**
 * `hosts`: the hostnames of the worker's devices (sorted; of its own lab); `devices`: the page's
 * devices Map (for each chip's health); `onOpen(kind, key)` opens details. `problems`: chips only
 * for the devices whose health is not Good (a wall: the count says how many it has; the board
 * shows every device; an audit found a small wall's rows of chips showing one worker of four).
 */
export function WorkerRow({ worker, hosts, devices, onOpen, problems = false }) {
  const lab = labOf(worker.lab);
  const listed = problems ? hosts.filter((host) => {
    const device = devices.get(objectKey(lab, host));
    return device && device.health !== "Good";
  }) : hosts;
  const shown = listed.slice(0, MAX_DEVICE_CHIPS);
  return html`
    <tr data-worker=${worker.hostname} data-lab=${lab || undefined} data-state=${worker.state ?? ""} data-health=${worker.health ?? ""}
        data-focus-key=${`worker:${objectKey(lab, worker.hostname)}`} data-focus-label=${itemLabel("worker", worker.hostname, lab)}
        class=${`worker-row state-${token(worker.state)} health-${token(worker.health)}`}>
      <th scope="row">
        <button type="button" class="link-button worker-name" title=${worker.hostname} onClick=${() => onOpen("worker", objectKey(lab, worker.hostname))}
          aria-label=${`${worker.hostname}${inLab(lab)}: ${label(worker.state)}, ${label(worker.health)}. Show details`}>
          ${worker.hostname}</button>
        ${lab && html` <span class="worker-lab">${lab}</span>`}
      </th>
      <td class="worker-state"><span class="symbol" aria-hidden="true">${symbolFor(worker.state)}</span> ${label(worker.state)}</td>
      <td class="worker-health">${label(worker.health)}</td>
      <td class="worker-since"><${Elapsed} from=${worker.since} /></td>
      <td class="worker-devices">
        <span class="worker-device-count">${hosts.length}</span>
        <span class="chips">
          ${shown.map((host) => {
            const device = devices.get(objectKey(lab, host));
            const health = device ? device.health : null;
            return html`<button type="button" key=${host} class=${`chip health-${token(health)}`}
              title=${device ? `${host}: ${label(device.state)}, ${label(health)}` : host}
              onClick=${() => onOpen("device", objectKey(lab, host))}><span class="chip-host">${host}</span>${health && health !== "Good"
                ? html` <span class="chip-health">${symbolFor(health)} ${health}</span>` : ""}</button>`;
          })}
          ${listed.length > shown.length && html`<span class="more">+${listed.length - shown.length} more</span>`}
        </span>
      </td>
    </tr>`;
}
