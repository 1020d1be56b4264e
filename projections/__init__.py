"""The registry of projections: every module here follows the contract in `projections/base.py`.

`PROJECTIONS` is the order the runner applies them in; `VIEWS` maps each export/REST view name to
the module that serves it. A projection added to the list is caught up from position 0 on the
next start (it has no checkpoint yet); the others resume from theirs. `VERSION`, `EVENT_TYPES`
and `COLUMNS` are part of that contract (every view declares its columns; tested in
`tests/test_projection_contract.py` for every module listed here).
"""

from __future__ import annotations

from types import ModuleType

from projections import (
    agents,
    agis,
    bridges,
    calls,
    channels,
    commands,
    config,
    devices,
    dialings,
    dialplans,
    modules,
    parking,
    peers,
    queues,
    results,
    systems,
    users,
    voicemail,
)
from projections.base import ViewFn, views_of

PROJECTIONS: list[ModuleType] = [
    channels, bridges, calls, devices, peers, agents, systems, queues, parking, config,
]
PROJECTIONS += [agis, modules, voicemail]  # async AGI channels, modules, voicemail
PROJECTIONS += [commands, users]  # the API's own: commands sent, users and tokens
PROJECTIONS += [dialings, results]  # the outbound dialer's objects, dialings and results
PROJECTIONS += [dialplans]  # jade's dialplan masters and dialplans (extensions.conf contexts)

VIEWS: dict[str, tuple[ModuleType, ViewFn]] = views_of(PROJECTIONS)


__all__ = ["PROJECTIONS", "VIEWS"]
