"""The running engine with `replay.live.attach`: live snapshots at every interval, exactly the
states after those positions (verify agrees), and the timeline index kept caught up."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from engine.capture import capture_events
from engine.config import Config, ReplayConfig
from engine.runtime import Engine
from replay.index import open_index
from replay.live import attach
from replay.snapshots import open_snapshots
from replay.verify import verify
from tests.captures import CAPTURE_FILES


def test_attached_engine_snapshots_and_indexes_as_it_goes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    news = [e for path in CAPTURE_FILES for e in capture_events(path, path.stem)]

    async def run() -> None:
        engine = Engine(Config(store=url, replay=ReplayConfig(snapshot_interval=100)))
        await engine.start()
        live = attach(engine)
        for i in range(0, len(news), 150):
            engine.store.append(news[i:i + 150])
        deadline = time.monotonic() + 20
        index = open_index(url)
        while (engine.projector.position < len(news) or index.state()[0] < len(news)) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        index.close()
        assert engine.projector.position == len(news)
        live.close()
        await engine.stop()
        assert live.written == len(news) // 100

    asyncio.run(run())
    with open_snapshots(url) as snapshots:
        infos = snapshots.list("channels")
    assert [i.position for i in infos] == list(range(100, len(news) + 1, 100))
    assert {i.source for i in infos} == {"live"}
    from engine.store import open_store

    store = open_store(url)
    report = verify(store)
    store.close()
    assert report.ok
    assert sum(1 for rec, ok in report.compared if rec.source == "snapshot (live)" and ok) \
        == len(infos) * len({rec.name for rec, _ in report.compared})
