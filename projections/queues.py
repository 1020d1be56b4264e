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
reconciled). Rows a live event touched while the answer was being read are kept. A row that is
already right is left alone, `tm_update` included, so applying the same answer twice changes
nothing.

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

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from engine.envelope import CONNECTION_LOST, Event
from projections.base import Row, event_time

NAME = "queues"
VERSION = 1

CLOSED_KEEP = 100  # how many closed queue entries (with their reason) the state remembers

Conv = Callable[[str], Any]


def initial() -> dict:
    return {
        "queues": {},  # "<server>/<queue>" -> queue row
        "members": {},  # "<server>/<queue>/<interface>" -> member row
        "entries": {},  # "<server>/<uniqueid>" -> waiting caller (no position: see "lines")
        "lines": {},  # "<server>/<queue>" -> [uniqueid, ...] in queue order
        "pending": {},  # "<stream> <actionid>" -> QueueStatus answer being read
        "closed": [],  # last CLOSED_KEEP entries that left, with the reason
    }


# ---------------------------------------------------------------------------------------------
# tolerant header parsing


def to_int(value: Any, default: int = 0) -> int:
    """AMI numbers are text and sometimes junk ("", "unknown", "3.0"): never raise."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return default


def to_float(value: Any, default: float = 0.0) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default  # NaN and inf are junk too


def to_str(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def stamp(t: float | None) -> str | None:
    """The seed's timestamp format: UTC, 9 fraction digits, `Z`."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def _update(row: dict, fields: dict, t: float) -> bool:
    """Overwrite what differs; `tm_update` moves only if something did."""
    changed = False
    for name, value in fields.items():
        if row.get(name) != value:
            row[name] = value
            changed = True
    if changed:
        row["tm_update"] = t
    return changed


# ---------------------------------------------------------------------------------------------
# queues


def _queue(state: dict, server: str, name: str, t: float) -> dict:
    qkey = f"{server}/{name}"
    row = state["queues"].get(qkey)
    if row is None:
        row = {
            "server": server, "name": name, "strategy": None, "max": None, "weight": None,
            "calls": None, "completed": None, "abandoned": None, "hold_time": None,
            "talk_time": None, "service_level": None, "service_level_perf": None,
            "service_level_perf2": None, "completed_in_sl": None, "abandoned_in_sl": None,
            "talking": [], "tm_update": t,
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
    row = _queue(state, server, name, t)
    data = event.data
    fields: dict = {}
    for header, field in (("Max", "max"), ("Calls", "calls"), ("Holdtime", "hold_time"),
                          ("TalkTime", "talk_time"), ("Completed", "completed"),
                          ("Abandoned", "abandoned"), ("ServiceLevel", "service_level"),
                          ("Weight", "weight")):
        if header in data:
            fields[field] = to_int(event.header(header))
    if "Strategy" in data:
        fields["strategy"] = event.header("Strategy")
    done, gone = fields.get("completed", 0), fields.get("abandoned", 0)
    perf = to_float(event.header("ServicelevelPerf"))
    fields["service_level_perf"] = perf
    fields["completed_in_sl"] = round(perf * done / 100.0)
    if "ServicelevelPerf2" in data:
        perf2 = to_float(event.header("ServicelevelPerf2"))
        fields["service_level_perf2"] = perf2
        both = round(perf2 * (done + gone) / 100.0)
        fields["abandoned_in_sl"] = max(0, both - fields["completed_in_sl"])
    _update(row, fields, t)
    pending = _pending(state, event)
    if pending is not None:
        pending["queues"].append(name)


def _on_queue_summary(state: dict, event: Event) -> None:
    """QueueSummary items: the waiting count and the averages, nothing about members."""
    name = event.header("Queue")
    if not name:
        return
    t = event_time(event)
    row = _queue(state, event.server, name, t)
    fields = {}
    for header, field in (("Callers", "calls"), ("HoldTime", "hold_time"),
                          ("TalkTime", "talk_time")):
        if header in event.data:
            fields[field] = to_int(event.header(header))
    _update(row, fields, t)


# ---------------------------------------------------------------------------------------------
# members

# header -> (field, conversion); list items say Name/Location where events say MemberName/Interface
_MEMBER_FIELDS: dict[str, tuple[str, Conv]] = {
    "MemberName": ("name", to_str),
    "Name": ("name", to_str),
    "StateInterface": ("state_interface", to_str),
    "Membership": ("membership", to_str),
    "Penalty": ("penalty", to_int),
    "CallsTaken": ("calls_taken", to_int),
    "LastCall": ("last_call", to_int),
    "LastPause": ("last_pause", to_int),
    "LoginTime": ("login_time", to_int),
    "InCall": ("in_call", to_int),
    "Status": ("status", to_int),
    "Paused": ("paused", to_int),
    "PausedReason": ("paused_reason", to_str),
    "Ringinuse": ("ring_inuse", to_int),
    "Wrapuptime": ("wrapuptime", to_int),
}


def _member_key(server: str, queue: str, interface: str) -> str:
    return f"{server}/{queue}/{interface}"


def _new_member(server: str, queue: str, interface: str, t: float) -> dict:
    return {
        "server": server, "queue_name": queue, "location": interface, "name": interface,
        "state_interface": interface, "membership": "", "penalty": 0, "calls_taken": 0,
        "last_call": 0, "last_pause": 0, "login_time": 0, "in_call": 0, "status": 0,
        "paused": 0, "paused_reason": "", "ring_inuse": None, "wrapuptime": 0, "tm_update": t,
    }


def _member_fields(event: Event) -> dict:
    fields: dict = {}
    for header, value in event.data.items():
        spec = _MEMBER_FIELDS.get(header)
        if spec is not None:
            fields[spec[0]] = spec[1](value[0] if isinstance(value, list) and value else value)
    if "paused_reason" not in fields and "Reason" in event.data:  # QueueMemberPause before 13
        fields["paused_reason"] = event.header("Reason")
    if "paused" in fields:
        fields["paused"] = 1 if fields["paused"] else 0
    return fields


def _upsert_member(state: dict, event: Event, live: bool) -> str | None:
    queue = event.header("Queue")
    interface = event.header("Interface") or event.header("Location")
    if not queue or not interface:
        return None
    server, t = event.server, event_time(event)
    _queue(state, server, queue, t)
    mkey = _member_key(server, queue, interface)
    row = state["members"].get(mkey)
    if row is None:
        row = state["members"][mkey] = _new_member(server, queue, interface, t)
    _update(row, _member_fields(event), t)
    if live:
        _touch(state, server, "m " + mkey)
    return mkey


def _on_member_event(state: dict, event: Event) -> None:
    """QueueMemberAdded/Status/Pause/Penalty/Ringinuse all carry the whole member."""
    _upsert_member(state, event, live=True)


def _on_member_item(state: dict, event: Event) -> None:
    mkey = _upsert_member(state, event, live=False)
    if mkey is None:
        return
    member = state["members"][mkey]
    talking = state["queues"][f"{event.server}/{member['queue_name']}"]["talking"]
    if member["in_call"] and member["location"] not in talking:
        talking.append(member["location"])
    elif not member["in_call"] and member["location"] in talking:
        talking.remove(member["location"])
    pending = _pending(state, event)
    if pending is not None:
        pending["members"].append(mkey)


def _on_member_removed(state: dict, event: Event) -> None:
    queue, interface = event.header("Queue"), event.header("Interface")
    mkey = _member_key(event.server, queue, interface)
    if state["members"].pop(mkey, None) is not None:
        _touch(state, event.server, "m " + mkey)


def _set_in_call(state: dict, event: Event, in_call: int) -> dict | None:
    mkey = _member_key(event.server, event.header("Queue"), event.header("Interface"))
    row = state["members"].get(mkey)
    if row is not None:
        _update(row, {"in_call": in_call}, event_time(event))
        _touch(state, event.server, "m " + mkey)
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
    hold = to_int(event.header("HoldTime"))
    done, gone = row["completed"], row["abandoned"]
    if done is None or gone is None:
        return
    new = hold if done + gone == 0 else (3 * row["hold_time"] + hold) >> 2
    _update(row, {"hold_time": new}, event_time(event))


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
    talk = to_int(event.header("TalkTime"))
    if done == 1 or row["talk_time"] is None:
        fields["talk_time"] = talk
    else:
        fields["talk_time"] = (3 * row["talk_time"] + talk) >> 2
    level, in_sl = row["service_level"], row["completed_in_sl"]
    if level is not None and in_sl is not None:
        fields["completed_in_sl"] = in_sl + (to_int(event.header("HoldTime")) <= level)
    t = event_time(event)
    _update(row, fields, t)
    _update(row, _perf(row), t)


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
    _queue(state, server, queue, t)
    ekey = f"{server}/{uid}"
    entry = state["entries"].get(ekey)
    fields = _entry_fields(event, from_list)
    if entry is None or entry["queue_name"] != queue:
        wait = to_int(event.header("Wait")) if from_list else 0
        fields["joined"] = t - wait
    if entry is None:
        entry = state["entries"][ekey] = {
            "server": server, "unique_id": uid, "queue_name": None, "channel": "",
            "caller_id_num": "", "caller_id_name": "", "connected_line_num": "",
            "connected_line_name": "", "joined": t, "abandoned": False, "tm_update": t,
        }
    moved = _place(state, server, queue, uid, to_int(event.header("Position"), 1))
    if not _update(entry, fields, t) and moved:
        entry["tm_update"] = t
    return ekey


def _on_caller_join(state: dict, event: Event) -> None:
    ekey = _upsert_entry(state, event, from_list=False)
    if ekey is None:
        return
    _touch(state, event.server, "e " + ekey)
    _set_calls(state, event)


def _on_entry_item(state: dict, event: Event) -> None:
    ekey = _upsert_entry(state, event, from_list=True)
    pending = _pending(state, event)
    if pending is not None and ekey is not None:
        pending["entries"].append(ekey)


def _set_calls(state: dict, event: Event) -> None:
    """`Count` in join/leave is the number waiting right after: the queue's `calls`."""
    if "Count" in event.data:
        row = _queue(state, event.server, event.header("Queue"), event_time(event))
        _update(row, {"calls": to_int(event.header("Count"))}, event_time(event))


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
        _touch(state, event.server, f"e {event.server}/{uid}")
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
    fields: dict = {"abandoned": row["abandoned"] + 1}
    level, in_sl = row["service_level"], row["abandoned_in_sl"]
    if level is not None and in_sl is not None:
        fields["abandoned_in_sl"] = in_sl + (to_int(event.header("HoldTime")) <= level)
    t = event_time(event)
    _update(row, fields, t)
    _update(row, _perf(row), t)


# ---------------------------------------------------------------------------------------------
# reconciliation against a QueueStatus answer


def _pending(state: dict, event: Event) -> dict | None:
    action_id = event.header("ActionID")
    if not action_id:
        return None
    pkey = f"{event.stream} {action_id}"
    pending = state["pending"].get(pkey)
    if pending is None:
        _drop_older_sessions(state, event)
        pending = state["pending"][pkey] = {
            "stream": event.stream, "server": event.server,
            "queues": [], "members": [], "entries": [], "live": [],
        }
    return pending


def _drop_older_sessions(state: dict, event: Event) -> None:
    """Answers cut by a disconnect that left no marker (engine crash): a new session ends them."""
    for pkey in [k for k, p in state["pending"].items()
                 if p["server"] == event.server and p["stream"] != event.stream]:
        del state["pending"][pkey]


def _touch(state: dict, server: str, tag: str) -> None:
    """A live change while an answer is being read: reconciliation must not undo it."""
    if state["pending"]:
        for pending in state["pending"].values():
            if pending["server"] == server:
                pending["live"].append(tag)


def _on_status_complete(state: dict, event: Event) -> None:
    pending = state["pending"].pop(f"{event.stream} {event.header('ActionID')}", None)
    if pending is None:
        return
    server, t = pending["server"], event_time(event)
    covered = set(pending["queues"])
    listed = set(pending["members"])
    live = set(pending["live"])
    members = state["members"]
    for mkey in [k for k, m in members.items()
                 if m["server"] == server and m["queue_name"] in covered]:
        if mkey not in listed and "m " + mkey not in live:
            del members[mkey]
    listed = set(pending["entries"])
    for queue in covered:
        for uid in list(state["lines"].get(f"{server}/{queue}", ())):
            ekey = f"{server}/{uid}"
            if ekey not in listed and "e " + ekey not in live:
                _close_entry(state, server, uid, "not in QueueStatus answer", t)


def _on_connection_lost(state: dict, event: Event) -> None:
    """An answer cut by a disconnect will never complete: forget it (the next one will come)."""
    for pkey in [k for k, p in state["pending"].items() if p["stream"] == event.stream]:
        del state["pending"][pkey]


# ---------------------------------------------------------------------------------------------

_HANDLERS: dict[str, Callable[[dict, Event], None]] = {
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
    CONNECTION_LOST: _on_connection_lost,
}


def apply(state: dict, event: Event) -> dict:
    handler = _HANDLERS.get(event.type)
    if handler is not None:
        handler(state, event)
    return state


# ---------------------------------------------------------------------------------------------
# views

_QUEUE_COLUMNS = ("name", "strategy", "max", "weight", "calls", "completed", "abandoned",
                  "hold_time", "talk_time", "service_level", "service_level_perf",
                  "service_level_perf2")
_MEMBER_COLUMNS = ("name", "queue_name", "status", "membership", "state_interface", "location",
                   "paused", "paused_reason", "penalty", "calls_taken", "in_call", "last_call",
                   "last_pause", "login_time", "ring_inuse", "wrapuptime")
_ENTRY_COLUMNS = ("unique_id", "queue_name", "channel", "caller_id_name", "caller_id_num",
                  "connected_line_name", "connected_line_num")


def _queue_row(row: dict) -> Row:
    out: Row = {c: row[c] for c in _QUEUE_COLUMNS}
    out["tm_update"] = stamp(row["tm_update"])
    out["server"] = row["server"]
    return out


def _member_row(row: dict) -> Row:
    out: Row = {"id": f"{row['location']}@{row['queue_name']}"}
    out.update((c, row[c]) for c in _MEMBER_COLUMNS)
    out["tm_update"] = stamp(row["tm_update"])
    out["server"] = row["server"]
    return out


def _entry_row(row: dict, position: int, now: float) -> Row:
    out: Row = {c: row[c] for c in _ENTRY_COLUMNS}
    out["position"] = position
    out["wait"] = max(0, int(now - row["joined"]))
    out["tm_update"] = stamp(row["tm_update"])
    out["server"] = row["server"]
    return out


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
            "name": queue["name"], "server": server, "queue": _queue_row(queue),
            "entries": entries, "members": members.get(qkey, []),
        })
    return rows


VIEWS = {
    "queues": queue_rows,
    "queue-members": member_rows,
    "queue-entries": entry_rows,
    "queue-statuses": status_rows,
}
