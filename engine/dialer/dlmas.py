"""Dial list master (dlma): where the customers are, a named list of dial list entries (seed 3.9).

`dl_table` is kept for the seed's sake: jade stored each list in a table named after the uuid
(`-` replaced by `_`); here the entries are the `dl/<uuid>` streams whose `dlma_uuid` points
at the dlma.
"""

from __future__ import annotations

from engine.dialer.objects import Field, common

FIELDS: list[Field] = [*common(), Field("variables", "vars")]


def dl_table(uuid: str) -> str:
    return uuid.replace("-", "_")
