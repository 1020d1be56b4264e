"""projections/config.py fed with the answers the fake Asterisk's configuration model gives
(the same bytes a real Asterisk 22 sends, tests/test_asterisk_config.py)."""

from __future__ import annotations

import copy
import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ami.asterisk_config import AsteriskConfig
from engine.ami.protocol import parse_headers
from engine.configs import HIDDEN, get_config, hidden_event, read_action_id
from engine.envelope import Event
from projections import config

_position = itertools.count(1)


def read(asterisk: AsteriskConfig, filename: str = "queues.conf", server: str = "pbx1",
         at: str = "2026-12-07T20:08:35.000000+00:00") -> Event:
    """The logged answer to the engine's GetConfig of `filename`."""
    aid = read_action_id(filename)
    answer = asterisk.answer("getconfig", get_config(filename, aid), aid)
    assert answer is not None
    headers = parse_headers(answer.reply.decode().removesuffix("\r\n\r\n")).headers
    return Event(next(_position), f"ami/{server}/s1", 0, "Response", at, server, headers)


def hide(version: str, filename: str = "queues.conf", server: str = "pbx1") -> Event:
    new = hidden_event(server, filename, version, "admin@127.0.0.1")
    return Event(next(_position), new.stream, 0, HIDDEN, new.recorded_at, server, new.data)


def run(events: list[Event], state: dict | None = None) -> dict:
    state = config.initial() if state is None else state
    for event in events:
        config.apply(state, event)
    return state


NEW_QUEUE = {"SrcFilename": "queues.conf", "DstFilename": "queues.conf",
             "Action-000000": "NewCat", "Cat-000000": "billing",
             "Action-000001": "Append", "Cat-000001": "billing", "Var-000001": "member",
             "Value-000001": "Local/agent7@agents,0,Grace",
             "Action-000002": "Append", "Cat-000002": "billing", "Var-000002": "member",
             "Value-000002": "Local/agent8@agents"}


def test_each_distinct_content_is_one_version_first_seen_where_it_was_read() -> None:
    asterisk = AsteriskConfig()
    first = read(asterisk, at="2026-12-07T20:08:35.000000+00:00")
    again = read(asterisk, at="2026-12-07T20:08:36.000000+00:00")
    asterisk.answer("updateconfig", NEW_QUEUE, "u")
    second = read(asterisk, at="2026-12-07T20:08:37.000000+00:00")
    asterisk.answer("updateconfig", {**NEW_QUEUE, "Action-000000": "DelCat",
                                     "Action-000001": "", "Action-000002": ""}, "d")
    back = read(asterisk, at="2026-12-07T20:08:38.000000+00:00")
    state = run([first, again, second, back])
    (row,) = config.file_rows(state, 0)
    assert row["version"] == "queues.conf.2026-12-07T20:08:35.000000000Z"
    assert row["position"] == back.position and row["changed"] == ["billing"]
    assert row["categories"] == ["general", "sales", "support"] and row["versions"] == 2
    versions = config.version_rows(state, 0)
    assert [(v["filename"], v["position"], v["current"]) for v in versions] == [
        ("queues.conf.2026-12-07T20:08:37.000000000Z", second.position, False),
        ("queues.conf.2026-12-07T20:08:35.000000000Z", first.position, True)]
    billing = next(c for c in versions[0]["content"] if c["name"] == "billing")
    assert billing["variables"] == [["member", "Local/agent7@agents,0,Grace"],
                                    ["member", "Local/agent8@agents"]]  # the name repeats
    assert config.content_at(state, "pbx1", "queues.conf") == versions[1]["content"]


def test_a_hidden_version_leaves_the_count_and_a_missing_file_is_noted() -> None:
    asterisk = AsteriskConfig()
    events = [read(asterisk)]
    asterisk.answer("updateconfig", NEW_QUEUE, "u")
    events.append(read(asterisk, at="2026-12-07T20:09:00.000000+00:00"))
    events.append(hide("queues.conf.2026-12-07T20:08:35.000000000Z"))
    events.append(read(AsteriskConfig({}), "confbridge.conf"))
    state = run(events)
    rows = {r["filename"]: r for r in config.file_rows(state, 0)}
    assert rows["queues.conf"]["versions"] == 1
    assert [v["hidden"] for v in config.version_rows(state, 0)] == [False, True]
    assert rows["confbridge.conf"]["exists"] is False
    assert rows["confbridge.conf"]["version"] is None
    assert config.content_at(state, "pbx1", "confbridge.conf") is None


def test_templates_and_other_servers_are_kept_apart() -> None:
    asterisk = AsteriskConfig()
    state = run([read(asterisk, "pjsip.conf", "pbx1"), read(asterisk, "queues.conf", "pbx2")])
    content = config.content_at(state, "pbx1", "pjsip.conf")
    assert content is not None
    template = next(c for c in content if c["name"] == "endpoint-template")
    assert template["template"] is True
    endpoint = next(c for c in content if c["name"] == "6001")
    assert endpoint["templates"] == ["endpoint-template"]
    assert endpoint["variables"][0] == ["type", "endpoint"]
    assert config.content_at(state, "pbx2", "pjsip.conf") is None
    assert {(r["server"], r["filename"]) for r in config.file_rows(state, 0)} == {
        ("pbx1", "pjsip.conf"), ("pbx2", "queues.conf")}


def test_answers_that_are_not_reads_are_ignored() -> None:
    other = Event(next(_position), "ami/pbx1/s1", 0, "Response", "2026-12-07T20:08:35+00:00",
                  "pbx1", {"Response": "Success", "ActionID": "getconfig-2",
                           "Category-000000": "general"})
    assert run([other]) == config.initial()


contents = st.lists(st.sampled_from(["a", "b", "c"]), max_size=4)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("read"), contents, st.integers(0, 3)),
                          st.tuples(st.just("hide"), st.integers(0, 5), st.just(0))),
                max_size=12))
def test_a_checkpoint_anywhere_gives_the_live_state(steps) -> None:
    """Same log, same state: the state saved (as JSON) and reloaded at any point, then fed the
    rest, equals the state fed everything; every distinct content is one version, each name
    unique, even for contents first seen in the same microsecond."""
    events: list[Event] = []
    seen: list[list[str]] = []
    for kind, arg, second in steps:
        if kind == "read":
            text = "".join(f"[{name}]\nx = 1\n" for name in arg)
            asterisk = AsteriskConfig({"queues.conf": text})
            events.append(read(asterisk, at=f"2026-12-07T20:08:3{second}.000000+00:00"))
            if arg not in seen:
                seen.append(arg)
        else:
            state = run(copy.deepcopy(events))
            versions = config.version_rows(state, 0)
            if versions:
                events.append(hide(versions[arg % len(versions)]["filename"]))
    live = run(events)
    for cut in range(len(events) + 1):
        state = json.loads(json.dumps(run(events[:cut])))
        assert run(events[cut:], state) == json.loads(json.dumps(live))
    names = [v["filename"] for v in config.version_rows(live, 0)]
    assert len(names) == len(set(names)) == len(seen)
