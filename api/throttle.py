"""Failed logins slow the next ones down, per user name and per client address.

`auth.login_failures` failures are free; after that each further failure of a user name (or from
an address) makes the next attempt wait twice as long as the last: 1 s, 2 s, 4 s ... up to
`auth.login_max_delay`. An attempt made while a wait runs is refused with 429 and `Retry-After`
before the password is even checked (scrypt costs 50 ms of CPU: a flood of guesses must not buy
that). A successful login clears its user name's count; an address's count is forgotten after
`FORGET_AFTER` seconds without a failure. The refusals are counted like every other one
(`api/denials.py`), and each wait is logged when it starts.

Guessing a password by brute force becomes hopeless (a few hundred tries a day per name), and a
user locked out by someone else's guesses waits minutes, not for ever.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("switchboard.api")

FORGET_AFTER = 3600.0  # seconds without a failure after which a count starts again
MAX_TRACKED = 10_000  # names and addresses remembered; the oldest are forgotten first


@dataclass
class Failures:
    count: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


class LoginThrottle:
    def __init__(self, free: int = 5, max_delay: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free = free
        self.max_delay = max_delay
        self.clock = clock
        self._keys: OrderedDict[str, Failures] = OrderedDict()

    def wait(self, name: str, address: str) -> float:
        """Seconds before `name` may try from `address` again; 0: now."""
        now = self.clock()
        return max([f.blocked_until - now for f in self._live(name, address, now)] + [0.0])

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        for key in (f"user:{name}", f"addr:{address}"):
            found = self._keys.pop(key, None)
            if found is None or now - found.last > FORGET_AFTER:
                found = Failures()
            found.count += 1
            found.last = now
            if found.count > self.free:
                delay = min(2.0 ** (found.count - self.free - 1), self.max_delay)
                found.blocked_until = now + delay
                log.warning("login throttled: %s after %d failed logins: next try in %.0f s",
                            key, found.count, delay)
            self._keys[key] = found  # most recent last
        while len(self._keys) > MAX_TRACKED:
            self._keys.popitem(last=False)

    def succeeded(self, name: str) -> None:
        self._keys.pop(f"user:{name}", None)

    def _live(self, name: str, address: str, now: float) -> list[Failures]:
        out = []
        for key in (f"user:{name}", f"addr:{address}"):
            found = self._keys.get(key)
            if found is not None and now - found.last <= FORGET_AFTER:
                out.append(found)
        return out
