"""The log seen from the event loop: batched appends on one writer thread, and tails.

The store is synchronous (the eventsourcing recorders are), so it runs on a thread of its own.
Ingestion hands events over without waiting (`submit`), and they are committed in batches of up to
`batch_size` per transaction; a caller that must not act before its event is durable (a command,
a dialer decision) awaits `append`, which returns once the batch holding it has committed.
Only one thread writes, so the order of submission is the order in the log.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence

from engine.envelope import Event, NewEvent
from engine.store import Store

log = logging.getLogger("switchboard.log")

Listener = Callable[[list[Event]], None]


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
        self.last_error: str | None = None
        self._busy = False  # the writer holds a batch not yet committed

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
        """Append and wait until durable; a duplicate comes back as None."""
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
        while True:
            with self._wake:
                while not self._pending and not self._closing:
                    self._wake.wait()
                if not self._pending and self._closing:
                    return
                n = min(len(self._pending), self.batch_size)
                batch = [self._pending.popleft() for _ in range(n)]
                self._busy = True
                if len(self._pending) < self.queue_size // 2 and self._loop is not None:
                    self._loop.call_soon_threadsafe(self._room.set)
            try:
                stored = self._append_with_retry([e for e, _ in batch])
            finally:
                self._busy = False
            self.appended += len(stored)
            self.duplicates += len(batch) - len(stored)
            self._resolve(batch, stored)
            for listener in self._listeners:
                try:
                    listener(stored)
                except Exception:  # a listener must never stop the log
                    log.exception("log listener failed")

    def _append_with_retry(self, events: list[NewEvent]) -> list[Event]:
        """Never lose an event: a failing store is retried with backoff until it takes them."""
        delay = 0.05
        while True:
            try:
                stored = self.store.append(events)
                if self.last_error:
                    log.warning("log store recovered")
                    self.last_error = None
                return stored
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("append failed, retrying in %.2fs: %s", delay, self.last_error)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _resolve(
        self,
        batch: list[tuple[NewEvent, asyncio.Future[Event | None] | None]],
        stored: list[Event],
    ) -> None:
        if self._loop is None or all(f is None for _, f in batch):
            return
        by_key = {(e.stream, e.version): e for e in stored}
        results = [(f, by_key.get((e.stream, e.version))) for e, f in batch if f is not None]

        def settle() -> None:
            for future, event in results:
                if not future.done():
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
