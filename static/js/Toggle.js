/** A group of buttons of which one is chosen (a segmented control), announced as such. */
import { html } from "./html.js";

/** `choices`: [[value, label]]; `onChange(value)` when another one is pressed. */
export function Toggle({ label, value, choices, onChange, class: className = "" }) {
  return html`
    <div class=${`toggle ${className}`} role="group" aria-label=${label}>
      ${choices.map(([choice, text]) => html`
        <button type="button" key=${choice} class="toggle-button" aria-pressed=${choice === value ? "true" : "false"}
          onClick=${() => choice !== value && onChange(choice)}>${text}</button>`)}
    </div>`;
}
