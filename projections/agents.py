"""Agents of app_agent_pool (`/agents`): who is logged in, idle or on a call.

`AgentLogin` / `AgentLogoff` carry the agent id (`Agent`) and a snapshot of the agent's own
channel; the `Agents` action (sent on every connect) lists every configured agent (`Status` is
`AGENT_LOGGEDOFF`, `AGENT_IDLE` or `AGENT_ONCALL`; a logged-in one with `LoggedInTime` and its
channel's snapshot, `LoggedInTime` inside `CallStarted` for an agent on a call: `_unfolded`)
then `AgentsComplete`, which reconciles: agents no longer listed were removed from
agents.conf. A queue member whose interface is `Agent/<id>` moves the agent to `AGENT_ONCALL`
on `AgentConnect` and back to `AGENT_IDLE` on `AgentComplete` / `AgentDump`. While logged
in, the agent channel's own events (`Newstate`, `NewCallerid`, ...) keep the channel fields
current.
"""

from __future__ import annotations

from typing import Any

from engine.envelope import Event
from projections import lists
from projections.base import Handler, Row, columns, dispatch, event_time, iso, pick, to_int

NAME = "agents"
VERSION = 3

LOGGED_OFF, IDLE, ON_CALL = "AGENT_LOGGEDOFF", "AGENT_IDLE", "AGENT_ONCALL"

CHANNEL_FIELDS: tuple[tuple[str, str], ...] = (
    ("Channel", "channel_name"),
    ("ChannelStateDesc", "channel_state_desc"),
    ("CallerIDName", "caller_id_name"),
    ("CallerIDNum", "caller_id_num"),
    ("ConnectedLineName", "connected_line_name"),
    ("ConnectedLineNum", "connected_line_num"),
    ("Context", "context"),
    ("Exten", "exten"),
    ("Priority", "priority"),
    ("AccountCode", "account_code"),
    ("Language", "language"),
    ("Uniqueid", "unique_id"),
    ("Linkedid", "linked_id"),
)

COLUMNS: dict[str, dict[str, str]] = {
    "agents": columns(
        "server id name status logged_in_time:int channel_name channel_state:int "
        "channel_state_desc caller_id_name caller_id_num connected_line_name "
        "connected_line_num context exten priority account_code language unique_id linked_id "
        "tm_update"),
}


def initial() -> dict:
    return {"agents": {}, "channels": {}, "lists": {}}


def _agent(state: dict, event: Event, agent_id: object) -> dict[str, Any] | None:
    if not isinstance(agent_id, str) or not agent_id:
        return None
    agents = state["agents"]
    key = f"{event.server}/{agent_id}"
    row = agents.get(key)
    if row is None:
        row = agents[key] = {
            "server": event.server, "id": agent_id, "name": "", "status": LOGGED_OFF,
            "logged_in_time": None, "channel_state": None, "tm_update": event_time(event),
            "pos": event.position, **{field: "" for _, field in CHANNEL_FIELDS},
        }
    return row


def _set_channel(state: dict, row: dict, data: dict, key: str) -> None:
    for header, field in CHANNEL_FIELDS:
        value = data.get(header)
        if value is not None:
            row[field] = value
    number = to_int(data.get("ChannelState"))
    if number is not None:
        row["channel_state"] = number
    if row["unique_id"]:
        state["channels"][f"{row['server']}/{row['unique_id']}"] = key


def _clear_channel(state: dict, row: dict) -> None:
    state["channels"].pop(f"{row['server']}/{row['unique_id']}", None)
    for _, field in CHANNEL_FIELDS:
        row[field] = ""
    row["channel_state"] = None


def _login(state: dict, event: Event) -> None:
    row = _agent(state, event, event.data.get("Agent"))
    if row is None:
        return
    t = event_time(event)
    row["status"] = IDLE
    row["logged_in_time"] = int(t)
    _set_channel(state, row, event.data, f"{event.server}/{row['id']}")
    row["tm_update"] = t


def _logoff(state: dict, event: Event) -> None:
    row = _agent(state, event, event.data.get("Agent"))
    if row is None:
        return
    row["status"] = LOGGED_OFF
    row["logged_in_time"] = None
    _clear_channel(state, row)
    row["tm_update"] = event_time(event)


def _unfolded(data: dict) -> dict:
    """app_agent_pool writes `CallStarted: <epoch>\n` with a bare line feed (an agent on a
    call), so the header after it (`LoggedInTime`) arrives inside its value."""
    value = data.get("CallStarted")
    if not isinstance(value, str) or "\n" not in value:
        return data
    first, *rest = value.split("\n")
    out = {**data, "CallStarted": first}
    for line in rest:
        name, sep, text = line.partition(": ")
        if sep and name not in out:
            out[name] = text
    return out


def _list_item(state: dict, event: Event) -> None:
    data = _unfolded(event.data)
    row = _agent(state, event, data.get("Agent"))
    if row is None:
        return
    lists.item(state["lists"], event, row["id"])
    name = data.get("Name")
    if isinstance(name, str):
        row["name"] = name
    status = data.get("Status")
    if isinstance(status, str) and status:
        row["status"] = status
    if status == LOGGED_OFF:
        row["logged_in_time"] = None
        _clear_channel(state, row)
    else:
        logged_in = to_int(data.get("LoggedInTime"))
        if logged_in:
            row["logged_in_time"] = logged_in
        _set_channel(state, row, data, f"{event.server}/{row['id']}")
    row["tm_update"] = event_time(event)


def _list_complete(state: dict, event: Event) -> None:
    agents = state["agents"]
    for key in lists.gone(state, agents, event):
        _clear_channel(state, agents.pop(key))


def _queue_agent(status: str | None) -> Handler:
    def handler(state: dict, event: Event) -> None:
        interface = event.data.get("Interface")
        if not isinstance(interface, str) or not interface.startswith("Agent/"):
            return
        row = _agent(state, event, interface[len("Agent/"):])
        if row is None:
            return
        member = event.data.get("MemberName")
        if isinstance(member, str) and member and not row["name"]:
            row["name"] = member
        if status is not None:
            row["status"] = status
        row["tm_update"] = event_time(event)

    return handler


def _channel_event(state: dict, event: Event) -> None:
    key = state["channels"].get(f"{event.server}/{event.data.get('Uniqueid')}")
    if key is not None:
        row = state["agents"][key]
        _set_channel(state, row, event.data, key)
        row["tm_update"] = event_time(event)


def _hangup(state: dict, event: Event) -> None:
    key = state["channels"].pop(f"{event.server}/{event.data.get('Uniqueid')}", None)
    if key is not None:
        row = state["agents"][key]
        row["channel_state"] = None
        row["tm_update"] = event_time(event)


HANDLERS: dict[str, Handler] = {
    "AgentLogin": _login,
    "AgentLogoff": _logoff,
    "Agents": _list_item,
    "AgentsComplete": _list_complete,
    "AgentCalled": _queue_agent(None),
    "AgentConnect": _queue_agent(ON_CALL),
    "AgentComplete": _queue_agent(IDLE),
    "AgentDump": _queue_agent(IDLE),
    "AgentRingNoAnswer": _queue_agent(None),
    "Newstate": _channel_event,
    "NewCallerid": _channel_event,
    "NewConnectedLine": _channel_event,
    "Newexten": _channel_event,
    "Hangup": _hangup,
    **lists.HANDLERS,
}
EVENT_TYPES = frozenset(HANDLERS)  # apply ignores every other type: the runner may skip it
apply = dispatch(HANDLERS)


def rows(state: dict, now: float) -> list[Row]:
    out = [pick(row, COLUMNS["agents"], tm_update=iso(row["tm_update"]))
           for row in state["agents"].values()]
    out.sort(key=lambda r: (r["server"], r["id"]))
    return out


VIEWS = {"agents": rows}
