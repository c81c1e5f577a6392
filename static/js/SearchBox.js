/** Free-text search: narrows what the page shows as you type (debounced), kept in `q=`. */
import { useEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";

const DEBOUNCE_MS = 250;

export function SearchBox({ value, onChange }) {
  const [text, setText] = useState(value);
  const input = useRef(null);
  // A new value from outside (Clear, or the URL) replaces what was typed.
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text.trim() === value) return undefined;
    const timer = setTimeout(() => onChange(text.trim()), DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text]);
  // "/" jumps to the search box from anywhere but another text field.
  useEffect(() => {
    const onKey = (event) => {
      const target = event.target;
      const typing = target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
      if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
        event.preventDefault();
        if (input.current) input.current.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);
  return html`
    <div class="filter-field filter-search">
      <label for="search">Search</label>
      <input id="search" ref=${input} type="search" value=${text} maxlength="200" spellcheck="false"
        placeholder="hostname, job, description… ( / )" autocomplete="off"
        onInput=${(event) => setText(event.currentTarget.value)}
        onKeyDown=${(event) => { if (event.key === "Enter") onChange(text.trim()); }} />
    </div>`;
}
