"""A simulated LAVA lab, the simulator's pure core: a discrete-event simulation on a virtual clock.

One `random.Random` drives it (same seed, same messages); no sockets, no real clock, no globals.
Each `Message` has the fields, enumerations and ordering of a real lava-server (see
shared/lava-events.md and the fixtures' events.jsonl); `dashboard.sources.simulator` publishes them.
"""
import collections
import dataclasses
import datetime as dt
import heapq

from dashboard.sources.simulator.catalog import (DEVICE_TYPES, HEALTH_CHECKER, apportion, job_text,
                                  shell_event_texts)

Message = collections.namedtuple("Message", "time suffix username data")

UTC = dt.timezone.utc
DEFAULT_START = dt.datetime(2024, 1, 1, tzinfo=UTC)

SCHEDULER_PERIOD = 20.0  # lava-scheduler also wakes up every 20 s, not only on submissions
LOAD = 0.8  # submissions as a share of what the devices can run: busy, with a short queue
BACKLOG = 0.6  # jobs per device submitted in the first 30 s, like a nightly CI batch landing
ADMIN_MEAN = 180.0  # mean seconds between admin actions (maintenance, looping, recheck)
ADMIN_BACK_AFTER = {"Maintenance": (180, 600), "Looping": (240, 600)}  # seconds until undone
OUTAGE_FIRST = (600.0, 1500.0)
OUTAGE_MIN, OUTAGE_MEAN = 1200.0, 1500.0


@dataclasses.dataclass
class SimDevice:
    """One device of the simulated lab."""

    hostname: str
    device_type: str
    worker: str
    health: str = "Good"
    state: str = "Idle"
    job: int = None
    jobs_since_check: int = 0
    check_every: int = 10  # LAVA's health_frequency, in jobs
    generation: int = 0  # bumped on every health change so that stale admin timers do nothing


@dataclasses.dataclass
class SimWorker:
    """One worker of the simulated lab."""

    hostname: str
    state: str = "Online"
    health: str = "Active"


@dataclasses.dataclass
class SimJob:
    """One job that is not Finished yet (finished jobs are dropped at once)."""

    id: int
    description: str
    suite: str
    submitter: str
    priority: int
    device_type: str
    health_check: bool
    submit_time: str
    outcome: str  # Complete, Incomplete, Canceled (while running) or Dequeued (canceled queued)
    state: str = "Submitted"
    health: str = "Unknown"
    device: str = None
    worker: str = None
    start_time: str = None
    end_time: str = None


class SimLab:
    """A lab of devices, workers and jobs moving through LAVA's states on a virtual clock."""

    MAX_PACE = 1000.0

    def __init__(self, rng, n_devices=50, n_workers=4, start=DEFAULT_START, pace=1.0):
        """`pace`: the lab lives this many times faster while its clock stays a clock: every
        delay (a boot, a job's run, the gaps between submissions, admin actions and outages) is
        divided by it, so that a busy demo's events still carry the time they are sent at. (A
        clock that ran `pace` times faster put its events a day ahead after 24/(pace-1) hours,
        and the dashboard refuses those.)"""
        if n_devices < 1 or n_workers < 1:
            raise ValueError("a lab needs at least one device and one worker")
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime")
        if not 0 < pace <= self.MAX_PACE:  # (also refuses NaN)
            raise ValueError(f"pace must be above 0 and at most {self.MAX_PACE:g}")
        self._pace = float(pace)
        self._rng = rng
        self._start = start.astimezone(UTC)
        self._t = 0.0  # virtual seconds since start
        self._timers = []  # heap of (t, seq, handler name, args); seq keeps ties deterministic
        self._seq = 0
        self._out = []
        self.workers = {f"lab-worker-{i:02d}": SimWorker(f"lab-worker-{i:02d}")
                        for i in range(1, n_workers + 1)}
        self.devices = {}
        self.jobs = {}  # id → SimJob, only jobs not Finished: bounded by devices + queue cap
        self._queues = {}  # device type → heap of (-priority, id) of Submitted jobs
        self._max_queued = 3 * n_devices + 20
        self._next_id = rng.randrange(10_000, 90_000)
        self._build_devices(n_devices)
        self._after(rng.expovariate(self._submit_rate), "_on_submit")
        for _ in range(int(BACKLOG * n_devices)):  # so that a demo does not open on an idle lab
            self._after(rng.uniform(1, 30), "_submit_one")
        self._after(rng.uniform(0, SCHEDULER_PERIOD), "_on_scheduler")
        self._after(rng.expovariate(1 / ADMIN_MEAN), "_on_admin")
        self._after(rng.uniform(*OUTAGE_FIRST), "_on_outage")

    # -- public -----------------------------------------------------------------------------
    @property
    def now(self):
        """The current virtual time (aware UTC datetime)."""
        return self._start + dt.timedelta(seconds=self._t)

    def roll_call(self):
        """Every worker's then every device's current state, so a late subscriber learns the lab."""
        self._out = []
        for worker in self.workers.values():
            self._send_worker(worker)
        for device in self.devices.values():
            self._send_device(device, device.job)
        out, self._out = self._out, []
        return out

    def advance(self, until):
        """Run the simulation up to virtual time `until`; return the messages in time order."""
        limit = (until - self._start).total_seconds()
        self._out = []
        while self._timers and self._timers[0][0] <= limit:
            t, _, name, args = heapq.heappop(self._timers)
            self._t = max(self._t, t)
            getattr(self, name)(*args)
        self._t = max(self._t, limit)
        out, self._out = self._out, []
        return out

    # -- building ---------------------------------------------------------------------------
    def _build_devices(self, n_devices):
        counts = apportion(n_devices, {name: t.share for name, t in DEVICE_TYPES.items()})
        names = [(name, f"{DEVICE_TYPES[name].prefix}-{i:02d}")
                 for name, count in counts.items() for i in range(1, count + 1)]
        workers = list(self.workers)
        for index, (device_type, hostname) in enumerate(names):
            # Contiguous chunks: a real worker hosts a rack of mostly one or two kinds of board.
            worker = workers[index * len(workers) // len(names)]
            health = "Unknown" if self._rng.random() < 0.1 else "Good"
            self.devices[hostname] = SimDevice(hostname, device_type, worker, health,
                                               check_every=self._rng.randint(6, 15))
        self._by_type = {name: [d for d in self.devices.values() if d.device_type == name]
                         for name, count in counts.items() if count}
        self._queues = {name: [] for name in self._by_type}
        self._type_rates = {}  # jobs per second each type absorbs, so slow boards are not flooded
        for name, devices in self._by_type.items():
            kind = DEVICE_TYPES[name]
            seconds_per_job = (sum(kind.boot) + sum(kind.run) + SCHEDULER_PERIOD) / 2  # means
            self._type_rates[name] = LOAD * len(devices) / seconds_per_job
        self._admin_sets(self._rng.choice(list(self.devices.values())), "Maintenance",
                         back_after=(600, 1800))

    @property
    def _submit_rate(self):
        return sum(self._type_rates.values())

    # -- plumbing ---------------------------------------------------------------------------
    def _after(self, delay, name, *args):
        """Run handler `name` `delay` seconds of the lab's life from now (divided by its pace)."""
        self._seq += 1
        heapq.heappush(self._timers, (self._t + max(delay, 0.001) / self._pace, self._seq, name, args))

    def _iso(self):
        return self.now.isoformat(timespec="microseconds")

    def _emit(self, suffix, username, data):
        self._out.append(Message(self.now, suffix, username, data))

    def _send_worker(self, worker):
        self._emit("worker", "lavaserver",
                   {"hostname": worker.hostname, "health": worker.health, "state": worker.state})

    def _send_device(self, device, job=None):
        """`job` is named only where LAVA names it: Running, and the Idle right after a job."""
        data = {"health": device.health, "state": device.state, "device": device.hostname,
                "device_type": device.device_type, "worker": device.worker}
        if job is not None:
            data["job"] = job
        self._emit("device", "lavaserver", data)

    def _send_job(self, job):
        data = {"health": job.health, "state": job.state, "job": job.id,
                "description": job.description, "priority": job.priority,
                "submit_time": job.submit_time, "submitter": job.submitter,
                "health_check": job.health_check}
        if job.device is not None:
            data["device"] = job.device
            data["worker"] = job.worker
        data["device_type"] = job.device_type
        for field in ("start_time", "end_time"):
            if getattr(job, field) is not None:
                data[field] = getattr(job, field)
        self._emit("testjob", job.submitter, data)

    def _send_event(self, job, message):
        self._emit("event", "lavaserver", {"message": message, "job": job.id})

    def _set_health(self, device, health):
        device.health = health
        device.generation += 1
        if health == "Bad":  # an admin looks at broken boards sooner or later
            self._after(self._rng.uniform(240, 900), "_on_admin_change", device.hostname,
                        device.generation, "Bad", "Unknown")

    # -- jobs -------------------------------------------------------------------------------
    def _on_submit(self):
        self._after(self._rng.expovariate(self._submit_rate), "_on_submit")
        self._submit_one()

    def _submit_one(self):
        if sum(len(q) for q in self._queues.values()) >= self._max_queued:
            return  # submitters back off when the queue is long; keeps memory bounded
        device_type = self._rng.choices(list(self._type_rates),
                                        list(self._type_rates.values()))[0]
        job = self._new_job(device_type, health_check=False)
        heapq.heappush(self._queues[device_type], (-job.priority, job.id))
        if job.outcome == "Dequeued":
            self._after(self._rng.uniform(5, 90), "_on_cancel", job.id)
        self._schedule()

    def _new_job(self, device_type, health_check):
        rng = self._rng
        if health_check:
            submitter, priority = HEALTH_CHECKER, 100
            description, suite = f"{device_type} health-check", "health-check"
            outcome = rng.choices(("Complete", "Incomplete"), (88, 12))[0]
        else:
            submitter, priority, description, suite = job_text(rng, device_type)
            outcome = rng.choices(("Complete", "Incomplete", "Canceled", "Dequeued"),
                                  (80, 15, 3, 2))[0]
        job = SimJob(self._next_id, description, suite, submitter, priority, device_type,
                     health_check, self._iso(), outcome)
        self._next_id += 1
        self.jobs[job.id] = job
        self._send_job(job)
        return job

    def _on_scheduler(self):
        self._after(SCHEDULER_PERIOD, "_on_scheduler")
        self._schedule()

    def _schedule(self):
        """Health checks first (as lava-scheduler does), then queued jobs by priority."""
        for device in self.devices.values():
            if self._can_run(device) and self._needs_check(device):
                self._assign(self._new_job(device.device_type, health_check=True), device)
        for device_type, queue in self._queues.items():
            idle = [d for d in self._by_type[device_type]
                    if self._can_run(d) and d.health in ("Good", "Unknown")]
            while queue and idle:
                _, job_id = heapq.heappop(queue)
                self._assign(self.jobs[job_id], idle.pop(self._rng.randrange(len(idle))))

    def _can_run(self, device):
        worker = self.workers[device.worker]
        return (device.state == "Idle" and device.health in ("Good", "Unknown", "Looping")
                and worker.state == "Online" and worker.health == "Active")

    @staticmethod
    def _needs_check(device):
        return device.health in ("Unknown", "Looping") or (
            device.health == "Good" and device.jobs_since_check >= device.check_every)

    def _assign(self, job, device):
        device.state, device.job = "Reserved", job.id
        job.state, job.device, job.worker = "Scheduled", device.hostname, device.worker
        self._send_device(device)  # LAVA names no job on the Reserved event
        self._send_job(job)
        self._after(self._rng.uniform(*DEVICE_TYPES[job.device_type].boot), "_on_start", job.id)

    def _on_start(self, job_id):
        job = self.jobs.get(job_id)
        if job is None or job.state != "Scheduled":
            return
        device = self.devices[job.device]
        device.state = job.state = "Running"
        job.start_time = self._iso()
        self._send_device(device, job.id)
        self._send_job(job)
        self._send_event(job, f"started on {device.hostname}")
        self._plan_run(job)

    def _plan_run(self, job):
        rng = self._rng
        kind = DEVICE_TYPES[job.device_type]
        duration = rng.uniform(*(kind.check if job.health_check else kind.run))
        if job.outcome == "Incomplete":
            duration *= rng.uniform(0.2, 0.9)  # failures tend to come early
        if job.outcome == "Canceled":
            duration *= rng.uniform(0.2, 0.7)
            self._after(duration, "_on_cancel", job.id)
        else:
            health = "Incomplete" if job.outcome == "Incomplete" else "Complete"
            self._after(duration, "_on_finish", job.id, health, "Running")
        messages = shell_event_texts(rng, job.suite, rng.randint(2, 4),
                                    failed=job.outcome == "Incomplete")
        for when, message in zip(sorted(rng.uniform(0.05, 0.95) * duration
                                        for _ in messages), messages):
            self._after(when, "_on_test_event", job.id, message)

    def _on_test_event(self, job_id, message):
        job = self.jobs.get(job_id)
        if job is not None and job.state == "Running":
            self._send_event(job, message)

    def _on_cancel(self, job_id):
        job = self.jobs.get(job_id)
        if job is None:
            return
        if job.state == "Submitted":
            queue = self._queues[job.device_type]
            queue.remove((-job.priority, job.id))
            heapq.heapify(queue)
            self._end_job(job, "Canceled")
        elif job.state == "Running":
            job.state = "Canceling"
            self._send_job(job)
            self._after(self._rng.uniform(2, 10), "_on_finish", job.id, "Canceled", "Canceling")

    def _on_finish(self, job_id, health, expected_state):
        job = self.jobs.get(job_id)
        if job is not None and job.state == expected_state:
            infrastructure = health == "Incomplete" and self._rng.random() < 0.25
            self._end_job(job, health, infrastructure)

    def _end_job(self, job, health, infrastructure=False):
        now = self._iso()
        job.state, job.health, job.end_time = "Finished", health, now
        if job.start_time is None:  # never ran: LAVA sets start_time == end_time
            job.start_time = now
        del self.jobs[job.id]
        if job.device is not None:
            device = self.devices[job.device]
            device.state, device.job = "Idle", None
            self._health_after_job(device, job, infrastructure)
            self._send_device(device, job.id)  # LAVA still names the job on this Idle event
        self._send_job(job)

    def _health_after_job(self, device, job, infrastructure):
        if not job.health_check:
            device.jobs_since_check += 1
            if infrastructure and device.health == "Good":
                self._set_health(device, "Unknown")
            return
        device.jobs_since_check = 0
        if device.health == "Looping":
            return  # a looping device keeps running health checks whatever their result
        if job.health == "Complete":
            self._set_health(device, "Good")
        elif job.health == "Incomplete":
            self._set_health(device, "Bad")

    # -- admins -----------------------------------------------------------------------------
    def _on_admin(self):
        self._after(self._rng.expovariate(1 / ADMIN_MEAN), "_on_admin")
        action = self._rng.choices(("Maintenance", "Looping", "Unknown"), (45, 20, 35))[0]
        wanted = ("Good", "Unknown") if action == "Maintenance" else ("Good",)
        candidates = [d for d in self.devices.values()
                      if d.state == "Idle" and d.health in wanted]
        if not candidates:
            return
        device = self._rng.choice(candidates)
        self._admin_sets(device, action, ADMIN_BACK_AFTER.get(action))
        self._send_device(device)

    def _admin_sets(self, device, health, back_after=None):
        self._set_health(device, health)
        if back_after:  # back from Maintenance usually through a health check, from Looping Good
            back = "Unknown" if health == "Maintenance" and self._rng.random() < 0.8 else "Good"
            self._after(self._rng.uniform(*back_after), "_on_admin_change", device.hostname,
                        device.generation, health, back)

    def _on_admin_change(self, hostname, generation, expected, health):
        device = self.devices[hostname]
        if device.generation == generation and device.health == expected:
            self._set_health(device, health)
            self._send_device(device, device.job if device.state == "Running" else None)

    # -- worker outages ---------------------------------------------------------------------
    def _on_outage(self):
        self._after(OUTAGE_MIN + self._rng.expovariate(1 / OUTAGE_MEAN), "_on_outage")
        healthy = [w for w in self.workers.values() if (w.state, w.health) == ("Online", "Active")]
        if len(healthy) < len(self.workers):
            return  # one outage at a time
        worker = self._rng.choice(healthy)
        worker.state = "Offline"
        self._send_worker(worker)
        for job in [j for j in self.jobs.values() if j.worker == worker.hostname]:
            self._end_job(job, "Incomplete")
        # An admin notices and sets Maintenance; the worker comes back, then is set Active.
        online = self._rng.uniform(60, 120)
        self._after(self._rng.uniform(5, 20), "_on_worker", worker.hostname, "Offline",
                    "Maintenance")
        self._after(online, "_on_worker", worker.hostname, "Online", "Maintenance")
        self._after(online + self._rng.uniform(15, 45), "_on_worker", worker.hostname, "Online",
                    "Active")

    def _on_worker(self, hostname, state, health):
        """As in LAVA, setting a worker Active first moves each of its Good devices to Unknown."""
        worker = self.workers[hostname]
        if health == "Active" and worker.health != "Active":
            for device in self.devices.values():
                if device.worker == hostname and device.health == "Good":
                    self._set_health(device, "Unknown")
                    self._send_device(device, device.job if device.state == "Running" else None)
        worker.state, worker.health = state, health
        self._send_worker(worker)

