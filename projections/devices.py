"""Device states (`/device_states`): the state Asterisk gives each device, per server.

`DeviceStateChange` events carry `Device` and `State` (`NOT_INUSE`, `INUSE`, `RINGING`, ...). The
`DeviceStateList` action answers with one `DeviceStateChange` per device carrying its `ActionID`,
then `DeviceStateListComplete`. That list is Asterisk's device-state *cache*: channels of unreal
technologies (Local, and the bridge media channels built on the same core) disable caching, so
their devices change state in events but are never listed. Rows say so in `cached`.

Reconciliation at the end of a list: listed devices take the listed state (and are added if
new); cachable devices known from before the list but absent from it have left the cache (a
module unloaded, a restart) and are dropped; uncachable ones keep their last event state.
"""

from __future__ import annotations

from engine.envelope import Event
from projections import lists
from projections.base import Handler, Row, columns, dispatch, event_time, iso

NAME = "devices"
VERSION = 2

# Technologies whose channels set AST_FLAG_DISABLE_DEVSTATE_CACHE (core_unreal users).
UNCACHED_TECHS = frozenset({"Local", "Announcer", "Recorder", "CBAnn", "CBRec"})

COLUMNS: dict[str, dict[str, str]] = {
    "device-states": columns(
        "server device state cached:bool tm_update"),
}


def initial() -> dict:
    return {"devices": {}, "lists": {}}


def is_cached(device: str) -> bool:
    """Whether Asterisk keeps this device's state in its cache (and so lists it)."""
    tech, sep, _ = device.partition("/")
    return not (sep and tech in UNCACHED_TECHS)


def _change(state: dict, event: Event) -> None:
    data = event.data
    device = data.get("Device")
    value = data.get("State")
    if not isinstance(device, str) or not device or not isinstance(value, str):
        return
    if "ActionID" in data:
        lists.item(state["lists"], event, device)
    devices = state["devices"]
    key = f"{event.server}/{device}"
    row = devices.get(key)
    if row is None:
        devices[key] = {
            "server": event.server, "device": device, "state": value,
            "cached": is_cached(device), "tm_update": event_time(event), "pos": event.position,
        }
    elif row["state"] != value:
        row["state"] = value
        row["tm_update"] = event_time(event)


def _list_complete(state: dict, event: Event) -> None:
    devices = state["devices"]
    for key in lists.gone(state, devices, event):
        if devices[key]["cached"]:
            del devices[key]


HANDLERS: dict[str, Handler] = {
    "DeviceStateChange": _change,
    "DeviceStateListComplete": _list_complete,
    **lists.HANDLERS,
}
EVENT_TYPES = frozenset(HANDLERS)  # apply ignores every other type: the runner may skip it
apply = dispatch(HANDLERS)


def rows(state: dict, now: float) -> list[Row]:
    out: list[Row] = [
        {"server": r["server"], "device": r["device"], "state": r["state"],
         "cached": r["cached"], "tm_update": iso(r["tm_update"])}
        for r in state["devices"].values()
    ]
    out.sort(key=lambda r: (r["server"], r["device"]))
    return out


VIEWS = {"device-states": rows}
