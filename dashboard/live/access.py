"""Learning from LAVA who may see which job (core.visibility says what follows from it).

- JobVisibility (the process that owns the model): asks LAVA anonymously about each job whose
  visibility is not known: 200 means public, 404 private. It sits between the model's writers and
  the relay (or Redis publisher), so that it sees every new job, and writes what it learns into the
  model as ordinary changes: every process and output then knows.
- ViewerVisibility (a process that serves browsers): asks LAVA, with a signed-in viewer's own token,
  whether they may see a private job, and has that viewer's page refreshed when they may.

Both ask one job at a time, from a bounded queue, with a pause between requests: a lab's worth of
jobs at start-up costs LAVA a few requests per second, never a burst.
"""
import collections
import logging
import time

from dashboard.live.reconcile import Backoff
from dashboard.core.visibility import PRIVATE, PUBLIC, REFRESH_AFTER, identity_lab

log = logging.getLogger("dashboard.access")
API = "/api/v0.2"
PAUSE = 0.05  # between two questions to LAVA
MAX_QUEUE = 10_000
# Questions about one viewer in the queue at most: one viewer asking about many jobs (a request
# for each) must not crowd out the others' questions. Beyond it, theirs wait for a later request.
MAX_PER_VIEWER = 1_000


def job_visible(rest, job_id):
    """Whether LAVA shows this job to whoever `rest` reads as: True (200), False (404 or 403), or
    raises LavaError (LAVA cannot answer now)."""
    from dashboard.sources.rest import LavaError

    try:
        rest.get(f"{API}/jobs/{job_id}/")
        return True
    except LavaError as err:
        if getattr(err, "status", None) in (403, 404):
            return False
        raise


class _Queue:
    """A bounded queue of distinct items, oldest first."""

    def __init__(self, size=MAX_QUEUE):
        self.items = collections.OrderedDict()
        self.size = size
        self.dropped = 0

    def put(self, item):
        """Queue the item; True if it was not queued already and there was room."""
        if item in self.items:
            return False
        if len(self.items) >= self.size:
            self.dropped += 1  # asked again later: at the next reconcile or subscribe
            return False
        self.items[item] = None
        return True

    def pop(self):
        return self.items.popitem(last=False)[0] if self.items else None

    def __len__(self):
        return len(self.items)

    def __contains__(self, item):
        return item in self.items


class JobVisibility:
    """Wraps the model's sink (relay or Redis publisher): push() passes changes on, and queues every
    job whose visibility is unknown; run() asks LAVA about them."""

    def __init__(self, state, sink, anonymous_rest, visibility, sleep, make_event):
        self.state = state
        self.sink = sink
        self.rest = anonymous_rest
        self.visibility = visibility
        self.sleep = sleep
        self.queue = _Queue()
        self._rechecks = set()  # queued jobs shown to anyone, asked about again (recheck)
        self._wake = make_event()
        self.asked = 0
        self.rechecked = 0
        self.errors = 0
        self.backoff = Backoff(1.0, 60.0)

    def push(self, changes):
        """The sink's interface: pass the changes on; queue new jobs of unknown visibility."""
        self.sink.push(changes)
        screen = getattr(self.state, "screen", None)
        for change in changes:
            if change.kind == "job" and change.data is not None \
                    and change.data.get("visibility") is None:
                self.queue.put(change.id)
            elif change.kind == "job" and change.data is None and screen is not None \
                    and screen.kept_out_job(change.id):
                # LAVA scheduled it on a device it hides (core/screen.py): its anonymous answer,
                # which covers jobs the model no longer holds (its log, its history), is "no".
                self.visibility.learn("", self._key(change.id), False)
        if len(self.queue):
            self._wake.set()

    def learn(self, job_id, visible):
        """What LAVA said: into the shared table, and into the model (a change every output sees).
        A named lab's job is known there as (lab, id) (core.visibility.job_key)."""
        self.visibility.learn("", self._key(job_id), visible)
        self.sink.push(self.state.set_visibility(job_id, PUBLIC if visible else PRIVATE))

    def _key(self, job_id):
        return (self.state.name, job_id) if self.state.name else job_id

    def shown_to_anyone(self, job_id):
        """Whether anonymous viewers see this job of the model now (the model says public, or
        LAVA's anonymous answer does)."""
        job = self.state.jobs.get(job_id)
        return job is not None and (job.get("visibility") == PUBLIC
                                    or self.visibility.known("", self._key(job_id)) is True)

    def unsure(self, job_id):
        """Whether anonymous viewers may see this job is not known any more (its hidden fields
        change while LAVA cannot say): forgotten, and private until LAVA is asked again (it is
        queued to be asked alone)."""
        self.visibility.forget("", self._key(job_id))
        self.push(self.state.set_visibility(job_id, None))

    def recheck(self, job_id):
        """A job anonymous viewers see that a reconciliation's listings no longer cover (it
        finished outside LAVA's newest jobs, or its record was left out): LAVA is asked about it
        alone, and it keeps its visibility until LAVA answers; once LAVA's last word on it is
        older than the table's max age, it is private until then (default deny). Found by an
        audit: such a job stayed public in the model for as long as the model kept it, made
        private in LAVA or not."""
        age = self.visibility.age("", self._key(job_id))
        if age is None or age > self.visibility.max_age:
            self.unsure(job_id)
        elif self.queue.put(job_id) or job_id in self.queue:  # (queued already: asked all the same)
            self._rechecks.add(job_id)
            self._wake.set()

    def run(self, rounds=None):
        """Ask about queued jobs for ever (or `rounds` questions)."""
        from dashboard.sources.rest import LavaError

        count = 0
        while rounds is None or count < rounds:
            job_id = self.queue.pop()
            if job_id is None:
                self._wake.wait(5.0)
                self._wake.clear()
                continue
            count += 1
            job = self.state.jobs.get(job_id)
            recheck = job_id in self._rechecks
            self._rechecks.discard(job_id)
            if job is None or (job.get("visibility") is not None and not recheck):
                continue
            try:
                visible = job_visible(self.rest, job_id)
            except LavaError as err:  # LAVA away: stays private (deny), asked again later
                self.errors += 1
                if self.queue.put(job_id) and recheck:  # (public until recheck() says it is too old)
                    self._rechecks.add(job_id)
                log.debug("visibility of job %s: %s", job_id, err)
                self.sleep(self.backoff.next())
                continue
            self.backoff.reset()
            self.asked += 1
            self.rechecked += recheck
            self.learn(job_id, visible)
            self.sleep(PAUSE)

    def stats(self):
        """The /healthz section."""
        return {"queued": len(self.queue), "asked": self.asked, "rechecked": self.rechecked,
                "errors": self.errors, "dropped": self.queue.dropped}


LAPSE_EVERY = 5.0  # seconds between two looks for viewers' answers that lapsed


class ViewerVisibility:
    """Asks LAVA, with each signed-in viewer's token, about private jobs they might see: the LAVA
    of the viewer's own lab, about that lab's jobs only (docs/labs.md)."""

    def __init__(self, rest_for_token, visibility, token_of, on_visible, sleep, make_event,
                 clock=time.monotonic):
        self.rest_for_token = rest_for_token  # (token, lab) → a LavaRest reading as that viewer
        self.visibility = visibility
        self.token_of = token_of  # username → a live session's token, or None
        # (username, less) → refresh what that viewer is shown; `less`: LAVA took something back
        self.on_visible = on_visible
        self.sleep = sleep
        self.clock = clock
        self.queue = _Queue()  # what viewers want to know now: asked first
        self._queued_by = collections.Counter()  # username → their questions in `queue`
        self.capped = 0  # questions not queued: their viewer had MAX_PER_VIEWER queued already
        self.again = _Queue()  # answers asked again (_ask_again): when nothing else waits
        self._wake = make_event()
        self.asked = 0
        self.errors = 0
        self.lapsed = 0  # "may see" answers that lapsed before LAVA could be asked again
        self._lapse_at = float("-inf")
        # Asking again stops for a while after LAVA failed to answer, longer each time.
        self._again_backoff = Backoff(5.0, REFRESH_AFTER)
        self._again_after = float("-inf")

    def want(self, username, job_keys):
        """Queue the jobs (core.visibility.job_key) LAVA has not answered about for this viewer;
        only those of the lab whose LAVA knows the viewer."""
        lab = identity_lab(username)
        for key in job_keys:
            if (key[0] == lab if isinstance(key, tuple) else not lab) \
                    and self.visibility.known(username, key) is None:
                if self._queued_by[username] >= MAX_PER_VIEWER:
                    self.capped += 1
                elif self.queue.put((username, key)):
                    self._queued_by[username] += 1
        if len(self.queue):
            self._wake.set()

    def run(self, rounds=None):
        """Ask about queued (viewer, job) pairs; refresh a viewer at most once per round of
        answers that let them see more."""
        from dashboard.sources.rest import LavaError

        count, refresh = 0, {}  # username → whether they may see less than before
        while rounds is None or count < rounds:
            self._check_lapses()
            item = self.queue.pop()
            again = item is None
            if again:
                item = self.again.pop()
            elif self._queued_by[item[0]] <= 1:
                del self._queued_by[item[0]]
            else:
                self._queued_by[item[0]] -= 1
            if item is None:
                self._idle(refresh)
                continue
            count += 1
            username, key = item
            token = self.token_of(username)
            before = self.visibility.known(username, key)
            if token is None or (before is not None
                                 and self.visibility.age(username, key) < REFRESH_AFTER):
                continue  # signed out meanwhile, or answered lately
            lab, job_id = key if isinstance(key, tuple) else ("", key)
            try:
                visible = job_visible(self.rest_for_token(token, lab), job_id)
            except LavaError as err:  # stays hidden once its answer is too old; asked again
                self.errors += 1
                log.debug("visibility of job %s for a viewer: %s", job_id, err.kind)
                if again:  # no more asking again for a while (what wanted now still is)
                    self._again_after = self.clock() + self._again_backoff.next()
                    self.again.items.clear()  # (asked again once LAVA answers: not one a second)
                self.sleep(1.0)
                continue
            if again:
                self._again_backoff.reset()
            self.asked += 1
            last = self.visibility.last(username, key)  # (however old: one that lapsed, too)
            self.visibility.learn(username, key, visible)
            if visible != bool(last):  # now shown, or no longer: their page is made anew
                refresh[username] = refresh.get(username, False) or not visible
            if len(refresh) and (not len(self.queue) or not visible):
                self._refresh(refresh)  # (at once when they may see less)
            self.sleep(PAUSE)

    def _refresh(self, refresh):
        for username, less in refresh.items():
            self.on_visible(username, less)
        refresh.clear()

    def _idle(self, refresh):
        """Nothing to ask: refresh the viewers whose answers changed, then ask old answers
        again, or wait."""
        self._refresh(refresh)
        if not self._ask_again():
            self._wake.wait(5.0)
            self._wake.clear()

    def _check_lapses(self):
        """Every LAPSE_EVERY seconds, whatever else is asked meanwhile: the viewers whose "may
        see" answers lapsed see less, at once (a review: looked for only when nothing was
        queued, and LAVA away kept the queue full for hours)."""
        if self.clock() < self._lapse_at:
            return
        self._lapse_at = self.clock() + LAPSE_EVERY
        lost = self._lapse() | self.visibility.take_evicted()
        self._refresh({username: True for username in lost})

    def _lapse(self):
        """The viewers whose "may see" answers lapsed (MAX_AGE old: LAVA could not be asked again
        in time): those answers are forgotten, and the viewers' pages made anew, since they still
        show the jobs in full (found by an audit: a lapsed answer hid a job from new requests, but
        not from a page that already had it)."""
        shown = set()
        # Every viewer's lapsed answer goes (a lapsed "no" hides the job as unknown does, and
        # would otherwise be walked over at each idle round); a "may see" remakes their pages.
        for username, key in self.visibility.older_than(self.visibility.max_age, MAX_QUEUE,
                                                        lambda username, visible: bool(username)):
            if self.visibility.last(username, key):
                shown.add(username)
                self.lapsed += 1
            self.visibility.forget(username, key)
        return shown

    def _ask_again(self):
        """Queue (behind what viewers want now) the answers "may see" about signed-in viewers
        that are REFRESH_AFTER old: LAVA's answer may have changed. True if there were any.
        A "may not see" is left to age out (a lapsed answer hides the job as it did), and so are
        signed-out viewers' answers; nothing is asked again for a while after LAVA failed."""
        if self.clock() < self._again_after or len(self.again):
            return False
        signed_in = {}  # username → has a token (asked once a round: token_of reads the sessions)

        def keep(username, visible):
            if not visible or not username:
                return False
            if username not in signed_in:
                signed_in[username] = self.token_of(username) is not None
            return signed_in[username]

        again = self.visibility.older_than(REFRESH_AFTER, MAX_QUEUE // 2, keep)
        for item in again:
            self.again.put(item)
        return bool(again)

    def stats(self):
        """The /healthz section."""
        return {"queued": len(self.queue), "asking_again": len(self.again), "asked": self.asked,
                "errors": self.errors, "lapsed": self.lapsed, "dropped": self.queue.dropped,
                "capped": self.capped}
