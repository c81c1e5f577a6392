/** One entry of the live feed: when, what kind, which object, what happened. */
import { html } from "/static/vendor/htm/standalone.module.js";
import { LavaLink } from "./LavaLink.js";
import { memo } from "./memo.js";
import { describe } from "./describe.js";
import { deviceUrl, jobUrl, workerUrl } from "./links.js";
import { formatClock, formatDateTime } from "./time.js";

/** The object an item is about, linked to its LAVA page when possible. */
function subject(item, lavaBase) {
  const { kind, id, data } = item;
  if (kind === "device") return html`<${LavaLink} class="feed-subject" href=${deviceUrl(lavaBase, id)}>${id}<//>`;
  if (kind === "worker") return html`<${LavaLink} class="feed-subject" href=${workerUrl(lavaBase, id)}>${id}<//>`;
  if (kind === "job") return html`<${LavaLink} class="feed-subject" href=${jobUrl(lavaBase, id)}>job #${id}<//>`;
  if (data && data.job != null) {
    return html`<${LavaLink} class="feed-subject" href=${jobUrl(lavaBase, data.job)}>job #${data.job}<//>`;
  }
  return html`<span class="feed-subject">${(data && (data.device || data.topic)) || "lab"}</span>`;
}

function FeedItemView({ item, lavaBase }) {
  const { text, tone } = describe(item);
  return html`
    <li class=${`feed-item feed-${item.kind} tone-${tone}`} data-kind=${item.kind}
        data-change-seq=${item.seq ?? ""}>
      <time class="feed-time" title=${formatDateTime(item.at)}>${formatClock(item.at)}</time>
      <span class="feed-kind">${item.kind}</span>
      ${subject(item, lavaBase)}
      <span class="feed-text">${text}</span>
    </li>`;
}

/** Feed items never change once made, so each renders once. */
export const FeedItem = memo(FeedItemView);
