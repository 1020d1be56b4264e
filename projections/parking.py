"""Parking lots and the calls parked in them, as res_parking reports them.

A `ParkedCall` event (no ActionID) parks a call; `UnParkedCall` (retrieved), `ParkedCallGiveUp`
(the parkee hung up) and `ParkedCallTimeOut` end it, with that reason kept in a short history.
`ParkedCallSwap` means another channel took the parked call's place: whoever held that space is
replaced. One space holds one call, so a call parked in an occupied space replaces the stale one.

The answer to `ParkedCalls` (items are `ParkedCall` events carrying the action's ActionID, then
`ParkedCallsComplete`) is the truth: listed calls are added or updated, the server's other parked
calls are closed ("not in ParkedCalls answer") unless parked live while the answer was read (the
rule of `projections/lists.py`). The engine's `ParkedCalls` is unfiltered; a `ParkedCalls`
filtered by `ParkingLot` cannot be told apart from its answer, so it would close the other lots'
calls until the next unfiltered one. `Parkinglots` answers replace the server's lots the same
way.

Times: a call's start is its event time minus `ParkingDuration`, its deadline the event time plus
`ParkingTimeout` (0 = no time limit); `parking_duration` and `parking_timeout` are computed at
view time from `now`, so a list answer that says the same thing later changes nothing.
"""

from __future__ import annotations

from engine.envelope import Event
from projections import lists
from projections.base import (
    Handler,
    Row,
    columns,
    dispatch,
    event_time,
    iso,
    pick,
    to_int,
    to_seconds,
    update,
)

NAME = "parking"
VERSION = 2

CLOSED_KEEP = 100  # how many ended parked calls (with their reason) the state remembers

_CALL_FIELDS: tuple[tuple[str, str], ...] = (
    ("ParkeeChannel", "parkee_channel"),
    ("ParkeeChannelState", "parkee_channel_state"),  # the seed keeps it a string: "6"
    ("ParkeeChannelStateDesc", "parkee_channel_state_desc"),
    ("ParkeeCallerIDName", "parkee_caller_id_name"),
    ("ParkeeCallerIDNum", "parkee_caller_id_num"),
    ("ParkeeConnectedLineName", "parkee_connected_line_name"),
    ("ParkeeConnectedLineNum", "parkee_connected_line_num"),
    ("ParkeeAccountCode", "parkee_account_code"),
    ("ParkeeContext", "parkee_context"),
    ("ParkeeExten", "parkee_exten"),
    ("ParkeePriority", "parkee_priority"),
    ("ParkeeLinkedid", "parkee_linked_id"),
    ("ParkerDialString", "parker_dial_string"),
    ("Parkinglot", "parking_lot"),
    ("ParkingSpace", "parking_space"),
)


def initial() -> dict:
    return {
        "lots": {},  # "<server>/<lot name>" -> lot row
        "calls": {},  # "<server>/<parkee uniqueid>" -> parked call
        "lists": {},  # ParkedCalls / Parkinglots answers being read (projections/lists.py)
        "closed": [],  # last CLOSED_KEEP parked calls that ended, with the reason
    }


# ---------------------------------------------------------------------------------------------
# parked calls


def _close(state: dict, ckey: str, reason: str, t: float) -> None:
    call = state["calls"].pop(ckey, None)
    if call is None:
        return
    closed = state["closed"]
    closed.append({
        "server": call["server"], "parkee_unique_id": call["parkee_unique_id"],
        "parkee_channel": call["parkee_channel"], "parking_lot": call["parking_lot"],
        "parking_space": call["parking_space"], "reason": reason, "tm_update": t,
    })
    if len(closed) > CLOSED_KEEP:
        del closed[: len(closed) - CLOSED_KEEP]


def _park(state: dict, event: Event, displaced_reason: str, live: bool) -> str | None:
    """Add or update the parked call of this event; evict another call from its space.
    A live park (not an answer's item) is newer than any answer being read."""
    uid = event.header("ParkeeUniqueid")
    if not uid:
        return None
    server, t = event.server, event_time(event)
    ckey = f"{server}/{uid}"
    fields = {field: event.header(header) for header, field in _CALL_FIELDS
              if header in event.data}
    lot, space = fields.get("parking_lot", ""), fields.get("parking_space", "")
    for other in [k for k, c in state["calls"].items()
                  if k != ckey and c["server"] == server and c["parking_lot"] == lot
                  and c["parking_space"] == space]:
        _close(state, other, displaced_reason, t)
    call = state["calls"].get(ckey)
    if call is None:
        timeout = to_seconds(event.header("ParkingTimeout"))
        call = state["calls"][ckey] = {
            "server": server, "parkee_unique_id": uid, "parkee_linked_id": "",
            "parkee_channel": "", "parkee_channel_state": "", "parkee_channel_state_desc": "",
            "parkee_caller_id_name": "", "parkee_caller_id_num": "",
            "parkee_connected_line_name": "", "parkee_connected_line_num": "",
            "parkee_account_code": "", "parkee_context": "", "parkee_exten": "",
            "parkee_priority": "", "parker_dial_string": "", "parking_lot": "",
            "parking_space": "",
            "parked_at": t - to_seconds(event.header("ParkingDuration")),
            "timeout_at": t + timeout if timeout > 0 else None,
            "tm_update": t, "pos": event.position,
        }
    if live:
        call["pos"] = event.position
    update(call, fields, t)
    return ckey


def _on_parked_call(state: dict, event: Event) -> None:
    if "ActionID" not in event.data:
        _park(state, event, "space taken by another parked call", live=True)
        return
    ckey = _park(state, event, "space taken in ParkedCalls answer", live=False)  # an item
    if ckey is not None:
        lists.item(state["lists"], event, ckey.partition("/")[2])


def _on_swap(state: dict, event: Event) -> None:
    _park(state, event, "swapped", live=True)


def _ender(reason: str) -> Handler:
    def handler(state: dict, event: Event) -> None:
        ckey = f"{event.server}/{event.header('ParkeeUniqueid')}"
        if ckey in state["calls"]:
            _close(state, ckey, reason, event_time(event))

    handler.__doc__ = f"The parked call ended: {reason}."
    return handler


# ---------------------------------------------------------------------------------------------
# parking lots


def _on_lot(state: dict, event: Event) -> None:
    name = event.header("Name")
    if not name:
        return
    server, t = event.server, event_time(event)
    lkey = f"{server}/{name}"
    lot = state["lots"].get(lkey)
    if lot is None:
        lot = state["lots"][lkey] = {"server": server, "name": name, "tm_update": t,
                                     "pos": event.position}
    update(lot, {
        "start_space": event.header("StartSpace"),
        "stop_space": event.header("StopSpace"),
        "timeout": to_int(event.header("Timeout"), 0),
    }, t)
    lists.item(state["lists"], event, name)


# ---------------------------------------------------------------------------------------------
# reconciliation


def _on_calls_complete(state: dict, event: Event) -> None:
    for ckey in lists.gone(state, state["calls"], event):
        _close(state, ckey, "not in ParkedCalls answer", event_time(event))


def _on_lots_complete(state: dict, event: Event) -> None:
    for lkey in lists.gone(state, state["lots"], event):
        del state["lots"][lkey]


# ---------------------------------------------------------------------------------------------

HANDLERS: dict[str, Handler] = {
    "ParkedCall": _on_parked_call,
    "ParkedCallSwap": _on_swap,
    "UnParkedCall": _ender("retrieved"),
    "ParkedCallGiveUp": _ender("gave up"),
    "ParkedCallTimeOut": _ender("timeout"),
    "ParkedCallsComplete": _on_calls_complete,
    "Parkinglot": _on_lot,
    "ParkinglotsComplete": _on_lots_complete,
    **lists.HANDLERS,
}
EVENT_TYPES = frozenset(HANDLERS)  # apply ignores every other type: the runner may skip it
apply = dispatch(HANDLERS)


# ---------------------------------------------------------------------------------------------
# views

COLUMNS: dict[str, dict[str, str]] = {
    "parking-lots": columns(
        "server name start_space stop_space stop_spcae timeout:int tm_update"),
    "parked-calls": columns(
        "server parkee_unique_id parkee_linked_id parkee_channel parkee_channel_state "
        "parkee_channel_state_desc parkee_caller_id_name parkee_caller_id_num "
        "parkee_connected_line_name parkee_connected_line_num parkee_account_code "
        "parkee_context parkee_exten parkee_priority parker_dial_string parking_lot "
        "parking_space parking_duration:int parking_timeout:int tm_update"),
}


def parked_call_rows(state: dict, now: float) -> list[Row]:
    rows: list[Row] = []
    for ckey in sorted(state["calls"]):
        call = state["calls"][ckey]
        deadline = call["timeout_at"]
        rows.append(pick(
            call, COLUMNS["parked-calls"],
            parking_duration=max(0, int(now - call["parked_at"])),
            parking_timeout=0 if deadline is None else max(0, int(deadline - now)),
            tm_update=iso(call["tm_update"]),
        ))
    return rows


def parking_lot_rows(state: dict, now: float) -> list[Row]:
    """`stop_spcae` is the seed's field name, typo kept verbatim beside `stop_space`."""
    return [pick(lot, COLUMNS["parking-lots"], stop_spcae=lot["stop_space"],
                 tm_update=iso(lot["tm_update"]))
            for lot in (state["lots"][k] for k in sorted(state["lots"]))]


VIEWS = {
    "parking-lots": parking_lot_rows,
    "parked-calls": parked_call_rows,
}
