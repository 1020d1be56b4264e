"""The running engine: the log, one AMI client per configured server, and their status.

`switchboard run` builds one `Engine`; the API reads `status()`; later stages (projections,
dialer) hang off the same log.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from engine.ami.client import AmiClient
from engine.ami.ingest import make_client
from engine.background import Background
from engine.config import Config
from engine.envelope import Event
from engine.log import EventLog
from engine.redact import redact_url
from engine.store import Store, open_store
from projections.runner import Projector

log = logging.getLogger("switchboard.engine")


class Engine:
    def __init__(self, config: Config, store: Store | None = None, *, dialer: bool = False
                 ) -> None:
        self.config = config
        self.store = store or open_store(config.store)
        self.log = EventLog(self.store, config.ingest.batch_size, config.ingest.queue_size)
        self.clients: list[AmiClient] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.background = Background("checkpoints")  # their writes, off the projector thread
        # Each save rewrites every state (the dialer's holds its dial lists: 4 MB for 10,000
        # entries), and writing megabytes every few seconds made the log's own commits wait for
        # the disk (the dialer benchmark's p99 from 5.6 to 3.3 ms at 30 s instead of 5).
        self.projector = Projector(self.store, background=self.background,
                                   save_seconds=config.projections.checkpoint_seconds,
                                   save_every=config.projections.checkpoint_events)
        self._projected: list[Callable[[Event], None]] = []
        self._stop_projecting = threading.Event()
        self._projecting: threading.Thread | None = None
        self.projector_error: str | None = None  # why the projector cannot read the log now
        self._replay: Any = None  # replay.live.LiveReplay: snapshots and the timeline index
        self._with_dialer = dialer  # opt-in: tests and replays must not dial or write results
        self.dialer: Any = None  # engine.dialer.service.Dialer when started with dialer=True

    def on_projected(self, listener: Callable[[Event], None], first: bool = False) -> None:
        """Called on the projector thread after each event is applied to every projection,
        so a listener reads the read models exactly as that event left them. `first`: before
        the listeners already there (the dialer: a freed agent waits for nobody's messages
        or snapshots)."""
        if first:
            self._projected.insert(0, listener)
        else:
            self._projected.append(listener)

    async def start(self) -> None:
        """`open`, then `connect`."""
        await self.open()
        await self.connect()

    async def open(self) -> None:
        """Follow the log (projector, writer thread, snapshots and index): reads, appends
        nothing. A command checks what it must here (`api.app.startup`) before `connect`,
        so a start it refuses leaves the log as it found it."""
        self.projector.catch_up()
        self._projecting = threading.Thread(target=self._project, name="projector", daemon=True)
        self._projecting.start()
        self.log.start()
        from replay.live import attach

        self._replay = attach(self)

    async def connect(self) -> None:
        """Connect to every configured Asterisk and start the dialer: from here on the
        engine appends (AMI sessions, the dialer's start marker)."""
        for server in self.config.servers:
            client = make_client(server, self.log)
            self.clients.append(client)
            self._tasks.append(asyncio.create_task(client.run(), name=f"ami-{server.name}"))
        if self._with_dialer:
            from engine.dialer.service import Dialer

            self.dialer = Dialer(self)
            await self.dialer.start()

    async def stop(self) -> None:
        if self.dialer is not None:
            await self.dialer.stop()
        for client in self.clients:
            client.stop()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.log.close()
        self._stop_projecting.set()
        if self._projecting is not None:
            await asyncio.to_thread(self._projecting.join)
        if self._replay is not None:
            self._replay.close()
        self.projector.close()
        self.background.close()
        self.store.close()

    def _project(self) -> None:
        """Keep the read models live: apply each commit as it lands, in log order. A database
        that goes away (a PostgreSQL restart) is retried every second: this thread ending would
        leave the read models frozen while everything else ran on."""
        while not self._stop_projecting.is_set():
            try:
                self._project_next()
                self.projector_error = None
            except Exception as exc:
                if self.projector_error is None:
                    log.exception("projector: reading the log failed, retrying every second")
                self.projector_error = f"{type(exc).__name__}: {exc}"
                self._stop_projecting.wait(1.0)
        self.projector.catch_up()

    def _project_next(self) -> None:
        projector, store = self.projector, self.store
        events = store.read(projector.position, 2000)
        if not events:
            store.wait(projector.position, 0.5)
            projector.apply(())  # saves the checkpoint when it is due
            return
        if not self._projected:
            projector.apply(events)
            return
        for event in events:
            projector.apply((event,))
            for listener in self._projected:
                try:
                    listener(event)
                except Exception:
                    log.exception("projection listener failed on %d", event.position)

    def status(self) -> dict[str, Any]:
        try:
            last: int | None = self.store.last_position()
        except Exception:  # the database is away: say so rather than fail the status page
            last = None
        return {
            "store": redact_url(self.store.url),
            "last_position": last,
            "projected_position": self.projector.position,
            "projection_errors": self.projector.errors,
            "malformed_events": self.projector.malformed,
            # rows of the log no envelope could be decoded from: {"count", "rows": [{"position",
            # "type", "error"}]} (skipped by every projection; `replay verify` names them all)
            "unreadable_events": self.projector.unreadable,
            "refused_events": self.log.refused,
            "dialer": self.dialer.status() if self.dialer is not None else None,
            "appended": self.log.appended,
            "duplicates": self.log.duplicates,
            "store_error": self.log.last_error,
            "projector_error": self.projector_error,
            "servers": [asdict(c.status) for c in self.clients],
        }


def tune_gc() -> None:
    """Ingestion allocates a dict per message and keeps almost none of them: with CPython's
    default thresholds the cyclic collector runs every 700 allocations and costs a fifth of
    the ingest rate. Raise the young-generation threshold and freeze what start-up built."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
