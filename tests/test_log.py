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


def test_a_refused_envelope_is_answered_and_the_others_are_appended(store: Store) -> None:
    """An envelope the store refuses neither holds the batch up nor is retried for ever: the
    caller awaiting it gets the EnvelopeError (nothing of it stored), the rest of its call
    and of the batch are appended."""
    import pytest

    from engine.envelope import EnvelopeError

    bad = NewEvent("s", 1, "Ping", None, "pbx1", {})  # type: ignore[arg-type]

    async def main() -> list[Event | None]:
        log = EventLog(store)
        log.start()
        try:
            log.submit([ev("other", 0)])
            with pytest.raises(EnvelopeError, match="recorded_at: expected an ISO 8601 time"):
                await log.append([ev("s", 0), bad, ev("s", 2)])
            return await log.append([ev("s", 3)])
        finally:
            await log.close()

    [last] = asyncio.run(asyncio.wait_for(main(), 20))  # (it was retried for ever)
    stored = list(store.iter_all())
    assert {(e.stream, e.version) for e in stored} == {("other", 0), ("s", 0), ("s", 2),
                                                       ("s", 3)}
    assert last is not None and last.position == 4


def test_a_refused_event_nobody_awaits_is_kept_as_malformed(store: Store) -> None:
    """An AMI message nobody awaits is never lost: refused, it is kept at its stream and
    version as `Malformed`, with what it held and why it was refused."""
    garbage = NewEvent("ami/pbx1/s", 1, "New\x00channel", utc_now(), "pbx1",
                       {"Channel": "PJSIP/a-1"})

    async def main() -> int:
        log = EventLog(store)
        await write_all(log, [ev("ami/pbx1/s", 0), garbage, ev("ami/pbx1/s", 2)])
        return log.refused

    assert asyncio.run(asyncio.wait_for(main(), 20)) == 1  # (PostgreSQL: retried for ever)
    stored = list(store.iter_all())
    assert [(e.version, e.type) for e in stored] == [(0, "Ping"), (1, "Malformed"),
                                                     (2, "Ping")]
    kept = stored[1].data
    assert "PJSIP/a-1" in kept["raw"] and "New\\x00channel" in kept["raw"]
    assert kept["error"].startswith("refused by the log: event ami/pbx1/s#1 ")
