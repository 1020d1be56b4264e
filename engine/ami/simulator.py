"""A simulated PBX on the AMI test server: `Originate` makes calls that ring, answer or fail,
reach a queue's agents or a parking lot, and hang up, with the event sequences a real Asterisk
22 sends (tests/ami-captures: originate-answered, originate-failures, control-actions,
queue-basic, parking).

What it simulates, as the captures show it:
- `Originate` (Async): `Response: Success` "Originate successfully queued", then `Newchannel`
  (the `ChannelId`/`OtherChannelId` the client chose become the `Uniqueid`s; otherwise
  `<epoch>.<n>` as Asterisk makes them), `DialBegin`, `Newstate` Ringing, `DialState`, and the
  outcome: answered (`Newstate` Up, `DialEnd` ANSWER, `OriginateResponse` Success Reason 4),
  busy (`DialEnd` BUSY, Reason 5, Hangup cause 17), congestion (CONGESTION, 8, 34), no answer
  (rings until the action's `Timeout`, Reason 3, cause 19) or unallocated (`DialEnd` NOANSWER,
  Reason 0, cause 1). A `Local/` channel has its two halves (`;1`, `;2`), the failing half
  carrying the cause while `;1` hangs up with 0, as in the captures; other technologies have one
  channel. An unknown technology fails (`Response: Error` without Async, `OriginateResponse`
  Failure Reason 0 with it). A synchronous Originate is not simulated (answered Error).
- the answered call then runs the application: `Queue(name)` (`QueueCallerJoin`, the free
  member with the oldest last call is rung: `AgentCalled`, `QueueMemberStatus` ringing, it
  answers after `agent_ring`: `DialEnd`, `QueueCallerLeave`, `AgentConnect`, talks `agent_talk`:
  `Hangup`s, `QueueMemberStatus` free, `AgentComplete`; a caller still waiting after `patience`
  hangs up: `QueueCallerAbandon`, `QueueCallerLeave`), `Park` (`ParkedCall` in the first free
  space, then `ParkedCallGiveUp` when the customer hangs up after `talk`, or `ParkedCallTimeOut`)
  or anything else (the customer talks `talk` seconds and hangs up, cause 16).
- a call answered into `AGI` (`Application: AGI`, `Data: agi:async`, or `tools,agi` as in the
  batch2 dialplan) enters async AGI (`engine/ami/asterisk_agi.py`) until an `ASYNCAGI BREAK` or
  `HANGUP` command, or its hangup; voicemail (`asterisk_voicemail.py`: the recordings' mailboxes
  100 and 101, their files in `voicemail_spool` when given) and modules (`asterisk_modules.py`)
  answer their actions from their own state.
- `Hangup` (by channel name), `QueueAdd`, `QueueRemove`, `QueuePause`; and the list actions
  `CoreShowChannels`, `Status`, `QueueStatus`, `QueueSummary`, `ParkedCalls`, `Parkinglots`
  answered from the simulated state, so a client that reconnects sees what is really up.
- PJSIP (`engine/ami/asterisk_pjsip.py`): a phone in pjsip.conf for each `PJSIP/<name>` queue
  member (endpoint, auth and AOR `<name>`), registered from 192.0.2.x, and a trunk `provider`
  with an outbound registration and a permanent contact; `PJSIPShowEndpoints` and the other
  res_pjsip lists answer from them. Agents (`engine/ami/asterisk_agents.py`): 1001 and 1002
  in agents.conf, logged in and off by `login_agent` / `logoff_agent`; an `Agent/<id>`
  member that takes a call is `AGENT_ONCALL` in `Agents` until it ends.
- its configuration files (`engine/ami/asterisk_config.py`: `GetConfig`, `UpdateConfig`,
  `Reload`...), the captures' PBX but for `queues.conf` and `res_parking.conf`, written from its
  own queues (members stay dynamic) and parking lot; a reload of `app_queue` or `res_parking`
  makes the queues (with their static members) and the lots those files say (`apply_reload`).

Outcomes are chosen per call by `outcome`: a mix of weights (`{"answer": 7, "busy": 1}`), or a
function of the dialed number (`capture_dialplan` is the captures' own: 1XX answers, 2XX busy,
3XX never answers, 4XX congestion, 9XX unallocated). Timings are seconds (`Timings`), small in
tests. Run it standalone: `python -m engine.ami.simulator --port 5038 --agents 5`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.ami.asterisk_agents import AGENTS_CONF
from engine.ami.asterisk_agi import AsyncAgi
from engine.ami.asterisk_config import AsteriskConfig, LotDef, QueueDef
from engine.ami.asterisk_pjsip import (
    DEVICE_INUSE,
    DEVICE_NOT_INUSE,
    DEVICE_UNAVAILABLE,
    register_phones,
    simulated_conf,
)
from engine.ami.asterisk_voicemail import Voicemail, demo_mailboxes
from engine.ami.captured_pbx import FILES
from engine.ami.testserver import AmiTestServer, _ack, _error, _get, _response
from engine.envelope import Headers

OUTCOMES = ("answer", "busy", "noanswer", "congestion", "unallocated")
KNOWN_TECHS = frozenset({"sip", "pjsip", "iax2", "dahdi", "local", "motif", "unistim"})
STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
FAILURES = {  # outcome -> (DialStatus, OriginateResponse Reason, Hangup cause, Cause-txt)
    "busy": ("BUSY", 5, 17, "User busy"),
    "congestion": ("CONGESTION", 8, 34, "Circuit/channel congestion"),
    "noanswer": ("NOANSWER", 3, 19, "User alerting, no answer"),
    "unallocated": ("NOANSWER", 0, 1, "Unallocated (unassigned) number"),
}
NORMAL = (16, "Normal Clearing")

AGENT = "Agent/"  # a queue member that is an agent of app_agent_pool: `Agent/<id>`
# QueueMember status: AST_DEVICE_* numbers
MEMBER_FREE, MEMBER_INUSE, MEMBER_RINGING = 1, 2, 6


@dataclass
class Timings:
    """Seconds. `noanswer` None rings until the Originate's `Timeout`."""

    ring: float = 0.05  # a customer rings this long before answering
    talk: float = 0.2  # a customer talks this long at a non-queue destination (or parked)
    agent_ring: float = 0.05  # a queue member rings this long before answering
    agent_talk: float = 0.2  # a customer and an agent talk this long
    patience: float = 30.0  # a customer waits this long in a queue, then hangs up
    park_timeout: float = 6.0  # a parked call times out after this
    noanswer: float | None = None
    # Each ring and talk lasts its time give or take this fraction, drawn uniformly (seeded):
    # with 0, calls placed together all end together, and agents stay in lockstep for ever.
    jitter: float = 0.0


def capture_dialplan(number: str) -> str:
    """The captures' `customers` context: 1XX answer, 2XX busy, 3XX no answer, 4XX
    congestion, 9XX unallocated (anything else answers)."""
    return {"2": "busy", "3": "noanswer", "4": "congestion", "9": "unallocated"}.get(
        number[:1] if len(number) == 3 else "", "answer")


@dataclass(eq=False)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    state: int = 0
    priority: str = "1"
    cid_num: str = "<unknown>"
    cid_name: str = "<unknown>"
    application: str = ""
    app_data: str = ""
    created: float = field(default_factory=time.monotonic)
    bridge: str = ""


@dataclass(eq=False)
class Member:
    queue: str
    interface: str
    name: str
    status: int = MEMBER_FREE
    paused: bool = False
    paused_reason: str = ""
    in_call: bool = False
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = field(default_factory=lambda: int(time.time()))
    membership: str = "dynamic"

    def free(self) -> bool:
        return self.status == MEMBER_FREE and not self.paused and not self.in_call


@dataclass(eq=False)
class Queue:
    name: str
    strategy: str = "rrmemory"
    members: dict[str, Member] = field(default_factory=dict)
    waiting: list[Call] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    hold_time: int = 0
    talk_time: int = 0


@dataclass(eq=False)
class Call:
    """One originated call and where it is."""

    action_id: str
    dial_string: str
    legs: list[Channel]
    outcome: str
    task: asyncio.Task[None] | None = None
    queue: Queue | None = None
    joined: float = 0.0
    original_position: int = 0
    member: Member | None = None
    agent_leg: Channel | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    connected_at: float = 0.0
    parked: str = ""
    done: bool = False
    queue_name: str = ""  # the queue it goes to once answered


class PbxSimulator(AmiTestServer):
    def __init__(self, *, timings: Timings | None = None,
                 outcome: Mapping[str, float] | Callable[[str], str] | None = None,
                 seed: int | None = None, queues: Mapping[str, Iterable[str]] | None = None,
                 parking_lot: tuple[str, int, int] = ("default", 701, 720),
                 voicemail_spool: Path | None = None, **kwargs: Any) -> None:
        """`queues`: queue name -> member interfaces (e.g. `{"sales": ["PJSIP/agent-01"]}`:
        a PJSIP member gets its phone in pjsip.conf, registered)."""
        kwargs.setdefault("config", _config(queues or {}, parking_lot,
                                            (timings or Timings()).park_timeout))
        super().__init__(**kwargs)
        self.voicemail = Voicemail(demo_mailboxes(), voicemail_spool)
        self.agi = AsyncAgi(exists=lambda name: any(
            c.name == name for c in self.channels.values()))
        self.pjsip.channels = lambda endpoint: sum(
            c.name.startswith(f"PJSIP/{endpoint}-") for c in self.channels.values())
        register_phones(self.pjsip)
        self.timings = timings or Timings()
        self.outcome = outcome if outcome is not None else {"answer": 1.0}
        self.random = random.Random(seed)
        self.queues: dict[str, Queue] = {}
        for queue, interfaces in (queues or {}).items():
            for interface in interfaces:
                self.add_member(queue, interface, emit=False)
        self.lot, self.first_space, self.last_space = parking_lot
        self.channels: dict[str, Channel] = {}  # by uniqueid
        self.calls: dict[str, Call] = {}  # by ChannelId of the first leg
        self.parked: dict[str, Call] = {}  # space -> call
        self.outcomes: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.originated = 0
        # For each Originate to a queue, what the queue looked like when it arrived: calls to
        # it not yet with an agent (ringing, or waiting) and free members (pacing tests).
        self.load_at_originate: list[dict[str, Any]] = []
        # ChannelId -> when its Originate was handled (epoch seconds, the clock of the events'
        # Timestamp header): scripts/bench_dialer.py times the dialer from the PBX's side
        self.originated_at: dict[str, float] = {}
        self._boot = int(time.time())
        self._uids = itertools.count(1)
        self._seq = itertools.count(0x100)

    # -- runtime control (tests, demo) ------------------------------------------------------------

    def add_member(self, queue: str, interface: str, name: str | None = None,
                   emit: bool = True) -> Member:
        q = self.queues.setdefault(queue, Queue(queue))
        member = q.members.get(interface)
        if member is None:
            member = q.members[interface] = Member(queue, interface, name or interface)
            if emit:
                self._later(self._emit("QueueMemberAdded", self._member_fields(member),
                                       "agent,all"))
        return member

    def pause_member(self, queue: str, interface: str, paused: bool = True,
                     reason: str = "") -> None:
        member = self.queues[queue].members[interface]
        member.paused, member.paused_reason = paused, reason if paused else ""
        if paused:
            member.last_pause = int(time.time())
        self._later(self._emit("QueueMemberPause", self._member_fields(member), "agent,all"))
        if not paused:
            self._dispatch(self.queues[queue])

    def live_calls(self) -> int:
        return sum(1 for c in self.calls.values() if not c.done)

    def login_agent(self, agent: str, device: str) -> None:
        """Agent `agent` (agents.conf) calls in from `device` (`PJSIP/agent-01`) and runs
        AgentLogin: its channel stays up, in `agent-login`; `AgentLogin`."""
        uid = self._uid()
        chan = Channel(f"{device}-{next(self._seq):08x}", uid, uid, "agent-login", "s",
                       state=6, priority="2", application="AgentLogin", app_data=agent)
        login = self.agents.login(agent, lambda: self._chan(chan))
        self.channels[uid] = chan
        self._later(self._agent_came(login, chan))

    def logoff_agent(self, agent: str) -> None:
        """The agent hangs up its login channel: `AgentLogoff`, then its `Hangup`."""
        chan = next((c for c in self.channels.values()
                     if c.application == "AgentLogin" and c.app_data == agent), None)
        logoff = self.agents.logoff(agent)
        if chan is not None and logoff is not None:
            self._later(self._agent_gone(logoff, chan))

    async def _agent_came(self, login: bytes, chan: Channel) -> None:
        await self._emit("Newchannel", self._chan(chan))
        await self.broadcast(login)

    async def _agent_gone(self, logoff: bytes, chan: Channel) -> None:
        await self.broadcast(logoff)
        await self._hangup_leg(chan, *NORMAL)

    def originates(self) -> list[Headers]:
        return [a for a in self.actions_received if _get(a, "Action").lower() == "originate"]

    # -- actions ----------------------------------------------------------------------------------

    def handle_action(self, name: str, headers: Headers, action_id: str) -> bytes | None:
        handler = {
            "originate": self._originate,
            "hangup": self._hangup_action,
            "coreshowchannels": self._core_show_channels,
            "corestatus": self._core_status,
            "status": self._status,
            "queuestatus": self._queue_status,
            "queuesummary": self._queue_summary,
            "parkedcalls": self._parked_calls,
            "parkinglots": self._parking_lots,
            "devicestatelist": self._device_state_list,
            "queueadd": self._queue_add,
            "queueremove": self._queue_remove,
            "queuepause": self._queue_pause,
        }.get(name)
        return handler(headers, action_id) if handler is not None else None

    def _originate(self, headers: Headers, action_id: str) -> bytes:
        self.originated_at[_get(headers, "ChannelId")] = time.time()
        dial = _get(headers, "Channel")
        tech, _, resource = dial.partition("/")
        if not dial or not resource:
            return _error(action_id, "Channel not specified" if not dial else "Invalid channel")
        if _get(headers, "Async").lower() not in ("true", "yes", "1"):
            return _error(action_id, "Originate failed")  # synchronous: not simulated
        self.originated += 1
        call_id = _get(headers, "ChannelId") or self._uid()
        if tech.lower() not in KNOWN_TECHS:
            self._later(self._emit("OriginateResponse", [
                ("ActionID", action_id), ("Response", "Failure"), ("Channel", dial),
                *self._target(headers), ("Reason", "0"), ("Uniqueid", "<unknown>"),
                ("CallerIDNum", "<unknown>"), ("CallerIDName", "<unknown>")]))
            return _ack(action_id, "Originate successfully queued")
        if _get(headers, "Application").lower() == "queue":
            self._record_load(_get(headers, "Data").split(",", 1)[0])
        number = resource.split("@", 1)[0]
        outcome = self._choose(number)
        self.outcomes[outcome] += 1
        legs = self._legs(tech, resource, call_id, _get(headers, "OtherChannelId"), headers)
        call = Call(action_id, dial, legs, outcome)
        if _get(headers, "Application").lower() == "queue":
            call.queue_name = _get(headers, "Data").split(",", 1)[0]
        self.calls[call_id] = call
        call.task = asyncio.get_running_loop().create_task(self._run_call(call, headers))
        return _ack(action_id, "Originate successfully queued")

    def _record_load(self, name: str) -> None:
        queue = self.queues.get(name)
        awaiting = sum(1 for c in self.calls.values()
                       if not c.done and c.member is None and c.queue_name == name)
        free = sum(1 for m in queue.members.values() if m.free()) if queue else 0
        self.load_at_originate.append({"queue": name, "awaiting": awaiting, "free": free})

    def _choose(self, number: str) -> str:
        if callable(self.outcome):
            return self.outcome(number)
        names = [n for n in self.outcome if self.outcome[n] > 0]
        weights = [self.outcome[n] for n in names]
        return self.random.choices(names, weights)[0] if names else "answer"

    def _legs(self, tech: str, resource: str, uid1: str, uid2: str,
              headers: Headers) -> list[Channel]:
        seq = next(self._seq)
        cid_num, cid_name = _caller_id(_get(headers, "CallerID"))
        if tech.lower() == "local":
            exten, _, context = resource.partition("@")
            base = f"{tech}/{resource}-{seq:08x}"
            one = Channel(f"{base};1", uid1, uid1, context or "default", exten)
            two = Channel(f"{base};2", uid2 or self._uid(), uid1, context or "default", exten,
                          state=4)
            legs = [one, two]
        else:
            peer = resource.split("@", 1)[1] if "@" in resource else resource
            number = resource.split("@", 1)[0]
            legs = [Channel(f"{tech}/{peer}-{seq:08x}", uid1, uid1, "default", number)]
        for leg in legs:
            leg.cid_num, leg.cid_name = cid_num, cid_name
            self.channels[leg.uniqueid] = leg
        return legs

    @staticmethod
    def _target(headers: Headers) -> list[tuple[str, str]]:
        if _get(headers, "Application"):
            return [("Context", ""), ("Exten", "")]
        return [("Context", _get(headers, "Context")), ("Exten", _get(headers, "Exten"))]

    # -- one call ---------------------------------------------------------------------------------

    async def _run_call(self, call: Call, headers: Headers) -> None:
        try:
            await self._dial(call, headers)
        except asyncio.CancelledError:
            pass
        except (ConnectionError, OSError):
            pass

    async def _dial(self, call: Call, headers: Headers) -> None:
        one = call.legs[0]
        for leg in call.legs:
            await self._emit("Newchannel", self._chan(leg))
        for pair in _variables(headers):
            await self._emit("VarSet", [*self._chan(one), ("Variable", pair[0]),
                                        ("Value", pair[1])], "dialplan,all")
        dial_begin = [*self._chan(one, "Dest"),
                      ("DialString", call.dial_string.split("/", 1)[1])]
        if call.outcome in FAILURES and call.outcome != "noanswer":
            await self._refused(call, headers, dial_begin)
            return
        await self._emit("DialBegin", dial_begin)
        await self._state(one, 5)
        await self._emit("DialState", [*self._chan(one, "Dest"), ("DialStatus", "RINGING")])
        if call.outcome == "noanswer":
            timeout = self.timings.noanswer
            if timeout is None:
                timeout = int(_get(headers, "Timeout") or 30000) / 1000.0
            await asyncio.sleep(self._lasting(timeout))
            _, reason, cause, text = FAILURES["noanswer"]
            await self._emit("OriginateResponse", self._response(call, headers, False, reason))
            for leg in call.legs:
                await self._hangup_leg(leg, cause, text)
            call.done = True
            return
        await asyncio.sleep(self._lasting(self.timings.ring))
        for leg in reversed(call.legs):
            await self._state(leg, 6)
        await self._emit("DialEnd", [*self._chan(one, "Dest"), ("DialStatus", "ANSWER")])
        await self._emit("OriginateResponse", self._response(call, headers, True, 4))
        app = _get(headers, "Application").lower()
        if app == "queue":
            await self._queue(call, _get(headers, "Data").split(",", 1)[0])
        elif app == "park":
            await self._park(call)
        elif app == "agi" or (not app and (_get(headers, "Context"), _get(headers, "Exten"))
                              == ("tools", "agi")):
            await self._agi(call, headers)
        else:
            one.application, one.app_data = _get(headers, "Application") or "Wait", ""
            if not app:
                one.context, one.exten = _get(headers, "Context"), _get(headers, "Exten")
            await asyncio.sleep(self._lasting(self.timings.talk))
            await self._finish(call, *NORMAL)

    async def _agi(self, call: Call, headers: Headers) -> None:
        """`AGI(agi:async)`: the channel waits for AGI commands until its session ends (a
        BREAK or HANGUP command, or a hangup), then hangs up, as `tools,agi` does."""
        one = call.legs[0]
        if not _get(headers, "Application"):
            one.context, one.exten, one.priority = "tools", "agi", "2"
        one.application, one.app_data = "AGI", "agi:async"
        session, start = self.agi.begin(one.name, lambda: self._chan(one))
        await self.broadcast(start)
        await session.ended.wait()
        await self._finish(call, *NORMAL)

    async def _refused(self, call: Call, headers: Headers,
                       dial_begin: list[tuple[str, str]]) -> None:
        """Busy, congestion, unallocated: in the orders the captures show for a Local channel
        (the far half fails with the cause, `;1` hangs up with 0 after a busy or congestion);
        a channel of another technology carries the cause itself."""
        one = call.legs[0]
        two = call.legs[1] if len(call.legs) == 2 else None
        status, reason, cause, text = FAILURES[call.outcome]
        dial_end = [*self._chan(one, "Dest"), ("DialStatus", status)]
        response = self._response(call, headers, False, reason)
        if call.outcome == "busy":
            if two is not None:
                await self._state(two, 7)
            await self._emit("DialBegin", dial_begin)
            await self._emit("DialEnd", dial_end)
            await self._emit("OriginateResponse", response)
            await self._hangup_leg(one, 0 if two else cause, "Unknown" if two else text)
            if two is not None:
                await self._hangup_leg(two, cause, text)
        elif call.outcome == "congestion":
            await self._emit("DialBegin", dial_begin)
            if two is not None:
                await self._state(two, 7)
            await self._emit("DialEnd", dial_end)
            if two is not None:
                await self._hangup_leg(two, cause, text)
            await self._emit("OriginateResponse", response)
            await self._hangup_leg(one, 0 if two else cause, "Unknown" if two else text)
        else:  # unallocated
            await self._emit("DialBegin", dial_begin)
            await self._emit("DialEnd", dial_end)
            for leg in reversed(call.legs):
                await self._hangup_leg(leg, cause, text)
            await self._emit("OriginateResponse", response)
        call.done = True

    def _response(self, call: Call, headers: Headers, ok: bool, reason: int
                  ) -> list[tuple[str, str]]:
        one = call.legs[0]
        return [("ActionID", call.action_id), ("Response", "Success" if ok else "Failure"),
                ("Channel", one.name if ok else call.dial_string), *self._target(headers),
                ("Reason", str(reason)), ("Uniqueid", one.uniqueid if ok else "<unknown>"),
                ("CallerIDNum", one.cid_num), ("CallerIDName", one.cid_name)]

    async def _finish(self, call: Call, cause: int, text: str) -> None:
        """The customer's side ends: whatever the call is in is left, then its channels go."""
        if call.done:
            return
        call.done = True
        one = call.legs[0]
        now = time.time()
        queue = call.queue
        if queue is not None and call in queue.waiting:
            position = queue.waiting.index(call) + 1
            queue.waiting.remove(call)
            queue.abandoned += 1
            hold = str(int(now - call.joined))
            await self._emit("QueueCallerAbandon", [
                *self._chan(one), ("Queue", queue.name), ("Position", str(position)),
                ("OriginalPosition", str(call.original_position)), ("HoldTime", hold)],
                "agent,all")
            await self._emit("QueueCallerLeave", [
                *self._chan(one), ("Queue", queue.name), ("Count", str(len(queue.waiting))),
                ("Position", str(position))], "agent,all")
        member, agent_leg = call.member, call.agent_leg
        if member is not None and agent_leg is not None:
            if member.interface.startswith(AGENT):
                self.agents.disconnected(member.interface[len(AGENT):])
            await self._hangup_leg(agent_leg, *NORMAL)
            talked = call.connected.is_set()
            self._free(member, took_call=talked)
            await self._emit("QueueMemberStatus", self._member_fields(member), "agent,all")
        if call.parked:
            space = call.parked
            self.parked.pop(space, None)
            await self._emit("ParkedCallGiveUp", self._parkee(call, space, 0), "call,all")
        for leg in call.legs:
            await self._hangup_leg(leg, cause, text)
        if member is not None and agent_leg is not None and call.connected.is_set():
            assert queue is not None
            talk = int(now - call.connected_at)
            queue.completed += 1
            queue.talk_time = talk if queue.completed == 1 else (3 * queue.talk_time + talk) // 4
            await self._emit("AgentComplete", [
                *self._chan(one), *self._chan(agent_leg, "Dest"), ("Queue", queue.name),
                ("Interface", member.interface), ("MemberName", member.name),
                ("HoldTime", str(int(call.connected_at - call.joined))),
                ("TalkTime", str(talk)), ("Reason", "agent")], "agent,all")
        if member is not None and queue is not None:
            self._dispatch(queue)

    # -- queues -----------------------------------------------------------------------------------

    async def _queue(self, call: Call, name: str) -> None:
        queue = self.queues.setdefault(name, Queue(name))
        one = call.legs[0]
        one.application, one.app_data, one.context = "Queue", name, "dialer"
        call.queue, call.joined = queue, time.time()
        queue.waiting.append(call)
        call.original_position = len(queue.waiting)
        await self._emit("QueueCallerJoin", [
            *self._chan(one), ("Queue", name), ("Position", str(call.original_position)),
            ("Count", str(len(queue.waiting)))], "agent,all")
        self._dispatch(queue)
        try:
            await asyncio.wait_for(call.connected.wait(), self.timings.patience)
        except TimeoutError:
            await self._finish(call, *NORMAL)  # the customer gave up waiting
            return
        await asyncio.sleep(self._lasting(self.timings.agent_talk))
        await self._finish(call, *NORMAL)

    def _lasting(self, seconds: float) -> float:
        """`seconds`, give or take `Timings.jitter` of it."""
        jitter = self.timings.jitter
        return seconds * (1.0 + self.random.uniform(-jitter, jitter)) if jitter else seconds

    def _dispatch(self, queue: Queue) -> None:
        """Ring a free member for each waiting caller nobody rings yet (oldest last call
        first, as rrmemory goes round)."""
        for call in list(queue.waiting):
            if call.member is not None or call.done:
                continue
            free = [m for m in queue.members.values() if m.free()]
            if not free:
                return
            member = min(free, key=lambda m: m.last_call)
            member.status = MEMBER_RINGING
            call.member = member
            self._later(self._ring_agent(call, member))

    async def _ring_agent(self, call: Call, member: Member) -> None:
        queue = call.queue
        assert queue is not None
        one = call.legs[0]
        seq = next(self._seq)
        agent = Channel(f"{member.interface}-{seq:08x}", self._uid(), one.linkedid, "agents",
                        member.interface.rsplit("/", 1)[-1])
        agent.cid_num, agent.cid_name = one.cid_num, one.cid_name
        self.channels[agent.uniqueid] = agent
        call.agent_leg = agent
        await self._emit("Newchannel", self._chan(agent))
        await self._emit("AgentCalled", [
            *self._chan(one), *self._chan(agent, "Dest"), ("Queue", queue.name),
            ("Interface", member.interface), ("MemberName", member.name)], "agent,all")
        await self._emit("DialBegin", [*self._chan(one), *self._chan(agent, "Dest"),
                                       ("DialString", member.interface)])
        await self._emit("QueueMemberStatus", self._member_fields(member), "agent,all")
        await asyncio.sleep(self._lasting(self.timings.agent_ring))
        if call.done or call not in queue.waiting:
            return
        await self._state(agent, 6)
        await self._emit("DialEnd", [*self._chan(one), *self._chan(agent, "Dest"),
                                     ("DialStatus", "ANSWER")])
        position = queue.waiting.index(call) + 1
        queue.waiting.remove(call)
        await self._emit("QueueCallerLeave", [
            *self._chan(one), ("Queue", queue.name), ("Count", str(len(queue.waiting))),
            ("Position", str(position))], "agent,all")
        member.in_call, member.status = True, MEMBER_INUSE
        call.connected_at = time.time()
        hold = int(call.connected_at - call.joined)
        queue.hold_time = hold if queue.completed == 0 else (3 * queue.hold_time + hold) // 4
        await self._emit("AgentConnect", [
            *self._chan(one), *self._chan(agent, "Dest"), ("Queue", queue.name),
            ("Interface", member.interface), ("MemberName", member.name),
            ("HoldTime", str(hold)), ("RingTime", str(int(self.timings.agent_ring)))],
            "agent,all")
        await self._emit("QueueMemberStatus", self._member_fields(member), "agent,all")
        if member.interface.startswith(AGENT):  # app_agent_pool bridges its agent
            self.agents.connected(member.interface[len(AGENT):], one.name)
        call.connected.set()

    def _free(self, member: Member, took_call: bool) -> None:
        member.in_call = False
        member.status = MEMBER_FREE
        if took_call:
            member.calls_taken += 1
            member.last_call = int(time.time())

    # -- parking ----------------------------------------------------------------------------------

    async def _park(self, call: Call) -> None:
        space = next((str(s) for s in range(self.first_space, self.last_space + 1)
                      if str(s) not in self.parked), "")
        one = call.legs[0]
        one.application, one.app_data, one.context, one.exten = "Park", self.lot, "dialer", "park"
        if not space:  # a full lot: Park fails and the call goes on in the dialplan
            await asyncio.sleep(self._lasting(self.timings.talk))
            await self._finish(call, *NORMAL)
            return
        call.parked = space
        self.parked[space] = call
        timeout = self.timings.park_timeout
        await self._emit("ParkedCall", self._parkee(call, space, int(timeout)), "call,all")
        talk = self._lasting(self.timings.talk)
        if talk < timeout:
            await asyncio.sleep(talk)
            await self._finish(call, *NORMAL)
            return
        await asyncio.sleep(timeout)
        if call.done:
            return
        self.parked.pop(space, None)
        call.parked = ""
        one.context, one.exten = "parkedcallstimeout", "s"
        await self._emit("ParkedCallTimeOut", self._parkee(call, space, 0), "call,all")
        await self._finish(call, *NORMAL)

    def _parkee(self, call: Call, space: str, timeout: int) -> list[tuple[str, str]]:
        one = call.legs[0]
        parked_for = int(time.monotonic() - one.created)
        return [*self._chan(one, "Parkee"), ("ParkerDialString", call.dial_string),
                ("Parkinglot", self.lot), ("ParkingSpace", space),
                ("ParkingTimeout", str(timeout)), ("ParkingDuration", str(parked_for))]

    # -- Hangup and queue management actions ------------------------------------------------------

    def _hangup_action(self, headers: Headers, action_id: str) -> bytes:
        name = _get(headers, "Channel")
        cause = int(_get(headers, "Cause") or 16)
        for call in self.calls.values():
            if call.done:
                continue
            if any(leg.name == name for leg in call.legs) or (
                    call.agent_leg is not None and call.agent_leg.name == name):
                if call.task is not None:
                    call.task.cancel()
                text = NORMAL[1] if cause == 16 else f"Cause {cause}"
                self._later(self._hangup_call(call, cause, text))
                return _ack(action_id, "Channel Hungup")
        return _error(action_id, "No such channel")

    async def _hangup_call(self, call: Call, cause: int, text: str) -> None:
        if call.legs[0].state != 6:  # never answered: the Originate fails
            call.done = True
            await self._emit("OriginateResponse", [
                ("ActionID", call.action_id), ("Response", "Failure"),
                ("Channel", call.dial_string), ("Context", ""), ("Exten", ""),
                ("Reason", "1"), ("Uniqueid", "<unknown>"), ("CallerIDNum", "<unknown>"),
                ("CallerIDName", "<unknown>")])
            for leg in call.legs:
                await self._hangup_leg(leg, cause, text)
            return
        await self._finish(call, cause, text)

    def _queue_add(self, headers: Headers, action_id: str) -> bytes:
        queue, interface = _get(headers, "Queue"), _get(headers, "Interface")
        if not queue or not interface:
            return _error(action_id, "'Queue' and 'Interface' must be specified.")
        self.add_member(queue, interface, _get(headers, "MemberName") or None)
        return _ack(action_id, "Added interface to queue")

    def _queue_remove(self, headers: Headers, action_id: str) -> bytes:
        queue = self.queues.get(_get(headers, "Queue"))
        member = queue.members.pop(_get(headers, "Interface"), None) if queue else None
        if member is None:
            return _error(action_id, "Unable to remove interface: Not there")
        self._later(self._emit("QueueMemberRemoved", self._member_fields(member), "agent,all"))
        return _ack(action_id, "Removed interface from queue")

    def _queue_pause(self, headers: Headers, action_id: str) -> bytes:
        interface = _get(headers, "Interface")
        paused = _get(headers, "Paused").lower() in ("true", "yes", "1")
        names = [_get(headers, "Queue")] if _get(headers, "Queue") else list(self.queues)
        found = False
        for name in names:
            queue = self.queues.get(name)
            if queue is not None and interface in queue.members:
                self.pause_member(name, interface, paused, _get(headers, "Reason"))
                found = True
        if not found:
            return _error(action_id, "Interface not found")
        return _ack(action_id, f"Interface {'paused' if paused else 'unpaused'} successfully")

    # -- configuration reloads --------------------------------------------------------------------

    def apply_reload(self, modules: list[str]) -> list[bytes]:
        """app_queue and res_parking run what their files say now: queues made or dropped, a
        queue's strategy and static members as written (a static member taken out leaves
        without a `QueueMemberRemoved`, as in config-queues.jsonl); dynamic members stay.
        app_voicemail as the test server's."""
        if "app_queue" in modules:
            self._load_queues(self.config.queues())
        if "res_parking" in modules:
            self._load_lots(self.config.parking_lots())
        return super().apply_reload(modules)

    def _load_queues(self, defs: Mapping[str, QueueDef]) -> None:
        for name in [n for n in self.queues if n not in defs]:
            del self.queues[name]
        for queue_def in defs.values():
            queue = self.queues.setdefault(queue_def.name, Queue(queue_def.name))
            queue.strategy = queue_def.strategy
            wanted = {m.interface: m for m in queue_def.members}
            for interface in [i for i, m in queue.members.items()
                              if m.membership == "static" and i not in wanted]:
                del queue.members[interface]
            for interface, member_def in wanted.items():
                if interface not in queue.members:
                    queue.members[interface] = Member(queue.name, interface, member_def.name,
                                                      membership="static")

    def _load_lots(self, defs: Mapping[str, LotDef]) -> None:
        lot = defs.get(self.lot)
        if lot is not None:
            self.first_space, self.last_space = lot.start, lot.stop

    # -- list actions -----------------------------------------------------------------------------

    def _list(self, action_id: str, message: str, complete: str,
              items: list[tuple[str, list[tuple[str, str]]]],
              extra: list[tuple[str, str]] | None = None) -> bytes:
        out = [_response("Success", action_id, "EventList: start", f"Message: {message}")]
        for event, fields in items:
            out.append(_message([("Event", event), *fields, ("ActionID", action_id)]))
        out.append(_message([("Event", complete), ("ActionID", action_id),
                             ("EventList", "Complete"), ("ListItems", str(len(items))),
                             *(extra or [])]))
        return b"".join(out)

    def _core_show_channels(self, headers: Headers, action_id: str) -> bytes:
        items = []
        for chan in self.channels.values():
            elapsed = int(time.monotonic() - chan.created)
            duration = f"{elapsed // 3600:02d}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
            items.append(("CoreShowChannel", [
                *self._chan(chan, with_event_headers=False), ("Application", chan.application),
                ("ApplicationData", chan.app_data), ("Duration", duration),
                ("BridgeId", chan.bridge)]))
        return self._list(action_id, "Channels will follow", "CoreShowChannelsComplete", items)

    def _core_status(self, headers: Headers, action_id: str) -> bytes:
        """As a real Asterisk 22 answers it (control-actions.jsonl): the engine sends it on
        every connect, and the `systems` projection reads the call counts from it."""
        boot = time.gmtime(self._boot)
        return _response(
            "Success", action_id,
            f"CoreStartupDate: {time.strftime('%Y-%m-%d', boot)}",
            f"CoreStartupTime: {time.strftime('%H:%M:%S', boot)}",
            f"CoreReloadDate: {time.strftime('%Y-%m-%d', boot)}",
            f"CoreReloadTime: {time.strftime('%H:%M:%S', boot)}",
            f"CoreCurrentCalls: {self.live_calls()}",
            f"CoreProcessedCalls: {self.originated}")

    def _status(self, headers: Headers, action_id: str) -> bytes:
        name = _get(headers, "Channel")
        chans = [c for c in self.channels.values() if not name or c.name == name]
        if name and not chans:
            return _error(action_id, "No such channel")
        items = [("Status", [("Privilege", "Call"), *self._chan(c, with_event_headers=False),
                             ("Type", c.name.split("/", 1)[0]), ("Application", c.application),
                             ("Data", c.app_data),
                             ("Seconds", str(int(time.monotonic() - c.created)))])
                 for c in chans]
        return self._list(action_id, "Channel status will follow", "StatusComplete", items,
                          [("Items", str(len(items)))])

    def _queue_status(self, headers: Headers, action_id: str) -> bytes:
        wanted = _get(headers, "Queue")
        items: list[tuple[str, list[tuple[str, str]]]] = []
        for queue in self.queues.values():
            if wanted and queue.name != wanted:
                continue
            items.append(("QueueParams", [
                ("Queue", queue.name), ("Max", "0"), ("Strategy", queue.strategy),
                ("Calls", str(len(queue.waiting))), ("Holdtime", str(queue.hold_time)),
                ("TalkTime", str(queue.talk_time)), ("Completed", str(queue.completed)),
                ("Abandoned", str(queue.abandoned)), ("ServiceLevel", "0"),
                ("ServicelevelPerf", "0.0"), ("ServicelevelPerf2", "0.0"), ("Weight", "0")]))
            for m in queue.members.values():
                items.append(("QueueMember", [
                    ("Queue", queue.name), ("Name", m.name), ("Location", m.interface),
                    ("StateInterface", m.interface), ("Membership", m.membership),
                    ("Penalty", "0"), ("CallsTaken", str(m.calls_taken)),
                    ("LastCall", str(m.last_call)), ("LastPause", str(m.last_pause)),
                    ("LoginTime", str(m.login_time)), ("InCall", str(int(m.in_call))),
                    ("Status", str(m.status)), ("Paused", str(int(m.paused))),
                    ("PausedReason", m.paused_reason), ("Wrapuptime", "0")]))
            for position, call in enumerate(queue.waiting, 1):
                one = call.legs[0]
                items.append(("QueueEntry", [
                    ("Queue", queue.name), ("Position", str(position)), ("Channel", one.name),
                    ("Uniqueid", one.uniqueid), ("CallerIDNum", one.cid_num),
                    ("CallerIDName", one.cid_name), ("ConnectedLineNum", "unknown"),
                    ("ConnectedLineName", "unknown"),
                    ("Wait", str(int(time.time() - call.joined))), ("Priority", "0")]))
        return self._list(action_id, "Queue status will follow", "QueueStatusComplete", items)

    def _queue_summary(self, headers: Headers, action_id: str) -> bytes:
        items = []
        for queue in self.queues.values():
            waits = [time.time() - c.joined for c in queue.waiting]
            items.append(("QueueSummary", [
                ("Queue", queue.name), ("LoggedIn", str(len(queue.members))),
                ("Available", str(sum(1 for m in queue.members.values() if m.free()))),
                ("Callers", str(len(queue.waiting))), ("HoldTime", str(queue.hold_time)),
                ("TalkTime", str(queue.talk_time)),
                ("LongestHoldTime", str(int(max(waits, default=0))))]))
        return self._list(action_id, "Queue summary will follow", "QueueSummaryComplete", items)

    def _parked_calls(self, headers: Headers, action_id: str) -> bytes:
        items = [("ParkedCall", self._parkee(call, space, int(self.timings.park_timeout)))
                 for space, call in sorted(self.parked.items())]
        return self._list(action_id, "Parked calls will follow", "ParkedCallsComplete", items,
                          [("Total", str(len(items)))])

    def _parking_lots(self, headers: Headers, action_id: str) -> bytes:
        """The lots res_parking runs; its own lot with the timeout it parks calls for."""
        items = [("Parkinglot", [
            ("Name", lot.name), ("StartSpace", str(lot.start)), ("StopSpace", str(lot.stop)),
            ("Timeout", str(int(self.timings.park_timeout) if lot.name == self.lot
                            else lot.timeout))])
            for lot in self.config.parking_lots().values()]
        return self._list(action_id, "Parking lots will follow", "ParkinglotsComplete", items)

    def _device_state_list(self, headers: Headers, action_id: str) -> bytes:
        """The states Asterisk caches of its phones (each PJSIP endpoint's device), as
        `DeviceStateList` answers them: `DeviceStateChange` items (queue-basic.jsonl)."""
        states = {DEVICE_INUSE: "INUSE", DEVICE_NOT_INUSE: "NOT_INUSE",
                  DEVICE_UNAVAILABLE: "UNAVAILABLE"}
        items = [("DeviceStateChange", [
            ("Device", f"PJSIP/{endpoint.name}"),
            ("State", states[self.pjsip.device_state(endpoint)])])
            for endpoint in self.pjsip.objects("endpoint")]
        return self._list(action_id, "Device State Changes will follow",
                          "DeviceStateListComplete", items)

    # -- event building ---------------------------------------------------------------------------

    def _uid(self) -> str:
        return f"{self._boot}.{next(self._uids)}"

    def _later(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        task.add_done_callback(_quiet)

    async def _emit(self, event: str, fields: list[tuple[str, str]],
                    privilege: str = "call,all") -> None:
        await self.broadcast(_message([
            ("Event", event), ("Privilege", privilege), ("Timestamp", f"{time.time():.6f}"),
            *fields]))

    async def _state(self, chan: Channel, state: int) -> None:
        chan.state = state
        await self._emit("Newstate", self._chan(chan))

    async def _hangup_leg(self, chan: Channel, cause: int, text: str) -> None:
        if self.channels.pop(chan.uniqueid, None) is None:
            return
        if (left_agi := self.agi.end(chan.name)) is not None:
            await self.broadcast(left_agi)
        await self._emit("Hangup", [*self._chan(chan), ("Cause", str(cause)),
                                    ("Cause-txt", text)])

    @staticmethod
    def _chan(chan: Channel, prefix: str = "", with_event_headers: bool = True
              ) -> list[tuple[str, str]]:
        return [
            (f"{prefix}Channel", chan.name), (f"{prefix}ChannelState", str(chan.state)),
            (f"{prefix}ChannelStateDesc", STATE_DESC.get(chan.state, "Unknown")),
            (f"{prefix}CallerIDNum", chan.cid_num), (f"{prefix}CallerIDName", chan.cid_name),
            (f"{prefix}ConnectedLineNum", "<unknown>"),
            (f"{prefix}ConnectedLineName", "<unknown>"), (f"{prefix}Language", "en"),
            (f"{prefix}AccountCode", ""), (f"{prefix}Context", chan.context),
            (f"{prefix}Exten", chan.exten), (f"{prefix}Priority", chan.priority),
            (f"{prefix}Uniqueid", chan.uniqueid), (f"{prefix}Linkedid", chan.linkedid),
        ]

    @staticmethod
    def _member_fields(m: Member) -> list[tuple[str, str]]:
        return [
            ("Queue", m.queue), ("MemberName", m.name), ("Interface", m.interface),
            ("StateInterface", m.interface), ("Membership", m.membership), ("Penalty", "0"),
            ("CallsTaken", str(m.calls_taken)), ("LastCall", str(m.last_call)),
            ("LastPause", str(m.last_pause)), ("LoginTime", str(m.login_time)),
            ("InCall", str(int(m.in_call))), ("Status", str(m.status)),
            ("Paused", str(int(m.paused))), ("PausedReason", m.paused_reason),
            ("Ringinuse", "0"), ("Wrapuptime", "0"),
        ]


# The time zones a mailbox may name (`tz=`), as in Asterisk's sample voicemail.conf: the
# recorded PBX's file had none; the seed's example setting shows them.
ZONEMESSAGES = """
[zonemessages]
eastern = America/New_York|'vm-received' Q 'digits/at' IMp
central = America/Chicago|'vm-received' Q 'digits/at' IMp
european = Europe/Copenhagen|'vm-received' a d b 'digits/at' HM
"""


def _config(queues: Mapping[str, Iterable[str]], lot: tuple[str, int, int],
            park_timeout: float) -> AsteriskConfig:
    """The simulated PBX's files: the captures' PBX, with its queues (members are added
    dynamically), its parking lot, a phone in pjsip.conf for each PJSIP member and a trunk
    (`engine/ami/asterisk_pjsip.py`), and two agents in agents.conf."""
    name, first, last = lot
    queues_conf = "[general]\npersistentmembers = no\n" + "".join(
        f"\n[{queue}]\nstrategy = rrmemory\n" for queue in queues)
    parking = (f"[general]\n\n[{name}]\nparkext => {first - 1}\nparkpos => {first}-{last}\n"
               f"context => parkedcalls\nparkingtime => {int(park_timeout)}\n")
    phones = [i.split("/", 1)[1] for members in queues.values() for i in members
              if i.startswith("PJSIP/")]
    pjsip = FILES["pjsip.conf"] + "\n" + simulated_conf(list(dict.fromkeys(phones)))
    voicemail = FILES["voicemail.conf"] + ZONEMESSAGES  # as Asterisk's sample file has them
    return AsteriskConfig({**FILES, "queues.conf": queues_conf, "res_parking.conf": parking,
                           "pjsip.conf": pjsip, "agents.conf": AGENTS_CONF,
                           "voicemail.conf": voicemail})


def _message(fields: list[tuple[str, str]]) -> bytes:
    return ("\r\n".join(f"{k}: {v}" for k, v in fields) + "\r\n\r\n").encode("utf-8")


def _caller_id(text: str) -> tuple[str, str]:
    """`"Name" <number>`, `<number>` or `number` -> (number, name)."""
    if not text:
        return "<unknown>", "<unknown>"
    if "<" in text and text.endswith(">"):
        name, _, number = text[:-1].rpartition("<")
        return number or "<unknown>", name.strip().strip('"') or "<unknown>"
    return text, "<unknown>"


def _variables(headers: Headers) -> list[tuple[str, str]]:
    out = []
    for key, value in headers.items():
        if key.lower() != "variable":
            continue
        for item in value if isinstance(value, list) else [value]:
            for pair in str(item).split(","):
                name, sep, val = pair.partition("=")
                if sep:
                    out.append((name.strip(), val))
    return out


def _quiet(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # a peer gone mid-write is not an error of the simulation


# -- standalone -----------------------------------------------------------------------------------


async def _serve_forever(sim: PbxSimulator, host: str, port: int) -> None:
    await sim.start(host, port)
    print(f"simulated PBX on {host}:{sim.port} (user {sim.username!r}); queues: "
          f"{ {q: len(v.members) for q, v in sim.queues.items()} }; Ctrl-C stops",
          file=sys.stderr, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.ami.simulator",
                                     description="Serve a simulated PBX over AMI until Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5038)
    parser.add_argument("--queue", default="sales")
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--answer", type=float, default=0.7, help="share of calls answered")
    args = parser.parse_args(argv)
    rest = (1.0 - args.answer) / 4
    sim = PbxSimulator(
        queues={args.queue: [f"PJSIP/agent-{i:02d}" for i in range(1, args.agents + 1)]},
        outcome={"answer": args.answer, "busy": rest, "noanswer": rest, "congestion": rest,
                 "unallocated": rest},
        timings=Timings(ring=1.0, talk=5.0, agent_ring=1.0, agent_talk=10.0, noanswer=8.0))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(sim, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
