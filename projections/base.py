"""What every projection module provides.

A projection module (`projections/channels.py`, `projections/queues.py`, ...) is plain functions:

    NAME = "channels"                      # checkpoint key, unique
    def initial() -> dict: ...             # empty state; JSON-serializable (str keys, no sets)
    def apply(state: dict, event: Event) -> dict: ...   # pure over (state, event); may mutate
                                                        # and return `state` for speed
    VIEWS: dict[str, ViewFn]               # export/REST view name -> rows(state, now)

State must be plain JSON data (dict/list/str/int/float/bool/None) so a checkpoint is the state
serialized, and a rebuild from position 0 can be compared byte for byte. Rows are keyed by
`"<server>/<id>"` so two Asterisks never overwrite each other's rows; every row carries `server`.
Time in state comes from the events (their `Timestamp` header, else `recorded_at`), never from the
clock; a view that shows an elapsed time (`duration`, `wait`) takes `now` (epoch seconds).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from engine.envelope import Event

Row = dict[str, Any]
ViewFn = Callable[[dict, float], list[Row]]


def event_time(event: Event) -> float:
    """Seconds since the epoch at which Asterisk emitted the event."""
    ts = event.data.get("Timestamp")
    if isinstance(ts, str) and ts:
        try:
            return float(ts)
        except ValueError:
            pass
    from datetime import datetime

    return datetime.fromisoformat(event.recorded_at).timestamp()


def key(server: str, ident: str) -> str:
    return f"{server}/{ident}"


def views_of(modules: list[ModuleType]) -> dict[str, tuple[ModuleType, ViewFn]]:
    out: dict[str, tuple[ModuleType, ViewFn]] = {}
    for module in modules:
        for view, fn in module.VIEWS.items():
            out[view] = (module, fn)
    return out
