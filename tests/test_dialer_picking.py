"""Picking the customer and the number (seed 5.4), against a brute-force reading of the rules,
for any list (hypothesis): fewest total tries first, the lowest qualifying number, tries below
`max_retry_cnt_N`, `retry_delay` respected, do-not-call numbers and entries being dialed skipped,
answered customers never again.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.dialer import dls, dncs, picking, schedule
from engine.values import iso

NOW = 1_800_000_000.0
NUMBERS = [f"55{n:02d}" for n in range(12)]
ZONES = [None, "UTC", "America/New_York", "Asia/Kolkata"]


@st.composite
def lists(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, dict[str, Any]], set[str],
                                    set[str]]:
    plan = {"retry_delay": draw(st.integers(0, 120)), "dial_timeout": 30000}
    if draw(st.booleans()):  # a call window, open or not depending on the customer's zone
        start = draw(st.integers(0, 23))
        plan["call_time_start"] = f"{start:02d}:00:00"
        plan["call_time_end"] = f"{(start + draw(st.integers(1, 12))) % 24:02d}:00:00"
    for n in range(1, 9):
        plan[f"max_retry_cnt_{n}"] = draw(st.integers(0, 3))
    entries = {}
    for i in range(draw(st.integers(0, 25))):
        dl: dict[str, Any] = {"uuid": f"dl-{i}", "dlma_uuid": "m", "in_use": 1,
                              "status": draw(st.sampled_from([0, 0, 0, 1, 2])),
                              "res_dial": draw(st.sampled_from([0, 0, 0, 3, 4, 5]))}
        for n in range(1, 9):
            dl[f"number_{n}"] = draw(st.none() | st.sampled_from(NUMBERS)) if n <= 3 else None
            dl[f"trycnt_{n}"] = draw(st.integers(0, 4)) if n <= 3 else 0
        dl["timezone"] = draw(st.sampled_from(ZONES))
        ago = draw(st.none() | st.floats(0, 300))
        dl["tm_last_hangup"] = None if ago is None else iso(NOW - ago)
        entries[dl["uuid"]] = dl
    blocked = draw(st.sets(st.sampled_from(NUMBERS), max_size=4))
    busy = draw(st.sets(st.sampled_from(sorted(entries) or ["none"]), max_size=3))
    return plan, entries, blocked, busy


def eligible(plan: dict[str, Any], dl: dict[str, Any], blocked: set[str],
             busy: set[str]) -> bool:
    if not dls.pickable(dl) or dl["uuid"] in busy:
        return False
    if picking.qualifying_index(dl, plan, lambda n: n in blocked) is None:
        return False
    t = dls.hangup_time(dl)
    return (t is None or NOW - t > plan["retry_delay"]) and window_open(plan, dl)


def window_open(plan: dict[str, Any], dl: dict[str, Any]) -> bool:
    return schedule.call_window(plan, dl.get("timezone"), NOW)[0]


def waits_until(plan: dict[str, Any], dl: dict[str, Any]) -> float | None:
    """When a qualifying entry that is not eligible now may be looked at again: once its
    retry delay is over and its window (closed now) has opened."""
    t = dls.hangup_time(dl)
    due = t + plan["retry_delay"] if t is not None and NOW - t <= plan["retry_delay"] else None
    open_now, opens_at = schedule.call_window(plan, dl.get("timezone"), NOW)
    if open_now or opens_at is None:
        return due
    return opens_at if due is None else max(due, opens_at)


@settings(max_examples=300, deadline=None)
@given(lists(), st.permutations(range(25)))
def test_the_pick_follows_the_rules(case: Any, order: list[int]) -> None:
    plan, entries, blocked, busy = case
    index: dict = {}
    where: dict = {}
    for i in order:  # any order of events builds the same picking order
        if f"dl-{i}" in entries:
            dls.index_put(index, where, entries[f"dl-{i}"])
    scan = picking.scan(index.get("m", {}), entries, plan, NOW,
                        blocked=lambda n: dncs.normalize(n) in blocked, busy=busy)
    candidates = [dl for dl in entries.values() if eligible(plan, dl, blocked, busy)]
    if not candidates:
        assert scan.pick is None
    else:
        assert scan.pick is not None
        chosen = entries[scan.pick.dl_uuid]
        assert chosen in candidates
        fewest = min(dls.total_tries(d) for d in candidates)
        assert dls.total_tries(chosen) == fewest
        assert dls.hangup_key(dls.hangup_time(chosen)) == min(  # the longest wait first
            dls.hangup_key(dls.hangup_time(d)) for d in candidates
            if dls.total_tries(d) == fewest)
        n = scan.pick.index
        assert chosen[f"number_{n}"] == scan.pick.number and scan.pick.number not in blocked
        assert chosen[f"trycnt_{n}"] < plan[f"max_retry_cnt_{n}"]
        assert scan.pick.trycnt == chosen[f"trycnt_{n}"] + 1
        assert all(not chosen[f"number_{k}"] or chosen[f"number_{k}"] in blocked
                   or chosen[f"trycnt_{k}"] >= plan[f"max_retry_cnt_{k}"] for k in range(1, n))
    waiting = [waits_until(plan, dl) for dl in entries.values()
               if dls.pickable(dl) and dl["uuid"] not in busy
               and picking.qualifying_index(dl, plan, lambda n: n in blocked) is not None
               and not eligible(plan, dl, blocked, busy)]
    if scan.pick is None:
        assert scan.next_due == min([w for w in waiting if w is not None], default=None)
        dialable_later = bool(waiting) or any(
            u in where and u in entries and where[u] == dls.place_of(entries[u]) for u in busy)
        assert scan.remaining == dialable_later


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 23), st.integers(1, 12),
       st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
       st.floats(0, 365 * 86400))
def test_call_window_in_the_customers_time_zone(start_h: int, hours: int, tz: str,
                                                offset: float) -> None:
    plan = {"retry_delay": 0, "call_time_start": f"{start_h:02d}:00:00",
            "call_time_end": f"{(start_h + hours) % 24:02d}:00:00",
            **{f"max_retry_cnt_{n}": 5 for n in range(1, 9)}}
    now = NOW + offset
    dl = {"uuid": "a", "dlma_uuid": "m", "in_use": 1, "status": 0, "res_dial": 0,
          "timezone": tz, "number_1": "1", "trycnt_1": 0, "tm_last_hangup": None}
    scan = picking.scan({"0": {dls.group_of(dl): [[0.0, "a"]]}}, {"a": dl}, plan, now,
                        blocked=lambda n: False)
    open_now, opens_at = schedule.call_window(plan, tz, now)
    assert (scan.pick is not None) == open_now
    if not open_now:
        assert opens_at is not None and opens_at > now and scan.next_due == opens_at
        assert schedule.call_window(plan, tz, opens_at)[0]
        assert not schedule.call_window(plan, tz, (now + opens_at) / 2)[0]


def test_an_answered_customer_is_never_picked_again() -> None:
    dl = {"uuid": "a", "dlma_uuid": "m", "in_use": 1, "status": 0, "res_dial": 4,
          "number_1": "1", "trycnt_1": 1}
    index: dict = {}
    dls.index_put(index, {}, dl)
    assert index == {}


def test_the_index_keeps_each_bucket_in_hangup_order() -> None:
    index: dict = {}
    where: dict = {}
    for uuid, t in (("a", 30.0), ("b", 10.0), ("c", None), ("d", 20.0)):
        dls.index_put(index, where, {"uuid": uuid, "dlma_uuid": "m", "in_use": 1, "status": 0,
                                     "res_dial": 0, "number_1": "5", "trycnt_1": 1,
                                     "tm_last_hangup": iso(t) if t else None})
    assert [uuid for _, uuid in index["m"]["1"]["|1:1"]] == ["c", "b", "d", "a"]
    dls.index_put(index, where, {"uuid": "b", "dlma_uuid": "m", "in_use": 1, "status": 1,
                                 "res_dial": 0, "number_1": "5", "trycnt_1": 1})
    assert [uuid for _, uuid in index["m"]["1"]["|1:1"]] == ["c", "d", "a"]
    assert "b" not in where


def test_a_closed_window_and_a_retry_delay_wake_the_picker_at_the_later_of_the_two() -> None:
    """A customer whose window opens in 30 s but who hung up 10 s ago with a 120 s retry delay
    is next looked at in 110 s, and one whose delay is over at the opening."""
    now = 1_800_003_570.0  # 30 s before a full hour, UTC
    opening = now + 30
    hour = int(opening // 3600 % 24)
    plan = {"retry_delay": 120, "call_time_start": f"{hour:02d}:00:00",
            "call_time_end": f"{(hour + 1) % 24:02d}:00:00",
            **{f"max_retry_cnt_{n}": 5 for n in range(1, 9)}}
    for ago, wake in ((10.0, now - 10 + 120), (500.0, opening)):
        dl = {"uuid": "a", "dlma_uuid": "m", "in_use": 1, "status": 0, "res_dial": 0,
              "timezone": "UTC", "number_1": "1", "trycnt_1": 1,
              "tm_last_hangup": iso(now - ago)}
        index: dict = {}
        dls.index_put(index, {}, dl)
        scan = picking.scan(index["m"], {"a": dl}, plan, now, blocked=lambda n: False)
        assert scan.pick is None and scan.remaining
        assert scan.next_due == wake


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.sampled_from([0, 0, 1, 2]), st.integers(0, 2),
                          st.none() | st.integers(0, 5)), max_size=60))
def test_any_history_of_changes_leaves_the_index_as_the_final_entries_build_it(
        changes: list[tuple[int, int, int, int | None]]) -> None:
    """Entries paused, resumed, retried and hung up in any order: the index is the one built
    from scratch from where they ended, each group sorted, `where` pointing at every entry."""
    index: dict = {}
    where: dict = {}
    final: dict[str, dict[str, Any]] = {}
    for i, status, tries, hung_up in changes:
        dl = {"uuid": f"dl-{i}", "dlma_uuid": "m", "in_use": 1, "status": status,
              "res_dial": 0, "number_1": "1", "trycnt_1": tries,
              "tm_last_hangup": None if hung_up is None else iso(NOW - hung_up)}
        dls.index_put(index, where, dl)
        final[dl["uuid"]] = dl
    fresh: dict = {}
    fresh_where: dict = {}
    for dl in final.values():
        dls.index_put(fresh, fresh_where, dl)
    assert index == fresh and where == fresh_where
    for groups in index.get("m", {}).values():
        for entries in groups.values():
            assert entries == sorted(entries) and entries
    for uuid, place in where.items():
        assert dls.indexed(index[place[0]][place[1]][place[2]], place[3], uuid) is not None
