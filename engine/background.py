"""Writes that must not hold up the thread that asks for them, done in order on a thread of
their own.

The projector thread applies events and, on the same thread, the dialer decides. Saving a
checkpoint or a replay snapshot there (waiting for the file's write gate, writing megabytes)
took 48-132 ms every few seconds, and every event behind it, a freed agent among them, waited
as long. The projector now encodes the states (that must happen between two events, so they
are consistent) and hands the writing to a `Background`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("switchboard.background")


class Background:
    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` after everything submitted before it. A failure is logged: these
        writes can be redone (the next checkpoint, a later snapshot), the caller goes on."""
        with self._cond:
            if self._closed:
                raise RuntimeError(f"{self.name}: closed")
            self._jobs.append((fn, args))
            self._cond.notify_all()

    def flush(self) -> None:
        """Wait until everything submitted so far is done."""
        with self._cond:
            while self._jobs or self._busy:
                self._cond.wait()

    def close(self) -> None:
        """Finish what was submitted, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if not self._jobs:
                    return
                fn, args = self._jobs.popleft()
                self._busy = True
            try:
                fn(*args)
            except Exception:
                log.exception("%s: %s failed", self.name, getattr(fn, "__qualname__", fn))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
