"""The log seen from the event loop: batched appends on one writer thread, and tails.

The store is synchronous (the eventsourcing recorders are), so it runs on a thread of its own.
Ingestion hands events over without waiting (`submit`), and they are committed in batches of up to
`batch_size` per transaction; a caller that must not act before its event is durable (a command)
awaits `append`, which returns once the batch holding it has committed. Only one thread writes,
so the order of submission is the order in the log.

A process manager (the dialer) reacts on the writer thread itself (`set_reactor`): after every
commit it reads what was committed, decides, and hands back the events of its decisions, which
go first into the next batch, with whatever arrived meanwhile; once that batch is durable it is
told which of them were stored, and acts. A freed agent's event and the decision it causes are
two consecutive commits of one thread: no hand-off to another thread, no second writer waiting
for the file, no decision waiting for its own fsync behind the writer's (scripts/bench_dialer.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from engine.envelope import (
    MALFORMED,
    EnvelopeError,
    Event,
    NewEvent,
    encode_checked,
    utc_now,
)
from engine.plural import plural
from engine.store import Store

log = logging.getLogger("switchboard.log")

Listener = Callable[[list[Event]], None]


@dataclass(frozen=True, slots=True)
class Reaction:
    """What a reactor decided: `events` to append (first in the next batch), and `done`, called
    on the writer thread once they are durable, with each one as stored (None: a duplicate, its
    stream had moved on)."""

    events: list[NewEvent]
    done: Callable[[list[Event | None]], None]


Reactor = Callable[[], Reaction | None]


class EventLog:
    def __init__(self, store: Store, batch_size: int = 2000, queue_size: int = 20_000) -> None:
        self.store = store
        self.batch_size = batch_size
        self.queue_size = queue_size
        self._pending: deque[tuple[NewEvent, asyncio.Future[Event | None] | None]] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._room = asyncio.Event()
        self._listeners: list[Listener] = []
        self.appended = 0  # events committed by this process
        self.duplicates = 0  # events dropped as already in the log
        self.refused = 0  # envelopes the store refused (`_append_checked`)
        self.last_error: str | None = None
        self._busy = False  # the writer holds a batch not yet committed
        self._reactor: Reactor | None = None
        self.idle_react = 0.2  # seconds: with a reactor, how often it looks when nothing is written

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._room.set()
        self._thread = threading.Thread(target=self._writer, name="log-writer", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        """Commit everything submitted, then stop the writer."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    def add_listener(self, listener: Listener) -> None:
        """Called on the writer thread with each committed batch (keep it quick)."""
        self._listeners.append(listener)

    def set_reactor(self, reactor: Reactor | None) -> None:
        """Run `reactor` on the writer thread after every commit, and every `idle_react`
        seconds while nothing is written (to see what other processes appended); None removes
        it. Its reaction's events are committed in the next batch, before anything queued."""
        with self._wake:
            self._reactor = reactor
            self._wake.notify()

    # -- writing ---------------------------------------------------------------------------

    def submit(self, events: Sequence[NewEvent]) -> None:
        """Queue events for the next batch; never blocks (see `wait_for_room`)."""
        with self._wake:
            self._pending.extend((e, None) for e in events)
            if len(self._pending) >= self.queue_size:
                self._room.clear()
            self._wake.notify()

    async def wait_for_room(self) -> None:
        """Backpressure: a reader of a socket waits here while the log is far behind."""
        if not self._room.is_set():
            await self._room.wait()

    async def append(self, events: Sequence[NewEvent]) -> list[Event | None]:
        """Append and wait until durable; a duplicate comes back as None. An envelope the
        store refuses raises its EnvelopeError here (the others of the call are appended)."""
        assert self._loop is not None, "EventLog.start() first"
        futures: list[asyncio.Future[Event | None]] = [self._loop.create_future() for _ in events]
        with self._wake:
            self._pending.extend(zip(events, futures, strict=True))
            self._wake.notify()
        return list(await asyncio.gather(*futures))

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed."""
        while True:
            with self._wake:
                if not self._pending and not self._busy:
                    return
            await asyncio.sleep(0.001)

    def _writer(self) -> None:
        reactions: list[Reaction] = []
        unannounced = 0  # the last position committed, not yet announced to the followers
        while True:
            with self._wake:
                if unannounced and not self._pending and not reactions:
                    self.store.announce(unannounced)
                    unannounced = 0
                while not self._pending and not reactions and not self._closing:
                    if not self._wake.wait(self.idle_react if self._reactor else None):
                        break  # idle: the reactor looks at the log
                if not self._pending and not reactions and self._closing:
                    if unannounced:
                        self.store.announce(unannounced)
                    return
                n = min(len(self._pending), self.batch_size)
                batch = [self._pending.popleft() for _ in range(n)]
                self._busy = True
                if len(self._pending) < self.queue_size // 2 and self._loop is not None:
                    self._loop.call_soon_threadsafe(self._room.set)
                reactor = self._reactor
            try:
                decided = [e for r in reactions for e in r.events]
                news, results = _unique(decided + [e for e, _ in batch])
                waited = {(e.stream, e.version) for e in decided}
                waited.update((e.stream, e.version) for e, f in batch if f is not None)
                stored, refused = (self._append_checked(news, reactor is None, waited)
                                   if news else ([], {}))
            finally:
                self._busy = False
            self.appended += len(stored)
            self.duplicates += len(decided) + len(batch) - len(stored)
            by_key = {(e.stream, e.version): e for e in stored}
            outcomes = [by_key.get(key) if key is not None else None for key in results]
            at = 0
            for reaction in reactions:
                self._react_done(reaction, outcomes[at : at + len(reaction.events)])
                at += len(reaction.events)
            self._resolve(batch, outcomes[at:], [refused.get(k) if k else None
                                                 for k in results[at:]])
            for listener in self._listeners:
                try:
                    listener(stored)
                except Exception:  # a listener must never stop the log
                    log.exception("log listener failed")
            reactions = []
            if reactor is None:
                continue
            if stored:
                unannounced = stored[-1].position
            try:
                reaction = reactor()
            except Exception:  # a failed reaction must never stop the log
                log.exception("log reactor failed")
                reaction = None
            if reaction is not None and reaction.events:
                reactions.append(reaction)  # committed next, and announced after its actions
                continue
            if reaction is not None:
                self._react_done(reaction, [])
            if unannounced:
                # Only now the other followers (projector, results file, index...) learn of
                # the commit: they would compete for the interpreter while the dialer decides.
                self.store.announce(unannounced)
                unannounced = 0

    @staticmethod
    def _react_done(reaction: Reaction, outcomes: list[Event | None]) -> None:
        try:
            reaction.done(outcomes)
        except Exception:
            log.exception("log reaction callback failed")

    def _append_checked(self, events: list[NewEvent], announce: bool,
                        waited: set[tuple[str, int]]
                        ) -> tuple[list[Event], dict[tuple[str, int], EnvelopeError]]:
        """Append, and take out what the store refuses (`Store.append` checks every
        envelope): one bad event must neither hold up the batch nor be retried for ever. A
        refused event someone awaits is answered with its EnvelopeError (`append` raises it:
        nothing of it is stored); one nobody awaits (an AMI message) is kept in its place as
        `Malformed`, its content as text, so nothing Asterisk sent is lost."""
        refused: dict[tuple[str, int], EnvelopeError] = {}
        events = list(events)
        while events:
            try:
                return self._append_with_retry(events, announce), refused
            except EnvelopeError as exc:
                bad = events.pop(exc.index)
                self.refused += 1
                log.error("refused to append %s", exc)
                key = (bad.stream, bad.version)
                if key in waited:
                    refused[key] = exc
                    continue
                stand_in = _stand_in(bad, exc)
                if stand_in is not None:
                    events.insert(exc.index, stand_in)
        return [], refused

    def _append_with_retry(self, events: list[NewEvent], announce: bool = True) -> list[Event]:
        """Never lose an event: a failing store is retried with backoff until it takes them.
        An event the store refuses (EnvelopeError) is not a failure of the store: it is
        raised at once, and `_append_checked` takes it out."""
        delay = 0.05
        while True:
            try:
                stored = self.store.append(events, announce)
                if self.last_error:
                    log.warning("log store recovered")
                    self.last_error = None
                    stored = self._own_commits(events, stored)
                return stored
            except EnvelopeError:
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("append failed, retrying in %.2fs: %s", delay, self.last_error)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _own_commits(self, events: list[NewEvent], stored: list[Event]) -> list[Event]:
        """After a failed attempt, the events the retry skipped as already in the log: those
        the failed attempt itself committed (the connection dropped after COMMIT, before its
        answer) are this batch's, not duplicates. Taken for duplicates, a dialer's decision
        would never have sent its Originate, and a command's caller would have been told it
        was a duplicate of itself."""
        taken = {(e.stream, e.version) for e in stored}
        mine: list[Event] = []
        for new in events:
            if (new.stream, new.version) in taken:
                continue
            found = self.store.read_stream(new.stream, new.version - 1)[:1]
            if found and found[0].version == new.version and _same(found[0], new):
                mine.append(found[0])
        if mine:
            log.warning("%s committed by the failed attempt: kept as this batch's",
                        plural(len(mine), "event"))
        return sorted([*stored, *mine], key=lambda e: e.position)

    def _resolve(
        self,
        batch: list[tuple[NewEvent, asyncio.Future[Event | None] | None]],
        outcomes: list[Event | None],
        errors: list[EnvelopeError | None],
    ) -> None:
        if self._loop is None or all(f is None for _, f in batch):
            return
        results = [(f, stored, error) for (_, f), stored, error
                   in zip(batch, outcomes, errors, strict=True) if f is not None]

        def settle() -> None:
            for future, event, error in results:
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(event)

        self._loop.call_soon_threadsafe(settle)

    # -- reading ---------------------------------------------------------------------------

    async def tail(self, after: int = 0, batch: int = 1000) -> AsyncIterator[Event]:
        """Every event after `after`, then each new one as it commits (in any process)."""
        while True:
            events = await asyncio.to_thread(self.store.read, after, batch)
            if events:
                for event in events:
                    yield event
                after = events[-1].position
                continue
            await asyncio.to_thread(self.store.wait, after, 1.0)


def _unique(events: list[NewEvent]) -> tuple[list[NewEvent], list[tuple[str, int] | None]]:
    """The events to append, the first of each (stream, version) only, and for every event
    its key, or None for a later one of the same key: it is a duplicate even if the first is
    stored, and must not be answered as if it had been."""
    seen: set[tuple[str, int]] = set()
    news: list[NewEvent] = []
    keys: list[tuple[str, int] | None] = []
    for e in events:
        key = (e.stream, e.version)
        if key in seen:
            keys.append(None)
            continue
        seen.add(key)
        news.append(e)
        keys.append(key)
    return news, keys


def _stand_in(event: NewEvent, error: EnvelopeError) -> NewEvent | None:
    """A refused event nobody awaits, as `Malformed` at its stream and version: what it held
    as text (`raw`) and why it was refused (`error`); None when even that cannot be stored
    (its stream or version is what is wrong)."""
    raw = repr((event.type, event.recorded_at, event.data, event.causation_id,
                event.correlation_id))
    server = event.server if type(event.server) is str else ""
    stand_in = NewEvent(event.stream, event.version, MALFORMED, utc_now(), server,
                        {"raw": raw[:STAND_IN_RAW], "error": f"refused by the log: {error}"})
    try:
        encode_checked(stand_in)
    except EnvelopeError:
        log.error("refused event dropped: it cannot be kept even as Malformed")
        return None
    return stand_in


STAND_IN_RAW = 65_536  # characters of a refused event kept in its Malformed stand-in


def _same(event: Event, new: NewEvent) -> bool:
    """The stored event is this one (not another writer's at the same stream and version)."""
    return (event.type, event.recorded_at, event.server, event.data, event.causation_id,
            event.correlation_id) == (new.type, new.recorded_at, new.server, new.data,
                                      new.causation_id, new.correlation_id)
