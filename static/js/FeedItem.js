/** One entry of the live feed: when, what kind, which lab (several), which object (opens its details), what happened. */
import { html } from "./html.js";
import { memo } from "./memo.js";
import { describe, feedLabel, isCorrection } from "./describe.js";
import { OBJECT_KINDS } from "./protocol.js";
import { objectKey } from "./labs.js";
import { formatClock, formatDateTime } from "./time.js";

function subjectButton(kind, id, text, onOpen) {
  return html`<button type="button" class="link-button feed-subject" title=${`Show ${text}`}
    onClick=${() => onOpen(kind, id)}>${text}</button>`;
}

/**
 * The object an item is about (a correction's: the object it corrected). `id` is its key (to open
 * it), `name` its id within its lab (to show); related objects are of the item's lab.
 */
function subject(item, onOpen) {
  const { kind, id, data } = item;
  const name = item.name ?? id;
  const lab = item.lab || "";
  if (kind === "device" || kind === "worker") return subjectButton(kind, id, name, onOpen);
  const corrected = isCorrection(item) && data.data ? data.data : null;
  if (corrected && OBJECT_KINDS.includes(corrected.object) && corrected.id != null) {
    const other = String(corrected.id);
    return subjectButton(corrected.object, objectKey(lab, other), corrected.object === "job" ? `job #${other}` : other, onOpen);
  }
  if (kind === "job") return subjectButton("job", id, `job #${name}`, onOpen);
  if (data && data.job != null) return subjectButton("job", objectKey(lab, data.job), `job #${data.job}`, onOpen);
  return html`<span class="feed-subject">${(data && (data.device || data.topic)) || "lab"}</span>`;
}

/** `fresh`: arrived a moment ago (highlighted). */
function FeedItemView({ item, fresh, onOpen }) {
  const { text, tone } = describe(item);
  const word = feedLabel(item);
  return html`
    <li class=${`feed-item feed-${item.kind}${word !== item.kind ? ` feed-${word}` : ""} tone-${tone}${fresh ? " is-new" : ""}`}
        data-kind=${item.kind} data-label=${word} data-change-seq=${item.seq ?? ""} data-lab=${item.lab || undefined}
        data-focus-key=${`feed:${item.key}`} data-focus-label=${`${word} at ${formatClock(item.at)} (live feed)`}>
      <time class="feed-time" title=${formatDateTime(item.at)}>${formatClock(item.at)}</time>
      <span class="feed-kind">${word}</span>
      ${item.lab && html`<span class="feed-lab" title=${`lab ${item.lab}`}>${item.lab}</span>`}
      ${subject(item, onOpen)}
      <span class="feed-text">${text}</span>
    </li>`;
}

/** Feed items never change once made: each renders when it comes and when it stops being fresh. */
export const FeedItem = memo(FeedItemView);
