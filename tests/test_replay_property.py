"""Same log, same state: the shared captures, as different servers interleaved message by
message in a random order (each capture's own order kept), give the same projection states
live (appended and projected in random batches, the projector restarted between batches and
sometimes killed before it saved) and replayed from position 0, byte for byte."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.capture import capture_events
from engine.envelope import NewEvent
from engine.store import open_store
from projections.runner import Projector, SQLiteCheckpoints
from replay.rebuild import rebuild
from tests.captures import CAPTURE_FILES

SESSIONS: list[list[NewEvent]] = [
    list(capture_events(path, f"pbx{i}")) for i, path in enumerate(CAPTURE_FILES)
]
TAGS = [i for i, session in enumerate(SESSIONS) for _ in session]


def interleave(order: list[int]) -> list[NewEvent]:
    """The next message of the session each tag names: every session stays in its order."""
    cursors = [0] * len(SESSIONS)
    out: list[NewEvent] = []
    for tag in order:
        out.append(SESSIONS[tag][cursors[tag]])
        cursors[tag] += 1
    return out


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(order=st.permutations(TAGS),
       cuts=st.lists(st.integers(1, len(TAGS) - 1), max_size=6, unique=True),
       save_every=st.integers(1, 400),
       batch=st.integers(1, 700),
       crashes=st.lists(st.booleans(), min_size=7, max_size=7))
def test_interleaved_captures_live_equals_replayed(order: list[int], cuts: list[int],
                                                   save_every: int, batch: int,
                                                   crashes: list[bool]) -> None:
    news = interleave(order)
    bounds = [0, *sorted(cuts), len(news)]
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "log.db")
        store = open_store(f"sqlite:///{path}")
        for (a, b), crash in zip(zip(bounds, bounds[1:], strict=False), crashes, strict=False):
            store.append(news[a:b])
            checkpoints = SQLiteCheckpoints(path)
            live = Projector(store, save_every=save_every, save_seconds=3600, batch=batch,
                             checkpoints=checkpoints)
            live.catch_up()
            if crash:  # killed: whatever was not saved yet is lost, and re-applied next time
                checkpoints.close()
            else:
                live.close()
        with Projector(store) as resumed:  # the last start catches up what a crash lost
            resumed.catch_up()
            live_states = {name: resumed.serialize(name) for name in resumed.positions}
            assert set(resumed.positions.values()) == {len(news)}
        replayed = rebuild(store.url, workers=1)
        assert replayed.position == len(news)
        assert replayed.states == live_states
        store.close()


BATCH2 = [list(capture_events(CAPTURE_FILES[0].parent / "batch2" / f"{name}.jsonl", name))
          for name in ("agi", "modules", "voicemail")]
BATCH2_TAGS = [i for i, session in enumerate(BATCH2) for _ in session]


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(order=st.permutations(BATCH2_TAGS),
       cut=st.integers(1, len(BATCH2_TAGS) - 1), save_every=st.integers(1, 200))
def test_agi_modules_and_voicemail_live_equal_replayed(order: list[int], cut: int,
                                                      save_every: int) -> None:
    """batch2's AGI, module and voicemail sessions interleaved: a projector restarted
    half-way from its checkpoints ends with the states of a replay from position 0."""
    cursors = [0] * len(BATCH2)
    news: list[NewEvent] = []
    for tag in order:
        news.append(BATCH2[tag][cursors[tag]])
        cursors[tag] += 1
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "log.db")
        store = open_store(f"sqlite:///{path}")
        for part in (news[:cut], news[cut:]):
            store.append(part)
            with Projector(store, save_every=save_every, save_seconds=3600,
                           checkpoints=SQLiteCheckpoints(path)) as live:
                live.catch_up()
                states = {name: live.serialize(name) for name in live.positions}
        replayed = rebuild(store.url, workers=1)
        assert replayed.states == states
        assert all(replayed.states[name] for name in ("agis", "modules", "voicemail"))
        store.close()
