"""Delays between retries: 1, 2, 4 … up to a ceiling, with jitter. Pure: the randomness is passed in
(by default a generator of its own, JITTER).

Used by every loop that retries (the REST reconciler, event-socket discovery, Redis, the ZMQ source),
which is why it lives in core/: sources and live can both import it.
"""
import os
import random

# The jitter's own generator: the random module's shared one is what tests and libraries seed and
# draw from (Hypothesis warns when another thread draws while it generates), and a retry loop in a
# thread of its own must neither steer nor be steered by them.
# Seeded again in a forked child, as the random module's own is: two processes forked from one
# would otherwise draw the same jitter, and retry in step.
_GENERATOR = random.Random()
JITTER = _GENERATOR.random
os.register_at_fork(after_in_child=_GENERATOR.seed)


class Backoff:
    """first, 2×first, 4×first … up to `ceiling` seconds, times a jitter in [0.8, 1.2) from `rng`
    so that many dashboards do not retry in step."""

    def __init__(self, first=1.0, ceiling=60.0, rng=JITTER):
        self.first, self.ceiling, self.rng = first, ceiling, rng
        self.attempt = 0

    def next(self):
        """The delay before the next attempt."""
        delay = min(self.ceiling, self.first * 2 ** self.attempt)
        self.attempt = min(self.attempt + 1, 64)  # 2**attempt stays a float that min() can compare
        return delay * (0.8 + 0.4 * self.rng())

    def reset(self):
        """The last attempt succeeded: start again from `first`."""
        self.attempt = 0
