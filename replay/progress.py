"""A progress bar on a terminal: long replays and exports say how far they are and how fast.

Drawn on stderr, only when stderr is a terminal (a pipe, a file or a test capturing output gets
nothing), at most ten times a second, and erased when done, so standard output stays the data.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, label: str, total: int | None, stream: TextIO | None = None,
                 enabled: bool | None = None, unit: str = "events") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _isatty(self.stream) if enabled is None else enabled
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self._start = time.monotonic()
        self._drawn = 0.0
        self._width = 0

    def update(self, done: int) -> None:
        """`done` units so far (absolute, not an increment)."""
        self.done = done
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn < 0.1:
            return
        self._drawn = now
        self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        if self.total:
            share = min(self.done / self.total, 1.0)
            filled = int(share * WIDTH)
            eta = (self.total - self.done) / rate if rate > 0 else 0.0
            text = (f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {share:4.0%} "
                    f"{self.done:,}/{self.total:,} {self.unit} {rate:,.0f}/s ETA {eta:.0f}s")
        else:
            text = f"{self.label} {self.done:,} {self.unit} {rate:,.0f}/s"
        pad = max(self._width - len(text), 0)
        self._width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
