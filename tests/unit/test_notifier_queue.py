"""The Notifier's queue (dashboard/alerts/delivery.py) with a fake clock and sends it starts as
tasks the test runs (or, for a destination that hangs, never runs): each destination is sent to
on its own, so that a slow one holds up no other; each has its own backoff; the rate limit never
drops a RESOLVED of an alert whose FIRING was sent, nor counts it; what is still to go out is what
the store keeps (state_of) and a restart takes back (restore), to the destinations that had not
taken it only."""
import types

import pytest

from dashboard.alerts import delivery
from dashboard.alerts.delivery import Notifier
from dashboard.alerts.rules import parse_config

pytestmark = pytest.mark.unit


def quiet_event():
    """An event of the async mode that never waits (the test runs the loop's rounds itself)."""
    return types.SimpleNamespace(set=lambda: None, wait=lambda seconds: None, clear=lambda: None)

SLOW, FAST, OTHER = ("json://127.0.0.1:9/slow?token=SeCrEt1x", "json://127.0.0.1:9/fast",
                     "json://127.0.0.1:9/other")


def alert(ident, rule="device_bad", notifications=1):
    return {"id": ident, "key": f"{rule}/d-{ident}", "rule": rule, "subject": f"d-{ident}",
            "device_type": "qemu", "severity": "warning", "message": "m", "fired_at": 0.0,
            "resolved_at": 60.0, "notifications": notifications}


class Harness:
    """A Notifier whose sends are tasks kept here, run by the test one by one; `answers` says
    which URLs fail ({url: why}); every send is recorded as (title, url)."""

    def __init__(self, text):
        self.now = [1000.0]
        self.tasks, self.sent, self.answers = [], [], {}
        self.notifier = Notifier(parse_config(text), lambda fn, *a: fn(*a), lambda s: None, quiet_event,
                                 clock=lambda: self.now[0], send=self.send,
                                 spawn=lambda fn, *a: self.tasks.append((fn, a)))

    def send(self, urls, title, body, severity):
        self.sent += [(title, url) for url in urls]
        return {url: self.answers[url] for url in urls if url in self.answers}

    def started(self):
        return [(a[0][2]["id"], a[1]) for _, a in self.tasks]

    def finish(self, url):
        """Run the started send to `url` (it ends), then a round of the loop."""
        [task] = [t for t in self.tasks if t[1][1] == url]
        self.tasks.remove(task)
        task[0](*task[1])
        self.notifier.run(rounds=1)


def test_a_destination_that_hangs_holds_up_no_other():
    h = Harness(f'[rules.device_bad]\nnotify = ["{SLOW}", "{FAST}"]\n'
                f'[rules.worker_offline]\nnotify = ["{FAST}", "{OTHER}"]\n')
    n = h.notifier
    assert n.submit(alert("a1"), "fired") and n.submit(alert("a2", "worker_offline"), "fired")
    n.run(rounds=1)
    # Each destination on its own, one send at a time to each: FAST takes a1 first.
    assert sorted(h.started()) == [("a1", FAST), ("a1", SLOW), ("a2", OTHER)]
    h.finish(FAST)  # SLOW still hangs
    assert h.started()[-1] == ("a2", FAST)
    h.finish(FAST)
    h.finish(OTHER)
    assert [u for _, u in h.sent] == [FAST, FAST, OTHER]  # SLOW was never waited for
    assert [item[2]["id"] for item in n.pending] == ["a1"] and n.pending[0][4] == [SLOW]
    assert n.stats()["sending"] == 1 and n.counts["delivered"] == 1


def test_each_destination_has_its_own_backoff_and_a_failing_one_leaves_a_slot_to_the_others():
    urls = [f"json://127.0.0.1:9/dead{i}" for i in range(delivery.MAX_SENDING)]
    text = "".join(f'[rules.{r}]\nnotify = ["{u}"]\n'
                   for r, u in zip(("device_bad", "device_maintenance", "flapping",
                                    "worker_offline"), urls))
    h = Harness(text + f'[rules.stream_silent]\nnotify = ["{FAST}"]\n')
    n = h.notifier
    h.answers = dict.fromkeys(urls, "connection refused")
    for i, rule in enumerate(("device_bad", "device_maintenance", "flapping", "worker_offline")):
        n.submit(alert(f"d{i}", rule), "fired")
    n.run(rounds=1)
    for url in urls:
        h.finish(url)
    assert n.counts["failed"] == delivery.MAX_SENDING and n.counts["retries"] == delivery.MAX_SENDING
    assert {item[5][item[4][0]][0] for item in n.pending} == {1002.0}  # 2 s, each its own
    for i, rule in enumerate(("device_bad", "device_maintenance", "flapping", "worker_offline")):
        n.submit(alert(f"e{i}", rule), "fired")  # more for the failing ones, due now
    h.now[0] = 1002.0
    n.run(rounds=1)
    assert len(h.tasks) == delivery.MAX_SENDING - 1  # failing destinations: one slot is kept
    n.submit(alert("s1", "stream_silent"), "fired")
    n.run(rounds=1)
    assert ("s1", FAST) in h.started()
    h.finish(FAST)
    assert ("[FIRING] stream_silent: d-s1", FAST) in h.sent


def test_a_resolved_never_goes_before_its_firing_to_a_destination():
    h = Harness(f'[rules.device_bad]\nnotify = ["{FAST}"]\n')
    n = h.notifier
    h.answers = {FAST: "503"}
    n.submit(alert("a1"), "fired")
    n.run(rounds=1)
    h.finish(FAST)  # failed: retried in 2 s
    n.submit(alert("a1"), "resolved")
    n.run(rounds=1)
    assert h.tasks == []  # the RESOLVED, due now, waits for its FIRING
    h.answers, h.now[0] = {}, 1002.0
    n.run(rounds=1)
    h.finish(FAST)
    h.finish(FAST)
    assert [t for t, _ in h.sent] == ["[FIRING] device_bad: d-a1"] * 2 + ["[RESOLVED] device_bad: d-a1"]


def test_the_rate_limit_neither_drops_nor_counts_a_resolved_whose_firing_was_sent():
    h = Harness(f'[rules.device_bad]\nnotify = ["{FAST}"]\nrate_limit_per_hour = 2\n')
    n = h.notifier
    assert n.submit(alert("a1"), "fired")
    assert n.submit(alert("a1"), "resolved")  # not dropped ...
    assert n.submit(alert("a2"), "fired")  # ... nor counted: the second FIRING still goes
    assert not n.submit(alert("a3"), "fired")  # the third in the hour: over the limit
    assert not n.submit(alert("a3"), "resolved")  # nobody heard a3 fire: its end is skipped
    assert n.submit(alert("a2"), "resolved")
    assert not n.submit(alert("a2", notifications=2), "renotify")  # over the limit
    stats = n.stats()
    assert (stats["rate_limited"], stats["resolved_skipped"], stats["queued"]) == (2, 1, 4)
    h.now[0] += 3601  # an hour later: a3's re-notification is its first word, and its end follows
    assert n.submit(alert("a3", notifications=2), "renotify")
    assert n.submit(alert("a3", notifications=2), "resolved")


def test_what_is_still_to_go_out_is_kept_and_taken_back_without_what_was_taken():
    h = Harness(f'[rules.device_bad]\nnotify = ["{SLOW}", "{FAST}"]\n')
    n = h.notifier
    changed = []
    n.on_change = changed.append
    h.answers = {SLOW: "timed out after 30 s"}
    n.submit(alert("a1"), "fired")
    n.run(rounds=1)
    h.finish(FAST)
    h.finish(SLOW)
    assert changed == ["a1", "a1"]
    state = n.state_of("a1")
    assert state == {"unsent": [{"what": "fired", "n": 1,
                                 "to": {delivery.destination_digest("a1", SLOW): 1}}]}
    assert "SeCrEt1x" not in repr(state) and "slow" not in repr(state)
    assert n.state_of("other") is None

    # The restart: a new notifier takes it back; SLOW alone gets it, its attempts counted on.
    again = Harness(f'[rules.device_bad]\nnotify = ["{SLOW}", "{FAST}"]\n')
    assert again.notifier.restore(alert("a1"), state) == 1
    assert again.notifier.pending[0][4] == [SLOW] and again.notifier.pending[0][5][SLOW][1] == 1
    assert not again.notifier.submit(alert("a1"), "fired")  # the engine's own would be a duplicate
    again.notifier.run(rounds=1)
    again.finish(SLOW)
    assert again.sent == [("[FIRING] device_bad: d-a1", SLOW)] and again.notifier.pending == []
    assert again.notifier.counts["restored"] == 1
    # A destination no longer in the file is not sent to, and counted.
    gone = Harness(f'[rules.device_bad]\nnotify = ["{FAST}"]\n')
    assert gone.notifier.restore(alert("a1"), state) == 0
    assert gone.notifier.counts["restore_dropped"] == 1 and gone.notifier.pending == []


def test_a_stop_waits_for_the_sends_under_way_then_starts_none():
    h = Harness(f'[rules.device_bad]\nnotify = ["{FAST}"]\n')
    n = h.notifier
    n.submit(alert("a1"), "fired")
    n.run(rounds=1)
    fn, args = h.tasks.pop()
    fn(*args)  # it ended; the loop has not settled it yet
    n.stop(timeout=0.5)
    assert n.pending == [] and n.counts["delivered"] == 1
    n.submit(alert("a2"), "fired")
    n.run(rounds=1)
    assert h.tasks == [] and n.state_of("a2")["unsent"][0]["what"] == "fired"


def failing_slow(max_queue, first):
    """A Harness whose SLOW fails (device_bad goes to it alone, worker_offline to it and FAST), its
    queue bounded to `max_queue`, and alert `first`'s FIRING tried at SLOW once: it is failing."""
    h = Harness(f'[rules.device_bad]\nnotify = ["{SLOW}"]\n'
                f'[rules.worker_offline]\nnotify = ["{SLOW}", "{FAST}"]\n')
    h.notifier.max_queue = max_queue
    h.answers[SLOW] = "the send did not end"
    assert h.notifier.submit(alert(first), "fired")
    h.notifier.run(rounds=1)
    h.finish(SLOW)  # failed: it backs off; it is a failing destination now
    return h, h.notifier


def test_a_full_queue_gives_way_for_a_failing_destination_not_for_the_others():
    """An audit: a destination that hangs takes 8 attempts of 30 s for each notification (about 15
    an hour), and a busy lab's notifications then filled the queue (1,000), after which every new
    one was dropped for every destination. When the queue is full, the failing destination with
    the most waiting gives way: its oldest waiting for it alone, and its part of the new one."""
    h, n = failing_slow(4, "s1")
    for ident in ("s2", "s3", "s4"):
        assert n.submit(alert(ident), "fired")
    assert len(n.pending) == 4
    # Full. A notification for the working destination too: SLOW's oldest (not being sent) goes.
    assert n.submit(alert("w1", "worker_offline"), "fired")
    assert [item[2]["id"] for item in n.pending] == ["s2", "s3", "s4", "w1"]
    assert n.pending[-1][4] == [FAST]  # (not queued for SLOW: it gave way)
    assert n.counts["crowded_out"] == 2 and n.counts["dropped"] == 0
    # A new one for the failing destination alone is dropped, as before.
    assert not n.submit(alert("s5"), "fired") and n.counts["dropped"] == 1
    # An alert's RESOLVED that SLOW gives way for takes its FIRING still waiting there too (a
    # review: SLOW, answering again, got the FIRING and never the RESOLVED).
    both, b = failing_slow(3, "s0")
    assert b.submit(alert("x", "worker_offline"), "fired")
    b.run(rounds=1)
    both.finish(FAST)  # x's FIRING reached FAST
    both.finish(SLOW)  # ... not SLOW: it waits for it (in backoff), not under way
    assert b.submit(alert("s1"), "fired") and len(b.pending) == 3
    assert b.submit(alert("x", "worker_offline", notifications=1), "resolved")
    assert not any(SLOW in item[4] for item in b.pending if item[2]["id"] == "x"), b.pending
    assert [item[4] for item in b.pending if item[2]["id"] == "x"] == [[FAST]]
    n.run(rounds=1)
    h.finish(FAST)  # the working destination's is sent
    assert [url for _, url in h.sent] == [SLOW, FAST] and n.counts["delivered"] == 1
    # With no failing destination, a full queue drops the new notification (none gives way).
    fresh = Harness(f'[rules.device_bad]\nnotify = ["{FAST}"]\n')
    fresh.notifier.max_queue = 1
    assert fresh.notifier.submit(alert("f1"), "fired")
    assert not fresh.notifier.submit(alert("f2"), "fired")
    assert fresh.notifier.counts["dropped"] == 1 and fresh.notifier.counts["crowded_out"] == 0
