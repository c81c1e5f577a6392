/**
 * `html`: htm's tagged templates, bound to the one vendored Preact's `h`, with caching of
 * created elements switched off.
 *
 * Why not the standalone bundle's own `html`: it caches every fully static element (say
 * <span class="tag">health check</span>) as a single vnode and hands out that same object on
 * every render. Preact records the parent of the first use in it, and through the memoized rows
 * of a list that parent keeps every earlier generation of rows alive: detached DOM growing for as
 * long as the page runs. htm's README ("Caching") gives the remedy used here: `this[0] = 3` in `h`.
 * Templates are still parsed once and cached; only the elements are created afresh.
 */
import htm from "/static/vendor/htm/htm.module.js";
import { h } from "/static/vendor/htm/standalone.module.js";

function createElement(type, props, ...children) {
  this[0] = 3; // htm: do not reuse the element created here
  return h(type, props, ...children);
}

export const html = htm.bind(createElement);
