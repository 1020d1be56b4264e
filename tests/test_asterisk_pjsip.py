"""res_pjsip as the fake Asterisks emulate it (`engine/ami/asterisk_pjsip.py`): each list action
answered with the events and headers Asterisk 22 writes, from pjsip.conf as the module last
loaded it, and the contacts phones registered."""

from __future__ import annotations

import pytest

from engine.ami.asterisk_config import AsteriskConfig
from engine.ami.asterisk_pjsip import Pjsip, camel, md5, register_phones, simulated_conf
from engine.ami.captured_pbx import PJSIP_CONF
from engine.ami.protocol import Message, parse_headers

NOW = 1_796_000_000.0
CONF = PJSIP_CONF + "\n" + simulated_conf(["agent-01", "agent-02"])


def pbx(text: str = CONF) -> Pjsip:
    return Pjsip(AsteriskConfig({"pjsip.conf": text}), clock=lambda: NOW, started=NOW)


def ask(pjsip: Pjsip, action: str, **headers: str) -> list[Message]:
    reply = pjsip.answer(action.lower(), {"Action": action, **headers}, "a1")
    assert reply is not None and reply.events == []
    return [parse_headers(text) for text in reply.response.decode().split("\r\n\r\n") if text]


def items(messages: list[Message], kind: str) -> list[dict]:
    return [m.headers for m in messages if m.type == kind]


def test_camel_case_is_asterisks() -> None:
    assert [camel(n) for n in ("dtmf_mode", "100rel", "srtp_tag_32", "qualify_2xx_only")] == [
        "DtmfMode", "100rel", "SrtpTag32", "Qualify2xxOnly"]


def test_endpoint_list_items_as_asterisk_writes_them() -> None:
    pjsip = pbx()
    register_phones(pjsip)
    answer = ask(pjsip, "PJSIPShowEndpoints")
    assert answer[0].headers == {
        "Response": "Success", "ActionID": "a1", "EventList": "start",
        "Message": "A listing of Endpoints follows, presented as EndpointList events"}
    agent = next(e for e in items(answer, "EndpointList") if e["ObjectName"] == "agent-01")
    assert agent == {
        "Event": "EndpointList", "ActionID": "a1", "ObjectType": "endpoint",
        "ObjectName": "agent-01", "Transport": "transport-udp", "Aor": "agent-01",
        "Auths": "agent-01", "OutboundAuths": "",
        "Contacts": "agent-01/sip:agent-01@192.0.2.11:5060,", "DeviceState": "Not in use",
        "ActiveChannels": "0"}
    assert [e["ObjectName"] for e in items(answer, "EndpointList")] == [
        "6001", "trunk", "agent-01", "agent-02", "provider"]
    assert answer[-1].headers == {"Event": "EndpointListComplete", "ActionID": "a1",
                                  "EventList": "Complete", "ListItems": "5"}


def test_an_endpoint_of_two_aors_lists_each_aors_contacts() -> None:
    pjsip = pbx(CONF + "\n[two]\ntype = endpoint\naors = agent-01,provider\n")
    [two] = [e for e in items(ask(pjsip, "PJSIPShowEndpoints"), "EndpointList")
             if e["ObjectName"] == "two"]
    assert two["Contacts"] == ["", "provider/sip:sip.provider.example:5060,"]
    assert two["DeviceState"] == "Not in use"  # the trunk's permanent contact


def test_empty_lists_are_errors() -> None:
    pjsip = pbx("[transport-udp]\ntype = transport\nprotocol = udp\n")
    for action, text in (("PJSIPShowEndpoints", "No endpoints found\n"),
                         ("PJSIPShowAors", "No AORs found\n"),
                         ("PJSIPShowAuths", "No Auths found\n"),
                         ("PJSIPShowContacts", "No Contacts found\n")):
        assert [m.headers for m in ask(pjsip, action)] == [
            {"Response": "Error", "ActionID": "a1", "Message": text}]
    registrations = ask(pjsip, "PJSIPShowRegistrationsOutbound")
    assert registrations[-1].headers == {
        "Event": "OutboundRegistrationDetailComplete", "ActionID": "a1",
        "EventList": "Complete", "ListItems": "0", "Registered": "0", "NotRegistered": "0"}


def test_contacts_lists_registered_contacts_only() -> None:
    """The trunk's `contact=` is permanent: in its AOR's Contacts, never in ContactList."""
    pjsip = pbx()
    assert ask(pjsip, "PJSIPShowContacts")[0].headers["Message"] == "No Contacts found\n"
    pjsip.register("agent-01", "sip:agent-01@192.0.2.50:5062;transport=udp",
                   user_agent="Phone 2", via=("192.0.2.50", 5062), call_id="c1@x")
    [contact] = items(ask(pjsip, "PJSIPShowContacts"), "ContactList")
    uri = "sip:agent-01@192.0.2.50:5062;transport=udp"
    assert contact == {
        "Event": "ContactList", "ActionID": "a1", "ObjectType": "contact",
        "ObjectName": f"agent-01;@{md5(uri)}", "ViaAddr": "192.0.2.50", "ViaPort": "5062",
        "QualifyTimeout": "3.000000", "CallId": "c1@x", "RegServer": "", "PruneOnBoot": "no",
        "Path": "", "Endpoint": "agent-01", "AuthenticateQualify": "no", "Uri": uri,
        "QualifyFrequency": "0", "UserAgent": "Phone 2",
        "ExpirationTime": str(int(NOW) + 3600), "OutboundProxy": "", "Qualify2xxOnly": "false",
        "Status": "NonQualified", "RoundtripUsec": "N/A"}
    aors = {a["ObjectName"]: a for a in items(ask(pjsip, "PJSIPShowAors"), "AorList")}
    assert aors["agent-01"]["Contacts"] == f"agent-01/{uri}"
    assert aors["provider"]["Contacts"] == "provider/sip:sip.provider.example:5060"
    assert (aors["provider"]["QualifyFrequency"], aors["agent-01"]["RemoveExisting"]) == (
        "60", "true")


def test_one_endpoint_with_everything_it_is_made_of() -> None:
    pjsip = pbx()
    register_phones(pjsip)
    answer = ask(pjsip, "PJSIPShowEndpoint", Endpoint="PJSIP/agent-01")
    assert [m.type for m in answer] == [
        "Response", "EndpointDetail", "AuthDetail", "TransportDetail", "AorDetail",
        "ContactStatusDetail", "EndpointDetailComplete"]
    detail, auth, transport, aor, contact = (m.headers for m in answer[1:6])
    assert (detail["Context"], detail["Allow"], detail["Callerid"], detail["DirectMedia"],
            detail["100rel"], detail["DeviceState"]) == (
        "agents", "(ulaw)", '"agent-01" <agent-01>', "true", "yes", "Not in use")
    assert (auth["Password"], auth["EndpointName"]) == ("agent-01-secret", "agent-01")
    assert (transport["ObjectName"], transport["Bind"]) == ("transport-udp", "0.0.0.0")
    assert (aor["TotalContacts"], aor["ContactsRegistered"], aor["EndpointName"]) == (
        "1", "1", "agent-01")
    assert (contact["AOR"], contact["ViaAddress"], contact["Status"], contact["RegExpire"],
            contact["QualifyTimeout"]) == (
        "agent-01", "192.0.2.11:5060", "NonQualified", str(int(NOW) + 3600), "3.000")
    assert answer[-1].headers["ListItems"] == "5"
    trunk = ask(pjsip, "PJSIPShowEndpoint", Endpoint="provider")
    [permanent] = items(trunk, "ContactStatusDetail")
    assert (permanent["ID"], permanent["RegExpire"], permanent["Status"]) == (
        f"provider@@{md5('sip:sip.provider.example:5060')}", "0", "Reachable")
    assert "ViaAddress" not in permanent and "CallID" not in permanent
    assert ask(pjsip, "PJSIPShowEndpoint", Endpoint="nobody")[0].headers["Message"] == \
        "Unable to retrieve endpoint nobody\n"


def test_outbound_registrations_with_their_auths() -> None:
    pjsip = pbx()
    pjsip.clock = lambda: NOW + 600
    answer = ask(pjsip, "PJSIPShowRegistrationsOutbound")
    assert [m.type for m in answer] == [
        "Response", "OutboundRegistrationDetail", "AuthDetail",
        "OutboundRegistrationDetailComplete"]
    registration = answer[1].headers
    assert (registration["ObjectName"], registration["ClientUri"], registration["Status"],
            registration["NextReg"], registration["Expiration"]) == (
        "provider", "sip:5550100@sip.provider.example", "Registered", "3000", "3600")
    assert answer[2].headers["ObjectName"] == "provider-auth"
    assert "EndpointName" not in answer[2].headers
    pjsip.registration_status["provider"] = "Rejected"
    assert ask(pjsip, "PJSIPShowRegistrationsOutbound")[-1].headers["NotRegistered"] == "1"


def test_registrations_announce_themselves() -> None:
    pjsip = pbx()
    events = [parse_headers(e.decode().split("\r\n\r\n")[0]) for e in pjsip.register(
        "agent-02", "sip:agent-02@192.0.2.9:5060")]
    assert [(m.type, m.headers.get("ContactStatus") or m.headers.get("PeerStatus")
             or m.headers.get("State")) for m in events] == [
        ("ContactStatus", "NonQualified"), ("PeerStatus", "Reachable"),
        ("DeviceStateChange", "NOT_INUSE")]
    assert events[1].headers["Peer"] == "PJSIP/agent-02"
    gone = [parse_headers(e.decode().split("\r\n\r\n")[0]).headers for e in pjsip.unregister(
        "agent-02", "sip:agent-02@192.0.2.9:5060")]
    assert [g.get("ContactStatus") or g.get("PeerStatus") or g.get("State") for g in gone] == [
        "Removed", "Unreachable", "UNAVAILABLE"]
    with pytest.raises(KeyError):
        pjsip.register("nobody", "sip:x@192.0.2.1")


def test_an_edit_shows_after_a_reload_and_takes_the_aors_contacts_along() -> None:
    config = AsteriskConfig({"pjsip.conf": CONF})
    pjsip = Pjsip(config, clock=lambda: NOW)
    register_phones(pjsip)
    without = CONF.replace(simulated_conf(["agent-01", "agent-02"]),
                           simulated_conf(["agent-01"]))
    config.write("pjsip.conf", without)
    names = lambda action, kind: [e["ObjectName"] for e in items(ask(pjsip, action), kind)]  # noqa: E731
    assert "agent-02" in names("PJSIPShowEndpoints", "EndpointList")  # not reloaded yet
    config.reload("res_pjsip")
    assert "agent-02" not in names("PJSIPShowEndpoints", "EndpointList")
    assert "agent-02" not in names("PJSIPShowAors", "AorList")
    assert [c.split(";@")[0] for c in names("PJSIPShowContacts", "ContactList")] == [
        "6001-aor", "agent-01"]


def test_phones_register_again_in_time_others_expire() -> None:
    now = [NOW]
    pjsip = Pjsip(AsteriskConfig({"pjsip.conf": CONF}), clock=lambda: now[0])
    register_phones(pjsip)
    pjsip.register("agent-01", "sip:softphone@192.0.2.99:5060", expires=60)
    now[0] = NOW + 3 * 3600 + 5
    contacts = items(ask(pjsip, "PJSIPShowContacts"), "ContactList")
    assert {c["Uri"]: int(c["ExpirationTime"]) for c in contacts} == {
        "sip:6001@192.0.2.10:5060": int(NOW) + 4 * 3600,
        "sip:agent-01@192.0.2.11:5060": int(NOW) + 4 * 3600,
        "sip:agent-02@192.0.2.12:5060": int(NOW) + 4 * 3600}
