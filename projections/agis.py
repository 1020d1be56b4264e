"""Channels in async AGI (seed 004 `/core/agis`): each with its AGI environment and commands.

`AsyncAGIStart` opens a row: the channel's snapshot (the seed's channel subset), `env` (the
decoded `Env`, `engine/agi.py`) and `cmd`, the commands run on it, by command id. `AsyncAGIEnd`
(or the channel's `Hangup`) closes it. A command gets its entry when Switchboard is asked to send
it (the `CommandRequested` of an `AGI` command: its text, `tm_create`) and its `result` when
Asterisk reports it (`AsyncAGIExec`, matched by `CommandId`; `code`, `value` and `data` decoded
from the answer line). A command some other manager client queued is known by its report alone;
its text is the `Command` of the `AGIExecStart` just before (Asterisk runs one channel's commands
one at a time: `AGIExecStart`, `AGIExecEnd`, then `AsyncAGIExec`). Channel events in between
(`Newstate`, `NewCallerid`, `NewConnectedLine`) refresh the snapshot.

Reconciliation (`projections/lists.py`): a `CoreShowChannels` answer closes the rows of channels
it does not list, and opens a row (without `env`, which only `AsyncAGIStart` tells) for a listed
channel running `AGI(agi:async)` we did not know: it entered AGI while we were disconnected.
"""

from __future__ import annotations

from engine.agi import COMMAND_ID, decode_env, decode_result
from engine.commands import REQUESTED
from engine.envelope import Event
from projections import lists, pending
from projections.base import Handler, Row, columns, dispatch, event_time, iso, pick, to_int
from projections.channels import SNAPSHOT_FIELDS

NAME = "agis"
VERSION = 1

MAX_COMMANDS = 100  # commands kept per channel, the latest

COLUMNS: dict[str, dict[str, str]] = {
    "agis": columns(
        "server unique_id linked_id channel channel_state:int channel_state_desc context exten "
        "priority caller_id_name caller_id_num connected_line_name connected_line_num "
        "account_code language env:json cmd:json tm_update"),
}


def initial() -> dict:
    return {
        "agis": {},  # "<server>/<uniqueid>" -> row (+ "pos", "running": the AGIExecStart text)
        "lists": {},  # CoreShowChannels answers being read (projections/lists.py)
    }


def _key(event: Event, uid: str) -> str:
    return f"{event.server}/{uid}"


def _snapshot(row: dict, event: Event) -> None:
    data = event.data
    for header, field in SNAPSHOT_FIELDS:
        value = data.get(header)
        if isinstance(value, str):
            row[field] = value
    if "ChannelState" in data:
        row["channel_state"] = to_int(data["ChannelState"])


def _open(state: dict, event: Event, uid: str, env: dict[str, str]) -> dict:
    row = {name: None for name in COLUMNS["agis"]}
    row.update(server=event.server, unique_id=uid, env=env, cmd={}, pos=event.position,
               running=None)
    state["agis"][_key(event, uid)] = row
    return row


def _row(state: dict, event: Event) -> dict | None:
    uid = event.data.get("Uniqueid")
    return state["agis"].get(_key(event, uid)) if isinstance(uid, str) else None


def _start(state: dict, event: Event) -> None:
    uid = event.data.get("Uniqueid")
    if not isinstance(uid, str) or not uid:
        return
    row = _open(state, event, uid, decode_env(event.data.get("Env")))
    _snapshot(row, event)
    row["tm_update"] = event_time(event)


def _exec_start(state: dict, event: Event) -> None:
    row = _row(state, event)
    if row is not None:
        row["running"] = event.header("Command") or None


def _exec(state: dict, event: Event) -> None:
    row = _row(state, event)
    if row is None:
        return
    t = event_time(event)
    _snapshot(row, event)
    command_id = event.header(COMMAND_ID)
    entry = row["cmd"].get(command_id)
    if entry is None:
        entry = _command(row, command_id, row["running"], t)
    result = decode_result(event.data.get("Result"))
    entry.update(result=result.text, code=result.code, value=result.value, data=result.data,
                 tm_update=t)
    row["running"] = None
    row["tm_update"] = t


def _command(row: dict, command_id: str, text: str | None, t: float) -> dict:
    cmd = row["cmd"]
    entry = cmd[command_id] = {"command": text, "result": None, "code": None, "value": None,
                               "data": None, "tm_create": t, "tm_update": t}
    while len(cmd) > MAX_COMMANDS:
        del cmd[next(iter(cmd))]
    return entry


def _end(state: dict, event: Event) -> None:
    uid = event.data.get("Uniqueid")
    if isinstance(uid, str):
        state["agis"].pop(_key(event, uid), None)


def _channel(state: dict, event: Event) -> None:
    row = _row(state, event)
    if row is not None:
        _snapshot(row, event)
        row["tm_update"] = event_time(event)


def _requested(state: dict, event: Event) -> None:
    """An `AGI` command Switchboard is about to send: its entry, before Asterisk runs it."""
    action = pending.requested(event)
    targets = event.data.get("targets")
    if not (action is not None and action.get("Action") == "AGI"
            and isinstance(targets, list) and targets and isinstance(targets[0], str)):
        return
    row = state["agis"].get(_key(event, targets[0]))
    command_id, text = action.get("CommandID"), action.get("Command")
    if row is not None and isinstance(command_id, str) and isinstance(text, str):
        _command(row, command_id, text, event_time(event))


def _list_item(state: dict, event: Event) -> None:
    uid = lists.item_named(state["lists"], event, "Uniqueid")
    if uid is None:
        return
    row = state["agis"].get(_key(event, uid))
    if row is None:
        if event.header("Application").lower() != "agi" or not event.header(
                "ApplicationData").lower().startswith("agi:async"):
            return
        row = _open(state, event, uid, {})
    _snapshot(row, event)
    row["tm_update"] = event_time(event)


def _list_complete(state: dict, event: Event) -> None:
    for key in lists.gone(state, state["agis"], event):
        del state["agis"][key]


HANDLERS: dict[str, Handler] = {
    **lists.HANDLERS,
    "AsyncAGIStart": _start,
    "AGIExecStart": _exec_start,
    "AsyncAGIExec": _exec,
    "AsyncAGIEnd": _end,
    "Hangup": _end,
    "Newstate": _channel,
    "NewCallerid": _channel,
    "NewConnectedLine": _channel,
    "CoreShowChannel": _list_item,
    "CoreShowChannelsComplete": _list_complete,
    REQUESTED: _requested,
}
EVENT_TYPES = frozenset(HANDLERS)
apply = dispatch(HANDLERS)


def agi_row(row: dict) -> Row:
    cmd = {cid: {**entry, "tm_create": iso(entry["tm_create"]),
                 "tm_update": iso(entry["tm_update"])}
           for cid, entry in row["cmd"].items()}
    return pick(row, COLUMNS["agis"], cmd=cmd, tm_update=iso(row["tm_update"]))


def rows(state: dict, now: float) -> list[Row]:
    return [agi_row(row) for row in state["agis"].values()]


VIEWS = {"agis": rows}
