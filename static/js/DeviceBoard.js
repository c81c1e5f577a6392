/**
 * Every device as a tile, grouped by device type, by worker or (several labs) by lab. With several
 * labs a type's or a worker's group is one lab's, and says which. On a wall (`fit`) the tiles
 * shrink so that all of them fit the panel without scrolling, however many match (fit.js).
 */
import { useLayoutEffect, useMemo, useRef } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { DeviceGroup } from "./DeviceGroup.js";
import { Panel } from "./Panel.js";
import { Toggle } from "./Toggle.js";
import { useBoxSize } from "./boxsize.js";
import { fitTiles, labelRoom, unnamed } from "./fit.js";
import { groupDevices, problemsFirst } from "./selectors.js";
import { queueByType } from "./queue.js";
import { baseFor, relatedKey } from "./labs.js";
import { compactStatus } from "./lava.js";

const GROUP_CHOICES = [["type", "By type"], ["worker", "By worker"]];
const LAB_GROUP_CHOICES = [...GROUP_CHOICES, ["lab", "By lab"]];
const SORT_CHOICES = [["name", "By name"], ["problems", "Problems first"]];
const NONE = new Set();
const NONE_LABS = [];

/**
 * `offline`: the keys of Offline workers (a Set, the same while they do not change);
 * `sort`: "name" | "problems"; `onSort`, `onGroup`: the desk's switches (none on a wall);
 * `lavaBases`: each lab's LAVA base (labs.js); `labs`: the named labs (empty for one unnamed lab).
 */
export function DeviceBoard({ devices, jobs, group, sort = "name", offline = NONE, fit = false, lavaBases,
  labs = NONE_LABS, onOpen, onGroup, onSort }) {
  const cache = useRef(null);
  const byName = useMemo(() => {
    const result = groupDevices(devices, group, cache.current);
    cache.current = result.cache;
    return result.groups;
  }, [devices, group]);
  const groups = useMemo(() => (sort === "problems" ? problemsFirst(byName, offline) : byName),
    [byName, sort, offline]);
  const queues = useMemo(() => (group === "type" ? queueByType(jobs) : null), [jobs, group]);
  const [box, boxRef] = useBoxSize(fit);
  const sizes = groups.map((g) => g.devices.length).join(",");
  // The longest group name (with its lab's): a label cell that cannot hold it on two lines takes two cells.
  const longest = groups.reduce((n, g) => Math.max(n, String(g.name).length
    + (g.lab && group !== "lab" ? g.lab.length + 3 : 0)), 0);
  // The key to the symbols (below) takes a line above the tiles. Whether it shows is decided from
  // the room there is without it, which its showing does not change: a review found the key's line
  // could push the tiles from symbols to names, which hid the key, which gave the room back, and
  // so on every frame. `keyed`: [shown in the last render, its height (measured; 0: not yet)].
  const keyed = useRef([false, 0]);
  const layout = useMemo(() => {
    if (!(fit && box && sizes)) return null;
    const counts = sizes.split(",").map(Number);
    // Type that reads from across the room at this screen's size (the wall's 1.667 vmin, and a bit).
    const comfortable = 0.0185 * Math.min(window.innerWidth, window.innerHeight);
    const fitIn = (height) => {
      const one = fitTiles(counts, box.width, height, { comfortable });
      return one && longest > 2 * Math.max(1, one.chars - 1)
        ? fitTiles(counts, box.width, height, { labelCells: 2, comfortable }) || one : one;
    };
    const [shown, measured] = keyed.current;
    const line = measured || keyLineEstimate(boxRef.current);
    const room = box.height + (shown ? line : 0); // the tiles' room without the key
    const plain = fitIn(room);
    if (!plain || !SYMBOLS_ONLY.includes(plain.detail)) return plain && { ...plain, withKey: false };
    const withKey = fitIn(room - line);
    return withKey && SYMBOLS_ONLY.includes(withKey.detail) ? { ...withKey, withKey: true } : { ...plain, withKey: false };
  }, [fit, box, sizes, longest]);
  // A label cell's room, for the queue note (shown only when it fits whole: DeviceGroup).
  const room = useMemo(() => labelRoom(layout), [layout]);
  const style = layout ? {
    "--fit-columns": String(layout.columns),
    "--fit-row": `${Math.floor(layout.tileHeight)}px`,
    "--fit-gap": `${layout.gap}px`,
    "--fit-font": `${layout.fontPx}px`,
    "--fit-label-cells": String(layout.labelCells || 1),
    // A group name too long for even two cells (a 60-character device type) ends with an
    // ellipsis on the cell's last line rather than running out of it (the whole name is its tooltip).
    "--fit-label-lines": String(room ? room.lines : 2),
  } : undefined;
  const detail = layout ? layout.detail : "full";
  // (Tiles that show no hostname need none shortened.)
  const chars = layout && layout.chars ? layout.chars : Infinity;
  // Tiles too small to name their device (fit.js' "bare" and "blank"): the board says so once,
  // in words, inside its box (the tiles are fitted to the room the note leaves).
  const note = layout && unnamed(layout.detail) ? html`<p class="fit-note">Too many devices to name on this screen:
    filter by device type or lab, or use a larger screen.</p>` : "";
  // Tiles that show a symbol without its word (fit.js' "compact" and "bare"): the board says once
  // what each symbol it shows means, in words (a wall audit: at 800 px and below a tile was a
  // symbol and a colour alone). Its own line above the tiles, which are fitted to what it leaves.
  const symbolsOnly = Boolean(layout && layout.withKey);
  const key = useMemo(() => (symbolsOnly ? symbolKey(devices, offline) : null), [symbolsOnly, devices, offline]);
  const keyRef = useRef(null);
  useLayoutEffect(() => {
    const element = keyRef.current;
    const height = element ? element.getBoundingClientRect().height
      + (parseFloat(getComputedStyle(element).marginBottom) || 0) : keyed.current[1];
    keyed.current = [Boolean(element), height];
  });
  const keyLine = key && key.length > 0 ? html`<p class="fit-key" aria-hidden="true" ref=${keyRef}>
    ${key.map(([symbol, words]) => html`<span class="fit-key-item" key=${symbol}><span class="symbol">${symbol}</span> ${words}</span>`)}</p>` : "";
  const controls = onGroup && html`<${Toggle} label="Group devices" value=${group}
    choices=${labs.length || group === "lab" ? LAB_GROUP_CHOICES : GROUP_CHOICES}
    onChange=${onGroup} />${onSort && html`<${Toggle} label="Order devices" value=${sort} choices=${SORT_CHOICES}
    onChange=${onSort} />`}`;
  const empty = html`<p class="empty">No devices match.</p>`;
  const body = html`
    <div class=${`device-groups${layout ? ` is-fit flow-${layout.flow}` : ""}`} style=${style}
        data-detail=${detail} data-group-by=${group} data-sort=${sort}>
      ${groups.map(({ key, lab, name, devices: list }) => html`<${DeviceGroup} key=${key} by=${group} name=${name}
        lab=${lab} devices=${list} jobs=${jobs} lavaBase=${baseFor(lavaBases, lab)} detail=${detail} chars=${chars}
        nameEm=${layout && layout.nameEm ? layout.nameEm : 0}
        queue=${queues ? queues.get(key) || null : null} room=${room} offline=${offline} onOpen=${onOpen} />`)}
    </div>`;
  return html`
    <${Panel} id="devices" title="Devices" count=${devices.size} class="panel-devices" controls=${controls}>
      ${fit ? html`<div class="fit-box">${note}${keyLine}<div class="fit-area" ref=${boxRef}>${groups.length === 0 ? empty : body}</div></div>`
        : groups.length === 0 ? empty : body}
    <//>`;
}

/** Levels whose tiles show a symbol without its word (fit.js): the board shows the key to them. */
const SYMBOLS_ONLY = ["compact", "bare"];

/** The key's line height before it was ever shown: its type (0.85 of the board's) at 1.3, and 4 px. */
function keyLineEstimate(area) {
  const font = area ? parseFloat(getComputedStyle(area).fontSize) || 16 : 16;
  return Math.ceil(0.85 * font * 1.3 + 4);
}

/** The key's order, problems first: a symbol that comes or goes does not move the others. */
const KEY_ORDER = ["bad", "looping", "maintenance", "unknown", "retired", "worker offline", "running",
  "reserved", "idle", "offline"];

/**
 * [symbol, its words] for each symbol a compact tile shows (lava.js compactStatus), problems first (KEY_ORDER); a symbol two
 * values share (Idle, Offline) names both, and a word is said once whatever its case.
 */
export function symbolKey(devices, offline) {
  const words = new Map();
  for (const device of devices.values()) {
    const workerOffline = Boolean(device.worker && offline && offline.has(relatedKey(device, device.worker)));
    const [symbol, word] = compactStatus(device.state, device.health, workerOffline);
    if (!words.has(symbol)) words.set(symbol, new Map());
    const said = words.get(symbol);
    if (!said.has(word.toLowerCase())) said.set(word.toLowerCase(), word);
  }
  const rank = (said) => Math.min(...[...said.keys()].map((w) => (KEY_ORDER.includes(w) ? KEY_ORDER.indexOf(w) : KEY_ORDER.length)));
  return [...words].sort((a, b) => rank(a[1]) - rank(b[1]))
    .map(([symbol, said]) => [symbol, [...said.values()].join(" or ")]);
}
