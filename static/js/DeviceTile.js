/**
 * One device: hostname, state and health in words and symbols as well as colour (the smallest wall
 * tiles keep the symbols; the words stay in the tile's label and tooltip), the current job
 * with its elapsed time, and how long the device has been in its state. The whole tile is one
 * button that opens the details panel (keyboard included). It holds no positioned element: with
 * thousands of tiles, each one would be a paint layer of its own.
 */
import { html } from "./html.js";
import { Elapsed } from "./Elapsed.js";
import { useFlash } from "./flash.js";
import { memo } from "./memo.js";
import { ALERT_HEALTHS, WORKER_OFFLINE_SYMBOL, compactStatus, label, shortLabel, symbolFor, token } from "./lava.js";
import { inLab, labOf, objectKey } from "./labs.js";
import { itemLabel } from "./focus.js";
import { statusless, unnamed } from "./fit.js";

/** What the tile says, in one sentence: its tooltip and its button's accessible name ("health
 * Unknown", not a bare "Unknown" after the state). */
function summary(device, workerOffline) {
  const job = device.job != null ? `, job #${device.job}` : "";
  const worker = device.worker ? `, on ${device.worker}${workerOffline ? " (worker offline)" : ""}` : "";
  return `${device.hostname}${inLab(labOf(device.lab))}: ${label(device.state)}, health ${label(device.health)}${job}${worker}`;
}

/**
 * `job`: the device's current job when the page has it (for its start time); `detail`: "full" |
 * "medium" | "compact" | "name" | "bare" | "blank", chosen by the wall layout (fit.js); `shortName`: the hostname as its group
 * shortened it to the layout's room (abbreviate.js, unique within the group; none: the hostname
 * fits whole); `showLab`: several labs, so a full tile names its lab in its foot (smaller ones
 * leave it to their group's title; every tile's label and tooltip say it).
 */
function DeviceTileView({ device, job, detail = "full", shortName, workerOffline = false, showLab = false, onOpen }) {
  const { hostname, state, health } = device;
  const lab = labOf(device.lab);
  // What a person sees change (plus the event time): a resync that changes nothing flashes nothing.
  const flash = useFlash(`${state}|${health}|${device.job}|${device.worker}|${device.updated}`);
  const alert = ALERT_HEALTHS.includes(health);
  const cls = ["tile", `health-${token(health)}`, `state-${token(state)}`,
    alert ? "tile-alert" : "", workerOffline ? "tile-worker-offline" : "", flash ? "tile-flash" : ""].join(" ").replace(/ +/g, " ").trim();
  const name = shortName ?? hostname;
  // The smallest tiles (fit.js): "name" drops the symbol, "bare" the hostname (never one or two
  // misleading characters of it), "blank" both; the words stay in the label and tooltip.
  const named = !unnamed(detail);
  // A medium tile has room for one word, a compact one for one symbol: the health when it is not
  // Good, else (worker offline) the offline symbol, else the state.
  const wordy = detail === "full";
  const good = health === "Good";
  // A medium tile says its state in words unless an alert's health takes the room. A health that
  // is neither Good nor an alert (Unknown, Retired) is one piece, symbol and word, never a lone "?"
  // (an audit: "▶ ?" said nothing); it comes first and the state gives way when room is short (an
  // audit: "◔ Reserved" said Unknown by a grey bar alone; a later one found a desk tile of 167 px,
  // which put it after the state, saying "◔ Reserved" and dropping "? Unknown").
  const stateWord = wordy || !alert;
  const healthPiece = !alert && !good;
  const text = summary(device, workerOffline);
  // The job's own start time when known; else the device's, which turned Running with it.
  const jobStart = (job && job.start_time) || (state === "Running" ? device.since : null);
  // A medium tile's line: the health first (an alert's, by its order), then the worker offline as
  // a symbol and a word, each dropped whole when it does not fit; a full tile says it in its foot.
  const offlineMark = workerOffline && detail === "medium" ? html`<span class="tile-offline">${WORKER_OFFLINE_SYMBOL}</span>
          <span class="tile-offline tile-offline-word">offline</span>` : "";
  const tileLab = showLab && lab ? html`<span class="tile-lab" aria-hidden="true">${lab}</span>` : "";
  return html`
    <li class=${cls} data-device=${hostname} data-lab=${lab || undefined} data-state=${state ?? ""} data-health=${health ?? ""} title=${text}
        data-focus-key=${`device:${objectKey(lab, hostname)}`} data-focus-label=${itemLabel("device", hostname, lab)}>
      <button type="button" class="tile-open" aria-label=${`${text}. Show details`}
        onClick=${() => onOpen("device", objectKey(lab, hostname))}>
      ${named && html`<span class="tile-host"><span class="tile-host-name">${name}</span></span>`}
      ${statusless(detail) ? (detail === "compact" || detail === "bare") && html`
        <span class="tile-symbol" aria-hidden="true">${compactStatus(state, health, workerOffline)[0]}</span>`
      : html`
        <span class="tile-status" aria-hidden="true">
          ${offlineMark}
          <span class="tile-state"><span class="symbol">${symbolFor(state)}</span>${stateWord ? ` ${label(state)}` : ""}</span>
          ${healthPiece ? html`<span class="tile-health tile-health-word tile-health-first">${symbolFor(health) ? `${symbolFor(health)} ` : ""}${
            wordy ? label(health) : shortLabel(health)}</span>` : html`<span class="tile-health symbol">${symbolFor(health)}</span>
          ${(wordy || !good) && html`<span class="tile-health tile-health-word">${wordy ? label(health) : shortLabel(health)}</span>`}`}
        </span>`}
      ${workerOffline && detail === "full" ? html`<span class="tile-foot tile-offline">worker offline${tileLab}</span>`
        : detail === "full" && html`
        <span class="tile-foot">
          ${device.job != null
            ? html`<span class="tile-job">job #${device.job}${jobStart && html` · <${Elapsed} short from=${jobStart}
                title=${`job #${device.job} running for this long`} />`}</span>`
            : html`<${Elapsed} class="tile-since" short prefix="for " from=${device.since}
                title=${`${label(state)} and ${label(health)} for this long`} />`}${tileLab}
        </span>`}
      </button>
    </li>`;
}

/** Re-renders only when this device, its job or the layout changes. */
export const DeviceTile = memo(DeviceTileView);
