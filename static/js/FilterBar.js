/**
 * Filters and search. Device type, worker, health, submitter and (several labs) lab go to the
 * server (the page subscribes again with them); the search box is applied by the page. All live in
 * the URL.
 */
import { useEffect, useMemo, useRef, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { FilterField } from "./FilterField.js";
import { SearchBox } from "./SearchBox.js";
import { DEVICE_HEALTHS, symbolFor } from "./lava.js";
import { compareNames } from "./selectors.js";

const MAX_KNOWN = 300; // suggestions remembered per field

/** Remember values seen during the session (the server only sends what matches the filter). */
function remember(set, values) {
  for (const value of values) {
    if (value == null || value === "") continue;
    set.delete(value);
    set.add(value);
  }
  for (const value of set) {
    if (set.size <= MAX_KNOWN) break;
    set.delete(value);
  }
}

function useKnown(state) {
  const known = useRef({ device_types: new Set(), workers: new Set(), submitters: new Set() });
  return useMemo(() => {
    const k = known.current;
    remember(k.device_types, [...state.devices.values()].map((d) => d.device_type));
    remember(k.device_types, [...state.jobs.values()].map((j) => j.device_type));
    remember(k.workers, [...state.workers.values()].map((w) => w.hostname));
    remember(k.submitters, [...state.jobs.values()].map((j) => j.submitter));
    const sorted = (set) => [...set].sort(compareNames);
    return { device_types: sorted(k.device_types), workers: sorted(k.workers), submitters: sorted(k.submitters) };
    // Suggestions follow the lab's membership, not every change: recompute when devices or workers
    // come or go, the filter changes, or at most every 10 s (new submitters arrive with jobs).
  }, [state.devices.size, state.workers.size, state.filter, Math.floor(Date.now() / 10000)]);
}

const WIDE = "(min-width: 701px)";

/** Filters start folded on a phone (unless some are set) and always show on a wider screen. */
function useDisclosure(active) {
  const ref = useRef(null);
  const [open] = useState(() => active || window.matchMedia(WIDE).matches);
  useEffect(() => {
    const query = window.matchMedia(WIDE);
    const onChange = (event) => { if (event.matches && ref.current) ref.current.open = true; };
    query.addEventListener("change", onChange);
    return () => query.removeEventListener("change", onChange);
  }, []);
  return [ref, open];
}

/**
 * The labs to show (several labs): one switch per lab the server watches, pressed when chosen; none
 * pressed shows every lab. A chosen lab the server does not name (an old URL) stays, to be removed.
 */
function LabFilter({ labs, chosen, onChange }) {
  const toggle = (name) => onChange(chosen.includes(name) ? chosen.filter((v) => v !== name) : [...chosen, name]);
  const names = labs.map((lab) => lab.name);
  return html`
    <div class="filter-field filter-lab" role="group" aria-labelledby="filter-lab-label">
      <span id="filter-lab-label" class="filter-label">Lab</span>
      <span class="toggle">
        ${names.concat(chosen.filter((v) => !names.includes(v))).map((name) => html`<button type="button" key=${name}
          class="toggle-button" aria-pressed=${chosen.includes(name) ? "true" : "false"} data-lab-filter=${name}
          onClick=${() => toggle(name)}>${name}</button>`)}
      </span>
    </div>`;
}

export function FilterBar({ state, options, onFilter, onQuery, onClear, active }) {
  const known = useKnown(state);
  const [ref, open] = useDisclosure(active);
  const health = options.filter.health;
  const toggleHealth = (value) => onFilter("health", health.includes(value)
    ? health.filter((v) => v !== value) : [...health, value]);
  // Only when the server serves the `labs` key (url.js) and watches named labs, or one is chosen.
  const labs = options.filter.labs;
  const showLabs = Array.isArray(labs) && (state.labs.length > 0 || labs.length > 0);
  return html`
    <details class="filters" ref=${ref} open=${open}>
    <summary class="filters-summary">Filters and search${active ? " (some set)" : ""}</summary>
    <form class="filter-bar" role="search" aria-label="Filters" onSubmit=${(e) => e.preventDefault()}>
      <${SearchBox} value=${options.q} onChange=${onQuery} />
      ${showLabs && html`<${LabFilter} labs=${state.labs} chosen=${labs} onChange=${(v) => onFilter("labs", v)} />`}
      <${FilterField} id="filter-device_type" label="Device type" values=${options.filter.device_types}
        known=${known.device_types} onChange=${(v) => onFilter("device_types", v)} />
      <${FilterField} id="filter-worker" label="Worker" values=${options.filter.workers}
        known=${known.workers} onChange=${(v) => onFilter("workers", v)} />
      <${FilterField} id="filter-submitter" label="Submitter" values=${options.filter.submitters}
        known=${known.submitters} onChange=${(v) => onFilter("submitters", v)} />
      ${options.filter.devices.length > 0 && html`<${FilterField} id="filter-device" label="Device"
        values=${options.filter.devices} known=${[]} onChange=${(v) => onFilter("devices", v)} />`}
      <div class="filter-field filter-health" role="group" aria-labelledby="filter-health-label">
        <span id="filter-health-label" class="filter-label">Health</span>
        <span class="toggle">
          ${DEVICE_HEALTHS.map((value) => html`<button type="button" key=${value} class=${`toggle-button health-${value.toLowerCase()}`}
            aria-pressed=${health.includes(value) ? "true" : "false"} data-health-filter=${value}
            onClick=${() => toggleHealth(value)}>${symbolFor(value)} ${value}</button>`)}
          ${health.filter((v) => !DEVICE_HEALTHS.includes(v)).map((value) => html`<button type="button" key=${value}
            class="toggle-button is-unknown" aria-pressed="true" title=${`${value} is not a health LAVA gives: no device matches it`}
            onClick=${() => toggleHealth(value)}>${value} (not a health LAVA gives)</button>`)}
        </span>
      </div>
      ${active && html`<button type="button" class="clear-filters" onClick=${() => {
        // The button goes with the filters: the focus goes to the first filter's field, not to
        // <body> (an audit).
        onClear();
        requestAnimationFrame(() => { const field = document.getElementById("filter-device_type"); if (field) field.focus(); });
      }}>Clear filters</button>`}
    </form>
    </details>`;
}
