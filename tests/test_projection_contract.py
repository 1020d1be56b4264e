"""The projection contract (`projections/base.py`) held by every registered module, on every
capture: declared columns are exactly what the rows carry, and two Asterisks never share a row.

Columns are checked at every moment the captures' sessions sent a list action (calls live,
callers waiting, calls parked) and at their end, so every view is seen with rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.capture import capture_events
from engine.envelope import Event, NewEvent
from projections import PROJECTIONS, VIEWS
from projections.runner import Projector, replay
from tests.captures import CAPTURE_FILES, action_times, positioned

NOW = 1795361700.0
TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (float, int), "bool": (bool,), "json": (dict, list),
}
# Every view the AMI feeds; each must show rows in these tests (peers, endpoints, contacts, aors,
# registries, agents and configuration from a synthetic signalling session: the captures hold no
# such events).
AMI_VIEWS = {"channels", "calls", "bridges", "device-states", "peers", "endpoints", "contacts",
             "aors", "registries", "agents", "systems", "queues", "queue-members",
             "queue-entries", "queue-statuses", "parking-lots", "parked-calls",
             "config-files", "config", "config-versions"}


def test_every_module_declares_the_contract() -> None:
    names = [m.NAME for m in PROJECTIONS]
    assert len(names) == len(set(names))
    for module in PROJECTIONS:
        assert callable(module.initial) and callable(module.apply), module.NAME
        assert isinstance(getattr(module, "VERSION", 1), int)
        types = getattr(module, "EVENT_TYPES", None)
        assert types is None or isinstance(types, frozenset), module.NAME
        assert set(module.COLUMNS) == set(module.VIEWS), module.NAME
        for view, columns in module.COLUMNS.items():
            assert columns and set(columns.values()) <= set(TYPES), (view, columns)
    assert AMI_VIEWS <= set(VIEWS)


# ------------------------------------------------------------------------------ signalling

Message = tuple[str, dict[str, str]]  # type, headers


def listed(action_id: str, complete: str, *items: Message) -> Iterator[Message]:
    """A list answer: Asterisk's start response, the items, the `...Complete` event."""
    yield "Response", {"Response": "Success", "ActionID": action_id, "EventList": "start"}
    for type_, headers in items:
        yield type_, {"ActionID": action_id, **headers}
    yield complete, {"ActionID": action_id, "EventList": "Complete",
                     "ListItems": str(len(items))}


def signalling() -> Iterator[Message]:
    """Peers, PJSIP objects, registrations and agents, shaped like Asterisk's documented
    events: a list answer of each kind, then live events."""
    yield from listed("sp", "PeerlistComplete", (
        "PeerEntry", {"Channeltype": "SIP", "ObjectName": "300", "ChanObjectType": "peer",
                      "IPaddress": "10.0.0.5", "IPport": "5060", "Dynamic": "yes",
                      "Status": "OK (20 ms)"}))
    yield "PeerStatus", {"ChannelType": "SIP", "Peer": "SIP/300", "PeerStatus": "Reachable",
                         "Time": "22"}
    yield from listed("ep", "EndpointListComplete", (
        "EndpointList", {"ObjectType": "endpoint", "ObjectName": "6001", "Transport": "udp",
                         "Aor": "6001", "DeviceState": "Not in use", "ActiveChannels": "0"}))
    yield "ContactStatus", {"URI": "sip:6001@10.0.0.7:5060", "ContactStatus": "Reachable",
                            "AOR": "6001", "EndpointName": "6001", "RoundtripUsec": "1234"}
    yield "AorDetail", {"ObjectType": "aor", "ObjectName": "6001", "MaxContacts": "1",
                        "TotalContacts": "1", "QualifyTimeout": "3.000000"}
    yield "Registry", {"ChannelType": "pjsip", "Username": "sip:me@prov",
                       "Domain": "sip:prov", "Status": "Registered"}
    yield from listed("ag", "AgentsComplete", (
        "Agents", {"Agent": "1001", "Name": "Alice", "Status": "AGENT_LOGGEDOFF"}))
    yield "AgentLogin", {"Agent": "1001", "Channel": "PJSIP/alice-01", "ChannelState": "6",
                         "Uniqueid": "7.7", "Linkedid": "7.7"}
    yield "Response", {"Response": "Success", "ActionID": "cfg/queues.conf/r1",
                       "Category-000000": "general", "Category-000001": "sales",
                       "Line-000001-000000": "strategy=ringall",
                       "Line-000001-000001": "member=Local/agent1@agents"}


def signalling_session(server: str) -> list[NewEvent]:
    out = []
    for version, (type_, headers) in enumerate(signalling()):
        data = dict(headers) if type_ == "Response" else {
            "Event": type_, "Timestamp": f"{NOW - 60 + version:.6f}", **headers}
        out.append(NewEvent(f"ami/{server}/signalling", version, type_,
                            "2026-11-22T15:33:07.000000+00:00", server, data))
    return out


# ------------------------------------------------------------------------------ logs

def cuts(path: Path) -> list[float | None]:
    """Every moment the session sent a list action, and its end."""
    return sorted({t for t, h in action_times(path) if h.get("Action") != "Login"}) + [None]


def session(path: Path, server: str, until: float | None) -> list[NewEvent]:
    return signalling_session(server) + list(capture_events(path, server, until))


def mismatches(view: str, row: dict[str, Any]) -> list[str]:
    columns = VIEWS[view][0].COLUMNS[view]
    if list(row) != list(columns):
        return [f"{view}: columns {list(row)} != declared {list(columns)}"]
    return [f"{view}.{name}: {row[name]!r} is not {kind}" for name, kind in columns.items()
            if row[name] is not None and (not isinstance(row[name], TYPES[kind])
                                          or (kind != "bool" and isinstance(row[name], bool)))]


@pytest.mark.parametrize("path", CAPTURE_FILES, ids=lambda p: p.stem)
def test_every_views_rows_have_exactly_its_declared_columns(path: Path) -> None:
    seen: set[str] = set()
    for until in cuts(path):
        projector = replay(positioned(session(path, "pbx1", until)))
        assert projector.errors == {}
        for view in projector.views():
            rows = projector.rows(view, now=NOW)
            seen.update(view for _ in rows[:1])
            problems = [p for row in rows for p in mismatches(view, row)]
            assert problems == [], problems[:5]
    assert {"channels", "systems", "peers", "agents"} <= seen


def test_the_captures_show_every_view_with_rows() -> None:
    """So the columns test above really looks at a row of every view."""
    seen: set[str] = set()
    for path in CAPTURE_FILES:
        for until in cuts(path):
            projector = replay(positioned(session(path, "pbx1", until)))
            seen.update(v for v in AMI_VIEWS if projector.rows(v, now=NOW))
    assert seen == AMI_VIEWS


# ------------------------------------------------------------------------------ servers

def interleaved(*sessions: list[NewEvent]) -> list[Event]:
    """Message by message, as two live connections feed one log."""
    out: list[NewEvent] = []
    for i in range(max(len(s) for s in sessions)):
        out.extend(s[i] for s in sessions if i < len(s))
    return positioned(out)


def by_server(projector: Projector, view: str, server: str) -> list[dict]:
    """The server's rows, without the log positions some carry (a configuration version's,
    where it was first seen): the other server's events move them, nothing else."""
    return [{k: v for k, v in row.items() if k != "position"}
            for row in projector.rows(view, now=NOW) if row["server"] == server]


def as_pbx1(rows: list[dict]) -> str:
    """The rows with the other server's name (in `server`, a system's `id`, a session's
    stream) written as pbx1's."""
    return json.dumps(rows).replace('"pbx2"', '"pbx1"').replace("ami/pbx2/", "ami/pbx1/")


@pytest.mark.parametrize("path", CAPTURE_FILES, ids=lambda p: p.stem)
def test_two_servers_with_identical_sessions_keep_separate_rows(path: Path) -> None:
    """Same Uniqueids, same queue names, same parking spaces on two Asterisks: every view has
    one row per server, each carrying its `server`, each equal to that server alone."""
    for until in cuts(path):
        one = session(path, "pbx1", until)
        two = session(path, "pbx2", until)
        both = replay(interleaved(one, two))
        alone = replay(positioned(one))
        assert both.errors == {}
        for view in AMI_VIEWS:
            rows = both.rows(view, now=NOW)
            assert {row["server"] for row in rows} <= {"pbx1", "pbx2"}
            first, second = by_server(both, view, "pbx1"), by_server(both, view, "pbx2")
            assert len(rows) == len(first) + len(second)
            assert first == by_server(alone, view, "pbx1"), (view, until)
            assert as_pbx1(second) == json.dumps(first), (view, until)
