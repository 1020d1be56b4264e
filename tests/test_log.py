"""The event-loop front of the log: batching, durability before acknowledging, tails."""

from __future__ import annotations

import asyncio
import time

from engine.envelope import Event, NewEvent, utc_now
from engine.log import EventLog
from engine.store import Store, open_store


def ev(stream: str, v: int) -> NewEvent:
    return NewEvent(stream, v, "Ping", utc_now(), "pbx1", {"Response": "Success"})


async def write_all(log: EventLog, events: list[NewEvent]) -> None:
    """Start `log`, submit `events` and close it once they are all committed."""
    log.start()
    log.submit(events)
    await log.flush()
    await log.close()


def test_submitted_events_are_committed_in_order_in_batches(store: Store) -> None:
    batches: list[int] = []

    async def main() -> None:
        log = EventLog(store, batch_size=100)
        log.add_listener(lambda events: batches.append(len(events)))
        await write_all(log, [ev("s", i) for i in range(1000)])

    asyncio.run(main())
    assert [e.version for e in store.iter_all()] == list(range(1000))
    assert max(batches) <= 100 and sum(batches) == 1000


def test_append_returns_only_after_the_event_is_durable(store_url: str) -> None:
    async def main() -> None:
        store = open_store(store_url)
        log = EventLog(store)
        log.start()
        [stored] = await log.append([ev("command/1", 0)])
        other = open_store(store_url)  # a different connection sees it: it is committed
        assert other.read(stored.position - 1, 1)[0].stream == "command/1"
        [dup] = await log.append([ev("command/1", 0)])
        assert dup is None and log.duplicates == 1
        other.close()
        await log.close()
        store.close()

    asyncio.run(main())


def test_tail_follows_new_commits(store: Store) -> None:
    async def main() -> list[tuple[int, float]]:
        log = EventLog(store)
        log.start()
        got: list[tuple[int, float]] = []

        async def follow() -> None:
            async for event in log.tail(0):
                got.append((event.version, time.perf_counter()))
                if len(got) == 3:
                    return

        task = asyncio.create_task(follow())
        await log.append([ev("s", 0)])
        await asyncio.sleep(0.2)
        sent = time.perf_counter()
        await log.append([ev("s", 1), ev("s", 2)])
        await asyncio.wait_for(task, 5)
        await log.close()
        assert got[-1][1] - sent < 0.05
        return got

    assert [v for v, _ in asyncio.run(main())] == [0, 1, 2]


class FlakyStore:
    """A real store whose first appends fail, as a database restart would make them."""

    def __init__(self, inner: Store, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def append(self, events, announce=True):  # noqa: ANN001, ANN201
        if self.failures:
            self.failures -= 1
            raise OSError("database is restarting")
        return self.inner.append(events, announce)


class LostAnswerStore(FlakyStore):
    """A real store whose first append commits and then fails, as when the connection drops
    after COMMIT reached the server but before its answer came back."""

    def append(self, events, announce=True):  # noqa: ANN001, ANN201
        if self.failures:
            self.failures -= 1
            self.inner.append(events, announce)
            raise OSError("server closed the connection unexpectedly")
        return self.inner.append(events, announce)

    def read_stream(self, stream, after_version=-1):  # noqa: ANN001, ANN201
        return self.inner.read_stream(stream, after_version)


def test_events_committed_by_a_failed_attempt_are_the_batchs_own(store: Store) -> None:
    """The retry finds them in the log: they are answered as stored, at their positions (a
    dialer's decision then sends its Originate), while a real duplicate is still one."""
    other = NewEvent("s", 0, "Ping", utc_now(), "pbx2", {"Response": "Success"})
    store.append([other])  # another writer's, before the batch: a true duplicate below

    async def main() -> list[Event | None]:
        log = EventLog(LostAnswerStore(store, 1))  # type: ignore[arg-type]
        log.start()
        try:
            return await log.append([ev("s", 0), ev("s", 1), ev("s", 2)])
        finally:
            await log.close()

    answers = asyncio.run(main())
    assert answers[0] is None  # someone else's, before the batch
    assert [(a.version, a.position) for a in answers[1:] if a] == [(1, 2), (2, 3)]
    assert [e.version for e in store.iter_all()] == [0, 1, 2]


def test_a_failing_store_is_retried_and_nothing_is_lost(store: Store) -> None:
    async def main() -> None:
        log = EventLog(FlakyStore(store, 3))  # type: ignore[arg-type]
        await write_all(log, [ev("s", i) for i in range(10)])

    asyncio.run(main())
    assert [e.version for e in store.iter_all()] == list(range(10))
