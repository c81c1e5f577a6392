"""The models of several named labs seen as one (docs/labs.md). Pure.

Each lab keeps its own LabState (its ids are LAVA's, unique within it alone); all of them number
their changes from one shared Sequence, so that the relay sends one numbered stream, and every
object and change says its lab. What reads "the model" of a dashboard of several labs (the relay,
the REST API, /metrics) reads this: lists are all labs' together, lookups take (lab, id).
"""
import itertools


class ByLab:
    """One table (devices, jobs or workers) of every lab, read-only, keyed by (lab, id)."""

    def __init__(self, labs, table):
        self._labs = labs
        self._table = table

    def _tables(self):
        return (getattr(state, self._table) for state in self._labs.values())

    def get(self, key, default=None):
        """The object of (lab, id), or `default`; a bare id (no lab) is never found."""
        if not isinstance(key, tuple) or len(key) != 2 or key[0] not in self._labs:
            return default
        return getattr(self._labs[key[0]], self._table).get(key[1], default)

    def __getitem__(self, key):
        found = self.get(key, self)
        if found is self:
            raise KeyError(key)
        return found

    def __contains__(self, key):
        return self.get(key, self) is not self

    def values(self):
        return itertools.chain.from_iterable(t.values() for t in self._tables())

    def items(self):
        return (((state.name, k), v) for state in self._labs.values()
                for k, v in getattr(state, self._table).items())

    def __len__(self):
        return sum(len(t) for t in self._tables())

    def of_lab(self, lab):
        """The objects of one lab alone, in its table's order (reversible); none for a lab not
        in the set."""
        state = self._labs.get(lab)
        return getattr(state, self._table).values() if state is not None else ()

    def __iter__(self):
        return (k for k, _ in self.items())


class LabSet:
    """Several labs' LabStates, sharing one Sequence; `labs` maps each name to its LabState."""

    def __init__(self, states):
        names = [s.name for s in states]
        if not states or "" in names or len(set(names)) != len(names):
            raise ValueError("a LabSet needs labs with distinct, non-empty names")
        sequences = {id(s._sequence) for s in states}
        if len(sequences) != 1:
            raise ValueError("the labs of a LabSet must share one Sequence")
        self.labs = {s.name: s for s in states}
        self._sequence = states[0]._sequence
        self._sequence.shared = True
        self.devices = ByLab(self.labs, "devices")
        self.jobs = ByLab(self.labs, "jobs")
        self.workers = ByLab(self.labs, "workers")

    @property
    def seq(self):
        return self._sequence.value

    @property
    def recent_events(self):
        """Every lab's recent feed entries, oldest first."""
        return sorted(itertools.chain.from_iterable(s.recent_events for s in self.labs.values()),
                      key=lambda e: e.get("time") or "")

    @property
    def duplicates(self):
        return sum(s.duplicates for s in self.labs.values())

    @property
    def over_limit(self):
        return sum(s.over_limit for s in self.labs.values())

    def devices_of(self, key):
        """A worker's devices, sorted: `key` is (lab, worker hostname)."""
        lab, hostname = key
        return self.labs[lab].devices_of(hostname) if lab in self.labs else []

    def with_devices(self, worker):
        """A worker record as REST sends it, with its sorted devices (of its own lab)."""
        if worker is None:
            return None
        return self.labs[worker["lab"]].with_devices(worker)

    def dump(self):
        """Every lab's model (LabState.dump) and the shared seq: what an ingest process publishes."""
        return {"seq": self.seq, "labs": {name: state.dump() for name, state in self.labs.items()}}

    def restore(self, body):
        """Start from a dump() (a web process following the ingest process): every lab's model is
        replaced, and the seq is the dump's, whatever it was before (a new epoch may be lower).
        A lab the dump does not have (configured since) starts empty."""
        for name, state in self.labs.items():
            part = body["labs"].get(name) or {"seq": 0, "devices": [], "jobs": [], "workers": [],
                                              "finished": [], "recent_events": []}
            state.restore(part)
        self._sequence.value = body["seq"]

    def kept_out_version(self):
        return sum(state.kept_out_version() for state in self.labs.values())

    def kept_out(self):
        """Every lab's LabState.kept_out(), together."""
        version, jobs = 0, {}
        for state in self.labs.values():
            mine, theirs = state.kept_out()
            version += mine
            jobs.update(theirs)
        return version, jobs

    def learn_kept_out(self, by_lab):
        for state in self.labs.values():
            state.learn_kept_out(by_lab)

    def follow(self, changes):
        """Apply changes numbered by the ingest process (wire form, each with its `lab`), each to
        its lab's model; they must follow on from the seq (ValueError otherwise, nothing applied).
        A change of a lab this process does not know is refused the same way."""
        if changes and changes[0]["seq"] != self.seq + 1:
            raise ValueError(f"changes start at {changes[0]['seq']}, the model is at {self.seq}")
        if any(b["seq"] != a["seq"] + 1 for a, b in zip(changes, changes[1:])):
            raise ValueError("changes are not consecutive")
        unknown = {c.get("lab") for c in changes} - set(self.labs)
        if unknown:
            raise ValueError(f"changes of a lab not configured here: {sorted(map(str, unknown))[0]}")
        out = []
        for change in changes:
            out += self.labs[change["lab"]].follow([change])
        return out

    def snapshot(self, matches=None):
        """Every lab's objects (each with its `lab`) and the shared seq, as LabState.snapshot()."""
        out = {"seq": self.seq, "devices": [], "jobs": [], "workers": [], "events": []}
        for state in self.labs.values():
            part = state.snapshot(matches)
            for name in ("devices", "jobs", "workers"):
                out[name] += part[name]
        out["events"] = [e for e in self.recent_events if matches is None or matches("event", e)]
        return out
