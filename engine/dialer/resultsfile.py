"""The results file: one compact JSON line per finished dialing (seed 6), a projection like any
other. It follows the log and writes a line for every `DialingEnded`, in log order; delete it
(even while the engine runs) and it is rebuilt from the log.

Where it stands is kept beside it in `<path>.pos` (`{"position", "offset", "lines"}`), written
after the lines it covers. On start the file is cut back to that offset (a crash may have left
lines the checkpoint does not cover; they are written again, once), so every finished dialing
is in the file exactly once. A file without its checkpoint, or shorter than it says, is rebuilt
from position 0. Neither is fsynced: the log is the durable record and the file is rebuilt from
it, and an fsync per finished call would compete with the log's own commits for the disk (the
dialer's decisions wait for those).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import msgspec

from engine.dialer import events as ev
from engine.envelope import decode_event
from engine.store import Store
from projections.results import record

log = logging.getLogger("switchboard.dialer.results")

_encoder = msgspec.json.Encoder()
BATCH = 5000
FOLLOW_INTERVAL = 0.1  # seconds between two looks at the log while it grows


class ResultsFile:
    def __init__(self, store: Store, path: str | Path, with_info: bool = False) -> None:
        self.store = store
        self.path = Path(path)
        self.checkpoint = Path(f"{self.path}.pos")
        self.with_info = with_info
        self.position = 0
        self.offset = 0
        self.lines = 0
        self._inode: int | None = None
        self._opened = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="results-file", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
                # A few lines a second: written in batches, not woken by every commit of the
                # log (each wake-up competes for the GIL with the dialer's next decision).
                if not self._stop.wait(FOLLOW_INTERVAL):
                    self.store.wait(self.position, 0.5)
            except Exception:  # a full disk or a database away must not stop it; retried
                log.exception("results file %s: write failed", self.path)
                self._stop.wait(1.0)

    # -- catching up ------------------------------------------------------------------------------

    def _open(self) -> None:
        """Where to resume: the checkpoint if it matches the file, else from scratch."""
        self.position, self.offset, self.lines = 0, 0, 0
        saved = self._read_checkpoint()
        if saved is not None and self.path.exists():
            size = self.path.stat().st_size
            if saved["offset"] <= size:
                self.position, self.offset, self.lines = (
                    saved["position"], saved["offset"], saved["lines"])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as fh:
            fh.truncate(self.offset)
        self._inode = self.path.stat().st_ino
        if self.position == 0:
            self.checkpoint.unlink(missing_ok=True)
            log.info("results file %s: building from the log", self.path)
        self._opened = True

    def _read_checkpoint(self) -> dict[str, int] | None:
        try:
            data = msgspec.json.decode(self.checkpoint.read_bytes())
            return {k: int(data[k]) for k in ("position", "offset", "lines")}
        except (OSError, msgspec.DecodeError, KeyError, TypeError, ValueError):
            return None

    def _gone(self) -> bool:
        try:
            return self.path.stat().st_ino != self._inode
        except FileNotFoundError:
            return True

    def sync(self) -> int:
        """Write the lines of every `DialingEnded` the log holds past the checkpoint; returns
        how many were written. Thread-safe; normally called by the follower thread."""
        with self._lock:
            if not self._opened or self._gone():
                self._open()
            written = 0
            while True:
                rows = self.store.read_rows(self.position, BATCH)
                if not rows:
                    return written
                lines = [self._line(row) for row in rows if row[3] == ev.DIALING_ENDED]
                if lines:
                    blob = b"".join(lines)
                    with open(self.path, "ab") as fh:
                        fh.write(blob)
                    self.offset += len(blob)
                    self.lines += len(lines)
                    written += len(lines)
                self.position = rows[-1][0]
                if lines:
                    self._save()

    def _line(self, row: tuple[int, str, int, str, bytes]) -> bytes:
        event = decode_event(*row)
        return _encoder.encode(record(event.data, self.with_info)) + b"\n"

    def _save(self) -> None:
        tmp = self.checkpoint.with_name(self.checkpoint.name + ".tmp")
        data: dict[str, Any] = {"position": self.position, "offset": self.offset,
                                "lines": self.lines}
        tmp.write_bytes(_encoder.encode(data))
        os.replace(tmp, self.checkpoint)
