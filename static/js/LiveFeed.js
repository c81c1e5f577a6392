/**
 * Every change, newest first (the store keeps at most LIMITS.feed): pause to read, resume to catch
 * up, and show only some kinds. Pausing freezes what is shown; the page keeps receiving.
 */
import { useMemo, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { FeedItem } from "./FeedItem.js";
import { useNow } from "./clock.js";
import { FLASH_MS } from "./flash.js";
import { Panel } from "./Panel.js";
import { visibleFeed } from "./selectors.js";
import { FEED_KINDS } from "./url.js";

/** How many items are newer than `first` (the newest shown when paused); "N+" past the end. */
function newerThan(feed, first) {
  if (!first) return String(feed.length);
  const at = feed.findIndex((item) => item.key === first.key);
  return at >= 0 ? String(at) : `${feed.length}+`;
}

/**
 * `kinds`: the kinds shown (all when empty), from the URL; `onKinds(kinds)` changes them. `limit`:
 * at most this many rows (a wall). `liveRows`: at most this many while live (the desk's side
 * panel), all of them while paused; past it a note says so and links to `fullHref`, the feed's own
 * view (`onFull()` switches to it in place).
 */
export function LiveFeed({ feed, terms, kinds, onKinds, onOpen, limit, liveRows, fullHref, onFull }) {
  const [paused, setPaused] = useState(null); // the feed as it was when paused
  const now = useNow(); // to end the highlight of new rows
  const source = paused || feed;
  const items = useMemo(() => visibleFeed(source, kinds, terms), [source, kinds, terms]);
  const rows = Math.min(limit || Infinity, paused ? Infinity : liveRows || Infinity);
  const shown = items.length > rows ? items.slice(0, rows) : items;
  const cut = !limit && shown.length < items.length;
  const toggle = (kind) => {
    const next = kinds.includes(kind) ? kinds.filter((k) => k !== kind) : [...kinds, kind];
    onKinds(next.length === FEED_KINDS.length ? [] : FEED_KINDS.filter((k) => next.includes(k)));
  };
  // The pause button's words say what it does next ("Pause", "Resume (3 new)"), without
  // aria-pressed, which read "Resume (3 new), pressed" (an audit: a name and a state that disagree).
  const controls = html`
    ${onKinds && html`<div class="toggle feed-kinds" role="group" aria-label="Kinds shown">
      ${FEED_KINDS.map((kind) => html`<button type="button" key=${kind} class="toggle-button"
        aria-pressed=${kinds.length === 0 || kinds.includes(kind) ? "true" : "false"}
        onClick=${() => toggle(kind)}>${kind}s</button>`)}
    </div>`}
    <button type="button" class=${`pause${paused ? " is-paused" : ""}`}
      onClick=${() => setPaused(paused ? null : feed)}>
      ${paused ? `Resume (${newerThan(feed, paused[0])} new)` : "Pause"}</button>`;
  return html`
    <${Panel} id="feed" title="Live feed" count=${items.length} class=${`panel-feed${paused ? " is-paused" : ""}`}
        controls=${controls}>
      ${shown.length === 0 ? html`<p class="empty">${feed.length ? "Nothing of these kinds yet." : "Waiting for the first change…"}</p>` : html`
        <ol class="feed" aria-live="off" data-paused=${paused ? "true" : "false"}>
          ${shown.map((item) => html`<${FeedItem} key=${item.key} item=${item} onOpen=${onOpen}
            fresh=${item.seq != null && now - item.received < FLASH_MS} />`)}
        </ol>
        ${cut && html`<p class="feed-more">The newest ${shown.length} of ${items.length} are shown while
          the feed is live. Pause to read them all${fullHref ? html`, or open the${" "}<a href=${fullHref}
          onClick=${(event) => {
            if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || !onFull) return;
            event.preventDefault();
            onFull();
          }}>Live feed view</a>` : ""}.</p>`}`}
    <//>`;
}
