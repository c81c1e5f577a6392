/** Links to the LAVA web UI. Pure; every path segment taken from LAVA is URL-encoded. */

/** The configured LAVA URL without trailing slashes, or "" if unset or not http(s). */
export function lavaBase(lavaUrl) {
  if (typeof lavaUrl !== "string" || lavaUrl.trim() === "") return "";
  let url;
  try {
    url = new URL(lavaUrl.trim());
  } catch {
    return "";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "";
  return url.href.replace(/\/+$/, "");
}

function page(base, path, id) {
  if (!base || id == null || id === "") return null;
  return `${base}/scheduler/${path}/${encodeURIComponent(String(id))}`;
}

/** `<lava>/scheduler/device/<hostname>`, or null without a LAVA URL. */
export const deviceUrl = (base, hostname) => page(base, "device", hostname);
/** `<lava>/scheduler/job/<id>`, or null without a LAVA URL. */
export const jobUrl = (base, id) => page(base, "job", id);
/** `<lava>/scheduler/worker/<hostname>`, or null without a LAVA URL. */
export const workerUrl = (base, hostname) => page(base, "worker", hostname);
/** `<lava>/scheduler/device_type/<name>`, or null without a LAVA URL. */
export const deviceTypeUrl = (base, name) => page(base, "device_type", name);
