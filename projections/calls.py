"""Calls: the legs (channels) sharing a `Linkedid`, from the first leg's birth to the last hangup.

Asterisk gives every channel created on behalf of another (Dial, Queue, Originate's Local pair)
the `Linkedid` of the first one, so a call is the group of channels with one linked id. A call:
- starts when its first leg appears, is answered when a leg first reaches state Up (6) and ends
  when its last leg hangs up (or vanishes from a `CoreShowChannels` answer);
- `outcome`: answered, abandoned (a queue caller hung up waiting), busy, no_answer, congestion,
  invalid_number, rejected, cancelled (hung up before an answer), failed, unknown (vanished
  without a cause); `ringing` / `up` while live;
- `cause`: for an answered call, the cause of the first answered leg to hang up; otherwise the
  first cause that says more than "normal" (0, 16), since the leg that failed carries it (a busy
  callee's `;2` says 17 while the `;1` that Originate dialed says 0);
- `wait_time` from start to the answer (for a queue call: to `AgentConnect`, the whole call
  when no agent took it), `talk_time` from there to the end.

Ended calls are kept for the most recent `ENDED_KEPT`; older ones remain in the log (replay).
"""

from __future__ import annotations

from typing import Any

from engine.envelope import Event
from projections import lists
from projections.base import Handler, Row, columns, dispatch, event_time, iso, to_int, to_seconds
from projections.channels import VANISHED
from projections.q850 import cause_desc

NAME = "calls"
VERSION = 2

ENDED_KEPT = 20_000

BUSY = frozenset({17})
NO_ANSWER = frozenset({18, 19, 20})
CONGESTION = frozenset({34, 38, 41, 42, 44, 47, 58})
INVALID = frozenset({1, 2, 3, 22, 28})
REJECTED = frozenset({21})
UNSPECIFIC = frozenset({0, 16, 31})
DIAL_STATUS_OUTCOME = {
    "BUSY": "busy", "NOANSWER": "no_answer", "CONGESTION": "congestion",
    "CHANUNAVAIL": "failed", "CANCEL": "cancelled", "INVALIDARGS": "failed",
}

COLUMNS: dict[str, dict[str, str]] = {
    "calls": columns(
        "server linked_id start answer end outcome cause:int cause_desc wait_time:float "
        "talk_time:float duration:float legs:int channels:json queue dial_status "
        "hangup_reason tm_update"),
}


def initial() -> dict:
    return {"calls": {}, "legs": {}, "ended": {}, "lists": {}}


# ------------------------------------------------------------------------------ handlers

def _open_leg(state: dict, event: Event, uid: str, t: float) -> None:
    data = event.data
    linked = data.get("Linkedid")
    if not isinstance(linked, str) or not linked:
        linked = uid
    server = event.server
    key = f"{server}/{linked}"
    calls = state["calls"]
    call = calls.get(key)
    if call is None:
        call = calls[key] = {
            "server": server, "linked_id": linked, "start": t, "answer": None, "end": None,
            "connect": None, "live": 0, "legs": {}, "hung": [], "abandoned": False,
            "queue": None, "dial_status": None, "tm_update": t,
        }
    elif call["end"] is not None:  # a new leg joins a call we had closed
        call["end"] = None
        state["ended"].pop(key, None)
    if uid in call["legs"]:
        return
    up = data.get("ChannelState") == "6"
    call["legs"][uid] = {
        "channel": data.get("Channel", ""), "start": t, "answer": t if up else None,
        "end": None, "cause": None, "cause_desc": None, "hangup_reason": None,
        "pos": event.position,
    }
    if up and call["answer"] is None:
        call["answer"] = t
    if t < call["start"]:
        call["start"] = t
    call["live"] += 1
    call["tm_update"] = t
    state["legs"][f"{server}/{uid}"] = key


def _newchannel(state: dict, event: Event) -> None:
    uid = event.data.get("Uniqueid")
    if isinstance(uid, str) and uid and f"{event.server}/{uid}" not in state["legs"]:
        _open_leg(state, event, uid, event_time(event))


def _newstate(state: dict, event: Event) -> None:
    data = event.data
    if data.get("ChannelState") != "6":
        return
    uid = data.get("Uniqueid")
    key = state["legs"].get(f"{event.server}/{uid}")
    if key is None:
        return
    call = state["calls"][key]
    leg = call["legs"][uid]
    if leg["answer"] is None:
        t = event_time(event)
        leg["answer"] = t
        if call["answer"] is None:
            call["answer"] = t
        call["tm_update"] = t


def _close_leg(state: dict, key: str, uid: str, t: float) -> None:
    call = state["calls"][key]
    leg = call["legs"][uid]
    leg["end"] = t
    call["hung"].append(uid)
    call["live"] -= 1
    call["tm_update"] = t
    if call["live"] <= 0:
        call["live"] = 0
        call["end"] = t
        ended = state["ended"]
        ended.pop(key, None)
        ended[key] = None
        calls = state["calls"]
        while len(ended) > ENDED_KEPT:
            old = next(iter(ended))
            del ended[old]
            calls.pop(old, None)


def _hangup(state: dict, event: Event) -> None:
    data = event.data
    uid = data.get("Uniqueid")
    if not isinstance(uid, str):
        return
    cause = to_int(data.get("Cause"))
    text = data.get("Cause-txt")
    desc = text if isinstance(text, str) else cause_desc(cause)
    key = state["legs"].pop(f"{event.server}/{uid}", None)
    t = event_time(event)
    if key is not None:
        leg = state["calls"][key]["legs"][uid]
        leg["cause"], leg["cause_desc"] = cause, desc
        _close_leg(state, key, uid, t)
        return
    # A leg closed as vanished whose Hangup arrives late: it still tells the cause.
    call = state["calls"].get(f"{event.server}/{data.get('Linkedid')}")
    leg = call["legs"].get(uid) if call else None
    if leg is not None and leg["cause"] is None:
        leg["cause"], leg["cause_desc"] = cause, desc
        call["tm_update"] = t


def _call_of(state: dict, event: Event, *headers: str) -> dict[str, Any] | None:
    legs = state["legs"]
    for header in headers:
        key = legs.get(f"{event.server}/{event.data.get(header)}")
        if key is not None:
            return state["calls"][key]
    return None


def _dial_end(state: dict, event: Event) -> None:
    call = _call_of(state, event, "Uniqueid", "DestUniqueid")
    status = event.data.get("DialStatus")
    if call is not None and isinstance(status, str):
        call["dial_status"] = status


def _queue_join(state: dict, event: Event) -> None:
    call = _call_of(state, event, "Uniqueid")
    queue = event.data.get("Queue")
    if call is not None and isinstance(queue, str):
        call["queue"] = queue


def _queue_abandon(state: dict, event: Event) -> None:
    call = _call_of(state, event, "Uniqueid")
    if call is not None:
        call["abandoned"] = True


def _agent_connect(state: dict, event: Event) -> None:
    call = _call_of(state, event, "Uniqueid")
    if call is not None and call["connect"] is None:
        call["connect"] = event_time(event)


def _rename(state: dict, event: Event) -> None:
    call = _call_of(state, event, "Uniqueid")
    name = event.data.get("Newname")
    if call is not None and isinstance(name, str):
        call["legs"][event.data["Uniqueid"]]["channel"] = name


def _list_item(state: dict, event: Event) -> None:
    uid = lists.item_named(state["lists"], event, "Uniqueid")
    if uid is not None and f"{event.server}/{uid}" not in state["legs"]:
        t = event_time(event)
        _open_leg(state, event, uid, t - to_seconds(event.data.get("Duration")))


def _list_complete(state: dict, event: Event) -> None:
    """Legs born before the answer began and not listed vanished (`lists`): their calls end
    when no other leg is left."""
    answer = lists.end(state["lists"], event)
    if answer is None:
        return
    start, listed = answer
    prefix = event.server + "/"
    calls = state["calls"]
    gone = []
    for leg_key, key in state["legs"].items():
        if leg_key.startswith(prefix):
            uid = leg_key[len(prefix):]
            if uid not in listed and calls[key]["legs"][uid]["pos"] < start:
                gone.append((leg_key, key, uid))
    if not gone:
        return
    t = event_time(event)
    for leg_key, key, uid in gone:
        del state["legs"][leg_key]
        calls[key]["legs"][uid]["hangup_reason"] = VANISHED
        _close_leg(state, key, uid, t)


HANDLERS: dict[str, Handler] = {
    "Newchannel": _newchannel,
    "Newstate": _newstate,
    "Hangup": _hangup,
    "DialEnd": _dial_end,
    "QueueCallerJoin": _queue_join,
    "QueueCallerAbandon": _queue_abandon,
    "AgentConnect": _agent_connect,
    "Rename": _rename,
    "CoreShowChannel": _list_item,
    "CoreShowChannelsComplete": _list_complete,
    **lists.HANDLERS,
}
EVENT_TYPES = frozenset(HANDLERS)  # apply ignores every other type: the runner may skip it
apply = dispatch(HANDLERS)


# ------------------------------------------------------------------------------ views

def call_cause(call: dict) -> int | None:
    legs = call["legs"]
    hung = [legs[u] for u in call["hung"]]
    if call["answer"] is not None:
        for leg in hung:
            if leg["answer"] is not None and leg["cause"] is not None:
                return leg["cause"]
    causes = [leg["cause"] for leg in hung if leg["cause"] is not None]
    for cause in causes:
        if cause not in UNSPECIFIC:
            return cause
    if 16 in causes:
        return 16
    return causes[0] if causes else None


def call_outcome(call: dict, cause: int | None) -> str:
    if call["end"] is None:
        return "up" if call["answer"] is not None else "ringing"
    if call["abandoned"]:
        return "abandoned"
    if call["answer"] is not None:
        return "answered"
    if cause in BUSY:
        return "busy"
    if cause in NO_ANSWER:
        return "no_answer"
    if cause in CONGESTION:
        return "congestion"
    if cause in INVALID:
        return "invalid_number"
    if cause in REJECTED:
        return "rejected"
    if cause is None or cause in UNSPECIFIC:
        by_dial = DIAL_STATUS_OUTCOME.get(call["dial_status"] or "")
        if by_dial:
            return by_dial
        return "unknown" if cause is None else "cancelled"
    return "failed"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def call_row(call: dict, now: float | None) -> Row:
    cause = call_cause(call)
    start, answer, end = call["start"], call["answer"], call["end"]
    # A queue call is picked up when an agent connects, not when the queue app answers it.
    pickup = call["connect"] if call["queue"] is not None else answer
    until = end if end is not None else now
    legs = call["legs"].values()
    reasons = [leg["hangup_reason"] for leg in legs if leg["hangup_reason"]]
    return {
        "server": call["server"], "linked_id": call["linked_id"], "start": iso(start),
        "answer": iso(answer), "end": iso(end), "outcome": call_outcome(call, cause),
        "cause": cause, "cause_desc": cause_desc(cause),
        "wait_time": _round((pickup if pickup is not None else until) - start)
        if (pickup is not None or until is not None) else None,
        "talk_time": _round(until - pickup) if pickup is not None and until is not None
        else None,
        "duration": _round(until - start) if until is not None else None,
        "legs": len(call["legs"]), "channels": [leg["channel"] for leg in legs],
        "queue": call["queue"], "dial_status": call["dial_status"],
        "hangup_reason": reasons[0] if reasons else None, "tm_update": iso(call["tm_update"]),
    }


def rows(state: dict, now: float) -> list[Row]:
    calls = sorted(state["calls"].values(), key=lambda c: (c["server"], c["start"],
                                                            c["linked_id"]))
    return [call_row(call, now) for call in calls]


VIEWS = {"calls": rows}
