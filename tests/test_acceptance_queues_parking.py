"""Asterisk's own answers are the oracle for queues and parking: replay a capture up to the
moment Asterisk began to answer a `QueueStatus`, `QueueSummary`, `ParkedCalls` or `Parkinglots`,
then the projection must hold exactly what Asterisk answered (`tests.captures.check_answer`,
the one every acceptance test applies; rows are taken at the answer's time, so a caller's wait
is comparable with `LongestHoldTime`).

The replay includes earlier list answers (reconciliation data the engine really has) but never
the answer being checked. A row is excused only when an event about it arrives within 0.3 s
after the answer began.
"""

from __future__ import annotations

import json
import time
from types import ModuleType

import pytest

from engine.envelope import Event
from projections import parking, queues
from tests.captures import (
    ACCEPTANCE_FILES,
    BATCH2_FILES,
    Answer,
    all_answers,
    check_answer,
    session,
)

CHECKED = ("QueueStatus", "QueueSummary", "ParkedCalls", "Parkinglots")
MODULE = {"QueueStatus": queues, "QueueSummary": queues, "ParkedCalls": parking,
          "Parkinglots": parking}

# Answers no projection can predict: the configuration changed under Asterisk (`UpdateConfig`
# with a reload), which announces nothing but `Reload` (no `QueueMemberRemoved` for a static
# member, nothing for a lot or a queue deleted), and the recording sent no list action between
# the reload and these. What the projection holds is what the last answer said; the engine
# has to ask again after a `Reload` of app_queue or res_parking for it to know. Strict: once
# the projections get it right, these fail and leave this table.
AFTER_A_RELOAD = {
    "batch2/config-parking:parkinglots-7": "lot2 deleted by a res_parking reload",
    "batch2/config-queues:queuestatus-11": "billing's static member removed by a reload",
    "batch2/config-queues:queuesummary-13": "queue billing deleted by an app_queue reload",
}


def _case(answer: Answer) -> object:
    reason = AFTER_A_RELOAD.get(answer.id)
    if reason is None:
        return answer
    return pytest.param(answer, marks=pytest.mark.xfail(strict=True, reason=reason))


CASES = all_answers(CHECKED)


def test_there_is_something_to_check() -> None:
    assert {a.action for a in CASES} == set(CHECKED)
    assert {a.path for a in CASES} & set(BATCH2_FILES), "the second batch is checked too"
    assert set(AFTER_A_RELOAD) <= {a.id for a in CASES}


@pytest.mark.parametrize("answer", [_case(a) for a in CASES], ids=lambda a: a.id)
def test_projection_matches_asterisks_answer(answer: Answer) -> None:
    items = answer.items()
    assert items, "the capture holds no answer to this action"
    assert items[-1]["Event"].endswith("Complete")
    module = MODULE[answer.action]
    state = module.initial()
    for event in answer.before():
        module.apply(state, event)
    check_answer(answer, lambda view: module.VIEWS[view](state, answer.began))


def _all_events() -> list[Event]:
    out: list[Event] = []
    for path in ACCEPTANCE_FILES:
        for e in session(path):
            out.append(Event(len(out), e.stream, e.version, e.type, e.recorded_at, e.server,
                             e.data))
    return out


@pytest.mark.parametrize("module", [queues, parking], ids=lambda m: m.NAME)
def test_state_survives_a_checkpoint_round_trip(module: ModuleType) -> None:
    """State is plain JSON: stop anywhere, serialize, resume -> the same bytes as no stop."""
    events = _all_events()
    straight = module.initial()
    for event in events:
        module.apply(straight, event)
    for cut in (len(events) // 3, len(events) // 2, len(events) - 5):
        resumed = module.initial()
        for event in events[:cut]:
            module.apply(resumed, event)
        resumed = json.loads(json.dumps(resumed))
        for event in events[cut:]:
            module.apply(resumed, event)
        assert json.dumps(resumed, sort_keys=True) == json.dumps(straight, sort_keys=True)


@pytest.mark.parametrize("module", [queues, parking], ids=lambda m: m.NAME)
def test_apply_is_fast_on_real_traffic(module: ModuleType) -> None:
    """The whole engine targets 200k events/s for all projections: each must be far above."""
    events = _all_events() * 20
    state, apply = module.initial(), module.apply
    start = time.perf_counter()
    for event in events:
        apply(state, event)
    rate = len(events) / (time.perf_counter() - start)
    assert rate > 400_000, f"{module.NAME}: {rate:,.0f} events/s"
