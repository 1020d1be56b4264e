"""Asterisk's agent pool (app_agent_pool), emulated: agents.conf's agents, who is logged in.

As Asterisk 22 answers (apps/app_agent_pool.c, main/stasis_channels.c):
- `Agents`: the ack "Agents will follow", an `Agents` event per agent of agents.conf (each
  category but templates, `general` and `agents`: its name is the agent id, `fullname` its
  name): `Agent`, `Name`, `Status` `AGENT_LOGGEDOFF`; a logged-in agent `AGENT_IDLE`, or
  `AGENT_ONCALL` with `TalkingToChan` and `CallStarted`, then `LoggedInTime` and its
  channel's snapshot. The `ActionID` comes last, and `CallStarted` ends with a bare line feed
  (`"CallStarted: %ld\\n"`), so a CRLF reader sees `LoggedInTime` inside its value. Then
  `AgentsComplete`.
- A login (`login`, the AgentLogin application) is announced by `AgentLogin` (the agent's
  channel snapshot, then `Agent`); a logoff by `AgentLogoff` (snapshot, `Agent`,
  `Logintime`: seconds logged in).

Without agents.conf app_agent_pool declines to load and `Agents` is an unknown action (the
captures' PBX has none): `answer` then takes no action.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.ami.asterisk_config import AsteriskConfig
from engine.ami.emulated import Fields, Part, Reply, event, message, response
from engine.envelope import Headers

FILE = "agents.conf"
NOT_AGENTS = ("general", "agents")  # categories app_agent_pool does not take for agents
LOGGED_OFF, IDLE, ON_CALL = "AGENT_LOGGEDOFF", "AGENT_IDLE", "AGENT_ONCALL"


@dataclass
class Login:
    """An agent's session: its channel (a snapshot function, as the channel changes) and
    the call it is on."""

    snapshot: Callable[[], Fields]
    since: int  # epoch seconds
    talking_to: str = ""  # the caller's channel (BRIDGEPEER)
    call_started: int = 0


@dataclass
class Agents(Part):
    config: AsteriskConfig
    clock: Callable[[], float] = time.time
    logins: dict[str, Login] = field(default_factory=dict)  # agent id -> its session

    def agents(self) -> dict[str, str] | None:
        """Agent id -> full name, from agents.conf; None when there is no such file."""
        categories = self.config.files.get(FILE)
        if categories is None:
            return None
        return {c.name: next((v.value for v in reversed(c.variables)
                              if v.name.lower() == "fullname"), "")
                for c in categories if not c.template and c.name.lower() not in NOT_AGENTS}

    # -- what agents do ---------------------------------------------------------------------

    def login(self, agent: str, snapshot: Callable[[], Fields]) -> bytes:
        """The agent ran AgentLogin on a channel: `AgentLogin`."""
        known = self.agents() or {}
        if agent not in known:
            raise KeyError(f"no agent {agent!r} in {FILE}")
        self.logins[agent] = Login(snapshot, int(self.clock()))
        return event("AgentLogin", [*snapshot(), ("Agent", agent)], "agent,all")

    def logoff(self, agent: str) -> bytes | None:
        """The agent's session ended: `AgentLogoff`, or None if it was not logged in."""
        found = self.logins.pop(agent, None)
        if found is None:
            return None
        seconds = int(self.clock()) - found.since
        return event("AgentLogoff", [*found.snapshot(), ("Agent", agent),
                                     ("Logintime", str(seconds))], "agent,all")

    def connected(self, agent: str, caller: str) -> None:
        """The agent was bridged with `caller`'s channel (a queue call to `Agent/<id>`)."""
        found = self.logins.get(agent)
        if found is not None:
            found.talking_to, found.call_started = caller, int(self.clock())

    def disconnected(self, agent: str) -> None:
        found = self.logins.get(agent)
        if found is not None:
            found.talking_to, found.call_started = "", 0

    # -- actions ----------------------------------------------------------------------------

    def answer(self, name: str, headers: Headers, action_id: str) -> Reply | None:
        agents = self.agents()
        if agents is None or name != "agents":
            return None
        out = [response("Success", action_id, ("EventList", "start"),
                        ("Message", "Agents will follow"))]
        aid = [("ActionID", action_id)] if action_id else []
        for agent, full_name in agents.items():
            out.append(message([("Event", "Agents"), ("Agent", agent), ("Name", full_name),
                                *self._status(agent), *aid]))
        out.append(message([("Event", "AgentsComplete"), *aid, ("EventList", "Complete"),
                            ("ListItems", str(len(agents)))]))
        return Reply(b"".join(out))

    def _status(self, agent: str) -> Fields:
        found = self.logins.get(agent)
        if found is None:
            return [("Status", LOGGED_OFF)]
        if found.talking_to:
            # app_agent_pool writes "CallStarted: %ld\n": LoggedInTime shares its line
            status = [("Status", ON_CALL), ("TalkingToChan", found.talking_to),
                      ("CallStarted", f"{found.call_started}\nLoggedInTime: {found.since}")]
        else:
            status = [("Status", IDLE), ("LoggedInTime", str(found.since))]
        return [*status, *found.snapshot()]


# The simulated PBX's agents.conf: two agents, logged off until they log in.
AGENTS_CONF = """\
[general]

[agent-defaults](!)
ackcall = no
wrapuptime = 0

[1001](agent-defaults)
fullname = Alice Agent

[1002](agent-defaults)
fullname = Bob Agent
"""
