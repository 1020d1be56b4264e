"""jade's dialplan masters and dialplans (`/dp/dpmas`, `/dp/dialplans`), and the writes whose
aggregate events are still to come.

Objects follow their streams (`dpma/<uuid>`, `dialplan/<uuid>`) through the dialer's `evolve`,
the same fold the command side reads a stream with (`engine/dialplans/commands.py`); a deleted
object leaves the state.

The outbox: a dialplan write is a command that changes extensions.conf, whose request carries
the events the write appends once the command succeeded (`outbox`). Until each is in the log
(or another event took its stream version) it is kept here, with whether its command
succeeded: `DialplanCommands.recover` appends the succeeded ones a crash left behind. A failed
command's outbox is dropped; at most `KEPT` are followed (the oldest go first).

Views: `dpmas` and `dialplans`, the seed's fields, plus `server` (whose extensions.conf holds
the context) and, for a dpma, `context` (its name there); dpmas in the order they were made,
dialplans by dpma and sequence.
"""

from __future__ import annotations

from typing import Any

from engine.commands import FAILED, REQUESTED, STREAM_PREFIX, SUCCEEDED
from engine.dialer.objects import evolve
from engine.dialplans import render
from engine.dialplans.objects import COLLECTION, OBJECT_TYPES, OUTBOX, alive, kind_of
from engine.envelope import Event
from projections.base import Handler, Row, columns, dispatch

NAME = "dialplans"
VERSION = 1
KEPT = 1000

COLUMNS: dict[str, dict[str, str]] = {
    "dpmas": columns("uuid name detail tm_create tm_update server context"),
    "dialplans": columns("uuid dpma_uuid sequence:int name detail command tm_create tm_update "
                         "server"),
}


def initial() -> dict:
    return {"dpmas": {}, "dialplans": {}, "outbox": {}}


def _object(state: dict, event: Event) -> None:
    kind = kind_of(event.stream)
    if kind is None:
        return
    rows = state[COLLECTION[kind]]
    uuid = event.stream.partition("/")[2]
    new = evolve(rows.get(uuid), event.type, event.data, event.version)
    if alive(new):
        rows[uuid] = new
    else:
        rows.pop(uuid, None)
    _settled(state, event)


def _settled(state: dict, event: Event) -> None:
    """The outbox events this event is (or took the place of) are no longer to come."""
    outbox = state["outbox"]
    for cid in list(outbox):
        entry = outbox[cid]
        left = [e for e in entry["events"]
                if (e["stream"], e["version"]) != (event.stream, event.version)]
        if len(left) != len(entry["events"]):
            entry["events"] = left
            if not left:
                del outbox[cid]


def _command(event: Event) -> str | None:
    return event.stream[len(STREAM_PREFIX):] if event.stream.startswith(STREAM_PREFIX) else None


def _requested(state: dict, event: Event) -> None:
    events = event.data.get(OUTBOX)
    cid = _command(event)
    if cid is None or not isinstance(events, list) or not events:
        return
    outbox = state["outbox"]
    outbox[cid] = {"server": event.server, "events": events, "succeeded": False}
    while len(outbox) > KEPT:
        del outbox[next(iter(outbox))]


def _succeeded(state: dict, event: Event) -> None:
    entry = state["outbox"].get(_command(event))
    if entry is not None:
        entry["succeeded"] = True


def _failed(state: dict, event: Event) -> None:
    state["outbox"].pop(_command(event), None)


_HANDLERS: dict[str, Handler] = {
    **{t: _object for t in OBJECT_TYPES},
    REQUESTED: _requested, SUCCEEDED: _succeeded, FAILED: _failed,
}
EVENT_TYPES = frozenset(_HANDLERS)
apply = dispatch(_HANDLERS)


# ------------------------------------------------------------------------------ views

def dpma_row(obj: dict[str, Any]) -> Row:
    return {"uuid": obj["uuid"], "name": obj.get("name"), "detail": obj.get("detail"),
            "tm_create": obj.get("tm_create"), "tm_update": obj.get("tm_update"),
            "server": obj.get("server"), "context": render.context_of(obj["uuid"])}


def dialplan_row(obj: dict[str, Any]) -> Row:
    return {"uuid": obj["uuid"], "dpma_uuid": obj.get("dpma_uuid"),
            "sequence": obj.get("sequence"), "name": obj.get("name"),
            "detail": obj.get("detail"), "command": obj.get("command"),
            "tm_create": obj.get("tm_create"), "tm_update": obj.get("tm_update"),
            "server": obj.get("server")}


ROWS = {"dpma": dpma_row, "dialplan": dialplan_row}


def dpma_rows(state: dict, now: float) -> list[Row]:
    objs = list(state["dpmas"].values())
    objs.sort(key=lambda o: (o.get("tm_create") or "", o["uuid"]))
    return [dpma_row(o) for o in objs]


def dialplan_rows(state: dict, now: float) -> list[Row]:
    objs = list(state["dialplans"].values())
    objs.sort(key=lambda o: (o.get("dpma_uuid") or "", o.get("sequence") or 0, o["uuid"]))
    return [dialplan_row(o) for o in objs]


VIEWS: dict[str, Any] = {"dpmas": dpma_rows, "dialplans": dialplan_rows}
