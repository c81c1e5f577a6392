"""The single-page app's HTML, served under a strict Content-Security-Policy."""
from flask import Blueprint, current_app, render_template, request

from dashboard.web.auth import wall_session
from dashboard.web.protocol import bootstrap

bp = Blueprint("views", __name__)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


@bp.get("/")
def index():
    """The page, with the protocol's constants in a JSON bootstrap; all data arrives over Socket.IO."""
    ext = current_app.extensions["dashboard"]
    if ext.role == "ingest":  # (a new operator's walkthrough: it served a page that never loaded)
        return render_template("ingest.html", version=ext.meta["version"]), 404
    meta = ext.meta
    # A wall link's screen reads no history (docs/security.md): the page does not ask for it (its
    # events-per-minute seed was answered 403 at every load: an audit).
    history = (any(store is not None for store in (ext.store, *(lab.store for lab in ext.labs)))
               and wall_session() is None)
    return render_template("index.html", simulated=meta["simulated"], lava_url=meta["lava_url"],
                           version=meta["version"], bootstrap=bootstrap(meta), history=history)


@bp.after_app_request
def security_headers(response):
    """CSP on every response, so that nothing LAVA sends can run as script."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if not request.path.startswith("/static/"):
        # What a viewer is shown depends on who they are (a cookie, or an Authorization header):
        # no cache between them and the dashboard may keep it for another (a review).
        response.headers.setdefault("Cache-Control", "private, no-store")
    return response
