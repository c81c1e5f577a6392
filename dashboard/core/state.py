"""The live model of a lab: apply(event) → numbered changes. Pure: no sockets, no Flask, no clock.

Objects use LAVA's field names. Links are kept consistent here: a device's `job` is cleared when
the device goes Idle or the job finishes. A worker's devices are the devices' `worker` field, said
once: the model keeps an index of it (a set per worker, O(1) per move), and outputs that list a
worker's devices sort them when they send them (devices_of, with_devices).
"""
import collections
import contextlib
import dataclasses
import datetime
import itertools

from dashboard.core import jsontext
from dashboard.core.events import CORRECTION_KIND, Event, job_id as valid_job_id
from dashboard.core.screen import Screened
from dashboard.core.visibility import SHOWN_OF_A_PRIVATE_JOB

ACTIVE_JOB_STATES = ("Scheduling", "Scheduled", "Running", "Canceling")
_TOUCH_KEY = {"device": ("device", "device"), "testjob": ("job", "job"),
              "worker": ("worker", "hostname")}


class Touches:
    """The objects events changed while a REST fetch ran (LabState.track_touches): for those the
    events, newer than what the fetch may have read, win. Devices and workers are noted each (the
    model's limits bound them: an event naming one past them is refused before it is noted).
    Jobs are noted up to `most_jobs`: a publisher naming new job ids, finished and forgotten by
    the model at once, while LAVA answered slowly, grew the set without bound (an audit: 200,000
    ids, 28 MB). Past it (`overflow`), every job the model holds counts as touched, and a job it
    does not hold takes LAVA's record: the next round corrects one the events ended meanwhile."""

    def __init__(self, most_jobs):
        self.noted = set()
        self.jobs = 0
        self.most_jobs = most_jobs
        self.overflow = False

    def add(self, kind, ident):
        """Note one; returns True when the jobs have just gone past their bound."""
        if kind == "job":
            if self.overflow or (kind, ident) in self.noted:
                return False
            self.jobs += 1
            if self.jobs > self.most_jobs:
                self.overflow = True
                self.noted = {key for key in self.noted if key[0] != "job"}
                return True
        self.noted.add((kind, ident))
        return False

    def holds(self, kind, ident, jobs):
        """Whether events changed this object during the fetch (`jobs`: the model's when the
        merge began)."""
        if kind == "job" and self.overflow:
            return ident in jobs
        return (kind, ident) in self.noted
# What the REST API knows of each kind, and so what reconcile compares.
RECONCILED = {"device": ("device_type", "state", "health", "worker", "job"),
              "worker": ("state", "health"),
              "job": ("submitter", "description", "state", "health", "priority", "health_check",
                      "submit_time", "start_time", "end_time", "device_type", "device", "worker")}
# An unknown topic's data whose text is longer than this (a test-shell message's most) is not kept
# in its feed entry, only its size: the entry goes to every client, into the change log and the
# saved model, and a message may be up to --max-message-size. The event history keeps it whole.
MAX_FEED_DATA = 4096
STORED_KIND = {"device": "device", "job": "testjob", "worker": "worker"}


def correction_topic(kind):
    """The topic of a correction of a model object of this kind (device, job, worker)."""
    return f"dashboard.{STORED_KIND[kind]}.{CORRECTION_KIND}"


def correction_data(correction, record):
    """The data of a correction event: the object, what the model had and what LAVA said per field
    (`fields`: {field: [model, lava]}), LAVA's whole record (None: LAVA no longer lists it), and a
    sentence for the feed."""
    what = ", ".join(f"{f} {old!r} → {new!r}" for f, (old, new) in correction["fields"].items())
    return {"object": correction["kind"], "id": correction["id"], "fields": correction["fields"],
            "record": record, "message": f"corrected {correction['kind']} {correction['id']} "
                                         f"from LAVA: {what}"}


JOB_FIELDS = ("submitter", "description", "state", "health", "priority", "submit_time",
              "start_time", "end_time", "health_check", "device_type", "device", "worker", "sub_id")


def _earlier(stamp, when):
    """An ISO 8601 time, but not after `when` (another ISO 8601 time: a clock ahead); None when
    `stamp` is None or not comparable."""
    if stamp is None:
        return None
    try:
        return stamp if datetime.datetime.fromisoformat(stamp) <= datetime.datetime.fromisoformat(when) else when
    except (TypeError, ValueError):
        return None


@dataclasses.dataclass(frozen=True)
class Change:
    """One numbered change to the model. `data` is the new value (None: removed); `prev` the old."""

    seq: int
    kind: str  # device | job | worker | event
    id: object
    data: object
    prev: object = None
    lab: str = ""  # the named lab it happened in (docs/labs.md); "" for a dashboard of one lab
    # A removal because LAVA no longer shows the object (the device screen, core/screen.py): who
    # follows the model drops what it keeps of it too (feed entries, messages, histories).
    screened: bool = False

    def wire(self, removed=False):
        """The change as sent to clients: never `prev`; `removed` sends a removal instead."""
        out = {"seq": self.seq, "kind": self.kind, "id": self.id,
               "data": None if removed else self.data}
        if self.lab:
            out["lab"] = self.lab
        if self.screened:
            out["screened"] = True
        return out


class Sequence:
    """The numbers of changes: one per model, or one shared by the models of several labs, so
    that their changes form one numbered stream (docs/labs.md)."""

    def __init__(self):
        self.value = 0
        self.shared = False

    def next(self):
        """The next change's number."""
        self.value += 1
        return self.value


class OverLimit(ValueError):
    """An event that would create a device, worker or job beyond the model's limit; dropped."""


class BoundedSet:
    """Remembers the last `size` keys it was given (for duplicate uuids)."""

    def __init__(self, size):
        self._order = collections.deque(maxlen=size)
        self._keys = set()

    def add(self, key):
        """Add key; returns False if it was already there."""
        if key in self._keys:
            return False
        if len(self._order) == self._order.maxlen:
            self._keys.discard(self._order[0])
        self._order.append(key)
        self._keys.add(key)
        return True

    def __contains__(self, key):
        return key in self._keys

    def __len__(self):
        return len(self._keys)


class LabState:
    """Devices, jobs and workers of one lab, built from events."""

    def __init__(self, max_finished_jobs=500, max_recent_events=200, dedup_window=20000,
                 max_devices=20000, max_workers=2000, max_jobs=50000, name="", sequence=None):
        # A named lab's objects and changes carry its name (docs/labs.md); an unnamed one's none.
        self.name = name
        self._sequence = sequence or Sequence()
        self.devices = {}
        self.jobs = {}
        self.workers = {}
        # Each worker's devices: one owner of that fact, the devices' `worker` field; this index of
        # it makes relinking a device O(1). Worker records do not carry the list: outputs that
        # show it (REST) sort it when they send it (devices_of, with_devices).
        self._on_worker = {}
        self.recent_events = collections.deque(maxlen=max_recent_events)
        self.duplicates = 0
        self.max_finished_jobs = max_finished_jobs
        # Objects are created by whoever names them: bounded, so that no publisher can grow memory
        # without end. What would go beyond is dropped and counted in over_limit.
        self.limits = {"device": max_devices, "worker": max_workers, "job": max_jobs}
        self.over_limit = 0
        self._finished = collections.OrderedDict()  # job id → None, oldest finish first
        self._seen = BoundedSet(dedup_window)
        self._changes = []
        self._touched = None  # (kind, id) of objects events changed while a REST fetch ran
        self.touch_overflows = 0  # fetches during which events named more jobs than it notes
        # With access control, a core.screen.DeviceScreen: devices (and jobs on them) LAVA does
        # not list anonymously are kept out of the model altogether. None: every device is kept.
        self.screen = None
        # A cluster's web process follows the ingest process's model (follow()) and has no screen:
        # with access control, a DeviceScreen used only for the jobs the ingest process's screen
        # keeps out, as its snapshots and its removals for the screen say (core/withheld.py: their
        # stored rows, a queued one's, are withheld). None elsewhere.
        self.followed_screen = None
        self._deferring = False  # (deferring(): a message of a job not held yet waits)

    @property
    def seq(self):
        """The number of the newest change (of every lab, when labs share a Sequence)."""
        return self._sequence.value

    @seq.setter
    def seq(self, value):
        self._sequence.value = value

    # -- applying events -------------------------------------------------------------------
    def row_context(self, event):
        """What an event's stored row takes from the model (storage.store.row_for): for a kind
        other than device, testjob and worker (a test-shell message), its job's record, whose
        device, worker, device type and submitter fill the columns the message does not; else {}."""
        if event.kind in ("device", "testjob", "worker"):
            return {}
        return self.jobs.get(valid_job_id(event.data.get("job"))) or {}

    def apply(self, event):
        """Apply one parsed Event; return the list of Changes it caused, or None when the event is a
        duplicate (its uuid was seen before) and was ignored. Raises OverLimit, changing nothing,
        when it would create an object beyond the limits."""
        if event.uuid in self._seen:
            self.duplicates += 1
            return None
        admitted = True if self.screen is None else self._admitted(event)
        if admitted is None:
            raise Screened("not known yet which devices LAVA shows anonymously", held=True)
        if not admitted:
            self._seen.add(event.uuid)
            raise Screened(f"a {event.kind} event about what LAVA does not show anonymously",
                           self._keep_out(event, event.iso))
        beyond = self._beyond_limit(event.kind, event.data)
        if beyond:
            self.over_limit += 1
            raise OverLimit(beyond)
        self._seen.add(event.uuid)
        self._changes = []
        when = event.iso
        if self._touched is not None and event.kind in _TOUCH_KEY:
            kind, field = _TOUCH_KEY[event.kind]
            if self._touched.add(kind, event.data[field]):  # (bounded: Touches)
                self.touch_overflows += 1
        # By a table, not by the method named after the kind: a topic is LAVA's (or anyone's) to
        # name, and ".record" reached _apply_record (found by an audit: the event was lost).
        _HANDLERS.get(event.kind, LabState._apply_generic)(self, event, when)
        changes, self._changes = self._changes, []
        return changes

    def _admitted(self, event):
        """Whether the screen lets this event in: a device's if LAVA lists it anonymously, a job's
        if on such a device (or, not scheduled yet, asked of such a device's type), a message of a
        job only if the model holds that job (a message of a job it does not hold may be of one on
        a hidden device: when in doubt, deny). A worker's always (LAVA shows workers to anyone),
        and a message of no job. None: not known yet (the screen has not learnt what LAVA lists).
        """
        kind, d, screen = event.kind, event.data, self.screen
        if kind == "device":
            return screen.admits_device(d["device"]) if screen.known else None
        if kind == "testjob":
            if not screen.known:
                return None
            prev = self.jobs.get(d["job"]) or {}
            device = d["device"] if "device" in d else prev.get("device")
            device_type = d["device_type"] if "device_type" in d else prev.get("device_type")
            if not screen.admits_job(device, device_type):
                return False
            if not prev and screen.kept_out_job(d["job"]):
                if "device" not in d:  # (kept out for its board: only a board LAVA shows lets it in)
                    return False
                screen.let_in_job(d["job"])  # (LAVA shows its board now)
            return True
        if kind == "worker":
            return True
        if kind == CORRECTION_KIND:  # (a stored one, replayed at a restart)
            return self._correction_admitted(d)
        raw, named = d.get("job"), d.get("device")  # (an unknown topic's data may name a board)
        if raw is None and not isinstance(named, str):
            return True
        if not screen.known:
            return None
        if isinstance(named, str) and not screen.admits_device(named):
            return False
        if raw is None:
            return True
        job_id = valid_job_id(raw)  # (a job named otherwise than by its number: denied)
        if job_id is not None and job_id in self.jobs:
            return True
        return None if self._deferring and job_id is not None else False

    def _correction_admitted(self, d):
        """A replayed correction of a device or job applies its record: only if the screen lets
        that in (a correction of one LAVA hid since is kept out, feed entry and all)."""
        kind, record = d.get("object"), d.get("record")
        if kind not in ("device", "job"):
            return True
        if not self.screen.known:
            return None
        if kind == "device":
            return self.screen.admits_device(d.get("id"))
        if isinstance(record, dict):
            return self.screen.admits_job(record.get("device"), record.get("device_type"))
        return d.get("id") in self.jobs  # (gone from LAVA: only one the model holds)

    def _keep_out(self, event, when):
        """An event the screen does not let in (the screen is known): counted, and what it is
        about leaves the model if there (a job LAVA scheduled on a device it hides). Returns the
        Changes."""
        self.screen.events += 1
        self._changes = []
        if event.kind == "testjob":
            self.screen.keep_out_job(event.data["job"])
            if event.data["job"] in self.jobs:
                self._remove_job_kept_out(event.data["job"], when)
                self._screen_feed()
        elif event.kind == "device" and event.data["device"] in self.devices:
            self._remove("device", event.data["device"], when, screened=True)
            self._screen_feed()
        changes, self._changes = self._changes, []
        return changes

    def _remove_job_kept_out(self, job_id, when):
        prev = self.jobs[job_id]
        self._remove("job", job_id, when, screened=True)
        if prev.get("device"):
            self._unlink_job(prev["device"], job_id, when)

    def _screen_model(self, when):
        """Take out of the model what the screen no longer lets in (LAVA hid a device since),
        without a correction: a correction would name it in the history. Only with the screen
        known: while it is not, the model holds no device or job (apply holds their events, and
        restore keeps none)."""
        if not self.screen.known:
            return
        removed = False
        for hostname in [h for h in self.devices if not self.screen.admits_device(h)]:
            self._remove("device", hostname, when, screened=True)
            removed = True
        for job_id in [i for i, j in self.jobs.items()
                       if not self.screen.admits_job(j.get("device"), j.get("device_type"))]:
            self.screen.keep_out_job(job_id)
            self._remove_job_kept_out(job_id, when)
            removed = True
        if removed:
            self._screen_feed()

    def _screen_feed(self):
        """The feed's entries of what left the model for the screen go too: a new page's snapshot
        must not show them (those pages that had them keep them until reloaded)."""
        self._keep_feed(self._feed_entry_admitted)

    def _keep_feed(self, keep):
        """The feed without the entries `keep(entry)` says no to."""
        kept = [e for e in self.recent_events if keep(e)]
        if len(kept) != len(self.recent_events):
            self.recent_events.clear()
            self.recent_events.extend(kept)

    def _feed_entry_admitted(self, entry):
        device, job_id = entry.get("device"), entry.get("job")
        return (device is None or self.screen.admits_device(device)) \
            and not (job_id is not None and self.screen.kept_out_job(job_id))

    def _admits_record(self, kind, record, when):
        """Whether the screen lets a REST record in (as _admitted an event). With the screen not
        known, none of a device or job: nothing is remembered as kept out then."""
        if kind == "device":
            return self.screen.admits_device(record["hostname"])
        if kind == "job" and not self.screen.admits_job(record["device"], record["device_type"]):
            if self.screen.known:
                self.screen.keep_out_job(record["id"])
                if record["id"] in self.jobs:  # (LAVA put it on a hidden board: no event said so)
                    self._remove_job_kept_out(record["id"], when)
                    self._screen_feed()
            return False
        if kind == "job" and record["id"] not in self.jobs:
            self.screen.let_in_job(record["id"])
        return True

    def _beyond_limit(self, kind, data):
        """Why applying an event of this kind with this data would exceed a limit, or None."""
        new = []
        if kind == "device":
            new = [("device", data["device"], self.devices)]
            if data.get("worker") is not None:
                new.append(("worker", data["worker"], self.workers))
        elif kind == "worker":
            new = [("worker", data["hostname"], self.workers)]
        elif kind == "testjob":
            new = [("job", data["job"], self.jobs)]
        for what, ident, table in new:
            if ident not in table and len(table) >= self.limits[what]:
                return f"a new {what} beyond the limit of {self.limits[what]} {what}s"
        return None

    def _emit(self, kind, key, data, prev, screened=False):
        if self.name and data is not None:
            data["lab"] = self.name  # the stored object itself: every output of it says its lab
        self._changes.append(Change(self._sequence.next(), kind, key, data, prev, self.name,
                                    screened))

    def _apply_device(self, event, when):
        d = event.data
        hostname = d["device"]
        prev = self.devices.get(hostname)
        new = dict(prev) if prev else {"hostname": hostname, "device_type": None, "state": None,
                                       "health": None, "worker": None, "job": None, "since": when}
        for field in ("device_type", "state", "health", "worker"):
            if field in d:
                new[field] = d[field]
        if new["state"] == "Idle":
            new["job"] = None  # LAVA may still name the finished job on the Idle event
        elif d.get("job") is not None:
            new["job"] = d["job"]
        if prev and (prev["state"], prev["health"]) != (new["state"], new["health"]):
            new["since"] = when
        new["updated"] = when
        self._put_device(new, prev, when)

    def _put_device(self, new, prev, when):
        hostname = new["hostname"]
        self.devices[hostname] = new
        if new != prev:
            self._emit("device", hostname, new, prev)
        old_worker = prev["worker"] if prev else None
        if old_worker != new["worker"]:
            self._unlink(old_worker, hostname)
            self._link(new["worker"], hostname, when)

    def _link(self, hostname, device, when):
        """The device is on this worker now: O(1). A worker no record names yet is created (and
        sent); a known one does not change (its devices are the devices' fact)."""
        if hostname is None:
            return
        self._on_worker.setdefault(hostname, set()).add(device)
        if hostname not in self.workers:
            new = {"hostname": hostname, "state": None, "health": None, "since": when,
                   "updated": when}
            self.workers[hostname] = new
            self._emit("worker", hostname, new, None)

    def _unlink(self, hostname, device):
        members = self._on_worker.get(hostname)
        if members is not None:
            members.discard(device)
            if not members:
                del self._on_worker[hostname]

    def _index_workers(self):
        """Rebuild the worker → devices index from the devices (a restore)."""
        self._on_worker = {}
        for hostname, device in self.devices.items():
            if device.get("worker") is not None:
                self._on_worker.setdefault(device["worker"], set()).add(hostname)

    def devices_of(self, hostname):
        """The worker's devices, sorted (sorted here, when an output sends them)."""
        return sorted(self._on_worker.get(hostname, ()))

    def with_devices(self, worker):
        """A worker record as REST sends it: with its sorted devices."""
        return None if worker is None else {**worker, "devices": self.devices_of(worker["hostname"])}

    def _apply_worker(self, event, when):
        d = event.data
        hostname = d["hostname"]
        prev = self.workers.get(hostname)
        new = dict(prev) if prev else {"hostname": hostname, "state": None, "health": None,
                                       "since": when}
        new.update({k: d[k] for k in ("state", "health") if k in d})
        if prev and (prev["state"], prev["health"]) != (new["state"], new["health"]):
            new["since"] = when
        new["updated"] = when
        self.workers[hostname] = new
        if new != prev:
            self._emit("worker", hostname, new, prev)

    def _apply_testjob(self, event, when):
        d = event.data
        job_id = d["job"]
        prev = self.jobs.get(job_id)
        new = dict(prev) if prev else {"id": job_id, **dict.fromkeys(JOB_FIELDS)}
        new.update({k: d[k] for k in JOB_FIELDS if k in d})
        if new.get("submitter") is None:
            new["submitter"] = event.username
        # When what anyone may see of it last changed: a change of a hidden field alone (a
        # correction of a private job's description) must not tell those who may not see it that
        # something hidden changed, and when (core.visibility).
        new["updated"] = when if prev is None or _shown_differs(prev, new) else prev.get("updated", when)
        self.jobs[job_id] = new
        self._emit("job", job_id, new, prev)
        old_device = prev["device"] if prev else None
        if old_device and old_device != new["device"]:
            self._unlink_job(old_device, job_id, when)
        if new["state"] == "Finished":
            if new["device"]:
                self._unlink_job(new["device"], job_id, when)
            self._finished[job_id] = None
            self._finished.move_to_end(job_id)
            self._forget_old_jobs()
        elif new["state"] in ACTIVE_JOB_STATES and new["device"] in self.devices:
            device = self.devices[new["device"]]
            if device["job"] != job_id:
                self._put_device(dict(device, job=job_id, updated=when), device, when)

    def _unlink_job(self, hostname, job_id, when):
        device = self.devices.get(hostname)
        if device and device["job"] == job_id:
            self._put_device(dict(device, job=None, updated=when), device, when)

    def _forget_old_jobs(self):
        while len(self._finished) > self.max_finished_jobs:
            job_id, _ = self._finished.popitem(last=False)
            prev = self.jobs.pop(job_id, None)
            if prev is not None:
                self._emit("job", job_id, None, prev)

    def _apply_generic(self, event, when):
        """`.event` messages and unknown suffixes: kept as feed entries, not as objects."""
        d = event.data
        job_id = valid_job_id(d.get("job"))
        job = self.jobs.get(job_id) or {}
        if event.kind == CORRECTION_KIND:  # about the corrected object, so that filters match it
            job_id, job = _correction_context(d)
        message = d.get("message")  # text for the feed; an unknown topic's other shapes stay in data
        # The health of the device it is about when it arrives: a `health` filter keeps the
        # messages of matching devices (core/filters.py), as `devices` and `workers` do.
        name = job.get("device")
        device = (self.devices.get(name) if isinstance(name, str) else None) or {}
        entry = {"uuid": event.uuid, "time": when, "topic": event.topic, "type": event.kind,
                 "username": event.username, "job": job_id,
                 "message": message if isinstance(message, str) else None,
                 "submitter": job.get("submitter"), "device": job.get("device"),
                 "device_type": job.get("device_type"), "worker": job.get("worker"),
                 "device_health": device.get("health")}
        if event.kind != "event":
            entry["data"] = d
            if event.kind != CORRECTION_KIND:  # an unknown topic's data, as LAVA sent it
                size = len(event.text[4]) if len(event.text) == 5 else len(jsontext.dumps(d))
                if size > MAX_FEED_DATA:
                    entry["data"] = {"omitted_characters": size}
        self.recent_events.append(entry)
        self._emit("event", event.uuid, entry, None)

    def _apply_correction(self, event, when):
        """A stored correction, replayed after a restart: the object takes LAVA's values again
        (or goes, when LAVA no longer listed it), and the feed shows the correction."""
        d = event.data
        kind, record = d.get("object"), d.get("record")
        if kind in ("device", "worker", "job") and isinstance(record, dict):
            try:
                self._apply_record(kind, record, when, since_unknown=False)
            except (KeyError, TypeError, OverLimit):
                pass  # a record of another version's shape: the next reconcile repairs it
        elif kind in ("device", "worker", "job") and record is None:
            table = {"device": self.devices, "worker": self.workers, "job": self.jobs}[kind]
            if d.get("id") in table:
                self._remove(kind, d["id"], when)
        self._apply_generic(event, when)

    def note_correction(self, event):
        """A correction the reconciler applied (through reconcile()) becomes a feed entry; the
        event is what the store keeps. Returns the Changes (the feed entry)."""
        self._changes = []
        self._apply_generic(event, event.iso)
        changes, self._changes = self._changes, []
        return changes

    def forget_visibility(self):
        """Forget what LAVA said of who may see each job: every job is private again (default deny)
        until LAVA is asked anew. Returns how many jobs had an answer."""
        forgotten = 0
        for job_id, job in self.jobs.items():
            if "visibility" in job:
                self.jobs[job_id] = {k: v for k, v in job.items() if k != "visibility"}
                forgotten += 1
        return forgotten

    def set_visibility(self, job_id, visibility):
        """LAVA told whether a job is public or private (core.visibility): kept on the job, so that
        every process and output knows it. Returns the Changes (none if unchanged or unknown)."""
        job = self.jobs.get(job_id)
        if job is None or job.get("visibility") == visibility:
            return []
        self._changes = []
        self.jobs[job_id] = dict(job, visibility=visibility)
        self._emit("job", job_id, self.jobs[job_id], job)
        changes, self._changes = self._changes, []
        return changes

    # -- reconciling with the REST API ----------------------------------------------------
    @contextlib.contextmanager
    def deferring(self):
        """Within, a message of a job the model does not hold is not judged yet (Screened, held):
        held events released before a reconciliation's snapshot, which may bring its job."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False

    @contextlib.contextmanager
    def untracked(self):
        """Events applied within are not noted as touches: a REST fetch's values win over them
        (events from before the fetch began, applied late: held until the screen was known)."""
        touched, self._touched = self._touched, None
        try:
            yield
        finally:
            self._touched = touched

    def track_touches(self):
        """Start noting which objects events change: a REST fetch begins, and for those objects
        the events, being newer than what the fetch may have read, win."""
        self._touched = Touches(self.limits["job"])

    def stop_tracking_touches(self):
        """The fetch failed: forget the touches."""
        self._touched = None

    def reconcile(self, snap, when, initial=False):
        """Make the model agree with a snapshot.Snapshot, except objects events touched since
        track_touches(). Returns (changes, corrections); a correction names what was wrong."""
        touched, self._touched = self._touched or Touches(self.limits["job"]), None
        self._changes, corrections = [], []
        when = when.isoformat()
        tables = {"worker": self.workers, "device": self.devices, "job": self.jobs}
        if self.screen is not None:  # (LAVA may have hidden some since the last round)
            self._screen_model(when)
        # Past the touches' bound, the jobs held now count as touched: taken once, since applying
        # LAVA's finished jobs below may forget one of them (a review: an event had finished it,
        # and its older record, later in the loop, brought it back Running).
        held = frozenset(self.jobs) if touched.overflow else frozenset()
        # Jobs gone first: their places go to the jobs LAVA lists (a model full of jobs that
        # never were refused the real ones).
        gone = set(snap.gone_jobs)  # (never listed too, but if so, gone wins: as it did when last)
        for job_id in snap.gone_jobs:
            if job_id in self.jobs and not touched.holds("job", job_id, held):
                self._remove("job", job_id, when)
                corrections.append({"kind": "job", "id": job_id, "fields": {"exists": [True, False]},
                                    "record": None})
        for kind, records, key in (("worker", snap.workers, "hostname"),
                                   ("device", snap.devices, "hostname"), ("job", snap.jobs, "id")):
            for record in records:
                ident = record[key]
                if touched.holds(kind, ident, held) or (kind == "job" and ident in gone):
                    if (kind == "job" and self.screen is not None and self.screen.known
                            and not self.screen.admits_job(record["device"], record["device_type"])):
                        # LAVA has it on a board it hides: out, whatever the events said of it
                        # (a review: past the touches' bound, every job the model held stayed)
                        self._admits_record(kind, record, when)
                    continue
                if self.screen is not None and not self._admits_record(kind, record, when):
                    continue
                prev = tables[kind].get(ident)
                diff = {f: [prev.get(f) if prev else None, record[f]] for f in RECONCILED[kind]
                        if (prev.get(f) if prev else None) != record[f]
                        and not (f == "job" and record[f] is None and record["state"] != "Idle")
                        and not (kind == "job" and f == "worker" and record[f] is None)}
                if prev is not None and not diff:
                    if kind == "worker":
                        self._worker_since(prev, record, when)
                    continue
                try:
                    self._apply_record(kind, record, when, initial and prev is None)
                except OverLimit:
                    continue  # counted; LAVA lists more than the model may hold
                if prev is not None:
                    corrections.append({"kind": kind, "id": ident, "fields": diff, "record": record})
        skipped = snap.skipped
        for kind, present in (("device", {d["hostname"] for d in snap.devices}),
                              ("worker", {w["hostname"] for w in snap.workers})):
            if kind in skipped.unknown:
                continue  # a record of this kind was left out unnamed: it may be any of them
            present |= skipped.keep[kind]  # left out for its shape, not gone
            for ident in [i for i in tables[kind] if i not in present
                          and not touched.holds(kind, i, held)]:
                self._remove(kind, ident, when)
                corrections.append({"kind": kind, "id": ident, "fields": {"exists": [True, False]},
                                    "record": None})
        changes, self._changes = self._changes, []
        return changes, corrections

    def _worker_since(self, prev, record, when):
        """A worker the model holds Offline with no `since` (LAVA's REST loaded it, in this run
        or, through the saved model, an earlier one) takes its `last_ping` from a record that
        agrees: a restart no longer left it counting from then on."""
        offline = _earlier(record.get("offline_since"), when)
        if offline is None or prev.get("since") is not None or prev.get("state") != "Offline":
            return
        new = dict(prev, since=offline)
        self.workers[prev["hostname"]] = new
        self._emit("worker", prev["hostname"], new, prev)

    def _apply_record(self, kind, record, when, since_unknown):
        """Apply a REST record through the same code as an event, so links stay consistent.
        Raises OverLimit (and counts it) for a new object beyond the limits."""
        beyond = self._beyond_limit(*{
            "device": lambda: ("device", {"device": record["hostname"], "worker": record["worker"]}),
            "worker": lambda: ("worker", record),
            "job": lambda: ("testjob", {"job": record["id"]})}[kind]())
        if beyond:
            self.over_limit += 1
            raise OverLimit(beyond)
        if kind == "device":
            data = {"device": record["hostname"], **{f: record[f] for f in RECONCILED["device"]}}
            self._apply_device(_synthetic("device", data), when)
            table, ident = self.devices, record["hostname"]
        elif kind == "worker":
            self._apply_worker(_synthetic("worker", dict(record)), when)
            table, ident = self.workers, record["hostname"]
            offline = _earlier(record.get("offline_since"), when)
            if (offline is not None and table[ident]["state"] == "Offline"
                    and (since_unknown or table[ident]["since"] == when)):
                # LAVA says when the worker last spoke to it: about when it went Offline (a
                # worker loaded at the start, or found Offline by a reconciliation), where the
                # rules and the page had counted from the restart or from the reconciliation.
                table[ident]["since"] = offline
                return
        else:
            data = {"job": record["id"], **{f: record[f] for f in RECONCILED["job"]}}
            if data["worker"] is None:
                del data["worker"]
            self._apply_testjob(_synthetic("testjob", data, record["submitter"]), when)
            return
        if since_unknown:  # LAVA does not say since when; better no figure than a wrong one
            table[ident]["since"] = None

    def _remove(self, kind, ident, when, screened=False):
        """`screened`: LAVA no longer shows it (the device screen), not that it is gone."""
        if kind == "device":
            prev = self.devices.pop(ident)
            self._emit("device", ident, None, prev, screened)
            self._unlink(prev["worker"], ident)
        elif kind == "worker":
            self._emit("worker", ident, None, self.workers.pop(ident))
        else:
            self._finished.pop(ident, None)
            self._emit("job", ident, None, self.jobs.pop(ident), screened)

    # -- persistence ------------------------------------------------------------------------
    def dump(self):
        """The model as JSON-ready data, for the store to keep across restarts."""
        body = {"seq": self.seq, "devices": list(self.devices.values()),
                "jobs": list(self.jobs.values()), "workers": list(self.workers.values()),
                "finished": list(self._finished), "recent_events": list(self.recent_events)}
        if self.screen is not None:
            body["screen"] = self.screen.dump()
        return body

    def restore(self, body):
        """Start from a dump() (a restart, or a web process following the ingest process): the
        whole model is replaced; events or changes newer than it are applied after."""
        self.recent_events.clear()
        # Labs sharing one Sequence restore one after another: none may number backwards.
        self.seq = max(self.seq, body["seq"]) if self._sequence.shared else body["seq"]
        self.devices = {d["hostname"]: d for d in body["devices"]}
        self.jobs = {j["id"]: j for j in body["jobs"]}
        # A dump from before the index kept each worker's devices in its record: dropped.
        self.workers = {w["hostname"]: {k: v for k, v in w.items() if k != "devices"}
                        for w in body["workers"]}
        events = body["recent_events"]
        if self.screen is not None:  # the saved answer stands (none saved: every device kept out)
            self.screen.restore(body.get("screen"))
            events = self._screen_restored(events)
        if self.followed_screen is not None:  # (added to what the removals said: bounded)
            self.followed_screen.restore(body.get("screen"))
        self._index_workers()
        self._finished = collections.OrderedDict((i, None) for i in body["finished"] if i in self.jobs)
        self.recent_events.extend(events)
        self._stamp_lab()

    def kept_out_version(self):
        """How many jobs the screen has kept out anew since the start (0 without a screen)."""
        return self.screen.kept if self.screen is not None else 0

    def kept_out(self):
        """(kept_out_version(), {lab: the newest jobs the screen keeps out}): what a cluster's
        ingest process tells its web processes whenever the first grows (a job kept out that the
        model never held, after a restart, leaves no removal for them to learn it from: an
        audit). (0, {}) without a screen."""
        if self.screen is None:
            return 0, {}
        return self.screen.kept, {self.name: self.screen.newest_jobs()}

    def learn_kept_out(self, by_lab):
        """A cluster's web process: this lab's jobs of an ingest process's kept_out()."""
        if self.followed_screen is None:
            return
        for job_id in by_lab.get(self.name) or ():
            # (Not one the model holds: LAVA shows its board again, and the list read was older
            # than the change that let it in; a review.)
            if isinstance(job_id, int) and not isinstance(job_id, bool) and job_id not in self.jobs:
                self.followed_screen.keep_out_job(job_id)

    def _screen_restored(self, events):
        """A restored model without what the screen does not let in; returns the feed entries
        it lets in. With no screen saved (a model saved before there was one, or in open mode),
        none of a device or job (default deny)."""
        if not self.screen.known:
            self.devices, self.jobs = {}, {}
            return [e for e in events if isinstance(e, dict)
                    and e.get("job") is None and e.get("device") is None]
        self.devices = {h: d for h, d in self.devices.items() if self.screen.admits_device(h)}
        for job_id, job in list(self.jobs.items()):
            if not self.screen.admits_job(job.get("device"), job.get("device_type")):
                self.screen.keep_out_job(job_id)
                del self.jobs[job_id]
        for device in self.devices.values():
            if device.get("job") is not None and device["job"] not in self.jobs:
                device["job"] = None
        return [e for e in events if isinstance(e, dict) and self._feed_entry_admitted(e)
                and (e.get("job") is None or e["job"] in self.jobs)]

    def _stamp_lab(self):
        """Every object says this model's lab, whatever the dump said (a dump of the unnamed lab
        restored into a named one, say): job_key, the `labs` filter and clients key by it."""
        objects = itertools.chain(self.devices.values(), self.jobs.values(), self.workers.values(),
                                  self.recent_events)
        for obj in objects:
            if self.name:
                obj["lab"] = self.name
            else:
                obj.pop("lab", None)

    def follow(self, changes):
        """Apply changes numbered elsewhere (the ingest process's model; `wire()` form) and return
        them as Changes with `prev` from this copy. They must follow on from this model's seq:
        raises ValueError otherwise, and applies nothing."""
        if changes and changes[0]["seq"] != self.seq + 1:
            raise ValueError(f"changes start at {changes[0]['seq']}, the model is at {self.seq}")
        if any(b["seq"] != a["seq"] + 1 for a, b in zip(changes, changes[1:])):
            raise ValueError("changes are not consecutive")
        tables = {"device": self.devices, "job": self.jobs, "worker": self.workers}
        out = []
        for c in changes:
            kind, ident, data = c["kind"], c["id"], c["data"]
            if kind == "event":
                self.recent_events.append(data)
                prev = None
            else:
                if data is None and c.get("screened") is True:
                    self._drop_feed_of(kind, ident)
                table = tables[kind]
                prev = table.pop(ident, None) if data is None else table.get(ident)
                if kind == "job" and self.followed_screen is not None:
                    if data is None and c.get("screened") is True:
                        self.followed_screen.keep_out_job(ident)
                    elif data is not None and prev is None:  # (LAVA shows its board again)
                        self.followed_screen.let_in_job(ident)
                if data is not None:
                    table[ident] = data
                if kind == "device":
                    old, now = (prev or {}).get("worker"), (data or {}).get("worker")
                    if old != now or data is None:
                        self._unlink(old, ident)
                    if data is not None and now is not None:
                        self._on_worker.setdefault(now, set()).add(ident)
                if kind == "job" and data is None:
                    self._finished.pop(ident, None)
                elif kind == "job" and data.get("state") == "Finished":
                    self._finished[ident] = None
            self.seq = c["seq"]
            out.append(Change(c["seq"], kind, ident, data, prev, c.get("lab", ""),
                              c.get("screened") is True))
        return out

    def _drop_feed_of(self, kind, ident):
        """A followed model's feed entries of a device or job that left for the screen: the model
        followed dropped them (_screen_feed), and a new page's snapshot must not show them."""
        if kind in ("device", "job"):  # (a feed entry names them under the same field)
            self._keep_feed(lambda entry: entry.get(kind) != ident)

    # -- reading ---------------------------------------------------------------------------
    def snapshot(self, matches=None):
        """The whole model (or what `matches(kind, obj)` accepts) with its sequence number."""
        def pick(kind, values):
            return [v for v in values if matches is None or matches(kind, v)]
        return {"seq": self.seq,
                "devices": pick("device", self.devices.values()),
                "jobs": pick("job", self.jobs.values()),
                "workers": pick("worker", self.workers.values()),
                "events": pick("event", self.recent_events)}


# Each kind of event's handler in LabState.apply; every other kind is a feed entry (_apply_generic).
_HANDLERS = {"device": LabState._apply_device, "worker": LabState._apply_worker,
             "testjob": LabState._apply_testjob, CORRECTION_KIND: LabState._apply_correction}


def _shown_differs(prev, new):
    """Whether a job's change alters what a viewer who may not see the job is shown of it."""
    return any(prev.get(f) != new.get(f) for f in SHOWN_OF_A_PRIVATE_JOB if f != "updated")


def _correction_context(data):
    """(job id, the fields a feed entry filters on) of a correction's object."""
    record = data.get("record") if isinstance(data.get("record"), dict) else {}
    kind, ident = data.get("object"), data.get("id")
    if kind == "device":
        return None, {"device": ident if isinstance(ident, str) else None,
                      "device_type": record.get("device_type"), "worker": record.get("worker")}
    if kind == "worker":
        return None, {"worker": ident if isinstance(ident, str) else None}
    if kind == "job":
        return valid_job_id(ident), {k: record.get(k) for k in ("submitter", "device",
                                                               "device_type", "worker")}
    return None, {}


def _synthetic(kind, data, username=""):
    """An Event standing for a REST record (never deduplicated, never published)."""
    return Event(kind=kind, topic="rest", uuid="", time=None, username=username, data=data)
