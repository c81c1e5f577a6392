/** One group of the device board (a device type, a worker or a lab): a title and its tiles. */
import { useMemo } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { abbreviateGroup } from "./abbreviate.js";
import { DeviceTile } from "./DeviceTile.js";
import { LavaLink } from "./LavaLink.js";
import { memo } from "./memo.js";
import { deviceTypeUrl, workerUrl } from "./links.js";
import { ALERT_HEALTHS } from "./lava.js";
import { formatWait } from "./attention.js";
import { relatedKey } from "./labs.js";
import { noteFits } from "./fit.js";
import { allFit } from "./textwidth.js";
import { useClockValue } from "./clock.js";

/** "7 queued, oldest 25 min": the queue of the group's device type, kept to the minute. */
function QueueNote({ queue, shown = true }) {
  const wait = useClockValue((now) => (queue.oldest == null ? null : formatWait(now - queue.oldest)));
  // Left out whole (for a screen reader only, in the heading's name) where a wall's label cell has
  // no room for it in type of 12 px: never cut, shrunk or laid over the tiles.
  return html`<span class=${`device-group-queue${shown ? "" : " is-left-out"}`} data-queued=${queue.count}
    title="Jobs waiting for a device of this type, and how long the oldest has waited">${queue.count} queued${
    wait ? `, oldest ${wait}` : ""}</span>`;
}

/**
 * "9 devices · 5 running · 1 needs attention · 1 in maintenance": what needs attention as the
 * attention strip says it (Bad, Looping); a device in Maintenance, where a person put it, is said
 * apart (an audit: a group said "1 needs attention" of a Maintenance device the strip left out).
 */
function groupSummary(devices) {
  let running = 0;
  let alerts = 0;
  let maintenance = 0;
  for (const d of devices) {
    if (d.state === "Running") running += 1;
    if (d.health === "Maintenance") maintenance += 1;
    else if (ALERT_HEALTHS.includes(d.health)) alerts += 1;
  }
  return [`${devices.length} device${devices.length === 1 ? "" : "s"}`, `${running} running`,
    alerts ? `${alerts} need${alerts === 1 ? "s" : ""} attention` : "",
    maintenance ? `${maintenance} in maintenance` : ""].filter(Boolean).join(" · ");
}

const UNNAMED = { type: "unknown type", worker: "no worker", lab: "this lab" };

/** Where a group's name links to in its lab's LAVA: the type's or the worker's page, or the lab's home. */
function groupUrl(by, lavaBase, name) {
  if (by === "lab") return lavaBase || null;
  return by === "type" ? deviceTypeUrl(lavaBase, name) : workerUrl(lavaBase, name);
}

/** The longest a queue note gets ("oldest 23 h 59 min"): whether it fits does not change by the minute. */
const longestNote = (queue) => `${queue.count} queued, oldest 23 h 59 min`;

/**
 * `by`: "type" | "worker" | "lab"; `name`: the group's device type, worker or lab ("" when
 * unknown); `lab`: the lab it is one of (several labs; "" otherwise), said in words before its name;
 * `chars`: the hostnames' room on a wall (fit.js; Infinity on the desk), `nameEm` that room in em;
 * `room`: on a wall, a label
 * cell's room (fit.js' labelRoom), null on the desk.
 */
function DeviceGroupView({ by, name, lab = "", devices, jobs, lavaBase, detail, chars, nameEm = 0, queue = null,
  room = null, offline, onOpen }) {
  const href = groupUrl(by, lavaBase, name);
  const title = name || UNNAMED[by] || UNNAMED.type;
  const summary = groupSummary(devices);
  // Shortened hostnames, each keeping the end that tells it apart from the group's others: worked
  // out again only when the names or the room change, not at every change of a device's state.
  // (The names as JSON: any character, a line break too, comes back as it was, so every tile's
  // name is found in the Map.)
  const prefix = by === "type" ? name : null;
  // Names that all fit whole, measured in their type (textwidth.js), are not shortened: fit.js'
  // `chars` counts every letter as wide as a digit.
  const hostnames = Number.isFinite(chars) ? JSON.stringify(devices.map((d) => d.hostname)) : "";
  const short = useMemo(() => {
    if (!hostnames) return null;
    const names = JSON.parse(hostnames);
    return allFit(names, nameEm) ? null : abbreviateGroup(names, prefix, chars);
  }, [hostnames, prefix, chars, nameEm]);
  const labWord = lab && by !== "lab" ? lab : "";
  const queued = queue && queue.count > 0;
  const noteShown = queued && noteFits(`${labWord ? `${labWord} · ` : ""}${title}`, longestNote(queue), room);
  const nameOf = name ? html`<${LavaLink} class="device-group-name" href=${href}>${name}<//>`
    : html`<span class="device-group-name muted">${title}</span>`;
  return html`
    <section class="device-group" data-group=${name} data-lab=${lab || undefined}
        data-device-type=${by === "type" ? name : undefined} data-worker-group=${by === "worker" ? name : undefined}>
      <h3 class="device-group-title" title=${`${labWord ? `${labWord} · ` : ""}${title}: ${summary}${queued ? ` · ${queue.count} queued` : ""}`}>
        ${labWord ? html`<span class="device-group-label"><span class="device-group-lab">${labWord}</span>${" · "}${nameOf}</span>`
          : nameOf}
        <span class="device-group-count">${devices.length}</span>
        ${queued && html`<${QueueNote} queue=${queue} shown=${noteShown} />`}
        <span class="device-group-summary">${summary}</span>
      </h3>
      <ul class="tiles">
        ${devices.map((device) => html`<${DeviceTile} key=${device.hostname} device=${device}
          job=${device.job != null ? jobs.get(relatedKey(device, device.job)) : undefined}
          shortName=${short ? short.get(device.hostname) : undefined} detail=${detail}
          showLab=${Boolean(lab)}
          workerOffline=${Boolean(device.worker && offline && offline.has(relatedKey(device, device.worker)))} onOpen=${onOpen} />`)}
      </ul>
    </section>`;
}

/**
 * Skipped while its devices array (kept identical when unchanged, see groupDevices) and the jobs
 * of its devices are: the jobs Map itself changes with any job anywhere.
 */
function sameGroup(prev, next) {
  for (const key of Object.keys(next)) {
    if (key === "queue") {
      const a = prev.queue;
      const b = next.queue;
      if (!(a === b || (a && b && a.count === b.count && a.oldest === b.oldest))) return false;
    } else if (key !== "jobs" && !Object.is(prev[key], next[key])) return false;
  }
  if (prev.jobs === next.jobs) return true;
  for (const device of next.devices) {
    if (device.job == null) continue;
    const job = relatedKey(device, device.job);
    if (prev.jobs.get(job) !== next.jobs.get(job)) return false;
  }
  return true;
}

export const DeviceGroup = memo(DeviceGroupView, sameGroup);
