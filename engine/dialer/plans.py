"""Plan: how and when a campaign dials (seed 3.9, 5.2): technology and trunk, dial mode, ring
timeout, retries per number, caller id, service level, variables.

Beyond the seed: `call_time_start`/`call_time_end` bound calls to the customer's local time (the
dl's `timezone`), and `abandon_target` overrides the configured abandon-rate target of the
adaptive predictive mode (`dial_mode` 6).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.dialer import codes, schedule
from engine.dialer.objects import Field, Invalid, common

NUMBERS = range(1, 9)  # number_1 .. number_8 and their max_retry_cnt_N

FIELDS: list[Field] = [
    *common(),
    Field("tech_name", "str", "SIP"),
    Field("trunk_name", "str"),
    Field("dial_mode", "int", codes.DIAL_MODE_NONE, nullable=False),
    Field("dial_timeout", "int", 30000, nullable=False),  # ms
    Field("dl_end_handle", "int", 1, nullable=False),
    Field("retry_delay", "int", 60, nullable=False),  # seconds
    Field("caller_id", "str"),
    Field("service_level", "int", 0, nullable=False),
    Field("early_media", "str"),
    Field("codecs", "str"),
    Field("variables", "vars"),
    *[Field(f"max_retry_cnt_{n}", "int", 5, nullable=False) for n in NUMBERS],
    Field("call_time_start", "str"),
    Field("call_time_end", "str"),
    Field("abandon_target", "float"),
]


def check(plan: Mapping[str, Any]) -> None:
    """Refuse values the dialer could not use (400 on POST/PUT)."""
    if plan["dial_mode"] not in codes.DIAL_MODES:
        raise Invalid(f"dial_mode: {plan['dial_mode']} is not one of {sorted(codes.DIAL_MODES)}")
    if plan["dial_timeout"] <= 0:
        raise Invalid("dial_timeout: must be > 0 ms")
    if plan["retry_delay"] < 0:
        raise Invalid("retry_delay: must be >= 0 seconds")
    if plan["dl_end_handle"] not in (0, 1):
        raise Invalid("dl_end_handle: must be 0 (keep running) or 1 (stop the campaign)")
    for n in NUMBERS:
        if plan[f"max_retry_cnt_{n}"] < 0:
            raise Invalid(f"max_retry_cnt_{n}: must be >= 0")
    for name in ("call_time_start", "call_time_end"):
        if plan.get(name) is not None and schedule.parse_time(plan[name]) is None:
            raise Invalid(f"{name}: expected hh:mm:ss, got {plan[name]!r}")
    target = plan.get("abandon_target")
    if target is not None and not 0 < target < 100:
        raise Invalid("abandon_target: a percentage between 0 and 100")


def dial_channel(plan: Mapping[str, Any], number: str) -> str:
    """`<tech_name>/<number>[@<trunk_name>]` (jade's source)."""
    tech = plan.get("tech_name") or "SIP"
    trunk = plan.get("trunk_name")
    return f"{tech}/{number}@{trunk}" if trunk else f"{tech}/{number}"


def max_retry(plan: Mapping[str, Any], index: int) -> int:
    return int(plan.get(f"max_retry_cnt_{index}", 5))
