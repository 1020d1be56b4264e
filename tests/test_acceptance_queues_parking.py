"""Asterisk's own answers are the oracle: replay a capture up to the moment a `QueueStatus` or
`ParkedCalls` was sent, then the projection must hold exactly what Asterisk answered.

The replay includes earlier list answers (reconciliation data the engine really has) but never
the answer being checked: it arrives after the action was sent. The comparison is
`tests.captures.check_answer`, the one every acceptance test applies.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import ModuleType

import pytest

from engine.capture import action_times, capture_events
from engine.envelope import Event
from projections import parking, queues
from tests.captures import CAPTURE_FILES, check_answer

CAPTURES = CAPTURE_FILES
CHECKED = ("QueueStatus", "ParkedCalls")


def _cases() -> list[tuple[Path, float, str, str]]:
    cases = []
    for path in CAPTURES:
        for t, headers in action_times(path):
            if headers.get("Action") in CHECKED:
                cases.append((path, t, headers["Action"], headers.get("ActionID", "")))
    return cases


CASES = _cases()


def _events(path: Path, until: float | None = None) -> list[Event]:
    return [
        Event(i, e.stream, e.version, e.type, e.recorded_at, e.server, e.data)
        for i, e in enumerate(capture_events(path, until=until))
    ]


def _answer(path: Path, action_id: str) -> list[Event]:
    """The list items of one action's answer, from the whole capture."""
    return [e for e in _events(path) if e.type != "Response" and e.header("ActionID") == action_id]


def test_there_is_something_to_check() -> None:
    assert CAPTURES, "no captures found"
    assert {action for _, _, action, _ in CASES} == set(CHECKED)


@pytest.mark.parametrize(
    ("path", "t", "action", "action_id"),
    CASES,
    ids=[f"{p.stem}-{aid}" for p, _, _, aid in CASES],
)
def test_projection_matches_asterisks_answer(
    path: Path, t: float, action: str, action_id: str
) -> None:
    events = _events(path, until=t)
    assert all(e.header("ActionID") != action_id for e in events), "cut after the answer"
    answer = _answer(path, action_id)
    assert answer, "the capture holds no answer to this action"
    assert answer[-1].type.endswith("Complete")

    module = queues if action == "QueueStatus" else parking
    state = module.initial()
    for event in events:
        module.apply(state, event)
    check_answer(action, [e.data for e in answer], lambda view: module.VIEWS[view](state, 0.0),
                 set())


def _all_events() -> list[Event]:
    out: list[Event] = []
    for path in CAPTURES:
        for e in capture_events(path):
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
    events = _all_events() * 100
    state, apply = module.initial(), module.apply
    start = time.perf_counter()
    for event in events:
        apply(state, event)
    rate = len(events) / (time.perf_counter() - start)
    assert rate > 400_000, f"{module.NAME}: {rate:,.0f} events/s"
