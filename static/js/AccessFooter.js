/**
 * The page's footer: who the page is shown to (docs/security.md). In open access it says so; with
 * access control it names the signed-in viewer and offers to sign out, or offers to sign in.
 */
import { useEffect, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";
import { ClockNote } from "./ClockNote.js";

/** GET /api/v1/whoami once: { username, wall, csrf }, or null while unknown. */
function useWhoami(access) {
  const [me, setMe] = useState(null);
  useEffect(() => {
    if (!access || access === "open") return undefined;
    let live = true;
    fetch("/api/v1/whoami", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => { if (live) setMe(body); })
      .catch(() => {});
    return () => { live = false; };
  }, [access]);
  return me;
}

/** `children`: what else the page's footer says (where the events come from); and whether this
 * screen's clock is off (ClockNote). */
export function AccessFooter({ access, children = null }) {
  const me = useWhoami(access);
  const foot = (content) => html`<footer id="access-note" class="access-note">${children}<${ClockNote} />${content}</footer>`;
  if (!access) return children ? foot("") : null;
  if (access === "open") {
    return foot("Access is open: everyone who can reach this page sees everything this dashboard knows.");
  }
  if (me && me.username) {
    return foot(html`
      Signed in as <strong>${me.username}</strong>: you see what LAVA shows you, but for boards
      LAVA shows only to some of its users, which no one sees here.
      <form method="post" action="/signout" class="signout-form">
        <input type="hidden" name="csrf" value=${me.csrf} />
        <button type="submit" id="sign-out">Sign out</button>
      </form>`);
  }
  if (me && me.wall) return foot(`Wall link ${me.wall}.`);
  return foot(html`
    Anonymous view: private jobs show only their state. <a id="sign-in" href="/signin">Sign in</a>${" "}with your LAVA username and token to see yours.`);
}
