"""When the relay sends its next batch: adaptive batching under a CPU budget. Pure.

A fixed interval makes every change of a stream wait up to the whole interval, even when sending
costs next to nothing. This policy sends at once while sending is cheap, and batches only as the
cost of sending grows.

The relay tells it what each flush cost (CPU seconds of the thread that sends: encoding the batch,
every client's frame written, and whatever else ran in that turn of the loop, so that a busy process
batches more). The gap kept between two batches is the recent cost of a flush divided by `budget`,
the share of one core that sending may use: a flush of 2 ms under a budget of 0.25 is followed by
at least 8 ms without one, so sending keeps to about a quarter of a core.
The gap is kept between `floor` and `ceiling`; a change never waits longer than `ceiling` for its
batch. A change that comes after a quiet spell longer than the gap goes out at once.

The cost is a moving average of the last flushes (weight `weight` for the newest), so that one slow
flush (a garbage collection, a busy machine) lengthens the gap only a little, and a run of them
lengthens it quickly.

The gap also grows with the stream: above `knee` changes a second, it is at least the floor times
the rate over the knee, up to STREAM_MOST (or the ceiling, if lower). A flush's cost is mostly one
frame written to each client, whatever the batch holds, so its cost cannot tell a stream of 250
changes a second from one of 1,000, and at the floor they were sent 94 and 76 times a second: at
1,000 changes a second the relay's CPU was up to twice that of the fixed 0.1 s interval
(docs/performance.md, "The gap grows with the stream"). With the defaults (floor 10 ms, knee 300)
the gap is the floor up to 300 changes a second, 33 ms at 1,000 and 40 ms from 1,200: a change of a
fast stream waits longer, and each batch (and each page's render of it) carries more. A change
after a quiet spell longer than the gap still goes out at once (the stream's term is at most 40
ms); the rate is a moving estimate (core/streamrate.py) over about `smoothing` seconds, so the
changes after it are sent at the floor again. A large push at once (a reconciliation's
corrections) counts as a stream too, for the next second or so.
"""
from dashboard.core.streamrate import SMOOTHING, StreamRate

# (config.py's --batch-knee default and help text repeat these: tests/unit/test_config.py)
KNEE = 300.0  # changes a second: a stream up to this rate is sent at the floor (or its cost's gap)
STREAM_MOST = 0.04  # seconds: the longest gap the stream's rate alone asks for


class AdaptiveInterval:
    """The least gap between two batches, from the cost of recent flushes and a CPU budget."""

    def __init__(self, floor=0.01, ceiling=0.1, budget=0.25, weight=0.25, knee=KNEE,
                 smoothing=SMOOTHING):
        if not 0 < floor <= ceiling:
            raise ValueError("floor must be > 0 and <= ceiling")
        if not 0 < budget <= 1:
            raise ValueError("budget must be > 0 and <= 1 (a share of one core)")
        if not 0 < weight <= 1:
            raise ValueError("weight must be > 0 and <= 1")
        if not knee >= 0:  # (also refuses NaN)
            raise ValueError("knee must be >= 0 (0: the gap never grows with the stream's rate)")
        self.floor = floor
        self.ceiling = ceiling
        self.budget = budget
        self.weight = weight
        self.knee = knee
        self.stream = StreamRate(smoothing)  # changes a second, the moving estimate
        self.cost = 0.0  # moving average of a flush's CPU seconds
        self.value = floor

    def pushed(self, count, now):
        """`count` changes came at `now` (seconds, the relay's monotonic clock); returns the gap."""
        self.stream.add(count, now)
        self._update()
        return self.value

    def observe(self, cost_s):
        """A flush just cost `cost_s` CPU seconds; returns the gap to keep before the next one."""
        cost_s = max(0.0, cost_s)
        self.cost += self.weight * (cost_s - self.cost)
        self._update()
        return self.value

    def stream_gap(self, rate):
        """The gap a stream of `rate` changes a second asks for (0: none beyond the floor)."""
        if not self.knee or rate <= self.knee:
            return 0.0
        return min(STREAM_MOST, self.floor * rate / self.knee)

    def _update(self):
        self.value = self._gap(self.stream.rate)

    def _gap(self, rate):
        return min(self.ceiling, max(self.floor, self.cost / self.budget, self.stream_gap(rate)))

    def gap_at(self, now):
        """The gap as of `now` (for /healthz): with the stream's rate decayed since the last change,
        as the next change will find it (a stream that stopped no longer lengthens it; the cost's
        part stays as the last batches left it)."""
        return self._gap(self.stream.at(now))

    def delay(self, last_flush, now):
        """Seconds to wait before sending what is pending now (0: send at once)."""
        return max(0.0, min(self.ceiling, last_flush + self.value - now))
