"""Views at a past moment: the same rows a replay from position 0 gives, from the nearest
snapshot or checkpoint, with the snapshots written on the way; positions and times."""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path

import pytest

from engine.capture import capture_events
from engine.store import Store, open_store
from projections import VIEWS
from projections.base import event_time, recorded_time
from projections.runner import Projector
from replay.moment import MomentError, parse_time, resolve, view_at
from replay.snapshots import open_snapshots
from tests.captures import CAPTURE_FILES

VIEWS_CHECKED = ["channels", "calls", "queue-members", "parked-calls", "device-states",
                 "bridges"]


def load(store: Store) -> int:
    for path in CAPTURE_FILES:
        store.append(list(capture_events(path, path.stem)))
    return store.last_position()


def replayed_rows(store: Store, view: str, position: int) -> list[dict]:
    """The view after `position`, replayed from 0 by the projector, `now` = that event's time."""
    projector = Projector(store, persist=False)
    projector.catch_up(position)
    events = store.read(position - 1, 1) if position else []
    return projector.rows(view, event_time(events[0]) if events else 0.0)


def test_every_moment_equals_a_replay_from_zero(store: Store) -> None:
    last = load(store)
    for view in VIEWS_CHECKED:
        for position in [0, 1, 57, 150, 151, 420, 777, last]:
            found = view_at(store.url, view, position, interval=150)
            assert found.position == position
            assert found.rows == replayed_rows(store, view, position), (view, position)
    with open_snapshots(store.url) as snapshots:
        for view in VIEWS_CHECKED:
            name = VIEWS[view][0].NAME
            positions = [i.position for i in snapshots.list(name)]
            assert positions == list(range(150, last + 1, 150)), view  # written on the way
            assert {i.source for i in snapshots.list(name)} == {"replay"}


def test_a_moment_starts_from_the_nearest_snapshot_or_checkpoint(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    last = load(store)
    first = view_at(store.url, "calls", 700, interval=200)
    assert first.started_from == 0
    assert 0 < first.applied < 700  # only the event types the calls projection reads
    again = view_at(store.url, "calls", 650, interval=200)
    assert again.started_from == 600 and again.rows == replayed_rows(store, "calls", 650)
    with Projector(store) as live:  # a live checkpoint at 900 is closer than any snapshot
        live.catch_up(900)
    near = view_at(store.url, "calls", 950, interval=200, write_snapshots=False)
    assert near.started_from == 900 and near.rows == replayed_rows(store, "calls", 950)
    beyond = view_at(store.url, "calls", last + 100)
    assert beyond.position == last
    store.close()


def test_a_time_names_the_longest_stretch_recorded_by_then(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    load(store)
    events = list(store.iter_all())
    times = [recorded_time(e.recorded_at) for e in events]
    t = times[300]
    expected = next(i for i, x in enumerate(times) if x > t)  # the first later one
    assert resolve(store.url, f"{t:.6f}") == expected
    assert resolve(store.url, events[300].recorded_at) == expected
    assert resolve(store.url, "300") == 300
    assert resolve(store.url, "1999-01-01T00:00:00Z") == 0
    found = view_at(store.url, "channels", events[300].recorded_at)
    assert found.position == expected
    with pytest.raises(MomentError, match="neither a position"):
        resolve(store.url, "yesterday")
    store.close()


def test_parse_time() -> None:
    assert parse_time("2026-11-22T15:33:07Z") == 1795361587.0
    assert parse_time("2026-11-22T15:33:07") == 1795361587.0  # naive: UTC
    assert parse_time("2026-11-22T16:33:07+01:00") == 1795361587.0
    assert parse_time("1795361587.5") == 1795361587.5
    with pytest.raises(MomentError):
        parse_time("nan")


def test_snapshots_keep_the_first_copy_and_ignore_other_versions(store: Store) -> None:
    with open_snapshots(store.url) as snapshots:
        assert snapshots.nearest("calls", 2, 10) is None and snapshots.list() == []
        snapshots.save(5, [("calls", 2, b'{"a":1}'), ("devices", 1, b"{}")], "live")
        snapshots.save(5, [("calls", 2, b'{"a":2}')], "replay")
        snapshots.save(9, [("calls", 3, b'{"v":3}')])
        assert snapshots.nearest("calls", 2, 10) == 5
        assert snapshots.load("calls", 2, 5) == b'{"a":1}'
        assert snapshots.nearest("calls", 2, 4) is None
        assert snapshots.load("calls", 3, 9) == b'{"v":3}'
        assert [(i.name, i.position, i.source) for i in snapshots.list()] == [
            ("calls", 5, "live"), ("calls", 9, "replay"), ("devices", 5, "live")]


def test_a_snapshot_of_other_projection_code_is_never_used(tmp_path: Path) -> None:
    """A projection changed without a VERSION bump: snapshots the old code wrote (seen here:
    a state key renamed) must neither feed a moment nor fail verify."""
    from replay.verify import verify

    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    load(store)
    view_at(store.url, "calls", 500, interval=200)  # writes calls snapshots at 200 and 400
    with sqlite3.connect(tmp_path / "log.derived.db") as conn:
        conn.execute("UPDATE switchboard_snapshots SET code='older', state=? ",
                     (zlib.compress(b'{"old":"shape"}'),))
    found = view_at(store.url, "calls", 450, interval=200, write_snapshots=False)
    assert found.started_from == 0 and found.rows == replayed_rows(store, "calls", 450)
    report = verify(store, ["calls"])
    assert report.ok
    assert any("other projection code" in note for note in report.notes)
    with open_snapshots(store.url) as snapshots:
        assert snapshots.list() == [] and len(snapshots.list(every_code=True)) == 2
    store.close()
