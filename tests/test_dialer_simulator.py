"""The simulated PBX against the real captures: the same Originates over real AMI TCP give the
same event sequences, each event with the same headers, as Asterisk 22 sent.

A call's events are those with its ActionID or its Linkedid (Asterisk links every channel of
the call, agents' included, to the first one's Uniqueid).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from engine.ami.client import ActionError, AmiClient
from engine.ami.protocol import Message
from engine.ami.simulator import PbxSimulator, Timings, capture_dialplan
from engine.capture import action_times
from engine.config import ServerConfig
from tests.captures import SERVER, envelopes
from tests.conftest import CAPTURES
from tests.test_dialer_harness import run, until

CALL_TYPES = {"Newchannel", "DialBegin", "Newstate", "DialState", "DialEnd",
              "OriginateResponse", "Hangup", "QueueCallerJoin", "AgentCalled",
              "QueueCallerLeave", "AgentConnect", "AgentComplete", "ParkedCall",
              "ParkedCallGiveUp", "ParkedCallTimeOut"}
QUICK = Timings(ring=0.02, talk=0.05, agent_ring=0.02, agent_talk=0.05, noanswer=0.05,
                park_timeout=0.3)


def call_events(messages: list[tuple[str, dict[str, Any]]], action_id: str,
                channel_prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """One call's events (type, headers), in order, from a session's messages."""
    linked: set[str] = set()
    out = []
    for type_, headers in messages:
        if (type_ == "Newchannel" and not linked
                and str(headers.get("Channel", "")).startswith(channel_prefix)):
            linked.add(headers["Linkedid"])
        tied = (headers.get("ActionID") == action_id or headers.get("Linkedid") in linked
                or headers.get("DestLinkedid") in linked)
        if tied and type_ in CALL_TYPES:
            out.append((type_, headers))
    return out


def captured(path: Path, action_id: str) -> list[tuple[str, dict[str, Any]]]:
    channel = next(h["Channel"] for _, h in action_times(path) if h.get("ActionID") == action_id)
    messages = [(e.type, e.data) for e in envelopes(path)]
    return call_events(messages, action_id, channel + "-")


def shape(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, ...]]:
    """Type plus what distinguishes one step from another (state, dial status, reason, cause,
    which half of a Local channel)."""
    out = []
    for type_, h in events:
        half = str(h.get("Channel", h.get("DestChannel", "")))[-2:]
        detail = {"Newstate": h.get("ChannelState"), "DialEnd": h.get("DialStatus"),
                  "OriginateResponse": h.get("Reason"), "Hangup": h.get("Cause"),
                  "DialState": h.get("DialStatus")}.get(type_, "")
        out.append((type_, half if half in (";1", ";2") else "", str(detail or "")))
    return out


async def simulate(actions: list[dict[str, str]], sim: PbxSimulator,
                   wait: float = 0.6) -> list[tuple[str, dict[str, Any]]]:
    messages: list[tuple[str, dict[str, Any]]] = []

    def received(session: str, batch: list[Message]) -> None:
        messages.extend((m.type, m.headers) for m in batch)

    client = AmiClient(ServerConfig(name="sim", port=sim.port, username="admin",
                                    secret="admin"), on_messages=received)
    task = asyncio.create_task(client.run())
    await until(lambda: client.connected, 5, "connected")
    for action in actions:
        with contextlib.suppress(ActionError):
            await client.action(action)
    await asyncio.sleep(wait)
    client.stop()
    await task
    return messages


def originate(channel: str, action_id: str, **extra: str) -> dict[str, str]:
    return {"Action": "Originate", "ActionID": action_id, "Channel": channel,
            "Context": "dialer", "Exten": "echo", "Priority": "1", "Async": "true",
            "Timeout": "20000", **extra}


def test_originate_outcomes_follow_the_captured_sequences(capture) -> None:
    cases = [  # capture, its Originate, the same number dialed on the simulator
        ("originate-answered", "originate-2", "Local/101@customers"),
        ("originate-failures", "originate-2", "Local/201@customers"),  # busy
        ("originate-failures", "originate-3", "Local/401@customers"),  # congestion
        ("originate-failures", "originate-4", "Local/301@customers"),  # no answer
        ("originate-failures", "originate-5", "Local/901@customers"),  # unallocated
    ]

    async def main() -> None:
        async with PbxSimulator(outcome=capture_dialplan, timings=QUICK) as sim:
            messages = await simulate(
                [originate(ch, f"sim-{i}", ChannelId=f"c{i}-1", OtherChannelId=f"c{i}-2")
                 for i, (_, _, ch) in enumerate(cases)], sim)
        for i, (name, action_id, channel) in enumerate(cases):
            expected = shape(captured(capture(name), action_id))
            got = call_events(messages, f"sim-{i}", channel + "-")
            assert shape(got) == expected, name + " " + channel
            ids = {h.get("Uniqueid") for t, h in got if t == "Newchannel"}
            assert ids == {f"c{i}-1", f"c{i}-2"}  # ChannelId / OtherChannelId
        assert sim.outcomes == {"answer": 1, "busy": 1, "noanswer": 1, "congestion": 1,
                                "unallocated": 1}

    run(main())


def test_events_carry_the_headers_asterisk_sends(capture) -> None:
    """Each simulated event has exactly the header names of some real event of its type
    (DialBegin, DialEnd, DialState come with or without the calling channel's)."""
    real: dict[str, set[frozenset[str]]] = {}
    for path in ("originate-answered", "originate-failures", "queue-basic", "parking",
                 "control-actions", "queue-abandon"):
        for e in envelopes(capture(path)):
            real.setdefault(e.type, set()).add(frozenset(e.data))

    async def main() -> None:
        sim = PbxSimulator(queues={"sales": ["SIP/agent-01"]}, timings=QUICK)
        async with sim:
            return await simulate([
                originate("SIP/101", "q", Application="Queue", Data="sales"),
                originate("SIP/102", "p", Application="Park", Data=""),
                originate("SIP/103", "r", Application="Queue", Data="sales"),
                {"Action": "CoreShowChannels"}, {"Action": "QueueStatus"},
                {"Action": "ParkedCalls"}, {"Action": "QueueSummary"},
            ], sim, wait=0.5)

    messages = run(main())
    compared = set()
    for type_, headers in messages:
        if type_ in real and type_ not in ("Response", "Banner", "FullyBooted"):
            compared.add(type_)
            assert frozenset(headers) in real[type_], (type_, sorted(headers))
    assert {"Newchannel", "Newstate", "DialBegin", "DialEnd", "DialState",
            "OriginateResponse", "Hangup", "QueueCallerJoin", "AgentCalled",
            "QueueCallerLeave", "AgentConnect", "AgentComplete", "QueueMemberStatus",
            "ParkedCall", "CoreShowChannel", "QueueMember", "QueueParams",
            "QueueSummary"} <= compared


def test_queue_call_goes_through_the_captured_milestones(capture) -> None:
    milestones = ["QueueCallerJoin", "AgentCalled", "QueueCallerLeave", "AgentConnect",
                  "AgentComplete"]
    expected = [t for t, _ in captured(capture("queue-basic"), "originate-6")
                if t in milestones]

    async def main() -> None:
        async with PbxSimulator(queues={"sales": ["Local/agent1@agents"]},
                                timings=QUICK) as sim:
            messages = await simulate([originate("Local/102@customers", "q", Context="dialer",
                                                 Exten="queue", Application="Queue",
                                                 Data="sales")], sim)
        got = [t for t, _ in call_events(messages, "q", "Local/102@customers-")
               if t in milestones]
        assert got == expected == milestones
        statuses = [(h["Status"], h["InCall"]) for t, h in messages if t == "QueueMemberStatus"]
        assert statuses == [("6", "0"), ("2", "1"), ("1", "0")]  # ringing, talking, free

    run(main())


def test_list_answers_show_what_is_up_and_hangup_ends_a_call() -> None:
    async def main() -> None:
        sim = PbxSimulator(timings=Timings(ring=0.01, talk=30.0))
        async with sim:
            messages = await simulate([originate("SIP/500", "a", ChannelId="live-1")], sim,
                                      wait=0.1)
            (chan,) = sim.channels.values()
            assert chan.uniqueid == "live-1" and chan.state == 6
            messages = await simulate([{"Action": "CoreShowChannels"},
                                       {"Action": "CoreStatus", "ActionID": "cs"},
                                       {"Action": "Hangup", "Channel": chan.name},
                                       {"Action": "Hangup", "Channel": "SIP/none-1"}], sim,
                                      wait=0.1)
        listed = [h for t, h in messages if t == "CoreShowChannel"]
        assert [h["Uniqueid"] for h in listed] == ["live-1"]
        (core,) = [h for t, h in messages if t == "Response" and h.get("ActionID") == "cs"]
        assert set(core) == captured_core_status_headers()
        assert (core["CoreCurrentCalls"], core["CoreProcessedCalls"]) == ("1", "1")
        responses = [h.get("Message") for t, h in messages
                     if t == "Response" and h.get("ActionID", "").startswith("sb-")]
        assert "Channel Hungup" in responses and "No such channel" in responses
        hangups = [h for t, h in messages if t == "Hangup"]
        assert [(h["Uniqueid"], h["Cause"]) for h in hangups] == [("live-1", "16")]
        assert sim.live_calls() == 0

    run(main())


def captured_core_status_headers() -> set[str]:
    """The headers of a real Asterisk's CoreStatus answer, from the captures."""
    for line in (CAPTURES / "control-actions.jsonl").read_text().splitlines():
        raw = json.loads(line).get("raw", "")
        if "ActionID: corestatus" in raw and raw.startswith("Response: Success"):
            return {h.split(": ", 1)[0] for h in raw.strip().split("\r\n")}
    raise AssertionError("no CoreStatus answer in the captures")


def test_unknown_technology_fails_like_asterisk() -> None:
    async def main() -> None:
        async with PbxSimulator() as sim:
            messages = await simulate([originate("Bogus/123", "x"),
                                       {**originate("SIP/1", "y"), "Async": "false"}], sim,
                                      wait=0.1)
        by_id = {(t, h.get("ActionID")): h for t, h in messages}
        assert by_id[("Response", "x")]["Message"] == "Originate successfully queued"
        assert by_id[("OriginateResponse", "x")]["Reason"] == "0"
        assert by_id[("Response", "y")]["Response"] == "Error"

    _ = SERVER
    run(main())
