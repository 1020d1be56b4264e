"""Bridges: which channels are talking to each other, per Asterisk.

Every bridge event carries the bridge's snapshot (`BridgeUniqueid`, `BridgeType`, ...,
`BridgeNumChannels`), so each one refreshes the row. A bridge that existed before the log began
(the parking lot's holding bridge lives as long as Asterisk) first shows up in a `BridgeEnter` or
a `BridgeListItem`, so both create it. `BridgeList` answers reconcile like `CoreShowChannels`:
bridges Asterisk no longer lists are dropped, bridges it lists that we missed are added.
"""

from __future__ import annotations

from typing import Any

from engine.envelope import Event
from projections import lists
from projections.base import Handler, Row, columns, dispatch, event_time, iso, to_int

NAME = "bridges"
VERSION = 2

BRIDGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("BridgeType", "bridge_type"),
    ("BridgeTechnology", "bridge_technology"),
    ("BridgeCreator", "bridge_creator"),
    ("BridgeName", "bridge_name"),
    ("BridgeVideoSourceMode", "bridge_video_source_mode"),
    ("BridgeVideoSource", "bridge_video_source"),
)

COLUMNS: dict[str, dict[str, str]] = {
    "bridges": columns(
        "server bridge_id bridge_type bridge_technology bridge_creator bridge_name "
        "bridge_num_channels:int bridge_video_source_mode bridge_video_source channels:json "
        "tm_create tm_update"),
}


def initial() -> dict:
    return {"bridges": {}, "lists": {}}


def _upsert(state: dict, event: Event, prefix: str = "") -> dict[str, Any] | None:
    data = event.data
    bridge_id = data.get(prefix + "BridgeUniqueid")
    if not isinstance(bridge_id, str) or not bridge_id:
        return None
    bridges = state["bridges"]
    key = f"{event.server}/{bridge_id}"
    t = event_time(event)
    row = bridges.get(key)
    if row is None:
        row = bridges[key] = {
            "server": event.server, "bridge_id": bridge_id, "bridge_type": "",
            "bridge_technology": "", "bridge_creator": "", "bridge_name": "",
            "bridge_num_channels": 0, "bridge_video_source_mode": "",
            "bridge_video_source": None, "channels": [], "tm_create": t, "tm_update": t,
            "pos": event.position,
        }
    for header, field in BRIDGE_FIELDS:
        value = data.get(prefix + header)
        if value is not None:
            row[field] = value
    count = to_int(data.get(prefix + "BridgeNumChannels"))
    if count is not None:
        row["bridge_num_channels"] = count
    row["tm_update"] = t
    return row


def _create(state: dict, event: Event) -> None:
    _upsert(state, event)


def _enter(state: dict, event: Event) -> None:
    row = _upsert(state, event)
    uid = event.data.get("Uniqueid")
    if row is not None and isinstance(uid, str) and uid not in row["channels"]:
        row["channels"].append(uid)


def _leave(state: dict, event: Event) -> None:
    row = _upsert(state, event)
    uid = event.data.get("Uniqueid")
    if row is not None and uid in row["channels"]:
        row["channels"].remove(uid)


def _destroy(state: dict, event: Event) -> None:
    state["bridges"].pop(f"{event.server}/{event.data.get('BridgeUniqueid')}", None)


def _merge(state: dict, event: Event) -> None:
    """`BridgeMerge`: the `From` bridge's channels now sit in the `To` bridge."""
    to_row = _upsert(state, event, "To")
    from_row = _upsert(state, event, "From")
    if to_row is None or from_row is None:
        return
    for uid in from_row["channels"]:
        if uid not in to_row["channels"]:
            to_row["channels"].append(uid)
    from_row["channels"] = []


def _list_item(state: dict, event: Event) -> None:
    if lists.item_named(state["lists"], event, "BridgeUniqueid") is not None:
        _upsert(state, event)


def _list_complete(state: dict, event: Event) -> None:
    bridges = state["bridges"]
    for key in lists.gone(state, bridges, event):
        del bridges[key]


HANDLERS: dict[str, Handler] = {
    "BridgeCreate": _create,
    "BridgeEnter": _enter,
    "BridgeLeave": _leave,
    "BridgeDestroy": _destroy,
    "BridgeMerge": _merge,
    "BridgeVideoSourceUpdate": _create,
    "BridgeListItem": _list_item,
    "BridgeListComplete": _list_complete,
    **lists.HANDLERS,
}
EVENT_TYPES = frozenset(HANDLERS)  # apply ignores every other type: the runner may skip it
apply = dispatch(HANDLERS)


def rows(state: dict, now: float) -> list[Row]:
    out: list[Row] = []
    for row in state["bridges"].values():
        out.append({
            "server": row["server"], "bridge_id": row["bridge_id"],
            "bridge_type": row["bridge_type"], "bridge_technology": row["bridge_technology"],
            "bridge_creator": row["bridge_creator"], "bridge_name": row["bridge_name"],
            "bridge_num_channels": row["bridge_num_channels"],
            "bridge_video_source_mode": row["bridge_video_source_mode"],
            "bridge_video_source": row["bridge_video_source"],
            "channels": list(row["channels"]),
            "tm_create": iso(row["tm_create"]), "tm_update": iso(row["tm_update"]),
        })
    out.sort(key=lambda r: (r["server"], r["bridge_id"]))
    return out


VIEWS = {"bridges": rows}
