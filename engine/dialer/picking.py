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

import functools
import heapq
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.dialer import schedule
from engine.dialer.dls import indexed
from engine.dialer.dls import place_of as dl_place
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


@functools.lru_cache(maxsize=4096)
def _parse_group(group: str) -> tuple[str | None, tuple[tuple[int, int], ...]]:
    """`dls.group_of`'s key back as (time zone, ((number N, tries), ...))."""
    timezone, _, tries = group.partition("|")
    numbers = tuple((int(n), int(t)) for n, _, t in (x.partition(":") for x in tries.split(",")
                                                      if x))
    return timezone or None, numbers


def scan(index: Mapping[str, Mapping[str, list[list[Any]]]],
         dls: Mapping[str, Mapping[str, Any]], plan: Mapping[str, Any], now: float, *,
         blocked: Blocked, busy: Collection[str] = (), default_timezone: str = "UTC") -> Scan:
    """Pick from one dlma's index (`{total tries: {group: [[last hangup, dl uuid], ...]}}`).

    `busy` holds entries already decided but not yet seen in the projection: never picked
    again, and counted as remaining (their call may fail and need a retry). Within the fewest
    tries, entries are taken in hangup order (the longest ago first) across the groups whose
    window is open; a group without tries left under the plan is passed over whole.
    """
    retry_delay = float(plan.get("retry_delay") or 0)
    next_due: float | None = None
    remaining = _busy_remaining(index, dls, busy)
    windows: dict[str | None, tuple[bool, float | None]] = {}  # time zone -> call window
    for tries in sorted(index, key=int):
        open_groups: list[list[list[Any]]] = []
        for group, entries in index[tries].items():
            timezone, numbers = _parse_group(group)
            if all(t >= max_retry(plan, n) for n, t in numbers):
                continue  # exhausted under this plan: never dialable again
            window = windows.get(timezone)
            if window is None:
                window = windows[timezone] = schedule.call_window(plan, timezone, now,
                                                                  default_timezone)
            open_now, opens_at = window
            if open_now:
                open_groups.append(entries)
                continue
            # The group's first entry that may be dialed once the window opens (hangup order)
            first = next(_qualifying(entries, dls, plan, blocked, busy), None)
            if first is None:
                continue
            remaining = True
            if opens_at is not None:
                due = _reopens(first[0], opens_at, retry_delay)
                next_due = due if next_due is None else min(next_due, due)
        merged = heapq.merge(*open_groups)
        for hung_up_at, uuid, dl, n in _qualifying(merged, dls, plan, blocked, busy):
            remaining = True
            if hung_up_at and now - hung_up_at <= retry_delay:  # 0.0: never hung up
                due = hung_up_at + retry_delay
                next_due = due if next_due is None else min(next_due, due)
                break  # in hangup order: the rest are not due either
            number = str(dl[f"number_{n}"])
            pick = Pick(uuid, n, number, int(dl.get(f"trycnt_{n}") or 0) + 1)
            return Scan(pick, next_due, True)
    return Scan(None, next_due, remaining)


def _qualifying(entries: Iterable[list[Any]], dls: Mapping[str, Mapping[str, Any]],
                plan: Mapping[str, Any], blocked: Blocked, busy: Collection[str]
                ) -> Iterator[tuple[float, str, Mapping[str, Any], int]]:
    """(hangup time, uuid, entry, number N) of the index entries, in their order, that may be
    dialed: not being dialed already, and with a number that has tries left and is not
    barred."""
    for hung_up_at, uuid in entries:
        dl = dls.get(uuid)
        if uuid in busy or dl is None:
            continue
        n = qualifying_index(dl, plan, blocked)
        if n is not None:
            yield float(hung_up_at), uuid, dl, n


def _reopens(hung_up_at: float, opens_at: float, retry_delay: float) -> float:
    """When a closed window's group is next worth a look: the window's opening, or the end of
    its earliest entry's retry delay if that is later (0.0: never hung up, no delay)."""
    return max(opens_at, hung_up_at + retry_delay) if hung_up_at else opens_at


def _busy_remaining(index: Mapping[str, Mapping[str, list[list[Any]]]],
                    dls: Mapping[str, Mapping[str, Any]], busy: Collection[str]) -> bool:
    """An entry being dialed that is in this index: its call may need a retry."""
    for uuid in busy:
        dl = dls.get(uuid)
        if dl is None:
            continue
        _, tries, group, key = dl_place(dl)
        if indexed(index.get(tries, {}).get(group, []), key, uuid) is not None:
            return True
    return False
