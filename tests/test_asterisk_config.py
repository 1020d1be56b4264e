"""The configuration model of the fake Asterisks (`engine/ami/asterisk_config.py`) against the
real Asterisk: given the captures' configuration actions in their order, it answers what
Asterisk answered, byte for byte, and announces the same reloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ami.asterisk_config import (
    FAILURE_NEWCAT,
    UNKNOWN_CATEGORY,
    AsteriskConfig,
    Category,
    UpdateError,
    Variable,
    apply_updates,
    get_config_lines,
    parse,
    render,
    saved,
)
from engine.ami.protocol import parse_action, parse_headers
from engine.capture import read_lines
from tests.conftest import CAPTURES

BATCH2 = CAPTURES / "batch2"
CONFIG_CAPTURES = ["config-queues", "config-parking", "config-dialplan", "voicemail"]
CONFIG_ACTIONS = {"getconfig", "getconfigjson", "listcategories", "updateconfig", "reload"}


def recorded(path: Path) -> list[tuple[dict, str, list[str]]]:
    """Each configuration action of the session, its recorded response and the `Reload` and
    queue `DeviceStateChange` events Asterisk sent before the next action."""
    lines = read_lines(path)
    out: list[tuple[dict, str, list[str]]] = []
    for i, line in enumerate(lines):
        if line.dir != "out":
            continue
        action = parse_action(line.raw)
        if action.get("Action", "").lower() not in CONFIG_ACTIONS:
            continue
        aid = action["ActionID"]
        response = ""
        events: list[str] = []
        for later in lines[i + 1:]:
            if later.dir == "out":
                break
            headers = parse_headers(later.raw.removesuffix("\r\n\r\n")).headers
            if headers.get("ActionID") == aid and "Response" in headers:
                response = later.raw
            elif headers.get("Event") == "Reload" or str(
                    headers.get("Device", "")).startswith("Queue:"):
                events.append(later.raw)
        out.append((action, response, events))
    return out


def without_timestamp(raw: str | bytes) -> dict:
    text = raw.decode() if isinstance(raw, bytes) else raw
    headers = dict(parse_headers(text.removesuffix("\r\n\r\n")).headers)
    headers.pop("Timestamp", None)
    return headers


@pytest.mark.parametrize("name", CONFIG_CAPTURES)
def test_every_configuration_action_of_the_captures_is_answered_as_asterisk_did(name) -> None:
    config = AsteriskConfig()
    checked = 0
    for action, response, events in recorded(BATCH2 / f"{name}.jsonl"):
        answer = config.answer(action["Action"].lower(), action, action["ActionID"])
        assert answer is not None
        assert answer.reply.decode() == response, action  # byte for byte
        assert [without_timestamp(e) for e in answer.events] == [
            without_timestamp(e) for e in events], action
        checked += 1
    assert checked >= 3


def test_the_captures_configuration_actions_all_are_covered() -> None:
    """Every file the captures read or wrote, every UpdateConfig action type and every error
    they show is among what the test above compares."""
    verbs, errors = set(), set()
    for name in CONFIG_CAPTURES:
        for action, response, _ in recorded(BATCH2 / f"{name}.jsonl"):
            verbs.update(v.lower() for k, v in action.items() if k.startswith("Action-"))
            if "Response: Error" in response:
                errors.add(parse_headers(response.removesuffix("\r\n\r\n")).headers["Message"])
    assert verbs == {"newcat", "append", "update", "delete", "delcat", "frobnicate"}
    assert errors == {"Config file not found", "Unknown action command",
                      "Given category does not exist"}


def test_a_reload_puts_the_new_queue_in_the_recorded_lists_and_takes_it_out_again() -> None:
    config = AsteriskConfig()
    empty = (b"Response: Success\r\nActionID: q\r\nEventList: start\r\nMessage: Queue status "
             b"will follow\r\n\r\nEvent: QueueStatusComplete\r\nActionID: q\r\nEventList: "
             b"Complete\r\nListItems: 0\r\n\r\n")
    status = {"Action": "QueueStatus", "ActionID": "q"}
    assert config.overlay("queuestatus", status, empty) == empty
    config.answer("updateconfig", {
        "SrcFilename": "queues.conf", "DstFilename": "queues.conf", "Reload": "app_queue",
        "Action-000000": "NewCat", "Cat-000000": "billing",
        "Action-000001": "Append", "Cat-000001": "billing", "Var-000001": "member",
        "Value-000001": "Local/agent7@agents,0,Grace"}, "u")
    listed = [without_timestamp(m + "\r\n\r\n") for m in
              config.overlay("queuestatus", status, empty).decode().split("\r\n\r\n") if m]
    assert [m.get("Event") for m in listed] == [None, "QueueParams", "QueueMember",
                                                "QueueStatusComplete"]
    assert listed[1]["Strategy"] == "ringall" and listed[2]["Name"] == "Grace"
    assert listed[2]["Membership"] == "static" and listed[-1]["ListItems"] == "2"
    filtered = config.overlay("queuestatus", {**status, "Queue": "sales"}, empty)
    assert b"billing" not in filtered
    config.answer("updateconfig", {
        "SrcFilename": "queues.conf", "DstFilename": "queues.conf", "Reload": "app_queue",
        "Action-000000": "DelCat", "Cat-000000": "billing"}, "d")
    assert config.overlay("queuestatus", status, empty) == empty


def test_a_failing_reload_is_announced_with_its_status_and_changes_nothing_running() -> None:
    config = AsteriskConfig()
    config.fail_reload("res_parking")
    answer = config.answer("updateconfig", {
        "SrcFilename": "res_parking.conf", "DstFilename": "res_parking.conf",
        "Reload": "res_parking.so", "Action-000000": "NewCat", "Cat-000000": "lot2"}, "u")
    assert answer is not None and b"Response: Success" in answer.reply
    (event,) = [without_timestamp(e) for e in answer.events]
    assert (event["Module"], event["Status"]) == ("res_parking.so", "3")
    assert "lot2" not in config.parking_lots() and answer.reloaded == []
    reload = config.answer("reload", {"Module": "nosuch"}, "r")
    assert reload is not None and b"Message: No such module" in reload.reply
    assert without_timestamp(reload.events[0])["Status"] == "2"


def test_templates_are_hidden_unless_asked_for_and_inherited_variables_come_first() -> None:
    cats = parse("[t](!)\ntype = endpoint\nallow = ulaw\n[6001](t)\nauth = a\n[x]\n")
    assert get_config_lines(cats) == [
        "Category-000000: 6001", "Templates-000000: t", "Line-000000-000000: type=endpoint",
        "Line-000000-000001: allow=ulaw", "Line-000000-000002: auth=a",
        "Category-000001: x"]
    assert get_config_lines(cats, filter_="TEMPLATES=include")[:4] == [
        "Category-000000: t", "IsTemplate-000000: 1", "Line-000000-000000: type=endpoint",
        "Line-000000-000001: allow=ulaw"]
    # the inherited variables are not written again, and come back by inheritance
    assert "type" not in render(cats).split("[6001](t)")[1]
    assert saved(cats) == cats
    with pytest.raises(UpdateError, match=UNKNOWN_CATEGORY):  # a template is out of reach
        apply_updates(cats, {"Action-000000": "DelCat", "Cat-000000": "t"})
    with pytest.raises(UpdateError, match=FAILURE_NEWCAT):  # but its name is taken
        apply_updates(cats, {"Action-000000": "NewCat", "Cat-000000": "T"})


def test_update_changes_the_last_match_and_delete_every_match() -> None:
    cats = parse("[q]\nmember = a\nmember = b\nmember = a\n")
    after = apply_updates(cats, {"Action-000000": "Update", "Cat-000000": "q",
                                 "Var-000000": "member", "Value-000000": "c",
                                 "Match-000000": "a"})
    assert [v.value for v in after[0].variables] == ["a", "b", "c"]
    after = apply_updates(cats, {"Action-000000": "Delete", "Cat-000000": "q",
                                 "Var-000000": "member", "Match-000000": "A"})
    assert [v.value for v in after[0].variables] == ["b"]
    after = apply_updates(cats, {"Action-000000": "Insert", "Cat-000000": "q",
                                 "Var-000000": "x", "Value-000000": ">1", "Line-000000": "1"})
    assert [(v.name, v.object) for v in after[0].variables][:2] == [("member", False),
                                                                    ("x", True)]
    assert [v.value for v in cats[0].variables] == ["a", "b", "a"]  # the input is left alone


names = st.text(st.characters(min_codepoint=33, max_codepoint=126,
                              exclude_characters="[]();=\\#>"), min_size=1, max_size=8)
values = st.text(st.characters(min_codepoint=32, max_codepoint=126,
                               exclude_characters="\\"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(names, st.lists(st.tuples(names, values), max_size=5)),
                max_size=5))
def test_saving_and_loading_keeps_what_a_read_would_show(spec) -> None:
    """A file written and read back holds the same categories and variables, values stripped
    as Asterisk's parser does, a `;` kept (written `\\;`): the fixed point of `saved`."""
    cats = [Category(n, [Variable(k, v) for k, v in variables]) for n, variables in spec]
    once = saved(cats)
    assert saved(once) == once
    assert [c.name for c in once] == [c.name for c in cats]
    for before, after in zip(cats, once, strict=True):
        assert [(v.name, v.value.strip()) for v in before.variables] == [
            (v.name, v.value) for v in after.variables]


def test_json_answer_escapes_as_asterisk_does() -> None:
    config = AsteriskConfig({"x.conf": '[a"b]\nk = va\\lue "q"\n'})
    answer = config.answer("getconfigjson", {"Filename": "x.conf"}, "j")
    assert answer is not None
    text = answer.reply.decode().split("JSON: ", 1)[1].strip()
    assert json.loads(text) == {'a"b': {"k": 'va\\lue "q"'}}


# ------------------------------------------------------------------------------ over TCP

UPDATE_BILLING = {
    "Action": "UpdateConfig", "SrcFilename": "queues.conf", "DstFilename": "queues.conf",
    "Reload": "app_queue", "Action-000000": "NewCat", "Cat-000000": "billing",
    "Action-000001": "Append", "Cat-000001": "billing", "Var-000001": "strategy",
    "Value-000001": "ringall", "Action-000002": "Append", "Cat-000002": "billing",
    "Var-000002": "member", "Value-000002": "Local/agent7@agents,0,Grace"}
DELETE_BILLING = {"Action": "UpdateConfig", "SrcFilename": "queues.conf",
                  "DstFilename": "queues.conf", "Reload": "app_queue",
                  "Action-000000": "DelCat", "Cat-000000": "billing"}
NEW_LOT = {"Action": "UpdateConfig", "SrcFilename": "res_parking.conf",
           "DstFilename": "res_parking.conf", "Reload": "res_parking",
           "Action-000000": "NewCat", "Cat-000000": "lot2",
           "Action-000001": "Append", "Cat-000001": "lot2", "Var-000001": "parkpos",
           "Value-000001": "801-810"}


@pytest.mark.parametrize("fake", ["testserver", "simulator"])
def test_both_fakes_list_what_their_reloads_made(fake) -> None:
    """Over real AMI: an UpdateConfig with a reload puts the queue and its static member in
    QueueStatus/QueueSummary and the lot in Parkinglots; deleting it takes it out, the static
    member without a QueueMemberRemoved."""
    from engine.ami.simulator import PbxSimulator
    from engine.ami.testserver import AmiTestServer
    from tests.test_dialer_simulator import run, simulate

    async def main() -> None:
        server = PbxSimulator(queues={"sales": ["SIP/a"]}) if fake == "simulator" \
            else AmiTestServer()
        async with server:
            messages = await simulate([
                UPDATE_BILLING, {"Action": "QueueStatus", "ActionID": "s1"},
                {"Action": "QueueSummary", "ActionID": "m1"}, NEW_LOT,
                {"Action": "Parkinglots", "ActionID": "p1"},
                {"Action": "GetConfig", "ActionID": "g1", "Filename": "queues.conf",
                 "Category": "billing"},
                DELETE_BILLING, {"Action": "QueueStatus", "ActionID": "s2"}], server, wait=0.2)
        of = lambda aid: [(t, h) for t, h in messages if h.get("ActionID") == aid]  # noqa: E731
        members = [h for t, h in of("s1") if t == "QueueMember" and h["Queue"] == "billing"]
        assert [(m["Name"], m["Membership"]) for m in members] == [("Grace", "static")]
        assert any(t == "QueueSummary" and h["Queue"] == "billing" for t, h in of("m1"))
        assert ("lot2", "801", "810") in [(h["Name"], h["StartSpace"], h["StopSpace"])
                                          for t, h in of("p1") if t == "Parkinglot"]
        (got,) = [h for t, h in of("g1")]
        assert got["Line-000000-000001"] == "member=Local/agent7@agents,0,Grace"
        assert not [h for t, h in of("s2") if h.get("Queue") == "billing"]
        reloads = [h["Module"] for t, h in messages if t == "Reload"]
        assert reloads == ["app_queue", "res_parking", "app_queue"]
        assert not [t for t, _ in messages if t == "QueueMemberRemoved"]

    run(main())
