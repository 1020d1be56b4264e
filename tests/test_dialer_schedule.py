"""The campaign schedule (seed 5.5) against a literal reading of the seed's rule (UTC strings
compared, in its order), and the timer's promise: nothing changes before `next_change`.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.dialer import campaigns, schedule
from engine.dialer.objects import Invalid

START = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
SPAN = 21 * 86400.0


def hms(seconds: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


days_ = st.dates(date(2026, 2, 25), date(2026, 3, 25))


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, Any]:
    camp: dict[str, Any] = {"sc_mode": 1}
    clock = st.none() | st.integers(0, 86399).map(hms)
    camp["sc_time_start"], camp["sc_time_end"] = draw(clock), draw(clock)
    camp["sc_date_start"] = draw(st.none() | days_.map(str))
    camp["sc_date_end"] = draw(st.none() | days_.map(str))
    listed = st.none() | st.lists(days_, max_size=4).map(lambda ds: ", ".join(map(str, ds)))
    camp["sc_date_list"], camp["sc_date_list_except"] = draw(listed), draw(listed)
    camp["sc_day_list"] = draw(st.none() | st.sets(st.integers(0, 6), max_size=7).map(
        lambda ds: ", ".join(map(str, sorted(ds)))))
    return camp


def seed_rule(camp: dict[str, Any], now: float) -> bool:
    """The seed's words, on strings: today in the except list, then in the date list, then
    date range, weekday (0 = Sunday) and time window together."""
    moment = datetime.fromtimestamp(now, UTC)
    today, clock = moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S")

    def items(text: str | None) -> list[str]:
        return [x.strip() for x in (text or "").split(",") if x.strip()]

    if today in items(camp["sc_date_list_except"]):
        return False
    if today in items(camp["sc_date_list"]):
        return True
    if camp["sc_date_start"] and today < camp["sc_date_start"]:
        return False
    if camp["sc_date_end"] and today > camp["sc_date_end"]:
        return False
    if camp["sc_day_list"] is not None and camp["sc_day_list"].strip():
        if moment.strftime("%w") not in items(camp["sc_day_list"]):
            return False
    start, end = camp["sc_time_start"], camp["sc_time_end"]
    if start and end and start > end:  # beyond the seed: overnight windows
        return clock >= start or clock <= end
    return (not start or start <= clock) and (not end or clock <= end)


@settings(max_examples=400, deadline=None)
@given(schedules(), st.floats(0, SPAN))
def test_matches_is_the_seed_rule(camp: dict[str, Any], offset: float) -> None:
    now = START + offset
    assert schedule.matches(camp, now) == seed_rule(camp, now)


@settings(max_examples=300, deadline=None)
@given(schedules(), st.floats(0, SPAN), st.lists(st.floats(0, 1, exclude_max=True),
                                                   min_size=1, max_size=8))
def test_nothing_changes_before_next_change(camp: dict[str, Any], offset: float,
                                            fractions: list[float]) -> None:
    now = START + offset
    wake = schedule.next_change(camp, now)
    assert now < wake <= (int(now) // 86400 + 1) * 86400
    answer = schedule.matches(camp, now)
    for f in fractions:
        moment = now + (wake - now) * f
        if moment < wake:  # floats near 1.8e9 s have 0.2 us steps: f close to 1 may round up
            assert schedule.matches(camp, moment) == answer


def test_a_window_opens_and_closes_on_its_boundaries() -> None:
    camp = {"sc_time_start": "09:00:00", "sc_time_end": "17:00:00"}
    day = datetime(2026, 3, 2, tzinfo=UTC).timestamp()
    assert not schedule.matches(camp, day + 9 * 3600 - 0.001)
    assert schedule.matches(camp, day + 9 * 3600)
    assert schedule.matches(camp, day + 17 * 3600 + 0.999)  # the end second is inside
    assert not schedule.matches(camp, day + 17 * 3600 + 1)
    assert schedule.next_change(camp, day) == day + 9 * 3600
    assert schedule.next_change(camp, day + 9 * 3600) == day + 17 * 3600 + 1


def test_listed_and_excluded_dates_come_first() -> None:
    monday = datetime(2026, 3, 2, 12, tzinfo=UTC).timestamp()
    weekend_only = {"sc_day_list": "0, 6", "sc_date_list": "2026-03-02"}
    assert schedule.matches(weekend_only, monday)  # listed beats the weekday
    excluded = {"sc_date_list": "2026-03-02", "sc_date_list_except": "2026-03-02"}
    assert not schedule.matches(excluded, monday)
    assert schedule.seed_weekday((datetime(2026, 3, 1, tzinfo=UTC)).date()) == 0  # Sunday
    assert schedule.matches({}, monday + timedelta(days=3).total_seconds())


def test_bad_schedule_values_are_refused() -> None:
    base = {f.name: f.default for f in campaigns.FIELDS}
    for name, value in (("sc_time_start", "25:00:00"), ("sc_date_end", "2026-13-01"),
                        ("sc_day_list", "1, 8"), ("sc_date_list", "2026-01-01, soon"),
                        ("sc_mode", 2)):
        try:
            campaigns.check({**base, name: value})
        except Invalid as exc:
            assert name in str(exc)
        else:
            raise AssertionError(f"{name}={value!r} accepted")
