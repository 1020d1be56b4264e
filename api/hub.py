"""The hub between the projector and the stream clients: a ring of recent change messages.

The engine calls `on_event` on the projector thread right after each event is applied; the
deriver turns it into messages there (so it reads the read models exactly as that event left
them) and they are handed to the event loop in batches (`call_soon_threadsafe`, at most one
wake-up per flush interval), never blocking the projector: ingestion cannot be slowed by
clients. On the loop the messages go into one shared ring; each client is only a cursor into
it, so publishing costs the same for 1 client or 500, and a message is encoded once.

Every flush wakes every client, so the interval grows with their number (0.05 ms per client,
between `flush_interval` and `max_flush_interval`): 200 clients are woken 100 times a second,
each time with every message since, instead of 200 times with a few, which measured as the
difference between a saturated event loop and a quiet one. (With the shared timers below, a
10 ms cap measured better than 20 ms: p50 19 against 29 ms, p99 34 against 38 ms from append to
200 clients at 2,000 events/s, `scripts/bench_api.py`.)

Timers are shared, not one per wait or write (`asyncio.timeout` each time was a fifth of the
event loop's time with 200 clients): a waiting client has one keep-alive timer that is moved
only when it fires, and one hub-wide watchdog cuts writes that take longer than `send_timeout`.

A client that falls more than `client_lag` messages behind is dropped (it resumes from its
last id). A client resuming from before the ring (`floor`) gets the messages in between from
a projector rebuilt in memory from the log, up to where the ring takes over: resumption is
exact however old the id. The ring also restarts (its floor moves) if the deriver ever missed
an event (started late, or a deriving error): what it cannot vouch for is rebuilt instead.

A stream opened with a `Grant` (`api/grants.py`) ends when the grant lapses: every open stream
is checked again at the flush after a user or token event (before the clients are woken, so
none reads past it), and each at its token's expiry, on a timer of its own; never per message.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from api.changes import ALL, Deriver, Id, Message
from api.grants import CHANGES, Grant
from engine.envelope import Event
from engine.plural import plural
from engine.store import Store
from projections.base import event_time
from projections.runner import Projector

log = logging.getLogger("switchboard.api.hub")

Match = Callable[[Message], bool]
PER_CLIENT = 0.00005  # seconds of flush interval per connected client
BATCH = 500  # most messages handed to a client at once (a few hundred KB): a client slower
# than the stream falls behind and is dropped instead of holding the loop with huge writes


class Dropped(Exception):
    """The client fell too far behind; it should reconnect with its last id."""


class Closing(Dropped):
    """The server is stopping; the client should reconnect (elsewhere, or later) with its id."""


class Revoked(Dropped):
    """The stream's grant lapsed (token revoked or expired, user deleted...): it ends, and
    only a client with a valid token may open it again (from its last id: nothing is lost)."""


class Hub:
    def __init__(self, store: Store, state_of: Callable[[str], dict], *,
                 ring_size: int = 100_000, client_lag: int = 10_000,
                 flush_interval: float = 0.002, max_flush_interval: float = 0.01,
                 send_timeout: float = 10.0) -> None:
        self.store = store
        self._state_of = state_of
        self.ring_size = ring_size
        self.client_lag = client_lag
        self.flush_interval = flush_interval
        self.max_flush_interval = max_flush_interval
        self.send_timeout = send_timeout
        # projector thread
        self._deriver: Deriver | None = None
        self._last = -1
        self.derive_errors = 0
        # handed over
        self._lock = threading.Lock()
        self._pending: list[tuple[int, bool, list[Message]]] = []
        self._grants_changed = False  # a user or token event since the last flush
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # event loop
        self._ring: list[Message] = []
        self._base = 0  # sequence number of _ring[0]
        self._epoch = 0  # bumped when the ring restarts: cursors into it are void
        self.floor: Id | None = None  # every message with a greater id is in the ring
        self.position = 0  # last event whose messages are in the ring
        self._waiters: list[asyncio.Future[bool]] = []  # clients waiting for the next flush
        self._watchdog: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self.published = 0
        self.clients: set[Subscription] = set()  # open streams (SSE and WebSocket)
        # what clients at the same place with the same topics share: filtered messages and
        # their SSE bytes, per (first seq, last seq, matcher); valid until the ring changes
        self._memo: dict[tuple[int, int, Match], list[Message]] = {}
        self._sse: dict[tuple[int, int, Match], bytes] = {}
        self.closing = False
        self.dropped = 0  # clients dropped for falling behind

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._watchdog = loop.call_later(self._watch_period, self._watch)

    # ------------------------------------------------------------------ projector thread

    def on_event(self, event: Event) -> None:
        """Engine listener: runs on the projector thread after `event` was applied."""
        reset = False
        messages: list[Message] = []
        try:
            if self._deriver is None or event.position != self._last + 1:
                # First event seen, or one was missed: what the read models hold now (this event
                # included) is the new starting point; older ids are served by a rebuild.
                self._deriver = Deriver.from_state(self._state_of, event_time(event))
                reset = True
            else:
                messages = self._deriver.derive(event, self._state_of)
        except Exception:
            self.derive_errors += 1
            self._deriver = None
            log.exception("deriving change messages failed at %d; restarting", event.position)
            reset = True
        self._last = event.position
        with self._lock:
            self._pending.append((event.position, reset, messages))
            if event.type in CHANGES:
                self._grants_changed = True
            if self._scheduled or self._loop is None:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._schedule)

    # ------------------------------------------------------------------ event loop

    def _schedule(self) -> None:
        assert self._loop is not None
        interval = min(self.max_flush_interval,
                       max(self.flush_interval, len(self.clients) * PER_CLIENT))
        wait = self._last_flush + interval - time.monotonic()
        if wait > 0:
            self._loop.call_later(wait, self._flush)
        else:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            grants_changed, self._grants_changed = self._grants_changed, False
            self._scheduled = False
        if grants_changed:
            self._check_grants()
        self._last_flush = time.monotonic()
        self._memo.clear()
        self._sse.clear()
        for position, reset, messages in pending:
            if reset:
                self._ring.clear()
                self._base += 1  # sequence numbers never repeat
                self._epoch += 1
                self.floor = (position, ALL)
            elif messages:
                self._ring.extend(messages)
                self.published += len(messages)
            self.position = position
        overflow = len(self._ring) - self.ring_size
        if overflow > 0:
            self.floor = self._ring[overflow - 1].key
            del self._ring[:overflow]
            self._base += overflow
        self._wake()

    def _check_grants(self) -> None:
        """After a user or token event: end the streams whose grant it took away."""
        for subscription in list(self.clients):
            grant = subscription.grant
            if grant is not None:
                reason = grant.lapsed()
                if reason is not None:
                    subscription.revoke(reason)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(True)

    @property
    def _watch_period(self) -> float:
        return min(1.0, self.send_timeout / 4)

    def _watch(self) -> None:
        """Cut the writes that have waited longer than `send_timeout` for a client."""
        assert self._loop is not None
        now = self._loop.time()
        for subscription in list(self.clients):
            since = subscription.writing_since
            if since is not None and now - since > self.send_timeout:
                subscription.stall()
        if not self.closing:
            self._watchdog = self._loop.call_later(self._watch_period, self._watch)

    def close(self) -> None:
        """The server is stopping: every stream ends now (an SSE response completes, a
        WebSocket closes with 1001), so the server is not left waiting for them."""
        self.closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._wake()

    def subscribe(self, after: Id | None, match: Match, grant: Grant | None = None
                  ) -> Subscription:
        """A cursor after `after` (None: from now on), ended when `grant` lapses; `close()` it
        when the client goes. Call it on the event loop."""
        subscription = Subscription(self, after, match, grant)
        self.clients.add(subscription)
        return subscription

    def _seek(self, after: Id) -> int:
        """Sequence number of the first ring message with an id greater than `after`."""
        return self._base + bisect.bisect_right(self._ring, after, key=lambda m: m.key)

    @property
    def head(self) -> int:
        return self._base + len(self._ring)


class Subscription:
    """One client's place in the stream. `next()` returns the next messages it wants."""

    def __init__(self, hub: Hub, after: Id | None, match: Match, grant: Grant | None = None
                 ) -> None:
        self.hub = hub
        self.match = match
        self.grant = grant
        self.revoked: str | None = None  # why the grant lapsed: `next()` raises Revoked
        self._expiry: asyncio.TimerHandle | None = None  # at the grant's token's expiry
        self.last: Id = after if after is not None else (hub.position, ALL)
        self._seq: int | None = None if after is not None else hub.head
        self._from_now = after is None and hub.floor is None  # starts when the hub does
        self._epoch = hub._epoch
        self._replay: Replay | None = None
        self._key: tuple[int, int, Match] | None = None  # of the last batch from the ring
        self._waiter: asyncio.Future[bool] | None = None
        self._deadline = 0.0  # loop time at which the current `next()` gives up
        self._timer: asyncio.TimerHandle | None = None  # fires at or before the deadline
        self.writing_since: float | None = None  # loop time the write in progress began
        self._writer: asyncio.Task[Any] | None = None
        self._stalled = False
        # Catching up (resumed from an old id) it may be far behind; once it has caught up,
        # falling `client_lag` behind means it does not keep up, and it is dropped.
        self._live = after is None
        if grant is not None and grant.expires_at is not None:
            self._arm_expiry(grant.expires_at)

    def close(self) -> None:
        self.hub.clients.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def revoke(self, reason: str) -> None:
        """End the stream: its grant lapsed. A waiting `next()` wakes and raises Revoked."""
        self.revoked = reason
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _arm_expiry(self, expires_at: float) -> None:
        # the grant's clock is the wall clock; until it agrees the token has expired, look
        # again every second
        delay = expires_at - time.time()
        self._expiry = asyncio.get_running_loop().call_later(
            delay if delay > 0 else 1.0, self._expired)

    def _expired(self) -> None:
        self._expiry = None
        assert self.grant is not None and self.grant.expires_at is not None
        reason = self.grant.lapsed()
        if reason is not None:
            self.revoke(reason)
        elif self in self.hub.clients:  # not closed meanwhile
            self._arm_expiry(self.grant.expires_at)

    async def write(self, sending: Awaitable[Any]) -> bool:
        """Await one write to the client; False if it was cut because the client took more
        than the hub's `send_timeout` to accept it (it stopped reading)."""
        self._writer = asyncio.current_task()
        self.writing_since = asyncio.get_running_loop().time()
        try:
            await sending
        except asyncio.CancelledError:
            if not self._stalled:
                raise
            assert self._writer is not None
            self._writer.uncancel()
            return False
        finally:
            self.writing_since = None
        return True

    def stall(self) -> None:
        """The hub's watchdog: this client's write has waited too long; cut it."""
        if self._writer is not None and self.writing_since is not None and not self._stalled:
            self._stalled = True
            self._writer.cancel()

    async def _wait(self) -> bool:
        """Until the next flush (True) or the deadline (False)."""
        hub = self.hub
        if hub.closing:
            return True
        loop = asyncio.get_running_loop()
        if loop.time() >= self._deadline:
            return False
        waiter: asyncio.Future[bool] = loop.create_future()
        hub._waiters.append(waiter)
        self._waiter = waiter
        if self._timer is None or self._timer.when() > self._deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(self._deadline, self._expire)
        try:
            return await waiter
        finally:
            self._waiter = None

    def _expire(self) -> None:
        """The keep-alive timer: wake the waiting `next()` if its deadline has come, else
        move to the deadline it has now (set by a later `next()`); a timer per client moved
        once per keep-alive period, instead of one armed and cancelled at every flush."""
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        loop = waiter.get_loop()
        if loop.time() >= self._deadline:
            waiter.set_result(False)
        else:
            self._timer = loop.call_at(self._deadline, self._expire)

    async def next(self, timeout: float, limit: int = BATCH) -> list[Message]:
        """Messages after the last ones returned; [] when `timeout` passes with none."""
        self._key = None
        hub = self.hub
        self._deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if hub.closing:
                raise Closing("the server is stopping")
            if self.revoked is not None:
                raise Revoked(self.revoked)
            floor = hub.floor
            if floor is not None and self._from_now:
                self.last, self._seq, self._from_now = max(self.last, floor), None, False
            if floor is None or self.last < floor:
                # Behind the ring (never in it yet, or it moved past while the client was being
                # written to): from a rebuild; where this client is in the ring is found again
                # after it, not kept from before (a stale place read as "fell behind the ring").
                self._seq = None
                batch = await self._rebuilt(floor, limit)
                if batch is None:  # the hub has not started: wait for it
                    if not await self._wait():
                        return []
                    continue
                if batch:
                    return batch
                continue
            batch = self._from_ring(limit)
            if batch:
                return batch
            if not await self._wait():
                return []

    def _from_ring(self, limit: int) -> list[Message]:
        hub = self.hub
        if self._seq is None or self._epoch != hub._epoch:
            self._seq, self._epoch = hub._seek(self.last), hub._epoch
        if self._seq < hub._base:
            hub.dropped += 1
            raise Dropped("fell behind the ring")
        if self._live and hub.head - self._seq > hub.client_lag:
            hub.dropped += 1
            raise Dropped(f"more than {plural(hub.client_lag, 'message')} behind")
        first = self._seq
        end = min(hub.head, first + limit)
        self._seq = end
        if end >= hub.head:
            self._live = True  # caught up: from now on it must keep up
        if end == first:
            return []
        self.last = hub._ring[end - 1 - hub._base].key
        key = (first, end, self.match)
        self._key = key
        shared = hub._memo.get(key)
        if shared is None:
            chunk = hub._ring[first - hub._base : end - hub._base]
            shared = hub._memo[key] = [m for m in chunk if self.match(m)]
        return shared

    def sse(self, batch: list[Message]) -> bytes:
        """The batch `next()` just returned, as SSE bytes (joined once for every client that
        got the same batch)."""
        key = self._key
        if key is not None and self.hub._memo.get(key) is batch:
            joined = self.hub._sse.get(key)
            if joined is None:
                joined = self.hub._sse[key] = b"".join([m.sse for m in batch])
            return joined
        return b"".join([m.sse for m in batch])

    async def _rebuilt(self, floor: Id | None, limit: int) -> list[Message] | None:
        """Messages from a rebuilt projector, from `last` up to the ring's floor."""
        hub = self.hub
        target = floor[0] if floor is not None else None
        if self._replay is None:
            if target is None:
                return None
            self._replay = await asyncio.to_thread(Replay, hub.store, self.last)
        replay = self._replay
        if target is None or replay.position >= target:
            if target is not None:
                self._replay = None
                self.last = max(self.last, floor) if floor is not None else self.last
            return [] if target is not None else None
        messages = await asyncio.to_thread(replay.step, target, limit)
        out = []
        for message in messages:
            if message.key <= self.last or (floor is not None and message.key > floor):
                continue
            out.append(message)
        if out:
            self.last = out[-1].key
        if replay.position >= target:
            self._replay = None
            self.last = max(self.last, floor) if floor is not None else self.last
        return [m for m in out if self.match(m)]


class Replay:
    """A projector rebuilt in memory up to a position, then deriving forward from the log."""

    def __init__(self, store: Store, after: Id) -> None:
        self.store = store
        base = after[0] if after[1] == ALL else after[0] - 1
        self.projector = Projector(store, persist=False)
        self.projector.catch_up(until=base)
        self.position = self.projector.position  # `base`, unless the log is shorter
        last = store.read(self.position - 1, 1, self.position) if self.position else []
        now = event_time(last[0]) if last else time.time()
        self.deriver = Deriver.from_state(self.projector.state, now)

    def step(self, until: int, limit: int) -> list[Message]:
        """Apply and derive the events after `position`, up to `until`, about `limit` of them."""
        events = self.store.read(self.position, limit, until)
        out: list[Message] = []
        for event in events:
            self.projector.apply((event,))
            out.extend(self.deriver.derive(event, self.projector.state))
        if events:
            self.position = events[-1].position
        else:
            self.position = until  # nothing more in the log up to there
        return out


def matcher(prefixes: Iterable[str], server: str | None = None) -> Match:
    """Decoded topic prefixes (`api.streams.topic_prefix`; the seed's: "/" is everything),
    matched against each message's decoded topic, and an optional server. Clients with the
    same topics get the same function, so they share filtered batches (`Hub._memo`)."""
    return _matcher(tuple(prefixes), server)


@functools.lru_cache(maxsize=1024)
def _matcher(prefixes: tuple[str, ...], server: str | None) -> Match:
    if not prefixes:
        return lambda m: False
    everything = "/" in prefixes or "" in prefixes
    if everything and server is None:
        return lambda m: True
    if everything:
        return lambda m: m.server == server
    if server is None:
        return lambda m: m.decoded.startswith(prefixes)
    return lambda m: m.server == server and m.decoded.startswith(prefixes)
