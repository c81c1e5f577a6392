/**
 * Says plainly that the data is made up when no LAVA server is configured; with several labs, which
 * labs are the simulator's (`labs`: their names; none for a dashboard of one simulated lab). A named
 * region, so that every part of the page is in a landmark (axe's `region` rule).
 */
import { html } from "./html.js";

const NO_LABS = [];

export function SimulatedBanner({ labs = NO_LABS }) {
  if (labs.length) {
    return html`
      <section id="simulated-banner" class="simulated-banner" aria-label="Simulated lab">
        <strong>Simulated lab${labs.length > 1 ? "s" : ""}: ${labs.join(", ")}</strong>
        <span>: the devices, jobs and workers of ${labs.length > 1 ? "these labs" : "this lab"} come from the dashboard's built-in simulator.</span>
      </section>`;
  }
  return html`
    <section id="simulated-banner" class="simulated-banner" aria-label="Simulated lab">
      <strong>Simulated lab — no LAVA server configured</strong>
      <span>: the devices, jobs and workers below come from the dashboard's built-in simulator.</span>
    </section>`;
}
