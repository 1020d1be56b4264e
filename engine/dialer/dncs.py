"""Do-not-call entries (beyond the seed): a number that must not be dialed, for one dial list
master (`dlma_uuid`) or for every list (`dlma_uuid` null). Checked at dial time, so an entry
added while a campaign runs stops the very next attempt at that number.

Numbers are compared after `normalize`: spaces, dashes, dots and brackets are not part of a
number, so `+1 (555) 010-0100` and `+15550100100` are one entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.dialer.objects import Field, Invalid

FIELDS: list[Field] = [
    Field("number", "str", nullable=False),
    Field("dlma_uuid", "str"),
    Field("name", "str"),
    Field("detail", "str"),
]

_NOISE = str.maketrans("", "", " -.()\t")


def normalize(number: str) -> str:
    return number.translate(_NOISE)


def check(entry: Mapping[str, Any]) -> None:
    if not entry.get("number") or not normalize(str(entry["number"])):
        raise Invalid("number: required")


def blocked(number: str, dlma_uuid: str, lists: Mapping[str, Any]) -> bool:
    """Whether `number` is on the global list or on the list of `dlma_uuid`.

    `lists` is the projection's index: {"*": {number: n}, "<dlma uuid>": {number: n}}.
    """
    key = normalize(number)
    return key in lists.get("*", ()) or key in lists.get(dlma_uuid, ())
