"""Commands (`engine/commands.py`): what each one asked, where it stands, what it caused.

A command's own stream gives its state: `requested` (durable, not yet sent), `sent` (handed to
the AMI connection; an async Originate stays `sent` while Asterisk has only queued it), then
`succeeded` or `failed` with Asterisk's message (or why no answer came; for an async Originate,
its OriginateResponse's reason). Asterisk's messages carrying its ActionID (`cmd-<id>`: the
response, an async `OriginateResponse`, kept in `originate_response` with its reason's text)
are linked by position, and so are the events of the channels it targeted
or created (an Originate names its channels' Uniqueids in advance with `ChannelId` /
`OtherChannelId`): each of those channels is watched until its `Hangup`, at most `MAX_LINKED`
events per command. The most recent `KEEP` commands are kept; older ones are in the log.
"""

from __future__ import annotations

from engine.commands import (
    FAILED,
    REQUESTED,
    SENT,
    STREAM_PREFIX,
    SUCCEEDED,
    command_of,
    reason_text,
)
from engine.envelope import RESPONSE, Event
from projections.base import Row, event_time, iso, to_int

NAME = "commands"
VERSION = 2

KEEP = 10_000
MAX_LINKED = 200
WATCHED = ("Uniqueid", "DestUniqueid", "ParkeeUniqueid")  # headers naming a channel it acts on

COLUMNS: dict[str, dict[str, str]] = {
    "commands": {
        "id": "str", "server": "str", "command": "str", "action": "str", "who": "str",
        "state": "str", "status": "int", "message": "str", "targets": "json",
        "params": "json", "correlation_id": "str", "requested_position": "int",
        "response_position": "int", "response": "json", "events": "json",
        "originate_response": "json", "tm_create": "str", "tm_update": "str",
    },
}


def initial() -> dict:
    return {
        "commands": {},  # id -> command row (insertion order = request order)
        "watch": {},  # "<server>/<uniqueid>" -> [command id, ...] still watching it
    }


def _requested(state: dict, event: Event) -> None:
    data = event.data
    cid = data.get("id")
    if not isinstance(cid, str):
        return
    t = event_time(event)
    action = data.get("action") if isinstance(data.get("action"), dict) else {}
    targets = [u for u in data.get("targets") or [] if isinstance(u, str)]
    commands = state["commands"]
    commands[cid] = {
        "id": cid, "server": event.server, "command": data.get("command"),
        "action": action.get("Action"), "who": data.get("who"), "state": "requested",
        "status": None, "message": None, "targets": targets, "params": data.get("params"),
        "correlation_id": event.correlation_id, "requested_position": event.position,
        "response_position": None, "response": None, "events": [],
        "originate_response": None, "created": t, "updated": t,
    }
    for uid in targets:
        state["watch"].setdefault(f"{event.server}/{uid}", []).append(cid)
    while len(commands) > KEEP:
        _forget(state, next(iter(commands)))


def _forget(state: dict, cid: str) -> None:
    row = state["commands"].pop(cid)
    for uid in row["targets"]:
        key = f"{row['server']}/{uid}"
        ids = state["watch"].get(key)
        if ids and cid in ids:
            ids.remove(cid)
            if not ids:
                del state["watch"][key]


def _own(state: dict, event: Event) -> None:
    row = state["commands"].get(event.stream[len(STREAM_PREFIX):])
    if row is None:
        return
    data = event.data
    if event.type == SENT:
        if row["state"] == "requested":
            row["state"] = "sent"
    else:
        row["state"] = "succeeded" if event.type == SUCCEEDED else "failed"
        row["status"] = data.get("status")
        row["message"] = data.get("message")
        if row["response"] is None and isinstance(data.get("response"), dict):
            row["response"] = data["response"]
    row["updated"] = event_time(event)


def _answer(state: dict, event: Event, cid: str) -> None:
    """A message carrying the command's ActionID: its response, or an OriginateResponse."""
    row = state["commands"].get(cid)
    if row is None:
        return
    data = event.data
    if event.type == RESPONSE and row["response_position"] is None:
        row["response_position"] = event.position
        row["response"] = {k: v for k, v in data.items() if k != "ActionID"}
    else:
        _link(row, event)
        if event.type == "OriginateResponse":
            row["originate_response"] = {
                "response": data.get("Response"), "reason": data.get("Reason"),
                "reason_text": reason_text(to_int(data.get("Reason"))),
                "unique_id": data.get("Uniqueid"), "channel": data.get("Channel"),
            }
    row["updated"] = event_time(event)


def _link(row: dict, event: Event) -> None:
    if len(row["events"]) < MAX_LINKED and event.position not in row["events"][-1:]:
        row["events"].append(event.position)


def _watched(state: dict, event: Event) -> None:
    watch = state["watch"]
    data = event.data
    for header in WATCHED:
        uid = data.get(header)
        if not isinstance(uid, str):
            continue
        key = f"{event.server}/{uid}"
        ids = watch.get(key)
        if not ids:
            continue
        for cid in ids:
            _link(state["commands"][cid], event)
        if event.type == "Hangup" and header == "Uniqueid":
            del watch[key]  # the channel is gone: nothing more will be about it


def apply(state: dict, event: Event) -> dict:
    type_ = event.type
    if event.stream.startswith(STREAM_PREFIX):
        if type_ == REQUESTED:
            _requested(state, event)
        elif type_ in (SENT, SUCCEEDED, FAILED):
            _own(state, event)
        return state
    if "ActionID" in event.data:
        cid = command_of(event.data)
        if cid is not None:
            _answer(state, event, cid)
            return state
    if state["watch"]:
        _watched(state, event)
    return state


def command_row(row: dict) -> Row:
    out: Row = {name: row[name] for name in COLUMNS["commands"] if name in row}
    out["tm_create"] = iso(row["created"])
    out["tm_update"] = iso(row["updated"])
    return out


def rows(state: dict, now: float) -> list[Row]:
    return [command_row(row) for row in state["commands"].values()]


VIEWS = {"commands": rows}
