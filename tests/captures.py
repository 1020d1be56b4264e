"""Helpers over the real AMI captures: cut a session where an action was sent, find Asterisk's
recorded answer to it, turn envelopes into positioned events for in-memory projection."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.capture import action_times, capture_events
from engine.envelope import Event, NewEvent

CAPTURES = Path(__file__).resolve().parents[2] / "shared" / "ami-captures"
if not CAPTURES.exists():
    CAPTURES = Path(os.environ.get("SWITCHBOARD_CAPTURES", "../shared/ami-captures")).resolve()
CAPTURE_FILES = sorted(CAPTURES.glob("*.jsonl"))
SERVER = "capture"


@dataclass(frozen=True)
class ListAction:
    path: Path
    t: float
    action: str
    action_id: str

    @property
    def id(self) -> str:
        return f"{self.path.stem}:{self.action_id}"


def list_actions(path: Path, names: Iterable[str]) -> list[ListAction]:
    wanted = set(names)
    return [
        ListAction(path, t, headers["Action"], headers.get("ActionID", ""))
        for t, headers in action_times(path)
        if headers.get("Action") in wanted
    ]


def all_list_actions(names: Iterable[str]) -> list[ListAction]:
    names = list(names)
    return [a for path in CAPTURE_FILES for a in list_actions(path, names)]


def envelopes(path: Path, until: float | None = None) -> list[NewEvent]:
    """What a live session had logged by time `until` (every inbound message with t <= until)."""
    return list(capture_events(path, SERVER, until))


def answer(path: Path, action_id: str, item_type: str) -> list[dict]:
    """The items of Asterisk's recorded answer to one action (events carrying its ActionID)."""
    return [
        e.data for e in capture_events(path, SERVER)
        if e.type == item_type and e.data.get("ActionID") == action_id
    ]


def positioned(news: Iterable[NewEvent], start: int = 1) -> list[Event]:
    """Envelopes as the log would hand them back, positions from `start`."""
    return [
        Event(start + i, n.stream, n.version, n.type, n.recorded_at, n.server, n.data,
              n.causation_id, n.correlation_id)
        for i, n in enumerate(news)
    ]


def all_capture_events() -> list[Event]:
    """Every capture, one after another, as one log (a server per file)."""
    out: list[NewEvent] = []
    for path in CAPTURE_FILES:
        out.extend(capture_events(path, path.stem))
    return positioned(out)
