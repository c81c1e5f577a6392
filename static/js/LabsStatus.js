/**
 * The labs one dashboard watches (several labs), each with whether its events flow and whether its
 * LAVA API answers, in words and a symbol as well as colour: "east ● live", "west ✕ events down",
 * "north ● live · LAVA API failing". In the header, on the desk and on a wall, so that a screen says
 * which lab is down; the footer's SourcesNote names each source.
 * `labs`: state.labs (at most labs.js MAX_LABS); `sources`: the meta's sources, each with its lab.
 */
import { html } from "./html.js";
import { now as clockNow, useClockValue } from "./clock.js";
import { labProblem, labState } from "./labs.js";

const WORDS = { live: "live", connecting: "connecting", down: "events down", unknown: "no event source" };
const SYMBOLS = { live: "●", connecting: "◔", down: "✕", unknown: "?" };

export function LabsStatus({ labs, sources }) {
  // A source connecting for too long is down (labs.js sourceDown): looked at every second of the
  // shared clock, rendered again only when a lab's state changes.
  useClockValue((now) => (Array.isArray(labs) ? labs.map((lab) => labState(lab.name, sources, now)).join() : ""));
  if (!Array.isArray(labs) || labs.length === 0) return null;
  return html`
    <ul id="lab-status" class="lab-status" aria-label="Labs and their events">
      ${labs.map((lab) => {
        const state = labState(lab.name, sources, clockNow());
        const problem = state === "down" ? labProblem(lab.name, sources, clockNow()) : "";
        const failing = Boolean(lab.lava && lab.lava.state === "error");
        const words = `${WORDS[state]}${problem ? ` (${problem})` : ""}${lab.simulated ? " (simulated)" : ""}${
          failing ? " · LAVA API failing" : ""}`;
        return html`<li key=${lab.name} class=${`lab-state lab-${state}${failing ? " lab-lava-failing" : ""}`}
            data-lab=${lab.name} data-state=${state} data-lava=${lab.lava ? lab.lava.state || "" : ""}
            title=${`Lab ${lab.name}: ${words}${failing && lab.lava.error ? ` (${lab.lava.error})` : ""}`}>
          <span class="symbol" aria-hidden="true">${failing && state === "live" ? "!" : SYMBOLS[state]}</span>
          ${" "}<span class="lab-name">${lab.name}</span>${" "}<span class="lab-words">${words}</span>
        </li>`;
      })}
    </ul>`;
}
