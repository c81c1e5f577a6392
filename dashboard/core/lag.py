"""How far behind its publisher a source runs (pure).

lava-publisher's PUB socket drops, silently, what a subscriber that fell behind its high-water mark
cannot take: nothing numbers the messages, so no gap can be seen. What can be seen is lateness: each
message carries the time it was published. Its lag (arrival minus that time) includes the two clocks'
offset and the network's floor; the smallest lag of the last `window` seconds estimates those, and
what a message's lag exceeds it by is how far behind the reader runs. Past `threshold` seconds a
"behind" episode starts: the reader was slow enough that the publisher may have dropped messages for
it (a suspected loss), and the model should be checked against LAVA's REST API at once.
"""
import collections

THRESHOLD = 5.0  # seconds behind that count as a suspected loss
WINDOW = 600.0  # seconds over which the smallest lag is the baseline
BUCKET = 10.0  # the baseline keeps one minimum per this many seconds (WINDOW / BUCKET entries)
OUTLIER = 60.0  # a lag this much below the baseline is one wrong timestamp, not a new baseline
# ... and one this much above it too, not a reader an hour behind: a message dated 1971 between
# live ones counted a suspected loss of 56 years behind each time, and asked for a reconcile
# (found by an audit). A reader truly that far behind is caught on its way there.
STALE = 3600.0
# Outliers that stay more than the messages in range for this long (and at least MOVED_COUNT of
# them) are no wrong timestamps but a clock that moved: a LAVA server stepped right by its time
# server, or this one. They start a new baseline. Before, a LAVA clock set forward by more than
# OUTLIER made every later message an outlier, and the watch was blind for the process's life.
# So does an episode of running behind whose lag stays within `threshold` of itself this long: a
# reader catching up reads ever less late; a clock set back (LAVA's, or this one's forward) by a
# minute to an hour makes every message the same seconds "late" (found by a review: the watch
# stayed "behind", unable to see a new loss, until the old baseline left the window).
MOVED_AFTER = 60.0
MOVED_COUNT = 3
# The baseline is the clocks' offset (`offset`) once it rests on a minute of messages.
OFFSET_AFTER = 60.0


class LagWatch:
    def __init__(self, threshold=THRESHOLD, window=WINDOW, bucket=BUCKET):
        self.threshold = threshold
        self.window = window
        self.bucket = bucket
        self.minima = collections.deque()  # (bucket start, smallest lag in it), oldest first
        self.behind = False
        self.episodes = 0
        self.max_behind = 0.0  # the most seconds behind seen
        self.last_behind = 0.0
        self.outliers = 0  # messages stamped far later than the rest (a wrong clock or value)
        self.baseline = None  # the smallest lag of the window: min of `minima`, kept as it changes
        self.clock_moves = 0  # runs of outliers that started a new baseline (MOVED_AFTER)
        self._odd = None  # a run of outliers: [arrival of its first, outliers, messages in range]
        self._steady = None  # an episode behind: [arrival of its first, messages, least, most lag]
        self._first = None  # arrival of the first message of this baseline (OFFSET_AFTER)
        self._last = None  # arrival of the newest message the baseline took

    def observe(self, published, now):
        """A message published at `published` (epoch seconds) read at `now`. True when it starts a
        new episode of running behind."""
        lag = now - published
        if self.baseline is not None and not self.baseline - OUTLIER <= lag <= self.baseline + STALE:
            self.outliers += 1  # would blind the watch for a whole window: not the baseline
            run = self._odd = self._odd or [now, 0, 0]
            run[1] += 1
            if now - run[0] >= MOVED_AFTER and run[1] >= MOVED_COUNT and run[1] > run[2]:
                self._moved(lag, now)
            return False
        if self._odd is not None:  # as many in range as outliers: those were wrong stamps
            self._odd[2] += 1
            if self._odd[2] >= self._odd[1]:
                self._odd = None
        if self._first is None or now - self._last > self.window:
            self._first = now  # (after a silence, the offset rests on what comes after it)
        self._last = now
        start = now - now % self.bucket
        if self.minima and self.minima[-1][0] == start:
            if lag < self.minima[-1][1]:
                self.minima[-1] = (start, lag)
            self.baseline = min(self.baseline, lag)
        else:  # a new bucket (at most one per `bucket` seconds): old ones expire, min anew
            self.minima.append((start, lag))
            while self.minima[0][0] <= now - self.window:
                self.minima.popleft()
            self.baseline = min(m for _, m in self.minima)
        behind = lag - self.baseline
        self.last_behind = behind
        self.max_behind = max(self.max_behind, behind)
        if behind >= self.threshold and not self.behind:
            self.behind = True
            self.episodes += 1
            self._steady = [now, 1, lag, lag]
            return True
        if behind < self.threshold / 2:
            self.behind, self._steady = False, None
        elif self.behind:
            self._still_behind(lag, now)
        return False

    def _still_behind(self, lag, now):
        steady = self._steady
        steady[1] += 1
        steady[2], steady[3] = min(steady[2], lag), max(steady[3], lag)
        if steady[3] - steady[2] >= self.threshold:  # it moves: a reader catching up, or not
            self._steady = [now, 1, lag, lag]
        elif now - steady[0] >= MOVED_AFTER and steady[1] >= MOVED_COUNT:
            self._moved(lag, now)

    def _moved(self, lag, now):
        """A clock moved: what was known of the offset is not true now; `lag` starts anew."""
        self.clock_moves += 1
        self.minima.clear()
        self.minima.append((now - now % self.bucket, lag))
        self.baseline, self.behind, self.last_behind = lag, False, 0.0
        self._first = self._last = now
        self._odd = self._steady = None

    def offset(self, now):
        """Seconds the publisher's clock is behind this one (negative: ahead), with the network's
        delay: the baseline, once it rests on OFFSET_AFTER seconds of messages and the newest came
        within the window; else None (not known)."""
        if (self.baseline is None or self._first is None or self._last - self._first < OFFSET_AFTER
                or now - self._last > self.window):
            return None
        return self.baseline

    def as_dict(self, now=None):
        known = self.offset(now) if now is not None else None
        return {"behind_s": round(self.last_behind, 3), "max_behind_s": round(self.max_behind, 3),
                "episodes": self.episodes, "running_behind": self.behind,
                "outliers": self.outliers, "clock_moves": self.clock_moves,
                "clock_offset_s": round(known, 3) if known is not None else None}
