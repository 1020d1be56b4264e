"""Timelines of every call in the shared captures, through the log's index, by every kind of id:
a call's linked_id, a channel's unique_id, an ActionID, a command's id (its stream, its
correlation id and the channels it targets)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from engine.capture import capture_events
from engine.envelope import Event, NewEvent
from engine.store import Store, open_store
from projections.base import event_time
from replay.index import index_rows, keys_of, open_index
from replay.reader import open_reader
from replay.timeline import build, write_jsonl, write_text
from tests.captures import CAPTURE_FILES


@pytest.fixture
def log(store_url: str) -> Store:
    """The captures in a log, on both backends (the index's tables differ)."""
    store = open_store(store_url)
    for path in CAPTURE_FILES:
        store.append(list(capture_events(path, path.stem)))
    yield store
    store.close()


def calls_of(events: list[Event]) -> dict[tuple[str, str], set[str]]:
    """(server, linked id) -> the unique ids of its channels, from their Newchannel."""
    out: dict[tuple[str, str], set[str]] = {}
    for e in events:
        if e.type == "Newchannel":
            out.setdefault((e.server, e.data["Linkedid"]), set()).add(e.data["Uniqueid"])
    return out


def test_every_call_of_the_captures_has_its_channels_births_and_hangups_in_order(
        log: Store) -> None:
    index = open_index(log.url)
    assert index.catch_up() == log.last_position()
    everything = list(log.iter_all())
    calls = calls_of(everything)
    assert len(calls) >= 14
    with open_reader(log.url) as reader:
        for (server, linked), channels in calls.items():
            timeline = build(linked, index, reader)
            events = timeline.events
            positions = [e.position for e in events]
            assert positions == sorted(set(positions)), linked
            assert f"{server}/{linked}" in timeline.calls
            for uid in channels:
                born = [e.position for e in events if e.type == "Newchannel"
                        and e.data["Uniqueid"] == uid and e.server == server]
                gone = [e.position for e in events if e.type == "Hangup"
                        and e.data["Uniqueid"] == uid and e.server == server]
                assert len(born) == 1 and len(gone) == 1 and born[0] < gone[0], (linked, uid)
            t0 = event_time(events[0])
            assert timeline.entries[0].offset == 0.0
            assert [e.offset for e in timeline.entries] == [
                round(event_time(e) - t0, 6) for e in events]
            # Nothing of another server, and nothing of another call unless a shared bridge.
            assert {e.server for e in events} == {server}
            # A channel's own timeline is its call's.
            some_channel = sorted(channels)[-1]
            assert build(some_channel, index, reader).events == events
    index.close()


def test_bridges_the_call_entered_are_in_and_their_other_channels_are_not_followed(
        log: Store) -> None:
    index = open_index(log.url)
    index.catch_up()
    with open_reader(log.url) as reader:
        everything = list(reader.events())
        enter = next(e for e in everything if e.type == "BridgeEnter")
        bridge = enter.data["BridgeUniqueid"]
        timeline = build(enter.data["Linkedid"], index, reader)
        types = {e.type for e in timeline.events if e.data.get("BridgeUniqueid") == bridge}
        assert {"BridgeEnter", "BridgeLeave"} <= types
        assert f"{enter.server}/{bridge}" in timeline.bridges
    index.close()


def test_an_action_id_brings_the_call_it_originated(log: Store) -> None:
    index = open_index(log.url)
    index.catch_up()
    path = next(p for p in CAPTURE_FILES if p.stem == "originate-answered")
    with open_reader(log.url) as reader:
        answer = next(e for e in reader.events() if e.type == "OriginateResponse"
                      and e.server == path.stem)
        timeline = build(answer.data["ActionID"], index, reader)
        ours = [e for e in timeline.events if e.server == path.stem]
        assert any(e.type == "Response" and e.data.get("ActionID") == answer.data["ActionID"]
                   for e in ours)
        assert answer in ours
        assert {e.type for e in ours} >= {"Newchannel", "Hangup", "OriginateResponse"}
    index.close()


def test_a_command_by_its_id_stream_correlation_and_targets(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    t = "2026-11-22T15:33:07.000000+00:00"
    store.append([
        NewEvent("command/c-1", 0, "CommandRequested", t, "pbx1",
                 {"id": "c-1", "targets": ["u-1"], "action": {"Action": "Originate",
                                                               "ChannelId": "u-1"}},
                 None, "c-1"),
        NewEvent("ami/pbx1/s", 0, "Response", t, "pbx1",
                 {"Response": "Success", "ActionID": "cmd-c-1"}, "c-1", "c-1"),
        NewEvent("ami/pbx1/s", 1, "Newchannel", t, "pbx1",
                 {"Event": "Newchannel", "Uniqueid": "u-1", "Linkedid": "u-1",
                  "Channel": "Local/1@x-1;1"}),
        NewEvent("ami/pbx1/s", 2, "Newchannel", t, "pbx1",
                 {"Event": "Newchannel", "Uniqueid": "u-2", "Linkedid": "u-1",
                  "Channel": "Local/1@x-1;2"}),
        NewEvent("ami/pbx1/s", 3, "Newchannel", t, "pbx1",
                 {"Event": "Newchannel", "Uniqueid": "other", "Linkedid": "other"}),
        NewEvent("ami/pbx2/s", 0, "Newchannel", t, "pbx2",
                 {"Event": "Newchannel", "Uniqueid": "u-1", "Linkedid": "u-1"}),
        NewEvent("ami/pbx1/s", 4, "Hangup", t, "pbx1",
                 {"Event": "Hangup", "Uniqueid": "u-2", "Linkedid": "u-1", "Cause": "16"}),
        NewEvent("command/c-1", 1, "CommandSucceeded", t, "pbx1", {"status": 200}, None,
                 "c-1"),
    ])
    index = open_index(store.url)
    index.catch_up()
    with open_reader(store.url) as reader:
        timeline = build("c-1", index, reader)
    assert [e.position for e in timeline.events] == [1, 2, 3, 4, 7, 8]
    assert timeline.calls == ["pbx1/u-1"] and timeline.channels == ["pbx1/u-1", "pbx1/u-2"]
    index.close()
    store.close()


def test_keys_of_an_event() -> None:
    e = Event(1, "ami/pbx1/s", 0, "DialBegin", "2026-11-22T15:33:07+00:00", "pbx1",
              {"Uniqueid": "a", "Linkedid": "a", "DestUniqueid": "b", "DestLinkedid": "a",
               "BridgeUniqueid": "", "ActionID": ["x", "y"], "Channel": "PJSIP/1"}, "c", None)
    assert keys_of(e) == {"a", "b", "x", "y", "c"}
    own = Event(2, "dialing/d-9", 0, "DialingCreated", "2026-11-22T15:33:07+00:00", "",
                {"dialing": {"uuid": "d-9", "channel_id": "u-7"}, "status": "x"})
    assert keys_of(own) == {"d-9", "u-7"}


def test_the_index_is_incremental_and_knows_when(store_url: str) -> None:
    store = open_store(store_url)
    news = [e for p in CAPTURE_FILES for e in capture_events(p, p.stem)]
    store.append(news[:300])
    index = open_index(store.url)
    assert index.catch_up(size=64) == 300
    store.append(news[300:])
    assert index.catch_up() == len(news) - 300
    assert index.catch_up() == 0
    with open_reader(store.url) as reader:
        everything = list(reader.events())
    rows, _, _ = index_rows(everything, float("-inf"))
    for key in {k for k, _ in rows[:: max(len(rows) // 50, 1)]}:
        assert index.positions(key) == sorted(p for k, p in rows if k == key)
    # Captures were appended one after another with their own clocks: times go back and
    # forth; the answer is the longest stretch recorded at or before the time.
    from projections.base import recorded_time

    times = [recorded_time(e.recorded_at) for e in everything]
    for t in [times[0] - 1, times[0], times[10], times[400], max(times), max(times) + 1]:
        expected = 0
        for i, x in enumerate(times):
            if x > t:
                break
            expected = i + 1
        assert index.position_at(t, len(everything)) == expected, t
    index.close()
    store.close()


def test_text_and_jsonl_forms(log: Store) -> None:
    index = open_index(log.url)
    index.catch_up()
    with open_reader(log.url) as reader:
        linked = next(e.data["Linkedid"] for e in reader.events() if e.type == "Newchannel")
        timeline = build(linked, index, reader)
    text, lines = io.StringIO(), io.StringIO()
    write_text(timeline, text)
    write_jsonl(timeline, lines)
    assert text.getvalue().startswith(f"timeline of {linked}: {len(timeline.entries)} events")
    rows = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [r["position"] for r in rows] == [e.position for e in timeline.events]
    assert list(rows[0])[:3] == ["offset", "position", "stream"]
    index.close()
