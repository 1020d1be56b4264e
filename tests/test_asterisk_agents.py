"""app_agent_pool as the fake Asterisks emulate it (`engine/ami/asterisk_agents.py`), and the
`agents` projection reading its answers: the `Agents` list with Asterisk 22's bytes (its
`ActionID` last, the bare line feed after `CallStarted`), its reconciliation property-tested."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ami.asterisk_agents import AGENTS_CONF, Agents
from engine.ami.asterisk_config import AsteriskConfig
from engine.ami.protocol import Parser
from engine.envelope import Event
from projections import agents

NOW = 1_796_000_000
SNAPSHOT = [("Channel", "PJSIP/agent-01-00000007"), ("ChannelState", "6"),
            ("ChannelStateDesc", "Up"), ("CallerIDNum", "agent-01"),
            ("CallerIDName", "agent-01"), ("ConnectedLineNum", "<unknown>"),
            ("ConnectedLineName", "<unknown>"), ("Language", "en"), ("AccountCode", ""),
            ("Context", "agent-login"), ("Exten", "s"), ("Priority", "2"),
            ("Uniqueid", "1796000000.7"), ("Linkedid", "1796000000.7")]


def pool(conf: str = AGENTS_CONF) -> Agents:
    return Agents(AsteriskConfig({"agents.conf": conf}), clock=lambda: NOW)


def listed(part: Agents, action_id: str = "ag1") -> bytes:
    reply = part.answer("agents", {"Action": "Agents"}, action_id)
    assert reply is not None
    return reply.response


class Folded:
    """The projection fed what the fake sends, as the log would hold it."""

    def __init__(self) -> None:
        self.state = agents.initial()
        self.position = 0

    def feed(self, blob: bytes) -> None:
        for message in Parser(expect_banner=False).feed(blob):
            self.position += 1
            agents.apply(self.state, Event(
                self.position, "ami/pbx1/s1", self.position, message.type,
                "2026-12-01T00:00:00.000000+00:00", "pbx1", message.headers))

    def rows(self) -> dict[str, dict]:
        return {r["id"]: r for r in agents.rows(self.state, NOW)}


def test_agents_as_app_agent_pool_writes_them() -> None:
    part = pool()
    assert listed(part).decode() == (
        "Response: Success\r\nActionID: ag1\r\nEventList: start\r\n"
        "Message: Agents will follow\r\n\r\n"
        "Event: Agents\r\nAgent: 1001\r\nName: Alice Agent\r\nStatus: AGENT_LOGGEDOFF\r\n"
        "ActionID: ag1\r\n\r\n"
        "Event: Agents\r\nAgent: 1002\r\nName: Bob Agent\r\nStatus: AGENT_LOGGEDOFF\r\n"
        "ActionID: ag1\r\n\r\n"
        "Event: AgentsComplete\r\nActionID: ag1\r\nEventList: Complete\r\nListItems: 2\r\n\r\n")
    login = part.login("1001", lambda: SNAPSHOT).decode()
    assert login.startswith("Event: AgentLogin\r\nPrivilege: agent,all\r\nTimestamp: ")
    assert login.endswith("Linkedid: 1796000000.7\r\nAgent: 1001\r\n\r\n")
    part.connected("1001", "Local/101@customers-00000001;1")
    on_call = listed(part).decode().split("\r\n\r\n")[1]
    assert on_call.startswith(
        "Event: Agents\r\nAgent: 1001\r\nName: Alice Agent\r\nStatus: AGENT_ONCALL\r\n"
        "TalkingToChan: Local/101@customers-00000001;1\r\n"
        f"CallStarted: {NOW}\nLoggedInTime: {NOW}\r\nChannel: PJSIP/agent-01-00000007\r\n")
    assert on_call.endswith("Linkedid: 1796000000.7\r\nActionID: ag1")


def test_without_agents_conf_the_action_is_not_app_agent_pools() -> None:
    assert Agents(AsteriskConfig({})).answer("agents", {"Action": "Agents"}, "x") is None


def test_the_projection_reads_an_agent_on_a_call() -> None:
    """`LoggedInTime` arrives inside `CallStarted` (its bare line feed): still read."""
    part, folded = pool(), Folded()
    folded.feed(part.login("1001", lambda: SNAPSHOT))
    part.connected("1001", "Local/101@customers-00000001;1")
    folded.state = agents.initial()  # only what the list says
    folded.feed(listed(part))
    alice = folded.rows()["1001"]
    assert (alice["status"], alice["logged_in_time"], alice["channel_name"],
            alice["channel_state"], alice["context"]) == (
        "AGENT_ONCALL", NOW, "PJSIP/agent-01-00000007", 6, "agent-login")
    part.disconnected("1001")
    folded.feed(listed(part))
    assert folded.rows()["1001"]["status"] == "AGENT_IDLE"
    folded.feed(part.logoff("1001") or b"")
    folded.feed(listed(part))
    alice = folded.rows()["1001"]
    assert (alice["status"], alice["logged_in_time"], alice["channel_name"]) == (
        "AGENT_LOGGEDOFF", None, "")


AGENT_IDS = ["1001", "1002", "1003", "1004"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(AGENT_IDS), st.booleans()), min_size=1,
                max_size=6))
def test_each_agents_answer_leaves_exactly_the_configured_agents(
        rounds: list[dict[str, bool]]) -> None:
    """Agents added to and taken out of agents.conf, logged in or not, between answers: after
    each answer the view is agents.conf's agents, each with its state."""
    folded = Folded()
    for n, configured in enumerate(rounds):
        conf = "".join(f"[{agent}]\nfullname = Agent {agent}\n\n" for agent in configured)
        part = pool(conf)
        for agent, logged_in in configured.items():
            if logged_in:
                folded.feed(part.login(agent, lambda: SNAPSHOT))
        folded.feed(listed(part, f"ag{n}"))
        rows = folded.rows()
        assert sorted(rows) == sorted(configured)
        for agent, logged_in in configured.items():
            assert rows[agent]["status"] == ("AGENT_IDLE" if logged_in else "AGENT_LOGGEDOFF")
            assert rows[agent]["name"] == f"Agent {agent}"
