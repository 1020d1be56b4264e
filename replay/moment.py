"""What a view looked like at a past moment: `export VIEW --at` and `GET /views/<view>?at=`.

A moment is a POSITION (an integer: the state after that event) or a TIME (ISO 8601 such as
`2026-11-22T15:33:07Z`, naive meaning UTC, or epoch seconds with a fraction such as
`1795361587.0`): the state after the longest stretch of the log recorded at or before it
(`replay.index.LogIndex.position_at`).

The state of one projection at position P starts from the closest recorded state at or below P
(a periodic snapshot, or the live checkpoint if it is not past P), then applies the events up to
P, reading only the event types the projection declares. On the way it writes the periodic
snapshots it passes that the log does not have yet (`replay.snapshots`), so the first question
about a long unsnapshotted log pays once and later ones are fast. Elapsed-time fields (a
channel's `duration`) are computed as of the moment itself: `now` is the time of event P.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType

from engine.values import parse_instant
from projections.base import Row, event_time
from projections.runner import MemoryCheckpoints, Projector
from replay.index import open_index
from replay.reader import LogReader, open_reader
from replay.rebuild import types_of, version_of
from replay.snapshots import Snapshots, due, live_checkpoint, open_snapshots

DEFAULT_INTERVAL = 50_000

_POSITION = re.compile(r"^[0-9]+$")


class MomentError(ValueError):
    pass


def parse_time(text: str) -> float:
    """A TIME as epoch seconds (ISO 8601, naive = UTC; or epoch seconds with a fraction,
    between 2000 and 3000)."""
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise MomentError(str(exc)) from None


def resolve(url: str, text: str, last: int | None = None) -> int:
    """The position a `--at` / `?at=` value names: a POSITION from 0 to the log's last, or a
    TIME (`parse_time`); anything else (empty, negative, a position past the end, a number
    that is neither) is a MomentError saying what is accepted."""
    if last is None:
        with open_reader(url) as reader:
            last = reader.last_position()
    text = text.strip()
    if not text:
        raise MomentError(f"give a position (0 to {last}) or a time (ISO 8601, e.g. "
                          "2026-11-22T15:33:07Z, or epoch seconds such as 1795361587.0)")
    if _POSITION.match(text):
        if len(text) > 19 or int(text) > last:
            raise MomentError(f"position {text[:24]} is past the end of the log (last: {last})")
        return int(text)
    try:
        t = parse_instant(text)
    except ValueError:
        raise MomentError(f"{text[:64]!r} is neither a position (an integer from 0 to {last}) "
                          "nor a time (ISO 8601, e.g. 2026-11-22T15:33:07Z, naive meaning UTC, "
                          "or epoch seconds from 2000, such as 1795361587.0)") from None
    index = open_index(url)
    try:
        index.catch_up(last)
        return min(index.position_at(t, last), last)
    finally:
        index.close()


@dataclass
class State:
    """A projection at a position, and where its replay started."""

    module: ModuleType
    projector: Projector
    position: int
    started_from: int  # the snapshot or checkpoint position it was built from (0: the start)
    applied: int  # events read to get there

    def rows(self, view: str, now: float) -> list[Row]:
        return self.projector.rows(view, now)


def state_at(url: str, module: ModuleType, position: int, reader: LogReader,
             snapshots: Snapshots | None = None, interval: int = DEFAULT_INTERVAL,
             use_checkpoint: bool = True) -> State:
    """One projection's state after `position` (see the module docstring). With `snapshots`,
    the periodic snapshots passed on the way are written to it."""
    name, version = module.NAME, version_of(module)
    own = snapshots is None
    snaps = open_snapshots(url) if own else snapshots
    try:
        start, blob = snaps.nearest(name, version, position) or 0, None
        live = live_checkpoint(url, name) if use_checkpoint else None
        if live is not None and live[1] == version and start < live[0] <= position:
            found = live_checkpoint(url, name, state=True)
            if found is not None and found[0] == live[0]:  # not moved on meanwhile
                start, blob = found[0], found[2]
        if blob is None and start:
            blob = snaps.load(name, version, start)
        memory = MemoryCheckpoints()
        if blob is not None:
            memory.rows[name] = (start, version, blob)
        projector = Projector(None, [module], read_only=True, checkpoints=memory)
        types = types_of([module])
        periodic = [p for p in due(interval, position) if p > start]
        stops = [*periodic, position] if position not in periodic else periodic
        after, applied = start, 0
        for stop in stops:
            for chunk in reader.chunks(after, stop, types):
                projector.apply(chunk)
                applied += len(chunk)
            after = stop
            if not own and stop in periodic:
                snaps.save(stop, [(name, version, projector.serialize(name))], "replay")
        return State(module, projector, position, start, applied)
    finally:
        if own:
            snaps.close()


def moment_time(reader: LogReader, position: int) -> float:
    """The time of the event at `position` (0 for an empty log)."""
    events = reader.at([position]) if position > 0 else []
    return event_time(events[0]) if events else 0.0


def view_module(view: str) -> ModuleType:
    from projections import VIEWS

    if view not in VIEWS:
        raise MomentError(f"unknown view {view!r}; views: {', '.join(sorted(VIEWS))}")
    return VIEWS[view][0]


@dataclass
class ViewAt:
    view: str
    position: int
    time: float
    rows: list[Row]
    started_from: int
    applied: int


def view_at(url: str, view: str, at: str | int, *, interval: int = DEFAULT_INTERVAL,
            write_snapshots: bool = True, now: float | None = None) -> ViewAt:
    """The rows of `view` at a moment (a position, or a `--at` text)."""
    module = view_module(view)
    with open_reader(url) as reader:
        last = reader.last_position()
        position = min(at, last) if isinstance(at, int) else resolve(url, at, last)
        position = max(position, 0)
        snapshots = open_snapshots(url) if write_snapshots else None
        try:
            state = state_at(url, module, position, reader, snapshots, interval)
        finally:
            if snapshots is not None:
                snapshots.close()
        t = moment_time(reader, position)
        rows = state.rows(view, t if now is None else now)
    return ViewAt(view, position, t, rows, state.started_from, state.applied)
