/** One entry of the live feed: when, what kind, which object (opens its details), what happened. */
import { html } from "./html.js";
import { memo } from "./memo.js";
import { describe } from "./describe.js";
import { formatClock, formatDateTime } from "./time.js";

function subjectButton(kind, id, text, onOpen) {
  return html`<button type="button" class="link-button feed-subject" title=${`Show ${text}`}
    onClick=${() => onOpen(kind, id)}>${text}</button>`;
}

/** The object an item is about. */
function subject(item, onOpen) {
  const { kind, id, data } = item;
  if (kind === "device" || kind === "worker") return subjectButton(kind, id, id, onOpen);
  if (kind === "job") return subjectButton("job", id, `job #${id}`, onOpen);
  if (data && data.job != null) return subjectButton("job", String(data.job), `job #${data.job}`, onOpen);
  return html`<span class="feed-subject">${(data && (data.device || data.topic)) || "lab"}</span>`;
}

/** `fresh`: arrived a moment ago (highlighted). */
function FeedItemView({ item, fresh, onOpen }) {
  const { text, tone } = describe(item);
  return html`
    <li class=${`feed-item feed-${item.kind} tone-${tone}${fresh ? " is-new" : ""}`} data-kind=${item.kind}
        data-change-seq=${item.seq ?? ""}>
      <time class="feed-time" title=${formatDateTime(item.at)}>${formatClock(item.at)}</time>
      <span class="feed-kind">${item.kind}</span>
      ${subject(item, onOpen)}
      <span class="feed-text">${text}</span>
    </li>`;
}

/** Feed items never change once made: each renders when it comes and when it stops being fresh. */
export const FeedItem = memo(FeedItemView);
