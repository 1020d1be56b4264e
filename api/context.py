"""What every route module is built with: `routes(ctx) -> list[BaseRoute]`.

`api/app.py` builds one `ApiContext` for the engine and hands it to each route module in turn
(`api/core.py`, `api/queue.py`, ...); a new module needs nothing else. It holds the engine (read
models, log, AMI clients), access control, the command runner and the stream hub.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from api.auth import Access
from api.hub import Hub
from engine.auth import Accounts, Directory
from engine.commands import Commands
from engine.config import ApiConfig, AuthConfig
from engine.runtime import Engine
from projections.base import Row


@dataclass
class ApiContext:
    engine: Engine
    settings: ApiConfig
    auth: AuthConfig
    directory: Directory
    access: Access
    accounts: Accounts
    commands: Commands
    hub: Hub
    dialer: Any = None  # engine.dialer.service.Dialer, when the engine runs one

    def close(self) -> None:
        """Before the server stops: end the event streams (or it waits for them forever) and
        log the refusals counted in the window still open."""
        self.hub.close()
        self.access.denials.flush()

    def snapshot(self, view: str, now: float | None = None) -> tuple[int, list[Row]]:
        """A view's rows and the log position they reflect, consistent with each other: a
        client can resume a stream from that position and miss nothing."""
        projector = self.engine.projector
        now = time.time() if now is None else now
        while True:
            before = projector.position
            rows = projector.rows(view, now)
            if projector.position == before:  # no event applied meanwhile
                return before, rows
