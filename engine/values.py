"""Pure value helpers shared by the projections and the dialer: the seed's timestamp text, and
AMI numbers that are always usable.

A leaf module on purpose: it imports nothing from `projections/` or `engine/dialer/`. The
projections package loads `projections.dialings` and `projections.results`, which need
`engine.dialer.objects` and `engine.dialer.dialings` fully loaded, so those dialer modules cannot
import `projections.base` without a cycle. Both import these helpers from here instead, and
`projections/base.py` re-exports them under the same names.

AMI values are text, and sometimes junk (`Penalty: unknown`, `NaN`, a header repeated into a
list): `to_int` and `to_float` never raise, so bad input cannot stop or poison a fold.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import overload

MAX_EPOCH = 32503680000.0  # 3000-01-01T00:00:00Z: no clock shows a later event
INT64 = 1 << 63  # AMI numbers are C ints; beyond int64 nothing (Parquet, bigint) holds them


def iso(t: float | None) -> str | None:
    """Epoch seconds as the seed's UTC timestamp (9 fractional digits, `Z`); None for no time."""
    if t is None or not 0.0 <= t < MAX_EPOCH:
        return None
    dt = datetime.fromtimestamp(t, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond:06d}000Z"


@overload
def to_int(value: object) -> int | None: ...
@overload
def to_int(value: object, default: int) -> int: ...
@overload
def to_int(value: object, default: None) -> int | None: ...


def to_int(value: object, default: int | None = None) -> int | None:
    """An AMI number as an int, else `default`.

    Accepts what Asterisk prints for numbers ("7", "7.0"; a fraction is cut toward zero, "7.9"
    -> 7) and a repeated header's first value; junk ("", "unknown", NaN, infinities, beyond
    int64) gives `default`."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            real = to_float(value)
            if real is None:
                return default
            number = int(real)
    elif isinstance(value, float) and math.isfinite(value):
        number = int(value)
    else:
        return default
    return number if -INT64 <= number < INT64 else default


@overload
def to_float(value: object) -> float | None: ...
@overload
def to_float(value: object, default: float) -> float: ...
@overload
def to_float(value: object, default: None) -> float | None: ...


def to_float(value: object, default: float | None = None) -> float | None:
    """An AMI decimal (`ServicelevelPerf: 66.7`, `CoreMaxLoadAvg: 0.000000`) as a finite float,
    else `default`: NaN and infinities are junk too (NaN is not JSON)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, (int, float, str)):
        return default
    try:
        real = float(value)
    except (ValueError, OverflowError):  # "x"; an int beyond any float
        return default
    return real if math.isfinite(real) else default


MIN_EPOCH_NUMBER = 946684800.0  # 2000-01-01T00:00:00Z as epoch seconds (see parse_instant)
_INSTANT_HELP = ("a time: ISO 8601 such as 2026-11-22T15:33:07Z (naive meaning UTC; the seed's "
                 "9-digit fractions accepted), from 1970 to 3000, or epoch seconds such as "
                 "1795361587.0, from 2000")


def parse_instant(text: str) -> float:
    """A time a client gives (`?since=`, `?at=`, `--at`) as epoch seconds; ValueError saying
    what is accepted. Epoch seconds before 2000 are refused: `-5` or `1.5` is a slip (a
    position meant, a sign typed), not a moment anyone means; an ISO date says what it means
    and may be any time from 1970 to 3000."""
    text = text.strip()
    try:
        value = float(text)
        lowest = MIN_EPOCH_NUMBER
    except ValueError:
        lowest = 0.0
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text[:64]!r} is not {_INSTANT_HELP}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            value = moment.timestamp()
        except (OverflowError, ValueError):  # year 1 minus an offset
            value = math.nan
    if not (math.isfinite(value) and lowest <= value < MAX_EPOCH):
        raise ValueError(f"{text[:64]!r} is not {_INSTANT_HELP}")
    return value
