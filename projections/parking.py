"""Parking lots and the calls parked in them, as res_parking reports them.

A `ParkedCall` event (no ActionID) parks a call; `UnParkedCall` (retrieved), `ParkedCallGiveUp`
(the parkee hung up) and `ParkedCallTimeOut` end it, with that reason kept in a short history.
`ParkedCallSwap` means another channel took the parked call's place: whoever held that space is
replaced. One space holds one call, so a call parked in an occupied space replaces the stale one.

The answer to `ParkedCalls` (items are `ParkedCall` events carrying the action's ActionID, then
`ParkedCallsComplete`) is the truth: listed calls are added or updated, the server's other parked
calls are closed ("not in ParkedCalls answer") unless a live event touched them while the answer
was read. The engine's `ParkedCalls` is unfiltered; a `ParkedCalls` filtered by `ParkingLot`
cannot be told apart from its answer, so it would close the other lots' calls until the next
unfiltered one. `Parkinglots` answers replace the server's lots the same way.

Times: a call's start is its event time minus `ParkingDuration`, its deadline the event time plus
`ParkingTimeout` (0 = no time limit); `parking_duration` and `parking_timeout` are computed at
view time from `now`, so a list answer that says the same thing later changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.envelope import CONNECTION_LOST, Event
from projections.base import Row, event_time
from projections.queues import stamp, to_int

NAME = "parking"
VERSION = 1

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
        "pending": {},  # "<stream> <actionid>" -> ParkedCalls / Parkinglots answer being read
        "closed": [],  # last CLOSED_KEEP parked calls that ended, with the reason
    }


def _update(row: dict, fields: dict, t: float) -> bool:
    changed = False
    for name, value in fields.items():
        if row.get(name) != value:
            row[name] = value
            changed = True
    if changed:
        row["tm_update"] = t
    return changed


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


def _park(state: dict, event: Event, displaced_reason: str) -> str | None:
    """Add or update the parked call of this event; evict another call from its space."""
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
        timeout = to_int(event.header("ParkingTimeout"))
        call = state["calls"][ckey] = {
            "server": server, "parkee_unique_id": uid, "parkee_linked_id": "",
            "parkee_channel": "", "parkee_channel_state": "", "parkee_channel_state_desc": "",
            "parkee_caller_id_name": "", "parkee_caller_id_num": "",
            "parkee_connected_line_name": "", "parkee_connected_line_num": "",
            "parkee_account_code": "", "parkee_context": "", "parkee_exten": "",
            "parkee_priority": "", "parker_dial_string": "", "parking_lot": "",
            "parking_space": "",
            "parked_at": t - to_int(event.header("ParkingDuration")),
            "timeout_at": t + timeout if timeout > 0 else None,
            "tm_update": t,
        }
    _update(call, fields, t)
    return ckey


def _on_parked_call(state: dict, event: Event) -> None:
    if "ActionID" in event.data:  # an item of a ParkedCalls answer
        ckey = _park(state, event, "space taken in ParkedCalls answer")
        pending = _pending(state, event)
        if ckey is not None:
            pending["listed"].append(ckey)
        return
    ckey = _park(state, event, "space taken by another parked call")
    if ckey is not None:
        _touch(state, event.server, ckey)


def _on_swap(state: dict, event: Event) -> None:
    ckey = _park(state, event, "swapped")
    if ckey is not None:
        _touch(state, event.server, ckey)


def _ender(reason: str) -> Callable[[dict, Event], None]:
    def handler(state: dict, event: Event) -> None:
        ckey = f"{event.server}/{event.header('ParkeeUniqueid')}"
        if ckey in state["calls"]:
            _close(state, ckey, reason, event_time(event))
            _touch(state, event.server, ckey)

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
        lot = state["lots"][lkey] = {"server": server, "name": name, "tm_update": t}
    _update(lot, {
        "start_space": event.header("StartSpace"),
        "stop_space": event.header("StopSpace"),
        "timeout": to_int(event.header("Timeout")),
    }, t)
    _pending(state, event)["listed"].append(lkey)


# ---------------------------------------------------------------------------------------------
# reconciliation


def _pending(state: dict, event: Event) -> dict:
    pkey = f"{event.stream} {event.header('ActionID')}"
    pending = state["pending"].get(pkey)
    if pending is None:
        for other in [k for k, p in state["pending"].items()
                      if p["server"] == event.server and p["stream"] != event.stream]:
            del state["pending"][other]  # cut by a disconnect that left no marker
        pending = state["pending"][pkey] = {
            "stream": event.stream, "server": event.server, "listed": [], "live": [],
        }
    return pending


def _touch(state: dict, server: str, ckey: str) -> None:
    if state["pending"]:
        for pending in state["pending"].values():
            if pending["server"] == server:
                pending["live"].append(ckey)


def _finish(state: dict, event: Event) -> tuple[str, set[str]]:
    """The server an answer is about and the keys it keeps (listed, or changed live meanwhile)."""
    pending = state["pending"].pop(f"{event.stream} {event.header('ActionID')}", None)
    if pending is None:
        return event.server, set()  # an empty answer: nothing is parked / no lot exists
    return pending["server"], set(pending["listed"]) | set(pending["live"])


def _on_calls_complete(state: dict, event: Event) -> None:
    server, keep = _finish(state, event)
    t = event_time(event)
    for ckey in [k for k, c in state["calls"].items() if c["server"] == server]:
        if ckey not in keep:
            _close(state, ckey, "not in ParkedCalls answer", t)


def _on_lots_complete(state: dict, event: Event) -> None:
    server, keep = _finish(state, event)
    for lkey in [k for k, lot in state["lots"].items() if lot["server"] == server]:
        if lkey not in keep:
            del state["lots"][lkey]


def _on_connection_lost(state: dict, event: Event) -> None:
    for pkey in [k for k, p in state["pending"].items() if p["stream"] == event.stream]:
        del state["pending"][pkey]


# ---------------------------------------------------------------------------------------------

_HANDLERS: dict[str, Callable[[dict, Event], None]] = {
    "ParkedCall": _on_parked_call,
    "ParkedCallSwap": _on_swap,
    "UnParkedCall": _ender("retrieved"),
    "ParkedCallGiveUp": _ender("gave up"),
    "ParkedCallTimeOut": _ender("timeout"),
    "ParkedCallsComplete": _on_calls_complete,
    "Parkinglot": _on_lot,
    "ParkinglotsComplete": _on_lots_complete,
    CONNECTION_LOST: _on_connection_lost,
}


def apply(state: dict, event: Event) -> dict:
    handler = _HANDLERS.get(event.type)
    if handler is not None:
        handler(state, event)
    return state


# ---------------------------------------------------------------------------------------------
# views

_CALL_COLUMNS = ("parkee_unique_id",) + tuple(field for _, field in _CALL_FIELDS)


def parked_call_rows(state: dict, now: float) -> list[Row]:
    rows: list[Row] = []
    for ckey in sorted(state["calls"]):
        call = state["calls"][ckey]
        row: Row = {c: call[c] for c in _CALL_COLUMNS}
        row["parking_duration"] = max(0, int(now - call["parked_at"]))
        deadline = call["timeout_at"]
        row["parking_timeout"] = 0 if deadline is None else max(0, int(deadline - now))
        row["tm_update"] = stamp(call["tm_update"])
        row["server"] = call["server"]
        rows.append(row)
    return rows


def parking_lot_rows(state: dict, now: float) -> list[Row]:
    rows: list[Row] = []
    for lkey in sorted(state["lots"]):
        lot = state["lots"][lkey]
        rows.append({
            "name": lot["name"], "start_space": lot["start_space"],
            "stop_space": lot["stop_space"],
            "stop_spcae": lot["stop_space"],  # the seed's field name, typo kept verbatim
            "timeout": lot["timeout"], "tm_update": stamp(lot["tm_update"]),
            "server": lot["server"],
        })
    return rows


VIEWS = {
    "parking-lots": parking_lot_rows,
    "parked-calls": parked_call_rows,
}
