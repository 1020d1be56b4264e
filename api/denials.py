"""Refused requests, counted: one `AccessDenied` event per client address and window.

Every 401/403/429 used to append its own event with the path verbatim, so anyone who could reach
the port could grow the permanent log without logging in (770 events/s from one curl loop; a
60,000-character path made a 60 KB event). Now a refusal is counted in memory against the
client's address; when the window (`auth.denial_window` seconds, from the first refusal) ends,
each address that was refused gets one event: how many times, first and last, and a bounded
sample of what it tried (`SAMPLE` distinct paths, names, reasons, each cut to `FIELD_MAX`
characters). At most `max_clients` addresses are counted per window; the others are counted
together under `*`. So whatever arrives, a window adds at most `max_clients + 1` events of
bounded size. The counts still open are written when the API stops; a crash loses at most one
window of counts (no request was acknowledged on the strength of them).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from engine.auth import access_denied
from engine.envelope import utc_now
from engine.log import EventLog

SAMPLE = 5  # distinct values kept per field
FIELD_MAX = 200  # characters kept of each
OTHERS = "*"  # the key of the addresses past max_clients


@dataclass
class Tally:
    first: str
    last: str = ""
    count: int = 0
    who: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _keep(values: list[str], value: str) -> None:
    value = value[:FIELD_MAX]
    if value not in values and len(values) < SAMPLE:
        values.append(value)


class Denials:
    def __init__(self, log: EventLog, window: float, max_clients: int = 1000) -> None:
        self.log = log
        self.window = window
        self.max_clients = max_clients
        self.open: dict[str, Tally] = {}
        self.refused = 0  # since start, for /status
        self._timer: asyncio.TimerHandle | None = None

    def add(self, client: str, who: str, method: str, path: str, reason: str) -> None:
        """Count one refusal (on the event loop); its event is appended when the window ends."""
        key = client or "-"
        if key not in self.open and len(self.open) >= self.max_clients:
            key = OTHERS
        now = utc_now()
        tally = self.open.get(key)
        if tally is None:
            tally = self.open[key] = Tally(first=now)
        tally.count += 1
        tally.last = now
        _keep(tally.who, who)
        _keep(tally.methods, method)
        _keep(tally.paths, path)
        _keep(tally.reasons, reason)
        self.refused += 1
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.window, self.flush)

    def flush(self) -> None:
        """Append one event per address counted in this window, and start a new window."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tallies, self.open = self.open, {}
        events = [access_denied(client, t.count, t.first, t.last, self.window, who=t.who,
                                methods=t.methods, paths=t.paths, reasons=t.reasons)
                  for client, t in tallies.items()]
        if events:
            self.log.submit(events)
