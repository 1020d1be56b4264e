"""`switchboard replay verify`: is the log intact, and do the live projections follow from it?

Two independent checks:

1. The hash chain (`engine.store.base.first_broken_link`): every append batch is a link hashed
   over its events' stored bytes and the previous link, so a changed, removed or reordered event
   breaks its link and every later one. The first broken link is reported with its positions and
   why it broke (positions missing, bytes changed, a link removed, events outside the chain).
   One hash per batch cannot say which event of a changed batch was changed; a removed one is
   named exactly.

2. The projections: every projection is rebuilt from position 0 and compared, byte for byte,
   with every state recorded for it: the live checkpoint (`switchboard_projections`) and the
   periodic snapshots (`switchboard_snapshots`, written by the live engine or by replays).

Where did they diverge? Only the recorded states are known, so the divergence is first
*bracketed*: it happened after `agrees_at` (the last recorded state equal to the rebuild, or 0)
and at or before `differs_at` (the first one that differs). Within the bracket it is then
*located*: the differing parts of the state are found (paths such as
`closed/pbx1/1795.12/hangup_cause`), the bracket is replayed once more, and for each part the
last position at which the rebuild changed it is noted. From there on nothing in the log changes
that part any more, so the recorded state implies it held the recorded value since, while the
rebuild holds another: the states provably differ from that position. The earliest such
position over all parts is reported, with its event. Two findings of the chain check refine it:
an event removed inside the bracket is where the recorded history and the log part (it is
reported when it comes first, and it is what explains a part no remaining event changed); and
positions before a broken link are proven to be as appended, so a part that no event explains
is dated at the broken link's first position (else at the start of the bracket). Frequent
snapshots (`replay.snapshot_interval`) keep the bracket short: the answer is sharper and the
second replay cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import msgspec

from engine.plural import plural
from engine.store import Store
from engine.store.base import GENESIS, ChainLink, walk_chain
from projections.runner import MemoryCheckpoints, Projector
from replay.reader import LogReader, open_reader
from replay.rebuild import (
    Rebuilt,
    Unreadable,
    digest,
    rebuild,
    select,
    skipped_of,
    types_of,
    unreadable_in,
    version_of,
)
from replay.snapshots import code_fingerprint, open_live_checkpoints, open_snapshots

MAX_PATHS = 64  # differing parts tracked through the bracket
SHOWN_PATHS = 10

_decoder = msgspec.json.Decoder(dict)
_encoder = msgspec.json.Encoder()
_MISSING = object()


# ------------------------------------------------------------------------------ chain

@dataclass
class ChainReport:
    broken: ChainLink | None
    reason: str = ""
    missing: list[int] = field(default_factory=list)  # positions absent from the broken link
    links: int = 0  # links found intact (all of them when `ok`)

    @property
    def ok(self) -> bool:
        return self.broken is None


def check_chain(store: Store, progress: Callable[[int], None] | None = None) -> ChainReport:
    link, intact = walk_chain(store, progress)
    if link is None:
        return ChainReport(None, links=intact)
    report = explain_break(store, link)
    report.links = intact
    return report


def _link_before(store: Store, link: ChainLink) -> ChainLink | None:
    """The link stored just before `link` (by last position), if any."""
    previous, after = None, 0
    while True:
        links = store.chain(after)
        for candidate in links:
            if candidate.last_position >= link.last_position:
                return previous
            previous = candidate
        if not links:
            return previous
        after = links[-1].last_position


def explain_break(store: Store, link: ChainLink) -> ChainReport:
    """Why a link is broken, in words, with the positions that are gone."""
    first, last = link.first_position, link.last_position
    if not link.hash:
        return ChainReport(link, f"positions {first}-{last} are covered by no link: appended "
                                 "outside the store")
    present = {r[0] for r in store.read_raw(first - 1, 1_000_000, last)}
    missing = [p for p in range(first, last + 1) if p not in present]
    before = _link_before(store, link)
    expected_first = before.last_position + 1 if before else 1
    if missing:
        where = "position" if len(missing) == 1 else "positions"
        reason = f"{plural(len(missing), 'event')} removed: {where} {_ranges(missing)}"
    elif first > expected_first:
        reason = f"a link was removed: no link covers positions {expected_first}-{first - 1}"
    elif first < expected_first:
        reason = f"the link overlaps the one before it (which ends at {expected_first - 1})"
    elif link.prev_hash != (before.hash if before else GENESIS):
        reason = "the link does not chain to the one before it (a link was changed)"
    else:
        reason = (f"the stored bytes of an event in positions {first}-{last} differ from what "
                  "was appended (changed or reordered)")
    return ChainReport(link, reason, missing)


def _ranges(positions: list[int]) -> str:
    out: list[str] = []
    start = prev = positions[0]
    for p in positions[1:] + [None]:  # type: ignore[list-item]
        if p is not None and p == prev + 1:
            prev = p
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if p is not None:
            start = prev = p
    return ", ".join(out)


# ------------------------------------------------------------------------------ recorded states

@dataclass(frozen=True)
class Recorded:
    """A state recorded for a projection at a position: the checkpoint or a snapshot."""

    name: str
    position: int
    source: str  # "checkpoint", "snapshot (live)", "snapshot (replay)"
    digest: str


def recorded_states(url: str, names: list[str]) -> tuple[list[Recorded], list[str]]:
    """Every comparable recorded state, and notes on those skipped (another VERSION)."""
    versions = {m.NAME: version_of(m) for m in select(names)}
    out: list[Recorded] = []
    notes: list[str] = []
    checkpoints = open_live_checkpoints(url)
    try:
        for name, (position, version, state) in checkpoints.load().items():
            if name not in versions:
                continue
            if version != versions[name]:
                notes.append(f"{name}: checkpoint of version {version}, code is version "
                             f"{versions[name]}: not compared")
                continue
            out.append(Recorded(name, position, "checkpoint", digest(state)))
    finally:
        checkpoints.close()
    snapshots = open_snapshots(url)
    try:
        for info in snapshots.list():
            if info.name not in versions or info.version != versions[info.name]:
                continue
            state = snapshots.load(info.name, info.version, info.position)
            if state is not None:
                out.append(Recorded(info.name, info.position, f"snapshot ({info.source})",
                                    digest(state)))
        others = [i for i in snapshots.list(every_code=True)
                  if i.name in versions and i.code != code_fingerprint()]
        if others:
            notes.append(f"{plural(len(others), 'snapshot')} written by other projection code (a "
                         "change without a VERSION bump?): not compared, not used")
    finally:
        snapshots.close()
    return out, notes


def recorded_bytes(url: str, rec: Recorded) -> bytes:
    if rec.source == "checkpoint":
        checkpoints = open_live_checkpoints(url)
        try:
            return checkpoints.load()[rec.name][2]
        finally:
            checkpoints.close()
    module = select([rec.name])[0]
    snapshots = open_snapshots(url)
    try:
        state = snapshots.load(rec.name, version_of(module), rec.position)
    finally:
        snapshots.close()
    assert state is not None
    return state


# ------------------------------------------------------------------------------ locating

@dataclass
class Divergence:
    projection: str
    agrees_at: int  # last recorded state equal to the rebuild (0: the empty start)
    differs_at: int  # first recorded state that differs
    recorded: str  # what differs there: checkpoint or snapshot
    first_position: int  # the first position at which the states provably differ
    first_event: str  # that event, as "type stream#version" ("" if it was removed)
    why: str  # how that position was found
    paths: list[tuple[str, Any, Any]]  # (path, recorded value, rebuilt value), the first few
    differing_parts: int

    @property
    def explained(self) -> bool:
        """An event of the log changed the differing part there (not a removed event, not a
        value no event accounts for)."""
        return self.why.startswith("last change")


def diff_paths(recorded: Any, rebuilt: Any, path: tuple[str, ...] = (),
               out: list[tuple[str, ...]] | None = None, limit: int = 1000
               ) -> list[tuple[str, ...]]:
    """Paths (dict keys, top down) where two states differ: a key on one side only, or a
    value that is not a dict on both sides and differs."""
    out = [] if out is None else out
    if isinstance(recorded, dict) and isinstance(rebuilt, dict):
        for key in [*recorded, *(k for k in rebuilt if k not in recorded)]:
            if len(out) >= limit:
                break
            if key not in recorded or key not in rebuilt:
                out.append((*path, key))
            elif recorded[key] != rebuilt[key]:
                diff_paths(recorded[key], rebuilt[key], (*path, key), out, limit)
    elif recorded != rebuilt:
        out.append(path)
    return out


def value_at(state: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(state, dict) or key not in state:
            return _MISSING
        state = state[key]
    return state


def _shown(value: Any) -> Any:
    if value is _MISSING:
        return "(absent)"
    text = _encoder.encode(value).decode()
    return value if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True)
class Located:
    first: int
    why: str
    paths: list[tuple[str, Any, Any]]
    parts: int


def locate(name: str, agrees_at: int, agreed: bytes | None, differs_at: int, recorded: bytes,
           reader: LogReader, chain: ChainReport | None = None) -> Located:
    """Where, between `agrees_at` (the rebuild equals `agreed` there) and `differs_at` (it does
    not equal `recorded`), the divergence begins (see the module docstring). A broken `chain`
    narrows it: positions before the broken link are proven as appended, and a removed position
    inside the bracket is where the recorded history and the log part."""
    module = select([name])[0]
    types = types_of([module])
    skipped = skipped_of([module])

    def fresh() -> Projector:
        memory = MemoryCheckpoints()
        if agreed is not None:
            memory.rows[name] = (agrees_at, version_of(module), agreed)
        return Projector(None, [module], read_only=True, checkpoints=memory)

    projector = fresh()
    for chunk in reader.chunks(agrees_at, differs_at, types, exclude=skipped):
        projector.apply(chunk)
    live = _decoder.decode(recorded)
    rebuilt = _decoder.decode(projector.serialize(name))
    paths = diff_paths(live, rebuilt)
    tracked = paths[:MAX_PATHS]
    shown = [("/".join(p), _shown(value_at(live, p)), _shown(value_at(rebuilt, p)))
             for p in paths[:SHOWN_PATHS]]

    projector = fresh()
    state = projector.state(name)
    last = [_encoder.encode(v) if (v := value_at(state, p)) is not _MISSING else None
            for p in tracked]
    changed: list[int | None] = [None] * len(tracked)
    for chunk in reader.chunks(agrees_at, differs_at, types, exclude=skipped):
        for event in chunk:
            projector.apply((event,))
            state = projector.state(name)
            for i, p in enumerate(tracked):
                v = value_at(state, p)
                now = _encoder.encode(v) if v is not _MISSING else None
                if now != last[i]:
                    last[i] = now
                    changed[i] = event.position

    candidates: list[tuple[int, str]] = []
    explained = [c for c in changed if c is not None]
    if explained:
        candidates.append((min(explained), "last change, in the rebuild, of a differing part"))
    removed = [m for m in (chain.missing if chain else []) if agrees_at < m <= differs_at]
    if removed:
        candidates.append((removed[0], "an event removed from the log"))
    if (len(explained) < len(tracked) or not tracked) and not removed:
        earliest = agrees_at + 1
        if chain is not None and chain.broken is not None \
                and agrees_at < chain.broken.first_position <= differs_at:
            earliest = chain.broken.first_position
        candidates.append((earliest, "no event of the log explains the recorded value: the "
                                     "earliest position not proven intact"))
    first, why = min(candidates)
    return Located(first, why, shown, len(paths))


# ------------------------------------------------------------------------------ the whole check

@dataclass
class VerifyReport:
    position: int  # the log's last position when verified
    chain: ChainReport
    compared: list[tuple[Recorded, bool]]
    notes: list[str]
    divergences: list[Divergence]
    rebuilt: Rebuilt
    unreadable: Unreadable = field(default_factory=dict)  # every row no envelope comes from
    projections: list[str] = field(default_factory=list)  # those rebuilt and compared

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.divergences and not self.unreadable

    @property
    def first_divergence(self) -> Divergence | None:
        return min(self.divergences, key=lambda d: d.first_position, default=None)


def unread_rows(groups: Sequence[Sequence[ModuleType]]
                ) -> tuple[frozenset[str] | None, frozenset[str]] | None:
    """The filter (`types`, `exclude`) of `LogReader.chunks` that reads the rows none of a
    rebuild's groups read (each reads only the types its projections want); None when they
    read every row. `verify` reads those too, to name every row that cannot be decoded: a
    row of a type no projection wants is still a row of the log."""
    typed: set[str] = set()
    skipped: frozenset[str] | None = None
    for group in groups:
        types = types_of(group)
        if types is not None:
            typed |= types
            continue
        mine = skipped_of(group)
        if not mine:
            return None
        skipped = mine if skipped is None else skipped & mine
    if skipped is None:
        return None, frozenset(typed)
    rest = skipped - typed
    return (frozenset(rest), frozenset()) if rest else None


def verify(store: Store, names: list[str] | None = None, workers: int | None = None,
           tune_gc: bool = False, chain_progress: Callable[[int], None] | None = None,
           progress: Callable[[int], None] | None = None) -> VerifyReport:
    """The hash chain (`chain_progress(position)` along it), then every chosen projection
    rebuilt from position 0 and compared with its recorded states (`progress(position)`
    along the rebuild), and every row that cannot be decoded named."""
    url = store.url
    modules = select(names)
    chosen = [m.NAME for m in modules]
    chain = check_chain(store, chain_progress)
    recorded, notes = recorded_states(url, chosen)
    expected: dict[str, dict[int, str]] = {}
    for rec in recorded:
        expected.setdefault(rec.name, {})[rec.position] = rec.digest
    stops = sorted({rec.position for rec in recorded})
    result = rebuild(url, chosen, stops=stops, expected=expected, workers=workers,
                     tune_gc=tune_gc, progress=progress)
    unreadable = dict(result.unreadable)
    rest = unread_rows([select(list(group)) for group in result.groups])
    equal = {(name, pos): ok for name, pairs in result.compared.items() for pos, ok in pairs}
    compared = [(rec, equal.get((rec.name, rec.position), False)) for rec in
                sorted(recorded, key=lambda r: (r.name, r.position, r.source))
                if rec.position <= result.position]
    for rec in recorded:
        if rec.position > result.position:
            notes.append(f"{rec.name}: {rec.source} at {rec.position} is past the end of the "
                         f"log ({result.position}): restored from another log?")
    divergences: list[Divergence] = []
    with open_reader(url) as reader:
        if rest is not None:
            for chunk in reader.chunks(0, result.position, rest[0], exclude=rest[1]):
                unreadable_in(chunk, unreadable)
        for name in chosen:
            mine = [(rec, ok) for rec, ok in compared if rec.name == name]
            bad = next(((rec, ok) for rec, ok in mine if not ok), None)
            if bad is None:
                continue
            agree = max((rec for rec, ok in mine if ok and rec.position < bad[0].position),
                        key=lambda r: r.position, default=None)
            agreed = recorded_bytes(url, agree) if agree is not None else None
            a = agree.position if agree is not None else 0
            found = locate(name, a, agreed, bad[0].position, recorded_bytes(url, bad[0]),
                           reader, chain)
            events = reader.at([found.first])
            text = f"{events[0].type} {events[0].stream}#{events[0].version}" if events else ""
            divergences.append(Divergence(name, a, bad[0].position, bad[0].source, found.first,
                                          text, found.why, found.paths, found.parts))
    return VerifyReport(result.position, chain, compared, notes, divergences, result,
                        dict(sorted(unreadable.items())), chosen)
