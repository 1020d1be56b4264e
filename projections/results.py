"""The outbound dialer's results: one record per finished dialing (seed 5.8), in the order they
finished, from the `DialingEnded` events.

The records are kept without the `info_*` snapshots (the seed strips them from its result file
unless `result_info_enable` is set; here `dialer.result_info`): the snapshots stay in the log,
inside each `DialingEnded`, for whoever needs them. The results file (JSON lines,
`dialer.results_path`) is written from the same events by `engine.dialer.resultsfile`, so it
too is rebuilt from the log when deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.dialer import events as ev
from engine.dialer.dialings import INFO_FIELDS, RESULT_FIELDS, RESULT_SECTIONS
from engine.envelope import Event
from projections.base import Row

NAME = "results"
VERSION = 1
EVENT_TYPES = frozenset({ev.DIALING_ENDED})


def initial() -> dict:
    return {"records": []}


def record(data: Mapping[str, Any], with_info: bool = False) -> dict[str, Any]:
    """The record a `DialingEnded` carries, in the seed's section order."""
    result = data.get("result") or {}
    out = {name: result.get(name) for name in RESULT_FIELDS}
    if with_info:
        out.update((name, result.get(name)) for name in INFO_FIELDS)
    return out


def apply(state: dict, event: Event) -> dict:
    if event.type == ev.DIALING_ENDED:
        state["records"].append(record(event.data))
    return state


FILTERS = ("uuid", "uuid_camp", "uuid_plan", "uuid_dest", "uuid_dlma", "uuid_dl_list",
           "status", "res_dial", "res_hangup", "dial_addr", "action_id")
INT_FILTERS = frozenset({"status", "res_dial", "res_hangup"})


def select(state: dict, filters: Mapping[str, Any], since: str | None = None,
           until: str | None = None, offset: int = 0, count: int | None = None) -> list[Row]:
    """Records matching every filter (field = value), finished within [since, until] (seed
    timestamps compare as strings), oldest first."""
    records = list(state["records"])
    out: list[Row] = []
    skipped = 0
    for rec in records:
        if any(rec.get(k) != v for k, v in filters.items()):
            continue
        finished = rec.get("tm_update") or ""
        if since is not None and finished < since:
            continue
        if until is not None and finished > until:
            continue
        if skipped < offset:
            skipped += 1
            continue
        out.append(dict(rec))
        if count is not None and len(out) >= count:
            break
    return out


def rows(state: dict, now: float) -> list[Row]:
    return [dict(r) for r in list(state["records"])]


_INT = {"status", "res_dial", "res_hangup", "dial_index", "dial_trycnt", "dial_timeout",
        "dial_type"}
COLUMNS: dict[str, dict[str, str]] = {
    "results": {name: "int" if name in _INT else "json" if name == "dial_variables" else "str"
                for name in RESULT_FIELDS},
}
SECTIONS = RESULT_SECTIONS

VIEWS = {"results": rows}
