/**
 * The page's footer: who the page is shown to (docs/security.md). In open access it says so; with
 * access control it names the signed-in viewer and offers to sign out, or offers to sign in.
 */
import { useEffect, useState } from "/static/vendor/htm/standalone.module.js";
import { html } from "./html.js";

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

export function AccessFooter({ access }) {
  const me = useWhoami(access);
  if (!access) return null;
  if (access === "open") {
    return html`<footer id="access-note" class="access-note">
      Access is open: everyone who can reach this page sees everything this dashboard knows.</footer>`;
  }
  if (me && me.username) {
    return html`<footer id="access-note" class="access-note">
      Signed in as <strong>${me.username}</strong>: you see what LAVA shows you.
      <form method="post" action="/signout" class="signout-form">
        <input type="hidden" name="csrf" value=${me.csrf} />
        <button type="submit" id="sign-out">Sign out</button>
      </form></footer>`;
  }
  if (me && me.wall) {
    return html`<footer id="access-note" class="access-note">Wall link ${me.wall}.</footer>`;
  }
  return html`<footer id="access-note" class="access-note">
    Anonymous view: private jobs show only their state. <a id="sign-in" href="/signin">Sign in</a>${" "}with your LAVA username and token to see yours.</footer>`;
}
