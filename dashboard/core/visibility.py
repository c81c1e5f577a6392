"""Who may see what: the one place every output asks. Pure: values in, values out.

LAVA's rule for a job (TestJob.can_view): superusers, the submitter, members of its viewing groups, or
everyone when it is public. The dashboard does not guess that rule: it learns from LAVA whether a job
is public (an anonymous read answers it) and, for a signed-in viewer, whether LAVA shows it to them
(their own token answers it). Until LAVA has told, a job is private (default deny).

What a viewer who may not see a job gets is what LAVA's device pages show of it: its id, state,
health, device, device type, worker and times; never its description, submitter, test-shell messages,
raw frames or data.
"""
import collections
import dataclasses
import time

OPEN, LAVA, LOGIN = "open", "lava", "login"
MODES = (OPEN, LAVA, LOGIN)
PUBLIC, PRIVATE = "public", "private"  # a job's `visibility` in the model; None: not known yet
SHOWN_OF_A_PRIVATE_JOB = ("id", "state", "health", "device", "device_type", "worker",
                          "submit_time", "start_time", "end_time", "updated", "visibility", "lab")
HIDDEN = "hidden"  # what a redacted job says in place of what it hides


@dataclasses.dataclass(frozen=True)
class Viewer:
    """Who is looking. `username` is empty for an anonymous viewer; `sees_all` in open mode.
    `filter` is set for a signed wall link: the filter its screen is limited to."""

    username: str = ""
    sees_all: bool = False
    wall: str = ""  # the wall link's name, for a screen signed in by a link

    @property
    def lab(self):
        """The named lab whose LAVA signed this viewer in ("" for the one unnamed lab)."""
        return identity_lab(self.username)

    @property
    def key(self):
        """Viewers with equal keys see exactly the same (they can share a relay group)."""
        if self.sees_all:
            return "*"
        return "user:" + self.username if self.username else "anonymous"


ANONYMOUS = Viewer()
EVERYONE = Viewer(sees_all=True)


def identity(lab, username):
    """A viewer's identity: their LAVA username, prefixed "LAB/" when a named lab's LAVA said
    who they are (docs/labs.md). LAVA's usernames have no "/": the two never mix."""
    return f"{lab}/{username}" if lab else username


def identity_lab(ident):
    """The named lab of an identity, or "" (the one unnamed lab, or anonymous)."""
    lab, slash, _ = ident.partition("/")
    return lab if slash else ""


def job_key(job):
    """How visibility knows a job (a dict with `id`, and `lab` when of a named lab): its id, or
    (lab, id). Job 42 of east is not job 42 of west."""
    lab = job.get("lab")
    return (lab, job.get("id")) if lab else job.get("id")


# How many of a signed-in viewer's newest unanswered private jobs are asked about at once, on
# each request or subscribe (live.access.ViewerVisibility queues them).
ASK_AT_ONCE = 200


def jobs_of_lab(jobs, lab):
    """The job dicts of the model's `jobs` table (a dict, or core.labset.ByLab's) that may be of
    `lab`, oldest first and reversible: one lab's alone when the model holds several."""
    return jobs.of_lab(lab) if hasattr(jobs, "of_lab") else jobs.values()


def newest_to_ask(jobs, lab, unanswered=None, most=ASK_AT_ONCE):
    """The keys (job_key) of the newest `most` jobs of `jobs` (job dicts, oldest first: the
    model's order, as jobs_of_lab gives them) that are not public and of `lab` (and, with
    `unanswered(key)`, for which it is true), oldest first. Walked from the newest, and stopped
    once `most` are found: a signed-in viewer's request pays for the jobs it asks about, not for
    every job of the model (the whole walk took 1.9 ms at 40,000 jobs)."""
    found = []
    for job in reversed(jobs):
        if job is None or job.get("visibility") == PUBLIC or (job.get("lab") or "") != lab:
            continue
        key = job_key(job)
        if unanswered is None or unanswered(key):
            found.append(key)
            if len(found) >= most:
                break
    found.reverse()
    return found


def _job_of(jobs, job_id, lab):
    """The model's job of this id in this lab (`jobs` keyed as job_key says), or a stand-in."""
    return jobs.get((lab, job_id) if lab else job_id) or ({"id": job_id, "lab": lab} if lab
                                                          else {"id": job_id})


# How long an answer of LAVA's holds, in seconds. An answer can change (a job made private because
# its log leaked a credential, a viewer taken out of a viewing group): past this age it counts as
# never given, and the job is hidden (default deny) until LAVA has been asked again. A signed-in
# viewer's "may see" answers are asked again from REFRESH_AFTER on, while their session lasts
# (live.access.ViewerVisibility), so that what they may see does not come and go; the model's jobs
# carry their own visibility, set again at every reconciliation. An anonymous answer about a job
# the model no longer holds is not asked again: that job's history is hidden from then on
# (docs/security.md).
MAX_AGE = 600.0
MAX_EVICTED = 10_000  # viewers noted as having lost a "may see" to the bound, between two looks
REFRESH_AFTER = 300.0


class Visibility:
    """What LAVA said about private jobs and signed-in viewers: {(username, job id): may see},
    each answer for MAX_AGE seconds. Bounded: the oldest answers are forgotten first (and asked
    again when needed). Anonymous answers ("" for username) and viewers' are kept apart, each in
    the order learned, so that finding viewers' old answers (older_than) never walks the
    anonymous ones, which pile up for jobs the model has let go."""

    def __init__(self, size=100_000, max_age=MAX_AGE, clock=time.monotonic):
        self.size = size
        self.max_age = max_age
        self.clock = clock
        # key → (may see, when learned); oldest first
        self._anonymous, self._viewers = collections.OrderedDict(), collections.OrderedDict()
        # Grows with every answer learned or forgotten: an output built from the table before
        # (web.api's kept /api/v1/state answers) is then stale.
        self.version = 0
        # Viewers whose "may see" the bound pushed out (a review: their pages kept the job, as
        # before a lapse was seen); live.access.ViewerVisibility takes them (take_evicted).
        self.evicted = set()

    def _table(self, username):
        return self._viewers if username else self._anonymous

    def learn(self, username, job_id, visible):
        """LAVA answered whether `username` may see `job_id`."""
        key, table = (username, job_id), self._table(username)
        self.version += 1
        table[key] = (bool(visible), self.clock())
        table.move_to_end(key)
        while len(self) > self.size:  # the older of the two oldest goes
            tables = [t for t in (self._anonymous, self._viewers) if t]
            (who, _), (visible, _) = min(tables, key=lambda t: next(iter(t.values()))[1]).popitem(last=False)
            if who and visible and len(self.evicted) < MAX_EVICTED:
                self.evicted.add(who)  # their pages show what is not known any more: made anew

    def take_evicted(self):
        """The viewers whose "may see" answers the table's bound pushed out since the last call."""
        evicted, self.evicted = self.evicted, set()
        return evicted

    def forget(self, username, job_id):
        """LAVA's answer about this pair no longer holds (it is None until LAVA is asked again)."""
        if self._table(username).pop((username, job_id), None) is not None:
            self.version += 1

    def known(self, username, job_id):
        """True, False, or None when LAVA has not been asked (or answered more than max_age ago)."""
        answer = self._table(username).get((username, job_id))
        if answer is None or self.clock() - answer[1] > self.max_age:
            return None
        return answer[0]

    def last(self, username, job_id):
        """LAVA's last answer about this pair, however old (None if it has not answered)."""
        answer = self._table(username).get((username, job_id))
        return None if answer is None else answer[0]

    def age(self, username, job_id):
        """Seconds since LAVA answered about this pair, or None if it has not."""
        answer = self._table(username).get((username, job_id))
        return None if answer is None else self.clock() - answer[1]

    def older_than(self, seconds, limit, keep):
        """Up to `limit` (username, job id) pairs of signed-in viewers answered more than `seconds`
        ago that keep(username, may see) takes, oldest first."""
        now, out = self.clock(), []
        for key, (visible, when) in self._viewers.items():  # in the order learned: stops at the first new one
            if now - when <= seconds or len(out) >= limit:
                break
            if keep(key[0], visible):
                out.append(key)
        return out

    def forget_user(self, username):
        """A viewer signed out: their answers go with their token."""
        table = self._table(username)
        self.version += 1
        for key in [k for k in table if k[0] == username]:
            del table[key]

    def __len__(self):
        return len(self._anonymous) + len(self._viewers)


def may_see_job(viewer, job, visibility):
    """May `viewer` see everything of this job (a model job dict, or one with `id` and
    `visibility`)? Default deny: a job whose visibility LAVA has not told is private. (The
    anonymous answers, under username "", cover jobs the model no longer holds.)"""
    if viewer.sees_all:
        return True
    key = job_key(job)
    if job.get("visibility") == PUBLIC or visibility.known("", key) is True:
        return True
    # A viewer signed in by one lab's LAVA is anonymous to every other lab.
    if viewer.username and not viewer.wall and viewer.lab == (job.get("lab") or ""):
        return visibility.known(viewer.username, key) is True
    return False


def redact_job(job):
    """The part of a job anyone may see (LAVA's device pages show as much)."""
    out = {k: job.get(k) for k in SHOWN_OF_A_PRIVATE_JOB if k in job}
    out[HIDDEN] = True
    return out


def view_object(viewer, kind, obj, jobs, visibility):
    """The object as this viewer may see it; None when they may see nothing of it (a test-shell
    message of a job they may not see). `jobs` maps job keys (job_key) to the model's jobs (for
    feed entries, which name their job)."""
    if obj is None or viewer.sees_all:
        return obj
    if kind == "job":
        return obj if may_see_job(viewer, obj, visibility) else redact_job(obj)
    if kind == "event":
        job_id = obj.get("job")
        if job_id is None:
            return obj
        job = _job_of(jobs, job_id, obj.get("lab") or "")
        return obj if may_see_job(viewer, job, visibility) else None
    return obj


def view_row(viewer, row, jobs, visibility, lab=""):
    """A stored event (the API's shape; of this named lab's store) as this viewer may see it, or
    None. A row about a job the viewer may not see keeps what a device page shows; a test-shell
    message of it goes."""
    if viewer.sees_all or row.get("job") is None or row["kind"] in ("device", "worker"):
        return row  # a device's or worker's own event says no more than a device page
    job = dict(_job_of(jobs, row["job"], lab))
    if may_see_job(viewer, job, visibility):
        return row
    if row["kind"] not in ("testjob", "job", "correction") or corrects_only_hidden(row):
        return None  # a test-shell message, any other message of the job, or a hidden correction
    out = dict(row, submitter=None, username=None, data={HIDDEN: True}, frames=[])
    out[HIDDEN] = True
    return out


def corrects_only_hidden(row):
    """Whether a stored row is a reconciliation's correction of a job that changed only what a
    viewer who may not see the job is not shown (its description, submitter, priority): such a
    viewer is told nothing of it, not even that it happened, and when."""
    data = row.get("data")
    fields = data.get("fields") if row.get("kind") == "correction" and isinstance(data, dict) \
        and data.get("object") == "job" else None
    return isinstance(fields, dict) and bool(fields) \
        and not any(f in SHOWN_OF_A_PRIVATE_JOB or f == "exists" for f in fields)


def filter_sees(viewer_filter_matches, viewer, kind, obj, jobs, visibility):
    """Whether a filter matches what this viewer may see of the object (never the hidden part:
    a filter on submitters must not tell whose a private job is)."""
    shown = view_object(viewer, kind, obj, jobs, visibility)
    return shown is not None and viewer_filter_matches(kind, shown)


class Viewing:
    """One viewer's view of the model and the store: every output of the web layer asks it."""

    def __init__(self, viewer, jobs, visibility, limit=None, lab="", withheld=None):
        self.viewer = viewer
        self.jobs = jobs  # the model's jobs by job_key
        self.visibility = visibility
        self.limit = limit  # a wall link's filter (a core.filters.Filter), or None
        self.lab = lab  # the named lab whose job ids and stored rows it is asked about
        # The lab's stored history withheld from everyone (core.withheld.Withheld: boards LAVA
        # hides now), or None. (Found before: a view's rows may be read in a thread, or by an
        # export's stream, without the request's context.)
        self.withheld = withheld

    @property
    def sees_all(self):
        return self.viewer.sees_all

    def obj(self, kind, obj):
        """The object as this viewer may see it, or None."""
        return view_object(self.viewer, kind, obj, self.jobs, self.visibility)

    def job_visible(self, job_id, lab=None):
        """Whether the viewer may see all of this job (known to the model or not), of the view's
        lab or of `lab` (an alert of a named lab names its jobs by their ids in that lab)."""
        lab = self.lab if lab is None else lab
        return may_see_job(self.viewer, _job_of(self.jobs, job_id, lab), self.visibility)

    def rows(self, rows, by_submitter=False):
        """Stored events as this viewer may see them; with `by_submitter` (the query filtered on
        submitters), a hidden row goes altogether: its presence would tell whose the job is."""
        shown = (self.row(row, by_submitter) for row in rows)
        return [row for row in shown if row is not None]

    def row(self, row, by_submitter=False):
        """One stored event as this viewer may see it, or None (Viewing.rows). A row about a
        board LAVA hides now is shown to no one (core.withheld)."""
        if self.withheld is not None and self.withheld.row(row.get("device"), row.get("device_type"),
                                                          row.get("job")):
            return None
        shown = view_row(self.viewer, row, self.jobs, self.visibility, self.lab)
        return None if shown is None or (by_submitter and shown is not row) else shown

    def alert_in_limit(self, alert, devices):
        """Whether a wall link's screen may show this alert: only one about a device its filter
        matches (as the model has it now), or about a device type when the filter takes any device
        of that type; never a worker's or the lab's (when in doubt, deny). Without a limit, yes."""
        if self.limit is None:
            return True
        if alert.get("subject_kind") == "device":
            subject = alert.get("subject")
            device = devices.get((alert["lab"], subject) if alert.get("lab") else subject)
            return device is not None and self.limit.matches("device", device)
        if alert.get("subject_kind") == "device_type" and alert.get("device_type"):
            # As a device of that type in the alert's lab: a filter on labs matches by it.
            return self.limit.matches("device", {"device_type": alert["device_type"],
                                                 **({"lab": alert["lab"]} if alert.get("lab") else {})})
        return False

    def snapshot(self, snapshot):
        """A LabState.snapshot() as this viewer may see it."""
        out = dict(snapshot)
        for name, kind in (("devices", "device"), ("jobs", "job"), ("workers", "worker"),
                           ("events", "event")):
            shown = (self.obj(kind, o) for o in snapshot[name])
            out[name] = [o for o in shown if o is not None
                         and (self.limit is None or self.limit.matches(kind, o))]
        return out
