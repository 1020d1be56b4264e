"""Live channels of every Asterisk, as the seed's `/core/channels` read model.

Almost every AMI event about a channel carries a full snapshot of it (`Channel`, `ChannelState`,
`CallerIDNum`, ..., `Uniqueid`, `Linkedid`), sometimes under a prefix (`Dest`, `LocalOne`,
`Parkee`, ...). The snapshot is Asterisk's truth at the time of the event, so each one simply
refreshes the row; only `Newchannel` and list items (`CoreShowChannel`, `Status`) create a row,
so a late event about a channel that is gone (`AgentComplete` after `Hangup`) never brings it back.

Reconciliation: `CoreShowChannels` answers `Response` (`EventList: start`) + one
`CoreShowChannel` per channel + `CoreShowChannelsComplete`, all with the action's `ActionID`.
At the end of the list, channels of that server that existed before the list began and were not
listed are closed as vanished (Asterisk lost them while we were disconnected, or we missed their
`Hangup`); listed channels we did not know are added from the item's fields. Asterisk serves the
list from its channel cache, which can run ahead of the events already delivered, so a
`Newchannel` arriving after its channel was listed leaves the (newer) listed fields alone.
The list bookkeeping is `projections/lists.py`, shared by every projection that reconciles.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from engine.envelope import Event
from projections import lists
from projections.base import (
    Handler,
    Row,
    columns,
    event_time,
    handled_by,
    iso,
    to_int,
    to_seconds,
)
from projections.q850 import cause_desc

NAME = "channels"
VERSION = 3

VANISHED = "vanished: not in CoreShowChannels"
CLOSED_KEPT = 200  # recently closed channels kept (API delete notifications, late causes)

STATE_DESC = {
    0: "Down", 1: "Rsrvd", 2: "OffHook", 3: "Dialing", 4: "Ring", 5: "Ringing", 6: "Up",
    7: "Busy", 8: "Dialing Offhook", 9: "Pre-ring",
}

# Snapshot header (without prefix) -> row field. ChannelState is handled apart (an int).
SNAPSHOT_FIELDS: tuple[tuple[str, str], ...] = (
    ("Channel", "channel"),
    ("ChannelStateDesc", "channel_state_desc"),
    ("CallerIDNum", "caller_id_num"),
    ("CallerIDName", "caller_id_name"),
    ("ConnectedLineNum", "connected_line_num"),
    ("ConnectedLineName", "connected_line_name"),
    ("Language", "language"),
    ("AccountCode", "account_code"),
    ("Context", "context"),
    ("Exten", "exten"),
    ("Priority", "priority"),
    ("Linkedid", "linked_id"),
)


class Snapshot:
    """The header names of one prefixed channel snapshot, computed once."""

    __slots__ = ("uniqueid", "state", "state_desc", "fields", "headers", "pick", "chanvar")

    def __init__(self, prefix: str) -> None:
        self.uniqueid = prefix + "Uniqueid"
        self.state = prefix + "ChannelState"
        self.state_desc = prefix + "ChannelStateDesc"
        self.fields = tuple((prefix + h, f) for h, f in SNAPSHOT_FIELDS)
        self.headers = (self.state, *(h for h, _ in self.fields))
        self.pick = itemgetter(*self.headers)  # every value in one C call (KeyError if one lacks)
        self.chanvar = prefix + "ChanVariable"


_PLAIN = (Snapshot(""),)
_DEST = (Snapshot(""), Snapshot("Dest"))

# Event type -> the channel snapshots it carries. Types not listed here are checked for a plain
# snapshot (`Uniqueid` + `ChannelState`), so events added by later Asterisk versions still count.
SNAPSHOTS: dict[str, tuple[Snapshot, ...]] = {
    "DialBegin": _DEST, "DialState": _DEST, "DialEnd": _DEST,
    "AgentCalled": _DEST, "AgentConnect": _DEST, "AgentComplete": _DEST,
    "AgentRingNoAnswer": _DEST, "AgentDump": _DEST,
    "LocalBridge": (Snapshot("LocalOne"), Snapshot("LocalTwo")),
    "LocalOptimizationBegin": (Snapshot("LocalOne"), Snapshot("LocalTwo"), Snapshot("Source")),
    "LocalOptimizationEnd": (Snapshot("LocalOne"), Snapshot("LocalTwo")),
    "ParkedCall": (Snapshot("Parkee"),),
    "ParkedCallTimeOut": (Snapshot("Parkee"),),
    "ParkedCallGiveUp": (Snapshot("Parkee"),),
    "UnParkedCall": (Snapshot("Parkee"), Snapshot("Retriever")),
    "ParkedCallSwap": (Snapshot("Parkee"), Snapshot("Parker")),
    "BlindTransfer": (Snapshot("Transferer"), Snapshot("Transferee")),
    "AttendedTransfer": (
        Snapshot("OrigTransferer"), Snapshot("SecondTransferer"), Snapshot("TransferTarget"),
        Snapshot("Transferee"),
    ),
    "Pickup": (Snapshot(""), Snapshot("Target")),
    "ChanSpyStart": (Snapshot("Spyer"), Snapshot("Spyee")),
    "ChanSpyStop": (Snapshot("Spyer"), Snapshot("Spyee")),
}

COLUMNS: dict[str, dict[str, str]] = {
    "channels": columns(
        "server unique_id linked_id channel channel_state:int channel_state_desc context "
        "exten priority caller_id_name caller_id_num connected_line_name connected_line_num "
        "account_code language application application_data bridge_id variables:json "
        "hangup_cause:int hangup_cause_desc hangup_reason duration:int tm_create tm_update"),
}


# ------------------------------------------------------------------------------ state

def initial() -> dict:
    return {"channels": {}, "closed": {}, "lists": {}}


def apply(state: dict, event: Event) -> dict:
    handler = HANDLERS.get(event.type)
    if handler is not None:
        handler(state, event)
    else:
        _plain_snapshot(state, event)
    return state


def new_row(server: str, unique_id: str, t: float, position: int) -> dict[str, Any]:
    return {
        "server": server, "unique_id": unique_id, "linked_id": "", "channel": "",
        "channel_state": None, "channel_state_desc": "", "context": "", "exten": "",
        "priority": "", "caller_id_name": "", "caller_id_num": "", "connected_line_name": "",
        "connected_line_num": "", "account_code": "", "language": "", "application": "",
        "application_data": "", "bridge_id": None, "variables": {}, "tm_create": t,
        "tm_update": t, "pos": position, "snapshot": None,
        "app_priority": None,  # the priority its application runs at (see _bridge_enter)
    }


_STATE_NUMBER = {str(n): n for n in range(10)}


def update_snapshot(row: dict, data: dict, snap: Snapshot, event: Event) -> bool:
    """Copy one snapshot into a row; True when something changed (then `tm_update` moves).

    Runs for almost every channel event, and most of them repeat the snapshot the row already
    holds: the raw values are kept in the row (`snapshot`) and compared in one go; fields are
    visited only when that differs, and the event's time is parsed only when one changed."""
    changed = False
    get = data.get
    try:
        raw = list(snap.pick(data))
    except KeyError:  # a header missing: None in its place
        raw = list(map(get, snap.headers))
    if raw == row["snapshot"]:
        chanvars = get(snap.chanvar)
        if chanvars is not None and _set_chanvars(row["variables"], chanvars):
            row["tm_update"] = event_time(event)
            return True
        return False
    row["snapshot"] = raw
    for header, field in snap.fields:
        value = get(header)
        if value is not None and row[field] != value:
            row[field] = value
            changed = True
    value = raw[0]
    if value is not None:
        number = _STATE_NUMBER.get(value) if isinstance(value, str) else None
        if number is None:
            number = to_int(value)
        if number is not None and row["channel_state"] != number:
            row["channel_state"] = number
            if snap.state_desc not in data:
                row["channel_state_desc"] = STATE_DESC.get(number, f"Unknown ({number})")
            changed = True
    chanvars = get(snap.chanvar)
    if chanvars is not None:
        changed = _set_chanvars(row["variables"], chanvars) or changed
    if changed:
        row["tm_update"] = event_time(event)
    return changed


def _set_chanvars(variables: dict, values: str | list[str]) -> bool:
    changed = False
    for item in values if isinstance(values, list) else (values,):
        name, sep, value = str(item).partition("=")
        if sep and variables.get(name) != value:
            variables[name] = value
            changed = True
    return changed


def _refresh(channels: dict, event: Event, snaps: tuple[Snapshot, ...]) -> None:
    data = event.data
    for snap in snaps:
        uid = data.get(snap.uniqueid)
        if uid is None or snap.state not in data:
            continue
        row = channels.get(f"{event.server}/{uid}")
        if row is not None:
            update_snapshot(row, data, snap, event)


# ------------------------------------------------------------------------------ handlers

def _snapshot(state: dict, event: Event) -> None:
    _refresh(state["channels"], event, SNAPSHOTS.get(event.type, _PLAIN))


def _plain_snapshot(state: dict, event: Event) -> None:
    """`_snapshot` of a type that carries one unprefixed snapshot: a quarter of all events."""
    data = event.data
    uid = data.get("Uniqueid")
    if uid is not None and "ChannelState" in data:
        row = state["channels"].get(f"{event.server}/{uid}")
        if row is not None:
            update_snapshot(row, data, _PLAIN[0], event)


def _newchannel(state: dict, event: Event) -> None:
    data = event.data
    uid = data.get("Uniqueid")
    if not isinstance(uid, str) or not uid:
        return
    channels = state["channels"]
    key = f"{event.server}/{uid}"
    if key in channels:
        return  # already listed by CoreShowChannels: the listed fields are newer
    t = event_time(event)
    row = new_row(event.server, uid, t, event.position)
    update_snapshot(row, data, _PLAIN[0], event)
    row["tm_update"] = t
    channels[key] = row


def _newexten(state: dict, event: Event) -> None:
    data = event.data
    row = state["channels"].get(f"{event.server}/{data.get('Uniqueid')}")
    if row is None:
        return
    update_snapshot(row, data, _PLAIN[0], event)
    app = data.get("Application")
    if app is not None:
        app_data = data.get("AppData", "")
        row["app_priority"] = data.get("Priority")
        if row["application"] != app or row["application_data"] != app_data:
            row["application"] = app
            row["application_data"] = app_data
            row["tm_update"] = event_time(event)


def _varset(state: dict, event: Event) -> None:
    data = event.data
    row = state["channels"].get(f"{event.server}/{data.get('Uniqueid')}")
    if row is None:
        return  # a global variable (no channel) or a channel we do not hold
    update_snapshot(row, data, _PLAIN[0], event)
    name = data.get("Variable")
    if isinstance(name, str):
        row["variables"][name] = data.get("Value", "")
        row["tm_update"] = event_time(event)


def _bridge_enter(state: dict, event: Event) -> None:
    """The channel is in the bridge now. If it was running an application and comes in at
    another priority than that application's, Asterisk took it out of its dialplan into the
    bridge (the AMI `Bridge` and `Park` actions, ARI: `ast_channel_yank`): a new channel took
    its name and uniqueid, created now, running no application, its priority the next one.
    No event says so but this one; `CoreShowChannels` lists it so (`Duration` from now,
    `Application` empty)."""
    data = event.data
    row = state["channels"].get(f"{event.server}/{data.get('Uniqueid')}")
    if row is None:
        return
    priority = data.get("Priority")
    if row["application"] and priority is not None \
            and row["app_priority"] not in (None, priority):
        row["application"] = row["application_data"] = ""
        row["app_priority"] = None
        row["tm_create"] = event_time(event)
    update_snapshot(row, data, _PLAIN[0], event)
    row["bridge_id"] = data.get("BridgeUniqueid") or None
    row["tm_update"] = event_time(event)


def _bridge_leave(state: dict, event: Event) -> None:
    data = event.data
    row = state["channels"].get(f"{event.server}/{data.get('Uniqueid')}")
    if row is None:
        return
    update_snapshot(row, data, _PLAIN[0], event)
    if row["bridge_id"] == data.get("BridgeUniqueid"):
        row["bridge_id"] = None
        row["tm_update"] = event_time(event)


def _rename(state: dict, event: Event) -> None:
    data = event.data
    row = state["channels"].get(f"{event.server}/{data.get('Uniqueid')}")
    new_name = data.get("Newname")
    if row is not None and isinstance(new_name, str):
        row["channel"] = new_name
        row["snapshot"] = None  # the fields no longer match the last raw snapshot
        row["tm_update"] = event_time(event)


def _hangup(state: dict, event: Event) -> None:
    data = event.data
    key = f"{event.server}/{data.get('Uniqueid')}"
    row = state["channels"].pop(key, None)
    closed = state["closed"]
    if row is None:
        row = closed.get(key)  # closed as vanished, its Hangup arrives late: keep the cause
        if row is None:
            return
    t = event_time(event)
    update_snapshot(row, data, _PLAIN[0], event)
    cause = to_int(data.get("Cause"))
    row["hangup_cause"] = cause
    text = data.get("Cause-txt")
    row["hangup_cause_desc"] = text if isinstance(text, str) else cause_desc(cause)
    row.setdefault("hangup_reason", None)
    row["tm_update"] = t
    _remember_closed(closed, key, row)


def _remember_closed(closed: dict, key: str, row: dict) -> None:
    closed.pop(key, None)
    closed[key] = row
    while len(closed) > CLOSED_KEPT:
        del closed[next(iter(closed))]


def _list_item(state: dict, event: Event) -> None:
    """One `CoreShowChannel`: Asterisk's view of a live channel when the list was built."""
    uid = lists.item_named(state["lists"], event, "Uniqueid")
    if uid is not None:
        _upsert_listed(state, event, uid, "ApplicationData", "BridgeId", "Duration")


def _status_item(state: dict, event: Event) -> None:
    """A `Status` item: a live channel too, but the list may be filtered (`Channel:`), so it
    adds and refreshes channels and never closes any."""
    uid = event.data.get("Uniqueid")
    if isinstance(uid, str) and uid and "ChannelState" in event.data:
        _upsert_listed(state, event, uid, "Data", "BridgeID", "Seconds")


def _upsert_listed(state: dict, event: Event, uid: str, data_h: str, bridge_h: str,
                   age_h: str) -> None:
    data = event.data
    channels = state["channels"]
    key = f"{event.server}/{uid}"
    t = event_time(event)
    row = channels.get(key)
    if row is None:
        created = t - to_seconds(data.get(age_h))
        row = new_row(event.server, uid, created, event.position)
        channels[key] = row
        state["closed"].pop(key, None)
    changed = update_snapshot(row, data, _PLAIN[0], event)
    for header, field in (("Application", "application"), (data_h, "application_data")):
        value = data.get(header)
        if value is not None and row[field] != value:
            row[field] = value
            changed = True
    if "Application" in data:
        row["app_priority"] = data.get("Priority") if row["application"] else None
    bridge = data.get(bridge_h)
    if bridge is not None and row["bridge_id"] != (bridge or None):
        row["bridge_id"] = bridge or None
        changed = True
    variables = data.get("Variable")  # Status with Variables: "NAME=value" lines
    if variables is not None and event.type == "Status":
        changed = _set_chanvars(row["variables"], variables) or changed
    if changed:
        row["tm_update"] = t


def _list_complete(state: dict, event: Event) -> None:
    channels = state["channels"]
    gone = lists.gone(state, channels, event)
    if not gone:
        return
    t = event_time(event)
    for key in gone:
        row = channels.pop(key)
        row["hangup_cause"] = None
        row["hangup_cause_desc"] = None
        row["hangup_reason"] = VANISHED
        row["tm_update"] = t
        _remember_closed(state["closed"], key, row)


def _ignore(state: dict, event: Event) -> None:
    pass


# Event types that never carry a channel snapshot (Asterisk's documented headers, and every
# capture): apply ignores them, so the runner and a replay's reader may skip them.
NO_SNAPSHOT = (
    "DeviceStateChange", "OriginateResponse", "ExtensionStatus", "PeerStatus", "ContactStatus",
    "Registry", "FullyBooted", "SuccessfulAuth", "QueueParams", "QueueMember",
    "QueueMemberStatus", "QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause",
    "QueueMemberPenalty", "QueueMemberRinginuse", "QueueSummary", "QueueSummaryComplete",
    "QueueStatusComplete", "BridgeCreate", "BridgeDestroy", "BridgeListItem",
    "BridgeListComplete", "Parkinglot", "ParkinglotsComplete", "ParkedCallsComplete",
    "DeviceStateListComplete", "StatusComplete",
)


HANDLERS: dict[str, Handler] = {
    "Newchannel": _newchannel,
    "Newexten": _newexten,
    "VarSet": _varset,
    "BridgeEnter": _bridge_enter,
    "BridgeLeave": _bridge_leave,
    "Rename": _rename,
    "Hangup": _hangup,
    "CoreShowChannel": _list_item,
    "CoreShowChannelsComplete": _list_complete,
    "Status": _status_item,
    **lists.HANDLERS,
    # Types Asterisk sends with no channel snapshot: skip the generic check.
    **dict.fromkeys(NO_SNAPSHOT, _ignore),
    "Newstate": _plain_snapshot,
    "NewCallerid": _plain_snapshot,
    "NewConnectedLine": _plain_snapshot,
    "NewAccountCode": _plain_snapshot,
    "HangupRequest": _plain_snapshot,
    "SoftHangupRequest": _plain_snapshot,
    **{name: _snapshot for name in SNAPSHOTS},
}


IGNORED_TYPES = frozenset(t for t, handler in HANDLERS.items() if handler is _ignore)
handled_by(apply, HANDLERS)  # the runner may call a listed type's handler directly


# ------------------------------------------------------------------------------ views

def rows(state: dict, now: float) -> list[Row]:
    out = [channel_row(row, now) for row in state["channels"].values()]
    out.sort(key=lambda r: (r["server"], r["tm_create"] or "", r["unique_id"]))
    return out


def channel_row(row: dict, now: float | None) -> Row:
    """A state row as the seed's channel object (+ `server`, `hangup_reason`, `tm_create`)."""
    created = row["tm_create"]
    return {
        "server": row["server"], "unique_id": row["unique_id"], "linked_id": row["linked_id"],
        "channel": row["channel"], "channel_state": row["channel_state"],
        "channel_state_desc": row["channel_state_desc"], "context": row["context"],
        "exten": row["exten"], "priority": row["priority"],
        "caller_id_name": row["caller_id_name"], "caller_id_num": row["caller_id_num"],
        "connected_line_name": row["connected_line_name"],
        "connected_line_num": row["connected_line_num"], "account_code": row["account_code"],
        "language": row["language"], "application": row["application"],
        "application_data": row["application_data"], "bridge_id": row["bridge_id"],
        "variables": dict(row["variables"]),
        "hangup_cause": row.get("hangup_cause"),
        "hangup_cause_desc": row.get("hangup_cause_desc"),
        "hangup_reason": row.get("hangup_reason"),
        "duration": int(now - created) if now is not None and created else None,
        "tm_create": iso(created), "tm_update": iso(row["tm_update"]),
    }


VIEWS = {"channels": rows}
