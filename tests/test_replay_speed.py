"""The shortcuts that make a replay fast change no state: a projection's handlers called directly
(`base.handled_by`), the types a projection ignores skipped by the runner and by the reader
(`IGNORED_TYPES`), and a rebuild that uses only the cores that are free."""

from __future__ import annotations

import msgspec
import pytest

from engine.capture import capture_events
from engine.envelope import Event
from engine.store import Store
from projections import PROJECTIONS, channels
from projections.base import handlers_of
from projections.runner import Projector, encode_state
from replay import rebuild as rebuild_module
from replay.reader import open_reader
from replay.rebuild import rebuild, skipped_of, spare_cores
from tests.captures import CAPTURE_FILES, all_capture_events


def folded(module: object, events: list[Event]) -> bytes:
    """The module's `apply` folded over the events by hand: what the runner must equal."""
    state = module.initial()  # type: ignore[attr-defined]
    for event in events:
        if event.type != "Malformed":
            state = module.apply(state, event)  # type: ignore[attr-defined]
    return encode_state(state)


def test_the_runner_gives_what_apply_gives_for_every_projection() -> None:
    events = all_capture_events()
    projector = Projector(None, persist=False)
    projector.apply(events)
    for module in PROJECTIONS:
        assert projector.serialize(module.NAME) == folded(module, events), module.NAME


def test_declared_handlers_are_what_apply_calls() -> None:
    """`handled_by(apply, handlers)`: apply hands each listed type to that handler and returns
    the state it was given."""
    events = all_capture_events()
    for module in PROJECTIONS:
        handlers = handlers_of(module.apply)
        if not handlers:
            continue
        by_apply, by_handler = module.initial(), module.initial()
        for event in events:
            handler = handlers.get(event.type)
            if handler is None:
                continue
            assert module.apply(by_apply, event) is by_apply
            handler(by_handler, event)
        assert encode_state(by_apply) == encode_state(by_handler), module.NAME


def test_ignored_types_leave_every_state_alone() -> None:
    """An ignored type changes nothing even when it carries what a handled one would: each is
    sent with every live channel's snapshot, list headers and an ActionID."""
    events = all_capture_events()
    for module in PROJECTIONS:
        ignored = getattr(module, "IGNORED_TYPES", frozenset())
        assert isinstance(ignored, frozenset), module.NAME
        assert not (ignored and getattr(module, "EVENT_TYPES", None) is not None), module.NAME
        if not ignored:
            continue
        state = module.initial()
        for event in events:
            state = module.apply(state, event)
        before = encode_state(state)
        position = events[-1].position
        for type_ in sorted(ignored):
            for row in list(state.get("channels", {}).values()):
                position += 1
                data = {"Event": type_, "Uniqueid": row["unique_id"], "ChannelState": "6",
                        "Channel": "SIP/other-00000001", "ActionID": "a", "EventList": "start",
                        "ListItems": "0", "Variable": "X", "Value": "1"}
                state = module.apply(state, Event(position, "ami/x/1", position, type_,
                                                  events[-1].recorded_at, row["server"], data))
        assert encode_state(state) == before, module.NAME


def test_channels_ignores_what_carries_no_channel_snapshot() -> None:
    assert {"DeviceStateChange", "OriginateResponse"} <= channels.IGNORED_TYPES
    # Types that do carry one (or a list's bookkeeping) are never ignored.
    assert not channels.IGNORED_TYPES & {"Newstate", "Hangup", "Response", "Banner",
                                         "QueueCallerJoin", "ParkedCall", "CoreShowChannel"}
    for path in CAPTURE_FILES:
        for event in capture_events(path, "t"):
            if event.type in channels.IGNORED_TYPES:
                assert "ChannelState" not in event.data, (path.name, event.type)


def test_skipped_of_a_group() -> None:
    by_name = {m.NAME: m for m in PROJECTIONS}
    assert skipped_of([channels]) == channels.IGNORED_TYPES
    # A projection that declares its types reads them, whatever another ignores.
    assert "DeviceStateChange" not in skipped_of([channels, by_name["devices"]])
    assert "OriginateResponse" in skipped_of([channels, by_name["devices"]])
    # One that reads every type (commands) makes the group read every type.
    assert skipped_of([channels, by_name["commands"]]) == frozenset()
    assert skipped_of([by_name["commands"]]) == frozenset()


def test_reader_excludes_types_in_the_database(store: Store) -> None:
    for path in CAPTURE_FILES:
        store.append(list(capture_events(path, path.stem)))
    everything = list(store.iter_all())
    with open_reader(store.url) as reader:
        skip = {"DeviceStateChange", "VarSet"}
        assert list(reader.events(exclude=skip)) == [e for e in everything
                                                     if e.type not in skip]
        assert list(reader.events(types={"Hangup", "VarSet"}, exclude={"VarSet"})) == [
            e for e in everything if e.type == "Hangup"]
        assert list(reader.events(5, 50, exclude=())) == everything[5:50]


def test_rebuild_of_a_group_that_skips_types_equals_the_projector(store: Store) -> None:
    for path in CAPTURE_FILES:
        store.append(list(capture_events(path, path.stem)))
    reference = Projector(store, persist=False)
    reference.rebuild()
    result = rebuild(store.url, ["channels"], workers=1)
    assert result.states["channels"] == reference.serialize("channels")


def test_spare_cores_from_cpu_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rebuild_module.os, "cpu_count", lambda: 2)
    assert spare_cores((100, 1000), (150, 1100)) == pytest.approx(1.0)  # half idle: one core
    assert spare_cores((100, 1000), (100, 1100)) == 0.0  # both busy
    assert spare_cores(None, (100, 1100)) == 1.0  # unknown: every other core counts
    assert spare_cores((100, 1000), (102, 1004)) == 1.0  # too short to tell


@pytest.mark.parametrize(("spare", "processes"), [(0.2, 1), (0.9, 2)])
def test_the_default_rebuild_uses_the_free_cores(store: Store, monkeypatch: pytest.MonkeyPatch,
                                                 spare: float, processes: int) -> None:
    for path in CAPTURE_FILES:
        store.append(list(capture_events(path, path.stem)))
    monkeypatch.setattr(rebuild_module, "default_workers", lambda: 2)
    monkeypatch.setattr(rebuild_module, "spare_cores", lambda before, after: spare)
    reference = Projector(store, persist=False)
    reference.rebuild()
    result = rebuild(store.url, parallel_min=0)
    assert len(result.groups) == processes
    assert result.states == {m.NAME: reference.serialize(m.NAME) for m in PROJECTIONS}
    # An explicit number of workers is kept, free or not.
    assert len(rebuild(store.url, workers=2, parallel_min=0).groups) == 2


def test_states_decode_back_equal() -> None:
    """Checkpoints are msgspec JSON: what the runner holds survives a round trip unchanged."""
    projector = Projector(None, persist=False)
    projector.apply(all_capture_events())
    for module in PROJECTIONS:
        blob = projector.serialize(module.NAME)
        assert msgspec.json.decode(blob) == projector.state(module.NAME), module.NAME
