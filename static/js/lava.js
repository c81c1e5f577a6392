/**
 * LAVA's enumerations and how each is presented. The enumerations themselves are the server's
 * (protocol.js, from dashboard/core/events.py); the groupings and symbols below are the page's
 * presentation of them (tests/test_store_js_browser.py checks they name only values the server has).
 */
import { JOB_HEALTHS } from "./protocol.js";

export {
  DEVICE_HEALTHS, DEVICE_STATES, JOB_HEALTHS, JOB_STATES, WORKER_HEALTHS, WORKER_STATES,
} from "./protocol.js";

/** A finished job's outcomes: every job health but Unknown, in the server's order. */
export const JOB_OUTCOMES = Object.freeze(JOB_HEALTHS.filter((health) => health !== "Unknown"));

/** Job states grouped as the dashboard shows them. */
export const QUEUED_JOB_STATES = ["Submitted", "Scheduling", "Scheduled"];
export const RUNNING_JOB_STATES = ["Running", "Canceling"];

/** Device healths that need a person's attention: their tiles stand out. */
export const ALERT_HEALTHS = ["Bad", "Looping", "Maintenance"];

/**
 * Symbols that go with the words (never colour alone): on small wall tiles the symbol may be all
 * that fits, with the words in the tile's label. All are in DejaVu Sans, Debian's default font.
 */
export const HEALTH_SYMBOLS = {
  Good: "✓", Unknown: "?", Looping: "↻", Bad: "✕", Maintenance: "⚒", Retired: "–",
  Active: "✓", Complete: "✓", Incomplete: "✕", Canceled: "⊘",
};
export const STATE_SYMBOLS = {
  Idle: "○", Reserved: "◔", Running: "▶", Online: "●", Offline: "○",
  Submitted: "…", Scheduling: "…", Scheduled: "◔", Canceling: "⊘", Finished: "■",
};

/**
 * Shorter words for a medium wall tile, whose status line holds about ten letters beside its
 * symbols: "Maintenance" never fitted there, and left the tile a symbol and a tint. The tile's
 * label and tooltip keep the whole word.
 */
const SHORT_LABELS = { Maintenance: "Maint." };

/** The short word for a value where there is one, else its word (own keys only: a health named
 * "constructor" is a word, not the object's function). */
export const shortLabel = (value) => (Object.hasOwn(SHORT_LABELS, value) ? SHORT_LABELS[value] : label(value));

/** A device whose worker is Offline (a wall's medium and compact tiles; never a device state's
 * symbol, though a job's Canceling and Canceled share it). */
export const WORKER_OFFLINE_SYMBOL = "⊘";

/** The symbol for a health or state value ("" when there is none). */
export const symbolFor = (value) => HEALTH_SYMBOLS[value] || STATE_SYMBOLS[value] || "";

/** A value → a CSS-safe token used in class names ("Maintenance" → "maintenance", null → "none"). */
export function token(value) {
  if (value == null || value === "") return "none";
  return String(value).toLowerCase().replace(/[^a-z0-9]+/g, "-");
}

/** Text for a value that may be missing. */
export function label(value) {
  return value == null || value === "" ? "unknown" : String(value);
}

/**
 * What a tile too small for words shows of a device, and that in words: [symbol, word]. The health
 * when it is not Good, else the worker-offline symbol (its worker is Offline), else the state
 * (DeviceTile's compact tile, and the wall's key to it: DeviceBoard.symbolKey).
 */
export function compactStatus(state, health, workerOffline) {
  if (health !== "Good") return [symbolFor(health) || "?", label(health)];
  if (workerOffline) return [WORKER_OFFLINE_SYMBOL, "worker offline"];
  return [symbolFor(state) || "?", label(state)];
}
