"""Picking benchmark: how long the dialer takes to choose the next customer, by list size and by
how far the campaign has gone.

The dialer picks on its log writer's thread after every commit that may change a decision, so
a pick that walks the list holds up the log. This times `engine.dialer.picking.scan` on the
picking index the `dialings` projection keeps (`engine.dialer.dls`), against a baseline in the
same run: the walk entry by entry, in (tries, hangup) order, that the index replaced (the
brute-force reading of the rules the tests check the picker against).

Lists of 10,000 and 100,000 entries, one or two numbers each, customers in four time zones
(one of them outside the plan's call window), at three moments of a campaign:
- start: nobody dialed yet;
- middle: half the list tried once or twice, some of them waiting for their retry delay;
- end: 95 % exhausted (no tries left under the plan), the rest waiting for their retry delay:
  nothing to dial now, which is exactly when every freed agent asks for a pick.

And an entry paused and resumed (its status 2, then 0 again) among tried entries: how long
putting it back in the index takes.

    python scripts/bench_picking.py [--picks 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.dialer import dls, picking, schedule  # noqa: E402
from engine.values import iso  # noqa: E402

NOW = 1_800_000_000.0  # 08:00 UTC
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]  # New York: 03:00, closed
PLAN = {"retry_delay": 600, "call_time_start": "07:00:00", "call_time_end": "21:00:00",
        **{f"max_retry_cnt_{n}": 2 for n in range(1, 9)}}


def build(size: int, moment: str, rng: random.Random) -> dict[str, dict[str, Any]]:
    entries = {}
    for i in range(size):
        dl: dict[str, Any] = {"uuid": f"dl-{i:06d}", "dlma_uuid": "m", "in_use": 1,
                              "status": 0, "res_dial": 0, "timezone": rng.choice(ZONES),
                              "number_1": f"+1555{i:07d}", "trycnt_1": 0,
                              "tm_last_hangup": None}
        if i % 3 == 0:
            dl["number_2"], dl["trycnt_2"] = f"+1666{i:07d}", 0
        tried = (moment == "middle" and i % 2 == 0) or moment == "end"
        if tried:
            for n in (1, 2):
                if dl.get(f"number_{n}"):
                    dl[f"trycnt_{n}"] = 2 if moment == "end" else rng.randint(1, 2)
            if moment == "end" and i % 20 == 0:
                dl["trycnt_1"] = 1  # one try left, after the retry delay
            ago = rng.uniform(0, 300) if (moment == "end" and i % 20 == 0) else rng.uniform(
                0, 3600)
            dl["tm_last_hangup"] = iso(NOW - ago)
            dl["res_dial"] = 3
        entries[dl["uuid"]] = dl
    return entries


def flat_scan(entries: Mapping[str, Mapping[str, Any]], order: list[str],
              plan: Mapping[str, Any], now: float) -> str | None:
    """The baseline: every entry in turn, each asked the seed's questions."""
    for uuid in order:
        dl = entries[uuid]
        if picking.qualifying_index(dl, plan, lambda _: False) is None:
            continue
        t = dls.hangup_time(dl)
        if t is not None and now - t <= plan["retry_delay"]:
            continue
        if not schedule.call_window(plan, dl.get("timezone"), now)[0]:
            continue
        return uuid
    return None


def timed(fn: Callable[[], Any], picks: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(picks):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return times, result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def case(size: int, moment: str, rng: random.Random, picks: int) -> str:
    """One table row: the index's pick and the baseline walk's, timed on the same list."""
    entries = build(size, moment, rng)
    index: dict = {}
    where: dict = {}
    # In hangup order, as the projection meets them in the log.
    for dl in sorted(entries.values(), key=lambda d: dls.hangup_key(dls.hangup_time(d))):
        dls.index_put(index, where, dl)
    order = sorted((u for u in entries if dls.pickable(entries[u])), key=lambda u: (
        dls.total_tries(entries[u]), dls.hangup_key(dls.hangup_time(entries[u]))))
    ours, scan = timed(lambda: picking.scan(index.get("m", {}), entries, PLAN, NOW,
                                            blocked=lambda _: False), picks)
    theirs, flat = timed(lambda: flat_scan(entries, order, PLAN, NOW),
                         max(5, picks // (20 if size > 10_000 else 4)))
    pick = scan.pick.dl_uuid if scan.pick else None
    same = (pick is None) == (flat is None) and (pick is None or (
        dls.total_tries(entries[pick]) == dls.total_tries(entries[flat])))
    return row(size, moment, ours, theirs, "yes" if same else "NO")


def resume_case(size: int, rng: random.Random, picks: int) -> str:
    """An entry paused and resumed in a group of `size` tried entries: back in its place in
    the index (bisection) against the baseline, a group kept as a dict in hangup order and
    re-sorted whenever an entry comes back out of order, as the index did before."""
    entries = [{"uuid": f"dl-{i:06d}", "dlma_uuid": "m", "in_use": 1, "status": 0,
                "res_dial": 3, "number_1": "1", "trycnt_1": 1,
                "tm_last_hangup": iso(NOW - size + i)} for i in range(size)]
    index: dict = {}
    where: dict = {}
    group: dict[str, float] = {}
    for dl in entries:
        dls.index_put(index, where, dl)
        group[dl["uuid"]] = NOW - size + int(dl["uuid"][3:])
    chosen = rng.sample(entries, picks)
    ours, theirs = [], []
    for dl in chosen:
        dls.index_put(index, where, {**dl, "status": 2})
        start = time.perf_counter()
        dls.index_put(index, where, dl)
        ours.append((time.perf_counter() - start) * 1000)
    for dl in chosen[: max(5, picks // (20 if size > 10_000 else 4))]:
        t = group.pop(dl["uuid"])
        start = time.perf_counter()
        if t >= group[next(reversed(group))]:
            group[dl["uuid"]] = t
        else:
            group = dict(sorted([*group.items(), (dl["uuid"], t)], key=lambda item: item[1]))
        theirs.append((time.perf_counter() - start) * 1000)
    return row(size, "an entry resumed", ours, theirs, "")


def row(size: int, what: str, ours: list[float], theirs: list[float], same: str) -> str:
    return (f"| {size:,} | {what} | {pct(ours, .5):.3f} / {pct(ours, .99):.3f} | "
            f"{pct(theirs, .5):.3f} / {pct(theirs, .99):.3f} | "
            f"{statistics.median(theirs) / max(statistics.median(ours), 1e-9):,.1f}x | {same} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--picks", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    print("| entries | moment | index p50 / p99 ms | baseline p50 / p99 ms | speed-up | "
          "same pick |")
    print("|---:|---|---:|---:|---:|---|")
    for size in (10_000, 100_000):
        for moment in ("start", "middle", "end"):
            print(case(size, moment, rng, args.picks), flush=True)
        print(resume_case(size, rng, args.picks), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
