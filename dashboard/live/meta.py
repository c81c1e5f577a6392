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
