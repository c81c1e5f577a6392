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
"""


class AdaptiveInterval:
    """The least gap between two batches, from the cost of recent flushes and a CPU budget."""

    def __init__(self, floor=0.01, ceiling=0.1, budget=0.25, weight=0.25):
        if not 0 < floor <= ceiling:
            raise ValueError("floor must be > 0 and <= ceiling")
        if not 0 < budget <= 1:
            raise ValueError("budget must be > 0 and <= 1 (a share of one core)")
        if not 0 < weight <= 1:
            raise ValueError("weight must be > 0 and <= 1")
        self.floor = floor
        self.ceiling = ceiling
        self.budget = budget
        self.weight = weight
        self.cost = 0.0  # moving average of a flush's CPU seconds
        self.value = floor

    def observe(self, cost_s):
        """A flush just cost `cost_s` CPU seconds; returns the gap to keep before the next one."""
        cost_s = max(0.0, cost_s)
        self.cost += self.weight * (cost_s - self.cost)
        self.value = min(self.ceiling, max(self.floor, self.cost / self.budget))
        return self.value

    def delay(self, last_flush, now):
        """Seconds to wait before sending what is pending now (0: send at once)."""
        return max(0.0, min(self.ceiling, last_flush + self.value - now))
