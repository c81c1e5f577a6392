"""Which devices, and jobs on them, the dashboard keeps at all with access control: those LAVA shows
anonymous users. Pure: values in, values out.

LAVA's device and device type permissions (`view_device`, `view_devicetype` group permissions;
"hidden device types" in older versions) hide devices, and the jobs on them, from everyone outside
the groups, anonymous users included. The dashboard does not follow them viewer by viewer. With
`--access lava` or `login` it keeps out of the model, and so out of every output, the store and the
alerts, every device LAVA does not list anonymously, and every job on such a device or asked of a
device type none of whose devices LAVA lists anonymously. A viewer LAVA would show more sees less
here, never more (docs/security.md). Until LAVA has listed its devices anonymously, every device and
job is kept out (default deny): their events are held, and applied in order once it has.
"""
import collections
import itertools

# How many kept-out job ids are remembered: a test-shell message of one is kept out too.
REMEMBERED_JOBS = 50_000
# How many of the newest of them the saved model keeps (it is saved every minute, and sent to a
# cluster's web processes): a job kept out longer ago has long finished, and its messages with it.
SAVED_JOBS = 5_000


class Screened(ValueError):
    """An event about a device or job the screen keeps out. `changes`: what keeping it out changed
    in the model (a job that moved onto a hidden device leaves it). `held`: the screen is not known
    yet, so the event is neither applied nor kept out: its reader holds it, to apply once it is
    (live/ingest.py)."""

    def __init__(self, why, changes=(), held=False):
        super().__init__(why)
        self.changes = list(changes)
        self.held = held


class DeviceScreen:
    """What LAVA lists anonymously, learnt at each reconciliation (the last answer stands when LAVA
    cannot say), and what was kept out because of it."""

    def __init__(self, remembered=REMEMBERED_JOBS):
        self.devices = None  # hostnames LAVA lists anonymously (retired too); None: not known yet
        self.types = None  # the device types of those devices
        self._jobs = collections.OrderedDict()  # ids of jobs kept out, oldest first (bounded)
        self._remembered = remembered
        self.events = 0  # events kept out, since the start
        # Jobs kept out anew, since the start: a cluster's ingest process tells its web processes
        # the newest_jobs() whenever this grows (live/cluster_ingest.py).
        self.kept = 0

    @property
    def known(self):
        return self.devices is not None

    def learn(self, devices):
        """LAVA's anonymous list of devices: records with `hostname` and `device_type` (strings;
        a record of another shape is not admitted). Returns whether what is admitted changed."""
        hostnames, types = set(), set()
        for record in devices:
            if not isinstance(record, dict) or not isinstance(record.get("hostname"), str):
                continue
            hostnames.add(record["hostname"])
            if isinstance(record.get("device_type"), str):
                types.add(record["device_type"])
        changed = (hostnames, types) != (self.devices, self.types)
        self.devices, self.types = frozenset(hostnames), frozenset(types)
        return changed

    def admits_device(self, hostname):
        return self.devices is not None and hostname in self.devices

    def admits_job(self, device, device_type):
        """A job on `device` (None: not scheduled yet) asked of `device_type`."""
        if device is not None:
            return self.admits_device(device)
        return self.types is not None and device_type in self.types

    def keep_out_job(self, job_id):
        """Remember a job kept out (its test-shell messages are kept out too)."""
        if job_id is None:
            return
        if job_id not in self._jobs:
            self.kept += 1
        self._jobs[job_id] = None
        self._jobs.move_to_end(job_id)
        while len(self._jobs) > self._remembered:
            self._jobs.popitem(last=False)

    def kept_out_job(self, job_id):
        return job_id in self._jobs

    def let_in_job(self, job_id):
        """A job kept out before is let in now (LAVA shows its board again): forgotten."""
        self._jobs.pop(job_id, None)

    def dump(self):
        """JSON-ready, kept with the saved model: after a restart, the last answer stands until
        LAVA is asked again."""
        return {"devices": None if self.devices is None else sorted(self.devices),
                "types": None if self.types is None else sorted(self.types),
                "jobs": self.newest_jobs()}

    def newest_jobs(self):
        """The newest SAVED_JOBS of the jobs kept out, oldest first."""
        return list(itertools.islice(reversed(self._jobs), SAVED_JOBS))[::-1]

    def restore(self, body):
        """From a dump(); anything else (an older saved model's lack of one) leaves it unknown."""
        if not isinstance(body, dict) or not isinstance(body.get("devices"), list) \
                or not isinstance(body.get("types"), list):
            return
        self.devices = frozenset(h for h in body["devices"] if isinstance(h, str))
        self.types = frozenset(t for t in body["types"] if isinstance(t, str))
        for job_id in body.get("jobs") or ():
            if isinstance(job_id, int) and not isinstance(job_id, bool):
                self.keep_out_job(job_id)

    def as_dict(self):
        """For /healthz, which is open: what anyone may know. Not how many devices LAVA hides,
        nor how many of their events and jobs were kept out: LAVA tells anonymous users neither,
        and the counts would show when a hidden board is busy (the log says how many it hides)."""
        return {"known": self.known,
                "devices_listed_anonymously": None if self.devices is None else len(self.devices)}
