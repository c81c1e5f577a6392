/**
 * `useRemote(urls, options)`: JSON from the REST API, kept fresh while the component is shown.
 *
 * Bounded: one request in flight per caller (a refresh that comes due while one runs is skipped;
 * a caller with several URLs asks for them one after the other), each attempt times out, nothing
 * is asked while the tab is hidden, and unmounting or new URLs abort what is in flight.
 */
import { useEffect, useRef, useState } from "/static/vendor/htm/standalone.module.js";

export const REFRESH_MS = 60000;
const TIMEOUT_MS = 20000;
// The store writes in batches (every 0.5 s): a reload asked for by a live change waits a little.
const RELOAD_DELAY_MS = 1500;

/**
 * An answer that is not `{ok: true, ...}`: the server's reason, the HTTP status and the error's
 * machine-readable `code` (docs/api.md); `off` when the server keeps no history (--no-store).
 */
export class RemoteError extends Error {
  constructor(message, status, code = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.off = code === "history_off";
  }
}

/**
 * GET `url` → the parsed `{ok: true, ...}` body, or a RemoteError with the server's reason. With
 * `poll`, the request says it is the page's own timer asking, not the person (X-Dashboard-Poll):
 * it does not keep a signed-in session from ending when unused (docs/security.md).
 */
export async function getJson(url, signal, { poll = false } = {}) {
  let response;
  const headers = poll ? { Accept: "application/json", "X-Dashboard-Poll": "1" } : { Accept: "application/json" };
  try {
    response = await fetch(url, { signal, headers, cache: "no-store" });
  } catch (err) {
    if (signal && signal.aborted) throw err;
    throw new RemoteError("the server cannot be reached", 0);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    if (signal && signal.aborted) throw err;
  }
  if (!response.ok || !body || body.ok !== true) {
    const reason = body && typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
    throw new RemoteError(reason, response.status, body && typeof body.code === "string" ? body.code : null);
  }
  return body;
}

const EMPTY = Object.freeze({ bodies: null, error: null, off: false, at: null, loading: true });

/**
 * `urls`: the requests (asked for in order, answers kept in order); `refreshMs`: how often to ask
 * again; `reloadKey`: when it changes (say, the object's state), ask again shortly.
 * Returns `{bodies, error, off, at, loading}`: the last answers and when they came (epoch ms),
 * the last error (cleared by a success), and whether a request is under way.
 */
export function useRemote(urls, { refreshMs = REFRESH_MS, reloadKey = null } = {}) {
  const key = urls.join("\n");
  const [result, setResult] = useState(EMPTY);
  const loader = useRef(null);

  useEffect(() => {
    setResult(EMPTY);
    if (!urls.length) {
      setResult({ ...EMPTY, loading: false });
      return undefined;
    }
    let controller = null;
    let stopped = false;
    let lastAt = 0;
    let loads = 0;
    const load = async () => {
      if (controller || stopped) return; // one request in flight
      const poll = loads++ > 0; // the first load is the person's doing; the refreshes the timer's
      controller = new AbortController();
      const mine = controller;
      const timeout = setTimeout(() => mine.abort(), TIMEOUT_MS);
      setResult((prev) => (prev.loading ? prev : { ...prev, loading: true }));
      try {
        const bodies = [];
        for (const url of urls) bodies.push(await getJson(url, mine.signal, { poll }));
        lastAt = Date.now();
        if (!stopped) setResult({ bodies, error: null, off: false, at: lastAt, loading: false });
      } catch (err) {
        if (stopped) return;
        const error = err instanceof RemoteError ? err
          : new RemoteError(mine.signal.aborted ? "the server did not answer in time" : String(err), 0);
        setResult((prev) => ({ ...prev, error, off: error.off, loading: false }));
      } finally {
        clearTimeout(timeout);
        if (controller === mine) controller = null;
      }
    };
    loader.current = load;
    load();
    const timer = setInterval(() => { if (!document.hidden) load(); }, refreshMs);
    const onVisible = () => { if (!document.hidden && Date.now() - lastAt >= refreshMs) load(); };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      stopped = true;
      loader.current = null;
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
      if (controller) controller.abort();
    };
  }, [key, refreshMs]);

  // A new reloadKey for the same URLs: ask again (new URLs are asked for by the effect above).
  const seen = useRef({ key, reloadKey });
  useEffect(() => {
    const before = seen.current;
    seen.current = { key, reloadKey };
    if (before.key !== key || before.reloadKey === reloadKey) return undefined;
    const timer = setTimeout(() => { if (loader.current) loader.current(); }, RELOAD_DELAY_MS);
    return () => clearTimeout(timer);
  }, [key, reloadKey]);

  return result;
}
