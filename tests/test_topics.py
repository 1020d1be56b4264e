"""The change messages (`api/topics.py`, `api/changes.py`), derived from real captures.

What was announced must always equal the read models (else a client following the stream ends
up with other rows than a client reading REST), and a deriver started from a rebuild at any
position must announce exactly what the live one did from there (else resuming by id would
lose or repeat changes).
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.changes import ALL, Deriver, Message, expected, parse_id
from api.hub import matcher
from api.streams import TopicError, topic_prefix
from api.topics import KINDS, catalogue_markdown, decoded
from engine.envelope import Event
from projections.base import event_time
from projections.runner import Projector, replay
from tests.captures import (
    CAPTURE_FILES,
    CAPTURES,
    SERVER,
    all_capture_events,
    envelopes,
    positioned,
)


def derive_all(events: list[Event], check: bool = False) -> list[Message]:
    projector = Projector(None, persist=False)
    deriver = Deriver.from_state(projector.state, 0.0)
    out: list[Message] = []
    for event in events:
        projector.apply((event,))
        out.extend(deriver.derive(event, projector.state))
        if check:
            assert deriver.announced() == expected(projector.state, event_time(event)), (
                f"announced rows differ from the read models after {event.position} "
                f"{event.type}")
    return out


@pytest.mark.parametrize("path", CAPTURE_FILES, ids=lambda p: p.stem)
def test_announced_rows_equal_the_read_models_after_every_event(path) -> None:
    messages = derive_all(positioned(envelopes(path)), check=True)
    assert messages, "every capture changes something"


def test_every_capture_in_one_log_announces_creates_updates_and_deletes() -> None:
    messages = derive_all(all_capture_events(), check=True)
    names = {m.name for m in messages}
    assert {"core.channel.create", "core.channel.update", "core.channel.delete",
            "core.call.create", "core.call.delete", "queue.member.update",
            "queue.member.delete", "queue.entry.update", "queue.entry.delete",
            "queue.queue.update", "park.parkedcall.create", "park.parkedcall.delete",
            "core.device_state.update"} <= names
    ids = [m.key for m in messages]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), "ids are unique and in log order"


def test_a_hangup_deletes_with_the_final_cause_and_the_seed_topic() -> None:
    messages = derive_all(positioned(envelopes(CAPTURE_FILES[0].parent /
                                               "originate-answered.jsonl")))
    deletes = [msgspec.json.decode(m.json) for m in messages if m.name == "core.channel.delete"]
    assert deletes
    for body in deletes:
        row = body["core.channel.delete"]
        assert row["hangup_cause"] == 16 and row["hangup_cause_desc"]
        assert body["topic"].startswith("/core/channels/")
    queue = derive_all(positioned(envelopes(CAPTURE_FILES[0].parent / "queue-basic.jsonl")))
    topics = {m.topic for m in queue if m.name.startswith("queue.")}
    assert topics == {"/queue/statuses/sales", "/queue/statuses/support"}


@pytest.mark.parametrize(("capture", "name", "key", "clock"), [
    ("parking", "park.parkedcall.delete", "parkee_unique_id",
     {"parking_duration", "parking_timeout"}),
    ("queue-basic", "queue.entry.delete", "unique_id", {"wait"}),
    ("queue-abandon", "queue.entry.delete", "unique_id", {"wait"}),
])
def test_a_delete_carries_the_row_as_it_ended_its_clock_fields_included(
        capture: str, name: str, key: str, clock: set[str]) -> None:
    """Seed 004's `queue.entry.delete` carries `wait`, its `park.parkedcall.delete`
    `parking_duration` and `parking_timeout`. Ours: the row REST would have served at the
    time of the event that ended it (a caller who waited 4 s says 4, a parked call that timed
    out says its whole time and 0 left, as Asterisk's own ending events do)."""
    events = positioned(envelopes(CAPTURES / f"{capture}.jsonl"))
    deletes = [m for m in derive_all(events) if m.name == name]
    assert deletes
    view = next(k.view for k in KINDS if name.startswith(k.name + "."))
    for message in deletes:
        row = msgspec.json.decode(message.json)[name]
        assert clock <= row.keys()
        ending = events[message.position - 1]
        before = replay(events[: message.position - 1]).rows(view, event_time(ending))
        assert row == next(r for r in before if r[key] == row[key]), message.id
    ended = [msgspec.json.decode(m.json)[name] for m in deletes]
    assert any(row[field] for row in ended for field in clock), "the clock fields moved"


@pytest.mark.parametrize("path", CAPTURE_FILES, ids=lambda p: p.stem)
def test_a_deriver_rebuilt_at_any_position_announces_what_the_live_one_did(path) -> None:
    events = positioned(envelopes(path))
    live = derive_all(events)
    for cut in range(0, len(events), max(1, len(events) // 12)):
        projector = replay(events[:cut])
        now = event_time(events[cut - 1]) if cut else 0.0
        deriver = Deriver.from_state(projector.state, now)
        rebuilt: list[Message] = []
        for event in events[cut:]:
            projector.apply((event,))
            rebuilt.extend(deriver.derive(event, projector.state))
        after = [m for m in live if m.key > (cut, ALL)]
        assert [(m.id, m.json) for m in rebuilt] == [(m.id, m.json) for m in after], cut


def test_agents_and_peers_announce_from_their_events() -> None:
    """The captures hold no agent or SIP events: the documented AMI events instead."""
    def ev(i: int, type_: str, **data: str) -> Event:
        return Event(i, "ami/pbx/s", i, type_, "2026-01-01T00:00:00+00:00", "pbx",
                     {"Event": type_, "Timestamp": f"{1767225600 + i}.0", **data})

    events = [
        ev(1, "AgentLogin", Agent="1001", Channel="PJSIP/a-1", Uniqueid="u1", Linkedid="u1"),
        ev(2, "Newstate", Channel="PJSIP/a-1", Uniqueid="u1", Linkedid="u1",
           ChannelState="6", ChannelStateDesc="Up"),
        ev(3, "Hangup", Channel="PJSIP/a-1", Uniqueid="u1", Linkedid="u1", Cause="16"),
        ev(4, "PeerStatus", ChannelType="SIP", Peer="SIP/300", PeerStatus="Registered",
           Address="10.0.0.1:5060"),
        ev(5, "ContactStatus", URI="sip:300@10.0.0.1", ContactStatus="Reachable", AOR="300",
           EndpointName="300", RoundtripUsec="1200"),
        ev(6, "AgentLogoff", Agent="1001"),
    ]
    messages = derive_all(events, check=True)
    by_position = {}
    for m in messages:
        by_position.setdefault(m.position, []).append(m.name)
    assert by_position[1] == ["core.agent.create"]
    assert "core.agent.update" in by_position[2] and "core.agent.update" in by_position[3]
    assert "sip.peer.create" in by_position[4]
    assert "pjsip.contact.create" in by_position[5]
    assert by_position[6] == ["core.agent.update"]


def test_message_ids_resume_between_messages_of_one_event() -> None:
    assert parse_id("1234") == (1234, ALL)
    assert parse_id("1234:2") == (1234, 2)
    assert parse_id("x") is None and parse_id("-1") is None and parse_id(None) is None
    message = Message(7, 2, 3, "queue.entry.update", "/queue/statuses/sales",
                      {"server": "pbx", "unique_id": "u"})
    assert message.id == "7:2" and message.key == (7, 2)
    assert message.sse.startswith(b"id: 7:2\nevent: queue.entry.update\ndata: {")
    assert msgspec.json.decode(message.json) == {
        "queue.entry.update": {"server": "pbx", "unique_id": "u"},
        "topic": "/queue/statuses/sales", "id": "7:2"}
    assert message.meta_text == message.json.decode()
    assert message.text == '{"queue.entry.update":{"server":"pbx","unique_id":"u"}}'


def test_the_catalogue_documents_every_kind() -> None:
    table = catalogue_markdown()
    for kind in KINDS:
        assert f"`{kind.name}.update`" in table
    assert "`/core/channels/<caller_id_name>`" in table
    assert SERVER  # the captures' server name is what rows carry


# ------------------------------------------------------------------------------ topic spellings

QUEUE = next(kind for kind in KINDS if kind.name == "queue.queue")  # /queue/statuses/{name}
TARGETS = st.text(st.characters(codec="utf-8"), max_size=12)  # what a header may hold


def queue_message(name: str) -> Message:
    row = {"server": "pbx", "name": name}
    topic, _ = QUEUE.topic_of(row)
    return Message(1, 1, 1, "queue.queue.update", topic, row)  # decoded by Message


@st.composite
def spelled(draw: st.DrawFn, target: str) -> str:
    """One way a client may write `target` in a topic: each character as itself or as its
    UTF-8 bytes percent-encoded, upper- or lower-case hex (the seed encodes all but letters
    and digits: `sales%5F1`); a `%` is always encoded."""
    out = []
    for char in target:
        if char != "%" and draw(st.booleans()):
            out.append(char)
            continue
        hexes = "%{:02X}" if draw(st.booleans()) else "%{:02x}"
        out.extend(hexes.format(byte) for byte in char.encode())
    return "".join(out)


@given(TARGETS, st.data())
def test_a_topic_in_any_spelling_subscribes_to_the_same_messages(target: str,
                                                                 data: st.DataObject) -> None:
    """Both spellings (and any mix) of a target, and any prefix of one, match its messages."""
    message = queue_message(target)
    assert QUEUE.topic_of({"name": target}) == (message.topic, "/queue/statuses/" + target)
    assert decoded(message.topic) == message.decoded == "/queue/statuses/" + target
    cut = data.draw(st.integers(0, len(target)))
    for asked in (target, target[:cut]):
        topic = "/queue/statuses/" + data.draw(spelled(asked))
        assert matcher([topic_prefix(topic)])(message), topic


@given(TARGETS, TARGETS, st.data())
def test_a_topic_matches_exactly_the_targets_its_decoded_form_begins(
        target: str, other: str, data: st.DataObject) -> None:
    """Prefix semantics on the decoded form: `/queue/statuses/sa` matches `sales_1`, and
    nothing that does not begin with what the client spelled."""
    topic = "/queue/statuses/" + data.draw(spelled(other))
    assert matcher([topic_prefix(topic)])(queue_message(target)) == target.startswith(other)


@given(st.text(max_size=60))
def test_any_text_asked_as_a_topic_is_a_prefix_or_a_topic_error(text: str) -> None:
    try:
        prefix = topic_prefix(text)
    except TopicError as exc:
        assert str(exc).startswith("topic ")
    else:
        assert text.startswith("/") and prefix == decoded(text)


@given(st.integers(0, 10**12), st.integers(1, 3), TARGETS,
       st.dictionaries(st.text(max_size=5), st.text(max_size=20) | st.integers(), max_size=4))
def test_a_message_is_the_seeds_object_then_its_topic_and_id(
        position: int, count: int, target: str, payload: dict) -> None:
    """`text` (what a WebSocket client gets by default) is cut from `json` (SSE data, and
    WebSocket with `meta=1`): it must be exactly the seed's one-key object, whatever it holds."""
    topic, path = QUEUE.topic_of({"name": target})
    message = Message(position, count, count, "queue.queue.update", topic, payload, path)
    assert message.text.encode() == msgspec.json.encode({"queue.queue.update": payload})
    assert msgspec.json.decode(message.json) == {"queue.queue.update": payload, "topic": topic,
                                                 "id": message.id}


def test_a_device_freed_by_reconciliation_is_announced() -> None:
    """Issue 12 item 18: a `CoreShowChannels` answer that closes the last channel of a Local
    device frees it in the read model; the stream must say so too (a `core.device_state.update`
    at the answer's Complete), or a client following it keeps `INUSE` for ever."""
    from tests.test_projection_channels import Log, _csc_answer

    log = Log()
    log.chan("Newchannel", "1.1", "Local/101@customers-00000001;1", 6)
    log.add("DeviceStateChange", Device="Local/101@customers", State="INUSE")
    log.add("ConnectionLost", Reason="connection closed by Asterisk")
    _csc_answer(log, "csc-1", [])
    messages = derive_all(log.events, check=True)
    last = msgspec.json.decode(messages[-1].json)
    assert messages[-1].name == "core.device_state.update"
    assert last["core.device_state.update"]["state"] == "NOT_INUSE"


@pytest.mark.parametrize(("capture", "names"), [
    ("agi", {"core.agi.create", "core.agi.update", "core.agi.delete"}),
    ("modules", {"core.module.create"}),
    ("voicemail", {"voicemail.user.create", "voicemail.user.update",
                   "voicemail.user.delete"}),
])
def test_agi_modules_and_voicemail_announce_what_their_read_models_hold(capture: str,
                                                                       names: set) -> None:
    """batch2's sessions: after every event the announced AGI channels, modules and voicemail
    users equal the read models (seed 004's core.agi.* on /core/agis/<caller_id_name>)."""
    messages = derive_all(positioned(envelopes(CAPTURES / "batch2" / f"{capture}.jsonl")),
                          check=True)
    assert names <= {m.name for m in messages}
    if capture == "agi":
        assert {m.topic for m in messages if m.name.startswith("core.agi.")} == {
            "/core/agis/AGI%20Caller", "/core/agis/%3Cunknown%3E"}
