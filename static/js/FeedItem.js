/** One entry of the live feed: when, what kind, which object (opens its details), what happened. */
import { html } from "./html.js";
import { memo } from "./memo.js";
import { describe, feedLabel, isCorrection } from "./describe.js";
import { OBJECT_KINDS } from "./protocol.js";
import { formatClock, formatDateTime } from "./time.js";

function subjectButton(kind, id, text, onOpen) {
  return html`<button type="button" class="link-button feed-subject" title=${`Show ${text}`}
    onClick=${() => onOpen(kind, id)}>${text}</button>`;
}

/** The object an item is about (a correction's: the object it corrected). */
function subject(item, onOpen) {
  const { kind, id, data } = item;
  if (kind === "device" || kind === "worker") return subjectButton(kind, id, id, onOpen);
  const corrected = isCorrection(item) && data.data ? data.data : null;
  if (corrected && OBJECT_KINDS.includes(corrected.object) && corrected.id != null) {
    const name = String(corrected.id);
    return subjectButton(corrected.object, name, corrected.object === "job" ? `job #${name}` : name, onOpen);
  }
  if (kind === "job") return subjectButton("job", id, `job #${id}`, onOpen);
  if (data && data.job != null) return subjectButton("job", String(data.job), `job #${data.job}`, onOpen);
  return html`<span class="feed-subject">${(data && (data.device || data.topic)) || "lab"}</span>`;
}

/** `fresh`: arrived a moment ago (highlighted). */
function FeedItemView({ item, fresh, onOpen }) {
  const { text, tone } = describe(item);
  const word = feedLabel(item);
  return html`
    <li class=${`feed-item feed-${item.kind}${word !== item.kind ? ` feed-${word}` : ""} tone-${tone}${fresh ? " is-new" : ""}`}
        data-kind=${item.kind} data-label=${word} data-change-seq=${item.seq ?? ""}>
      <time class="feed-time" title=${formatDateTime(item.at)}>${formatClock(item.at)}</time>
      <span class="feed-kind">${word}</span>
      ${subject(item, onOpen)}
      <span class="feed-text">${text}</span>
    </li>`;
}

/** Feed items never change once made: each renders when it comes and when it stops being fresh. */
export const FeedItem = memo(FeedItemView);
