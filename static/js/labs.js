/**
 * Several labs in one dashboard (docs/protocol.md): the key of every object, the labs the server
 * watches, each lab's LAVA address and whether its events flow. Pure.
 *
 * Ids are unique only within a lab: device `qemu-01` of lab `east` is not `qemu-01` of `west`, and
 * job 42 of east is not job 42 of west. So every Map of the page (store.js), every selection and
 * every relation between objects (a device's job, a job's device, a worker's devices: always
 * within one lab) goes through `objectKey`. A dashboard of one unnamed lab has no `lab` on its
 * objects, and its keys are the ids as they always were.
 */
import { lavaBase } from "./links.js";
import { parseTime } from "./time.js";

/** Labs kept from the server's meta (it allows 32). */
export const MAX_LABS = 64;
const MAX_NAME_CHARS = 64;

/** The field that names each kind of object within its lab. */
export const ID_FIELDS = Object.freeze({ device: "hostname", job: "id", worker: "hostname", event: "uuid" });

/** A lab's name as the page uses it: a short string, or "" (the unnamed lab). */
export function labOf(value) {
  return typeof value === "string" && value.length <= MAX_NAME_CHARS ? value : "";
}

/** The page's key of an object: "east/qemu-01" in a named lab, the id itself ("qemu-01", "42") otherwise. */
export const objectKey = (lab, id) => (lab ? `${lab}/${id}` : String(id));

/** The key of an object of `kind` from the object itself (null when it has no id). */
export function keyOf(kind, obj) {
  const id = obj ? obj[ID_FIELDS[kind]] : null;
  return id == null ? null : objectKey(labOf(obj.lab), id);
}

/** Related objects are in the same lab: the key of `id` (a device's job, a job's device, ...) next to `obj`. */
export const relatedKey = (obj, id) => (id == null || id === "" ? null : objectKey(labOf(obj && obj.lab), id));

/**
 * A key back to `{lab, id}`, given the names of the labs: only a known lab's name before the first
 * "/" is a lab (a hostname of the unnamed lab may hold a "/" of its own).
 */
export function splitKey(key, names) {
  const text = String(key);
  const at = text.indexOf("/");
  if (at > 0 && names && names.includes(text.slice(0, at))) return { lab: text.slice(0, at), id: text.slice(at + 1) };
  return { lab: "", id: text };
}

/** A lab's LAVA API state as its reconciler tells it (`{state, error, since}`), bounded, or null;
 * also the meta's `lava` and `cluster` (store.js mergeMeta). */
export function lavaOf(value) {
  if (!value || typeof value !== "object") return null;
  return { state: typeof value.state === "string" ? value.state.slice(0, 40) : null,
    error: typeof value.error === "string" ? value.error.slice(0, 500) : null,
    since: typeof value.since === "string" ? value.since.slice(0, 40) : null };
}

/**
 * The server's `meta.labs` → `[{name, lava_url, simulated, lava}]`, bounded (`lava`: the lab's
 * LAVA API state, or null); `current` when `incoming` is not a list, or when nothing changed (so
 * that what depends on it keeps its identity).
 */
export function labsOf(incoming, current = []) {
  if (!Array.isArray(incoming)) return current;
  const seen = new Set();
  const out = [];
  for (const lab of incoming) {
    if (out.length >= MAX_LABS) break;
    const name = lab && typeof lab === "object" ? labOf(lab.name) : "";
    if (!name || seen.has(name)) continue;
    seen.add(name);
    out.push({ name, lava_url: typeof lab.lava_url === "string" ? lab.lava_url.slice(0, 2000) : "",
      simulated: lab.simulated === true, lava: lavaOf(lab.lava) });
  }
  const sameLava = (a, b) => a === b || (a && b && a.state === b.state && a.error === b.error && a.since === b.since);
  const same = out.length === current.length && out.every((lab, i) => lab.name === current[i].name
    && lab.lava_url === current[i].lava_url && lab.simulated === current[i].simulated
    && sameLava(lab.lava, current[i].lava));
  return same ? current : out;
}

/** Each lab's LAVA base URL: Map lab name → base ("" for the unnamed lab's, from `meta.lava_url`). */
export function lavaBases(lavaUrl, labs) {
  const out = new Map([["", lavaBase(lavaUrl)]]);
  for (const lab of labs) out.set(lab.name, lavaBase(lab.lava_url));
  return out;
}

/** The LAVA base of an object's lab ("" when that lab has no LAVA URL, or is not known). */
export const baseFor = (bases, lab) => (bases && bases.get(labOf(lab))) || "";

/** An object's lab in words, for labels and tooltips: " in lab east", or "" for the unnamed lab. */
export const inLab = (lab) => (lab ? ` in lab ${lab}` : "");

/** A REST URL of one object, asked with its lab when it has one (`?lab=east` or `&lab=east`). */
export function withLab(url, lab) {
  return lab ? `${url}${url.includes("?") ? "&" : "?"}lab=${encodeURIComponent(lab)}` : url;
}

/** A source still connecting after this long cannot reach its publisher: the page says so. */
export const CONNECT_GRACE_MS = 30 * 1000;

// Why a source is not connected (the meta's `problem`: health.SourceStatus), in words.
const PROBLEMS = {
  tls: "TLS failed", connect_refused: "connection refused", dns: "host name not found",
  connect_timeout: "no answer", no_answer: "no answer", timeout: "no answer", unreachable: "unreachable",
  refused: "LAVA refused the user or token", status: "LAVA answered with an error, not a WebSocket",
  redirect: "LAVA answered with a redirect", too_large: "an answer too large", closed: "connection closed",
  bad_answer: "not a WebSocket's answer", oversized: "a message too large", handshake: "handshake failed",
  internal: "internal error",
};

/** Why a source is not connected, in words ("" when it does not say). */
export function problemWords(source) {
  const kind = source && typeof source.problem === "string" ? source.problem : "";
  if (!kind) return "";
  return PROBLEMS[kind] || (kind.startsWith("proxy_") ? "the proxy failed" : kind.replace(/_/g, " "));
}

/** Whether a source counts as down at `now` (epoch ms): lost, disconnected or stopped, or still
 * connecting CONNECT_GRACE_MS after it began trying (an audit: a lab whose TLS was refused said
 * "connecting" for ever). */
export function sourceDown(source, now) {
  if (source.lost || source.state === "disconnected" || source.state === "stopped") return true;
  const since = parseTime(source.since);
  return source.state === "connecting" && since != null && now - since >= CONNECT_GRACE_MS;
}

/**
 * Whether a lab's events flow, from the sources of `meta.sources` that name it: "down" (a source
 * lost, disconnected or stopped, or connecting for too long: sourceDown), "connecting", "live", or
 * "unknown" (no source named it).
 */
export function labState(lab, sources, now) {
  const own = (Array.isArray(sources) ? sources : []).filter((s) => s.lab === lab);
  if (own.some((s) => sourceDown(s, now))) return "down";
  if (own.some((s) => s.state === "connecting")) return "connecting";
  return own.length ? "live" : "unknown";
}

/** Why a lab's events do not flow, in words: its first down source's problem ("" if none says). */
export function labProblem(lab, sources, now) {
  const own = (Array.isArray(sources) ? sources : []).filter((s) => s.lab === lab && sourceDown(s, now));
  return own.map(problemWords).find(Boolean) || "";
}
