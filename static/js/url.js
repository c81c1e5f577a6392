/**
 * The view as the URL's query string says it: read it, write it back. Pure: the caller passes
 * `location.search` in and puts the result into `history.replaceState`, so a URL alone
 * reproduces a view (filters, search, layout, theme, wall mode, the open details panel).
 */
import { DEVICE_HEALTHS, FILTER_KEYS, KINDS, OBJECT_KINDS } from "./protocol.js";

/**
 * `view=`: what the page shows. "all" is the desk layout; the others give one panel the page;
 * "charts" is the stored history (it needs no live data, and a wall does not rotate to it).
 */
export const VIEWS = ["all", "devices", "jobs", "workers", "feed", "charts", "alerts", "reports"];
/** The views a wall display cycles through with `rotate=`. */
export const ROTATION = ["devices", "jobs", "workers", "feed"];
/** `group=`: the device board's groups: by device type (default), worker or lab (several labs). */
export const GROUPS = ["type", "worker", "lab"];
/** `sort=`: tiles by name (default) or problems first (see selectors.js `problemRank`). */
export const SORTS = ["name", "problems"];
export const THEMES = ["light", "dark", "auto"];
/** The live feed's kinds (`feed=`) and the objects a details panel shows: the server's (protocol.js). */
export const FEED_KINDS = KINDS;
export const DETAIL_KINDS = OBJECT_KINDS;

/**
 * URL key → server filter key (docs/protocol.md). The server does this filtering, not the page.
 * `lab` (several labs in one dashboard) only when the server serves the `labs` key.
 */
export const URL_FILTERS = [
  ["device_type", "device_types"],
  ["worker", "workers"],
  ["health", "health"],
  ["submitter", "submitters"],
  ["device", "devices"],
  ...(FILTER_KEYS.includes("labs") ? [["lab", "labs"]] : []),
];
/** The URL filters the stored events can be narrowed by (one value each; not health, not lab), as
 * the subscription's: the events-per-minute meter asks the store with them (main.js). */
export const RATE_KEYS = URL_FILTERS.filter(([urlKey]) => urlKey !== "health" && urlKey !== "lab");

// Bounds on what a URL may ask for (the server accepts at most 1,000 values of 200 characters).
const MAX_VALUES = 200;
const MAX_VALUE_CHARS = 200;
const MAX_QUERY_CHARS = 200;
export const ROTATE_MIN_S = 5;
export const ROTATE_MAX_S = 3600;

const TRUE_WORDS = ["1", "true", "yes", "on"];

/** Every value of a repeatable, comma-separated key: trimmed, non-empty, unique, bounded. */
function listOf(params, key) {
  const out = [];
  for (const raw of params.getAll(key)) {
    for (const part of raw.split(",")) {
      const value = part.trim();
      if (value && value.length <= MAX_VALUE_CHARS && !out.includes(value)) out.push(value);
      if (out.length >= MAX_VALUES) return out;
    }
  }
  return out;
}

function oneOf(value, allowed, fallback = null) {
  return allowed.includes(value) ? value : fallback;
}

function parseDetail(text) {
  if (typeof text !== "string") return null;
  const at = text.indexOf(":");
  if (at <= 0) return null;
  const kind = text.slice(0, at);
  const id = text.slice(at + 1);
  if (!DETAIL_KINDS.includes(kind) || !id || id.length > MAX_VALUE_CHARS) return null;
  return { kind, id };
}

/** A query string ("?a=b" or "a=b") → the page's options. Unknown or invalid values are ignored. */
export function parseOptions(search) {
  const params = new URLSearchParams(search || "");
  const filter = {};
  for (const [urlKey, key] of URL_FILTERS) filter[key] = listOf(params, urlKey);
  // A health in any case is LAVA's ("bad" is Bad: an audit's `?health=bad` showed nothing); one
  // LAVA never gives stays, and the filter bar says so.
  filter.health = [...new Set(filter.health.map((value) =>
    DEVICE_HEALTHS.find((known) => known.toLowerCase() === value.toLowerCase()) || value))];
  const rotate = Number.parseInt(params.get("rotate") || "", 10);
  const hc = params.get("health_check");
  return {
    view: oneOf(params.get("view"), VIEWS),
    group: oneOf(params.get("group"), GROUPS, "type"),
    sort: oneOf(params.get("sort"), SORTS, "name"),
    wall: TRUE_WORDS.includes((params.get("wall") || "").toLowerCase()),
    theme: oneOf(params.get("theme"), THEMES),
    rotate: Number.isFinite(rotate) && rotate > 0
      ? Math.min(ROTATE_MAX_S, Math.max(ROTATE_MIN_S, rotate)) : 0,
    q: (params.get("q") || "").trim().slice(0, MAX_QUERY_CHARS),
    filter,
    healthCheck: hc === "yes" ? "only" : hc === "no" ? "exclude" : "any",
    feedKinds: listOf(params, "feed").filter((kind) => FEED_KINDS.includes(kind)),
    detail: parseDetail(params.get("detail")),
  };
}

/** The view shown when the URL names none: the desk layout, or the device board on a wall. */
export function effectiveView(options) {
  return options.view || (options.wall ? "devices" : "all");
}

/** Dark by default on a wall (it glows less in a dim room), light otherwise. */
export function effectiveTheme(options) {
  return options.theme || (options.wall ? "dark" : "light");
}

// Commas and colons are legal in a query string: leaving them readable keeps URLs shareable.
const encode = (value) => encodeURIComponent(value).replace(/%2C/gi, ",").replace(/%3A/gi, ":");

function encodeList(key, values) {
  // A value that itself holds a comma gets its own key=value pair so that it survives the split.
  const plain = values.filter((v) => !v.includes(","));
  const pairs = plain.length ? [`${key}=${plain.map(encode).join(",")}`] : [];
  return pairs.concat(values.filter((v) => v.includes(",")).map((v) => `${key}=${encodeURIComponent(v)}`));
}

/** Options → "?key=value&…" in a stable order, defaults left out ("" when everything is default). */
export function serializeOptions(options) {
  const parts = [];
  if (options.view) parts.push(`view=${options.view}`);
  if (options.group && options.group !== "type") parts.push(`group=${options.group}`);
  if (options.sort && options.sort !== "name") parts.push(`sort=${options.sort}`);
  if (options.wall) parts.push("wall=1");
  if (options.theme) parts.push(`theme=${options.theme}`);
  if (options.rotate) parts.push(`rotate=${options.rotate}`);
  for (const [urlKey, key] of URL_FILTERS) {
    const values = (options.filter && options.filter[key]) || [];
    if (values.length) parts.push(...encodeList(urlKey, values));
  }
  if (options.q) parts.push(`q=${encode(options.q)}`);
  if (options.healthCheck === "only") parts.push("health_check=yes");
  if (options.healthCheck === "exclude") parts.push("health_check=no");
  if (options.feedKinds && options.feedKinds.length) parts.push(`feed=${options.feedKinds.join(",")}`);
  // A key of several labs ("east/qemu-01", labs.js) keeps its slash readable, as commas and colons.
  if (options.detail) parts.push(`detail=${options.detail.kind}:${encode(String(options.detail.id)).replace(/%2F/gi, "/")}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

/** The options with `patch` applied; `patch.filter` is merged key by key. */
export function withOptions(options, patch) {
  const next = { ...options, ...patch };
  if (patch.filter) next.filter = { ...options.filter, ...patch.filter };
  return next;
}

/** True when any server-side filter value or the free text is set. */
export function hasFilters(options) {
  return Boolean(options.q) || options.healthCheck !== "any"
    || Object.values(options.filter).some((values) => values.length > 0);
}

/** The options without any filter or search (layout, theme and wall mode are kept). */
export function clearFilters(options) {
  const filter = {};
  for (const [, key] of URL_FILTERS) filter[key] = [];
  return { ...options, filter, q: "", healthCheck: "any" };
}

/** The next view in a wall's rotation after `view`. */
export function nextInRotation(view) {
  const at = ROTATION.indexOf(view);
  return ROTATION[(at + 1) % ROTATION.length];
}
