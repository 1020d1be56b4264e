"""The registry of projections: every module here follows the contract in `projections/base.py`.

`PROJECTIONS` is the order the runner applies them in; `VIEWS` maps each export/REST view name to
the module that serves it. A projection added to the list is caught up from position 0 on the
next start (it has no checkpoint yet); the others resume from theirs.
"""

from __future__ import annotations

from types import ModuleType

from projections import (
    agents,
    bridges,
    calls,
    channels,
    devices,
    parking,
    peers,
    queues,
    systems,
)
from projections.base import ViewFn, views_of

PROJECTIONS: list[ModuleType] = [
    channels, bridges, calls, devices, peers, agents, systems, queues, parking,
]

VIEWS: dict[str, tuple[ModuleType, ViewFn]] = views_of(PROJECTIONS)


def columns(view: str) -> dict[str, str] | None:
    """The declared columns of a view (`{name: str|int|float|bool|json}`), if its module
    declares them in `COLUMNS`; export derives stable file schemas from them."""
    module, _ = VIEWS[view]
    return getattr(module, "COLUMNS", {}).get(view)


__all__ = ["PROJECTIONS", "VIEWS", "columns"]
