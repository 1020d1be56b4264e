"""Queues, their members and their waiting callers, as Asterisk's app_queue sees them.

Live events move the state between reconciliations: `QueueMember*` events carry the whole member
(so each one simply overwrites the row), `QueueCallerJoin`/`Leave`/`Abandon` maintain the waiting
line, `AgentConnect`/`AgentComplete` the in-call flag and the queue's statistics. Positions are
not stored: the line of a queue is an ordered list and a caller's position is its index + 1, so
positions stay 1..n without gaps whatever order events come in (Asterisk renumbers the same way:
a join at position p pushes p.. down, a leave pulls everyone behind up by one).

The answer to `QueueStatus` (sent on every connect) is the truth: its `QueueParams`, `QueueMember`
and `QueueEntry` items (same ActionID) overwrite rows as they arrive, and `QueueStatusComplete`
removes the members and callers of the queues the answer covered that it did not list (a
`QueueStatus` filtered by queue only lists that queue's `QueueParams`, so only those queues are
reconciled), by the rule of `projections/lists.py`: rows added live while the answer was being
read (a member's `QueueMemberAdded`, a caller's `QueueCallerJoin`) are newer than it and kept. A
row that is already right is left alone, `tm_update` included, so applying the same answer twice
changes nothing.

Statistics follow app_queue: hold and talk times are exponential averages, new = (3*old + x)/4
(the first completed call sets talk time, the first connect of an empty history sets hold time);
completed and service-level counters move when `AgentComplete` is sent, abandoned when
`QueueCallerAbandon` is. Values nobody told us yet (a queue seen only through a member event)
stay None rather than a made-up 0. Asterisk builds an answer from its live structures, so an
event can arrive after an answer that already counted it: an abandon counts only for a caller we
still know, a completion only for a member the queue has in call (`AgentConnect`, or `InCall: 1`
in an answer; `InCall: 0` in an answer means the call was already counted).
"""

from __future__ import annotations

from engine.configs import WHOLE_PREFIX
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
    to_float,
    to_int,
    to_seconds,
    update,
)

NAME = "queues"
VERSION = 3

CLOSED_KEEP = 100  # how many closed queue entries (with their reason) the state remembers

def initial() -> dict:
    return {
        "queues": {},  # "<server>/<queue>" -> queue row
        "members": {},  # "<server>/<queue>/<interface>" -> member row
        "entries": {},  # "<server>/<uniqueid>" -> waiting caller (no position: see "lines")
        "lines": {},  # "<server>/<queue>" -> [uniqueid, ...] in queue order
        "lists": {},  # QueueStatus answers being read (projections/lists.py)
        "closed": [],  # last CLOSED_KEEP entries that left, with the reason
    }


# ---------------------------------------------------------------------------------------------
# queues


def _queue(state: dict, server: str, name: str, t: float, position: int) -> dict:
    """The queue's row, made by the event at `position` if it is new (`pos`: a whole
    QueueStatus answer that began later and does not list it removes it)."""
    qkey = f"{server}/{name}"
    row = state["queues"].get(qkey)
    if row is None:
        row = {
            "server": server, "name": name, "strategy": None, "max": None, "weight": None,
            "calls": None, "completed": None, "abandoned": None, "hold_time": None,
            "talk_time": None, "service_level": None, "service_level_perf": None,
            "service_level_perf2": None, "completed_in_sl": None, "abandoned_in_sl": None,
            "talking": [], "tm_update": t, "pos": position,
        }
        state["queues"][qkey] = row
    return row


def _perf(row: dict) -> dict:
    """ServicelevelPerf / Perf2 as app_queue prints them (percent, one decimal)."""
    done, gone = row["completed"], row["abandoned"]
    done_sl, gone_sl = row["completed_in_sl"], row["abandoned_in_sl"]
    out: dict = {}
    if done is not None and done_sl is not None:
        out["service_level_perf"] = round(100.0 * done_sl / done, 1) if done else 0.0
        if gone is not None and gone_sl is not None:
            total = done + gone
            out["service_level_perf2"] = (
                round(100.0 * (done_sl + gone_sl) / total, 1) if total else 0.0
            )
    return out


def _on_queue_params(state: dict, event: Event) -> None:
    name = event.header("Queue")
    if not name:
        return
    server, t = event.server, event_time(event)
    row = _queue(state, server, name, t, event.position)
    data = event.data
    fields: dict = {}
    for header, field in (("Max", "max"), ("Calls", "calls"), ("Holdtime", "hold_time"),
                          ("TalkTime", "talk_time"), ("Completed", "completed"),
                          ("Abandoned", "abandoned"), ("ServiceLevel", "service_level"),
                          ("Weight", "weight")):
        if header in data:
            fields[field] = to_int(event.header(header), 0)
    if "Strategy" in data:
        fields["strategy"] = event.header("Strategy")
    done, gone = fields.get("completed", 0), fields.get("abandoned", 0)
    perf = to_float(event.header("ServicelevelPerf"), 0.0)
    fields["service_level_perf"] = perf
    fields["completed_in_sl"] = round(perf * done / 100.0)
    if "ServicelevelPerf2" in data:
        perf2 = to_float(event.header("ServicelevelPerf2"), 0.0)
        fields["service_level_perf2"] = perf2
        both = round(perf2 * (done + gone) / 100.0)
        fields["abandoned_in_sl"] = max(0, both - fields["completed_in_sl"])
    update(row, fields, t)
    lists.item(state["lists"], event, "queue " + name)


def _on_queue_summary(state: dict, event: Event) -> None:
    """QueueSummary items: the waiting count and the averages, nothing about members."""
    name = event.header("Queue")
    if not name:
        return
    t = event_time(event)
    row = _queue(state, event.server, name, t, event.position)
    fields = {}
    for header, field in (("Callers", "calls"), ("HoldTime", "hold_time"),
                          ("TalkTime", "talk_time")):
        if header in event.data:
            fields[field] = to_int(event.header(header), 0)
    update(row, fields, t)


# ---------------------------------------------------------------------------------------------
# members

# header -> (field, kind); list items say Name/Location where events say MemberName/Interface
_MEMBER_FIELDS: dict[str, tuple[str, str]] = {
    "MemberName": ("name", "str"),
    "Name": ("name", "str"),
    "StateInterface": ("state_interface", "str"),
    "Membership": ("membership", "str"),
    "Penalty": ("penalty", "int"),
    "CallsTaken": ("calls_taken", "int"),
    "LastCall": ("last_call", "int"),
    "LastPause": ("last_pause", "int"),
    "LoginTime": ("login_time", "int"),
    "InCall": ("in_call", "int"),
    "Status": ("status", "int"),
    "Paused": ("paused", "int"),
    "PausedReason": ("paused_reason", "str"),
    "Ringinuse": ("ring_inuse", "int"),
    "Wrapuptime": ("wrapuptime", "int"),
}


def _member_key(server: str, queue: str, interface: str) -> str:
    return f"{server}/{queue}/{interface}"


def _new_member(server: str, queue: str, interface: str, t: float, position: int) -> dict:
    return {
        "server": server, "queue_name": queue, "location": interface, "name": interface,
        "state_interface": interface, "membership": "", "penalty": 0, "calls_taken": 0,
        "last_call": 0, "last_pause": 0, "login_time": 0, "in_call": 0, "status": 0,
        "paused": 0, "paused_reason": "", "ring_inuse": None, "wrapuptime": 0, "tm_update": t,
        "pos": position,
    }


def _member_fields(event: Event) -> dict:
    fields: dict = {}
    for header in event.data:
        spec = _MEMBER_FIELDS.get(header)
        if spec is not None:
            field, kind = spec
            value = event.header(header)
            fields[field] = to_int(value, 0) if kind == "int" else value
    if "paused_reason" not in fields and "Reason" in event.data:  # QueueMemberPause before 13
        fields["paused_reason"] = event.header("Reason")
    if "paused" in fields:
        fields["paused"] = 1 if fields["paused"] else 0
    return fields


def _upsert_member(state: dict, event: Event) -> str | None:
    queue = event.header("Queue")
    interface = event.header("Interface") or event.header("Location")
    if not queue or not interface:
        return None
    server, t = event.server, event_time(event)
    _queue(state, server, queue, t, event.position)
    mkey = _member_key(server, queue, interface)
    row = state["members"].get(mkey)
    if row is None:
        row = state["members"][mkey] = _new_member(server, queue, interface, t, event.position)
    update(row, _member_fields(event), t)
    return mkey


def _on_member_event(state: dict, event: Event) -> None:
    """QueueMemberAdded/Status/Pause/Penalty/Ringinuse all carry the whole member."""
    mkey = _upsert_member(state, event)
    if mkey is not None and event.type == "QueueMemberAdded":
        state["members"][mkey]["pos"] = event.position  # (re)added: newer than any answer


def _on_member_item(state: dict, event: Event) -> None:
    mkey = _upsert_member(state, event)
    if mkey is None:
        return
    lists.item(state["lists"], event, "member " + mkey.partition("/")[2])
    member = state["members"][mkey]
    talking = state["queues"][f"{event.server}/{member['queue_name']}"]["talking"]
    if member["in_call"] and member["location"] not in talking:
        talking.append(member["location"])
    elif not member["in_call"] and member["location"] in talking:
        talking.remove(member["location"])


def _on_member_removed(state: dict, event: Event) -> None:
    queue, interface = event.header("Queue"), event.header("Interface")
    mkey = _member_key(event.server, queue, interface)
    state["members"].pop(mkey, None)


def _set_in_call(state: dict, event: Event, in_call: int) -> dict | None:
    mkey = _member_key(event.server, event.header("Queue"), event.header("Interface"))
    row = state["members"].get(mkey)
    if row is not None:
        update(row, {"in_call": in_call}, event_time(event))
    return row


def _talking(state: dict, event: Event) -> tuple[dict | None, bool]:
    """The queue row and whether this member's call is already counted as going on.

    Asterisk answers a list from its live structures, so an answer can already include a call
    whose `AgentConnect`/`AgentComplete` is delivered after it: the members the queue has in
    call (`AgentConnect`, or `InCall: 1` in an answer) tell which calls are still to count.
    """
    row = state["queues"].get(f"{event.server}/{event.header('Queue')}")
    if row is None:
        return None, False
    return row, event.header("Interface") in row["talking"]


def _on_agent_connect(state: dict, event: Event) -> None:
    """The member is in call; the queue's average hold time takes this caller's wait."""
    _set_in_call(state, event, 1)
    row, counted = _talking(state, event)
    if row is None or counted:
        return
    row["talking"].append(event.header("Interface"))
    if row["hold_time"] is None:
        return
    hold = to_int(event.header("HoldTime"), 0)
    done, gone = row["completed"], row["abandoned"]
    if done is None or gone is None:
        return
    new = hold if done + gone == 0 else (3 * row["hold_time"] + hold) >> 2
    update(row, {"hold_time": new}, event_time(event))


def _on_agent_complete(state: dict, event: Event) -> None:
    """One more completed call: counters, talk-time average, service level."""
    _set_in_call(state, event, 0)
    row, going_on = _talking(state, event)
    if row is None or not going_on:
        return
    row["talking"].remove(event.header("Interface"))
    if row["completed"] is None:
        return
    done = row["completed"] + 1
    fields: dict = {"completed": done}
    talk = to_int(event.header("TalkTime"), 0)
    if done == 1 or row["talk_time"] is None:
        fields["talk_time"] = talk
    else:
        fields["talk_time"] = (3 * row["talk_time"] + talk) >> 2
    _count(row, event, fields, "completed_in_sl")


def _count(row: dict, event: Event, fields: dict, within: str) -> None:
    """A call ended (`completed_in_sl`) or was abandoned (`abandoned_in_sl`): its counter moves
    too when it waited (`HoldTime`) within the queue's service level; the percentages follow."""
    level, in_sl = row["service_level"], row[within]
    if level is not None and in_sl is not None:
        fields[within] = in_sl + (to_int(event.header("HoldTime"), 0) <= level)
    t = event_time(event)
    update(row, fields, t)
    update(row, _perf(row), t)


# ---------------------------------------------------------------------------------------------
# entries (callers waiting)

_ENTRY_FIELDS: tuple[tuple[str, str], ...] = (
    ("Channel", "channel"),
    ("CallerIDNum", "caller_id_num"),
    ("CallerIDName", "caller_id_name"),
    ("ConnectedLineNum", "connected_line_num"),
    ("ConnectedLineName", "connected_line_name"),
)


def _entry_fields(event: Event, from_list: bool) -> dict:
    fields = {}
    for header, field in _ENTRY_FIELDS:
        if header in event.data:
            value = event.header(header)
            if from_list and value == "unknown":
                value = "<unknown>"  # QueueStatus prints "unknown" where events say "<unknown>"
            fields[field] = value
    return fields


def _place(state: dict, server: str, queue: str, uid: str, position: int) -> bool:
    """Put a caller at `position` (1-based) of its queue's line, out of any other line.

    Returns whether its place changed. Everyone behind moves down one, as in app_queue.
    """
    entry = state["entries"][f"{server}/{uid}"]
    old = entry["queue_name"]
    if old is not None and old != queue:
        _unline(state, server, old, uid)
    entry["queue_name"] = queue
    line = state["lines"].setdefault(f"{server}/{queue}", [])
    index = max(0, min(position - 1, len(line)))
    if uid in line:
        if line.index(uid) == index:
            return False
        line.remove(uid)
        index = min(index, len(line))
    line.insert(index, uid)
    return True


def _unline(state: dict, server: str, queue: str, uid: str) -> None:
    """Take a caller out of a line; everyone behind moves up one. Empty lines are dropped."""
    lkey = f"{server}/{queue}"
    line = state["lines"].get(lkey)
    if line is not None and uid in line:
        line.remove(uid)
        if not line:
            del state["lines"][lkey]


def _entry_id(event: Event) -> str:
    return event.header("Uniqueid") or event.header("Channel")


def _upsert_entry(state: dict, event: Event, from_list: bool) -> str | None:
    queue, uid = event.header("Queue"), _entry_id(event)
    if not queue or not uid:
        return None
    server, t = event.server, event_time(event)
    _queue(state, server, queue, t, event.position)
    ekey = f"{server}/{uid}"
    entry = state["entries"].get(ekey)
    fields = _entry_fields(event, from_list)
    if entry is None or entry["queue_name"] != queue:
        fields["joined"] = t - to_seconds(event.header("Wait")) if from_list else t
    if entry is None:
        entry = state["entries"][ekey] = {
            "server": server, "unique_id": uid, "queue_name": None, "channel": "",
            "caller_id_num": "", "caller_id_name": "", "connected_line_num": "",
            "connected_line_name": "", "joined": t, "abandoned": False, "tm_update": t,
            "pos": event.position,
        }
    if not from_list:
        entry["pos"] = event.position  # joined live: newer than any answer
    moved = _place(state, server, queue, uid, to_int(event.header("Position"), 1))
    if not update(entry, fields, t) and moved:
        entry["tm_update"] = t
    return ekey


def _on_caller_join(state: dict, event: Event) -> None:
    ekey = _upsert_entry(state, event, from_list=False)
    if ekey is not None:
        _set_calls(state, event)


def _on_entry_item(state: dict, event: Event) -> None:
    ekey = _upsert_entry(state, event, from_list=True)
    if ekey is not None:
        lists.item(state["lists"], event, "entry " + ekey.partition("/")[2])


def _set_calls(state: dict, event: Event) -> None:
    """`Count` in join/leave is the number waiting right after: the queue's `calls`."""
    if "Count" in event.data:
        row = _queue(state, event.server, event.header("Queue"), event_time(event),
                     event.position)
        update(row, {"calls": to_int(event.header("Count"), 0)}, event_time(event))


def _close_entry(state: dict, server: str, uid: str, reason: str, t: float) -> None:
    entry = state["entries"].pop(f"{server}/{uid}", None)
    if entry is None:
        return
    _unline(state, server, entry["queue_name"], uid)
    closed = state["closed"]
    closed.append({
        "server": server, "queue_name": entry["queue_name"], "unique_id": uid,
        "channel": entry["channel"], "reason": reason, "tm_update": t,
    })
    if len(closed) > CLOSED_KEEP:
        del closed[: len(closed) - CLOSED_KEEP]


def _on_caller_leave(state: dict, event: Event) -> None:
    uid = _entry_id(event)
    entry = state["entries"].get(f"{event.server}/{uid}")
    if entry is not None:
        reason = "abandoned" if entry.get("abandoned") else "left"
        _close_entry(state, event.server, uid, reason, event_time(event))
    _set_calls(state, event)


def _on_caller_abandon(state: dict, event: Event) -> None:
    """Counted now (as app_queue does); the caller leaves with the `QueueCallerLeave` after.

    A caller we no longer know was already gone from an answer that counted it.
    """
    entry = state["entries"].get(f"{event.server}/{_entry_id(event)}")
    if entry is None:
        return
    entry["abandoned"] = True
    row = state["queues"].get(f"{event.server}/{event.header('Queue')}")
    if row is None or row["abandoned"] is None:
        return
    _count(row, event, {"abandoned": row["abandoned"] + 1}, "abandoned_in_sl")


# ---------------------------------------------------------------------------------------------
# reconciliation against a QueueStatus answer


def _on_status_complete(state: dict, event: Event) -> None:
    """The end of a `QueueStatus` answer: in the queues it covered, members and callers it
    shows are gone (`lists.stale_keys`) are removed. A whole answer (the engine's, sent
    without a filter: its ActionID says so) covers every queue of the server: one it does not
    list is gone too (a reload of app_queue removed it, and Asterisk says nothing of that)."""
    answer = lists.end(state["lists"], event)
    if answer is None:
        return
    server, t = event.server, event_time(event)
    covered = {ident[len("queue "):] for ident in answer.listed if ident.startswith("queue ")}
    if event.header("ActionID").startswith(WHOLE_PREFIX):
        for qkey in lists.stale_keys(state["queues"], server, answer, "queue "):
            covered.add(state["queues"].pop(qkey)["name"])
    members = state["members"]
    for mkey in lists.stale_keys(members, server, answer, "member "):
        if members[mkey]["queue_name"] in covered:
            del members[mkey]
    entries = state["entries"]
    for ekey in lists.stale_keys(entries, server, answer, "entry "):
        entry = entries[ekey]
        if entry["queue_name"] in covered:
            _close_entry(state, server, entry["unique_id"], "not in QueueStatus answer", t)


# ---------------------------------------------------------------------------------------------

HANDLERS: dict[str, Handler] = {
    "QueueParams": _on_queue_params,
    "QueueMember": _on_member_item,
    "QueueEntry": _on_entry_item,
    "QueueStatusComplete": _on_status_complete,
    "QueueSummary": _on_queue_summary,
    "QueueMemberAdded": _on_member_event,
    "QueueMemberStatus": _on_member_event,
    "QueueMemberPause": _on_member_event,
    "QueueMemberPenalty": _on_member_event,
    "QueueMemberRinginuse": _on_member_event,
    "QueueMemberRemoved": _on_member_removed,
    "QueueCallerJoin": _on_caller_join,
    "QueueCallerLeave": _on_caller_leave,
    "QueueCallerAbandon": _on_caller_abandon,
    "AgentConnect": _on_agent_connect,
    "AgentComplete": _on_agent_complete,
    **lists.HANDLERS,
}
EVENT_TYPES = frozenset(HANDLERS)  # apply ignores every other type: the runner may skip it
apply = dispatch(HANDLERS)


# ---------------------------------------------------------------------------------------------
# views

COLUMNS: dict[str, dict[str, str]] = {
    "queues": columns(
        "server name strategy max:int weight:int calls:int completed:int abandoned:int "
        "hold_time:int talk_time:int service_level:int service_level_perf:float "
        "service_level_perf2:float tm_update"),
    "queue-members": columns(
        "server id name queue_name status:int membership state_interface location paused:int "
        "paused_reason penalty:int calls_taken:int in_call:int last_call:int last_pause:int "
        "login_time:int ring_inuse:int wrapuptime:int tm_update"),
    "queue-entries": columns(
        "server unique_id queue_name channel caller_id_name caller_id_num connected_line_name "
        "connected_line_num position:int wait:int tm_update"),
    "queue-statuses": columns("server name queue:json members:json entries:json"),
}


def _queue_row(row: dict) -> Row:
    return pick(row, COLUMNS["queues"], tm_update=iso(row["tm_update"]))


def _member_row(row: dict) -> Row:
    return pick(row, COLUMNS["queue-members"], id=f"{row['location']}@{row['queue_name']}",
                tm_update=iso(row["tm_update"]))


def _entry_row(row: dict, position: int, now: float) -> Row:
    return pick(row, COLUMNS["queue-entries"], position=position,
                wait=max(0, int(now - row["joined"])), tm_update=iso(row["tm_update"]))


def queue_rows(state: dict, now: float) -> list[Row]:
    return [_queue_row(state["queues"][k]) for k in sorted(state["queues"])]


def member_rows(state: dict, now: float) -> list[Row]:
    return [_member_row(state["members"][k]) for k in sorted(state["members"])]


def entry_rows(state: dict, now: float) -> list[Row]:
    rows: list[Row] = []
    for lkey in sorted(state["lines"]):
        server = state["queues"].get(lkey, {}).get("server") or lkey.split("/", 1)[0]
        for position, uid in enumerate(state["lines"][lkey], 1):
            rows.append(_entry_row(state["entries"][f"{server}/{uid}"], position, now))
    return rows


def status_rows(state: dict, now: float) -> list[Row]:
    """The seed's /queue/statuses: each queue with its members and waiting callers."""
    members: dict[str, list[Row]] = {}
    for k in sorted(state["members"]):
        row = state["members"][k]
        members.setdefault(f"{row['server']}/{row['queue_name']}", []).append(_member_row(row))
    rows: list[Row] = []
    for qkey in sorted(state["queues"]):
        queue = state["queues"][qkey]
        server = queue["server"]
        entries = [
            _entry_row(state["entries"][f"{server}/{uid}"], position, now)
            for position, uid in enumerate(state["lines"].get(qkey, ()), 1)
        ]
        rows.append({
            "server": server, "name": queue["name"], "queue": _queue_row(queue),
            "members": members.get(qkey, []), "entries": entries,
        })
    return rows


VIEWS = {
    "queues": queue_rows,
    "queue-members": member_rows,
    "queue-entries": entry_rows,
    "queue-statuses": status_rows,
}
