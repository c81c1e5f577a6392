"""Socket.IO relay: subscriptions with filters, a snapshot on subscribe, then filtered, batched deltas.

Clients with the same filter share one room, and a batch is encoded once per room. During a burst a
room gets at most one batch per gap (core/batching.py); after a quiet spell a change goes out at
once. A room whose clients asked for at most `max_rate` messages a second holds what comes between
two of its messages and gets it in the next. The last
`log_size` changes are kept, so that a client that reconnects with `since` (its last seq) and the
same `epoch` gets only what it missed. Every emit here reaches this process's own clients only
(`ignore_queue`): with several web processes, each relays to its own. Protocol: docs/protocol.md.

What one client may cost is bounded (live/limits.py): an address holds at most
`max_sessions_per_address` sessions, and its `subscribe` requests are rate-limited per viewer
whatever session sends them (AddressShares), a snapshot is encoded once per filter and seq and
shared, at most one snapshot waits in a client's queue, and a client whose queue grows past `max_queue` is dropped (it reconnects and catches up).
A message that is not one of the protocol's, or an event with the wrong arguments, never reaches
these handlers as such: it is refused, counted and answered by refusals.SocketRefusals.
"""
import collections
import hashlib
import logging
import time
import uuid

from flask import request
from flask_socketio import ConnectionRefusedError, join_room

from dashboard.core.batching import KNEE as BATCH_KNEE, AdaptiveInterval
from dashboard.core.changelog import without_screened
from dashboard.core.filters import CRITERIA, FilterError, parse_filter
from dashboard.core.visibility import (ANONYMOUS, EVERYONE, PUBLIC, SHOWN_OF_A_PRIVATE_JOB, Viewing,
                                       Visibility, job_key, jobs_of_lab, may_see_job, newest_to_ask,
                                       redact_job, view_object)
from dashboard.live.health import RateLimitedLog
from dashboard.live.limits import AddressShares, MessageBudget, Outbox, SnapshotCache

log = logging.getLogger("dashboard.live.relay")
TOO_MANY_SESSIONS = ("too many live connections from your address (at most {cap} at once): close "
                     "another tab or screen of this dashboard, or try again in {wait} s")
# Seconds an Engine.IO ping may go unanswered before, at the cap, its session counts as gone: half
# Engine.IO's ping timeout (20 s), while a client on a working network answers within a second.
STALE_PING = 10.0
SESSION_ENDED = ("your session has ended (signed out, unused for too long, or at the end of its "
                 "lifetime): sign in again")


class Group:
    """The clients that share one filter, see the same (core.visibility.Viewer.key) and asked for
    the same least gap between two messages; the seq of the last batch sent to them, and what is
    held for them until that gap has passed."""

    def __init__(self, flt, sent_seq, viewer=EVERYONE, min_gap=0.0):
        self.filter = flt
        self.viewer = viewer
        self.min_gap = min_gap  # seconds; 0: as often as the relay sends
        self.key = group_key(flt, viewer, min_gap)
        self.room = "f:" + hashlib.sha1(self.key.encode()).hexdigest()[:16]
        self.sids = set()
        self.sent_seq = sent_seq
        self.held = []  # wire changes selected for this group, not yet sent (min_gap)
        self.held_seq = sent_seq  # the seq of the last batch they came from
        self.last_sent = float("-inf")

    def due(self, now):
        """Seconds until this group may be sent to again (0 or less: now)."""
        return self.last_sent + self.min_gap - now


def group_key(flt, viewer, min_gap=0.0):
    return f"{viewer.key}|{flt.key}" + (f"|{min_gap}" if min_gap else "")


MAX_RATE = 100  # messages a second: what a subscribe's max_rate may ask for at most
# Viewers whose changes of what they may see are counted (view_tag). Forgetting one renews every
# signed-in viewer's tag (refresh_viewer): its count starting from 0 again could match an old tag.
MAX_VIEW_CHANGES = 100_000


def _now_ms():
    """The server's clock (epoch ms) in a subscribe's answer: the page shows times by it, whatever
    the browser's own clock says (docs/protocol.md)."""
    return int(time.time() * 1000)


def min_gap_of(max_rate):
    """A subscribe's `max_rate` (messages a second, from 1 to MAX_RATE; None: no limit) → the
    least gap between two `changes` messages to that client, in seconds (0.0: none)."""
    if max_rate is None:
        return 0.0
    if isinstance(max_rate, bool) or not isinstance(max_rate, (int, float)) \
            or not 1 <= max_rate <= MAX_RATE:
        raise ValueError(f"max_rate: a number of messages a second, from 1 to {MAX_RATE}")
    return round(1.0 / max_rate, 4)


class Redactions:
    """What a viewer who may not see a job is shown of it, computed once per change per batch
    (not once per group or client).

    A change holds its job as it was then, `visibility` included; LAVA may have made the job
    private since (the change log replayed to a reconnecting client reaches back thousands of
    changes). So a job a change shows is judged by the model's visibility of it now, and one the
    model no longer holds by LAVA's answers alone (core.visibility.may_see_job: default deny).

    A change's `prev` is shown to nobody: it decides whether a client that may hold the job must be
    told to drop it (a removal carries no data). It is judged now too; a job this viewer was shown
    then (may_see_job of the change's own copy) and may not see now (LAVA made it private) is dropped by every filter that
    matches it on what a redacted job still shows (select: HIDDEN_CRITERIA left out), so that a
    client following a submitter drops its public copy, and the removal says nothing of the
    submitter (any client may replay the change log)."""

    def __init__(self, jobs, visibility):
        self.jobs = jobs
        self.visibility = visibility
        self._redacted = {}

    def view(self, viewer, kind, obj, seq, which):
        if obj is None or viewer.sees_all:
            return obj
        if kind == "job":
            current = self.jobs.get(job_key(obj))
            told = current.get("visibility") if current is not None else None
            judged = obj if obj.get("visibility") == told else dict(obj, visibility=told)
            if may_see_job(viewer, judged, self.visibility):
                return obj
            key = (seq, which)
            if key not in self._redacted:
                self._redacted[key] = redact_job(obj)
            return self._redacted[key]
        return view_object(viewer, kind, obj, self.jobs, self.visibility)


# The filter criteria on what a redacted job hides (core.visibility.SHOWN_OF_A_PRIVATE_JOB).
HIDDEN_CRITERIA = tuple(name for name, fields in CRITERIA.items()
                        if fields and fields.get("job") and fields["job"] not in SHOWN_OF_A_PRIVATE_JOB)
# The criteria a removal for the screen (LAVA hid the board: Change.screened) is sent without: a
# page that asks only for messages, or for Bad boards, holds feed items of a board or job it was
# never sent (a message of its job) or that left its filter before (Bad, then Good). They go too,
# so the page drops those items (static/js/store.js); who it is about (board, type, worker,
# submitter, lab) still decides, as for every other change.
SCREENED_CRITERIA = ("kinds", "health")


def select(flt, changes, viewer=EVERYONE, redactions=None):
    """The wire form of the changes this filter lets through, as this viewer may see them; a change
    that makes a visible object stop matching is sent as a removal (data null)."""
    out = []
    for change in changes:
        data, prev = change.data, change.prev
        hidden_since = False
        if not viewer.sees_all:
            data = redactions.view(viewer, change.kind, data, change.seq, "data")
            then = prev
            prev = redactions.view(viewer, change.kind, prev, change.seq, "prev")
            # Shown then, hidden now (Redactions): dropped whatever the hidden fields said.
            hidden_since = (change.kind == "job" and prev is not then and then is not None
                            and may_see_job(viewer, then, redactions.visibility))
            if (data is not change.data and prev is not then and data == prev
                    and not hidden_since):
                continue  # a hidden field's change alone: not a word of it to this viewer
        if data is not None and flt.matches(change.kind, data):
            item = {"seq": change.seq, "kind": change.kind, "id": change.id, "data": data}
            if change.lab:
                item["lab"] = change.lab
            out.append(item)
        elif prev is not None and (flt.matches(change.kind, prev) or (
                hidden_since and flt.matches_without(change.kind, prev, HIDDEN_CRITERIA)) or (
                change.screened and flt.matches_without(change.kind, prev, SCREENED_CRITERIA))):
            out.append(change.wire(removed=True))
    return out


class Relay:
    """Owns the Socket.IO handlers and the flush loop."""

    def __init__(self, socketio, state, meta, interval=0.1, max_pending=20000, mode="batched",
                 clock=time.monotonic, log_size=5000, identify=None, visibility=None,
                 subscribe_burst=5, subscribe_rate=1.0, max_queue=1000, max_messages=100,
                 floor=0.0, budget=0.25, cpu_clock=time.thread_time, direct=None,
                 max_sessions_per_address=0, knee=BATCH_KNEE):
        self.socketio = socketio
        self.state = state
        self.meta = meta  # a live.meta.Meta: its changes are told to every client of this process
        self.interval = interval
        # Adaptive batching (core/batching.py): the gap follows what recent flushes cost, kept
        # under `budget` (a share of one core), and grows with the stream above `knee` changes a
        # second, from `floor` up to `interval`; None: always `interval`. The cost is CPU time of
        # the thread that runs the hub (every green thread: this loop and the clients' writers),
        # not of the store's or the sources' OS threads.
        self.adaptive = AdaptiveInterval(floor, interval, budget, knee=knee) if floor else None
        self.cpu_clock = cpu_clock
        # live.direct.Direct: each batch's frame written straight to its clients' sockets; None:
        # every packet through python-engineio's queue.
        self.direct = direct
        self.max_pending = max_pending
        self.mode = mode
        self.clock = clock
        self.groups = {}  # group key (viewer and filter) → Group
        self.clients = {}  # sid → group key
        # Who is looking (web.auth, through the factory): at connect, () → (Viewer, a wall link's
        # filter or None, the id of the session it came from or None), or raises
        # ConnectionRefusedError. None: everyone sees everything.
        self.identify = identify
        # Why this process serves no one now, or None: a web process's is its Replica.refusal.
        self.refusal = lambda unknown_too=False: None
        self.visibility = visibility if visibility is not None else Visibility()
        # sid → (Viewer, wall filter, lease): the lease is the id of the session the client came
        # from, or an object whose alive() says whether it may stay (web.auth.TokenLease: a
        # connection opened with a LAVA token), or None.
        self.viewers = {}
        # The signed-in viewers' sessions (web.sessions.Sessions, set by the factory): a client's
        # subscribe notes its session in use; a client whose session ended is disconnected.
        self.sessions = None
        self.sessions_ended = 0
        self.want = None  # (username, job ids) → ask LAVA what that viewer may see (set by the factory)
        self.must_snapshot = set()  # sids whose view changed: their next subscribe gets a snapshot
        # username → times LAVA took back something that viewer could see (refresh_viewer): part of each
        # snapshot's `view` tag, so that a page away meanwhile is not caught up (view_tag)
        self._view_changes = collections.OrderedDict()
        self._process = uuid.uuid4().hex  # (in a signed-in viewer's view tag)
        self.on_leave = []  # fn(sid) for each client that goes away (e.g. the log tail)
        self.refused = 0
        self.pending = []
        self.log = collections.deque(maxlen=log_size)  # the newest changes, for catch-up
        self.screened_emptied = 0  # changes of the log made empty for a removal for the screen (push)
        self.catchups = 0
        self.last_flush = float("-inf")
        self.batches_sent = 0
        self.overflows = 0
        self._wake = None
        self.subscribe_burst = subscribe_burst
        self.subscribe_rate = subscribe_rate
        # Sessions and subscribe buckets per client address (and viewer): a client cannot reset
        # its bucket by reconnecting, nor open sessions without end over one kept-alive connection
        # (--max-connections-per-address counts connections). 0: no limit.
        self.shares = AddressShares(max_sessions_per_address, subscribe_burst, subscribe_rate, clock)
        self.sessions_refused = 0
        self.sessions_reclaimed = 0
        self.log_limited = RateLimitedLog(log, interval=30.0)
        self.rate_limited = 0
        self.snapshots = SnapshotCache()
        self.outbox = Outbox(socketio, max_queue)
        self.budget = MessageBudget(max_messages, clock)
        # The Socket.IO messages refused before or by a handler (refusals.SocketRefusals, set by the
        # factory): malformed, too deep, wrong arguments, unknown events. Counted in stats().
        self.refusals = None
        self.engine_sessions = collections.Counter()  # address → its Engine.IO sessions
        self.engine_address = {}  # Engine.IO sid → address
        if getattr(socketio, "server", None) is not None:  # bound: the app's own SocketIO
            self.budget.install(socketio.server.eio)
            self._install_engine_cap(socketio.server.eio)
        meta.listen(self._meta_changed)
        socketio.on_event("connect", self.on_connect)
        socketio.on_event("subscribe", self.on_subscribe)
        socketio.on_event("disconnect", self.on_disconnect)

    @property
    def epoch(self):
        """Names this run of the model: sequence numbers only compare within one epoch."""
        return self.meta.get("epoch")

    def _emit(self, event, data, to=None):
        self.socketio.emit(event, data, to=to, ignore_queue=True)

    def _meta_changed(self, changed):
        self.snapshots.clear()  # a snapshot carries the meta
        self._emit("status", changed)

    # -- Socket.IO handlers ----------------------------------------------------------------
    def on_connect(self, auth=None):
        """Who is this? (login mode, a revoked wall link: refused, with why.)"""
        why = self.refusal()
        if why:  # a web process less strict than its ingest process (live/cluster_web.py)
            self.refused += 1
            raise ConnectionRefusedError(why, {"code": "access_mismatch"})
        address = self.client_address()
        if self.shares.full(address) and not self._reclaim_stale(address):
            self.sessions_refused += 1
            wait = self._ping_cycle()
            self.log_limited.warning("too_many_sessions", "refused a Socket.IO connection from %s: "
                                     "it holds %d sessions (--max-sessions-per-address)",
                                     address[:64], self.shares.cap)
            raise ConnectionRefusedError(TOO_MANY_SESSIONS.format(cap=self.shares.cap, wait=wait),
                                         {"code": "too_many_sessions", "retry_after": wait})
        self.shares.admit(request.sid, address)  # before identify, which may wait on LAVA
        if self.identify is None:
            return True
        try:
            self.viewers[request.sid] = self.identify()
        except BaseException as exc:  # refused (no disconnect follows), or a bug
            self.shares.release(request.sid)
            if isinstance(exc, ConnectionRefusedError):
                self.refused += 1
            raise
        return True

    def client_address(self):
        """The connection's client address, as the HTTP layer's (web.auth.client_address: the
        proxy's X-Forwarded-For when --trusted-proxy, through werkzeug's ProxyFix)."""
        environ = request.environ
        if "HTTP_X_FORWARDED_FOR" in environ and "werkzeug.proxy_fix.orig" not in environ:
            self.log_limited.warning("untrusted_proxy", "Socket.IO connections come through a proxy "
                                     "(X-Forwarded-For) but --trusted-proxy is off: its clients "
                                     "share its address, and the limits per address "
                                     "(--max-sessions-per-address, subscribe) count them together")
        return request.remote_addr or "?"

    def _install_engine_cap(self, eio):
        """Bound the address's Engine.IO sessions too, at twice its Socket.IO sessions' cap: one
        refused at Socket.IO connect (which tells the client why) or never connected lives until
        its ping timeout, and those must not pile up either. Past it, the handshake is answered
        401 in the one error shape."""
        on_connect, on_disconnect = eio.handlers["connect"], eio.handlers["disconnect"]

        def connect(eio_sid, environ, *args):
            address = environ.get("REMOTE_ADDR") or "?"  # (after ProxyFix, when trusted)
            cap = self.shares.cap
            if cap and self.engine_sessions[address] >= 2 * cap:
                self.sessions_refused += 1
                self.log_limited.warning("too_many_sessions", "refused a Socket.IO connection "
                                         "from %s: it holds %d sessions "
                                         "(--max-sessions-per-address)", address[:64], 2 * cap)
                wait = self._ping_cycle()
                return {"ok": False, "code": "too_many_sessions", "retry_after": wait,
                        "error": TOO_MANY_SESSIONS.format(cap=cap, wait=wait)}
            answer = on_connect(eio_sid, environ, *args)
            self.engine_address[eio_sid] = address
            self.engine_sessions[address] += 1
            return answer

        def disconnect(eio_sid, *args):
            address = self.engine_address.pop(eio_sid, None)
            if address is not None:
                self.engine_sessions[address] -= 1
                if self.engine_sessions[address] <= 0:
                    del self.engine_sessions[address]
            return on_disconnect(eio_sid, *args)

        eio.on("connect", connect)
        eio.on("disconnect", disconnect)

    def _ping_cycle(self):
        """Seconds until a session whose client has gone is ended by Engine.IO's ping timeout."""
        eio = getattr(getattr(self.socketio, "server", None), "eio", None)
        return int(getattr(eio, "ping_interval", 25) + getattr(eio, "ping_timeout", 20))

    def _reclaim_stale(self, address):
        """At the cap: end this address's sessions whose client has stopped answering Engine.IO's
        pings (a screen whose network dropped, ended at the ping timeout anyway), so that the
        same screen is not refused meanwhile when it reconnects. True when one was ended."""
        server = getattr(self.socketio, "server", None)
        if server is None:
            return False
        now = time.time()  # (Engine.IO's clock)
        stale = []
        for sid in list(self.shares.sids.get(address, ())):
            sock = server.eio.sockets.get(server.manager.eio_sid_from_sid(sid, "/"))
            last_ping = getattr(sock, "last_ping", None)
            if sock is None or getattr(sock, "closed", False) or (
                    last_ping and now - last_ping > STALE_PING):
                stale.append((sid, sock))
        for sid, sock in stale:
            self.sessions_reclaimed += 1
            if sock is not None and not sock.closed:
                try:  # (not waiting for its queue: nobody reads it)
                    sock.close(wait=False, abort=True, reason=server.eio.reason.PING_TIMEOUT)
                except Exception:  # one client's failure must not refuse the newcomer
                    log.exception("ending a stale session failed")
            self._forget(sid)  # (done already by its disconnect, unless its session was gone)
        return bool(stale)

    def on_subscribe(self, message=None):
        """Client asks for a filter: answer with an ack, then the changes it missed since `since`
        when they are all still held (same epoch), else a snapshot of what matches."""
        sid = request.sid
        if not self.note_activity(sid):
            return {"ok": False, "code": "session_ended", "error": SESSION_ENDED}
        why = self.refusal()
        if why:
            return {"ok": False, "code": "access_mismatch", "error": why}
        raw = message.get("filter") if isinstance(message, dict) else message
        viewer, wall = self.viewer_of(sid)
        if wall is not None:
            raw = wall  # a wall link's screen sees its filter, whatever it asks for
        try:
            flt = parse_filter(raw)
        except FilterError as exc:
            return {"ok": False, "code": "bad_filter", "error": str(exc)}
        unknown = self._unknown_labs(flt)
        if unknown:  # as REST's `lab=` says (it matched nothing, and said nothing: an audit)
            return {"ok": False, "code": "bad_filter", "error": unknown}
        try:
            min_gap = min_gap_of(message.get("max_rate") if isinstance(message, dict) else None)
        except ValueError as exc:
            return {"ok": False, "code": "bad_request", "error": str(exc)}
        if self.epoch is None:  # a web process before its first snapshot: nothing true to send yet
            return {"ok": False, "retry": True, "code": "not_ready",
                    "error": "not ready: waiting for the ingest process's model"}
        # Only what costs a snapshot or a catch-up is rate-limited: the answers above are cheap,
        # and every message a client sends is budgeted anyway (limits.MessageBudget).
        # Per address and viewer, not per session: reconnecting or opening more brings no more.
        wait = self.shares.bucket(sid, viewer.key).take()
        if wait:
            self.rate_limited += 1
            return {"ok": False, "retry": True, "code": "rate_limited", "error": "rate limited",
                    "retry_after": round(wait, 3)}
        if self.outbox.check([sid], record=False):
            return {"ok": False, "code": "lagging", "error": "too far behind: reconnect"}
        missed = None
        if isinstance(message, dict) and message.get("epoch") == self.epoch \
                and message.get("view") == self.view_tag(viewer) and sid not in self.must_snapshot:
            missed = self.changes_since(message.get("since"))
        self.must_snapshot.discard(sid)
        self._leave(sid)
        key = group_key(flt, viewer, min_gap)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(flt, self.state.seq, viewer, min_gap)
        group.sids.add(sid)
        self.clients[sid] = key
        join_room(group.room)
        self._ask_about_private_jobs(viewer, jobs_of_lab(self.state.jobs, viewer.lab))
        if missed is not None:
            self.catchups += 1
            self._emit("status", self.meta.as_dict(), to=sid)  # what a snapshot would have said besides
            self._emit("changes", {"prev": message["since"], "seq": self.state.seq,
                                   "epoch": self.epoch,
                                   "changes": select(flt, missed, viewer, self._redactions())},
                       to=sid)
            return {"ok": True, "seq": self.state.seq, "catchup": True, "now": _now_ms()}
        seq = self.state.seq
        # Shared by the clients that see the same (viewer key) with the same filter, at one seq.
        # (And at most a minute old: what LAVA said of a private job counts for
        # core.visibility.MAX_AGE, and a quiet lab may keep one seq for longer.)
        encoded = self.snapshots.get((group.key, seq, self.epoch, int(self.clock() // 60)),
                                     lambda: self._encode_snapshot(flt, viewer))
        self.outbox.send_snapshot(sid, encoded)
        return {"ok": True, "seq": seq, "catchup": False, "now": _now_ms()}

    def _encode_snapshot(self, flt, viewer):
        view = Viewing(viewer, self.state.jobs, self.visibility, flt)
        snapshot = view.snapshot(self.state.snapshot())
        snapshot["filter"] = flt.as_dict()
        snapshot["meta"] = self.meta.as_dict()
        snapshot["epoch"] = self.epoch
        snapshot["view"] = self.view_tag(viewer)
        return self.outbox.encode("snapshot", snapshot)

    def view_tag(self, viewer):
        """Names whom a snapshot was made for: the viewer, and how many times LAVA has taken back
        something they could see since this process started. A subscribe continues a page by a catch-up
        only when it offers the same tag: the changes it missed are chosen for the viewer now, but
        what the page holds was chosen for the one before (found by an audit: a page whose session
        ended while it was away was caught up as anonymous, and kept the private jobs it had been
        shown; a viewer who may see less than before kept what LAVA took back). An anonymous
        viewer's is the same in every web process of a cluster (what they may see is the model's,
        which all share); a signed-in viewer's names this process too, since what LAVA told it
        about them, and took back, is its own (a review: a page moved to another process, or
        back after a restart, was caught up there with what LAVA had taken back)."""
        if not viewer.username:
            return hashlib.sha256(f"{viewer.key}".encode()).hexdigest()[:16]
        changes = self._view_changes.get(viewer.username, 0)
        return hashlib.sha256(f"{viewer.key}\n{changes}\n{self._process}".encode()).hexdigest()[:16]

    def changes_since(self, since):
        """The held changes after `since`, or None when they do not all reach back that far."""
        if not isinstance(since, int) or isinstance(since, bool) or not 0 <= since <= self.state.seq:
            return None
        if since == self.state.seq:
            return []
        log = self.log
        # Held changes are consecutive up to the model's seq, or the log says nothing.
        if not log or log[-1].seq != self.state.seq or log[-1].seq - log[0].seq + 1 != len(log):
            return None
        if since < log[0].seq - 1:
            return None
        return [c for c in log if c.seq > since]

    def viewer_of(self, sid):
        """(Viewer, a wall link's filter or None) of a client of this process. One not identified
        at connect sees what an anonymous viewer sees, unless access is open."""
        return self.viewers.get(sid, (EVERYONE if self.identify is None else ANONYMOUS, None))[:2]

    def note_activity(self, sid):
        """A client did something: its session (if it came from one) is noted in use, as a page
        load would. False when that session has ended: the client is disconnected."""
        session_id = self.viewers.get(sid, (None, None, None))[2]
        if not isinstance(session_id, str) or self.sessions is None or self.sessions.get(session_id):
            return True
        self.end_client(sid)
        return False

    def _lease_alive(self, lease, asked):
        if isinstance(lease, str):
            return self.sessions is None or self.sessions.alive(lease)
        key = getattr(lease, "key", id(lease))
        if key not in asked:  # one question per token and round, however many connections
            try:
                asked[key] = lease.alive()
            except Exception:  # cannot tell: deny (the client may connect again, and is asked anew)
                log.exception("checking a connection's token failed")
                asked[key] = False
        return asked[key]

    def end_ended_sessions(self, tokens=True):
        """Disconnect every client whose session has ended (signed out in another tab, unused for
        too long, or at the end of its lifetime), or whose LAVA token LAVA no longer takes as its
        user's; returns how many. Run by the sweep (web.auth.Access.run_sweeper), and at each
        sign-out with tokens=False (sessions only: a sign-out does not wait on LAVA). LAVA is
        asked at most once per token per call."""
        asked = {}
        ended = [sid for sid, (_, _, lease) in list(self.viewers.items())
                 if lease is not None and (tokens or isinstance(lease, str))
                 and not self._lease_alive(lease, asked)]
        for sid in ended:
            try:
                self.end_client(sid)
            except Exception:  # one client's failure must not keep the others signed in
                log.exception("ending a client whose session ended failed")
        return len(ended)

    def end_client(self, sid):
        """Tell a client its session ended (the page sends the viewer to the sign-in, which says
        so), then disconnect it. In `lava` mode the page may connect again, as anonymous; in
        `login` mode that connection is refused."""
        if sid in self.viewers:  # ended once: a later sweep does not end it again
            _, wall, _ = self.viewers[sid]
            # Until the disconnect is done (or should it not happen), it is no longer the viewer
            # it was: out of its group, seen as anonymous.
            self._leave(sid)
            self.viewers[sid] = (ANONYMOUS, wall, None)
        self.sessions_ended += 1
        self._emit("session_ended", {"code": "session_ended", "error": SESSION_ENDED}, to=sid)
        self.socketio.server.disconnect(sid, namespace="/", ignore_queue=True)

    def send(self, sid, event, data):
        """Emit to one client, unless its queue is over the bound (it is dropped, and catches up)."""
        if not self.outbox.check([sid], record=False):
            self._emit(event, data, to=sid)

    def on_disconnect(self, *args):
        """Forget a client that went away."""
        self._forget(request.sid)

    def _forget(self, sid):
        """(Idempotent: a stale session reclaimed at the cap is forgotten, then disconnected.)"""
        for hook in self.on_leave:
            hook(sid)
        self._leave(sid)
        self.viewers.pop(sid, None)
        self.must_snapshot.discard(sid)
        self.shares.release(sid)
        self.outbox.forget(sid)

    def _unknown_labs(self, flt):
        """Why the filter's `labs` name no lab this dashboard watches, or None."""
        wanted = flt.criteria.get("labs")
        if not wanted:
            return None
        names = set(getattr(self.state, "labs", None) or ())
        missing = sorted(wanted - names)
        if not missing:
            return None
        if not names:
            return "this dashboard watches one lab, which has no name: leave out the labs filter"
        return (f"no lab named {missing[0][:40]!r}; this dashboard's labs: "
                f"{', '.join(sorted(names))}")

    def _redactions(self):
        return Redactions(self.state.jobs, self.visibility)

    def _ask_about_private_jobs(self, viewer, jobs):
        """A signed-in viewer: have LAVA asked (with their token) about the private jobs they may
        be able to see; their page is refreshed when LAVA says yes (refresh_viewer). True when
        LAVA is being asked about any of them."""
        if self.want is None or not viewer.username or viewer.sees_all or viewer.wall:
            return False
        # Only the jobs of the lab whose LAVA knows the viewer (they are anonymous to the others),
        # chosen before the bound, so that another lab's many jobs cannot crowd theirs out.
        # The newest unanswered: bounded per subscribe, and found without walking every job.
        ids = newest_to_ask(jobs, viewer.lab,
                            lambda key: self.visibility.known(viewer.username, key) is None)
        if ids:
            self.want(viewer.username, ids)
        return bool(ids)

    def ask_about_job(self, sid, job):
        """Have LAVA asked whether this client's signed-in viewer may see `job`; True if it is."""
        return self._ask_about_private_jobs(self.viewer_of(sid)[0], [job])

    def refresh_viewer(self, username, less=True):
        """LAVA now lets this viewer see more, or less: their clients resubscribe and get a
        snapshot (not a cached one: what they may see changed without the model's seq changing).
        When they may see `less`, their pages away meanwhile get one too when they come back, and
        every page of theirs keeps nothing of before (view_tag; store.js). When they may see more,
        what a page holds stays true: it keeps its feed and panels (a review: every new job a
        signed-in viewer was told of wiped their page)."""
        self.snapshots.clear()
        if less:
            self._view_changes[username] = self._view_changes.pop(username, 0) + 1
            if len(self._view_changes) > MAX_VIEW_CHANGES:  # the least lately changed goes...
                self._view_changes.popitem(last=False)
                # ...and with its count, what told its tags apart: had it started again from 0,
                # a page of theirs away since before could be caught up (a review). Every
                # signed-in viewer's tag changes instead, as at a restart: their pages get snapshots.
                self._process = uuid.uuid4().hex
        for sid, (viewer, *_) in list(self.viewers.items()):
            if viewer.username == username:
                self.must_snapshot.add(sid)
                self._emit("resync", {"reason": "visibility"}, to=sid)

    def _leave(self, sid):
        key = self.clients.pop(sid, None)
        if key is None:
            return
        group = self.groups[key]
        group.sids.discard(sid)
        self.socketio.server.leave_room(sid, group.room, namespace="/")  # (also outside a request)
        if not group.sids:
            del self.groups[key]

    # -- deltas ----------------------------------------------------------------------------
    def push(self, changes):
        """Queue changes from ingest; the flush loop sends them."""
        self.log.extend(changes)
        if any(c.screened for c in changes):
            # LAVA hid a board, or a job with it: its changes from before, and its jobs' and their
            # messages, are in the log, and a catch-up would replay them to whoever offers an older
            # seq (an anonymous page's epoch and view are anyone's to offer). They are made empty,
            # their numbers kept; the removals stay, for the pages that held them (an audit, and a
            # review: clearing the log instead left a filtered page's items of the board for ever).
            kept, emptied = without_screened(self.log, changes)
            self.log = collections.deque(kept, maxlen=self.log.maxlen)
            self.screened_emptied += emptied
        if self.mode == "naive":
            self._send_naive(changes)
            return
        self.pending.extend(changes)
        if self.adaptive is not None:
            self.adaptive.pushed(len(changes), self.clock())
        if len(self.pending) > self.max_pending:
            # Sending has stalled: drop the backlog and have every client take a fresh snapshot.
            self.overflows += 1
            self.pending = []
            self._mark_gap()
            log.warning("more than %d changes pending: asking every client to resync",
                        self.max_pending)
            self._emit("resync", {"reason": "backlog"})
        if self._wake is not None and not self._wake.is_set():  # set once: a green wake costs
            self._wake.set()

    def held_wait(self):
        """Seconds until the first group holding changes may be sent them (None: none holds)."""
        now = self.clock()
        waits = [g.due(now) for g in self.groups.values() if g.held]
        return max(0.0, min(waits)) if waits else None

    def flush(self):
        """Send everything pending, one encoded batch per group that has something to see; a
        group that asked for a least gap (max_rate) which has not passed holds its part."""
        batch, self.pending = self.pending, []
        now = self.clock()
        if batch:  # (what a group held is not a batch: the next one need not wait for it)
            self.last_flush = now
        self.outbox.check(self.clients)  # before adding to queues: drop who cannot keep up
        if not batch and self.held_wait() != 0.0:
            return
        seq = batch[-1].seq if batch else None
        redactions = self._redactions()
        private = None
        try:
            for group in list(self.groups.values()):
                if batch and group.viewer.username and self.want is not None:
                    if private is None:
                        private = [c.data for c in batch if c.kind == "job" and c.data is not None
                                   and c.data.get("visibility") != PUBLIC]
                    self._ask_about_private_jobs(group.viewer, private)
                selected = select(group.filter, batch, group.viewer, redactions) if batch else []
                if group.min_gap:
                    if selected:
                        group.held += selected
                        group.held_seq = seq
                    if not group.held or group.due(now) > 0:
                        if len(group.held) > self.max_pending:  # bounded: it resyncs instead
                            group.held = []
                            group.sent_seq = self.state.seq
                        continue
                    selected, group.held = group.held, []
                if not selected:
                    continue
                payload = {"prev": group.sent_seq, "seq": seq, "epoch": self.epoch,
                           "changes": selected}
                if group.min_gap:
                    payload["seq"] = group.held_seq
                    group.last_sent = now
                if self.direct is not None:
                    self.direct.send(group.sids, "changes", payload)
                else:
                    self._emit("changes", payload, to=group.room)
                group.sent_seq = payload["seq"]
                self.batches_sent += 1
        except Exception:
            self._mark_gap()  # some groups missed this batch: their next one shows the gap
            raise

    def _mark_gap(self):
        """Changes were dropped: make every group's next batch carry a `prev` its clients do not
        have, so that each client sees the gap and asks for a snapshot (besides `resync`)."""
        for group in self.groups.values():
            group.sent_seq = self.state.seq
            group.held = []

    def _send_naive(self, changes):
        """Benchmark baseline: one emit per change per client, each encoded separately."""
        for change in changes:
            for group in list(self.groups.values()):
                for item in select(group.filter, [change], group.viewer, self._redactions()):
                    for sid in list(group.sids):
                        self._emit("changes", {"prev": group.sent_seq, "seq": change.seq,
                                               "epoch": self.epoch, "changes": [item]}, to=sid)
                    group.sent_seq = change.seq

    def gap(self):
        """The least time between two batches now: `interval`, or the adaptive gap."""
        return self.interval if self.adaptive is None else self.adaptive.gap_at(self.clock())

    def delay(self):
        """Seconds to wait before sending what is pending (0: at once)."""
        if self.adaptive is not None:
            return self.adaptive.delay(self.last_flush, self.clock())
        return self.last_flush + self.interval - self.clock()

    def run(self):
        """The flush loop: wait for changes, keep batches at least gap() apart."""
        self._wake = self.socketio.server.eio.create_event()
        while True:
            held = self.held_wait()
            self._wake.wait(1.0 if held is None else min(1.0, max(held, 0.001)))
            self._wake.clear()
            if not self.pending:
                if self.held_wait() != 0.0:
                    continue
                # else a group's least gap (max_rate) has passed: send it what it holds
            elif (delay := self.delay()) > 0:
                self.socketio.sleep(delay)
            cpu = self.cpu_clock()
            try:
                self.flush()
            except Exception:  # a failed send must not end the loop
                log.exception("flush failed")
            if self.adaptive is not None:
                # Let the clients' writers put this batch on the wire: that is most of its cost.
                self.socketio.sleep(0)
                self.adaptive.observe(self.cpu_clock() - cpu)

    def end_all(self, why):
        """Disconnect every client, saying why (their log tails end with them); new connections
        are refused while `refusal` says why."""
        for sid in set(self.clients) | set(self.viewers):
            self._emit("refused", {"code": "access_mismatch", "error": why}, to=sid)
            self.socketio.server.disconnect(sid, namespace="/", ignore_queue=True)

    def replace_model(self, reason):
        """The model was replaced (a web process took a new snapshot, of a new epoch in the meta):
        drop what is held and have every client resubscribe; their epoch or seq no longer matches,
        so each gets a snapshot."""
        self.pending = []
        self.log.clear()
        self.snapshots.clear()  # built from the model that was replaced
        self._mark_gap()
        self._emit("resync", {"reason": reason})

    def stats(self):
        """Relay figures for /healthz."""
        return {"mode": self.mode, "gap_ms": round(self.gap() * 1000, 1),
                "stream_rate": (None if self.adaptive is None
                                else round(self.adaptive.stream.at(self.clock()), 1)),
                "flush_cost_ms": (None if self.adaptive is None
                                  else round(self.adaptive.cost * 1000, 2)),
                "clients": len(self.clients), "filters": len(self.groups),
                "refused": self.refused, "sessions_ended": self.sessions_ended,
                "token_connections": sum(1 for _, _, lease in self.viewers.values()
                                         if lease is not None and not isinstance(lease, str)),
                "pending": len(self.pending), "batches_sent": self.batches_sent,
                "overflows": self.overflows, "catchups": self.catchups, "log": len(self.log),
                "log_screened_emptied": self.screened_emptied,
                "rate_limited": self.rate_limited, **self.shares.stats(),
                "sessions_refused": self.sessions_refused,
                "engine_sessions": len(self.engine_address),
                "sessions_reclaimed": self.sessions_reclaimed, "snapshots_built": self.snapshots.built,
                "snapshots_shared": self.snapshots.shared, "flooders_cut_off": self.budget.cut_off,
                **self.outbox.stats(),
                **(self.refusals.stats() if self.refusals is not None else {}),
                **(self.direct.stats() if self.direct is not None else {})}
