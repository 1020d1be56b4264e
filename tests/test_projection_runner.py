"""The projector: checkpoints in the log's database, restart, rebuild equality, bad input."""

from __future__ import annotations

import sqlite3
import string
from pathlib import Path
from types import ModuleType

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.envelope import MALFORMED, Event, NewEvent
from engine.store import Store, open_store
from projections import PROJECTIONS, channels, devices
from projections.runner import TABLE, MemoryCheckpoints, Projector, encode_state, replay
from tests.captures import all_capture_events

EVENTS = all_capture_events()  # every capture, a server per file: about 1,000 events
NOW = 1795361700.0
TIMES = {"tm_create", "tm_update", "start", "answer", "end"}  # seed timestamps in views


def _news(events: list[Event]) -> list[NewEvent]:
    return [NewEvent(e.stream, e.version, e.type, e.recorded_at, e.server, e.data)
            for e in events]


def _states(projector: Projector) -> dict[str, bytes]:
    return {m.NAME: projector.serialize(m.NAME) for m in PROJECTIONS}


REFERENCE = _states(replay(EVENTS))


def test_every_projection_applies_the_captures_without_error() -> None:
    projector = replay(EVENTS)
    assert projector.errors == {} and projector.malformed == 0
    assert projector.position == len(EVENTS)
    assert {"channels", "calls", "bridges", "device-states", "peers", "endpoints", "agents",
            "systems", "queues", "parked-calls"} <= set(projector.views())


def test_live_batches_against_one_rebuild_are_byte_identical(store: Store) -> None:
    """Appended in several batches, caught up after each (with restarts in between), the
    persisted states equal a rebuild from position 0, byte for byte, on both backends."""
    news = _news(EVENTS)
    cuts = [0, 7, 300, 301, 700, len(news)]
    for a, b in zip(cuts, cuts[1:], strict=False):
        store.append(news[a:b])
        with Projector(store, save_every=100) as projector:
            projector.catch_up()
            assert projector.position == b
    with Projector(store, read_only=True) as resumed:
        assert resumed.positions == dict.fromkeys(resumed.positions, len(news))
        live = _states(resumed)
    rebuilt = Projector(store, persist=False)
    rebuilt.rebuild()
    assert _states(rebuilt) == live == REFERENCE


def test_checkpoint_and_state_live_in_one_row_of_the_log_database(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    store.append(_news(EVENTS[:500]))
    with Projector(store) as projector:
        projector.catch_up()
    store.close()
    with sqlite3.connect(tmp_path / "log.derived.db") as conn:
        rows = conn.execute(f"SELECT name, position, version, state FROM {TABLE}").fetchall()
    assert {name for name, *_ in rows} == {m.NAME for m in PROJECTIONS}
    assert all(position == 500 for _, position, _, _ in rows)
    reference = _states(replay(EVENTS[:500]))
    assert {name: bytes(state) for name, _, _, state in rows} == reference


def test_saves_every_n_events_not_per_event() -> None:
    checkpoints = MemoryCheckpoints()
    projector = Projector(checkpoints=checkpoints, save_every=400, save_seconds=3600)
    for i in range(0, 900, 100):
        projector.apply(EVENTS[i:i + 100])
    assert checkpoints.saves == 2 and checkpoints.rows["channels"][0] == 800
    projector.close()
    assert checkpoints.saves == 3 and checkpoints.rows["channels"][0] == 900


def test_restart_resumes_without_double_counting() -> None:
    checkpoints = MemoryCheckpoints()
    first = Projector(checkpoints=checkpoints)
    first.apply(EVENTS[:900])
    first.close()
    second = Projector(checkpoints=checkpoints)
    assert second.position == 900
    second.apply(EVENTS[800:])  # overlap: already-applied events are skipped
    assert _states(second) == REFERENCE


def test_a_new_projection_catches_up_while_the_others_resume() -> None:
    checkpoints = MemoryCheckpoints()
    only_channels = Projector(modules=[channels], checkpoints=checkpoints)
    only_channels.apply(EVENTS[:700])
    only_channels.close()
    both = Projector(modules=[channels, devices], checkpoints=checkpoints)
    assert both.positions == {"channels": 700, "devices": 0}
    both.apply(EVENTS)
    assert both.positions == {"channels": len(EVENTS), "devices": len(EVENTS)}
    assert both.serialize("channels") == REFERENCE["channels"]
    assert both.serialize("devices") == REFERENCE["devices"]


def test_a_changed_version_rebuilds_that_projection() -> None:
    checkpoints = MemoryCheckpoints()
    with Projector(modules=[channels], checkpoints=checkpoints) as p:
        p.apply(EVENTS)
    bumped = ModuleType("channels_v2")
    bumped.__dict__.update({k: getattr(channels, k) for k in ("NAME", "initial", "apply",
                                                              "VIEWS")})
    bumped.VERSION = channels.VERSION + 1
    assert Projector(modules=[bumped], checkpoints=checkpoints).position == 0


def test_a_checkpoint_beyond_the_log_is_not_trusted(tmp_path: Path) -> None:
    checkpoints = MemoryCheckpoints()
    with Projector(checkpoints=checkpoints) as p:
        p.apply(EVENTS)
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    store.append(_news(EVENTS[:100]))  # an older copy of the log
    projector = Projector(store, checkpoints=checkpoints)
    assert projector.position == 0
    projector.catch_up()
    assert _states(projector) == _states(replay(EVENTS[:100]))
    store.close()


def test_catch_up_until_rebuilds_a_projection_past_it(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    store.append(_news(EVENTS))
    with Projector(store) as projector:
        projector.catch_up()
    with Projector(store, read_only=True) as earlier:
        earlier.catch_up(until=400)
        assert earlier.position == 400
        assert _states(earlier) == _states(replay(EVENTS[:400]))
    store.close()


def _exploding(kind: str) -> ModuleType:
    def apply(state: dict, event: Event) -> dict:
        if event.type == kind:
            raise KeyError("boom")
        state["n"] = state.get("n", 0) + 1
        return state

    module = ModuleType("exploding")
    module.__dict__.update(NAME="exploding", initial=dict, apply=apply, VIEWS={})
    return module


def test_a_failing_handler_is_counted_and_the_rest_applied(caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    bad = _exploding("Newexten")
    projector = replay(EVENTS, [bad, channels])
    newexten = sum(1 for e in EVENTS if e.type == "Newexten")
    assert projector.errors == {"exploding": {"Newexten": newexten}}
    assert projector.state("exploding")["n"] == len(EVENTS) - newexten
    assert projector.serialize("channels") == REFERENCE["channels"]
    assert "exploding failed on Newexten" in caplog.text


def test_malformed_envelopes_are_counted_not_applied() -> None:
    broken = Event(0, "s", 0, MALFORMED, "2026-11-22T15:33:07+00:00", "capture",
                   {"raw": "garbage", "error": "line without 'Key: Value'"})
    mixed = _interleave(EVENTS, {i: [broken] for i in range(0, len(EVENTS), 50)})
    projector = replay(mixed)
    assert projector.malformed == len(range(0, len(EVENTS), 50))
    assert projector.errors == {}
    assert _states(projector) == _renumbered_reference(mixed)


def _interleave(events: list[Event], extra: dict[int, list[Event]]) -> list[Event]:
    """Insert `extra[i]` before events[i], renumbering positions from 1."""
    out: list[Event] = []
    for i, event in enumerate(events):
        out.extend(extra.get(i, []))
        out.append(event)
    return [msgspec.structs.replace(e, position=n) for n, e in enumerate(out, 1)]


def _renumbered_reference(mixed: list[Event]) -> dict[str, bytes]:
    """The reference run over the same real events with the same positions (rows remember
    the position they were born at)."""
    real = [e for e in mixed if e.type != MALFORMED and e.server != "garbage"]
    return _states(replay(real))


# ------------------------------------------------------------------------------ properties

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=len(EVENTS) - 1), max_size=12))
def test_any_split_into_batches_with_restarts_gives_the_same_state(cuts: list[int]) -> None:
    checkpoints = MemoryCheckpoints()
    bounds = [0, *sorted(set(cuts)), len(EVENTS)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        projector = Projector(checkpoints=checkpoints, save_every=10**9)
        projector.apply(EVENTS[a:b])
        projector.close()
    assert _states(Projector(checkpoints=checkpoints)) == REFERENCE


HEADERS = ["Channel", "ChannelState", "ChannelStateDesc", "Uniqueid", "Linkedid", "Context",
           "Exten", "Priority", "Cause", "Cause-txt", "Variable", "Value", "ChanVariable",
           "BridgeUniqueid", "BridgeNumChannels", "Device", "State", "ActionID", "EventList",
           "ListItems", "Duration", "Queue", "Interface", "Agent", "Status", "Peer",
           "PeerStatus", "URI", "AOR", "ContactStatus", "ObjectName", "Newname", "DialStatus",
           "DestUniqueid", "DestChannelState", "Position", "Uptime", "Banner",
           "Username", "Domain", "Host", "Port", "ParkeeUniqueid", "ParkingSpace",
           "Parkinglot", "Location", "Paused", "Membership", "Wait", "Count", "Timestamp",
           "ParkingDuration", "ParkingTimeout", "Seconds", "Callers", "HoldTime", "TalkTime",
           "Penalty", "ServicelevelPerf", "ServicelevelPerf2", "Name", "Timeout"]
TYPES = sorted({e.type for e in EVENTS} | {
    "Rename", "BridgeMerge", "AgentLogin", "AgentLogoff", "Agents", "AgentsComplete",
    "PeerStatus", "PeerEntry", "PeerlistComplete", "ContactStatus", "ContactList",
    "EndpointList", "EndpointDetail", "EndpointListComplete", "Registry", "RegistryEntry",
    "Shutdown", "Reload", "ConnectionLost", "QueueCallerJoin", "QueueMemberStatus",
    "Unknown-Type"})
values = st.one_of(
    st.text(alphabet=string.printable, max_size=12),
    st.sampled_from(["", "6", "-1", "1e400", "NaN", "16", "start", "Complete", "0", "abc",
                     "inf", "-inf", "1e20", "99999999999999999999999", "1795361600.5",
                     "00:01:05", "3.7", "Success", "EventList"]),
    st.lists(st.text(max_size=5), max_size=3),
)
garbage_event = st.builds(
    lambda type_, data: Event(0, "ami/garbage/s1", 0, type_, "2026-11-22T15:33:07+00:00",
                              "garbage", data),
    st.sampled_from(TYPES),
    st.dictionaries(st.sampled_from(HEADERS), values, max_size=10),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.integers(min_value=0, max_value=len(EVENTS) - 1),
                       st.lists(garbage_event, min_size=1, max_size=4), max_size=25))
def test_garbage_interleaved_never_escapes_and_the_rest_is_applied(
        extra: dict[int, list[Event]]) -> None:
    mixed = _interleave(EVENTS, extra)
    projector = replay(mixed)  # must not raise, whatever the garbage
    assert projector.position == len(mixed)
    real_server_rows = {
        view: [r for r in projector.rows(view, now=0) if r.get("server") != "garbage"]
        for view in projector.views()
    }
    reference = replay([e for e in mixed if e.server != "garbage"])
    assert real_server_rows == {view: reference.rows(view, now=0) for view in reference.views()}


@pytest.mark.parametrize("stamp", ["NaN", "inf", "-inf", "1e20", "-5", "x", "", "1e400"])
def test_absurd_timestamps_never_reach_state_or_views(stamp: str) -> None:
    """A header `Timestamp: NaN` would make a float no JSON, clock or view can hold: every
    projection falls back to `recorded_at`, so every time it shows is a real one."""
    absurd = [msgspec.structs.replace(e, data={**e.data, "Timestamp": stamp}) for e in EVENTS]
    mixed = replay(_interleave(EVENTS, {i: [e] for i, e in enumerate(absurd) if i % 3 == 0}))
    alone = replay(absurd)  # every event's own time is absurd: only recorded_at is left
    for projector in (mixed, alone):
        assert projector.errors == {}
        for module in PROJECTIONS:
            state = projector.state(module.NAME)
            assert msgspec.json.decode(encode_state(state)) == state, module.NAME
        for view in projector.views():
            for row in projector.rows(view, now=NOW):
                for name in TIMES & row.keys():
                    assert row[name] is None or row[name][:2] == "20", (view, name, row[name])


def test_views_are_listed_and_unknown_ones_refused() -> None:
    projector = Projector()
    assert "channels" in projector.views() and projector.rows("channels") == []
    with pytest.raises(KeyError, match="unknown view"):
        projector.rows("nope")


def test_state_serialization_is_plain_json() -> None:
    state = replay(EVENTS).state("calls")
    assert msgspec.json.decode(encode_state(state)) == state


def test_the_sqlite_log_reads_exactly_what_its_recorder_holds(tmp_path: Path) -> None:
    """`SQLiteStore.read_raw` (the projector's read path) queries the table directly, without
    the library's per-row objects: same rows, same bytes, for any window."""
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    store.append(_news(EVENTS))
    recorder = store.recorder  # type: ignore[attr-defined]
    last = store.last_position()
    for after, limit, until in [(0, 10, None), (0, 5000, None), (7, 3, None), (last - 2, 10, None),
                                (last, 10, None), (10, 100, 12), (10, 100, 10), (50, 0, None),
                                (0, 1, 1), (400, 1000, last + 5)]:
        library = [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
                   for n in recorder.select_notifications(after, limit, until,
                                                          inclusive_of_start=False)]
        assert store.read_raw(after, limit, until) == library, (after, limit, until)
    assert [e.data for e in store.read(0, len(EVENTS))] == [e.data for e in EVENTS]
    store.close()


_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8),
                  st.lists(st.integers(), max_size=3))
_row = st.dictionaries(st.text(max_size=6), _leaf, max_size=4)


@given(st.dictionaries(
    st.text(max_size=10),
    st.one_of(_leaf, st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), _row,
                                     max_size=40)),
    max_size=6), st.integers(min_value=1, max_value=7))
@settings(max_examples=300, deadline=None)
def test_a_state_encoded_in_pieces_is_the_same_bytes_as_in_one_call(state: dict,
                                                                     piece: int) -> None:
    """Checkpoints and snapshots are compared byte for byte (`replay verify`): writing the big
    collections a slice at a time must not change a byte."""
    import projections.runner as runner

    saved, runner.PIECE = runner.PIECE, piece
    try:
        assert encode_state(state) == msgspec.json.encode(state)
    finally:
        runner.PIECE = saved


def test_unreadable_rows_are_skipped_counted_and_remembered(store: Store, store_url: str
                                                            ) -> None:
    """A row no envelope comes from stops no projection: every projection skips it, the
    projector counts it with its position and reason, and still knows after a restart from
    its checkpoints (`/status` says so), without counting it twice."""
    from tests.raw_rows import NULL_WALL, insert_raw_row

    news = _news(EVENTS)
    store.append(news[:300])
    insert_raw_row(store_url, "ami/pbx1/capture-bad", 0, "FullyBooted", NULL_WALL)
    store.append(news[300:])
    with Projector(store) as projector:
        projector.catch_up()
        assert projector.position == len(news) + 1
        assert projector.unreadable["count"] == 1
        [row] = projector.unreadable["rows"]
        assert row["position"] == 301 and row["type"] == "FullyBooted"
        assert "Expected `str`, got `null`" in row["error"]
        assert projector.errors == {}
        readable = [e for e in store.iter_all() if e.position != 301]
        assert _states(projector) == _states(replay(readable))  # as if it were not there
    with Projector(store) as again:  # from the checkpoints: nothing left to read
        assert again.catch_up() == 0
        assert again.unreadable["count"] == 1 and again.unreadable["rows"][0]["position"] == 301
        again.rebuild()
        assert again.unreadable["count"] == 1
