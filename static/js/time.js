/** Times and durations: parse LAVA's ISO 8601 strings, format durations. Pure; `now` is passed in. */

const HAS_ZONE = /(?:[zZ]|[+-]\d\d:?\d\d)$/;
const LONG_FRACTION = /(\.\d{3})\d+/;

// Parsed times by string: the same few thousand timestamps are sorted and compared on every render.
// Bounded: emptied when full (parsing again is only slower, never different).
const parsed = new Map();
const MAX_PARSED = 10000;

/** ISO 8601 string → epoch milliseconds, or null. A string without a zone means UTC (LAVA 2023.01). */
export function parseTime(value) {
  if (typeof value !== "string" || value === "") return null;
  let ms = parsed.get(value);
  if (ms === undefined) {
    ms = parseUncached(value);
    if (parsed.size >= MAX_PARSED) parsed.clear();
    parsed.set(value, ms);
  }
  return ms;
}

function parseUncached(value) {
  // Some engines refuse more than 3 fractional digits; LAVA sends microseconds.
  let text = value.trim().replace(LONG_FRACTION, "$1");
  if (text.includes("T") && !HAS_ZONE.test(text)) text += "Z";
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

const pad = (n) => String(n).padStart(2, "0");

/** Milliseconds → a short human duration: "42 s", "3 m 12 s", "2 h 05 m", "3 d 4 h". */
export function formatDuration(ms) {
  if (ms == null || Number.isNaN(ms)) return "–";
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${pad(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${pad(m % 60)} m`;
  const d = Math.floor(h / 24);
  return `${d} d ${h % 24} h`;
}

/**
 * Milliseconds → a short duration to the minute, for tiles: "<1m", "3m", "2h05", "3d4h". Thousands
 * of tiles show one: to the minute, each changes (and renders) once a minute, not every second.
 */
export function formatShortDuration(ms) {
  if (ms == null || Number.isNaN(ms)) return "–";
  const m = Math.max(0, Math.floor(ms / 60000));
  if (m < 1) return "<1m";
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${pad(m % 60)}`;
  const d = Math.floor(h / 24);
  return `${d}d${h % 24}h`;
}

/** Duration between two ISO strings (or from one to `now` ms); null when a time is missing. */
export function durationBetween(from, to, now) {
  const start = parseTime(from);
  const end = to == null ? now : parseTime(to);
  if (start == null || end == null) return null;
  return Math.max(0, end - start);
}

/** How long ago `then` (ms) was, as "3 s ago"; "just now" under a second. */
export function formatAge(then, now) {
  if (then == null) return "never";
  const ms = now - then;
  if (ms < 1000) return "just now";
  return `${formatDuration(ms)} ago`;
}

/** Epoch ms → local wall-clock "HH:MM:SS". */
export function formatClock(ms) {
  if (ms == null) return "";
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/**
 * Epoch ms → "2026-11-30 16:40:57": the page's one date-and-time form, 24-hour, in the viewer's
 * time zone (the ISO form goes in tooltips), never the browser locale's "11/30/2026, 4:40:57 PM".
 */
export function formatDateTime(ms) {
  if (ms == null) return "";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatClock(ms)}`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Epoch ms → "27 Nov", in local time or (`utc`) in UTC. */
export function formatDayMonth(ms, utc = false) {
  const d = new Date(ms);
  return utc ? `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}` : `${d.getDate()} ${MONTHS[d.getMonth()]}`;
}

/** A share (0..1) as a percentage that never shows 0% for something that happened: "<1%", "42%". */
export function formatShare(share) {
  if (!(share > 0)) return "0%";
  if (share < 0.01) return "<1%";
  return `${Math.round(share * 100)}%`;
}
