"""The `peers` projection's PJSIP tables against what res_pjsip answers (the fake's bytes,
`engine/ami/asterisk_pjsip.py`): whatever pjsip.conf becomes and whoever registers between two
rounds of the engine's lists (`PJSIPShowEndpoints` and each endpoint's `PJSIPShowEndpoint`,
`PJSIPShowAors`, `PJSIPShowContacts`, `PJSIPShowRegistrationsOutbound`, in any order), after a
round the views hold exactly res_pjsip's objects: property-tested."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ami.asterisk_config import AsteriskConfig
from engine.ami.asterisk_pjsip import Pjsip
from engine.ami.protocol import Parser
from engine.envelope import Event
from projections import peers

NOW = 1_796_000_000.0
NAMES = ["a", "b", "c", "d"]
# what a name is in one round's pjsip.conf: nothing, a phone (endpoint + AOR, registered or
# not), a trunk (endpoint + AOR with a permanent contact), or a bare AOR (registered or not)
KINDS = ["none", "phone", "registered phone", "trunk", "aor", "registered aor"]
ROUND = st.dictionaries(st.sampled_from(NAMES), st.sampled_from(KINDS))
LISTS = ["endpoints", "aors", "contacts", "registrations"]


def conf(round_: dict[str, str]) -> str:
    out = ["[t]\ntype = transport\nprotocol = udp\n"]
    for name, kind in round_.items():
        if kind in ("phone", "registered phone", "trunk"):
            out.append(f"[{name}]\ntype = endpoint\ntransport = t\naors = {name}\n")
        if kind == "trunk":
            out.append(f"[{name}]\ntype = aor\ncontact = sip:{name}.example:5060\n"
                       f"[{name}-reg]\ntype = registration\nserver_uri = sip:{name}.example\n"
                       f"client_uri = sip:100@{name}.example\n")
        elif kind != "none":
            out.append(f"[{name}]\ntype = aor\nmax_contacts = 1\n")
    return "\n".join(out)


class Folded:
    """The projection fed what the fake answers, as the log would hold it."""

    def __init__(self) -> None:
        self.state = peers.initial()
        self.position = 0
        self.asked = 0

    def ask(self, pjsip: Pjsip, action: str, **headers: str) -> list[Event]:
        self.asked += 1
        reply = pjsip.answer(action.lower(), {"Action": action, **headers},
                             f"whole-{self.asked}")
        assert reply is not None
        return self.feed(reply.response)

    def feed(self, blob: bytes) -> list[Event]:
        out = []
        for message in Parser(expect_banner=False).feed(blob):
            self.position += 1
            event = Event(self.position, "ami/pbx1/s1", self.position, message.type,
                          "2026-12-01T00:00:00.000000+00:00", "pbx1", message.headers)
            peers.apply(self.state, event)
            out.append(event)
        return out

    def rows(self, view: str) -> list[dict]:
        return peers.VIEWS[view](self.state, NOW)


def one_round(folded: Folded, pjsip: Pjsip, order: list[str]) -> None:
    """The engine's lists, in `order`; every endpoint listed then asked alone."""
    for name in order:
        if name == "endpoints":
            listed = folded.ask(pjsip, "PJSIPShowEndpoints")
            for item in (e for e in listed if e.type == "EndpointList"):
                folded.ask(pjsip, "PJSIPShowEndpoint", Endpoint=item.header("ObjectName"))
        elif name == "aors":
            folded.ask(pjsip, "PJSIPShowAors")
        elif name == "contacts":
            folded.ask(pjsip, "PJSIPShowContacts")
        else:
            folded.ask(pjsip, "PJSIPShowRegistrationsOutbound")


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(ROUND, st.permutations(LISTS)), min_size=1, max_size=6))
def test_after_each_round_the_views_are_res_pjsips_objects(
        rounds: list[tuple[dict[str, str], list[str]]]) -> None:
    folded = Folded()
    for round_, order in rounds:
        pjsip = Pjsip(AsteriskConfig({"pjsip.conf": conf(round_)}), clock=lambda: NOW)
        for name, kind in round_.items():
            if kind.startswith("registered"):
                pjsip.register(name, f"sip:{name}@192.0.2.7:5060", via=("192.0.2.7", 5060))
        one_round(folded, pjsip, order)

        endpoints = [o.name for o in pjsip.objects("endpoint")]
        aors = [o.name for o in pjsip.objects("aor")]
        contacts = {(aor.name, c.uri, c.id) for aor in pjsip.objects("aor")
                    for c in pjsip.contacts(aor)}
        assert sorted(r["object_name"] for r in folded.rows("endpoints")) == sorted(endpoints)
        assert sorted(r["object_name"] for r in folded.rows("aors")) == sorted(aors)
        assert {(r["aor"], r["uri"], r["id"]) for r in folded.rows("contacts")} == contacts
        assert sorted(r["account"] for r in folded.rows("registries")) == sorted(
            f"100@{name}.example" for name, kind in round_.items() if kind == "trunk")


def test_an_endpoint_is_the_seeds_with_its_detail() -> None:
    folded = Folded()
    pjsip = Pjsip(AsteriskConfig({"pjsip.conf": conf({"a": "registered phone"})}),
                  clock=lambda: NOW)
    pjsip.register("a", "sip:a@192.0.2.7:5060", via=("192.0.2.7", 5060), call_id="x@y",
                   user_agent="Phone")
    one_round(folded, pjsip, LISTS)
    [endpoint] = folded.rows("endpoints")
    assert set(endpoint) == set(peers.ENDPOINT_COLUMNS)
    missing = [k for k, v in endpoint.items() if v is None]
    assert missing == ["disallow"]  # an alias: Asterisk never prints it
    assert (endpoint["aors"], endpoint["contacts"], endpoint["fax_detect_time"],
            endpoint["timers_sess_expires"], endpoint["srtp_tag32"]) == (
        "a", "a/sip:a@192.0.2.7:5060", 0, 1800, "false")
    [contact] = folded.rows("contacts")
    assert (contact["via_address"], contact["call_id"], contact["user_agent"],
            contact["qualify_timout"], contact["reg_expire"], contact["status"]) == (
        "192.0.2.7:5060", "x@y", "Phone", 3, int(NOW) + 3600, "NonQualified")
    [aor] = folded.rows("aors")
    assert (aor["endpoint_name"], aor["total_contacts"], aor["contacts_registered"]) == (
        "a", 1, 1)


def test_an_error_for_an_empty_list_empties_the_table() -> None:
    folded = Folded()
    pjsip = Pjsip(AsteriskConfig({"pjsip.conf": conf({"a": "registered phone", "b": "trunk"})}),
                  clock=lambda: NOW)
    pjsip.register("a", "sip:a@192.0.2.7:5060")
    one_round(folded, pjsip, LISTS)
    assert len(folded.rows("contacts")) == 2
    pjsip.unregister("a", "sip:a@192.0.2.7:5060")
    [error] = folded.ask(pjsip, "PJSIPShowContacts")
    assert error.header("Message") == "No Contacts found\n"
    assert [r["aor"] for r in folded.rows("contacts")] == ["b"]  # permanent: not its to say
    empty = Pjsip(AsteriskConfig({"pjsip.conf": conf({})}), clock=lambda: NOW)
    folded.ask(empty, "PJSIPShowEndpoints")
    assert folded.rows("endpoints") == [] and len(folded.rows("aors")) == 2
    folded.ask(empty, "PJSIPShowAors")
    assert folded.rows("aors") == [] and folded.rows("contacts") == []


def test_live_contact_events_between_lists() -> None:
    """A registration seen live is a contact until the phone unregisters; one missed while
    disconnected goes at the next lists."""
    folded = Folded()
    pjsip = Pjsip(AsteriskConfig({"pjsip.conf": conf({"a": "phone"})}), clock=lambda: NOW)
    one_round(folded, pjsip, LISTS)
    for blob in pjsip.register("a", "sip:a@192.0.2.7:5060"):
        folded.feed(blob)
    [contact] = folded.rows("contacts")
    assert (contact["aor"], contact["status"], contact["id"]) == ("a", "NonQualified", None)
    assert [p["peer"] for p in folded.rows("peers")] == ["PJSIP/a"]
    pjsip.unregister("a", "sip:a@192.0.2.7:5060")  # while nobody listened
    one_round(folded, pjsip, LISTS)
    assert folded.rows("contacts") == []
    assert [p["peer"] for p in folded.rows("peers")] == ["PJSIP/a"]
    one_round(folded, Pjsip(AsteriskConfig({"pjsip.conf": conf({"b": "phone"})})), LISTS)
    assert folded.rows("peers") == []  # its endpoint is gone from pjsip.conf


def test_an_endpoint_of_two_aors_has_one_contacts_list() -> None:
    """`EndpointList` writes a `Contacts` header per AOR, each ending with a comma."""
    folded = Folded()
    text = conf({"a": "registered phone", "b": "trunk"}) + "\n[c]\ntype = endpoint\naors = a,b\n"
    pjsip = Pjsip(AsteriskConfig({"pjsip.conf": text}), clock=lambda: NOW)
    pjsip.register("a", "sip:a@192.0.2.7:5060")
    [item] = [e for e in folded.ask(pjsip, "PJSIPShowEndpoints")
              if e.type == "EndpointList" and e.header("ObjectName") == "c"]
    assert item.data["Contacts"] == ["a/sip:a@192.0.2.7:5060,", "b/sip:b.example:5060,"]
    [row] = [r for r in folded.rows("endpoints") if r["object_name"] == "c"]
    assert row["contacts"] == "a/sip:a@192.0.2.7:5060,b/sip:b.example:5060"


def test_a_registration_a_registry_event_named_is_reconciled_too() -> None:
    """`Registry` says `ChannelType: PJSIP`; the row it makes is the one
    `OutboundRegistrationDetail` makes, so a registration taken out of pjsip.conf goes."""
    folded = Folded()
    folded.feed(b"Event: Registry\r\nPrivilege: system,all\r\nChannelType: PJSIP\r\n"
                b"Username: sip:100@b.example\r\nDomain: sip:b.example\r\n"
                b"Status: Registered\r\n\r\n")
    [row] = folded.rows("registries")
    assert (row["account"], row["state"], row["channel_type"]) == (
        "100@b.example", "Registered", "PJSIP")
    with_trunk = Pjsip(AsteriskConfig({"pjsip.conf": conf({"b": "trunk"})}), clock=lambda: NOW)
    folded.ask(with_trunk, "PJSIPShowRegistrationsOutbound")
    assert [r["account"] for r in folded.rows("registries")] == ["100@b.example"]
    without = Pjsip(AsteriskConfig({"pjsip.conf": conf({})}), clock=lambda: NOW)
    folded.ask(without, "PJSIPShowRegistrationsOutbound")
    assert folded.rows("registries") == []
