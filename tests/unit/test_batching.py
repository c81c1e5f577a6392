"""core.batching: the adaptive gap between batches, driven by a fake clock and made-up flush costs.

`simulate` plays the relay's flush loop (live/relay.py Relay.run) against the policy: changes arrive
at given times (each told to the policy, as Relay.push does), a flush happens as soon as the
policy's delay allows, and costs what `cost(n)` says for a batch of n changes. It returns when each change was sent and what sending cost in all."""
import pytest

from dashboard.core.batching import STREAM_MOST, AdaptiveInterval


def simulate(policy, arrivals, cost):
    """→ ([(arrival, sent)], CPU seconds spent sending, wall seconds from first arrival to last send)."""
    sent, spent, pending = [], 0.0, []
    now, last_flush = arrivals[0], float("-inf")
    queue = list(arrivals)
    while queue or pending:
        if not pending:  # the loop sleeps until a change comes
            now = max(now, queue[0])
        while queue and queue[0] <= now:
            pending.append(queue.pop(0))
            policy.pushed(1, pending[-1])  # as Relay.push tells it
        flush_at = now + policy.delay(last_flush, now)
        while queue and queue[0] <= flush_at:  # changes that come while the loop waits join the batch
            pending.append(queue.pop(0))
            policy.pushed(1, pending[-1])
        now = last_flush = flush_at
        spend = cost(len(pending))
        sent += [(t, now) for t in pending]
        pending = []
        spent += spend
        now += spend  # the flush itself takes the time it costs
        policy.observe(spend)
    return sent, spent, now - arrivals[0]


def stream(rate, seconds, start=100.0):
    return [start + i / rate for i in range(int(rate * seconds))]


def per_client(clients, per_send=60e-6, per_change=5e-6):
    """A flush's cost: one frame per client, plus encoding each change once."""
    return lambda n: clients * per_send + n * per_change


def test_a_quiet_stream_is_sent_at_once():
    """One change a second, cheap to send: none waits at all."""
    policy = AdaptiveInterval(floor=0.002, ceiling=0.1, budget=0.25)
    sent, _, _ = simulate(policy, stream(1, 20), per_client(10))
    assert [s - a for a, s in sent] == [0.0] * 20


def test_a_burst_is_batched_and_waits_no_longer_than_the_ceiling():
    """1,000 changes in 0.1 s, expensive to send: batched (far fewer flushes than changes), and no
    change waits longer than the ceiling."""
    policy = AdaptiveInterval(floor=0.002, ceiling=0.05, budget=0.25)
    flushes = []
    cost = per_client(100)

    def counted(n):
        flushes.append(n)
        return cost(n)
    sent, _, _ = simulate(policy, stream(10_000, 0.1), counted)
    assert len(sent) == 1000
    assert len(flushes) < 100 and max(flushes) > 10
    assert max(s - a for a, s in sent) <= 0.05 + cost(1000) + 1e-9


@pytest.mark.parametrize("rate", [50, 250, 1000, 4000])
def test_sending_stays_under_its_budget_at_every_rate(rate):
    """100 clients at 60 µs a frame: a flush costs 6 ms or more. Over 10 s of a steady stream the
    share of a core spent sending stays under the budget (the floor never binds here)."""
    policy = AdaptiveInterval(floor=0.002, ceiling=0.1, budget=0.25)
    sent, spent, wall = simulate(policy, stream(rate, 10), per_client(100))
    assert len(sent) == rate * 10
    assert spent / wall <= 0.25 * 1.05, spent / wall
    assert max(s - a for a, s in sent) <= 0.1 + per_client(100)(rate) + 1e-9


def test_cheap_sending_keeps_the_gap_at_the_floor_and_dear_sending_at_the_ceiling():
    cheap = AdaptiveInterval(floor=0.002, ceiling=0.1, budget=0.25)
    simulate(cheap, stream(250, 5), per_client(2, per_send=20e-6, per_change=1e-6))
    assert cheap.value == 0.002
    dear = AdaptiveInterval(floor=0.002, ceiling=0.1, budget=0.25)
    simulate(dear, stream(250, 5), per_client(1000))  # 60 ms a flush: 0.24 s under the budget
    assert dear.value == 0.1


def test_the_gap_follows_the_cost_of_recent_flushes():
    policy = AdaptiveInterval(floor=0.002, ceiling=0.1, budget=0.25, weight=0.25)
    assert policy.observe(0.004) == pytest.approx(0.004)  # a quarter of 4 ms, divided by 0.25
    for _ in range(40):
        policy.observe(0.004)
    assert policy.value == pytest.approx(0.016, rel=1e-3)  # settled: 4 ms / 0.25
    policy.observe(0.02)  # one slow flush (a collection, a busy machine) moves it only a quarter
    assert policy.value == pytest.approx((0.004 + 0.25 * 0.016) / 0.25, rel=1e-3)
    policy.observe(1.0)
    assert policy.value == 0.1  # never beyond the ceiling
    for _ in range(40):
        policy.observe(0.0)
    assert policy.value == 0.002  # idle again: the floor


def test_delay_is_zero_after_a_quiet_spell_and_never_beyond_the_ceiling():
    policy = AdaptiveInterval(floor=0.002, ceiling=0.1, budget=0.25)
    for _ in range(50):
        policy.observe(0.01)  # 40 ms gap
    assert policy.delay(last_flush=10.0, now=10.5) == 0.0
    assert policy.delay(last_flush=10.0, now=10.01) == pytest.approx(0.03)
    assert policy.delay(last_flush=10.0, now=5.0) == 0.1  # a clock that went back: the ceiling


def cheap_for_100_clients(n):
    """A flush to 100 clients at 15 µs a frame (direct sending): 1.5 ms, which the budget (0.25)
    turns into a 6 ms gap, under the floor (10 ms): only the stream's rate can lengthen it."""
    return per_client(100, per_send=15e-6, per_change=2e-6)(n)


def cheap_stream(rate, knee, seconds=10):
    """10 s of a steady stream, cheap to send, under a floor of 10 ms → (policy, each flush's
    size, [(arrival, sent)], wall seconds)."""
    policy = AdaptiveInterval(floor=0.01, ceiling=0.1, budget=0.25, knee=knee)
    flushes = []
    sent, _, wall = simulate(policy, stream(rate, seconds),
                             lambda n: flushes.append(n) or cheap_for_100_clients(n))
    return policy, flushes, sent, wall


@pytest.mark.parametrize("rate", [100, 250])
def test_a_stream_up_to_the_knee_is_sent_at_the_floor(rate):
    """Up to the knee the stream's rate changes nothing: the same flushes as with the knee off,
    each change sent within the floor."""
    runs = {}
    for knee in (300, 0):
        policy, flushes, sent, _ = cheap_stream(rate, knee)
        runs[knee] = flushes
        assert max(s - a for a, s in sent) <= 0.01 + 1e-9
        assert policy.value == 0.01
    assert runs[300] == runs[0]


@pytest.mark.parametrize("rate, gap", [(1000, 0.01 * 1000 / 300), (4000, STREAM_MOST)])
def test_a_stream_above_the_knee_is_batched_more_as_it_grows(rate, gap):
    """Cheap sending, which the budget alone keeps at the floor: above the knee the gap is the floor
    times the rate over the knee, up to STREAM_MOST, so far fewer flushes than with the knee off;
    no change waits longer than that gap and a flush."""
    counts = {}
    for knee in (300, 0):
        policy, flushes, sent, wall = cheap_stream(rate, knee)
        assert len(sent) == rate * 10
        counts[knee] = len(flushes) / wall
        if knee:
            assert policy.value == pytest.approx(gap, rel=0.05)
            assert max(s - a for a, s in sent) <= gap * 1.05 + cheap_for_100_clients(rate) + 1e-9
        else:
            assert policy.value == 0.01
    assert counts[0] > 85  # the floor: about one flush each 10 ms (and its 1.5 ms)
    assert counts[300] == pytest.approx(1 / gap, rel=0.1)


def test_after_a_fast_stream_a_lone_change_goes_out_at_once():
    """The rate decays over the quiet spell: a change a second after a stream of 2,000 changes a
    second goes out at once (as any change after a spell longer than the gap), and the gap is the
    floor again, for it and the changes after it (also as /healthz reads it, before it comes)."""
    policy = AdaptiveInterval(floor=0.01, ceiling=0.1, budget=0.25)
    sent, _, _ = simulate(policy, stream(2000, 2), cheap_for_100_clients)
    assert policy.value == STREAM_MOST
    end = sent[-1][1]
    assert policy.gap_at(end + 0.01) > 0.01  # just after it: still a stream
    assert policy.gap_at(end + 1.0) == 0.01  # four time constants later: over
    assert policy.delay(last_flush=end, now=end + 1.0) == 0.0  # (any gap: at most the ceiling)
    assert policy.pushed(1, end + 1.0) == 0.01
    # The next change, 5 ms after that one was sent, waits for the floor's rest, not the 40 ms of
    # the stream before.
    assert policy.delay(last_flush=end + 1.0, now=end + 1.005) == pytest.approx(0.005)


def test_the_ceiling_bounds_the_streams_gap_too():
    policy = AdaptiveInterval(floor=0.01, ceiling=0.02, budget=0.25)
    simulate(policy, stream(3000, 2), cheap_for_100_clients)
    assert policy.value == 0.02


@pytest.mark.parametrize("kwargs", [dict(floor=0.2, ceiling=0.1), dict(floor=0, ceiling=0.1),
                                    dict(budget=0), dict(budget=1.5), dict(weight=0),
                                    dict(knee=-1), dict(knee=float("nan")), dict(smoothing=0)])
def test_settings_out_of_range_are_refused(kwargs):
    with pytest.raises(ValueError):
        AdaptiveInterval(**kwargs)
