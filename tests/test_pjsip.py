"""PJSIP objects, registrations and agents filled from Asterisk's lists, end to end: the engine
connected over TCP to the simulated PBX (its phones, trunk and agents) or to the test server
(the captures' PBX), a real log, the API through uvicorn (`/pjsip/*`, `/registries`,
`/agents`, `/peers`, with the seed's fields). An endpoint taken out of pjsip.conf leaves the
views at the lists a reload of res_pjsip brings."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import httpx
import pytest

from engine.ami.asterisk_pjsip import simulated_conf
from engine.ami.captured_pbx import PJSIP_CONF
from engine.ami.simulator import PbxSimulator
from engine.ami.testserver import AmiTestServer
from projections import peers
from tests.live import Live

T = TypeVar("T")
PHONES = ["agent-01", "agent-02"]
SIMULATOR = functools.partial(PbxSimulator, queues={
    "sales": [f"PJSIP/{p}" for p in PHONES] + ["Agent/1001"]})
AGENT_FIELDS = ["id", "name", "status", "logged_in_time", "channel_name", "channel_state",
                "channel_state_desc", "caller_id_name", "caller_id_num", "connected_line_name",
                "connected_line_num", "context", "exten", "priority", "account_code", "language",
                "unique_id", "linked_id", "tm_update"]
REGISTRY_FIELDS = ["account", "state", "username", "domain", "domain_port", "host", "port",
                   "refresh", "registration_time", "tm_update"]
CONTACT_FIELDS = ["id", "call_id", "uri", "aor", "endpoint_name", "status", "qualify_frequency",
                  "qualify_timout", "authentication_qualify", "outbound_proxy", "path",
                  "reg_expire", "round_trip_usec", "user_agent", "via_address", "tm_update"]


def eventually(check: Callable[[], T], what: str, timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.05)


def listed(client: httpx.Client, path: str) -> list[dict]:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]["list"]


def detail(client: httpx.Client, path: str) -> dict:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def detailed(client: httpx.Client, count: int) -> list[dict]:
    """The endpoints once each has its detail (`PJSIPShowEndpoint` answered)."""
    def done() -> list[dict]:
        rows = listed(client, "/pjsip/endpoints")
        return rows if len(rows) == count and all(r["context"] for r in rows) else []
    return eventually(done, f"{count} endpoints with their detail")


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[tuple[Live, httpx.Client]]:
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None], asterisk=SIMULATOR) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        live.connected()
        yield live, client


def test_the_simulated_pbx_lists_its_phones_trunk_and_registration(
        pbx: tuple[Live, httpx.Client]) -> None:
    live, client = pbx
    endpoints = {e["object_name"]: e for e in detailed(client, 5)}
    assert sorted(endpoints) == ["6001", *PHONES, "provider", "trunk"]
    phone = endpoints["agent-01"]
    assert list(phone) == list(peers.ENDPOINT_COLUMNS)  # the seed's fields, + server, contacts
    assert [k for k, v in phone.items() if v is None] == ["disallow"]  # Asterisk never says
    assert (phone["context"], phone["allow"], phone["transport"], phone["aors"], phone["auth"],
            phone["device_state"], phone["dtmf_mode"], phone["rel_100"],
            phone["timers_sess_expires"]) == (
        "agents", "(ulaw)", "transport-udp", "agent-01", "agent-01", "Not in use", "rfc4733",
        "yes", 1800)
    assert phone["contacts"].startswith("agent-01/sip:agent-01@192.0.2.")
    assert detail(client, "/pjsip/endpoints/agent-01") == phone
    assert endpoints["provider"]["outbound_auth"] == "provider-auth"

    aors = {a["object_name"]: a for a in listed(client, "/pjsip/aors")}
    assert sorted(aors) == ["6001-aor", *PHONES, "provider", "trunk-aor"]
    assert (aors["agent-01"]["endpoint_name"], aors["agent-01"]["total_contacts"],
            aors["agent-01"]["contacts_registered"], aors["agent-01"]["max_contacts"],
            aors["provider"]["qualify_frequency"], aors["provider"]["contacts_registered"]) == (
        "agent-01", 1, 1, 1, 60, 0)

    contacts = {c["aor"]: c for c in listed(client, "/pjsip/contacts")}
    assert sorted(contacts) == ["6001-aor", *PHONES, "provider", "trunk-aor"]
    registered = contacts["agent-01"]
    assert [f for f in CONTACT_FIELDS if f not in registered] == []
    assert registered["id"].startswith("agent-01;@")
    assert (registered["status"], registered["user_agent"], registered["qualify_timout"],
            registered["authentication_qualify"], registered["round_trip_usec"]) == (
        "NonQualified", "Simulated Phone 1.0", 3, 0, "N/A")
    assert registered["via_address"].startswith("192.0.2.")
    assert registered["reg_expire"] > time.time()
    assert detail(client, f"/pjsip/contacts/{quote(registered['id'], safe='')}") == registered
    trunk = contacts["provider"]  # permanent: from the trunk's PJSIPShowEndpoint only
    assert (trunk["id"].split("@@")[0], trunk["uri"], trunk["status"], trunk["reg_expire"]) == (
        "provider", "sip:sip.provider.example:5060", "Reachable", 0)

    [registry] = listed(client, "/registries")
    assert [f for f in REGISTRY_FIELDS if f not in registry] == []
    assert (registry["account"], registry["state"], registry["username"], registry["domain"],
            registry["host"], registry["refresh"], registry["channel_type"]) == (
        "5550100@sip.provider.example", "Registered", "5550100", "sip.provider.example",
        "sip.provider.example", 3600, "PJSIP")
    body = client.request("GET", "/registries/", json={"account": registry["account"]})
    assert body.json()["result"] == registry

    # Asterisk 22 has no chan_sip: SIPpeers and SIPshowregistry were asked and refused
    asked = [a["Action"] for a in live.asterisks[0].actions_received]
    assert {"SIPpeers", "SIPshowregistry"} <= set(asked)
    assert asked.count("PJSIPShowEndpoint") == 5
    assert listed(client, "/peers") == []


def test_a_phone_that_unregisters_leaves_the_contacts(pbx: tuple[Live, httpx.Client]) -> None:
    live, client = pbx
    detailed(client, 5)
    sim = live.asterisks[0]
    [contact] = [c for c in listed(client, "/pjsip/contacts") if c["aor"] == "agent-02"]
    for event in sim.pjsip.unregister("agent-02", contact["uri"]):
        live.call(sim.broadcast(event))
    eventually(lambda: "agent-02" not in {c["aor"] for c in listed(client, "/pjsip/contacts")},
               "the contact gone")
    peer = eventually(lambda: listed(client, "/peers"), "a PeerStatus")
    assert [(p["peer"], p["monitor_status"]) for p in peer] == [("PJSIP/agent-02", "UNREACHABLE")]


def test_the_phones_device_states_come_from_the_device_state_list(
        pbx: tuple[Live, httpx.Client]) -> None:
    """The phones registered before the engine connected (no event reached it): their states
    come from the simulated PBX's answer to `DeviceStateList`, as from Asterisk's cache."""
    live, client = pbx
    states = eventually(lambda: {d["device"]: d["state"] for d in listed(
        client, "/device_states") if d["device"].startswith("PJSIP/")}, "the device states")
    assert states == {"PJSIP/6001": "NOT_INUSE", "PJSIP/agent-01": "NOT_INUSE",
                      "PJSIP/agent-02": "NOT_INUSE", "PJSIP/provider": "NOT_INUSE",
                      "PJSIP/trunk": "NOT_INUSE"}
    assert all(d["cached"] for d in listed(client, "/device_states"))


def test_agents_log_in_and_out(pbx: tuple[Live, httpx.Client]) -> None:
    live, client = pbx
    agents = eventually(lambda: listed(client, "/agents"), "the agents")
    assert [(a["id"], a["name"], a["status"]) for a in agents] == [
        ("1001", "Alice Agent", "AGENT_LOGGEDOFF"), ("1002", "Bob Agent", "AGENT_LOGGEDOFF")]
    assert [f for f in AGENT_FIELDS if f not in agents[0]] == []
    sim = live.asterisks[0]
    live.run(lambda: sim.login_agent("1001", "PJSIP/agent-01"))
    alice = eventually(lambda: [a for a in listed(client, "/agents")
                                if a["status"] == "AGENT_IDLE"], "Alice logged in")[0]
    assert alice["channel_name"].startswith("PJSIP/agent-01-")
    assert (alice["channel_state"], alice["context"], alice["exten"]) == (6, "agent-login", "s")
    assert isinstance(alice["logged_in_time"], int)
    body = client.request("GET", "/agents/", json={"id": "1001"})
    assert body.json()["result"] == detail(client, "/agents/1001")
    live.run(lambda: sim.logoff_agent("1001"))
    eventually(lambda: detail(client, "/agents/1001")["status"] == "AGENT_LOGGEDOFF",
               "Alice logged off")
    assert detail(client, "/agents/1001")["channel_name"] == ""


def test_a_phone_taken_out_of_pjsip_conf_leaves_at_the_reload(
        pbx: tuple[Live, httpx.Client]) -> None:
    """An administrator edits pjsip.conf and reloads res_pjsip: the `Reload` event makes the
    engine read the file and ask the PJSIP lists again, which no longer hold the phone."""
    live, client = pbx
    detailed(client, 5)
    sim = live.asterisks[0]
    text = sim.config.text("pjsip.conf")
    without = PJSIP_CONF + "\n" + simulated_conf(["agent-01"])
    sim.config.write("pjsip.conf", without)
    time.sleep(0.3)
    assert len(listed(client, "/pjsip/endpoints")) == 5  # not reloaded yet: still running
    _, reloaded = sim.config.reload("res_pjsip")
    for event in reloaded.events:
        live.call(sim.broadcast(event))
    gone = lambda: all("agent-02" not in {r.get("object_name"), r.get("aor")}  # noqa: E731
                       for path in ("/pjsip/endpoints", "/pjsip/aors", "/pjsip/contacts")
                       for r in listed(client, path))
    eventually(gone, "agent-02 gone from endpoints, AORs and contacts")
    assert sorted(e["object_name"] for e in listed(client, "/pjsip/endpoints")) == [
        "6001", "agent-01", "provider", "trunk"]
    asked = [a["Action"] for a in sim.actions_received]
    assert asked.count("PJSIPShowEndpoints") == asked.count("PJSIPShowAors") == 2
    assert "agent-02" in text  # it was there before


def test_the_captures_pbx_answers_from_its_pjsip_conf(tmp_path: Path) -> None:
    """The test server: the captures' PBX has a phone 6001 and a trunk (its AOR's one permanent
    contact), no registration; nothing registered (ContactList: "No Contacts found"); no
    agents.conf, so `Agents` is unknown."""
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None], asterisk=AmiTestServer) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        live.connected()
        endpoint = {e["object_name"]: e for e in detailed(client, 2)}["6001"]
        assert (endpoint["object_name"], endpoint["aors"], endpoint["auth"], endpoint["context"],
                endpoint["device_state"], endpoint["contacts"]) == (
            "6001", "6001-aor", "6001-auth", "customers", "Unavailable", "")
        aor = {a["object_name"]: a for a in listed(client, "/pjsip/aors")}["6001-aor"]
        assert (aor["object_name"], aor["endpoint_name"], aor["total_contacts"]) == (
            "6001-aor", "6001", 0)
        live.settled()
        [contact] = listed(client, "/pjsip/contacts")  # the trunk's, permanent
        assert (contact["aor"], contact["uri"], contact["reg_expire"]) == (
            "trunk-aor", "sip:sip.example.com", 0)
        assert listed(client, "/registries") == []
        assert listed(client, "/agents") == []
