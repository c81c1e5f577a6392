/**
 * "Bad since" (or Looping, Maintenance) in a device's panel: when the device entered its current
 * health, from the stored transitions (`health_since` of /api/v1/devices/<hostname>), so a later
 * change of state does not move it and a reconcile does not blank it. Without a store the server
 * answers with the model's `since` instead.
 */
import { useMemo } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { useNow } from "./clock.js";
import { symbolFor, token } from "./lava.js";
import { useRemote } from "./remote.js";
import { formatAge, formatDateTime, parseTime } from "./time.js";
import { withLab } from "./labs.js";

/** `health`: the device's health now (the panel shows this only for an alerting one); `lab`: its lab, if named. */
export function HealthSince({ hostname, lab = "", health }) {
  const now = useNow();
  const urls = useMemo(() => [withLab(`/api/v1/devices/${encodeURIComponent(hostname)}`, lab)], [hostname, lab]);
  const remote = useRemote(urls, { reloadKey: health });
  const body = remote.bodies && remote.bodies[0];
  // An answer about another health (asked before the last change) says nothing of this one.
  const since = body && body.device && body.device.health === health ? body.health_since : null;
  const t = parseTime(since);
  if (t == null) return null;
  return html`
    <p class="detail-since" id="detail-bad-since">
      <span class=${`value-word health-${token(health)}`}>${symbolFor(health)} ${health} since</span>
      ${" "}<time datetime=${new Date(t).toISOString()} title=${since}>${formatDateTime(t)}</time>
      ${" "}<span class="muted">(${formatAge(t, now).replace(/ ago$/, "")})</span></p>`;
}
