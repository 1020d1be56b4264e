"""Pacing (seed 5.3) and the adaptive predictive ratio, as pure functions; free members read
from the queue projection fed with the real queue-basic capture."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.dialer import pacing, process
from projections import queues
from tests.captures import envelopes, positioned


def test_the_seed_formula() -> None:
    assert pacing.seed_available(3, 0, 1, 10) == 2  # 3 free - 1 waiting
    assert pacing.seed_available(3, 2, 5, 10) == 0  # service level dials ahead, no more
    assert pacing.seed_available(0, -4, 0, 10) == 0  # a negative service level is 0
    assert pacing.seed_available(None, 0, 7, 10) == 3  # unlimited: the cap


def test_adaptive_ratio_needs_samples_and_stays_at_1_at_the_target() -> None:
    half = [1, 0] * 10  # half the calls answered
    fast = [0.5] * 10  # and each answered one reached an agent in half a second
    assert pacing.adaptive_ratio(half[:5], fast, 0.03, 2.0, 3.0) == 1.0  # too few samples
    assert pacing.adaptive_ratio(half, fast, 0.03, 2.0, 3.0) == 2.0  # 1 / answer rate
    assert pacing.adaptive_ratio([1] * 20, fast, 0.03, 2.0, 3.0) == 1.0  # all answer
    assert pacing.adaptive_ratio([0] * 95 + [1] * 5, fast, 0.03, 2.0, 3.0) == 3.0  # capped
    late = [5.0, 5.0] + [0.1] * 8  # 20 % abandoned
    assert pacing.adaptive_ratio(half, late, 0.03, 2.0, 3.0) == 1.0  # over target: the seed's
    # Customers waiting right now past the limit count at once, before their calls end.
    assert pacing.adaptive_ratio(half, fast * 4, 0.03, 2.0, 3.0, waiting_too_long=2) == 1.0
    assert 1.0 < pacing.adaptive_ratio(half, fast * 10, 0.03, 2.0, 3.0,
                                       waiting_too_long=1) < 2.0  # 1 % of 3 %: tapered


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=20, max_size=200),
       st.lists(st.floats(-1, 10), max_size=200), st.floats(0.005, 0.2), st.floats(1.0, 5.0))
def test_the_ratio_is_bounded_and_falls_as_abandons_rise(answers: list[int], waits: list[float],
                                                         target: float,
                                                         max_ratio: float) -> None:
    ratio = pacing.adaptive_ratio(answers, waits, target, 2.0, max_ratio)
    assert 1.0 <= ratio <= max_ratio
    for i, wait in enumerate(waits):  # one customer who reached an agent in time abandons
        if 0 <= wait <= 2.0:
            worse = [*waits[:i], -1.0, *waits[i + 1:]]
            assert pacing.adaptive_ratio(answers, worse, target, 2.0, max_ratio) <= ratio + 1e-12
            break
    assert pacing.adaptive_ratio(answers, waits, target, 2.0, max_ratio, 3) <= ratio + 1e-12
    _, abandon, _ = pacing.rates(answers, waits, 2.0)
    if abandon >= target:
        assert ratio == 1.0


def test_free_members_follow_the_queue_projection(capture) -> None:
    """queue-basic: Alice and Bob join sales, Bob pauses, a caller is connected to Alice,
    she hangs up, Bob unpauses, both leave."""
    state = queues.initial()
    free_over_time = []
    for event in positioned(envelopes(capture("queue-basic"))):
        state = queues.apply(state, event)
        free = process.free_members(state).get(("capture", "sales"))
        if not free_over_time or free_over_time[-1] != free:
            free_over_time.append(free)
    assert free_over_time == [None, 1, 2, 1, 0, 1, 2, 1, None]


def test_adaptive_dials_beyond_the_free_agents_only_below_the_target() -> None:
    assert pacing.adaptive_available(4, 2.0, 0, 3) == 5
    assert pacing.adaptive_available(4, 1.0, 1, 3) == pacing.seed_available(4, 1, 3, 0)
