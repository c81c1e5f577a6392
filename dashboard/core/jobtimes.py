"""Job timings from the model's changes, for Prometheus histograms (pure).

A known job's change into Running observes its queue wait (start_time - submit_time) under its
device type; a change into Finished observes its duration (end_time - start_time) under its outcome
(health). A job the model sees for the first time (the REST load at start, or a first event that
already says Finished) is not observed: it did not start or end while this process watched. Counts are cumulative, as Prometheus histograms are; labels are bounded (MAX_LABELS), and
what would go beyond is counted under "other" (apart from a real value named so: OTHER_KEY).
"""
from dashboard.core.events import parse_time

# Seconds: from 10 s to a day (queue waits and test jobs both span that).
BUCKETS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400)
MAX_LABELS = 500
UNKNOWN, OTHER = "unknown", "other"
# The series of jobs without a label value, and of those past MAX_LABELS, are kept under these
# keys: apart from a real value of the same name (LAVA allows a device type named "other", which
# it may hide from anonymous viewers), and exported under the names above.
UNKNOWN_KEY, OTHER_KEY = (UNKNOWN,), (OTHER,)


def _seconds_between(start, end):
    try:
        value = (parse_time(end) - parse_time(start)).total_seconds()
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


class Histogram:
    """Cumulative bucket counts, a sum and a count per label value."""

    def __init__(self, buckets=BUCKETS, max_labels=MAX_LABELS):
        self.buckets = tuple(buckets)
        self.max_labels = max_labels
        self.series = {}  # label → [counts per bucket (not cumulative), +Inf count, sum]

    def observe(self, label, value):
        label = label if isinstance(label, str) and label else UNKNOWN_KEY
        if label not in self.series and len(self.series) >= self.max_labels:
            label = OTHER_KEY
        row = self.series.setdefault(label, [[0] * len(self.buckets), 0, 0.0])
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                row[0][i] += 1
                break
        row[1] += 1
        row[2] += value

    def exported(self, shown=None):
        """[(label value, [(bound, cumulative count)...] with "+Inf" last, sum)]: the series of
        each real value `shown(value)` allows (None: every one), and the pooled ones ("unknown",
        "other"), which name no value. A real value shown under a pooled one's name is added to
        it: one series a name."""
        merged = {}
        for key in list(self.series):
            if isinstance(key, str):
                if shown is not None and not shown(key):
                    continue
                name = key
            else:
                name = key[0]
            buckets, total = self.cumulative(key)
            if name in merged:
                before, before_total = merged[name]
                buckets = [(bound, n + m) for (bound, n), (_, m) in zip(buckets, before)]
                total += before_total
            merged[name] = (buckets, total)
        return [(name, buckets, total) for name, (buckets, total) in merged.items()]

    def cumulative(self, label):
        """([(bound, cumulative count)...] with "+Inf" last, sum)."""
        counts, total, value_sum = self.series[label]
        out, running = [], 0
        for bound, n in zip(self.buckets, counts):
            running += n
            out.append((str(bound), running))
        out.append(("+Inf", total))
        return out, value_sum


class JobTimes:
    """Observes the model's changes (push(changes), like a sink)."""

    def __init__(self):
        self.wait = Histogram()  # by device type
        self.duration = Histogram()  # by outcome

    def push(self, changes):
        for change in changes:
            if change.kind != "job" or change.data is None or change.prev is None:
                continue  # a job seen for the first time (a REST load) did not start or end now
            job, prev = change.data, change.prev or {}
            state = job.get("state")
            if state == prev.get("state"):
                continue
            if state == "Running":
                wait = _seconds_between(job.get("submit_time"), job.get("start_time"))
                if wait is not None:
                    self.wait.observe(job.get("device_type"), wait)
            elif state == "Finished":
                took = _seconds_between(job.get("start_time"), job.get("end_time"))
                if took is not None:
                    self.duration.observe(job.get("health"), took)
