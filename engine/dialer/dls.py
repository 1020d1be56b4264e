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


def _key(t: float | None) -> float:
    return float("-inf") if t is None else t


def index_remove(index: dict, where: dict, uuid: str) -> None:
    place = where.pop(uuid, None)
    if place is None:
        return
    dlma, tries = place
    buckets = index.get(dlma)
    if buckets is None:
        return
    bucket = buckets.get(tries)
    if bucket is not None:
        bucket.pop(uuid, None)
        if not bucket:
            del buckets[tries]
    if not buckets:
        del index[dlma]


def index_put(index: dict, where: dict, dl: Mapping[str, Any]) -> None:
    """(Re)place an entry where the picker must find it, or out of the index if not pickable."""
    uuid = dl["uuid"]
    t = hangup_time(dl)
    place = [dl.get("dlma_uuid"), str(total_tries(dl))]
    current = where.get(uuid)
    if current == place and pickable(dl):
        bucket = index[place[0]][place[1]]
        if bucket.get(uuid) == t:
            return
    index_remove(index, where, uuid)
    if not pickable(dl) or not place[0]:
        return
    buckets = index.setdefault(place[0], {})
    bucket = buckets.get(place[1])
    if bucket is None:
        buckets[place[1]] = {uuid: t}
    elif _key(t) >= _key(bucket[next(reversed(bucket))]):
        bucket[uuid] = t  # the usual case: the latest hangup goes last
    else:
        items = sorted([*bucket.items(), (uuid, t)], key=lambda item: _key(item[1]))
        buckets[place[1]] = dict(items)
    where[uuid] = place
