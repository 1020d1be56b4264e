"""Asterisk's own answers are the oracle for channels and device states.

For every `CoreShowChannels` and `DeviceStateList` action of every capture: log what the session
had received when the action was sent (earlier list answers included, the answer being checked
never: it arrives later) into a real SQLite store, run the projector (with its checkpoints),
export the view through `export_view` as JSON lines, and compare with Asterisk's answer
(`tests.captures.check_answer`):
- channels: the (channel, channel_state) of every `CoreShowChannel` item, nothing more, nothing
  less;
- device states: the (device, state) of every `DeviceStateChange` item for a device the session
  had heard of by then, against the rows Asterisk would list: the cached ones (`cached`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.store import open_store
from projections.runner import Projector
from replay.export import export_view
from tests.captures import (
    CAPTURE_FILES,
    ListAction,
    all_list_actions,
    answer_items,
    check_answer,
    envelopes,
)

VIEW = {"CoreShowChannels": "channels", "DeviceStateList": "device-states"}
CASES = all_list_actions(VIEW)


def _exported(tmp_path: Path, action: ListAction, view: str) -> tuple[list[dict], list]:
    logged = envelopes(action.path, action.t)
    assert all(e.data.get("ActionID") != action.action_id for e in logged), \
        "the cut holds the answer being checked"
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        half = len(logged) // 2  # two appends and two catch-ups: resume from the checkpoint
        for part in (logged[:half], logged[half:]):
            store.append(part)
            with Projector(store, save_every=50) as projector:
                projector.catch_up()
                assert projector.errors == {}
        out = tmp_path / f"{view}.jsonl"
        count = export_view(store, view, "jsonl", out)
    finally:
        store.close()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == count
    return rows, logged


def test_there_is_something_to_check() -> None:
    assert CAPTURE_FILES, "no captures found"
    assert {a.action for a in CASES} == {"CoreShowChannels", "DeviceStateList"}


@pytest.mark.parametrize("action", CASES, ids=lambda a: f"{a.action}-{a.id}")
def test_exported_view_matches_asterisks_answer(tmp_path: Path, action: ListAction) -> None:
    view = VIEW[action.action]
    rows, logged = _exported(tmp_path, action, view)
    heard_of = {e.data["Device"] for e in logged if e.type == "DeviceStateChange"}
    check_answer(action.action, answer_items(action.path, action.action_id),
                 {view: rows}.__getitem__, heard_of)
