"""A live tail of LAVA job logs, for the viewers who have a job's panel open (docs/protocol.md).

The process that serves browsers follows LAVA's log endpoint (/api/v0.2/jobs/<id>/logs/?start=&end=,
line numbers) for each job somebody follows, and pushes the new lines to those viewers only.

- Access: a viewer follows a job only when they may see all of it (core.visibility.may_see_job,
  the same rule as every other output); it is checked again before every push, so a viewer who
  loses the right stops getting lines. For a signed-in viewer LAVA has not been asked about yet,
  the answer is "not known yet" (retry) while LAVA is asked with their own token.
- Bounded: `log_follow` rate-limited per client address and viewer, whatever session asks (each
  new follow reads the log from its start; one bucket for every lab), at most `max_jobs` jobs
  followed at once (a log read to its end gives its place to a new one, unless it still owes a
  follower behind its lines), `max_per_client` per page, a quarter of `max_jobs` (2 at least)
  still read, or owing a follower its lines, for the pages of one address and viewer together,
  `max_lines`
  kept per job (the newest), `fetch_lines` lines and `max_bytes` bytes per request (no more
  lines taken from an answer than asked for), each line cut at core.joblog.MAX_CHARS. A follower
  with more than BEHIND messages waiting to be sent (`queued`: a page that does not read) is sent
  nothing more until it has read them; then it gets the lines kept since (`max_lines`, as many as
  a page keeps) in one message. Its log is read on for the job's other followers, and no further
  once every one of them is behind: a page that does not read would otherwise take a log's pages,
  half a MiB each, into its queue up to the relay's bound of 1,000 messages, and (before) one
  page that did not read held the log back for everyone who followed it. A job nobody follows
  any more is forgotten at once.
- LAVA answers 404 when a job has no line past `start` (and for a job it does not show): that is
  "nothing new". Any other failure is counted, logged (rate-limited), told to the job's viewers,
  and tried again at the next poll.
- A job that has finished is read to its end, once more, and then no longer polled.
"""
import collections
import dataclasses
import logging

from dashboard.core import joblog
from dashboard.core.events import job_id as valid_job_id
from dashboard.live.health import RateLimitedLog
from dashboard.live.limits import SharedBuckets
from dashboard.sources.rest import LavaError

# Messages waiting for a follower past which it is sent no more lines for now (they are kept for
# it); a log every follower of which is behind is read no further for now.
BEHIND = 20

log = logging.getLogger("dashboard.live.logtail")
API = "/api/v0.2"


@dataclasses.dataclass
class Followed:
    """One job whose log is followed."""

    job: int
    lines: collections.deque
    next: int = 0  # the number of the next line to ask LAVA for
    sids: set = dataclasses.field(default_factory=set)
    done: bool = False  # finished, and read to its end
    error: str = None  # why the last read failed, while it does
    # sid → the number of the first line not sent to that follower, which was behind: it gets the
    # lines kept from there once it has read what waited (LogTail._release)
    held: dict = dataclasses.field(default_factory=dict)


class LogTail:
    """Follows job logs for viewers. `job_of(id)` is the model's job (or None); `may_see(sid, job)`
    says whether that client may see all of this job; `send(sid, event, data)` emits to one client;
    `client_of(sid)` is what shares a follow budget (the client's address and viewer; None: each
    session its own)."""

    def __init__(self, rest, job_of, may_see, send, make_event, ask=None, poll=2.0, max_jobs=20,
                 max_per_client=2, max_lines=500, fetch_lines=500, max_bytes=512 * 1024,
                 catchup_pages=20, follow_burst=4, follow_rate=0.5, lab="", client_of=None,
                 queued=None):
        self.rest = rest  # sources.rest.LavaRest with the dashboard's own token, or None
        self.queued = queued  # fn(sid) → messages waiting to be sent to it (None: not known)
        self.lab = lab  # the named lab whose jobs it follows (its messages say it), or ""
        self.job_of = job_of
        self.may_see = may_see
        self.ask = ask  # fn(sid, job): True when LAVA is now being asked whether they may see it
        self.send = send
        self.poll = poll
        self.max_jobs = max_jobs
        self.max_per_client = max_per_client
        self.max_lines = max_lines
        self.fetch_lines = fetch_lines
        self.max_bytes = max_bytes
        self.catchup_pages = catchup_pages
        self.followed = {}  # job id → Followed
        self.by_client = collections.defaultdict(set)  # sid → job ids
        # The pages of one address and viewer (client_of) follow at most this many logs together:
        # with 2 a page only, one address opening pages could hold every place (an audit).
        self.max_per_key = max(max_per_client, max_jobs // 4)
        self.by_key = {}  # client_of(sid) → {job id: how many of its pages follow it}
        self._key_of = {}  # sid → its client_of when it first followed (its follows count there)
        # A new follow reads the log from its start (up to `catchup_pages` requests to LAVA):
        # `follow_burst` at once per address and viewer, then `follow_rate` a second, however
        # many sessions they open (as `subscribe`'s: live.limits.AddressShares).
        self.follow_burst, self.follow_rate = follow_burst, follow_rate
        self.client_of = client_of or (lambda sid: sid)
        self.buckets = SharedBuckets(follow_burst, follow_rate)  # client_of(sid) → its follows
        self.fetches = self.lines_read = self.errors = self.refused = self.given_up = 0
        self.waited = 0  # rounds a job's log was not read: every follower behind (BEHIND)
        self.held_back = 0  # times a follower behind began to have lines kept back for it
        self.last_error = None
        self._wake = make_event()
        self._log = RateLimitedLog(log, interval=30.0)

    # -- what a client asks ------------------------------------------------------------------
    def follow(self, sid, message):
        """A client opens a job's log: the lines held so far, then pushes (`log_lines`)."""
        job_id = valid_job_id(message.get("job") if isinstance(message, dict) else None)
        if job_id is None:
            return self._refuse("bad_request", "give {job: <a job id>}")
        if self.rest is None:
            return self._refuse("no_lava", "a job's log needs a LAVA server (--lava-url)")
        wait = self.buckets.bucket(sid, self.client_of(sid)).take()
        if wait:
            return dict(self._refuse("rate_limited", "too many log_follow requests"),
                        retry=True, retry_after=round(wait, 3))
        job = self.job_of(job_id) or self._labelled({"id": job_id})
        if not self.may_see(sid, job):
            if self.ask is not None and self.ask(sid, job):
                return dict(self._refuse("not_known_yet", "asking LAVA whether it shows you this "
                                                          "job: ask again shortly"), retry=True)
            return self._refuse("forbidden", "LAVA does not show you this job's log")
        mine = self.by_client.get(sid, set())
        if job_id not in mine and len(mine) >= self.max_per_client:
            return self._refuse("too_many", f"one page follows at most {self.max_per_client} "
                                            "logs at once")
        key = self._key_of.get(sid)
        key = self.client_of(sid) if key is None else key
        theirs = self.by_key.get(key, {})
        # (Logs read to their end do not count: they cost no reads, and the global bound gives
        # their places away; a review found an address refused with only finished logs held. One
        # that still owes a follower behind its lines keeps its place: it counts, else an
        # address's pages reading slowly could hold every place: a review.)
        if job_id not in theirs and sum(1 for j in theirs if not self._settled(j)) >= self.max_per_key:
            return self._refuse("too_many", f"the pages of one address and viewer follow at most "
                                            f"{self.max_per_key} logs at once")
        followed = self.followed.get(job_id)
        if followed is None:
            if len(self.followed) >= self.max_jobs and not self._give_up_a_finished_log():
                return self._refuse("busy", f"the dashboard follows {self.max_jobs} logs already "
                                            "(--job-logs-max): try again later")
            followed = self.followed[job_id] = Followed(job_id,
                                                        collections.deque(maxlen=self.max_lines))
            self._wake.set()
        followed.sids.add(sid)
        followed.held.pop(sid, None)  # (the answer has every line kept)
        if job_id not in mine:
            self.by_client[sid].add(job_id)
            self._key_of[sid] = key
            counts = self.by_key.setdefault(key, {})
            counts[job_id] = counts.get(job_id, 0) + 1
        return self._labelled({"ok": True, "job": job_id, "lines": list(followed.lines),
                               "next": followed.next, "finished": followed.done,
                               "error": followed.error})

    def _labelled(self, data):
        """A message about a named lab's job says its lab (job 42 of east is not west's)."""
        if self.lab:
            data["lab"] = self.lab
        return data

    def unfollow(self, sid, message):
        """A client closed a job's log (message {job})."""
        job_id = valid_job_id(message.get("job") if isinstance(message, dict) else None)
        if job_id is None:
            return self._refuse("bad_request", "give {job: <a job id>}")
        self._drop(sid, {job_id} & self.by_client.get(sid, set()))
        return {"ok": True}

    def forget(self, sid):
        """A client went away: it follows nothing any more."""
        self.buckets.release(sid)
        self._drop(sid, set(self.by_client.get(sid, ())))

    def _drop(self, sid, jobs):
        key = self._key_of.get(sid)
        counts = self.by_key.get(key)
        for job_id in jobs:
            mine = self.by_client.get(sid)
            if mine is not None and job_id in mine:
                mine.discard(job_id)
                if counts is not None and job_id in counts:
                    counts[job_id] -= 1
                    if counts[job_id] <= 0:
                        del counts[job_id]
            followed = self.followed.get(job_id)
            if followed is not None:
                followed.sids.discard(sid)
                followed.held.pop(sid, None)
                if not followed.sids:
                    del self.followed[job_id]
        if counts is not None and not counts:
            del self.by_key[key]
        if not self.by_client.get(sid):
            self.by_client.pop(sid, None)
            self._key_of.pop(sid, None)

    def _settled(self, job_id):
        """Read to its end, and owing no follower its lines: its place may be given away."""
        followed = self.followed.get(job_id)
        return followed is not None and followed.done and not followed.held

    def _give_up_a_finished_log(self):
        """At --job-logs-max: the longest-followed log that is read to its end (a finished job, or
        one LAVA has no log of) gives its place to a new one; its pages have every line of it
        already, and were told it is finished (not one with a follower behind, who has not yet).
        False when every log followed is still read, or owes a follower its lines."""
        for followed in self.followed.values():  # (at most max_jobs)
            if self._settled(followed.job):
                for sid in list(followed.sids):
                    self._drop(sid, {followed.job})
                self.followed.pop(followed.job, None)
                self.given_up += 1
                return True
        return False

    def _refuse(self, code, error):
        self.refused += 1
        return {"ok": False, "code": code, "error": error}

    # -- reading LAVA ------------------------------------------------------------------------
    def run(self, rounds=None):
        """Poll every followed job's log, every `poll` seconds (at once when a job is added)."""
        done = 0
        while rounds is None or done < rounds:
            self._wake.wait(self.poll)
            self._wake.clear()
            for followed in list(self.followed.values()):
                try:
                    if followed.held:
                        self._release(followed)
                    if not followed.done and self.followed.get(followed.job) is followed:
                        self.read(followed)
                except Exception:  # one job's failure must not end the tail of the others
                    log.exception("reading job %s's log failed", followed.job)
            done += 1

    def read(self, followed):
        """Read what is new of one job's log (up to `catchup_pages` requests) and push it."""
        job = self.job_of(followed.job)
        finished = job is None or job.get("state") == "Finished"  # read before: no line is missed
        for _ in range(self.catchup_pages):
            if self._all_behind(followed):
                self.waited += 1
                return  # read on at a later poll
            start = followed.next
            self.fetches += 1
            try:
                text, cut = self.rest.get_text(f"{API}/jobs/{followed.job}/logs/",
                                               {"start": start, "end": start + self.fetch_lines},
                                               max_bytes=self.max_bytes)
            except LavaError as err:
                if getattr(err, "status", None) == 404:  # nothing past `start` (yet)
                    text, cut = "", False
                else:
                    self._failed(followed, str(err))
                    return
            if followed.error is not None:
                followed.error = None
                self._push(followed, [], error=None)
            lines, followed.next = joblog.parse(text, start, most=self.fetch_lines)
            self.lines_read += len(lines)
            followed.lines.extend(lines)
            full = cut or len(lines) >= self.fetch_lines
            if lines:
                self._push(followed, lines)
            if not full:
                break
            if self.followed.get(followed.job) is not followed:
                return  # nobody follows it any more
        else:
            return  # more to read: at the next poll
        if finished:
            followed.done = True
            self._push(followed, [], finished=True)

    def _behind(self, sid):
        """Whether the follower has more than BEHIND messages waiting."""
        return self.queued is not None and (self.queued(sid) or 0) > BEHIND

    def _all_behind(self, followed):
        """Whether every follower of the job is behind: nobody to read it for now."""
        return self.queued is not None and all(self._behind(sid) for sid in followed.sids)

    def _release(self, followed):
        """Each follower that was behind and has read what waited: the lines kept since the first
        it was not sent, with the log's state now."""
        job = None
        for sid, first in list(followed.held.items()):
            if self._behind(sid):
                continue
            del followed.held[sid]
            job = job or self._job(followed)
            lines = [entry for entry in followed.lines if entry["n"] >= first]
            self._send(sid, job, followed, self._message(followed, lines))

    def _failed(self, followed, message):
        self.errors += 1
        # /healthz is everyone's: which job somebody follows is theirs (the path names it).
        self.last_error = message.replace(f"/jobs/{followed.job}/", "/jobs/<id>/")
        followed.error = message
        self._log.warning("read", "cannot read job %s's log from LAVA: %s", followed.job, message)
        self._push(followed, [], error=message)

    def _push(self, followed, lines, finished=False, error=None):
        """Send to each follower who may (still) see the job."""
        job = self._job(followed)
        data = self._message(followed, lines, finished, error)
        for sid in list(followed.sids):
            if sid in followed.held:
                continue  # behind: these come with the lines kept for it (_release)
            if lines and self._behind(sid):
                followed.held[sid] = lines[0]["n"]
                self.held_back += 1
                continue
            self._send(sid, job, followed, data)

    def _job(self, followed):
        """The model's job, or its id alone (what may_see is asked about)."""
        return self.job_of(followed.job) or self._labelled({"id": followed.job})

    def _message(self, followed, lines, finished=False, error=None):
        """A `log_lines` message of the job's lines, with the log's state."""
        return self._labelled({"job": followed.job, "lines": lines, "next": followed.next,
                               "finished": finished or followed.done,
                               "error": error or followed.error})

    def _send(self, sid, job, followed, data):
        """data to one follower, if they may (still) see the job."""
        if self.may_see(sid, job):
            self.send(sid, "log_lines", data)
        else:  # LAVA no longer shows it to them (or a wall link's screen): they stop here
            self._drop(sid, {followed.job})
            self.send(sid, "log_lines", self._labelled({
                "job": followed.job, "lines": [], "next": 0, "finished": True,
                "error": "not shown to you", "code": "forbidden"}))

    def stats(self):
        """For /healthz."""
        return {"followed": len(self.followed),
                "followers": sum(len(f.sids) for f in self.followed.values()),
                "fetches": self.fetches, "lines": self.lines_read, "errors": self.errors,
                "refused": self.refused, "last_error": self.last_error,
                "max_jobs": self.max_jobs, "max_per_client": self.max_per_key,
                "finished_given_up": self.given_up, "follow_buckets": len(self.buckets),
                "waited_for_followers": self.waited, "held_for_a_follower": self.held_back}


class LabTails:
    """Several labs (docs/labs.md): one LogTail per lab, each reading its own LAVA; a client's
    `log_follow` and `log_unfollow` name the job's `lab`."""

    def __init__(self, tails):
        self.tails = tails  # lab name → LogTail
        # One follow budget per address and viewer, whichever lab's log they follow.
        shared = next(iter(tails.values())).buckets if tails else None
        for tail in tails.values():
            tail.buckets = shared

    def _ask(self, method, sid, message):
        """LogTail.<method>(sid, message) of the lab the message names, or why not."""
        name = message.get("lab") if isinstance(message, dict) else None
        tail = self.tails.get(name) if isinstance(name, str) else None
        if tail is None:
            return {"ok": False, "code": "bad_request",
                    "error": f"give {{job, lab}}, lab one of {', '.join(self.tails)}"}
        return getattr(tail, method)(sid, message)

    def follow(self, sid, message):
        """LogTail.follow of the lab the message names."""
        return self._ask("follow", sid, message)

    def unfollow(self, sid, message):
        """LogTail.unfollow of the lab the message names."""
        return self._ask("unfollow", sid, message)

    def forget(self, sid):
        """A client went away: it follows nothing in any lab."""
        for tail in self.tails.values():
            tail.forget(sid)

    def stats(self):
        """For /healthz: each lab's."""
        return {"labs": {name: tail.stats() for name, tail in self.tails.items()}}
