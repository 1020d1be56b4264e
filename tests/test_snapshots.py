"""The snapshot table on both backends: one set of queries, two dialects."""

from __future__ import annotations

from engine.store import Store
from replay.snapshots import open_snapshots


def test_snapshots_round_trip(store: Store) -> None:
    with open_snapshots(store.url) as snapshots:
        assert snapshots.list() == [] and snapshots.nearest("channels", 1, 100) is None
        snapshots.save(50, [("channels", 1, b'{"a":1}'), ("calls", 2, b'{"b":2}')], "live")
        snapshots.save(90, [("channels", 1, b'{"a":3}')])
        snapshots.save(90, [("channels", 1, b'{"ignored":1}')])  # already there: kept
        assert snapshots.nearest("channels", 1, 89) == 50
        assert snapshots.nearest("channels", 1, 1000) == 90
        assert snapshots.nearest("channels", 2, 1000) is None  # another version
        assert snapshots.load("channels", 1, 90) == b'{"a":3}'
        assert snapshots.load("calls", 2, 50) == b'{"b":2}'
        assert snapshots.load("calls", 2, 51) is None
        listed = snapshots.list()
        assert [(i.name, i.position, i.source) for i in listed] == [
            ("calls", 50, "live"), ("channels", 50, "live"), ("channels", 90, "replay")]
        assert all(i.size > 0 and i.saved_at for i in listed)
        assert [i.position for i in snapshots.list("channels")] == [50, 90]
