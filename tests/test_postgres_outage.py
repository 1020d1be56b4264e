"""PostgreSQL drops the engine's connections (a restart, a failover, an operator's
`pg_terminate_backend`): the engine carries on once the server answers again.

Found by killing the backends by hand: the LISTEN connection stayed broken, every `Store.wait`
raised from then on, and the projector's thread died with it, leaving the read models frozen
while ingestion went on.
"""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
import pytest

from engine.config import Config, ProjectionsConfig, ReplayConfig
from engine.envelope import NewEvent, utc_now
from engine.runtime import Engine
from engine.store import open_store
from tests.conftest import PG_URL


def kill_connections() -> int:
    """Terminate every other backend of the test database (the tests run one at a time)."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()
    return row[0] if row else 0


def events(stream: str, start: int, count: int) -> list[NewEvent]:
    return [NewEvent(stream, v, "UserEvent", utc_now(), "pbx1", {"UserEvent": "Ping"})
            for v in range(start, start + count)]


def test_a_waiter_hears_commits_again_after_its_listener_was_killed(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        woke = []
        for version in range(4):  # the second wait meets the dead listener and replaces it
            if version == 1:
                assert kill_connections() >= 2
            commit = threading.Timer(0.3, append_elsewhere, (pg_url, version))
            commit.start()  # while the store waits: only its listener can tell it
            start = time.monotonic()
            assert store.wait(version, 5.0) == version + 1
            woke.append(time.monotonic() - start)
            commit.join()
        assert max(woke) < 1.5 and woke[-1] < 0.8, woke  # heard, not found at the timeout
    finally:
        store.close()


def append_elsewhere(url: str, version: int) -> None:
    """Another process's commit: it NOTIFYs the log's channel."""
    store = open_store(url)
    try:
        store.append(events("s", version, 1))
    finally:
        store.close()


@pytest.mark.slow
def test_the_engine_projects_again_after_postgres_dropped_its_connections(pg_url: str) -> None:
    """The read models, the timeline index, the checkpoints and the snapshots all carry on."""
    async def main() -> None:
        engine = Engine(Config(store=pg_url,
                               projections=ProjectionsConfig(checkpoint_seconds=0.2),
                               replay=ReplayConfig(snapshot_interval=40)))
        await engine.start()
        other = open_store(pg_url)  # another engine process writing the shared log
        try:
            other.append(events("pbx1/a", 0, 50))
            await until_projected(engine, 50)
            assert kill_connections() >= 2
            other.close()
            other = open_store(pg_url)
            other.append(events("pbx1/a", 50, 50))
            await until_projected(engine, 100)
            assert engine.status()["projector_error"] is None
            assert engine.status()["last_position"] == 100
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (
                    engine._replay.indexed < 100 or saved_checkpoint(pg_url) < 100
                    or max(snapshot_positions(pg_url), default=0) < 80):
                other.append(events("pbx1/b", engine.store.last_position(), 1))  # commits
                await asyncio.sleep(0.2)  # that wake the followers, and time for the saves
            assert engine._replay.indexed >= 100, "the timeline index follows again"
            assert saved_checkpoint(pg_url) >= 100, "checkpoints are saved again"
            # (the one that met the dropped connection may be lost: a snapshot is a shortcut)
            assert max(snapshot_positions(pg_url)) >= 80, "snapshots are written again"
        finally:
            other.close()
            await engine.stop()

    asyncio.run(main())


def saved_checkpoint(url: str) -> int:
    schema = url.split("schema=")[1]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        row = conn.execute(f'SELECT min(position) FROM "{schema}".switchboard_projections'
                           ).fetchone()
    return row[0] or 0 if row else 0


def snapshot_positions(url: str) -> set[int]:
    schema = url.split("schema=")[1]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s)",
                              (f'"{schema}".switchboard_snapshots',)).fetchone()
        if not exists or exists[0] is None:
            return set()
        rows = conn.execute(f'SELECT DISTINCT position FROM "{schema}".switchboard_snapshots')
        return {r[0] for r in rows}


async def until_projected(engine: Engine, position: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while engine.projector.position < position:
        assert time.monotonic() < deadline, (
            f"projected {engine.projector.position} of {position}: {engine.status()}")
        await asyncio.sleep(0.02)
