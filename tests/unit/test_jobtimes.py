"""Job timings for /metrics (core/jobtimes.py): observed once per transition, bounded labels, bad
times ignored."""
from dashboard.core.jobtimes import MAX_LABELS, OTHER_KEY, Histogram, JobTimes
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
    assert len(hist.series) == MAX_LABELS + 1 and hist.series[OTHER_KEY][1] == 10


def test_a_hidden_type_named_as_a_pooled_series_is_not_shown_under_it():
    """LAVA allows a device type named "unknown" or "other". Before, /metrics took such a type,
    hidden from anonymous viewers, for the pooled series of the same name (jobs without a type,
    and those past MAX_LABELS) and showed its queue waits to anyone."""
    from dashboard.core.screen import DeviceScreen
    from dashboard.core.state import LabState
    from dashboard.web.metrics import type_shown

    state = LabState()
    state.screen = DeviceScreen()
    state.screen.learn([{"hostname": "q1", "device_type": "qemu"}])  # "other", "unknown" hidden
    hist = Histogram(buckets=(10, 100), max_labels=4)
    for label, value in (("qemu", 5), ("other", 50), ("unknown", 50), (None, 5), ("", 5),
                         ("bbb", 5), ("x15", 500), ("x15", 500)):  # bbb, x15: past the bound
        hist.observe(label, value)
    shown = hist.exported(lambda value: type_shown(state, value))
    assert {name: (dict(buckets), total) for name, buckets, total in shown} == {
        "qemu": ({"10": 1, "100": 1, "+Inf": 1}, 5),
        "unknown": ({"10": 2, "100": 2, "+Inf": 2}, 10),  # None and "": no type; not the hidden one
        "other": ({"10": 1, "100": 1, "+Inf": 3}, 1005)}  # bbb and x15; not the hidden one
    # Without a screen every type is shown; a real "other" and the pooled one are one series.
    every = {name: (dict(buckets), total) for name, buckets, total in hist.exported()}
    assert every["other"] == ({"10": 1, "100": 2, "+Inf": 4}, 1055)
    assert every["unknown"] == ({"10": 2, "100": 3, "+Inf": 3}, 60)
    assert len(every) == 3 and sorted(every) == ["other", "qemu", "unknown"]
