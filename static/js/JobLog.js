/**
 * The live tail of a job's log, in the job's panel: LAVA's log lines as they are written (the
 * newest MAX_LOG_LINES), each with its time and level in words. It follows the log while it is
 * shown and stays at the bottom unless the viewer scrolled up to read.
 */
import { useEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { Timestamp } from "./Timestamp.js";
import { parseTime } from "./time.js";
import { MAX_LOG_LINES, reduceLog } from "./logtail.js";

const EMPTY = { lines: [], finished: false, error: null, refused: false, code: null, started: false };

function stateWords(log) {
  if (log.refused) return "not available";
  if (log.finished) return "complete";
  if (log.error) return "retrying";
  return log.started ? "following live" : "connecting";
}

/** `job`: the job's id (of `lab`, if named); `follow(job, onMessage, lab)` → stop (logtail.js). */
export function JobLog({ job, lab = "", follow }) {
  const [log, setLog] = useState(EMPTY);
  const list = useRef(null);
  const atBottom = useRef(true);
  useEffect(() => {
    setLog(EMPTY);
    atBottom.current = true;
    if (!follow) return undefined;
    return follow(Number(job), (message) => setLog((prev) => reduceLog(prev, message)), lab);
  }, [job, lab, follow]);
  useEffect(() => {
    const el = list.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [log.lines]);
  const onScroll = (event) => {
    const el = event.currentTarget;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  };
  const words = stateWords(log);
  return html`
    <section class="detail-section" id="job-log" aria-labelledby="job-log-title" data-state=${words}
        data-count=${log.lines.length}>
      <h3 id="job-log-title" class="detail-subtitle">Log <span class="panel-count">${log.lines.length}</span>
        ${" "}<span class=${`job-log-state job-log-${words.replace(/ /g, "-")}`}>${words}</span></h3>
      ${log.refused && html`<p class="muted job-log-refused">${log.error}</p>`}
      ${!log.refused && log.error && html`<p class="job-log-error" role="status">LAVA's log cannot be read
        now (${log.error}); trying again.</p>`}
      ${!log.refused && html`
        ${log.lines.length === 0 ? html`<p class="empty">${log.finished ? "LAVA has no log for this job." : "No line yet."}</p>` : html`
        <ol class="job-log" ref=${list} onScroll=${onScroll} tabindex="0"
            aria-label=${`Log of job ${job}, oldest first (the newest ${MAX_LOG_LINES} lines)`}>
          ${log.lines.map((line) => html`<li key=${line.n} class=${`log-line log-${line.lvl}`} data-n=${line.n}>
            <${Timestamp} iso=${line.dt} ms=${parseTime(line.dt)} class="log-time" />
            ${" "}<span class="log-level">${line.lvl}</span>${" "}<span class="log-msg">${line.msg}</span></li>`)}
        </ol>`}`}
    </section>`;
}
