"""The registry of projections: every module here follows the contract in `projections/base.py`.

`PROJECTIONS` is the order the runner applies them in; `VIEWS` maps each export/REST view name to
the module that serves it. A projection added to the list is caught up from position 0 on the
next start (it has no checkpoint yet); the others resume from theirs.

Optional module attributes the runner and export use beyond the contract:
- `VERSION` (int): bump it when the state's shape or meaning changes; a checkpoint written by
  another version is discarded and that projection rebuilt from position 0.
- `EVENT_TYPES` (frozenset): the only event types `apply` reacts to; the runner skips calling
  `apply` for others. Leave it out when `apply` looks at every event (channels does).
- `COLUMNS` ({view: {column: "str"|"int"|"float"|"bool"|"json"}}): the view's fields and their
  types, from which export derives file schemas that never depend on the data.
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


__all__ = ["PROJECTIONS", "VIEWS"]
