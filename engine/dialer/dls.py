"""Dial list entry (dl): one customer, up to eight numbers, and what dialing them has done so
far (seed 3.9): tries per number, the last results, when they were last dialed and hung up.

The dialer's own changes arrive as `DialingCreated`/`DialingEnded` in the entry's stream.

`index_*` maintain the picking order the projection keeps (5.4: fewest tries first): per dlma,
buckets keyed by total tries, each an insertion-ordered dict `{dl uuid: last hangup epoch or
None}` kept sorted by that time (None first). Only idle, never-answered entries are in it, so
the picker's cost does not grow with the customers already finished, and a bucket's first entry
still inside its retry delay tells the picker the rest of that bucket is too.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from engine.dialer import codes, schedule
from engine.dialer.objects import Field, Invalid, common, parse_stamp
from engine.dialer.plans import NUMBERS

FIELDS: list[Field] = [
    *common(),
    Field("status", "int", codes.DL_IDLE, nullable=False),
    Field("dlma_uuid", "str"),
    Field("email", "str"),
    *[Field(f"number_{n}", "str") for n in NUMBERS],
    Field("resv_target", "str"),
    Field("ukey", "str"),
    Field("variables", "vars"),
    Field("timezone", "str"),
    *[Field(f"trycnt_{n}", "int", 0, nullable=False, put_only=True) for n in NUMBERS],
    Field("res_dial", "int", 0, nullable=False, put_only=True),
    Field("res_dial_detail", "str", put_only=True),
    Field("res_hangup", "int", 0, nullable=False, put_only=True),
    Field("res_hangup_detail", "str", put_only=True),
    Field("tm_last_dial", "str", put_only=True),
    Field("tm_last_hangup", "str", put_only=True),
    Field("dialing_camp_uuid", "str", settable=False),
    Field("dialing_plan_uuid", "str", settable=False),
    Field("dialing_uuid", "str", settable=False),
]


# -- compact rows ---------------------------------------------------------------------------------
# A list holds many entries and most of their 45 fields keep their defaults (seven numbers and
# their tries, the results...). The projection keeps each row without them (`compact`), which
# makes its state (rewritten at every checkpoint) and its memory a third as large; every reader
# of a row goes through `expand`, or through `.get` with the field's default.

_ORDER = ("uuid", *(f.name for f in FIELDS), "in_use", "tm_create", "tm_update", "tm_delete")
DEFAULTS: dict[str, Any] = {f.name: f.default for f in FIELDS}
DEFAULTS.update(in_use=1, tm_update=None, tm_delete=None)
_KEEP = frozenset({"uuid", "dlma_uuid", "in_use", "tm_create"})
_MISSING = object()


def compact(dl: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dl.items()
            if k in _KEEP or k.startswith("_") or DEFAULTS.get(k, _MISSING) != v}


def expand(dl: Mapping[str, Any]) -> dict[str, Any]:
    """The whole row, in the seed's field order (bookkeeping `_` keys kept)."""
    out = {name: dl.get(name, DEFAULTS.get(name)) for name in _ORDER}
    out.update((k, v) for k, v in dl.items() if k not in out)
    return out


def check(dl: Mapping[str, Any]) -> None:
    if not dl.get("dlma_uuid"):
        raise Invalid("dlma_uuid: required")
    if dl["status"] not in (codes.DL_IDLE, codes.DL_DIALING, codes.DL_RESERVED):
        raise Invalid(f"status: {dl['status']} is not 0 (idle), 1 (dialing) or 2 (reserved)")
    tz = dl.get("timezone")
    if tz is not None and schedule.zone(tz) is None:
        raise Invalid(f"timezone: {tz!r} is not an IANA time zone (e.g. Europe/Paris)")
    for n in NUMBERS:
        if dl[f"trycnt_{n}"] < 0:
            raise Invalid(f"trycnt_{n}: must be >= 0")


def check_client_status(dl: Mapping[str, Any] | None, status: Any) -> None:
    """A client's write of `status` (to `dl`, None when creating it), or Invalid: 1 (dialing)
    is the dialer's own, set and cleared by its calls (written by hand it would hide the
    customer for ever), and an entry being dialed keeps its status until its call ends (set
    back to idle mid-call, it would be dialed a second time while the first call goes on)."""
    if status == codes.DL_DIALING:
        raise Invalid("status: 1 (dialing) is set by the dialer; a client writes 0 (idle) or "
                      "2 (reserved)")
    if dl is not None and dl.get("dialing_uuid") and status != dl.get("status"):
        raise Invalid(f"status: dl {dl['uuid']} is being dialed (dialing "
                      f"{dl['dialing_uuid']}); its status changes when the call ends")


def total_tries(dl: Mapping[str, Any]) -> int:
    return sum(int(dl.get(f"trycnt_{n}") or 0) for n in NUMBERS)


def pickable(dl: Mapping[str, Any]) -> bool:
    """In the picking index: in use, idle, and never answered (an answered customer is done)."""
    return (dl.get("in_use", 1) == 1 and dl.get("status", codes.DL_IDLE) == codes.DL_IDLE
            and dl.get("res_dial", 0) != codes.RES_DIAL_ANSWERED)


def hangup_time(dl: Mapping[str, Any]) -> float | None:
    return parse_stamp(dl.get("tm_last_hangup"))


# -- the picking index ----------------------------------------------------------------------------
#
# index[dlma][total tries][group] = [[last hangup, dl uuid], ...], sorted (0.0: never hung up).
# A group holds the entries alike to the picker: the same time zone and the same tries on the
# same numbers (`group_of`). Whether an entry has tries left under a plan, and whether its call
# window is open, is then one question per group, not one per entry: at the end of a campaign
# most of a list is exhausted, and a walk over them cost 18 ms per pick at 10,000 entries and
# 235 ms at 100,000. Kept sorted by bisection: an entry paused and resumed goes back in its
# place in microseconds (re-sorting a dict took 1.6 ms at 10,000 entries, 21 ms at 100,000).


def group_of(dl: Mapping[str, Any]) -> str:
    """`<timezone>|<n>:<tries>,...` over the numbers the entry has."""
    tries = ",".join(f"{n}:{int(dl.get(f'trycnt_{n}') or 0)}" for n in NUMBERS
                     if dl.get(f"number_{n}"))
    return f"{dl.get('timezone') or ''}|{tries}"


def hangup_key(t: float | None) -> float:
    """The index's order: never hung up first (0.0), then the longest ago."""
    return 0.0 if t is None else t


def place_of(dl: Mapping[str, Any]) -> list[Any]:
    """Where the entry sits in the index: [dlma, total tries, group, hangup key]."""
    return [dl.get("dlma_uuid"), str(total_tries(dl)), group_of(dl), hangup_key(hangup_time(dl))]


def indexed(group: list[list[Any]], key: float, uuid: str) -> int | None:
    """The entry's position in its group, or None."""
    at = bisect.bisect_left(group, [key, uuid])
    return at if at < len(group) and group[at][1] == uuid else None


def index_remove(index: dict, where: dict, uuid: str) -> None:
    place = where.pop(uuid, None)
    if place is None:
        return
    dlma, tries, group, key = place
    buckets = index.get(dlma, {})
    groups = buckets.get(tries, {})
    entries = groups.get(group)
    if entries is None:
        return
    at = indexed(entries, key, uuid)
    if at is not None:
        del entries[at]
    if not entries:
        del groups[group]
    if not groups:
        del buckets[tries]
    if not buckets:
        del index[dlma]


def index_put(index: dict, where: dict, dl: Mapping[str, Any]) -> None:
    """(Re)place an entry where the picker must find it, or out of the index if not pickable."""
    uuid = dl["uuid"]
    place = place_of(dl)
    if where.get(uuid) == place and pickable(dl):
        return
    index_remove(index, where, uuid)
    dlma, tries, group, key = place
    if not pickable(dl) or not dlma:
        return
    bisect.insort(index.setdefault(dlma, {}).setdefault(tries, {}).setdefault(group, []),
                  [key, uuid])
    where[uuid] = place
