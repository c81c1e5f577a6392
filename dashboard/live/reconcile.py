"""Load LAVA's state at start-up and repair what the event stream misses, on a schedule and on demand.

The REST fetch runs while events keep flowing; objects that events change meanwhile keep the events'
values (LabState.track_touches), so the result is as if every event had been applied to the snapshot
in order. Failures are retried with backoff while the last known state keeps being served.
"""
import collections
import datetime as dt
import json
import logging
import time
import uuid

from dashboard.core.backoff import Backoff
from dashboard.core.events import EARLIEST, MAX_AHEAD, Event
from dashboard.core.state import CORRECTION_KIND, RECONCILED, correction_data, correction_topic
from dashboard.core.visibility import SHOWN_OF_A_PRIVATE_JOB
from dashboard.live.health import RateLimitedLog, iso_now
from dashboard.sources.rest import MAX_SINGLE_JOB_LOOKUPS, LavaError
from dashboard.storage.store import row_for

log = logging.getLogger("dashboard.live.reconcile")
MAX_LOGGED_CORRECTIONS = 20
SKIPPED_LOG_INTERVAL = 600.0  # a record LAVA keeps answering wrongly is said again every 10 min
# Seconds between two reconciles asked for by suspected losses. A full reconcile reads every device,
# worker and up to --max-finished-jobs jobs from LAVA; a source whose messages come late by turns
# (a skewed clock, one queue of lava-server's) would otherwise start one each episode. The first
# loss after a quiet spell is repaired at once; later ones within the gap wait for one reconcile at
# its end, which repairs them all.
LAG_GAP = 30.0
# A job's fields a reconcile corrects that only those who may see the job see (its submitter,
# description, priority, whether it is a health check).
HIDDEN_RECONCILED = tuple(f for f in RECONCILED["job"] if f not in SHOWN_OF_A_PRIVATE_JOB)


class LagTriggers:
    """When a reconcile asked for by a suspected loss may start: at once, unless one started less
    than `gap` seconds ago; asks meanwhile fold into one at the gap's end. Pure: times are handed
    in."""

    def __init__(self, gap=LAG_GAP):
        self.gap = gap
        self.last = float("-inf")  # when the last reconcile that answered an ask started
        self.due = None  # when the folded asks' reconcile may start, or None
        self.asked = 0
        self.folded = 0  # asks answered by a reconcile that was already due

    def ask(self, now):
        """A suspected loss at `now`: True when a reconcile may start at once (it is then counted
        as started); else one is due at `due`."""
        self.asked += 1
        if self.due is None and now - self.last >= self.gap:
            self.last = now
            return True
        self.folded += 1
        if self.due is None:
            self.due = self.last + self.gap
        return False

    def is_due(self, now):
        """Must a reconcile start now for asks folded earlier?"""
        return self.due is not None and now >= self.due

    def started(self, now):
        """A reconcile (for whatever reason) starts at `now`: it answers every ask before it."""
        if self.due is not None:
            self.due, self.last = None, now

    def as_dict(self):
        return {"asked": self.asked, "folded": self.folded, "gap": self.gap,
                "pending": self.due is not None}


class Reconciler:
    """The background task that keeps the model equal to LAVA's REST state."""

    def __init__(self, state, relay, meta, rest, settings, make_event, clock=time.monotonic,
                 store=None, public=None, lab=""):
        self.state = state
        self.where = f" (lab {lab})" if lab else ""  # in its log lines: which lab's board it was
        # With access control: (anonymous LavaRest, JobVisibility); each reconcile also reads which
        # jobs LAVA shows anonymously, so that their visibility is known without asking one by one.
        self.public = public
        self.store = store  # corrections are history: each is stored as an event of its own
        self.relay = relay
        self.meta = meta
        self.rest = rest
        self.interval = settings["reconcile_interval"]
        self.silence = settings["silence_timeout"]
        self.max_finished = settings["max_finished_jobs"]
        self.clock = clock
        self.sources = []  # SourceStatus objects, watched for silence
        self._wake = make_event()
        self._reason = None
        self.backoff = Backoff()
        self.loaded = False
        self.state_name = "loading"
        self.state_since = iso_now()
        self.error = None
        self.error_kind = None
        self.failures = {}
        self.runs = 0
        self.corrections = 0
        self.corrections_by_kind = collections.Counter()  # device, job, worker (/metrics)
        self.last_success = None
        self.last_attempt = None
        self.last_duration = None
        self.skipped = None  # the last run's records left out for their shape: counts, samples
        self.skipped_total = collections.Counter()  # kind/reason → records left out, every run
        # A job's times out of range, kept as unknown (core/records.py), every run
        self.unusable_times = 0
        self.skip_log = RateLimitedLog(log, SKIPPED_LOG_INTERVAL, clock)
        # Devices the dashboard's token lists that LAVA does not list anonymously (LAVA's device
        # permissions): kept out of the model (core/screen.py, docs/security.md); None: not known
        self.devices_hidden = None
        self.screen_errors = 0  # LAVA's anonymous list of devices could not be read
        # Why the last read of it failed (None: it did not): /healthz degraded device-screen, and
        # the page's LAVA line while no answer is known
        self.screen_error = None
        self.ingest = None  # live.ingest.Ingest: holds events until the screen is known
        self.jobs_gone_unchecked = 0  # unfinished jobs LAVA no longer listed, past the lookups' bound
        self.wait_errors = 0  # the wait between two rounds failed (its silence and lag checks)
        self.lag = LagTriggers()
        meta.update({"lava": self.public_status()}, notify=False)

    def trigger(self, reason):
        """Reconcile as soon as possible (the event source reconnected, or went silent)."""
        self._reason = reason
        self._wake.set()

    def behind(self):
        """A source ran behind its publisher (a suspected loss): reconcile at once, or at the end
        of LAG_GAP when one did within it. Never while LAVA fails: the back-off's next attempt
        answers it."""
        if self.lag.ask(self.clock()) and self.error is None:
            self.trigger("behind")

    def run(self):
        """Bootstrap, then reconcile every `interval` seconds or when triggered; never returns."""
        while True:
            reason, self._reason = self._reason or ("start-up" if not self.loaded else "schedule"), None
            try:
                self.reconcile_once(reason)
                self.backoff.reset()
                wait = self.interval
            except LavaError as err:
                self.record_failure(err)
                wait = self.backoff.next()
            except Exception as err:  # a bug here must not end the loop either
                log.error("reconcile%s failed: internal error %s", self.where, type(err).__name__)
                self.record_failure(LavaError("internal", f"internal error ({type(err).__name__})"))
                wait = self.backoff.next()
            try:
                self._wait(wait)
            except Exception as err:  # (a hardening audit: a bug in a check here ended the loop)
                self.wait_errors += 1  # (/healthz: the silence and lag triggers are not working)
                self.skip_log.warning("wait", "reconcile's wait%s failed: internal error %s (its "
                                      "silence and lag checks)", self.where, type(err).__name__)
                self._sleep_after_a_failed_wait(wait)

    def _sleep_after_a_failed_wait(self, seconds):
        """A wait of its own (the interval at most), without the checks that failed: the next
        round still comes."""
        self._wake.wait(max(0.0, min(seconds, self.interval)))
        self._wake.clear()

    def _wait(self, seconds):
        deadline = self.clock() + seconds
        while self.clock() < deadline:
            if self._wake.wait(min(1.0, max(0.0, deadline - self.clock()))):
                self._wake.clear()
                return
            if self.should_reconcile_for_silence():
                self._reason = "silence"
                return
            if self.error is None and self.lag.is_due(self.clock()):
                self._reason = "behind"
                return

    def should_reconcile_for_silence(self):
        """True when every source has been quiet for longer than silence_timeout since the last
        success. Never while failing: the backoff decides when to try again, not the silence."""
        if not self.silence or not self.loaded or not self.sources or self.error is not None:
            return False
        now = self.clock()
        last = max(s.changed_at if s.last_message_at is None else s.last_message_at
                   for s in self.sources)
        if now - last > self.silence and (self.last_success is None or now - self.last_success > self.silence):
            return True
        return False

    def reconcile_once(self, reason):
        """One fetch and merge; raises LavaError when LAVA cannot be read."""
        self.last_attempt = self.clock()
        self.lag.started(self.last_attempt)
        unfinished = [j["id"] for j in self.state.jobs.values() if j["state"] != "Finished"]
        crowded = len(self.state.jobs) >= self.state.limits["job"]  # (rest.fetch_snapshot)
        mark = self.ingest.held_total if self.ingest is not None else 0  # (held before the fetch)
        overflows = self.state.touch_overflows
        self.state.track_touches()
        try:
            snap = self.rest.fetch_snapshot(self.max_finished, unfinished, crowded)
        except BaseException:
            self.state.stop_tracking_touches()
            raise
        initial = not self.loaded
        screen = self._screen
        # Which devices LAVA lists anonymously (core/screen.py), read before anything is applied
        # and learnt only once nothing yields until the snapshot is applied (a review: learnt
        # before the next read's network wait, a message of a job the snapshot was to bring came
        # meanwhile, was judged against a model without that job, and was lost).
        listed = self._read_screen() if self.public is not None and screen is not None else None
        public, judged = None, ()
        if self.public is not None:
            # Which jobs LAVA shows anonymously, told before the snapshot's changes go out: a job
            # LAVA made private is hidden before its new description reaches anyone, and a public
            # job whose hidden fields changed while LAVA cannot say is hidden until it can (found
            # by an audit: the anonymous read came after the push, and its network wait let the
            # new fields out as public).
            public = self._read_public()
        # (From here to the release of the messages held, nothing yields.)
        if listed is not None:
            screen.learn(listed)
        held = screen is not None and screen.known and self.ingest is not None
        if held and self.ingest.held:  # the events held until now, in order (those of messages
            # whose job the model does not hold yet wait for the snapshot)
            self.ingest.release_held(mark, self.state.untracked, self.state.deferring)
        if self.public is not None:
            judged = self._judge(snap, public)
        now = dt.datetime.now(dt.timezone.utc)
        changes, corrections = self.state.reconcile(snap, now, initial)
        for correction in corrections:
            changes += self._record(correction, now)
        self.relay.push(changes)
        if held and self.ingest.held:  # the messages that waited: their jobs are in the model
            # now, or never will be. (Not when the round failed before this: they wait for the
            # next one's snapshot, rather than be judged without it and lost: a review.)
            self.ingest.release_held(mark, self.state.untracked)
        if public is not None:
            self._learn_new(snap, public, judged)
        if self._screen is not None and self._screen.known:  # (else nothing is known to be hidden)
            self._count_hidden_devices(snap)
        self.runs += 1
        self.last_duration = round(self.clock() - self.last_attempt, 3)
        self.last_success = self.clock()
        self.corrections += len(corrections)
        self.corrections_by_kind.update(c["kind"] for c in corrections)
        if self.state.touch_overflows != overflows:
            log.warning("LAVA%s: events named more jobs while its state was read than the model "
                        "may hold (%d): this round kept what they said of every job the model "
                        "holds (they are newer) and took LAVA's word for the others; the next "
                        "round merges again", self.where, self.state.limits["job"])
        if snap.gone_unchecked:
            self.jobs_gone_unchecked += snap.gone_unchecked
            log.warning("LAVA%s no longer lists %d more unfinished jobs the model held than it "
                        "is asked about one by one in a round (%d): taken as gone (finished "
                        "long ago, or never LAVA's)", self.where, snap.gone_unchecked,
                        MAX_SINGLE_JOB_LOOKUPS)
        self.loaded = True  # (after the above: anonymous viewers already see LAVA's public jobs)
        self._log(reason, initial, snap, changes, corrections)
        self._note_skipped(snap.skipped)
        if self._screen is not None and not self._screen.known:
            # Loaded, and yet no device is shown: the page says why (its "LAVA API failing" line).
            self._set_status("error", "LAVA did not say which devices it shows to everyone "
                             f"({self.screen_error}): no device is shown until it does", "screen")
            return
        self._set_status("ok", None, None)

    def _read_public(self):
        """The ids of the jobs LAVA lists anonymously (read after the snapshot: a job made private
        between the two reads is judged private), or None when LAVA cannot say now (logged)."""
        anonymous, _ = self.public
        try:
            return anonymous.visible_job_ids(self.max_finished)
        except LavaError as err:  # unknown stays private; the jobs are asked about one by one
            log.warning("could not read which jobs LAVA%s shows anonymously: %s", self.where, err)
        except Exception as err:  # a bug must not leave the lab unloaded at every attempt either
            log.warning("could not read which jobs LAVA%s shows anonymously: internal error %s",
                        self.where, type(err).__name__)
        return None

    @property
    def _screen(self):
        """The model's core.screen.DeviceScreen (with access control), or None."""
        return getattr(self.state, "screen", None)

    def _read_screen(self):
        """LAVA's anonymous list of devices (core/screen.py: the model keeps only those, and the
        jobs on them), for the caller to learn; None when LAVA cannot say now: the last answer
        stands (none yet: every device is kept out), said in the log, rate-limited."""
        from dashboard.sources.rest import API

        try:
            devices = self.public[0].list_all(f"{API}/devices/", {"all": 1})
        except LavaError as err:
            self.screen_errors += 1
            self.screen_error = str(err)
            self.skip_log.warning("screen", "could not read which devices LAVA%s shows anonymous "
                                  "users: %s; %s", self.where, err,
                                  "the last answer stands" if self._screen.known
                                  else "every device is kept out until it answers")
            return None
        self.screen_error = None
        return devices

    def _count_hidden_devices(self, snap):
        """How many of the devices the dashboard's token lists the screen keeps out (LAVA hides
        them from anonymous users: its device and device type permissions): said in the log when
        it changes, and in /healthz."""
        listed = [d["hostname"] for d in snap.devices] + sorted(snap.skipped.keep["device"])
        hidden = sum(1 for hostname in listed if not self._screen.admits_device(hostname))
        if hidden and hidden != self.devices_hidden:
            log.warning("LAVA%s hides %d of the %d devices it lists to the dashboard's token from "
                        "anonymous users (device or device type permissions): the dashboard "
                        "leaves them, and the jobs on them, out for everyone (docs/security.md)",
                        self.where, hidden, len(listed))
        self.devices_hidden = hidden

    def _judge(self, snap, public):
        """Before the snapshot is applied: the model's jobs it lists are public if LAVA lists them
        anonymously, else private. When LAVA could not say (`public` None), the last answer stands,
        except for a public job whose hidden fields the snapshot changes: unknown again (default
        deny), and asked about alone. A job the model holds and the snapshot does not list is
        public if LAVA lists it anonymously; if not, one that anonymous viewers see is asked
        about alone (JobVisibility.recheck). Returns the ids judged."""
        jobs = self.public[1]
        judged = set()
        listed = {record["id"] for record in snap.jobs}
        for job_id in [j for j in self.state.jobs if j not in listed]:
            if public is not None and job_id in public:
                jobs.learn(job_id, True)
                judged.add(job_id)
            elif jobs.shown_to_anyone(job_id):
                jobs.recheck(job_id)
        for record in snap.jobs:
            job = self.state.jobs.get(record["id"])
            if job is None:
                continue
            if public is not None:
                jobs.learn(record["id"], record["id"] in public)
                judged.add(record["id"])
            elif (jobs.shown_to_anyone(record["id"])
                  and any(job.get(f) != record[f] for f in HIDDEN_RECONCILED)):
                jobs.unsure(record["id"])
        return judged

    def _learn_new(self, snap, public, judged):
        """After the snapshot is applied: the jobs it brought into the model (private until now,
        default deny) are public if LAVA lists them anonymously. (A job that finished between the
        two reads and left the window is private: denied.)"""
        jobs = self.public[1]
        for record in snap.jobs:
            if record["id"] not in judged and record["id"] in self.state.jobs:
                jobs.learn(record["id"], record["id"] in public)

    def _record(self, correction, now):
        """Make a correction history: a feed entry in the model, and a row in the store that a
        restart replays. Returns the feed entry's changes."""
        data = correction_data(correction, correction["record"])
        frames = [correction_topic(correction["kind"]), uuid.uuid4().hex, now.isoformat(), "",
                  json.dumps(data, separators=(",", ":"))]
        event = Event(kind=CORRECTION_KIND, topic=frames[0], uuid=frames[1], time=now, username="",
                      data=data)
        if self.store is not None:
            self.store.enqueue(row_for(event, frames, {}, time.time()))
        return self.state.note_correction(event)

    def _log(self, reason, initial, snap, changes, corrections):
        if initial:
            log.info("loaded LAVA's state%s: %d devices, %d workers, %d jobs in %.1f s", self.where,
                     len(snap.devices), len(snap.workers), len(snap.jobs), self.last_duration)
            return
        for c in corrections[:MAX_LOGGED_CORRECTIONS]:
            # A job's values beyond what anyone may see of it (its submitter, description) are
            # named, not quoted: the job may be private (docs/security.md).
            what = ", ".join(f"{f} {old!r} → {new!r}"
                             if c["kind"] != "job" or f in SHOWN_OF_A_PRIVATE_JOB else f"{f} changed"
                             for f, (old, new) in c["fields"].items())
            log.warning("reconcile (%s)%s corrected %s %s: %s", reason, self.where, c["kind"],
                        c["id"], what)
        if len(corrections) > MAX_LOGGED_CORRECTIONS:
            log.warning("reconcile (%s)%s: %d more corrections not logged", reason, self.where,
                        len(corrections) - MAX_LOGGED_CORRECTIONS)
        log.debug("reconcile (%s)%s: %d changes, %d corrections", reason, self.where, len(changes),
                  len(corrections))

    def _note_skipped(self, skipped):
        """Count and show the records this run left out. /healthz is open (docs/security.md): its
        samples name devices and workers, never a job (it may be private); the log names all."""
        counts = {f"{kind}/{reason}": n for (kind, reason), n in sorted(skipped.counts.items())}
        self.skipped_total.update(counts)
        samples = [(kind, said) for kind, _, said in skipped.samples]
        screen = self._screen
        if screen is not None:  # never the name of a device LAVA hides from anonymous users
            hidden = [h for h in skipped.keep["device"] if not screen.admits_device(h)]
            samples = [(kind, said) for kind, said in samples if kind != "device"
                       or (screen.known and not any(h in said for h in hidden))]
        times = dict(sorted(skipped.unusable_times.items()))
        self.unusable_times += sum(times.values())
        self.skipped = {"records": len(skipped), "by_reason": counts,
                        "unnamed_kinds": sorted(skipped.unknown),
                        "samples": [said for _, said in samples], "unusable_times": times}
        if times:  # (by field only: which jobs, and their times, may be private)
            self.skip_log.warning("unusable_time", "LAVA's answer%s: jobs' times out of range (before "
                                  "%d or more than %d day ahead of this clock) kept as unknown: %s "
                                  "(was LAVA's clock set when it recorded them?)", self.where,
                                  EARLIEST.year, MAX_AHEAD.days,
                                  ", ".join(f"{n} {field}" for field, n in times.items()))
        if skipped.samples:  # (said per kind of its first: a job's record left out once, read
            # while LAVA's answers changed, held back a device's said for 10 minutes)
            self.skip_log.warning("skipped:" + skipped.samples[0][0], "LAVA's answer%s: %d records "
                                  "of an unexpected shape left out (%s), e.g. %s", self.where, len(skipped),
                                  ", ".join(counts), skipped.samples[0][1])

    def record_failure(self, err):
        """Count a failed attempt, log it once per kind of error, and show it in the status."""
        self.failures[err.kind] = self.failures.get(err.kind, 0) + 1
        if err.kind != self.error_kind:
            # (which lab's: a reach audit found a 401's line named neither lab nor URL)
            log.warning("LAVA API%s: %s (retrying with backoff; serving the last known state)",
                        self.where, err)
        self._set_status("error", str(err), err.kind)

    def _set_status(self, name, error, kind):
        changed = (name, error) != (self.state_name, self.error)
        if name != self.state_name:  # since when it is in this state (the page: "failing 5 min")
            self.state_since = iso_now()
        self.state_name, self.error, self.error_kind = name, error, kind
        if changed:
            self.meta.update({"lava": self.public_status()})

    def public_status(self):
        """What browsers may see: no URL credentials, no token."""
        return {"state": self.state_name, "error": self.error, "loaded": self.loaded,
                "since": self.state_since}

    def as_dict(self):
        """The /healthz section."""
        now = self.clock()
        return {"url": self.rest.base, "state": self.state_name, "loaded": self.loaded,
                "error": self.error, "error_kind": self.error_kind, "failures": self.failures,
                "runs": self.runs, "corrections": self.corrections, "behind": self.lag.as_dict(),
                "skipped": self.skipped, "skipped_total": dict(self.skipped_total),
                "unusable_times": self.unusable_times,
                "screen": None if self._screen is None
                else dict(self._screen.as_dict(), read_errors=self.screen_errors,
                          **(self.ingest.held_status() if self.ingest is not None else {})),
                "jobs_gone_unchecked": self.jobs_gone_unchecked, "wait_errors": self.wait_errors,
                "touch_overflows": self.state.touch_overflows,
                "interval": self.interval, "last_duration": self.last_duration,
                "last_success_age": None if self.last_success is None else round(now - self.last_success, 3),
                "last_attempt_age": None if self.last_attempt is None else round(now - self.last_attempt, 3)}
