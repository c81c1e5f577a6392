/** Says plainly that the data is made up when no LAVA server is configured. */
import { html } from "./html.js";

export function SimulatedBanner() {
  return html`
    <div id="simulated-banner" class="simulated-banner" role="note">
      <strong>Simulated lab — no LAVA server configured</strong>
      <span>: the devices, jobs and workers below come from the dashboard's built-in simulator.</span>
    </div>`;
}
