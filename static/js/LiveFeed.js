/** The last changes, newest first (the store keeps at most LIMITS.feed). */
import { html } from "/static/vendor/htm/standalone.module.js";
import { FeedItem } from "./FeedItem.js";
import { Panel } from "./Panel.js";

export function LiveFeed({ feed, lavaBase }) {
  return html`
    <${Panel} id="feed" title="Live feed" count=${feed.length} class="panel-feed">
      ${feed.length === 0 ? html`<p class="empty">Waiting for the first change…</p>` : html`
        <ol class="feed" aria-live="off">
          ${feed.map((item) => html`<${FeedItem} key=${item.key} item=${item} lavaBase=${lavaBase} />`)}
        </ol>`}
    <//>`;
}
