"""How many calls a campaign may place now (seed 5.3), and the adaptive predictive ratio.

The seed's formula: `(max available) - (current) + (service level)`, dial while it is > 0. The
destination's availability is a queue's free members (NOT_INUSE, not paused, not in a call);
park, extensions and other applications are unlimited in the seed, which in an event-driven
dialer would dial the whole list at once, so they are capped at `unlimited_cap` live dialings.

"Current" is the campaign's dialings still waiting for an agent: ringing, or answered and queued.
jade counted every live dialing, including those already talking to an agent, whose agent the
free-member count already leaves out; counting them twice left agents idle until every call had
ended.

Adaptive predictive (`dial_mode` 6, beyond the seed): the free members are multiplied by a ratio
that aims to make the expected answers match the free agents (1 / answer rate), tapered to 1 as
the abandon rate (answered customers who found no agent within `abandon_after` seconds) nears
its target. At or above the target the ratio is 1: the seed's formula.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MIN_SAMPLES = 20  # finished dialings before the answer rate is trusted
MIN_ANSWER_RATE = 0.05


def seed_available(avail: int | None, service_level: int, current: int,
                   unlimited_cap: int) -> int:
    """Calls to place now; `avail` None means the destination sets no limit."""
    if avail is None:
        return unlimited_cap - current
    return avail + max(service_level, 0) - current


def rates(answers: Sequence[int], waits: Sequence[float], abandon_after: float,
          waiting_too_long: int = 0) -> tuple[float, float, int]:
    """(answer rate, abandon rate, samples).

    `answers` are the last dialings' results as they came (1 answered, 0 not); `waits` the
    answered customers' seconds until an agent took them (-1: never), as each became known;
    `waiting_too_long` the answered customers waiting right now for longer than
    `abandon_after`, already abandoned by definition. Both are recorded when known, not when
    the call ends: a talk of minutes would otherwise hide every abandon for minutes, and a
    window of the calls that ended first would be all failures (they end fast)."""
    answer_rate = sum(answers) / len(answers) if answers else 1.0
    abandoned = sum(1 for w in waits if w < 0 or w > abandon_after) + waiting_too_long
    judged = len(waits) + waiting_too_long
    return answer_rate, abandoned / judged if judged else 0.0, len(answers)


def adaptive_ratio(answers: Sequence[int], waits: Sequence[float], target: float,
                   abandon_after: float, max_ratio: float, waiting_too_long: int = 0) -> float:
    """The dial ratio for the next decisions; `target` is a fraction (0.03 = 3 %)."""
    answer_rate, abandon_rate, samples = rates(answers, waits, abandon_after, waiting_too_long)
    if samples < MIN_SAMPLES or abandon_rate >= target:
        return 1.0
    ideal = min(max_ratio, 1.0 / max(answer_rate, MIN_ANSWER_RATE))
    return 1.0 + (ideal - 1.0) * (1.0 - abandon_rate / target)


def adaptive_available(free: int, ratio: float, service_level: int, current: int) -> int:
    return math.floor(free * ratio + 1e-9) + max(service_level, 0) - current
