"""The stream hub (`api/hub.py`): resuming from any id gives exactly the messages after it.

The hub is fed as the engine feeds it (after each event is applied), with a real SQLite log
holding every capture; a client resuming from inside the ring, from before it (a rebuild from
the log), between two messages of one event, or across a restart of the ring (a missed event)
must get exactly the messages a deriver over the whole log produces after that id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.changes import ALL, Id, Message
from api.hub import Dropped, Hub, matcher
from engine.envelope import NewEvent
from engine.store import Store, open_store
from projections.runner import Projector
from tests.captures import CAPTURE_FILES, envelopes
from tests.test_topics import derive_all


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    news: list[NewEvent] = []
    for path in CAPTURE_FILES:
        news.extend(envelopes(path))
    store.append(news)
    yield store
    store.close()


def reference(store: Store) -> list[Message]:
    return derive_all(list(store.iter_all()))


def started(log: Store, ring_size: int, client_lag: int) -> tuple[Projector, Hub]:
    """A projector over the log (nothing applied yet) and a hub on this loop fed from it."""
    projector = Projector(log, persist=False)
    hub = Hub(log, projector.state, ring_size=ring_size, client_lag=client_lag,
              flush_interval=0.001)
    hub.start(asyncio.get_running_loop())
    return projector, hub


async def feed(hub: Hub, projector: Projector, store: Store, until: int | None = None,
               skip: int | None = None) -> None:
    """What the engine's projector thread does: apply an event, tell the listener."""
    for event in store.read(projector.position, 100_000, until):
        projector.apply((event,))
        if event.position != skip:
            hub.on_event(event)
    await asyncio.sleep(0.05)  # the hub flushes on the loop


async def drain(hub: Hub, after: Id | None, topics: tuple[str, ...] = ("/",)) -> list[Message]:
    subscription = hub.subscribe(after, matcher(topics))
    out: list[Message] = []
    while batch := await subscription.next(0.05):
        out.extend(batch)
    return out


def test_resuming_from_any_id_in_or_before_the_ring_is_exact(log: Store) -> None:
    expected = reference(log)
    assert len(expected) > 400

    async def main() -> None:
        projector, hub = started(log, ring_size=150, client_lag=100)
        await feed(hub, projector, log)
        assert hub.floor is not None and hub.floor > (1, ALL), "the ring holds only the tail"
        picks = [expected[i].key for i in range(0, len(expected), 61)] + [(0, ALL)]
        picks += [m.key for m in expected if m.key[1] != ALL][:3]  # inside one event
        for after in picks:
            got = await drain(hub, after)
            want = [m for m in expected if m.key > after]
            assert [(m.id, m.json) for m in got] == [(m.id, m.json) for m in want], after

    asyncio.run(main())


def test_a_missed_event_restarts_the_ring_and_a_rebuild_covers_it(log: Store) -> None:
    expected = reference(log)
    middle = log.last_position() // 2

    async def main() -> None:
        projector, hub = started(log, ring_size=100_000, client_lag=100_000)
        await feed(hub, projector, log, skip=middle)
        assert hub.floor == (middle + 1, ALL)
        got = await drain(hub, (middle - 30, ALL))
        want = [m for m in expected if m.key > (middle - 30, ALL)]
        assert [m.id for m in got] == [m.id for m in want]

    asyncio.run(main())


def test_live_subscribers_get_new_messages_filtered_by_topic_and_slow_ones_are_dropped(
        log: Store) -> None:
    expected = reference(log)
    half = log.last_position() // 2

    async def main() -> None:
        projector, hub = started(log, ring_size=100_000, client_lag=50)
        await feed(hub, projector, log, until=half)
        everything = hub.subscribe(None, matcher(["/"]))
        queues = hub.subscribe(None, matcher(["/queue/"]))
        slow = hub.subscribe(None, matcher(["/"]))
        got: list[Message] = []
        queue_got: list[Message] = []

        async def follow(sub: object, out: list[Message]) -> None:
            while batch := await sub.next(0.3):  # type: ignore[attr-defined]
                out.extend(batch)

        readers = [asyncio.create_task(follow(everything, got)),
                   asyncio.create_task(follow(queues, queue_got))]
        for event in log.read(projector.position, 100_000):
            projector.apply((event,))
            hub.on_event(event)
            await asyncio.sleep(0)
        await asyncio.gather(*readers)
        want = [m for m in expected if m.key > (half, ALL)]
        assert [m.id for m in got] == [m.id for m in want]
        assert [m.id for m in queue_got] == [m.id for m in want if m.topic.startswith("/queue/")]
        assert queue_got
        with pytest.raises(Dropped):
            await slow.next(0.1)

    asyncio.run(main())


def test_a_client_catching_up_that_the_ring_moves_past_continues_from_a_rebuild(
        log: Store) -> None:
    """A client resuming from far back reads a rebuild, then the ring; if the ring moves past
    it between two reads (a burst while it was being written to), it goes back to a rebuild
    and still gets exactly every message once, instead of "fell behind the ring"."""
    expected = reference(log)
    half = log.last_position() // 2

    async def main() -> None:
        projector, hub = started(log, ring_size=150, client_lag=100_000)
        await feed(hub, projector, log, until=half)
        subscription = hub.subscribe((0, ALL), matcher(("/",)))
        got: list[Message] = []
        while subscription._seq is None:  # until it reads from the ring
            got.extend(await subscription.next(0.05, limit=10))
        got.extend(await subscription.next(0.05, limit=10))
        await feed(hub, projector, log)  # hundreds of messages: the ring moves past it
        while batch := await subscription.next(0.05):
            got.extend(batch)
        assert [m.id for m in got] == [m.id for m in expected]

    asyncio.run(main())
