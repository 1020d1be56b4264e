"""When a campaign may run (seed 5.5, `sc_*` fields) and when a customer may be called (beyond
the seed: the plan's `call_time_start`/`call_time_end` in the dl's `timezone`).

Pure functions of a campaign (or plan) and the time, passed in as epoch seconds. `matches` is the
seed's rule, checked in the seed's order; `next_change` is the next instant at which it may
change, which is when the dialer's timer is set (no polling): a time-window boundary or a UTC
midnight (dates and weekdays change there). Times are whole seconds, `sc_time_end` inclusive
(the seed compares `hh:mm:ss` strings). Beyond the seed, a window whose start is after its end
runs overnight (22:00:00-06:00:00); the seed's rule would never match it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY = 86_400


def parse_time(text: Any) -> int | None:
    """`hh:mm:ss` (or `hh:mm`) to seconds since midnight; None when absent or malformed."""
    if not isinstance(text, str):
        return None
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        return None
    h, m = int(parts[0]), int(parts[1])
    s = int(parts[2]) if len(parts) == 3 else 0
    if h > 23 or m > 59 or s > 59:
        return None
    return h * 3600 + m * 60 + s


def parse_date(text: Any) -> date | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def parse_dates(text: Any) -> frozenset[date] | None:
    """`YYYY-MM-DD, YYYY-MM-DD, ...`; None when unset; raises ValueError on a bad item."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    out = set()
    for item in str(text).split(","):
        if not item.strip():
            continue
        parsed = parse_date(item)
        if parsed is None:
            raise ValueError(f"not a YYYY-MM-DD date: {item.strip()!r}")
        out.add(parsed)
    return frozenset(out)


def parse_days(text: Any) -> frozenset[int] | None:
    """`0, 1, 3` (0 = Sunday ... 6 = Saturday); None when unset; ValueError on a bad item."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    out = set()
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit() or int(item) > 6:
            raise ValueError(f"not a weekday 0-6: {item!r}")
        out.add(int(item))
    return frozenset(out)


def in_window(start: int | None, end: int | None, second: int) -> bool:
    if start is not None and end is not None and start > end:
        return second >= start or second <= end
    return (start is None or second >= start) and (end is None or second <= end)


@functools.lru_cache(maxsize=64)
def _campaign_rule(sc: tuple[Any, ...]) -> tuple[Any, ...]:
    time_start, time_end, date_start, date_end, dates, excluded, days = sc
    return (parse_time(time_start), parse_time(time_end), parse_date(date_start),
            parse_date(date_end), parse_dates(dates), parse_dates(excluded), parse_days(days))


def _rule(campaign: Mapping[str, Any]) -> tuple[Any, ...]:
    return _campaign_rule((
        campaign.get("sc_time_start"), campaign.get("sc_time_end"),
        campaign.get("sc_date_start"), campaign.get("sc_date_end"),
        campaign.get("sc_date_list"), campaign.get("sc_date_list_except"),
        campaign.get("sc_day_list"),
    ))


def seed_weekday(day: date) -> int:
    """The seed's weekday numbering: 0 = Sunday ... 6 = Saturday."""
    return (day.weekday() + 1) % 7


def matches(campaign: Mapping[str, Any], now: float) -> bool:
    """The seed's schedule rule at `now` (UTC): excluded dates, then listed dates, then the date
    range, the weekdays and the time window together."""
    t_start, t_end, d_start, d_end, dates, excluded, days = _rule(campaign)
    moment = datetime.fromtimestamp(math.floor(now), UTC)  # whole seconds, never rounded up
    today = moment.date()
    if excluded and today in excluded:
        return False
    if dates and today in dates:
        return True
    if d_start is not None and today < d_start:
        return False
    if d_end is not None and today > d_end:
        return False
    if days is not None and seed_weekday(today) not in days:
        return False
    second = moment.hour * 3600 + moment.minute * 60 + moment.second
    return in_window(t_start, t_end, second)


def next_change(campaign: Mapping[str, Any], now: float) -> float:
    """The first instant after `now` at which `matches` may give another answer."""
    t_start, t_end, *_ = _rule(campaign)
    midnight = (int(now) // DAY + 1) * DAY
    candidates = [float(midnight)]
    base = int(now) // DAY * DAY
    for boundary in (t_start, None if t_end is None else t_end + 1):
        if boundary is None:
            continue
        at = base + boundary
        if at <= now:
            at += DAY
        candidates.append(float(at))
    return min(candidates)


# -- the customer's local call window (beyond the seed) -------------------------------------------


@functools.lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def call_window(plan: Mapping[str, Any], timezone: str | None, now: float,
                default_timezone: str = "UTC") -> tuple[bool, float | None]:
    """Whether the customer may be called now in their own time zone, and if not, when next.

    The window is the plan's `call_time_start`..`call_time_end` (inclusive, overnight when start
    is after end) in `timezone` (the dl's; else `default_timezone`)."""
    start, end = parse_time(plan.get("call_time_start")), parse_time(plan.get("call_time_end"))
    if start is None and end is None:
        return True, None
    tz = zone(timezone or default_timezone) or UTC
    local = datetime.fromtimestamp(math.floor(now), tz)
    second = local.hour * 3600 + local.minute * 60 + local.second
    if in_window(start, end, second):
        return True, None
    opens_at = start if start is not None else 0
    day = local.date() if second < opens_at else local.date() + timedelta(days=1)
    hh, rest = divmod(opens_at, 3600)
    mm, ss = divmod(rest, 60)
    opening = datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=tz)
    # A local time skipped by a DST change does not exist: the round trip through UTC lands on
    # the instant just after the gap, which is when the window really opens.
    return False, max(opening.astimezone(UTC).timestamp(), now + 1.0)
