/** A link to a LAVA page when a LAVA URL is configured, plain text otherwise. */
import { html } from "./html.js";

export function LavaLink({ href, class: className = "", title, children }) {
  if (!href) return html`<span class=${className} title=${title}>${children}</span>`;
  return html`<a class=${`lava-link ${className}`} href=${href} title=${title || "Open in LAVA"}
    target="_blank" rel="noopener noreferrer">${children}</a>`;
}
