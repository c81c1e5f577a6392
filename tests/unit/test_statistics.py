"""History statistics (dashboard.core.statistics), against hand-computed figures."""
from dashboard.core import statistics as history


def test_utilisation_matches_a_hand_computed_example():
    # Window 0..100 s. d1 (qemu): Idle/Good from before; Running at 10; Idle at 40; Bad at 70.
    # → Idle 10 + 30 = 40 s, Running 30 s, Bad 30 s.  d2 (qemu): first seen at 50, Maintenance
    # until the end → 50 s Maintenance (time before its first state is not counted).
    before = [{"device": "d1", "device_type": "qemu", "state": "Idle", "health": "Good"}]
    rows = [{"ts": 10, "device": "d1", "device_type": "qemu", "state": "Running", "health": "Good"},
            {"ts": 40, "device": "d1", "device_type": "qemu", "state": "Idle", "health": "Good"},
            {"ts": 50, "device": "d2", "device_type": "qemu", "state": "Idle", "health": "Maintenance"},
            {"ts": 70, "device": "d1", "device_type": "qemu", "state": "Idle", "health": "Bad"}]
    got = history.utilisation(before, rows, 0, 100)["qemu"]
    assert got["seconds"] == 150
    assert (got["Idle"], got["Running"], got["Bad"], got["Maintenance"]) == (
        round(40 / 150, 4), round(30 / 150, 4), round(30 / 150, 4), round(50 / 150, 4))


def test_queue_length_and_outcomes():
    before = [{"job": 1, "state": "Submitted"}, {"job": 2, "state": "Running"}]
    rows = [{"ts": 5, "job": 3, "state": "Submitted", "health": "Unknown"},
            {"ts": 12, "job": 1, "state": "Scheduled", "health": "Unknown"},
            {"ts": 25, "job": 3, "state": "Finished", "health": "Canceled"},
            {"ts": 26, "job": 3, "state": "Finished", "health": "Canceled"}]
    # Each step's maximum: 2 from 5 s, still 2 until 12 s, 1 until 25 s.
    assert history.queue_length(before, rows, 0, 30, 10) == [(10, 2), (20, 2), (30, 1)]
    # A job queued for 2 s inside a 10 s step still shows; the step after, with none, is 0.
    short = [{"ts": 31, "job": 4, "state": "Submitted", "health": "Unknown"},
             {"ts": 33, "job": 4, "state": "Running", "health": "Unknown"}]
    assert history.queue_length([], short, 30, 50, 10) == [(40, 1), (50, 0)]
    assert history.outcomes_per_day(rows) == {"1970-01-01": {"Canceled": 1}}


def test_device_timeline_bands():
    rows = [{"ts": 10, "state": "Running", "health": "Good"}, {"ts": 15, "state": "Running", "health": "Good"},
            {"ts": 30, "state": "Idle", "health": "Bad"}]
    bands = history.device_timeline([{"state": "Idle", "health": "Good"}], rows, 0, 50)
    assert [(b["from"], b["to"], b["category"]) for b in bands] == [
        (0, 10, "Idle"), (10, 30, "Running"), (30, 50, "Bad")]
