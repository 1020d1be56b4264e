"""Dialings against the real captures: a `DialingCreated` per Originate the recording client
sent (same ActionID, same ChannelId/OtherChannelId when it set them), then the session exactly
as Asterisk sent it, through the `dialings` projection.

The captures' Originates without ChannelId can only be followed by their ActionID and the
Uniqueid the OriginateResponse reveals; with ChannelId (control-actions) every event is tied.
"""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path
from typing import Any

from engine.capture import action_times, session_stream
from engine.dialer import campaigns, codes, destinations, dlmas, dls, plans
from engine.dialer import dialings as model
from engine.dialer import events as ev
from engine.dialer.objects import build
from engine.dialer.picking import Pick
from engine.envelope import NewEvent
from projections import dialings as projection
from tests.captures import SERVER, envelopes, positioned

T0 = 1795361500.0


def objects(number: str) -> dict[str, dict[str, Any]]:
    def make(fields: list, body: dict) -> dict:
        return build(fields, body, str(uuidlib.uuid4()), T0)

    plan = make(plans.FIELDS, {"tech_name": "Local", "dial_mode": 1})
    dest = make(destinations.FIELDS, {"type": 1, "application": "Echo"})
    dlma = make(dlmas.FIELDS, {})
    dl = make(dls.FIELDS, {"dlma_uuid": dlma["uuid"], "number_1": number})
    camp = make(campaigns.FIELDS, {"plan": plan["uuid"], "dest": dest["uuid"],
                                   "dlma": dlma["uuid"]})
    return {"plan": plan, "dest": dest, "dlma": dlma, "dl": dl, "campaign": camp}


def decisions(path: Path, session: str) -> list[NewEvent]:
    """What our dialer would have logged before each Originate of the capture."""
    out: list[NewEvent] = []
    for _, headers in action_times(path):
        if headers.get("Action") != "Originate":
            continue
        number = str(headers["Channel"]).split("/", 1)[1].split("@", 1)[0]
        objs = objects(number)
        dialing, dl_changes, _ = model.build(
            campaign=objs["campaign"], plan=objs["plan"], dest=objs["dest"], dlma=objs["dlma"],
            dl=objs["dl"], pick=Pick(objs["dl"]["uuid"], 1, number, 1),
            dialing_uuid=str(headers.get("ChannelId") or uuidlib.uuid4()),
            other_uuid=str(headers.get("OtherChannelId") or uuidlib.uuid4()),
            action_id=str(headers["ActionID"]), server=SERVER, session=session, now=T0)
        stream = ev.stream("dl", objs["dl"]["uuid"])
        out.append(NewEvent(stream, 0, ev.created("dl"), "2026-11-22T15:33:00+00:00", "",
                            {"object": objs["dl"]}))
        out.append(NewEvent(stream, 1, ev.DIALING_CREATED, "2026-11-22T15:33:00+00:00",
                            SERVER, {"dialing": dialing, "dl": dl_changes}))
    return out


def project(capture: Path, session: str | None = None) -> dict[str, dict[str, Any]]:
    """The dialings (by ActionID) after the whole capture, each with `ended` = its
    `DialingEnded` data if it is over."""
    stream = session_stream(SERVER, capture)
    state = projection.initial()
    for event in positioned([*decisions(capture, session or stream), *envelopes(capture)]):
        state = projection.apply(state, event)
    out = {}
    for row in state["dialings"].values():
        ended = model.end(row, T0) if model.finished(row) else None
        out[row["action_id"]] = {**row, "ended": ended}
    return out


def test_answered_originate_followed_by_action_id_and_revealed_uniqueid(capture) -> None:
    (d,) = project(capture("originate-answered")).values()
    assert d["status"] == codes.DIALING_HANGUP
    assert d["channel"] == "Local/101@customers-00000002;1"
    result = d["ended"]["result"]
    assert (result["res_dial"], result["res_dial_detail"]) == (4, "Remote end has answered")
    assert (result["res_hangup"], result["res_hangup_detail"]) == (16, "Normal Clearing")
    assert result["status"] == 7 and result["end_reason"] is None
    assert d["ended"]["dl"]["status"] == codes.DL_IDLE


def test_failed_originates_carry_the_seed_reasons(capture) -> None:
    dialings = project(capture("originate-failures"))
    reasons = {aid: (d["ended"]["result"]["res_dial"], d["ended"]["result"]["status"])
               for aid, d in dialings.items() if d["ended"]}
    assert reasons == {
        "originate-2": (5, codes.DIALING_RESPONSE_FAILED),  # busy
        "originate-3": (8, codes.DIALING_RESPONSE_FAILED),  # congestion
        "originate-4": (3, codes.DIALING_RESPONSE_FAILED),  # no answer (Timeout 4 s)
        "originate-5": (0, codes.DIALING_RESPONSE_FAILED),  # unallocated
        "originate-6": (4, codes.DIALING_HANGUP),  # answered, then its own Dial was busy
    }
    assert dialings["originate-2"]["ended"]["result"]["res_dial_detail"] == "Remote end is busy"
    assert dialings["originate-6"]["ended"]["result"]["res_hangup"] == 16


def test_channel_ids_tie_every_event_and_a_refused_originate_ends_at_once(capture) -> None:
    dialings = project(capture("control-actions"))
    live, redirected, bogus = (dialings[a] for a in ("originate-2", "originate-3",
                                                     "originate-11"))
    # Newchannel, DialBegin, DialEnd, OriginateResponse and Hangup all matched by Uniqueid.
    assert set(live["_channels"]) == {"chan-live-1", "chan-live-2"}
    assert live["channel"] == "Local/501@customers-00000000;1"
    assert live["ended"]["result"]["res_hangup"] == 16 and live["status"] == 7
    # Redirected into parking, timed out there, hung up: still the same dialing.
    assert redirected["ended"]["result"]["res_dial"] == 4
    assert redirected["ended"]["result"]["res_hangup"] == 16
    assert bogus["status"] == codes.DIALING_QUEUED_FAILED
    assert bogus["ended"]["result"]["end_reason"] == "Originate refused: Originate failed"


def test_status_only_moves_forward() -> None:
    row = model.track({"uuid": "a", "other_channel_id": "b", "status": 1, "channel": None,
                       "res_dial": 0, "res_dial_detail": None, "session": "s"}, T0)
    row = model.observe(row, "Newchannel", {"Uniqueid": "a", "Channel": "SIP/1-1"}, "s", T0)
    assert row["status"] == codes.DIALING_CHANNEL_CREATED
    row = model.observe(row, "DialBegin", {"DestUniqueid": "a"}, "s", T0)
    assert row["status"] == codes.DIALING_CHANNEL_CREATED  # Asterisk sends it after Newchannel
    row = model.observe(row, "DialEnd", {"DestUniqueid": "a", "DialStatus": "ANSWER"}, "s", T0)
    assert row["status"] == codes.DIALING_DIAL_END and row["_answer_at"] == T0


def test_a_dialing_sent_on_an_earlier_session_is_settled_by_the_channel_list(capture) -> None:
    """control-actions lists chan-live-* and chan-redir-* in its CoreShowChannels answers: as
    dialings of an earlier connection they are found alive; one never listed is lost."""
    path = capture("control-actions")
    state = projection.initial()
    earlier = f"ami/{SERVER}/an-earlier-session"
    ghost = decisions(path, earlier)[:2]
    ghost_dialing = dict(ghost[1].data["dialing"], uuid="ghost-1", other_channel_id="ghost-2",
                         action_id="never-answered")
    ghost[1] = NewEvent(ghost[1].stream, 1, ev.DIALING_CREATED, ghost[1].recorded_at, SERVER,
                        {**ghost[1].data, "dialing": ghost_dialing})
    events = positioned([*decisions(path, earlier), *ghost, *envelopes(path, until=2.1)])
    for event in events:
        state = projection.apply(state, event)
    rows = {d["action_id"]: d for d in state["dialings"].values()}
    assert rows["originate-2"]["_found"] == session_stream(SERVER, path)
    assert not model.finished(rows["originate-2"])
    lost = rows["never-answered"]
    assert model.finished(lost)
    assert lost["_finished"].startswith("not found in CoreShowChannels after reconnect")
    assert model.end(lost, T0)["result"]["status"] == codes.DIALING_ERROR


def test_the_originate_carries_the_plan_and_the_merged_variables() -> None:
    objs = objects("5551234")
    objs["plan"].update(tech_name="PJSIP", trunk_name="carrier", caller_id='"Sales" <5550100>',
                        early_media="true", codecs="ulaw,alaw", dial_timeout=25000,
                        variables={"A": "plan", "B": "plan"})
    objs["dest"].update(type=1, application="Queue", data="sales,,,,30",
                        variables={"B": "dest", "C": "dest"})
    objs["campaign"]["variables"] = {"C": "campaign", "D": "campaign"}
    objs["dlma"]["variables"] = {"D": "dlma", "E": "dlma"}
    objs["dl"]["variables"] = {"E": "dl"}
    dialing, dl_changes, headers = model.build(
        campaign=objs["campaign"], plan=objs["plan"], dest=objs["dest"], dlma=objs["dlma"],
        dl=objs["dl"], pick=Pick(objs["dl"]["uuid"], 1, "5551234", 3), dialing_uuid="d-1",
        other_uuid="d-2", action_id="a-1", server=SERVER, session="s", now=T0)
    assert headers["Channel"] == "PJSIP/5551234@carrier" == dialing["dial_channel"]
    assert (headers["Async"], headers["ChannelId"], headers["OtherChannelId"]) == (
        "true", "d-1", "d-2")
    assert headers["Timeout"] == "25000" and headers["CallerID"] == '"Sales" <5550100>'
    assert headers["EarlyMedia"] == "true" and headers["Codecs"] == "ulaw,alaw"
    assert (headers["Application"], headers["Data"]) == ("Queue", "sales,,,,30")
    assert headers["Variable"] == ["A=plan", "B=dest", "C=campaign", "D=dlma", "E=dl"]
    assert dialing["info_dial"]["otherchannelid"] == "d-2" and dialing["dial_trycnt"] == 3
    assert dl_changes["trycnt_1"] == 3 and dl_changes["status"] == codes.DL_DIALING
    from engine.dialer.destinations import queue_name

    assert queue_name(objs["dest"]) == "sales"
