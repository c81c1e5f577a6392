"""The meta: what every client is told about this dashboard besides the model (simulated or not, the
LAVA server's URL and status, the cluster's status, the epoch). One owner, one way to change it."""


class Meta:
    """Holds the meta and tells its listeners (the relay's clients, or the Redis publisher's) what
    changed. Only `update` writes it."""

    def __init__(self, **initial):
        self._data = dict(initial)
        self._listeners = []

    def listen(self, callback):
        """callback(changed) after every update that changed something and is to be told."""
        self._listeners.append(callback)

    def update(self, values, notify=True):
        """Merge `values`; tell the listeners what changed (unless notify is False: the epoch, and
        what a snapshot carries anyway). Returns the changed part."""
        changed = {k: v for k, v in values.items() if k not in self._data or self._data[k] != v}
        self._data.update(values)
        if changed and notify:
            for callback in self._listeners:
                callback(changed)
        return changed

    def get(self, key, default=None):
        return self._data.get(key, default)

    def __getitem__(self, key):
        return self._data[key]

    def as_dict(self):
        """A copy, for a snapshot, a heartbeat or a status message."""
        return dict(self._data)


class LabMeta:
    """One named lab's part of the meta (docs/labs.md): what its reconciler says of LAVA (`lava`)
    goes into its entry of the meta's `labs` list, and every client is told as for the meta."""

    def __init__(self, meta, name):
        self.meta = meta
        self.name = name

    def _entry(self):
        return next((lab for lab in self.meta.get("labs") or () if lab["name"] == self.name), {})

    def update(self, values, notify=True):
        """Merge `values` into this lab's entry; returns the changed part of the meta."""
        labs = [dict(lab, **values) if lab["name"] == self.name else lab
                for lab in self.meta.get("labs") or ()]
        return self.meta.update({"labs": labs}, notify)

    def get(self, key, default=None):
        return self._entry().get(key, default)

    def __getitem__(self, key):
        return self._entry()[key]
