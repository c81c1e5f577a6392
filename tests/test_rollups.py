"""Hourly roll-ups on both backends: the events chart's figures from them equal a scan of the
events, for any window, kind and filter; they are rebuilt when missing and after retention."""
import random


from dashboard.core.events import parse_frames
from dashboard.storage.store import row_for
from tests.test_pgstore import message, pg, reopen, store  # noqa: F401 (fixtures)

T0 = 1_790_000_000.0


def fill(store, n=3000, seed=3):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        ts = T0 + rng.uniform(-3600 * 50, 0)
        kind = rng.choice(("device", "worker", "event"))
        data = ({"device": f"d{rng.randrange(5)}", "device_type": rng.choice(("qemu", "bbb")),
                 "state": "Idle", "health": "Good", "worker": f"w{rng.randrange(2)}"},
                {"hostname": f"w{rng.randrange(2)}", "state": "Online"},
                {"job": 1, "message": "m"})[("device", "worker", "event").index(kind)]
        import datetime as dt
        when = dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()
        frames = message(kind, when, f"u{i}", **data)
        rows.append(row_for(parse_frames(frames), frames, {}, 0.0))
    for row in rows:
        store.enqueue(row)
    while store.queue:
        store.flush(max_rows=700)


CASES = [(3600, T0 - 86400 + 123.4, T0 - 17.5, {}), (86400, T0 - 40 * 3600 - 5, T0, {}),
         (3600, T0 - 86400, T0, {"kind": "device"}), (3600, T0 - 30 * 3600, T0 - 2 * 3600,
                                                      {"device": "d1", "kind": "device"}),
         (3600, T0 - 30 * 3600, T0, {"device_type": "qemu"}), (3600, T0 - 30 * 3600, T0, {"worker": "w1"}),
         (3600, T0 - 1000, T0 - 10, {})]


def test_rollups_answer_as_a_scan_does_and_survive_retention(store, reopen):
    fill(store)
    assert store.rollups_complete()
    for width, since, until, filters in CASES:
        assert store.buckets(width, since, until, filters) == \
            store.buckets(width, since, until, filters, rollups=False), (width, filters)
    # Retention: the oldest events go; the roll-ups follow (the boundary hour recounted).
    store.prune(max_age_s=None, max_rows=1200)
    for width, since, until, filters in CASES:
        assert store.buckets(width, since - 86400 * 3, until, filters) == \
            store.buckets(width, since - 86400 * 3, until, filters, rollups=False)
    # Missing (a store from before them): rebuilt from the events, same answers.
    with store._transaction() as conn:
        conn.execute("DELETE FROM rollup_hourly")
        conn.execute("DELETE FROM rollup_state")
    again = reopen()
    assert not again.rollups_complete()
    assert again.ensure_rollups() and again.rollups_complete()
    for width, since, until, filters in CASES:
        assert again.buckets(width, since, until, filters) == \
            again.buckets(width, since, until, filters, rollups=False)
