"""How long the ZMQ reader waits for more of a stream before it wakes the loop. Pure: fed counts and
times, no I/O.

Each wake-up of the loop costs the same whatever it brings (the hub's switch, the hand-off, one push
through the relay, the alert rules and the other observers): waiting for more of a stream spreads
that cost over more events, and makes each of them wait that much longer. At a lab's usual rates the
latency matters more, so the wait is the floor (--zmq-gather). As the stream gets faster the relay
batches anyway (its gaps grow to --batch-floor and beyond), the cost of a wake-up per event adds up,
and the wait grows in proportion to the stream's rate, from the floor at KNEE events/s or less up to
the ceiling (--zmq-gather-max): with the defaults, 2 ms up to 125 events/s, 4 ms at 250, 8 ms at
500, 16 ms at 1,000 and 40 ms from 2,500. Fewer wake-ups also mean fewer batches: the relay sends
what a wake-up brought, so at those rates its batches follow the wait. (The page asks for at most
20 messages a second, max_rate: 50 ms apart, longer than the longest wait.)

The rate is a moving estimate over about `smoothing` seconds (an exponential kernel): each hand-over
adds its messages, and the estimate decays with the time between hand-overs, so that after a quiet
spell the next stream starts from the floor.
"""
from dashboard.core.streamrate import SMOOTHING, StreamRate

KNEE = 125.0  # events/s: a stream up to this rate waits the floor


class Gather:
    """The reader's wait for more of a stream: `floor` seconds, growing with the stream's rate up
    to `ceiling`."""

    def __init__(self, floor, ceiling=None, knee=KNEE, smoothing=SMOOTHING):
        ceiling = floor if ceiling is None else ceiling
        if not 0 <= floor <= ceiling:
            raise ValueError("floor must be >= 0 and <= ceiling")
        if not knee > 0:
            raise ValueError("knee must be > 0")
        self.floor = floor
        self.ceiling = ceiling
        self.knee = knee
        self.stream = StreamRate(smoothing)  # messages/s, the moving estimate (refuses a smoothing <= 0)

    @property
    def rate(self):
        """The estimate as of the last hand-over (events/s)."""
        return self.stream.rate

    def handed(self, count, now):
        """`count` messages were handed over at `now` (seconds, monotonic)."""
        self.stream.add(count, now)

    def wait(self, rate=None):
        """Seconds to wait for more of a stream before the loop is woken (at `rate`, by default
        the estimate as of the last hand-over)."""
        rate = self.rate if rate is None else rate
        if rate <= self.knee:
            return self.floor
        return min(self.ceiling, self.floor * rate / self.knee)

    def rate_at(self, now):
        """The estimate as of `now`: decayed since the last hand-over, as the next hand-over would
        decay it (for /healthz: a stream that stopped is not shown as running)."""
        return self.stream.at(now)
