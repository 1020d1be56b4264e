"""The log's interface: one ordered, append-only sequence of envelopes.

SQLite (`sqlite.py`) and PostgreSQL (`postgres.py`) implement it on the eventsourcing library's
application recorders: `stream` is the originator id, `version` the originator version, `type` the
topic, the rest of the envelope the state, and the recorder's notification id is the global
`position`. The (stream, version) primary key is what makes a re-delivered message a duplicate.
"""

from __future__ import annotations

import hashlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from engine.envelope import EnvelopeError, Event, NewEvent, decode_event, encode_checked

GENESIS = "0" * 64  # the previous hash of the first link
RawRow = tuple[int, str, int, str, bytes]  # position, stream, version, type, state as stored


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One append batch: positions first..last, hashed with the link before it."""

    first_position: int
    last_position: int
    prev_hash: str
    hash: str


def link_hash(prev_hash: str, rows: Sequence[RawRow]) -> str:
    """SHA-256 over the previous link and every stored byte of the batch's events.

    Changing, removing or reordering any event, or any link, breaks every later hash. A state
    that is not bytes (a row changed by hand to NULL, or to text) is hashed as its repr: the
    link it is in breaks, rather than the check that should say so."""
    h = hashlib.sha256(prev_hash.encode())
    try:
        for position, stream, version, type_, state in rows:
            h.update(f"\x1e{position}\x1f{stream}\x1f{version}\x1f{type_}\x1f".encode())
            h.update(state)
    except TypeError:
        h = hashlib.sha256(prev_hash.encode())
        for position, stream, version, type_, state in rows:
            h.update(f"\x1e{position}\x1f{stream}\x1f{version}\x1f{type_}\x1f".encode())
            h.update(state if isinstance(state, (bytes, bytearray, memoryview))
                     else f"\x00{state!r}".encode("utf-8", "backslashreplace"))
    return h.hexdigest()


RECENT = 20_000  # rows of this process's latest commits kept in memory for its followers
WATCH_STEP = 0.004  # seconds between two looks for other processes' commits


class Store(ABC):
    """Synchronous and thread-safe; `engine.log.EventLog` puts it behind a writer thread."""

    url: str

    def __init__(self) -> None:
        self._committed = threading.Condition()
        self._last_seen = 0
        # The rows this process committed last, one run of consecutive positions (`read_rows`).
        self._recent: list[RawRow] = []
        self._recent_lock = threading.Lock()
        self._written = 0  # the last position this process committed, announced or not
        self._watching = False  # a waiter is watching for other processes' commits (`wait`)

    def append(self, events: Sequence[NewEvent], announce: bool = True) -> list[Event]:
        """Append in one transaction; return what was stored, with positions.

        Every envelope is checked first, whoever wrote it (`envelope.encode_checked`): one the
        log could not give back is an EnvelopeError naming it and its field, and nothing of
        the batch is stored. Events whose (stream, version) is already in the log, or earlier
        in the same batch, are duplicates: they are dropped, never stored twice, and absent
        from the result. The commit wakes this process's waiters (`wait`) unless `announce` is
        False: then the caller announces it when it chooses (`EventLog` lets the dialer act
        first).
        """
        if not events:
            return []
        states: list[bytes] = []
        for index, event in enumerate(events):
            try:
                states.append(encode_checked(event))
            except EnvelopeError as exc:
                exc.index = index  # which one: `EventLog` appends the others
                raise
        return self._append(events, states, announce)

    @abstractmethod
    def _append(self, events: Sequence[NewEvent], states: list[bytes], announce: bool
                ) -> list[Event]:
        """`append` of checked events, `states[i]` the stored form of `events[i]`."""

    @abstractmethod
    def read_raw(self, after: int = 0, limit: int = 1000, until: int | None = None
                 ) -> list[RawRow]:
        """Rows with `after < position <= until` exactly as stored (for verification)."""

    def read_rows(self, after: int = 0, limit: int = 1000, until: int | None = None
                  ) -> list[RawRow]:
        """`read_raw`, from memory when this process committed those rows last.

        The engine's followers (projector, dialer, results file) read each commit right after
        it: from the database, every row fetched lets go of the GIL and takes it back, and
        several threads fetching at once hand it to each other row by row (25 rows took 3.6 ms
        under the dialer benchmark; 0.02 ms alone). `read_raw` stays the disk's word, for
        verification."""
        if until is not None and until <= after:
            return []
        with self._recent_lock:
            recent = self._recent
            if recent and recent[0][0] <= after + 1 <= recent[-1][0]:
                start = after + 1 - recent[0][0]
                stop = start + limit
                if until is not None:
                    stop = min(stop, until + 1 - recent[0][0])
                return recent[start:stop]
        return self.read_raw(after, limit, until)

    def read(self, after: int = 0, limit: int = 1000, until: int | None = None) -> list[Event]:
        """Events with `after < position <= until`, in order, at most `limit`."""
        return [decode_event(*row) for row in self.read_rows(after, limit, until)]

    def _remember(self, rows: Sequence[RawRow]) -> None:
        """Keep a commit's rows for `read_rows`. Called in commit order where this process
        commits in turns (SQLite's write gate); a batch that does not follow the last one
        (another process wrote between, or two threads finished out of order) starts over, so
        what is kept is always one run of consecutive committed positions."""
        if not rows:
            return
        with self._recent_lock:
            self._written = max(self._written, rows[-1][0])
            recent = self._recent
            if recent and rows[0][0] != recent[-1][0] + 1:
                recent.clear()
            recent.extend(rows)
            if len(recent) > RECENT + RECENT // 4:
                del recent[: len(recent) - RECENT]

    @abstractmethod
    def chain(self, after: int = 0, limit: int = 10_000) -> list[ChainLink]:
        """The hash chain's links whose last position is beyond `after`, in order."""

    @abstractmethod
    def last_position(self) -> int: ...

    @abstractmethod
    def stream_version(self, stream: str) -> int | None:
        """The highest version stored for a stream, or None if it has no events."""

    @abstractmethod
    def read_stream(self, stream: str, after_version: int = -1) -> list[Event]: ...

    @abstractmethod
    def _external_commit(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for a sign that some connection may have committed
        (SQLite: `PRAGMA data_version` moved; PostgreSQL: a NOTIFY came); True if one came."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def iter_all(self, after: int = 0, until: int | None = None, batch: int = 5000
                 ) -> Iterator[Event]:
        while True:
            events = self.read(after, batch, until)
            if not events:
                return
            yield from events
            after = events[-1].position

    def announce(self, position: int) -> None:
        """Wake this process's waiters: the log holds `position`."""
        with self._committed:
            if position > self._last_seen:
                self._last_seen = position
            self._committed.notify_all()

    def wait(self, after: int, timeout: float) -> int:
        """Block until the log holds a position beyond `after`, at most `timeout` seconds.

        Commits from this process wake the waiter when they are announced (at once, unless the
        committer chose the moment: `append(announce=False)`); commits from other processes
        are seen by the backend's own mechanism (LISTEN/NOTIFY on PostgreSQL, a cheap poll of
        the WAL counter on SQLite).
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._committed:
                if self._done(after, deadline):
                    return self._last_seen
                if self._watching:  # the watcher, or a commit, wakes us
                    self._committed.wait(max(0.0, deadline - time.monotonic()))
                    continue
                self._watching = True
            try:
                return self._watch(after, deadline)
            finally:
                with self._committed:
                    self._watching = False
                    self._committed.notify_all()  # another waiter takes over the watch

    def _watch(self, after: int, deadline: float) -> int:
        """One waiter at a time watches for other processes' commits and announces them to
        the rest: each follower watching on its own (projector, results file, index, ...)
        made hundreds of queries a second each, and as many hand-offs of the GIL, while
        nothing happened. This process's own commits are announced by whoever made them,
        when they choose (`append(announce=False)`), so the watcher does not announce them."""
        signalled = True  # whatever was committed before the watch began: look once
        while True:
            if signalled:
                last = self.last_position()
                if last > after and last > self._written:  # not only this process's own
                    self.announce(last)
                    return last
            with self._committed:
                if self._done(after, deadline):
                    return self._last_seen
            left = max(0.0, deadline - time.monotonic())
            signalled = self._external_commit(min(left, WATCH_STEP))

    def _done(self, after: int, deadline: float) -> bool:
        """(Holding the condition.) A position past `after` is announced, or time is up."""
        return self._last_seen > after or time.monotonic() >= deadline


def dedupe_batch(events: Sequence[NewEvent], heads: dict[str, int]) -> list[NewEvent]:
    """Keep the events that are new: version above the stream's stored head, first in batch."""
    fresh: list[NewEvent] = []
    seen: set[tuple[str, int]] = set()
    for e in events:
        key = (e.stream, e.version)
        if key in seen or e.version <= heads.get(e.stream, -1):
            continue
        seen.add(key)
        fresh.append(e)
    return fresh


def first_broken_link(store: Store) -> ChainLink | None:
    """Recompute the hash chain from the stored bytes; the first link that does not match.

    A link breaks when its events were changed, removed or reordered, when its `prev_hash` is
    not the hash of the link before it, or when positions are missing between links.
    """
    return walk_chain(store)[0]


def walk_chain(store: Store, progress: Callable[[int], None] | None = None
               ) -> tuple[ChainLink | None, int]:
    """`first_broken_link`, and how many links were found intact; `progress(position)` after
    each link."""
    prev_hash, expected_first = GENESIS, 1
    after = 0
    intact = 0
    while True:
        links = store.chain(after)
        if not links:
            break
        for link in links:
            rows = store.read_raw(link.first_position - 1, 1_000_000, link.last_position)
            positions = [r[0] for r in rows]
            if (
                link.prev_hash != prev_hash
                or link.first_position != expected_first
                or positions != list(range(link.first_position, link.last_position + 1))
                or link_hash(prev_hash, rows) != link.hash
            ):
                return link, intact
            prev_hash, expected_first = link.hash, link.last_position + 1
            intact += 1
            if progress is not None:
                progress(link.last_position)
        after = links[-1].last_position
    if store.last_position() >= expected_first:  # events appended outside the chain
        return ChainLink(expected_first, store.last_position(), prev_hash, ""), intact
    return None, intact
