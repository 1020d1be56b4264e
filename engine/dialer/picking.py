"""Which customer, and which of their numbers, to dial next (seed 5.4).

Eligible: idle, never answered, with a number `number_N` whose tries are below the plan's
`max_retry_cnt_N`, not on a do-not-call list, whose last hangup is more than `retry_delay`
seconds ago, and inside the plan's call window in the customer's time zone. Among those, the
fewest total tries first; the number is the lowest qualifying N; this attempt's count is
`trycnt_N + 1`.

jade took the entry with the fewest tries and, if its retry delay had not passed, dialed nobody
that tick; here such an entry is skipped and the next one is considered, so one customer waiting
for a retry never holds up the rest of the list.

A pure function of the picking index (`dls.index_put` keeps it), the entries, the plan and the
time. Besides the pick, the scan reports when a skipped entry becomes dialable (the timer is set
then) and whether anything is left to dial later (if not, the list has ended).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from typing import Any

from engine.dialer import schedule
from engine.dialer.plans import NUMBERS, max_retry

Blocked = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Pick:
    dl_uuid: str
    index: int  # dial_index: which number_N
    number: str
    trycnt: int  # dial_trycnt: this attempt's count


@dataclass(frozen=True, slots=True)
class Scan:
    pick: Pick | None
    next_due: float | None  # when a skipped entry may be dialed (retry delay, call window)
    remaining: bool  # some entry may still be dialed, now or later


def qualifying_index(dl: Mapping[str, Any], plan: Mapping[str, Any],
                     blocked: Blocked) -> int | None:
    """The lowest N with a number, tries left under the plan, and not on a do-not-call list."""
    for n in NUMBERS:
        number = dl.get(f"number_{n}")
        if not number:
            continue
        if int(dl.get(f"trycnt_{n}") or 0) >= max_retry(plan, n):
            continue
        if blocked(number):
            continue
        return n
    return None


def scan(index: Mapping[str, Mapping[str, float | None]], dls: Mapping[str, Mapping[str, Any]],
         plan: Mapping[str, Any], now: float, *, blocked: Blocked,
         busy: Container[str] = (), default_timezone: str = "UTC") -> Scan:
    """Pick from one dlma's index (`{total tries: {dl uuid: last hangup}}`).

    `busy` holds entries already decided but not yet seen in the projection: never picked
    again, and counted as remaining (their call may fail and need a retry).
    """
    retry_delay = float(plan.get("retry_delay") or 0)
    next_due: float | None = None
    remaining = False
    for tries in sorted(index, key=int):
        bucket = index[tries]
        for uuid, hung_up_at in bucket.items():
            if uuid in busy:
                remaining = True
                continue
            dl = dls.get(uuid)
            if dl is None:
                continue
            n = qualifying_index(dl, plan, blocked)
            if n is None:
                continue  # exhausted (or every number barred): never dialable again
            remaining = True
            if hung_up_at is not None and now - hung_up_at <= retry_delay:
                due = hung_up_at + retry_delay
                next_due = due if next_due is None else min(next_due, due)
                break  # the bucket is sorted by hangup time: the rest are not due either
            open_now, opens_at = schedule.call_window(plan, dl.get("timezone"), now,
                                                      default_timezone)
            if not open_now:
                if opens_at is not None:
                    next_due = opens_at if next_due is None else min(next_due, opens_at)
                continue
            number = str(dl[f"number_{n}"])
            pick = Pick(uuid, n, number, int(dl.get(f"trycnt_{n}") or 0) + 1)
            return Scan(pick, next_due, True)
    return Scan(None, next_due, remaining)
