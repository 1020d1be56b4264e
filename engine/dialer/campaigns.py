"""Campaign: why a list is dialed; it ties a plan, a destination and a dial list master
together and carries the status and the schedule (seed 3.9, 5.5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.dialer import codes, schedule
from engine.dialer.objects import Field, Invalid, common

FIELDS: list[Field] = [
    *common(),
    Field("status", "int", codes.CAMPAIGN_STOP, nullable=False),
    Field("plan", "str"),
    Field("dlma", "str"),
    Field("dest", "str"),
    Field("variables", "vars"),
    Field("next_campaign", "str"),
    Field("sc_mode", "int", 0, nullable=False),  # 0 = off, 1 = on (jade's source; see README)
    Field("sc_time_start", "str"),
    Field("sc_time_end", "str"),
    Field("sc_date_start", "str"),
    Field("sc_date_end", "str"),
    Field("sc_date_list", "str"),
    Field("sc_date_list_except", "str"),
    Field("sc_day_list", "str"),
]

REFERENCES = {"plan": "plan", "dest": "destination", "dlma": "dlma",
              "next_campaign": "campaign"}
NEEDED_TO_START = ("plan", "dest", "dlma")  # how, who answers, whom: a start without one is a 400

SC_OFF, SC_ON = 0, 1


def check(campaign: Mapping[str, Any]) -> None:
    if campaign["sc_mode"] not in (SC_OFF, SC_ON):
        raise Invalid("sc_mode: must be 0 (scheduling off) or 1 (on)")
    for name in ("sc_time_start", "sc_time_end"):
        if campaign.get(name) is not None and schedule.parse_time(campaign[name]) is None:
            raise Invalid(f"{name}: expected hh:mm:ss, got {campaign[name]!r}")
    for name in ("sc_date_start", "sc_date_end"):
        if campaign.get(name) is not None and schedule.parse_date(campaign[name]) is None:
            raise Invalid(f"{name}: expected YYYY-MM-DD, got {campaign[name]!r}")
    for name in ("sc_date_list", "sc_date_list_except"):
        try:
            schedule.parse_dates(campaign.get(name))
        except ValueError as exc:
            raise Invalid(f"{name}: {exc}") from None
    try:
        schedule.parse_days(campaign.get("sc_day_list"))
    except ValueError as exc:
        raise Invalid(f"sc_day_list: {exc}") from None


# A client's write that asks for what the campaign is already doing, or has done, changes
# nothing: a stop of a stopped (or stopping) campaign, a start of a started (or starting) one...
_ALREADY = {
    codes.CAMPAIGN_STOP: {codes.CAMPAIGN_STOP, codes.CAMPAIGN_STOPPING,
                          codes.CAMPAIGN_STOPPING_FORCED},
    codes.CAMPAIGN_START: {codes.CAMPAIGN_START, codes.CAMPAIGN_STARTING},
    codes.CAMPAIGN_PAUSE: {codes.CAMPAIGN_PAUSE, codes.CAMPAIGN_PAUSING},
    codes.CAMPAIGN_STOPPING_FORCED: {codes.CAMPAIGN_STOP, codes.CAMPAIGN_STOPPING_FORCED},
}


def client_status(value: Any, current: int = codes.CAMPAIGN_STOP) -> int:
    """The status a client's write makes of a campaign now in `current` (`codes.CLIENT_STATUS`;
    `current` itself when it asks for what the campaign already is or is becoming), or
    Invalid: a stopped campaign has nothing to pause."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in codes.CLIENT_STATUS:
        raise Invalid(f"status: a client may write 0 (stop), 1 (start), 2 (pause) or "
                      f"30 (stop forcedly), not {value!r}")
    if current in _ALREADY[value]:
        return current
    if value == codes.CAMPAIGN_PAUSE and current in (codes.CAMPAIGN_STOP,
                                                    codes.CAMPAIGN_STOPPING,
                                                    codes.CAMPAIGN_STOPPING_FORCED):
        raise Invalid(f"status: campaign is {codes.CAMPAIGN_STATUSES[current]}: there is "
                      "nothing to pause (start it, or stop it)")
    return codes.CLIENT_STATUS[value]
