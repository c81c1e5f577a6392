/**
 * Counters: devices by health and by state; jobs queued, running and finished in the last hour
 * with their outcomes; workers online and offline; events per minute. Counts cover what the page
 * shows (its filters and search).
 */
import { useLayoutEffect, useMemo, useRef } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { Counter } from "./Counter.js";
import { useNow } from "./clock.js";
import { useViewportSize } from "./boxsize.js";
import { HEALTH_SEVERITY, deviceCounts, finishedLastHour, jobCounts, workerCounts } from "./selectors.js";
import { eventsPerMinute } from "./rate.js";
import { ALERT_HEALTHS, JOB_OUTCOMES } from "./lava.js";

// Which counts are alerts (Counter's `alert`: shown as such when not zero).
const deviceAlert = (health) => ALERT_HEALTHS.includes(health);
const workerAlert = (state) => state === "Offline";
const outcomeAlert = (outcome) => outcome === "Incomplete";

// The problems among devices' healths, worst first (selectors.js says why this order): what is
// left when the row runs out of room should be the worst. Other keys keep their order.
const rankOf = (key) => {
  const rank = HEALTH_SEVERITY.indexOf(key);
  return rank < 0 ? HEALTH_SEVERITY.length : rank;
};

/**
 * A wall's row holds what fits and hides the rest whole: there the [key, n] entries that are
 * alerts (`isAlert(key)`, n not zero) come first, worst first (HEALTH_SEVERITY; the others
 * keep their order), so that a narrow screen hides a good count, never a bad one, and a lesser
 * problem before a worse one. Elsewhere the order stays the same whatever the counts. (Counters,
 * not devices: selectors.js' problemsFirst orders the board's groups.)
 */
function problemCountsFirst(entries, isAlert, compact) {
  if (!compact) return entries;
  const problem = ([key, n]) => n > 0 && isAlert(key);
  // Array.prototype.sort is stable: equal ranks keep their order.
  const problems = entries.filter(problem).sort(([a], [b]) => rankOf(a) - rankOf(b));
  return [...problems, ...entries.filter((e) => !problem(e))];
}

/** `limit`: finished jobs the page keeps; `compact`: the wall's one-line version (zeros hidden). */
export function Overview({ devices, jobs, workers, rate, limit, compact = false }) {
  const now = useNow();
  const d = useMemo(() => deviceCounts(devices), [devices]);
  const j = useMemo(() => jobCounts(jobs), [jobs]);
  const w = useMemo(() => workerCounts(workers), [workers]);
  const hour = finishedLastHour(jobs, now);
  // With `limit` finished jobs kept, an older hour may be cut short: say so rather than guess.
  const partial = j.finished >= limit && hour.since != null && hour.since > now - 3600 * 1000;
  const perMinute = eventsPerMinute(rate, now);
  const outcomes = JOB_OUTCOMES.map((outcome) => [outcome, hour[outcome]]);
  const keep = ([, n]) => !compact || n > 0;
  const shownOutcomes = problemCountsFirst(outcomes.filter(keep), outcomeAlert, compact);
  // On a wall a problem outcome ("22 incomplete") comes before the long "finished in the last hour",
  // which a narrow card hides first (an audit: it hid the incomplete count and kept the neutral one).
  const lead = compact ? shownOutcomes.filter(([key, n]) => n > 0 && outcomeAlert(key)) : [];
  const outcomeCounter = ([key, n]) => html`<${Counter} key=${key} name=${`jobs-hour-${key}`} kind="health" tone=${key}
    word=${key.toLowerCase()} value=${n} alert=${outcomeAlert(key)} />`;
  // A wall's rows hold what fits whole: a counter wider than what is left of its row (even the
  // first, "40 finished in the last hour" in a narrow card) is marked and goes to the hidden
  // second row, never cut ("2 Offlin"); one after it that fits still shows. Measured again (a few dozen boxes;
  // the mark is an attribute Preact leaves alone) when what the cards say changes, or the
  // screen's size: the wall's type and columns follow it.
  const viewport = useViewportSize(compact);
  const ref = useRef(null);
  useLayoutEffect(() => {
    if (compact && ref.current) markCut(ref.current);
  }, [compact, viewport, d, j, w, workers.size, hour.total, partial, outcomes.join(), perMinute]);
  return html`
    <section class=${`overview${compact ? " overview-compact" : ""}`} aria-label="Overview" ref=${ref}>
      <div class="overview-card overview-devices">
        <h2 class="overview-title">Devices <span class="overview-total" data-count=${d.total}>${d.total}</span></h2>
        <ul class="counters" aria-label="Devices by health">
          ${problemCountsFirst(d.byHealth.filter(keep), deviceAlert, compact).map(([health, n]) => html`<${Counter}
            key=${health} name=${`device-health-${health}`} kind="health" word=${health} value=${n}
            alert=${deviceAlert(health)} />`)}
        </ul>
        <ul class="counters" aria-label="Devices by state">
          ${d.byState.filter(keep).map(([state, n]) => html`<${Counter} key=${state} name=${`device-state-${state}`}
            kind="state" word=${state} value=${n} />`)}
        </ul>
      </div>
      <div class="overview-card overview-jobs">
        <h2 class="overview-title">Jobs</h2>
        <ul class="counters" aria-label="Jobs now">
          <${Counter} name="jobs-queued" kind="jobs" word="queued" value=${j.queued} />
          <${Counter} name="jobs-running" kind="jobs" word="running" value=${j.running} />
        </ul>
        <ul class="counters" aria-label="Jobs finished in the last hour">
          ${lead.map(outcomeCounter)}
          <${Counter} name="jobs-finished-hour" kind="jobs" word="finished in the last hour" tone="finished"
            value=${hour.total} display=${partial ? `${hour.total}+` : undefined}
            title=${partial ? `Counted from the last ${limit} finished jobs this page keeps` : "Jobs that ended in the last 60 minutes"} />
          ${shownOutcomes.filter((entry) => !lead.includes(entry)).map(outcomeCounter)}
        </ul>
      </div>
      <div class="overview-card overview-workers">
        <h2 class="overview-title">Workers <span class="overview-total">${workers.size}</span></h2>
        <ul class="counters">
          ${problemCountsFirst(w.filter(([state, n]) => !compact || n > 0 || state === "Offline"), workerAlert, compact)
            .map(([state, n]) => html`<${Counter} key=${state} name=${`workers-${state}`} kind="worker" word=${state}
              value=${n} alert=${workerAlert(state)} />`)}
        </ul>
      </div>
      <div class="overview-card overview-rate">
        <h2 class="overview-title">Activity</h2>
        <ul class="counters">
          <${Counter} name="events-per-minute" kind="jobs" tone="rate" value=${perMinute}
            word=${perMinute === 1 ? "event / min" : "events / min"} title="Changes received in the last 60 seconds" />
        </ul>
      </div>
    </section>`;
}

/**
 * On a wall: marks `data-cut` each counter that does not fit whole in what its row has left; a
 * problem count after it that fits still shows (an audit: every counter after the first too wide
 * went, a problem count with them), a lesser one does not (another: a good count then showed where
 * a problem count before it was cut). The counters come worst first, so what goes is the least.
 */
function markCut(section) {
  for (const row of section.querySelectorAll(".counters")) {
    const room = row.clientWidth;
    const gap = parseFloat(getComputedStyle(row).columnGap) || 0;
    let used = 0;
    let after = false; // a counter of this row was cut: only a problem count may show after it
    for (const counter of row.children) {
      const width = counter.getBoundingClientRect().width;
      // (An audit: a phone's wall showed "45 Good" where "3 Maintenance", before it, was cut.)
      const cut = used + width > room + 0.5 || (after && !counter.classList.contains("is-alert"));
      if (!cut) used += width + gap;
      else after = true;
      if (counter.hasAttribute("data-cut") !== cut) counter.toggleAttribute("data-cut", cut);
    }
  }
}
