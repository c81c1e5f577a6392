"""Who is looking: sign-in with LAVA's own identities, sessions, API tokens, signed wall links, and
the login mode's gate. What each viewer may see is core.visibility's; this module only says who.

- A viewer signs in with their LAVA username and one of their LAVA API tokens; LAVA's
  /api/v0.2/system/whoami/ with that token must name that user. The session cookie (signed,
  HttpOnly, SameSite=Lax, Secure behind TLS) carries a random id; the token stays in this process's
  memory for as long as the session lasts.
- API clients send `Authorization: Token <their LAVA token>`, as they do to LAVA.
- A wall link (python -m dashboard.walls) carries a signed token; on first load it is exchanged for a
  cookie and taken out of the address bar. It grants an anonymous view limited to its filter.
"""
import collections
import hashlib
import hmac
import logging
import secrets
import time
import urllib.parse

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, session, url_for
from flask_socketio import ConnectionRefusedError
from werkzeug.exceptions import HTTPException
from itsdangerous import BadSignature, URLSafeSerializer

from dashboard.core.backoff import Backoff
from dashboard.core.filters import parse_filter
from dashboard.core.visibility import (ANONYMOUS, EVERYONE, LOGIN, OPEN, Viewer, Viewing, identity,
                                       identity_lab, jobs_of_lab, newest_to_ask)
from dashboard.live.health import RateLimitedLog
from dashboard.storage import walls
from dashboard.web import sessions as web_sessions
from dashboard.web.context import error_body, lab_name, services
from dashboard.web.withheld import lab_withheld

log = logging.getLogger("dashboard.auth")
bp = Blueprint("auth", __name__)
MAX_FAILURES = 5  # failed sign-ins per address, and per username, in FAILURE_WINDOW
FAILURE_WINDOW = 300.0
TOKEN_CACHE_SECONDS = 300.0
# A live connection opened with a LAVA token, while LAVA cannot be asked about it: it stays until
# this long after LAVA last said the token is its user's (its answer is cached TOKEN_CACHE_SECONDS:
# five more minutes), then it is closed (deny when in doubt).
TOKEN_GRACE_SECONDS = 2 * TOKEN_CACHE_SECONDS
REFUSAL_CACHE_SECONDS = 60.0  # a token LAVA refused is refused again without asking, this long
MAX_CACHED_TOKENS = 10_000
MAX_FIELD = 200  # a username's or a token's characters, in the sign-in form and the header alike
# After a lab's LAVA failed to say whose a token is (unreachable, too slow, an error: not a
# refusal), a token it has not vouched for is not asked about for LAVA_RETRY_FIRST seconds,
# doubling while it keeps failing up to LAVA_RETRY_MOST; then one question at a time. Meanwhile
# such tokens get 503 (code lava_unavailable); tokens LAVA vouched for (cached) keep working.
LAVA_RETRY_FIRST = 2.0
LAVA_RETRY_MOST = 30.0
LOG_INTERVAL = 30.0  # one warning of a kind at most this often (with how many were held back)
# Filter names of a wall link's --filter (the page's URL parameters) → Socket.IO criteria.
WALL_FILTERS = {"device_type": "device_types", "worker": "workers", "device": "devices",
                "health": "health", "submitter": "submitters", "kind": "kinds", "lab": "labs"}
# What a viewer may reach before signing in, in login mode.
OPEN_PATHS = ("/signin", "/signout", "/static/", "/healthz")
# A wall link's screen shows its live view (Socket.IO, limited to the link's filter). Of the other
# outputs it may read only these two, which its page asks for (alerts limited to that filter too).
GUARDED_PATHS = ("/api/", "/feeds/", "/export/", "/metrics")
WALL_PATHS = ("/api/v1/whoami", "/api/v1/alerts")


class FailureLimit:
    """At most `limit` failures per key in `window` seconds; bounded in keys."""

    def __init__(self, limit=MAX_FAILURES, window=FAILURE_WINDOW, clock=time.monotonic, size=50_000):
        self.limit, self.window, self.clock, self.size = limit, window, clock, size
        self._failures = collections.OrderedDict()

    def _recent(self, key):
        now = self.clock()
        times = [t for t in self._failures.get(key, ()) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, key):
        """Seconds until this key may try again (0: now)."""
        times = self._recent(key)
        if len(times) < self.limit:
            return 0
        return max(1, int(self.window - (self.clock() - times[0])) + 1)

    def fail(self, key):
        self._failures.setdefault(key, []).append(self.clock())
        self._failures.move_to_end(key)
        while len(self._failures) > self.size:
            self._failures.popitem(last=False)


class TooManyRefusals(Exception):
    """An address gave LAVA too many tokens it refused: it waits `wait` seconds (429)."""

    def __init__(self, wait):
        super().__init__(f"too many refused tokens from this address: try again in {wait} s")
        self.wait = wait


class LavaUnavailable(Exception):
    """A lab's LAVA cannot say whose a token is now (it failed, or failed a moment ago and is not
    asked again yet): try again in `wait` seconds (503)."""

    def __init__(self, wait, kind=None):
        super().__init__(f"LAVA cannot be reached to check the token: try again in {wait} s")
        self.wait = wait
        self.kind = kind  # the LavaError's kind when LAVA was asked just now, else None


class LavaOutage:
    """Which labs' LAVA failed to say whose a token is, and when each may be asked again
    (LAVA_RETRY_FIRST, doubling to LAVA_RETRY_MOST, one question at a time once that has passed)."""

    def __init__(self, clock):
        self.clock = clock
        self._until = {}  # lab → when its LAVA may be asked again
        self._backoff = {}  # lab → core.backoff.Backoff, while it fails
        self._asking = set()  # labs whose LAVA is being asked again after failing

    def wait(self, lab):
        """Whole seconds before an unknown token may be asked about in this lab (0: now)."""
        if lab not in self._until:
            return 0
        left = self._until[lab] - self.clock()
        if left <= 0 and lab not in self._asking:
            return 0
        return max(1, int(left + 0.999))

    def asking(self, lab):
        """LAVA is asked now (after it failed: the one question of this lab until it answers)."""
        if lab in self._until:
            self._asking.add(lab)

    def answered(self, lab):
        """LAVA answered (a user, or a refusal): it is asked freely again."""
        self._until.pop(lab, None)
        self._backoff.pop(lab, None)
        self._asking.discard(lab)

    def failed(self, lab):
        """LAVA could not answer: it is not asked again for a while, longer each time. Questions
        that were under way together and fail together count once: the wait grows only when a
        question asked after it had passed fails too."""
        if self._until.get(lab, float("-inf")) > self.clock():
            return  # failed while waiting already: one of the others that were under way
        backoff = self._backoff.setdefault(lab, Backoff(LAVA_RETRY_FIRST, LAVA_RETRY_MOST))
        self._until[lab] = self.clock() + backoff.next()
        self._asking.discard(lab)

    def done(self, lab):
        """The question ended, however (a bug's exception too): another may be asked."""
        self._asking.discard(lab)

    def failing(self):
        """The labs whose LAVA failed last time it was asked ("" for the one unnamed lab)."""
        return sorted(self._until)


class Access:
    """This process's view of who is looking (built by the factory; services.access)."""

    def __init__(self, mode, sessions, visibility, rest_for_token, secret_key, data_dir,
                 viewer_visibility=None, clock=time.monotonic):
        self.mode = mode
        self.sessions = sessions
        self.visibility = visibility
        # (token, lab) → a LavaRest reading as that token's user, from that lab's LAVA ("" for the
        # one unnamed lab): a token goes to its own lab's server, never another (docs/labs.md).
        self.rest_for_token = rest_for_token
        self.viewer_visibility = viewer_visibility  # live.access.ViewerVisibility, or None
        self.walls = URLSafeSerializer(secret_key, salt="wall-link")
        self.data_dir = data_dir
        self.failures = FailureLimit()
        self.clock = clock  # for the token checks' ages (the sessions have their own clock)
        # Keyed by (lab, sha256(token)): each lab's LAVA says whose a token is, for that lab.
        self._tokens = collections.OrderedDict()  # → (identity, checked at)
        self._refused = collections.OrderedDict()  # → when LAVA refused it
        self._api_tokens = collections.OrderedDict()  # identity → (an API client's token, when)
        self.outage = LavaOutage(clock)
        self.log = RateLimitedLog(log, LOG_INTERVAL, clock)  # never give it a token
        self.sign_ins = 0
        self.refused = 0
        self.malformed = 0  # header tokens refused unasked: too long, or not printable ASCII
        self.lava_errors = 0  # token checks LAVA failed (unreachable, too slow, an error)
        self.held_back = 0  # token checks answered 503 unasked while LAVA was failing

    # -- identities ---------------------------------------------------------------------------
    def answered_at(self, token, lab=""):
        """When LAVA last said whose this token is (its cached answer), or None."""
        cached = self._tokens.get((lab, hashlib.sha256(token.encode()).hexdigest()))
        return cached[1] if cached else None

    def whoami(self, token, lab=""):
        """The identity (core.visibility.identity: "LAB/user" for a named lab) of the user this
        lab's LAVA says the token belongs to (None: LAVA refuses it), or raises LavaUnavailable
        when LAVA cannot say now, or failed a moment ago (LavaOutage: it is not asked again yet).
        Cached for a few minutes, by the lab and the token's hash."""
        digest = (lab, hashlib.sha256(token.encode()).hexdigest())
        cached = self._tokens.get(digest)
        if cached and self.clock() - cached[1] < TOKEN_CACHE_SECONDS:
            return cached[0]
        refused = self._refused.get(digest)
        if refused is not None and self.clock() - refused < REFUSAL_CACHE_SECONDS:
            return None  # LAVA is not asked again about a token it just refused
        wait = self.outage.wait(lab)
        if wait:
            self.held_back += 1
            raise LavaUnavailable(wait)
        from dashboard.sources.rest import LavaError

        self.outage.asking(lab)
        try:
            user = self.rest_for_token(token, lab).whoami()
        except LavaError as err:
            if getattr(err, "status", None) not in (401, 403):
                self.lava_errors += 1
                self.outage.failed(lab)
                wait = self.outage.wait(lab)
                # LavaRest's messages never hold the token they were asked with; and again here.
                self.log.warning("lava:" + lab, "cannot check a token with LAVA%s (%s): %s; tokens "
                                 "it has not vouched for get 503 for %d s",
                                 f" of lab {lab}" if lab else "", err.kind,
                                 str(err).replace(token, "<token>"), wait)
                raise LavaUnavailable(wait, err.kind) from None
            user = None
        finally:
            self.outage.done(lab)
        self.outage.answered(lab)
        if user is None:
            self._refused[digest] = self.clock()
            self._refused.move_to_end(digest)
            while len(self._refused) > MAX_CACHED_TOKENS:
                self._refused.popitem(last=False)
            return None
        user = identity(lab, user) if user else user
        self._tokens[digest] = (user, self.clock())
        self._tokens.move_to_end(digest)
        while len(self._tokens) > MAX_CACHED_TOKENS:
            self._tokens.popitem(last=False)
        if user:  # an API client's "session": as long as its check is cached
            self._api_tokens[user] = (token, self.clock())
            self._api_tokens.move_to_end(user)
            while len(self._api_tokens) > MAX_CACHED_TOKENS:
                self._api_tokens.popitem(last=False)
        return user

    def sign_out(self, sid):
        """End a session; its token goes from every table here too (the sign-in form's check
        kept it as an API client's, which the viewer's questions to LAVA would have gone on
        using). Returns the username, or None."""
        ended = self.sessions.end(sid)
        if ended is None:
            return None
        kept = self._api_tokens.get(ended.username)
        if kept is not None and kept[0] == ended.token:
            del self._api_tokens[ended.username]
        return ended.username

    def token_of(self, username):
        """A token of this viewer to ask LAVA with: a signed-in session's, or a recent API
        client's; None when there is none (the viewer is gone)."""
        token = self.sessions.token_of(username)
        if token is None and username in self._api_tokens:
            token, when = self._api_tokens[username]
            if self.clock() - when >= TOKEN_CACHE_SECONDS:
                del self._api_tokens[username]
                return None
        return token

    def sweep(self):
        """Forget what has outlived its use, without waiting for it to be asked for again: ended
        sessions and their tokens, API clients' tokens and token checks older than
        TOKEN_CACHE_SECONDS, and what LAVA said about a viewer who no longer has a token here."""
        gone = self.sessions.sweep()
        now = self.clock()
        for user, (_, when) in list(self._api_tokens.items()):
            if now - when >= TOKEN_CACHE_SECONDS:
                del self._api_tokens[user]
                gone.add(user)
        for digest, (_, when) in list(self._tokens.items()):
            if now - when >= TOKEN_CACHE_SECONDS:
                del self._tokens[digest]
        for digest, when in list(self._refused.items()):
            if now - when >= REFUSAL_CACHE_SECONDS:
                del self._refused[digest]
        for user in gone:
            if self.token_of(user) is None:
                self.visibility.forget_user(user)
        return gone

    def run_sweeper(self, sleep, relay=None, rounds=None):
        """Every sessions.SWEEP_INTERVAL seconds: sweep(), and have the relay close the live
        connections of sessions that ended (signed out, idle or too old)."""
        count = 0
        while rounds is None or count < rounds:
            sleep(web_sessions.SWEEP_INTERVAL)
            count += 1
            try:
                self.sweep()
                if relay is not None:
                    relay.end_ended_sessions()
            except Exception:  # the next sweep tries again; the loop must not end
                log.exception("sweeping sessions failed")

    def wall_token(self, name, created):
        """The signed token of a wall link."""
        return self.walls.dumps({"n": name, "c": created})

    def wall_of(self, token):
        """(name, created) of a signed wall token, or None when the signature is wrong."""
        try:
            body = self.walls.loads(token)
        except BadSignature:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("n"), str) \
                or not isinstance(body.get("c"), (int, float)):
            return None
        return body["n"], body["c"]

    def viewer(self, cookie, authorization=None, address="?", poll=False, lab=""):
        """(Viewer, wall filter or None, why not) for a request's session cookie and header.
        An address whose tokens LAVA refused MAX_FAILURES times in FAILURE_WINDOW gets
        TooManyRefusals instead of another question to LAVA."""
        return self.who(cookie, authorization, address, poll, lab)[:3]

    def who(self, cookie, authorization=None, address="?", poll=False, lab=""):
        """viewer(), and the id of the session it came from (None: no session, such as an API
        client's token or a wall link). A `poll` (the page's own timer asking) does not count as
        the session's use: an unattended tab does not keep it alive past its idle limit. A token
        is checked by `lab`'s LAVA (several labs: the request's `lab` parameter)."""
        if self.mode == OPEN:
            return EVERYONE, None, None, None
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "token" and token.strip():
                wait = self.failures.blocked("token:" + address)
                if wait:
                    self.refused += 1
                    raise TooManyRefusals(wait)
                problem = token_problem(token.strip())
                if problem:  # LAVA is not asked: it could not be one of its tokens
                    self.failures.fail("token:" + address)
                    self.refused += 1
                    self.malformed += 1
                    return None, None, f"not a LAVA token: {problem}", None
                user = self.whoami(token.strip(), lab)
                if user is None:
                    self.failures.fail("token:" + address)
                    self.refused += 1
                    return None, None, "LAVA does not know this token", None
                return Viewer(username=user), None, None, None
        signed_in = self.sessions.get(cookie.get("sid"), touch=not poll)
        if signed_in is not None:
            return Viewer(username=signed_in.username), None, None, cookie.get("sid")
        wall = cookie.get("wall")
        if isinstance(wall, dict):
            flt, why = walls.check(self.data_dir, wall.get("name"), wall.get("created", -1))
            if flt is None:
                return None, None, why, None
            return Viewer(wall=wall["name"]), flt, None, None
        if self.mode == LOGIN:
            return None, None, "sign in to see this lab", None
        return ANONYMOUS, None, None, None

    def stats(self):
        """The /healthz section: counts only, never a name or a token."""
        return {"mode": self.mode, "sessions": len(self.sessions), "sign_ins": self.sign_ins,
                "sessions_replaced": self.sessions.replaced,
                "refused": self.refused, "malformed": self.malformed,
                "lava_errors": self.lava_errors, "held_back": self.held_back,
                "lava_failing": self.outage.failing(), "known": len(self.visibility),
                "viewer_lookups": self.viewer_visibility.stats() if self.viewer_visibility else None}


def access():
    return services().access


def token_problem(token):
    """Why `token` cannot be a LAVA token (None: it may be one): at most MAX_FIELD printable ASCII
    characters, no spaces. The sign-in form's rule, and the Authorization header's."""
    if not token:
        return "it is empty"
    if len(token) > MAX_FIELD:
        return f"it is longer than {MAX_FIELD} characters"
    if any(ord(c) < 33 or ord(c) > 126 for c in token):
        return "it holds characters other than printable ASCII (no spaces)"
    return None


def lava_unavailable(err):
    """The 503 of a request whose token LAVA cannot check now, in the one error shape."""
    response = jsonify({"ok": False, "error": str(err), "code": "lava_unavailable"})
    response.status_code = 503
    response.headers["Retry-After"] = str(err.wait)
    return response


def client_address():
    """The client's address (the proxy's X-Forwarded-For is applied by ProxyFix when trusted)."""
    return request.remote_addr or "?"


def token_lab():
    """The lab whose LAVA checks a request's `Authorization: Token` ("" for the one unnamed lab):
    with several labs, the request's `token_lab` parameter, else its `lab` (which also chooses
    whose data is read), which must name one (a token is never sent to a LAVA it was not meant
    for); 401 otherwise. `token_lab` lets one lab's token read another lab's history (which
    needs `lab`) as that lab's anonymous visitors see it: before (an audit), `lab` alone sent
    the token to the LAVA of the lab whose data was asked for."""
    labs = services().labs
    if not services().named:
        return ""
    name = request.args.get("token_lab", request.args.get("lab"))
    if name is None and len(labs) == 1:
        return labs[0].name
    if services().lab(name or "") is None:
        known = ", ".join(lab.name for lab in labs)
        abort(401, f"this dashboard watches several labs ({known}): give token_lab=NAME (or "
                   f"lab=NAME), the lab whose LAVA knows this token")
    return name


def is_token(authorization):
    """Whether an Authorization header is `Token <a LAVA token>` (a proxy's Basic is not)."""
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "token" and bool(token.strip())


def request_viewer():
    """(Viewer, wall filter) of this request; aborts with 401 when there is none (login mode, a
    refused token, an expired wall link)."""
    if "viewer" in g:
        return g.viewer, g.wall_filter
    authorization = request.headers.get("Authorization")
    lab = token_lab() if is_token(authorization) else ""  # (401: several labs, none named)
    try:
        viewer, flt, why = access().viewer(session, authorization, client_address(),
                                           poll=request.headers.get("X-Dashboard-Poll") == "1",
                                           lab=lab)
    except TooManyRefusals as err:
        abort(429, str(err))
    except LavaUnavailable as err:  # said (rate-limited) by Access.whoami
        abort(lava_unavailable(err))
    except Exception as err:  # a bug: deny, and say why
        access().log.warning("check", "cannot check a request's token: %s", type(err).__name__)
        viewer, flt, why = None, None, "the token cannot be checked now; try again"
    if viewer is None:
        abort(401, why)
    g.viewer, g.wall_filter = viewer, flt
    return viewer, flt


class TokenLease:
    """A live connection opened with `Authorization: Token`: it may stay while LAVA still says the
    token is its user's. The relay's sweep asks alive() every sessions.SWEEP_INTERVAL; LAVA is
    asked again only when the check's cache (TOKEN_CACHE_SECONDS) has run out."""

    def __init__(self, access, token, username):
        self.access = access
        self.token = token  # in memory only, like Access's own cache; never logged
        self.username = username  # an identity: its lab's LAVA is the one asked
        self.lab = identity_lab(username)
        # One check per token (and user) and sweep, however many connections share it.
        self.key = (hashlib.sha256(token.encode()).hexdigest(), username)
        self.confirmed = access.answered_at(token, self.lab) or access.clock()

    def alive(self):
        try:
            user = self.access.whoami(self.token, self.lab)
        except Exception:  # LAVA cannot say now: its last answer holds for a while, then deny
            return self.access.clock() - self.confirmed < TOKEN_GRACE_SECONDS
        if user != self.username:
            return False
        # When LAVA itself said so (a cached answer is up to TOKEN_CACHE_SECONDS old).
        self.confirmed = self.access.answered_at(self.token, self.lab) or self.access.clock()
        return True

    def __repr__(self):  # never the token
        return f"TokenLease({self.username!r})"


def identify_connection():
    """The Socket.IO connect handler's question (live.relay): (Viewer, a wall link's filter, the
    session's id), or ConnectionRefusedError with a code and why (the page says it, in large type
    on a wall). The relay keeps the session's id to end the connection when the session ends."""
    authorization = request.headers.get("Authorization")
    try:
        lab = token_lab() if is_token(authorization) else ""
        viewer, flt, why, session_id = access().who(session, authorization, client_address(),
                                                    lab=lab)
    except TooManyRefusals as err:
        raise ConnectionRefusedError(str(err), {"code": "too_many"}) from None
    except HTTPException as err:  # several labs, and no lab named for the token
        raise ConnectionRefusedError(err.description, {"code": "unauthorized"}) from None
    except LavaUnavailable as err:  # said (rate-limited) by Access.whoami
        raise ConnectionRefusedError(str(err), {"code": "lava_unavailable",
                                                "retry_after": err.wait}) from None
    except Exception as err:  # a bug: deny, and say why
        access().log.warning("check", "cannot check a connection's token: %s", type(err).__name__)
        viewer, flt, session_id = None, None, None
        why = "the token cannot be checked now; try again"
    if viewer is None:
        code = "wall_link" if wall_session() is not None else "unauthorized"
        raise ConnectionRefusedError(why, {"code": code})
    if session_id is None and viewer.username and not viewer.wall:  # came with a LAVA token
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "token" and token.strip():
            session_id = TokenLease(access(), token.strip(), viewer.username)
    return viewer, flt, session_id


def viewing(job_ids=(), stored=True):
    """This request's view (core.visibility.Viewing): every web output goes through it. A signed-in
    viewer's unanswered private jobs (the model's, and `job_ids`) are asked about, for next time.
    `stored`: the output reads the store, so the view knows what of it is withheld from everyone
    (web.withheld); an output of the live model alone says False and reads nothing of it."""
    viewer, flt = request_viewer()
    ctl = access()
    lab = lab_name()  # the named lab whose job ids and stored rows this request reads
    jobs = services().state.jobs  # by core.visibility.job_key
    if viewer.username and not viewer.wall and ctl.viewer_visibility is not None:
        # Their own lab's jobs only (anonymous to the others), chosen before the bound.
        ids = newest_to_ask(jobs_of_lab(jobs, viewer.lab), viewer.lab)
        ctl.viewer_visibility.want(viewer.username, [*ids, *_own(viewer, lab, job_ids)])
    return Viewing(viewer, jobs, ctl.visibility, parse_filter(flt) if flt is not None else None,
                   lab, lab_withheld(lab) if stored else None)


def ask_about(job_ids):
    """Ask LAVA, for next time, whether this request's signed-in viewer may see these jobs of the
    request's lab: only jobs the dashboard knows (a viewer asking for every id there is would fill
    the answers every viewer shares, pushing theirs out: an audit)."""
    viewer, _ = request_viewer()
    ctl = access()
    if viewer.username and not viewer.wall and ctl.viewer_visibility is not None:
        ctl.viewer_visibility.want(viewer.username, _own(viewer, lab_name(), job_ids))


def _own(viewer, lab, job_ids):
    """The job keys of `job_ids` (of the request's lab) when that is the viewer's own lab."""
    return [(lab, i) if lab else i for i in job_ids] if lab == viewer.lab else []


def filter_from_wall(text):
    """'device_type=qemu&health=Bad' → ({"device_types": ["qemu"], "health": ["Bad"]}, query)."""
    flt = {}
    for name, value in urllib.parse.parse_qsl(text, keep_blank_values=False, strict_parsing=False):
        if name not in WALL_FILTERS:
            raise ValueError(f"unknown filter {name!r}; known: {', '.join(WALL_FILTERS)}")
        flt.setdefault(WALL_FILTERS[name], []).append(value)
    return flt


def wall_session():
    """The wall link this browser's session came from ({"name", "created"}: _exchange_wall_link),
    or None (a viewer's session, or none)."""
    wall = session.get("wall")
    return wall if isinstance(wall, dict) else None


def _csrf_token():
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


@bp.before_app_request
def gate():
    """Login mode: nothing but the sign-in page (and static files, /healthz) without a viewer;
    a web process whose access is less strict than the ingest process's: nothing but those. A
    wall link's token in the address is exchanged for a cookie first. A wall link's screen reads
    no REST, feed, export or metrics output but WALL_PATHS, in any mode."""
    replica = services().replica
    if replica is not None and replica.access_problem and not request.path.startswith(OPEN_PATHS) \
            and (replica.mismatch or request.path != "/"):
        # A web process less strict than its ingest process (live/cluster_web.py): nothing but why.
        # (While the ingest process's access is not known yet, the page itself, which holds no
        # data, loads and waits: its Socket.IO is sent no model until then.)
        return error_body(503, replica.access_problem, "access_mismatch")
    if request.path == "/" and request.args.get("link"):
        return _exchange_wall_link(request.args["link"])
    if wall_session() is not None and request.path.startswith(GUARDED_PATHS) \
            and request.path not in WALL_PATHS and request_viewer()[0].wall:
        return error_body(403, "a wall link shows its live view only: sign in to use the API, "
                          "feeds and exports (docs/security.md)", "wall_link")
    if access().mode != LOGIN or request.path.startswith(OPEN_PATHS):
        return None
    try:
        request_viewer()
    except Exception:  # 401
        if request.path == "/":
            if wall_session() is not None:  # a wall's screen reloaded: it says why
                return _wall_refused(wall_session())
            return redirect(url_for("auth.signin_page"))
        raise
    return None


def _wall_refused(wall):
    """A wall link's screen whose link no longer holds (revoked, expired), loaded again (a kiosk
    restarted): the page that says why, in large type, not the sign-in form (an audit: only a
    live reconnect said why)."""
    name = wall.get("name")
    flt, why = walls.check(access().data_dir, name, wall.get("created") or 0)
    if flt is not None:
        why = "this screen cannot be let in now; reload it to try again"
    return render_template("signin.html", error=f"Wall link {name}: {why}.",
                           csrf=_csrf_token(), username="", wall_error=True), 401


def _exchange_wall_link(token):
    wall = access().wall_of(token)
    if wall is None:
        return render_template("signin.html", error="This wall link is not valid.", csrf=_csrf_token(),
                               username="", wall_error=True), 401
    name, created = wall
    flt, why = walls.check(access().data_dir, name, created)
    if flt is None:
        return render_template("signin.html", error=f"Wall link {name}: {why}.", csrf=_csrf_token(),
                               username="", wall_error=True), 401
    session.clear()
    session["wall"] = {"name": name, "created": created}
    session.permanent = True
    query = {k: v for k, v in request.args.items(multi=True) if k != "link"}
    query.setdefault("wall", "1")
    for criterion, values in flt.items():  # the page shows the filter it is limited to
        url_name = next(k for k, v in WALL_FILTERS.items() if v == criterion)
        query.setdefault(url_name, ",".join(values))
    return redirect("/?" + urllib.parse.urlencode(query))


@bp.get("/signin")
def signin_page():
    """The sign-in form (LAVA username and API token); `?ended=1`: the page was sent here because
    the viewer's session ended, and it says so."""
    return render_template("signin.html", error=None, csrf=_csrf_token(), username="",
                           wall_error=False, mode=access().mode, ended=bool(request.args.get("ended")),
                           labs=_lab_names())


@bp.post("/signin")
def signin():
    """Check the pair with LAVA; on success a session, else a clear message (rate-limited)."""
    ctl = access()
    form = request.form
    if not hmac.compare_digest(str(form.get("csrf", "")), str(session.get("csrf", "-"))):
        abort(400, "the form has expired: reload the page and sign in again")
    username, token = form.get("username", "").strip(), form.get("token", "").strip()
    lab = form.get("lab", "").strip()  # several labs: whose LAVA knows this user and token
    labs = [part.name for part in services().labs if part.name]
    if not labs:
        lab = ""
    elif lab not in labs:
        return _signin_error(f"Choose the lab whose LAVA knows you ({', '.join(labs)}).",
                             username, 400)
    address = client_address()
    wait = max(ctl.failures.blocked("addr:" + address), ctl.failures.blocked("user:" + username))
    if wait:
        ctl.refused += 1
        return _signin_error(f"Too many failed sign-ins: try again in {wait} s.", username, 429)
    if not username or len(username) > MAX_FIELD or token_problem(token):
        return _signin_error("Give your LAVA username and one of your LAVA API tokens.", username, 400)
    try:
        user = ctl.whoami(token, lab)
    except LavaUnavailable as err:  # said (rate-limited) by Access.whoami
        return _signin_error(f"{err}.", username, 503, {"Retry-After": str(err.wait)})
    except Exception as err:  # a bug
        ctl.log.warning("check", "cannot check a sign-in's token: %s", type(err).__name__)
        return _signin_error("The token cannot be checked now: try again later.", username, 503)
    if user != identity(lab, username) or "/" in username:
        ctl.failures.fail("addr:" + address)
        ctl.failures.fail("user:" + username)
        ctl.refused += 1
        log.info("sign-in refused from %s", address)  # never the token, nor the name tried
        return _signin_error("LAVA does not know this username with this token.", username, 401)
    session.clear()
    session["sid"] = ctl.sessions.create(user, token)  # the identity: "LAB/user" for a named lab
    # The form token now, not at the first request that asks: the page's first requests come at
    # once, and each would make its own, the last cookie winning over the token another holds
    # (an acknowledgement was then refused as stale).
    _csrf_token()
    session.permanent = True
    ctl.sign_ins += 1
    log.info("%s signed in", user)
    return redirect(url_for("views.index"))


def _signin_error(message, username, status, headers=None):
    return render_template("signin.html", error=message, csrf=_csrf_token(), username=username,
                           wall_error=False, mode=access().mode, labs=_lab_names()), status, \
        headers or {}


def _lab_names():
    """The named labs a viewer may sign in to (several labs), else []."""
    return [lab.name for lab in services().labs if lab.name]


@bp.post("/signout")
def signout():
    """End the session: its token is forgotten, and what LAVA said about this viewer."""
    if not hmac.compare_digest(str(request.form.get("csrf", "")), str(session.get("csrf", "-"))):
        abort(400, "the form has expired: reload the page")
    username = access().sign_out(session.get("sid"))
    if username and access().sessions.token_of(username) is None:
        access().visibility.forget_user(username)
    if services().relay is not None:  # this session's pages in other tabs: closed now
        services().relay.end_ended_sessions(tokens=False)  # LAVA is not asked in a sign-out
    session.clear()
    return redirect(url_for("auth.signin_page") if access().mode == LOGIN else url_for("views.index"))


@bp.get("/api/v1/whoami")
def whoami():
    """Who this request is seen as, and how to sign out (the page shows it)."""
    viewer, flt = request_viewer()
    lab = viewer.lab  # several labs: the one whose LAVA signed them in (anonymous to the others)
    return {"ok": True, "access": access().mode,
            "username": viewer.username[len(lab) + 1 if lab else 0:] or None, "lab": lab or None,
            "wall": viewer.wall or None, "filter": flt, "csrf": _csrf_token()}


@bp.app_errorhandler(401)
def unauthorized(exc):
    """401 in the one error shape (the page turns it into the sign-in)."""
    return error_body(401, exc.description or "sign in first", "unauthorized")
