"""One dialing: a single attempt at one customer's number, from the decision to its result.

`build` turns a pick into the dialing (the seed's "call capsulization": dial info plus a snapshot
of the campaign, plan, destination, dlma and dl as they were, so later edits never touch a call
in flight), the dl's changes and the `Originate` that will be sent: `Async`, our own `ActionID`,
and `ChannelId`/`OtherChannelId` set by us, so every event of the call is tied to the dialing
without guessing (Asterisk makes them the channels' `Uniqueid`s; the captures show it).

`observe` folds one AMI event of the call into the dialing (pure, a new dict), as the captures
show the sequences: `Response` (queued or refused), `Newchannel`, `DialBegin`, `DialEnd`,
`OriginateResponse` (`Reason` = `res_dial`, seed 5.6), `Hangup` (`Cause` = `res_hangup`, 5.7),
`AgentConnect` (the customer reached an agent), and list items (`CoreShowChannel`, `Status`)
that prove it is still up after a reconnect. `finished` says when nothing more will come, and
`result` is the record written once per finished dialing (seed 5.8).

Status moves forward only (1 sent, 2 queued, 3 dial begin, 4 channel created, 5 dial end,
6 originate responded, 7 hangup): Asterisk sends `Newchannel` before `DialBegin`, which would
otherwise step the status back. The error states (10-13) are final.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.dialer import codes, destinations, plans
from engine.dialer.objects import public
from engine.dialer.picking import Pick
from engine.values import iso, to_int

UNKNOWN_UID = "<unknown>"

# The record's fields, by the seed's five sections (5.8; the grouping is the seed's, the field
# lists are what its tutorial prints, plus channel/context/priority/variables and end_reason).
RESULT_SECTIONS: dict[str, tuple[str, ...]] = {
    "identity": ("uuid", "action_id", "name", "channel"),
    "dial": ("dial_channel", "dial_addr", "dial_index", "dial_trycnt", "dial_timeout",
             "dial_type", "dial_application", "dial_data", "dial_context", "dial_exten",
             "dial_priority", "dial_variables"),
    "result": ("status", "res_dial", "res_dial_detail", "res_hangup", "res_hangup_detail",
               "end_reason"),
    "timestamp": ("tm_create", "tm_update", "tm_delete"),
    "related": ("uuid_camp", "uuid_plan", "uuid_dest", "uuid_dlma", "uuid_dl_list"),
}
INFO_FIELDS = ("info_camp", "info_plan", "info_dest", "info_dlma", "info_dl_list", "info_dial")
RESULT_FIELDS = tuple(f for section in RESULT_SECTIONS.values() for f in section)

DIALING_FIELDS = (
    "uuid", "action_id", "channel", "status", "res_dial", "res_dial_detail", "res_hangup",
    "res_hangup_detail", "dial_channel", "dial_addr", "dial_application", "dial_data",
    "dial_context", "dial_exten", "dial_priority", "dial_type", "dial_timeout", "dial_index",
    "dial_trycnt", "dial_variables", "uuid_camp", "uuid_dest", "uuid_dl_list", "uuid_dlma",
    "uuid_plan", *INFO_FIELDS, "server", "end_reason", "tm_create", "tm_update", "tm_delete",
)


def merged_variables(*sources: Mapping[str, Any] | None) -> dict[str, str]:
    """Later wins: plan, destination, campaign, dlma, dl (the most specific last)."""
    out: dict[str, str] = {}
    for variables in sources:
        if variables:
            out.update(variables)
    return out


def build(*, campaign: Mapping[str, Any], plan: Mapping[str, Any], dest: Mapping[str, Any],
          dlma: Mapping[str, Any], dl: Mapping[str, Any], pick: Pick, dialing_uuid: str,
          other_uuid: str, action_id: str, server: str, session: str,
          now: float) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(dialing, the dl's changes, the Originate headers) for one pick."""
    dial_channel = plans.dial_channel(plan, pick.number)
    variables = merged_variables(plan.get("variables"), dest.get("variables"),
                                 campaign.get("variables"), dlma.get("variables"),
                                 dl.get("variables"))
    is_app = dest["type"] == codes.DEST_APPLICATION
    dial = {
        "dial_channel": dial_channel,
        "dial_addr": pick.number,
        "dial_application": dest.get("application") if is_app else None,
        "dial_data": (dest.get("data") or "") if is_app else None,
        "dial_context": None if is_app else dest.get("context"),
        "dial_exten": None if is_app else dest.get("exten"),
        "dial_priority": None if is_app else (dest.get("priority") or "1"),
        "dial_type": dest["type"],
        "dial_timeout": int(plan["dial_timeout"]),
        "dial_index": pick.index,
        "dial_trycnt": pick.trycnt,
        "dial_variables": variables,
    }
    tm = iso(now)
    dialing: dict[str, Any] = {
        "uuid": dialing_uuid,
        "action_id": action_id,
        "channel": None,
        "status": codes.DIALING_ORIGINATE_SENT,
        "res_dial": codes.RES_DIAL_NONE,
        "res_dial_detail": None,
        "res_hangup": 0,
        "res_hangup_detail": None,
        **dial,
        "uuid_camp": campaign["uuid"],
        "uuid_dest": dest["uuid"],
        "uuid_dl_list": dl["uuid"],
        "uuid_dlma": dlma["uuid"],
        "uuid_plan": plan["uuid"],
        "info_camp": public(campaign),
        "info_dest": public(dest),
        "info_dial": {
            "channelid": dialing_uuid, "otherchannelid": other_uuid,
            "dest_variables": dest.get("variables") or "", "dl_variables": dl.get("variables")
            or "", "plan_variables": plan.get("variables") or "",
            "dial_addr": pick.number, "dial_application": dial["dial_application"],
            "dial_channel": dial_channel, "dial_data": dial["dial_data"],
            "dial_index": pick.index, "dial_timeout": dial["dial_timeout"],
            "dial_trycnt": pick.trycnt, "dial_type": dest["type"], "uuid": dl["uuid"],
            "variables": "{}",
        },
        "info_dl_list": public(dl),
        "info_dlma": public(dlma),
        "info_plan": public(plan),
        "server": server,
        "end_reason": None,
        "tm_create": tm,
        "tm_update": None,
        "tm_delete": None,
        "other_channel_id": other_uuid,
        "session": session,  # the AMI session (log stream) the Originate is sent on
    }
    dl_changes = {
        "status": codes.DL_DIALING,
        f"trycnt_{pick.index}": pick.trycnt,
        "dialing_uuid": dialing_uuid,
        "dialing_camp_uuid": campaign["uuid"],
        "dialing_plan_uuid": plan["uuid"],
        "tm_last_dial": tm,
    }
    headers: dict[str, Any] = {
        "Action": "Originate",
        "ActionID": action_id,
        "Channel": dial_channel,
        **destinations.originate_target(dest),
        "Timeout": str(dial["dial_timeout"]),
        "Async": "true",
        "ChannelId": dialing_uuid,
        "OtherChannelId": other_uuid,
    }
    if plan.get("caller_id"):
        headers["CallerID"] = plan["caller_id"]
    if str(plan.get("early_media") or "").lower() == "true":
        headers["EarlyMedia"] = "true"
    if plan.get("codecs"):
        headers["Codecs"] = plan["codecs"]
    if variables:
        headers["Variable"] = [f"{k}={v}" for k, v in variables.items()]
    return dialing, dl_changes, headers


# -- live: what the call's AMI events do ----------------------------------------------------------


def track(dialing: Mapping[str, Any], created_at: float) -> dict[str, Any]:
    """The projection's row for a new dialing: the public fields plus bookkeeping."""
    return {
        **dialing,
        "_created_at": created_at,
        "_channels": {},  # uniqueid -> [name, hung up (0/1), cause, cause text]
        "_responded": False,
        "_seen": None,  # the AMI session of the last event tied to it
        "_found": None,  # the session whose channel list showed it alive
        "_dial_status": None,  # DialEnd's DialStatus
        "_answer_at": None,
        "_agent_at": None,
        "_finished": None,  # why it is over, once it is
        "_hangup_reason": None,  # a hangup command ended it: who, and why (its end_reason)
    }


def uniqueids(dialing: Mapping[str, Any]) -> tuple[str, str]:
    return dialing["uuid"], dialing["other_channel_id"]


def _forward(dialing: dict[str, Any], status: int) -> None:
    if dialing["status"] < codes.DIALING_ERROR and status > dialing["status"]:
        dialing["status"] = status


def _hung_up(dialing: dict[str, Any], uid: str, data: Mapping[str, Any]) -> None:
    channels = dict(dialing["_channels"])
    old = channels.get(uid) or [_first(data.get("Channel")), 0, 0, ""]
    cause = to_int(data.get("Cause"), 0)
    channels[uid] = [old[0], 1, cause, _first(data.get("Cause-txt"))]
    dialing["_channels"] = channels
    if dialing["status"] < codes.DIALING_ERROR:
        dialing["status"] = codes.DIALING_HANGUP


def observe(row: Mapping[str, Any], event_type: str, data: Mapping[str, Any], stream: str,
            t: float) -> dict[str, Any]:
    """The dialing after one AMI event already known to concern it (a new dict)."""
    d = dict(row)
    d["_seen"] = stream
    uid = _first(data.get("Uniqueid"))
    if event_type == "Response":
        if _first(data.get("Response")) == "Error":
            d["status"] = codes.DIALING_QUEUED_FAILED
            d["_finished"] = f"Originate refused: {_first(data.get('Message'))}"
        else:
            _forward(d, codes.DIALING_QUEUED)
    elif event_type == "OriginateResponse":
        d["_responded"] = True
        reason = to_int(data.get("Reason"), 0)
        d["res_dial"], d["res_dial_detail"] = reason, codes.res_dial_detail(reason)
        if _first(data.get("Response")) == "Success":
            _forward(d, codes.DIALING_ORIGINATE_RESPONDED)
            if reason == codes.RES_DIAL_ANSWERED and d["_answer_at"] is None:
                d["_answer_at"] = t
            if uid and uid != UNKNOWN_UID and uid not in d["_channels"]:
                d["_channels"] = {**d["_channels"], uid: [_first(data.get("Channel")), 0, 0, ""]}
            if uid == d["uuid"] or d["channel"] is None:
                d["channel"] = _first(data.get("Channel")) or d["channel"]
        elif d["status"] < codes.DIALING_ERROR:
            d["status"] = codes.DIALING_RESPONSE_FAILED
    elif event_type == "Newchannel":
        d["_channels"] = {**d["_channels"], uid: [_first(data.get("Channel")), 0, 0, ""]}
        if uid == d["uuid"]:
            d["channel"] = _first(data.get("Channel"))
        _forward(d, codes.DIALING_CHANNEL_CREATED)
    elif event_type == "DialBegin":
        _forward(d, codes.DIALING_DIAL_BEGIN)
    elif event_type == "DialEnd":
        _forward(d, codes.DIALING_DIAL_END)
        status = _first(data.get("DialStatus"))
        d["_dial_status"] = status
        if status == "ANSWER" and d["_answer_at"] is None:
            d["_answer_at"] = t
    elif event_type == "Hangup":
        _hung_up(d, uid, data)
    elif event_type == "AgentConnect":
        if d["_agent_at"] is None:
            d["_agent_at"] = t
    elif event_type in ("CoreShowChannel", "Status"):
        d["_found"] = stream
        if uid and uid not in d["_channels"]:
            d["_channels"] = {**d["_channels"], uid: [_first(data.get("Channel")), 0, 0, ""]}
        if uid == d["uuid"] and not d["channel"]:
            d["channel"] = _first(data.get("Channel"))
    d["tm_update"] = iso(t)
    return d


def finished(d: Mapping[str, Any]) -> bool:
    """Nothing more will come: refused, or answered/failed and every channel hung up.

    A dialing whose OriginateResponse went to a connection that died (it was seen again only in
    a later session) ends when its channels have hung up."""
    if d["_finished"]:
        return True
    channels = d["_channels"]
    all_down = bool(channels) and all(c[1] for c in channels.values())
    if d["_responded"]:
        return not channels or all_down
    return all_down and d["_seen"] != d["session"]


def lost(d: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """Closed without a result: reconciliation found no trace of it, or a deadline passed."""
    return {**d, "_finished": reason}


def hung_up_by_us(d: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """A hangup command asked for this call to end (the dialer's, or an operator's): its
    result says so in `end_reason`, where a customer's own hangup says nothing."""
    return {**d, "_hangup_reason": reason}


# -- the end --------------------------------------------------------------------------------------


def _hangup_cause(d: Mapping[str, Any]) -> tuple[int, str | None]:
    """The customer channel's cause; a Local channel's first half hangs up with 0 when the far
    half failed (the captures' busy and congestion calls), so then the other half's cause."""
    from projections.q850 import cause_desc  # here: projections import this module

    channels = d["_channels"]
    order = [d["uuid"], *[uid for uid in channels if uid != d["uuid"]]]
    for uid in order:
        c = channels.get(uid)
        if c and c[1] and c[2]:
            return c[2], c[3] or cause_desc(c[2])
    if any(c[1] for c in channels.values()):
        return 0, cause_desc(0)
    return 0, None


def end(d: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The `DialingEnded` data: the result record, the dl's changes, the pacing outcome."""
    res_hangup, res_hangup_detail = _hangup_cause(d)
    res_dial = d["res_dial"]
    if not d["_responded"]:
        res_dial = codes.DIAL_STATUS_TO_RES_DIAL.get(d["_dial_status"] or "", res_dial)
    status = d["status"]
    reason = d["_finished"]
    if reason and status < codes.DIALING_ERROR and status != codes.DIALING_HANGUP:
        status = codes.DIALING_ERROR
    detail = d["res_dial_detail"]
    if res_dial != d["res_dial"] or detail is None:
        detail = codes.res_dial_detail(res_dial)
    record = {name: d.get(name) for name in RESULT_FIELDS}
    record.update(status=status, res_dial=res_dial, res_dial_detail=detail,
                  res_hangup=res_hangup, res_hangup_detail=res_hangup_detail,
                  end_reason=reason or d.get("_hangup_reason"), name=None, tm_update=iso(now))
    for name in INFO_FIELDS:
        record[name] = d.get(name)
    answered = res_dial == codes.RES_DIAL_ANSWERED
    wait = -1.0
    if answered and d["_agent_at"] is not None and d["_answer_at"] is not None:
        wait = max(0.0, d["_agent_at"] - d["_answer_at"])
    dl_changes = {
        "status": codes.DL_IDLE,
        "dialing_uuid": None,
        "dialing_camp_uuid": None,
        "dialing_plan_uuid": None,
        "res_dial": res_dial,
        "res_dial_detail": detail,
        "res_hangup": res_hangup,
        "res_hangup_detail": res_hangup_detail,
        "tm_last_hangup": iso(now),
    }
    return {"dialing": d["uuid"], "result": record, "dl": dl_changes,
            "outcome": [1 if answered else 0, wait], "uuid_camp": d["uuid_camp"]}


def public_row(d: Mapping[str, Any]) -> dict[str, Any]:
    return {name: d.get(name) for name in DIALING_FIELDS}


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)
