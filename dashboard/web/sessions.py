"""Signed-in viewers' sessions, in this process's memory only: the cookie carries a random id, the
LAVA token stays here for as long as the session lasts (never stored, logged or sent back)."""
import collections
import dataclasses
import secrets
import time

MAX_SESSIONS = 10_000
# One viewer's sessions (browsers, tabs signed in apart) at most: their oldest goes first. Without
# it, one LAVA user signing in 10,000 times signed every other viewer out (MAX_SESSIONS).
MAX_PER_VIEWER = 20
# Seconds between two sweeps (web.auth.Access.run_sweeper): ended sessions are forgotten, with their
# tokens, and their live connections closed. A module constant: tests set it lower.
SWEEP_INTERVAL = 30.0


@dataclasses.dataclass
class Session:
    username: str
    token: str = dataclasses.field(repr=False)  # never in a repr, a log line or a traceback
    created: float = 0.0
    last_seen: float = 0.0


class Sessions:
    """Sessions by id, with an idle and an absolute lifetime; the oldest go first when full."""

    def __init__(self, idle, lifetime, clock=time.time, size=MAX_SESSIONS,
                 per_viewer=MAX_PER_VIEWER):
        self.idle, self.lifetime, self.clock, self.size = idle, lifetime, clock, size
        self.per_viewer = per_viewer
        self._by_id = collections.OrderedDict()
        # Each viewer's session ids, oldest first (at most per_viewer): token_of and create read a
        # viewer's few sessions, not every session (a sweep asks token_of of each viewer it ended).
        self._by_user = {}
        self.replaced = 0  # sessions ended by a newer sign-in of the same viewer past per_viewer

    def _over(self, session, now):
        return now - session.last_seen > self.idle or now - session.created > self.lifetime

    def create(self, username, token):
        """A new session; returns its id (for the cookie). Ended sessions are forgotten first."""
        self.sweep()
        now = self.clock()
        sid = secrets.token_urlsafe(32)
        mine = list(self._by_user.get(username, ()))
        for old in mine[:max(0, len(mine) - self.per_viewer + 1)]:  # oldest first
            self._remove(old)
            self.replaced += 1
        self._by_id[sid] = Session(username, token, now, now)
        self._by_user.setdefault(username, collections.OrderedDict())[sid] = None
        while len(self._by_id) > self.size:
            self._remove(next(iter(self._by_id)))
        return sid

    def _remove(self, sid):
        """Forget one session (which must exist); returns it."""
        session = self._by_id.pop(sid)
        mine = self._by_user[session.username]
        del mine[sid]
        if not mine:
            del self._by_user[session.username]
        return session

    def get(self, sid, touch=True):
        """The live session with this id (its use noted, unless not `touch`), or None (unknown,
        idle or too old)."""
        session = self._by_id.get(sid) if isinstance(sid, str) else None
        if session is None:
            return None
        now = self.clock()
        if self._over(session, now):
            self._remove(sid)
            return None
        if touch:
            session.last_seen = now
        return session

    def alive(self, sid):
        """Whether this session still lasts; unlike get(), its use is not noted (a sweep asks)."""
        session = self._by_id.get(sid) if isinstance(sid, str) else None
        return session is not None and not self._over(session, self.clock())

    def sweep(self):
        """Forget every session past its idle or absolute lifetime, and its token, without waiting
        for it to be asked for again. Returns the usernames of the sessions forgotten."""
        now = self.clock()
        ended = [sid for sid, session in self._by_id.items() if self._over(session, now)]
        return {self._remove(sid).username for sid in ended}

    def end(self, sid):
        """Sign out: the session and its token are gone. Returns the Session, or None."""
        return self._remove(sid) if isinstance(sid, str) and sid in self._by_id else None

    def token_of(self, username):
        """A live session's token of this viewer (to ask LAVA what they may see), or None."""
        now = self.clock()
        for sid in reversed(self._by_user.get(username, ())):
            session = self._by_id[sid]
            if not self._over(session, now):
                return session.token
        return None

    def __len__(self):
        return len(self._by_id)
