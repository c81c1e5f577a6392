"""A stream's rate: a moving estimate of events a second over about `smoothing` seconds (an
exponential kernel). Pure: fed counts and times, no I/O.

Each call to add() counts what came at that time, and the estimate decays with the time since the
last call, so that after a quiet spell the next stream starts from (nearly) nothing. Used by the ZMQ
reader's wait for more of a stream (core/gather.py) and by the relay's gap between batches
(core/batching.py)."""
import math

SMOOTHING = 0.25  # seconds: the estimate's time constant


class StreamRate:
    """Events a second, as of the last add()."""

    def __init__(self, smoothing=SMOOTHING):
        if not smoothing > 0:
            raise ValueError("smoothing must be > 0")
        self.smoothing = smoothing
        self.rate = 0.0
        self._last = None  # when events were last added

    def add(self, count, now):
        """`count` events came at `now` (seconds, monotonic)."""
        if self._last is None:
            self._last = now
            return
        elapsed = now - self._last
        if elapsed <= 0:  # the same instant (or a clock that stepped back): count them then
            self.rate += count / self.smoothing
            return
        self._last = now
        # The exponential kernel: what was seen decays by exp(-elapsed/smoothing), and the new
        # events count as count/elapsed over that elapsed time (for a short elapsed time, about
        # count/smoothing).
        weight = -math.expm1(-elapsed / self.smoothing)
        self.rate += weight * (count / elapsed - self.rate)

    def at(self, now):
        """The estimate as of `now`: decayed since the last add(), as the next add() would decay
        it (a stream that stopped is not shown as running)."""
        if self._last is None or now <= self._last:
            return self.rate
        return self.rate * math.exp(-(now - self._last) / self.smoothing)
