"""What of a lab's stored history no viewer is shown: the boards LAVA hides now. Pure.

With access control, a board LAVA does not list to anonymous users is kept out of the live model
(core/screen.py); so is every job on it, and a queued job for a device type none of whose shown
boards has (docs/security.md, "Devices LAVA hides"). What the store kept of such a board before
LAVA hid it (its transitions, its jobs' rows and messages, its share of the charts and reports,
its alerts) is left out of every output the same way, for as long as the model does not hold it:
- a stored row naming a board is shown only if the model holds that board now;
- a row naming no board but a device type (a queued job's) only if a board the model holds is of
  that type;
- no row of a job with a stored row on a board the model does not hold (the job queued for a
  type anyone may see, then run on such a board), nor of a job the model's screen keeps out (such
  a job, scheduled on a board LAVA hid before: that event was never stored);
- aggregates (the roll-ups) leave out `names`, the boards the store has history of (a stored
  transition, or a count in the events' roll-ups) that the model does not hold, and `types`, the
  device types of stored boards and queues that none of its boards has. Past MAX_LEFT_OUT of them
  together an aggregate is withheld, and says why.
Rows of no board and no type (a worker's, the lab's) are everyone's.
"""

# Names and types an aggregate's query leaves out, at most (each one is an SQL parameter: SQLite
# takes 999 in a statement where it is old). Past it the aggregate is not given, and says why.
MAX_LEFT_OUT = 500


class Withheld:
    """One lab's boards and device types shown now (the model's), and those the store holds that
    are not. `shown`: a container of the hostnames the model holds; `shown_types`: their types;
    `stored`, `stored_types`: the hostnames and types the store has history of (`cut_short`: a
    part of them, or none, the rest not read); `jobs`: the jobs with a stored row on a board not
    shown (`jobs_cut`: a part of them, or none)."""

    def __init__(self, shown, shown_types, stored=(), stored_types=(), jobs=(), cut_short=False,
                 jobs_cut=False, kept_out=None):
        self.shown = shown
        self.cut_short = cut_short
        self.jobs = frozenset(jobs)  # jobs with a stored row on a withheld board: all their rows go
        # The model's screen's own (core.screen.DeviceScreen.kept_out_job), or None: a job it keeps
        # out, queued for a type anyone may see and then scheduled on a board LAVA hides (that
        # event never stored), has no stored row on the board; its rows from before go too.
        self.kept_out = kept_out
        # `jobs` is a part of them (or none were read): a job's row with no board (a queued one's,
        # a message of a job whose board was not known) goes whatever its job
        self.jobs_cut = jobs_cut
        self.shown_types = frozenset(shown_types)
        self.names = tuple(sorted({d for d in stored if d and d not in shown}))
        self.types = tuple(sorted({t for t in stored_types if t and t not in self.shown_types}))

    def against(self, shown, shown_types):
        """This one as of the boards shown now (`shown`, `shown_types`: frozensets of the model's
        boards and types; `self.shown` a frozenset too), before the store is read again: a board
        the model no longer holds is withheld at once, with its type if no board shown has it;
        and, when a board left, every job's row with no board, since which jobs ran on that
        board is not read yet. Never less than this one withholds, but for a board shown again
        (shown; its jobs' rows wait for the read). A board the model held only between the two
        reads has its rows withheld, but its share of the charts and its jobs' rows that name no
        board stay until the read ends (as they did before this was made)."""
        left = not self.shown <= shown
        return Withheld(shown, shown_types, stored=(*self.names, *self.shown),
                        stored_types=(*self.types, *self.shown_types), jobs=self.jobs,
                        cut_short=self.cut_short, jobs_cut=self.jobs_cut or left,
                        kept_out=self.kept_out)

    def job(self, job_id):
        """Whether every row of this job is withheld: it ran on a withheld board (a stored row
        says so), or the model's screen keeps it out (its board's event was never stored)."""
        return job_id in self.jobs or (self.kept_out is not None and job_id is not None
                                       and self.kept_out(job_id))

    def device(self, name):
        """Whether everything about this board is withheld (the model does not hold it)."""
        return name not in self.shown

    def device_type(self, name):
        """Whether this device type is withheld (no board the model holds is of it)."""
        return name not in self.shown_types

    def row(self, device, device_type, job=None):
        """Whether a stored row (or an alert) about this board, or with no board this device
        type, or of a job that ran on a withheld board (its rows from before: queued for a type
        anyone may see, a message stored before the job's board was known), is withheld."""
        if device:
            return device not in self.shown or (job is not None and self.job(job))
        if job is not None and (self.jobs_cut or self.job(job)):
            return True
        return bool(device_type) and device_type not in self.shown_types

    @property
    def excluded(self):
        """(names, types) an aggregate's query leaves out, or None when there are none."""
        return (self.names, self.types) if self.names or self.types or self.cut_short else None

    @property
    def too_many(self):
        """Whether more are withheld than an aggregate's query can leave out."""
        return self.cut_short or len(self.names) + len(self.types) > MAX_LEFT_OUT

    def why(self):
        """The words an aggregate withheld for too_many says."""
        if self.cut_short and len(self.names) + len(self.types) <= MAX_LEFT_OUT:
            return ("which boards the store holds history of could not be read whole: not "
                    "counted, since some may be boards LAVA hides now (docs/security.md)")
        return (f"the store holds history of more than {MAX_LEFT_OUT:,} boards and device types "
                "not shown now (LAVA hides them, or has not said which it shows): not counted "
                "(docs/security.md)")
