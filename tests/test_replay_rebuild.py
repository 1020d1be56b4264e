"""Replay's reader and rebuild: the same events and states as the store and the projector give,
on both backends, in one process or several, into a separate file that the live table never
sees."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.capture import capture_events
from engine.store import Store, open_store
from projections import PROJECTIONS
from projections.runner import TABLE, Projector
from replay.reader import open_reader
from replay.rebuild import Cost, default_target, plan, rebuild, select, write_states
from tests.captures import CAPTURE_FILES


def load_captures(store: Store) -> int:
    """Every shared capture, one server per file; returns the last position."""
    for path in CAPTURE_FILES:
        store.append(list(capture_events(path, path.stem)))
    return store.last_position()


def states_of(projector: Projector) -> dict[str, bytes]:
    return {m.NAME: projector.serialize(m.NAME) for m in PROJECTIONS}


def test_reader_gives_what_the_store_gives(store: Store) -> None:
    last = load_captures(store)
    with open_reader(store.url) as reader:
        assert reader.last_position() == last
        assert list(reader.events()) == list(store.iter_all())
        assert [e.position for e in reader.events(10, 20)] == list(range(11, 21))
        hangups = list(reader.events(types={"Hangup"}))
        assert hangups == [e for e in store.iter_all() if e.type == "Hangup"]
        assert list(reader.events(types=set())) == []
        assert [e.position for e in reader.at([30, 5, 30, last + 5])] == [5, 30]
        assert sum(len(c) for c in reader.chunks(size=7)) == last


def test_reader_sees_one_consistent_log_while_appends_go_on(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    news = [e for p in CAPTURE_FILES for e in capture_events(p, p.stem)]
    store.append(news[:100])
    with open_reader(store.url) as reader:
        store.append(news[100:200])
        assert reader.last_position() == 100
        assert len(list(reader.events())) == 100
    store.close()


@pytest.mark.parametrize("workers", [1, 3])
def test_rebuild_equals_the_projector_from_position_zero(store: Store, workers: int) -> None:
    last = load_captures(store)
    reference = Projector(store, persist=False)
    reference.rebuild()
    result = rebuild(store.url, workers=workers, parallel_min=0)
    assert result.position == last
    assert result.states == states_of(reference)
    # groups are planned from measured costs: 3 workers may give 2 groups when a third
    # would not make the slowest faster (cheap projections on a small log)
    assert len(result.groups) == 1 if workers == 1 else 2 <= len(result.groups) <= workers
    assert sorted(n for g in result.groups for n in g) == sorted(m.NAME for m in PROJECTIONS)
    assert result.errors == {} and result.malformed == 0


def test_rebuild_until_a_position_and_of_chosen_projections(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    load_captures(store)
    reference = Projector(store, persist=False)
    reference.catch_up(400)
    result = rebuild(store.url, ["calls", "channels"], 400)
    assert list(result.states) == ["calls", "channels"]
    assert result.states["calls"] == reference.serialize("calls")
    assert result.states["channels"] == reference.serialize("channels")
    with pytest.raises(ValueError, match="unknown projection 'nope'"):
        rebuild(store.url, ["nope"])
    store.close()


def test_rebuild_writes_a_separate_file_and_leaves_the_live_table_alone(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    load_captures(store)
    with Projector(store) as live:
        live.catch_up(300)
    with sqlite3.connect(tmp_path / "log.derived.db") as conn:
        before = conn.execute(f"SELECT name, position, state FROM {TABLE} ORDER BY name").fetchall()
    target = default_target(store.url)
    assert target == tmp_path / "log.rebuild.db"
    result = rebuild(store.url)
    write_states(target, result)
    with sqlite3.connect(tmp_path / "log.derived.db") as conn:
        after = conn.execute(f"SELECT name, position, state FROM {TABLE} ORDER BY name").fetchall()
    assert after == before and {p for _, p, _ in before} == {300}
    with sqlite3.connect(target) as conn:
        rows = conn.execute(f"SELECT name, position, state FROM {TABLE}").fetchall()
    assert {name: (pos, bytes(state)) for name, pos, state in rows} == {
        name: (result.position, state) for name, state in result.states.items()}
    store.close()


def test_plan_balances_the_slowest_group() -> None:
    modules = select(None)
    apply = {m.NAME: 0.1 for m in modules}
    apply["channels"] = 2.0
    cost = Cost(read=1.0, apply=apply, type_share={"Newchannel": 0.1})
    groups = plan(modules, cost, 2)
    assert len(groups) == 2
    assert [m.NAME for m in groups[0]] == ["channels"]  # alone: it is the expensive one
    assert plan(modules, cost, 1) == [sorted(modules, key=lambda m: -apply[m.NAME])]
