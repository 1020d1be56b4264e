"""Asterisk's own answers are the oracle for channels, bridges and device states.

For every `CoreShowChannels`, `Status`, `BridgeList` and `DeviceStateList` answer of every
capture (both batches): log what the session had received when Asterisk began to answer
(earlier list answers included, the answer being checked never) into a real SQLite store, run
the projector (with its checkpoints), export the view through `export_view` as JSON lines (at
the answer's time: a channel's `duration` is comparable with its `Duration`), and
compare with Asterisk's answer (`tests.captures.check_answer`):
- channels: all an item says of every channel listed (name, state, caller ids, language,
  account, context, extension, priority, linked id, application and its data, bridge, age),
  nothing more, nothing less (`Status` filtered by `Channel:`: of that channel);
- bridges: every bridge, its type, technology, creator, name, video mode, number of channels;
- device states: the (device, state) of every device in Asterisk's cache, against the rows
  Asterisk would list (`cached`).
A row is excused only when an event about it arrives within 0.3 s after the answer began.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.store import open_store
from projections.runner import Projector
from replay.export import export_view
from tests.captures import BATCH2_FILES, VIEWS, Answer, all_answers, answers, check_answer

CHECKED = ("CoreShowChannels", "Status", "BridgeList", "DeviceStateList")
CASES = all_answers(CHECKED)


def _exported(tmp_path: Path, answer: Answer) -> dict[str, list[dict]]:
    logged = answer.before()
    assert all(e.data.get("ActionID") != answer.action_id for e in logged), \
        "the cut holds the answer being checked"
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    out: dict[str, list[dict]] = {}
    try:
        half = len(logged) // 2  # two appends and two catch-ups: resume from the checkpoint
        for part in (logged[:half], logged[half:]):
            store.append(part)
            with Projector(store, save_every=50) as projector:
                projector.catch_up()
                assert projector.errors == {}
        for view in VIEWS[answer.action]:
            file = tmp_path / f"{view}.jsonl"
            count = export_view(store, view, "jsonl", file, now=answer.began)
            out[view] = [json.loads(line) for line in file.read_text().splitlines()]
            assert len(out[view]) == count
    finally:
        store.close()
    return out


def test_there_is_something_to_check() -> None:
    assert {a.action for a in CASES} == set(CHECKED)
    assert {a.path for a in CASES} & set(BATCH2_FILES), "the second batch is checked too"


@pytest.mark.parametrize("answer", CASES, ids=lambda a: a.id)
def test_exported_view_matches_asterisks_answer(tmp_path: Path, answer: Answer) -> None:
    check_answer(answer, _exported(tmp_path, answer).__getitem__)


def _capture(tmp_path: Path, after: float, late: str) -> Path:
    """A session: channel a.1 is born ringing; Asterisk lists it up; the `Newstate` (Up) of
    channel `late` arrives `after` seconds after the answer began."""
    base = 1796674187.0

    def line(t: float, direction: str, *headers: str) -> str:
        wall = datetime.fromtimestamp(base + t, UTC).isoformat()
        return json.dumps({"t": t, "wall": wall, "dir": direction,
                           "raw": "\r\n".join(headers) + "\r\n\r\n"})

    channel = ("Channel: Local/1@c-1;1", "ChannelStateDesc: Up", "CallerIDNum: 1",
               "CallerIDName: One", "ConnectedLineNum: <unknown>",
               "ConnectedLineName: <unknown>", "Language: en", "AccountCode: ", "Context: c",
               "Exten: 1", "Priority: 1", "Uniqueid: a.1", "Linkedid: a.1")
    lines = [
        json.dumps({"t": 0.0, "wall": datetime.fromtimestamp(base, UTC).isoformat(),
                    "dir": "in", "raw": "Asterisk Call Manager/11.0.0\r\n"}),
        line(0.1, "in", "Event: Newchannel", *channel, "ChannelState: 4"),
        line(1.0, "out", "Action: CoreShowChannels", "ActionID: c-1"),
        line(1.0, "in", "Response: Success", "ActionID: c-1", "EventList: start"),
        line(1.0, "in", "Event: CoreShowChannel", "ActionID: c-1", *channel, "ChannelState: 6",
             "Application: ", "ApplicationData: ", "Duration: 00:00:00", "BridgeId: "),
        line(1.0, "in", "Event: CoreShowChannelsComplete", "ActionID: c-1", "ListItems: 1"),
        line(1.0 + after, "in", "Event: Newstate", f"Channel: Local/1@c-1;{late}",
             f"Uniqueid: {late}", "ChannelState: 6"),
    ]
    path = tmp_path / f"{late}-after-{after}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("after", "late", "excused"), [
    (0.1, "a.1", True), (0.29, "a.1", True), (0.5, "a.1", False), (0.1, "a.2", False)])
def test_a_row_is_excused_only_by_an_event_about_it_within_the_window(
        tmp_path: Path, after: float, late: str, excused: bool) -> None:
    (answer,) = answers(_capture(tmp_path, after, late), ["CoreShowChannels"])
    rows = _exported(tmp_path, answer).__getitem__
    assert rows("channels")[0]["channel_state"] == 4  # the projection: still ringing
    if excused:
        check_answer(answer, rows)
    else:
        with pytest.raises(AssertionError, match="channel a.1: Asterisk lists"):
            check_answer(answer, rows)
