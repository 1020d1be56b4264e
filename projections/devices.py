"""Device states (`/device_states`): the state Asterisk gives each device, per server.

`DeviceStateChange` events carry `Device` and `State` (`NOT_INUSE`, `INUSE`, `RINGING`, ...). The
`DeviceStateList` action answers with one `DeviceStateChange` per device carrying its `ActionID`,
then `DeviceStateListComplete`. That list is Asterisk's device-state *cache*: channels of unreal
technologies (Local, and the bridge media channels built on the same core) disable caching, so
their devices change state in events but are never listed. Rows say so in `cached`.

Reconciliation at the end of a `DeviceStateList`: listed devices take the listed state (and are
added if new); cachable devices known from before the list but absent from it have left the
cache (a module unloaded, a restart) and are dropped.

An uncached device has no list to be reconciled against, so it follows the channels that use
it: Asterisk publishes a channel's state under its name cut at the last `-`
(`Local/101@customers-00000002;1` is device `Local/101@customers`), and asks the technology
for the device's state, which for Local is `INUSE` while one of its channels lives. The
projection keeps, from the same events, which live channels use an uncached device
(`Newchannel`, `Rename`, `Hangup`, the `CoreShowChannel` items); when a `CoreShowChannels`
answer closes channels (they vanished while we were disconnected: Asterisk restarted, or the
engine was down while they hung up, and no event will ever say so), a device in use whose
last channel that was goes back to `NOT_INUSE`, as Asterisk's own state for it already is.
"""

from __future__ import annotations

from engine.envelope import Event
from projections import lists
from projections.base import Handler, Row, columns, dispatch, event_time, iso

NAME = "devices"
VERSION = 3

# Technologies whose channels set AST_FLAG_DISABLE_DEVSTATE_CACHE (core_unreal users).
UNCACHED_TECHS = frozenset({"Local", "Announcer", "Recorder", "CBAnn", "CBRec"})
# States that say a channel uses the device: with none left, Asterisk says NOT_INUSE.
IN_USE = frozenset({"INUSE", "BUSY", "RINGING", "RINGINUSE", "ONHOLD"})
NOT_INUSE = "NOT_INUSE"

COLUMNS: dict[str, dict[str, str]] = {
    "device-states": columns(
        "server device state cached:bool tm_update"),
}


def initial() -> dict:
    return {
        "devices": {},
        "lists": {},
        # "<server>/<uniqueid>" -> {"device", "pos"}: live channels of uncached devices
        "channels": {},
    }


def is_cached(device: str) -> bool:
    """Whether Asterisk keeps this device's state in its cache (and so lists it)."""
    tech, sep, _ = device.partition("/")
    return not (sep and tech in UNCACHED_TECHS)


def device_of(channel: str) -> str:
    """The device a channel's state is published under: its name up to the last `-`, as
    Asterisk's `ast_setstate` cuts it."""
    cut = channel.rfind("-")
    return channel[:cut] if cut > 0 else channel


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


def _use(state: dict, event: Event, uid: str, channel: object) -> None:
    """Note (or forget) the channel `uid` as a user of its device, if that one is uncached."""
    key = f"{event.server}/{uid}"
    device = device_of(channel) if isinstance(channel, str) else ""
    if device and not is_cached(device):
        used = state["channels"].get(key)
        if used is None:
            state["channels"][key] = {"device": device, "pos": event.position}
        else:
            used["device"] = device
    else:
        state["channels"].pop(key, None)


def _newchannel(state: dict, event: Event) -> None:
    uid = event.data.get("Uniqueid")
    if isinstance(uid, str) and uid:
        _use(state, event, uid, event.data.get("Channel"))


def _rename(state: dict, event: Event) -> None:
    uid = event.data.get("Uniqueid")
    if isinstance(uid, str) and f"{event.server}/{uid}" in state["channels"]:
        _use(state, event, uid, event.data.get("Newname"))


def _hangup(state: dict, event: Event) -> None:
    state["channels"].pop(f"{event.server}/{event.data.get('Uniqueid')}", None)


def _channel_item(state: dict, event: Event) -> None:
    """A `CoreShowChannel`: every item counts toward the answer, a live channel of an
    uncached device unknown to us (the log began during its call) is noted."""
    uid = lists.item_named(state["lists"], event, "Uniqueid")
    if uid is not None and f"{event.server}/{uid}" not in state["channels"]:
        _use(state, event, uid, event.data.get("Channel"))


def _channels_complete(state: dict, event: Event) -> None:
    """A whole `CoreShowChannels` answer: the channels it shows are gone stop using their
    devices, and a device in use that they left without a channel is `NOT_INUSE`."""
    channels = state["channels"]
    gone = lists.gone(state, channels, event)
    if not gone:
        return
    freed = {channels.pop(key)["device"] for key in gone}
    prefix = event.server + "/"
    freed.difference_update(used["device"] for key, used in channels.items()
                            if key.startswith(prefix))
    devices = state["devices"]
    for device in freed:
        row = devices.get(prefix + device)
        if row is not None and row["state"] in IN_USE:
            row["state"] = NOT_INUSE
            row["tm_update"] = event_time(event)


HANDLERS: dict[str, Handler] = {
    "DeviceStateChange": _change,
    "DeviceStateListComplete": _list_complete,
    "Newchannel": _newchannel,
    "Rename": _rename,
    "Hangup": _hangup,
    "CoreShowChannel": _channel_item,
    "CoreShowChannelsComplete": _channels_complete,
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
