/**
 * One multi-value filter (device type, worker, submitter): the chosen values as removable chips,
 * and a text box that suggests the values the page has seen. Enter adds what is typed.
 */
import { useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";

/** `values`: chosen; `known`: suggestions; `onChange(values)` with the new list. */
export function FilterField({ id, label, values, known, onChange }) {
  const [text, setText] = useState("");
  const add = () => {
    const value = text.trim();
    if (value && !values.includes(value)) onChange([...values, value]);
    setText("");
  };
  const listId = `${id}-options`;
  // A value the page has never seen (a typo, a type with no device) would empty the board silently.
  const unknown = known.length ? values.filter((v) => !known.includes(v)) : [];
  return html`
    <div class="filter-field" data-filter=${id}>
      <label for=${id}>${label}</label>
      <span class="filter-values">
        ${values.map((value) => html`<span key=${value} class=${`filter-chip${unknown.includes(value) ? " is-unknown" : ""}`}>${value}<button type="button"
          class="filter-chip-remove" aria-label=${`Remove ${label.toLowerCase()} ${value}`}
          onClick=${() => {
            // The chip goes: the focus goes to its field's box, not to <body> (an audit).
            onChange(values.filter((v) => v !== value));
            requestAnimationFrame(() => { const field = document.getElementById(id); if (field) field.focus(); });
          }}>✕</button></span>`)}
        <input id=${id} type="text" list=${listId} value=${text} autocomplete="off" spellcheck="false"
          placeholder=${values.length ? "add…" : "any"} size="10" maxlength="200"
          onInput=${(event) => setText(event.currentTarget.value)}
          onChange=${(event) => {
            // Picking a suggestion from the list adds it at once; typing waits for Enter.
            if (known.includes(event.currentTarget.value)) {
              const value = event.currentTarget.value;
              if (!values.includes(value)) onChange([...values, value]);
              setText("");
            }
          }}
          onKeyDown=${(event) => {
            if (event.key === "Enter") { event.preventDefault(); add(); }
            if (event.key === "Backspace" && !text && values.length) onChange(values.slice(0, -1));
          }} />
        <datalist id=${listId}>${known.filter((v) => !values.includes(v)).map((v) => html`<option key=${v} value=${v} />`)}</datalist>
      </span>
      ${unknown.length > 0 && html`<p class="filter-warning" role="status" id=${`${id}-warning`}>
        Not seen in this lab: ${unknown.join(", ")}. Nothing may match.</p>`}
    </div>`;
}
