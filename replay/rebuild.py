"""Rebuild projection states from the log, fast, without touching the live ones.

A rebuild replays the log from position 0 into fresh in-memory projections (`Projector` with no
checkpoints), reading with `replay.reader` (one read transaction, small chunks, msgspec). It can
stop at given positions on the way (`stops`) to compare the states there with recorded ones (the
live checkpoints, the periodic snapshots: `replay verify`) or to write snapshots
(`replay.snapshots`).

Projections are independent folds over the same events, so a large rebuild (`PARALLEL_MIN`
events or more) is split into groups that run in parallel processes (`replay.workers`, default
one per core, at most 4), each reading the log itself. The groups are planned from a measurement
on the first events (`plan`): what each projection costs per event, and what reading costs a
group, which reads only the event types its projections declare (`EVENT_TYPES`) when all of
them declare some, or else skips those they all ignore (`IGNORED_TYPES`). On one core almost
two thirds of a replay is applying, so only more cores make it much faster; where the cores are
not really free (a shared VM) one process wins, so by default a rebuild uses only the cores
found idle while it measures (`spare_cores`); `replay.workers` sets the number instead.

`rebuild` then `write_states` is `switchboard replay rebuild`: the states land in a separate
SQLite file, in a `switchboard_projections` table of the same shape as the live one, so a rebuilt
file can be inspected, diffed, or (engine stopped) copied over the live table.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from engine.envelope import UNREADABLE, Event
from engine.store import sqlite_path
from projections.runner import Projector, SQLiteCheckpoints
from replay.reader import open_reader

PARALLEL_MIN = 150_000  # events: below this, starting processes costs more than it saves
SAMPLE = 5_000  # events measured to plan the groups (and to see which cores are free)
FREE = 0.75  # of a core: idle this much beside the measurement, and one more process pays


def modules_by_name() -> dict[str, ModuleType]:
    from projections import PROJECTIONS

    return {m.NAME: m for m in PROJECTIONS}


def select(names: Sequence[str] | None) -> list[ModuleType]:
    """The registered projections named (all when None); an unknown name is a ValueError."""
    known = modules_by_name()
    if not names:
        return list(known.values())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown projection {unknown[0]!r}; projections: "
                         f"{', '.join(known)}")
    return [known[n] for n in names]


def version_of(module: ModuleType) -> int:
    return getattr(module, "VERSION", 1)


def types_of(modules: Sequence[ModuleType]) -> frozenset[str] | None:
    """The event types a group must read: None (all) unless every module declares its own."""
    declared = [getattr(m, "EVENT_TYPES", None) for m in modules]
    if any(d is None for d in declared):
        return None
    return frozenset().union(*declared)


def skipped_of(modules: Sequence[ModuleType]) -> frozenset[str]:
    """The event types a group that reads every type (`types_of` is None) need not read: those
    every module ignores, by declaring `IGNORED_TYPES` or `EVENT_TYPES` without them."""
    ignored: frozenset[str] | None = None
    declared: set[str] = set()
    for module in modules:
        types = getattr(module, "EVENT_TYPES", None)
        if types is not None:
            declared |= types
            continue
        mine = getattr(module, "IGNORED_TYPES", frozenset())
        ignored = mine if ignored is None else ignored & mine
    return (ignored or frozenset()) - declared


def digest(state: bytes) -> str:
    return hashlib.sha256(state).hexdigest()


# ------------------------------------------------------------------------------ one job

@dataclass(frozen=True)
class Job:
    """One replay of some projections, from position 0: plain data, so it can cross to a child
    process. At each of `stops` (and at `until`) the states are compared with `expected`
    (name -> position -> sha256 of a recorded state) and written as snapshots where
    `snapshot_at` says so."""

    url: str
    names: tuple[str, ...]
    until: int
    stops: tuple[int, ...] = ()
    expected: dict[str, dict[int, str]] = field(default_factory=dict)
    snapshot_at: tuple[int, ...] = ()
    tune_gc: bool = False


# Rows no envelope could be decoded from: position -> (the row's type, why), every one a
# replay met (`engine.envelope.UNREADABLE`).
Unreadable = dict[int, tuple[str, str]]


def unreadable_in(events: Sequence[Event], found: Unreadable) -> None:
    """Note the `Unreadable` stand-ins among `events` in `found`."""
    for event in events:
        if event.type == UNREADABLE:
            found[event.position] = (str(event.data.get("stored_type")),
                                     str(event.data.get("error")))


@dataclass
class JobResult:
    names: tuple[str, ...]
    states: dict[str, bytes]
    events: int  # events read and applied (a filtered group reads fewer than the log holds)
    seconds: float
    errors: dict[str, dict[str, int]]
    malformed: int
    compared: dict[str, list[tuple[int, bool]]]  # name -> [(position, equal to expected)]
    unreadable: Unreadable = field(default_factory=dict)


def run_job(job: Job, on_stop: Callable[[int], None] | None = None) -> JobResult:
    """Replay one group in this process; `on_stop(position)` after each stop."""
    from replay.snapshots import open_snapshots

    modules = select(job.names)
    types = types_of(modules)
    skipped = skipped_of(modules) if types is None else frozenset()
    projector = Projector(None, modules, persist=False)
    stops = sorted({p for p in (*job.stops, *job.snapshot_at) if 0 <= p < job.until}
                   | {job.until})
    snapshot_at = set(job.snapshot_at)
    compared: dict[str, list[tuple[int, bool]]] = {name: [] for name in job.names}
    unreadable: Unreadable = {}
    saved = _tune_gc() if job.tune_gc else None
    start = time.perf_counter()
    count = 0
    snapshots = None
    try:
        with open_reader(job.url) as reader:
            after = 0
            for stop in stops:
                for chunk in reader.chunks(after, stop, types, exclude=skipped):
                    projector.apply(chunk)
                    unreadable_in(chunk, unreadable)
                    count += len(chunk)
                after = stop
                for name in job.names:
                    want = job.expected.get(name, {}).get(stop)
                    if want is not None:
                        compared[name].append((stop, digest(projector.serialize(name)) == want))
                if on_stop is not None:
                    on_stop(stop)
                if stop in snapshot_at:
                    if snapshots is None:
                        snapshots = open_snapshots(job.url)
                    snapshots.save(stop, [(m.NAME, version_of(m), projector.serialize(m.NAME))
                                          for m in modules], source="replay")
        states = {name: projector.serialize(name) for name in job.names}
    finally:
        if snapshots is not None:
            snapshots.close()
        if saved is not None:
            _restore_gc(saved)
    return JobResult(job.names, states, count, time.perf_counter() - start, projector.errors,
                     projector.malformed, compared, unreadable)


def _tune_gc() -> tuple[int, int, int]:
    """A replay allocates a dict per event and keeps few: collect young objects rarely (as
    `engine.runtime.tune_gc` does for ingestion), and never look at what existed before (no
    collection first: in a forked child it would touch, hence copy, every inherited page)."""
    saved = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    return saved


def _restore_gc(saved: tuple[int, int, int]) -> None:
    gc.set_threshold(*saved)
    gc.unfreeze()


# ------------------------------------------------------------------------------ planning

@dataclass(frozen=True)
class Cost:
    """Measured on a sample: seconds per event to read+decode, to apply each projection, and
    the share of events of each type."""

    read: float
    apply: dict[str, float]
    type_share: dict[str, float]

    def group(self, modules: Sequence[ModuleType]) -> float:
        types = types_of(modules)
        if types is None:
            share = 1.0 - sum(self.type_share.get(t, 0.0) for t in skipped_of(modules))
        else:
            share = sum(self.type_share.get(t, 0.0) for t in types)
        return self.read * share + sum(self.apply[m.NAME] for m in modules)


def measure(url: str, modules: Sequence[ModuleType], sample: int = SAMPLE) -> Cost:
    """Costs on the first `sample` events (about 0.1 s), in CPU time: on a busy machine wall
    time would charge whichever projection was preempted, and plan lopsided groups."""
    with open_reader(url) as reader:
        start = time.process_time()
        events = [e for chunk in reader.chunks(0, sample) for e in chunk]
        read = (time.process_time() - start) / max(len(events), 1)
    counts: dict[str, int] = {}
    for e in events:
        counts[e.type] = counts.get(e.type, 0) + 1
    apply: dict[str, float] = {}
    for module in modules:
        alone = Projector(None, [module], persist=False)
        start = time.process_time()
        alone.apply(events)
        apply[module.NAME] = (time.process_time() - start) / max(len(events), 1)
    n = max(len(events), 1)
    return Cost(read, apply, {t: c / n for t, c in counts.items()})


def _can_fork() -> bool:
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


def plan(modules: Sequence[ModuleType], cost: Cost, workers: int) -> list[list[ModuleType]]:
    """Split the projections into at most `workers` groups so that the slowest group is as
    fast as it can be: the most expensive projection first, each into the group where the
    slowest group ends up fastest (reading included: joining a group that already reads every
    event costs only the applying)."""
    groups: list[list[ModuleType]] = [[] for _ in range(max(workers, 1))]
    for module in sorted(modules, key=lambda m: -cost.apply[m.NAME]):
        def after(i: int, module: ModuleType = module) -> tuple[float, float]:
            costs = [cost.group([*g, module] if j == i else g) if (g or j == i) else 0.0
                     for j, g in enumerate(groups)]
            return max(costs), sum(costs)

        best = min(range(len(groups)), key=after)
        groups[best].append(module)
    return [g for g in groups if g]


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def cpu_ticks() -> tuple[int, int] | None:
    """The machine's (idle, all) CPU time so far, in ticks (`/proc/stat`); None elsewhere."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return ticks[3] + ticks[4], sum(ticks)  # idle + iowait; user ... steal


def spare_cores(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float:
    """Cores left idle between two `cpu_ticks` (while this process kept one busy measuring).

    Each group of a parallel rebuild reads and decodes the log itself, so two processes do
    about 1.3 times the work of one: on a machine whose other core is busy (other work, a
    noisy neighbour on a shared VM) they finish later than one process alone. Unknown (no
    `/proc/stat`, too short a wait): every core counts as spare, as before."""
    cores = os.cpu_count() or 1
    if before is None or after is None or after[1] - before[1] < 10:
        return float(cores - 1)
    return (after[0] - before[0]) / (after[1] - before[1]) * cores


# ------------------------------------------------------------------------------ many jobs

@dataclass
class Rebuilt:
    """All states at `position`, and what the run saw."""

    position: int
    states: dict[str, bytes]
    versions: dict[str, int]
    events: int  # the log's events up to `position`
    seconds: float
    groups: list[tuple[str, ...]]
    errors: dict[str, dict[str, int]]
    malformed: int
    compared: dict[str, list[tuple[int, bool]]]
    unreadable: Unreadable = field(default_factory=dict)  # every one the groups read

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def rebuild(url: str, names: Sequence[str] | None = None, until: int | None = None, *,
            stops: Sequence[int] = (), expected: dict[str, dict[int, str]] | None = None,
            snapshot_at: Sequence[int] = (), workers: int | None = None,
            tune_gc: bool = False, progress: Callable[[int], None] | None = None,
            parallel_min: int = PARALLEL_MIN) -> Rebuilt:
    """Replay the log of `url` from position 0 to `until` (default: its end) into fresh states
    of the named projections (default: all), in `workers` parallel groups from
    `parallel_min` events on (default: one per core that is free now, see `spare_cores`)."""
    modules = select(names)
    with open_reader(url) as reader:
        last = reader.last_position()
    position = last if until is None else max(0, min(until, last))
    chosen = workers
    workers = default_workers() if workers is None else workers
    start = time.perf_counter()
    groups = [modules]
    if workers > 1 and position >= parallel_min and len(modules) > 1:
        before = cpu_ticks()
        cost = measure(url, modules)
        if chosen is None:  # the default: only the cores that are free now
            workers = min(workers, 1 + int(spare_cores(before, cpu_ticks()) + 1 - FREE))
        if workers > 1:
            groups = plan(modules, cost, workers)
    jobs = [
        Job(url, tuple(m.NAME for m in g), position, tuple(stops),
            {m.NAME: (expected or {}).get(m.NAME, {}) for m in g}, tuple(snapshot_at), tune_gc)
        for g in groups
    ]
    results = _run(jobs, progress, position)
    seconds = time.perf_counter() - start
    states: dict[str, bytes] = {}
    errors: dict[str, dict[str, int]] = {}
    compared: dict[str, list[tuple[int, bool]]] = {}
    unreadable: Unreadable = {}
    for result in results:
        states.update(result.states)
        errors.update(result.errors)
        compared.update(result.compared)
        unreadable.update(result.unreadable)
    return Rebuilt(position, {m.NAME: states[m.NAME] for m in modules},
                   {m.NAME: version_of(m) for m in modules}, position, seconds,
                   [j.names for j in jobs], errors, max(r.malformed for r in results), compared,
                   dict(sorted(unreadable.items())))


def _run(jobs: list[Job], progress: Callable[[int], None] | None, total: int
         ) -> list[JobResult]:
    """The first job here, the others in child processes (fork when this process has no other
    thread that a fork would copy in a bad state, else spawn)."""
    if len(jobs) == 1:
        return [_reporting(jobs[0], progress, total)]
    method = "fork" if _can_fork() else "spawn"
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=len(jobs) - 1, mp_context=context) as pool:
        futures: list[Future[JobResult]] = [pool.submit(run_job, job) for job in jobs[1:]]
        first = _reporting(jobs[0], progress, total)
        return [first, *(f.result() for f in futures)]


def _reporting(job: Job, progress: Callable[[int], None] | None, total: int) -> JobResult:
    """Run a job here; with `progress`, it also stops every 2% of the log to report."""
    if progress is None:
        return run_job(job)
    step = max(total // 50, 1)
    job = Job(job.url, job.names, job.until, (*job.stops, *range(step, total, step)),
              job.expected, job.snapshot_at, job.tune_gc)
    return run_job(job, progress)


# ------------------------------------------------------------------------------ to a file

def default_target(url: str) -> Path:
    """Beside an SQLite log (`switchboard.db` -> `switchboard.rebuild.db`), else in the
    current directory."""
    path = sqlite_path(url)
    if path is None:
        return Path("switchboard.rebuild.db")
    p = Path(path)
    return p.with_name(p.stem + ".rebuild" + (p.suffix or ".db"))


def write_states(target: Path, rebuilt: Rebuilt) -> None:
    """The rebuilt states as checkpoint rows in `target`'s `switchboard_projections`."""
    checkpoints = SQLiteCheckpoints(str(target))
    try:
        checkpoints.save([(name, rebuilt.position, rebuilt.versions[name], state)
                          for name, state in rebuilt.states.items()])
    finally:
        checkpoints.close()
