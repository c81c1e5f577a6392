"""How long the relay waits between two batches during a stream: adaptive batching. Pure.

A fixed interval makes every change of a stream wait up to the whole interval, even when sending
costs next to nothing. This policy keeps the gap as short as `floor` while the process is idle
enough, and lengthens it, up to `ceiling`, as the process gets busy: more changes per batch, fewer
batches, so the cost of sending (one frame per client per batch) stops growing with the rate.

The measure is the share of one core the process used (CPU seconds / wall seconds) over windows of
at least `window` seconds. Above `target`, the gap grows in proportion (at most doubled per
window); below it, it shrinks (at most halved). A change never waits longer than `ceiling`.
"""


class AdaptiveInterval:
    """The gap between two batches, adapted to the process's CPU share."""

    def __init__(self, floor=0.005, ceiling=0.1, target=0.3, window=0.25):
        if not 0 < floor <= ceiling:
            raise ValueError("floor must be > 0 and <= ceiling")
        self.floor = floor
        self.ceiling = ceiling
        self.target = target
        self.window = window
        self.value = floor
        self._cpu = 0.0
        self._wall = 0.0

    def observe(self, cpu_s, wall_s):
        """The process used `cpu_s` CPU seconds over `wall_s` seconds since the last call; returns
        the gap to keep from now on."""
        self._cpu += max(0.0, cpu_s)
        self._wall += max(0.0, wall_s)
        if self._wall < self.window:
            return self.value
        share = self._cpu / self._wall
        self._cpu = self._wall = 0.0
        factor = min(2.0, max(0.5, share / self.target))
        self.value = min(self.ceiling, max(self.floor, self.value * factor))
        return self.value
