"""What the running engine keeps up to date for replay: periodic snapshots and the log's index.

`attach(engine)` (one line in `Engine.start`, see the README) makes the engine
- write a snapshot of every projection each `replay.snapshot_interval` positions (source
  `live`): an `on_projected` listener, so the states are exactly those after that position;
  these are the recorded live states `replay verify` compares, and they keep point-in-time
  questions under a second;
- keep the timeline index (`replay.index`) caught up, on a thread of its own that follows the
  log, so `replay timeline` and `GET /timeline/<id>` never index a backlog first.

Without it everything still works: snapshots are then written lazily by the replays that pass
them, and the index is caught up at the first question.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING

from engine.envelope import Event
from replay.index import LogIndex, open_index
from replay.rebuild import select, version_of
from replay.snapshots import Snapshots, open_snapshots

if TYPE_CHECKING:
    from engine.runtime import Engine

log = logging.getLogger("switchboard.replay")
FOLLOW_INTERVAL = 0.25  # seconds between the index's catch-ups while the log grows
FOLLOW_CHUNK = 500  # events a transaction: the file's writers wait ~10 ms for it, not ~150


class LiveReplay:
    def __init__(self, engine: Engine, interval: int, index: bool = True) -> None:
        self.engine = engine
        self.interval = interval
        self._snapshots = open_snapshots(engine.store.url) if interval > 0 else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if index:
            self._thread = threading.Thread(target=self._follow, name="replay-index",
                                            daemon=True)
        self.written = 0  # snapshots written (positions)
        self.indexed = 0  # the timeline index's position, as last seen by its follower

    def start(self) -> None:
        if self._snapshots is not None:
            self.engine.on_projected(self.on_event)
        if self._thread is not None:
            self._thread.start()

    def on_event(self, event: Event) -> None:
        """After each projected event: at every interval, every projection's state."""
        snapshots = self._snapshots
        if snapshots is None or event.position % self.interval:
            return
        projector = self.engine.projector
        states = []
        for name in projector.positions:
            module = select([name])[0]
            states.append((name, version_of(module), projector.serialize(name)))
        # compressing and writing them is off the projector thread (engine/background.py)
        self.engine.background.submit(self._save, snapshots, event.position, states)

    def _save(self, snapshots: Snapshots, position: int,
              states: list[tuple[str, int, bytes]]) -> None:
        try:
            snapshots.save(position, states, source="live")
            self.written += 1
        except Exception:  # noqa: BLE001 - a snapshot is an optimisation: never stop projecting
            log.exception("snapshot at position %d failed", position)

    def _follow(self) -> None:
        """Keep the timeline index caught up. On a failure (a database restarting) the index is
        opened again a second later: its PostgreSQL connection does not survive the server."""
        store = self.engine.store
        index: LogIndex | None = None
        try:
            while not self._stop.is_set():
                try:
                    if index is None:
                        index = open_index(store.url)
                    index.catch_up(size=FOLLOW_CHUNK)
                    self.indexed = index.state()[0]
                    # Batched: every question catches the index up first, so committing it
                    # after each log commit (a second fsync'd write per batch, through the same
                    # gate) would buy nothing but contention with the log's writer.
                    if not self._stop.wait(FOLLOW_INTERVAL):
                        store.wait(self.indexed, 0.5)
                except Exception:  # noqa: BLE001 - a database away: retried every second
                    log.exception("timeline index catch-up failed; opening it again")
                    if index is not None:
                        with contextlib.suppress(Exception):
                            index.close()
                        index = None
                    self._stop.wait(1.0)
        finally:
            if index is not None:
                index.close()

    def close(self) -> None:
        """Stop following; call it before the engine closes its store."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join()
        snapshots, self._snapshots = self._snapshots, None
        if snapshots is not None:
            self.engine.background.flush()
            snapshots.close()


def attach(engine: Engine) -> LiveReplay:
    """Start keeping snapshots and the index of a started engine up to date."""
    live = LiveReplay(engine, engine.config.replay.snapshot_interval)
    live.start()
    return live
