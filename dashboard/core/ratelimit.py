"""Say a thing at most once per interval per key, and how often it was held back. Pure: the clock
is passed in; the caller does the saying (a log line)."""
import collections


class RateLimiter:
    """allow(key) is true at most once every `interval` seconds per key."""

    def __init__(self, interval, clock):
        self.interval = interval
        self.clock = clock
        self._last = {}
        self._suppressed = collections.Counter()

    def allow(self, key):
        """(whether to speak now, how many were held back since the last time it spoke)."""
        now = self.clock()
        if now - self._last.get(key, float("-inf")) < self.interval:
            self._suppressed[key] += 1
            return False, 0
        self._last[key] = now
        return True, self._suppressed.pop(key, 0)
