"""Job timings for /metrics (core/jobtimes.py): observed once per transition, bounded labels, bad
times ignored."""
from dashboard.core.jobtimes import MAX_LABELS, OTHER, Histogram, JobTimes
from dashboard.core.state import Change


def job(state, **fields):
    return {"id": 1, "state": state, "device_type": "qemu", "health": "Unknown", **fields}


def test_a_start_observes_the_wait_and_a_finish_the_duration_once():
    times = JobTimes()
    submitted = job("Submitted", submit_time="2026-11-30T10:00:00")
    running = job("Running", submit_time="2026-11-30T10:00:00", start_time="2026-11-30T10:05:00+00:00")
    done = dict(running, state="Finished", health="Incomplete", end_time="2026-11-30T11:05:00+00:00")
    times.push([Change(1, "job", 1, submitted, None), Change(2, "job", 1, running, submitted),
                Change(3, "job", 1, running, running),  # no transition: not observed again
                Change(4, "job", 1, done, running)])
    buckets, total = times.wait.cumulative("qemu")
    assert total == 300 and dict(buckets)["300"] == 1 and dict(buckets)["120"] == 0
    assert dict(buckets)["+Inf"] == 1
    buckets, total = times.duration.cumulative("Incomplete")
    assert total == 3600 and dict(buckets)["1800"] == 0 and dict(buckets)["3600"] == 1


def test_bad_or_backwards_times_are_not_observed_and_labels_are_bounded():
    times = JobTimes()
    for i, (submit, start) in enumerate([(None, "2026-11-30T10:00:00"), ("yesterday", "x"),
                                          ("2026-11-30T10:00:00", "2026-11-30T09:00:00")]):
        times.push([Change(i, "job", i, job("Running", submit_time=submit, start_time=start), None)])
    assert times.wait.series == {}
    # A job first seen already Running or Finished (the REST load at start) did not start or end now.
    loaded = job("Finished", health="Complete", start_time="2026-11-30T10:00:00",
                 end_time="2026-11-30T11:00:00")
    times.push([Change(9, "job", 9, loaded, None)])
    assert times.duration.series == {}
    hist = Histogram(buckets=(1,), max_labels=MAX_LABELS)
    for i in range(MAX_LABELS + 10):
        hist.observe(f"type-{i}", 0.5)
    assert len(hist.series) == MAX_LABELS + 1 and hist.series[OTHER][1] == 10
