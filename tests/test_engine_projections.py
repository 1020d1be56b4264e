"""`switchboard run` end to end: the fake Asterisk over real TCP, the engine's log and its
projector thread, the read models it serves.

- At every list action a capture's session sent, the live read models hold exactly what
  Asterisk answered (`tests.captures.check_answer`, the acceptance tests' oracle).
- After a stop, a new engine on the same SQLite file resumes every projection from its
  checkpoint, and its state is byte for byte a rebuild from position 0.
- A reconnect reconciles: what vanished while the connection was down is closed, with the reason.
- Two Asterisks, bad input: separate rows per server; a malformed message and a failing
  handler are counted in `Engine.status()`, and the rest is applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.ami.ingest import LIST_ACTIONS
from engine.ami.testserver import AmiTestServer, replayed_lines
from engine.capture import read_lines
from engine.config import Config, ServerConfig
from engine.envelope import BANNER, CONNECTION_LOST, RESPONSE, Event
from engine.runtime import Engine
from engine.store import Store, open_store
from projections import PROJECTIONS, channels
from projections.channels import VANISHED
from projections.runner import Projector
from tests.captures import (
    CAPTURE_FILES,
    CAPTURES,
    CHECKED,
    answers,
    check_answer,
    header,
    heard_of,
    recorded_actions,
)
from tests.live import replayed_before
from tests.polling import until

NOW = 1795361700.0
# What the live check cannot hold to the recording's answers: the test server answers the
# engine's own list actions, sent before the replay began, with the recording's first
# answers, stamped with the engine's clock where the replayed events carry Asterisk's. What
# those say of a queue's averages and counts is from later in the session, and the ages and
# waits they imply are counted on another clock (the acceptance suite holds both to every
# answer).
LIVE_UNCHECKED = ("queue",)
LIVE_TOLERANCE = math.inf
AMI_VIEWS = ("channels", "calls", "bridges", "device-states", "systems", "queues",
             "queue-members", "queue-entries", "parking-lots", "parked-calls")


def engine_for(url: str, **ports: int) -> Engine:
    """An engine on the log at `url`, connected to a fake Asterisk per `name=port`."""
    return Engine(Config(store=url, servers=[
        ServerConfig(name=name, port=port, username="admin", secret="admin",
                     ping_interval=300.0, reconnect_max=1.0)
        for name, port in ports.items()]))


@contextlib.asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[Engine]:
    """Started, and stopped whatever happens (its log and projector committed and closed)."""
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def settled(engine: Engine, quiet: float = 0.3) -> int:
    """Wait until nothing more arrives for `quiet` seconds and the projector has applied it
    all; the last position."""
    last, since = -1, time.monotonic()
    while True:
        position = engine.store.last_position()
        if position != last:
            last, since = position, time.monotonic()
        elif time.monotonic() - since >= quiet and engine.projector.position == position:
            return position
        await asyncio.sleep(0.01)


async def answered(engine: Engine, server: AmiTestServer, session: int = 1) -> int:
    """Wait until the log holds the whole answer to every list action the engine sent in its
    `session`-th session, and the projector has applied it all; the last position."""

    def done() -> bool:
        if server.logins < session:
            return False
        ids = {a["ActionID"] for a in server.actions_received if a["Action"] in LIST_ACTIONS}
        streams = list(dict.fromkeys(e.stream for e in engine.store.iter_all()))
        if len(streams) < session:
            return False
        finished = {e.data["ActionID"] for e in engine.store.iter_all()
                    if e.stream == streams[session - 1] and e.data.get("ActionID") in ids
                    and (e.type.endswith("Complete")  # a list's last message; CoreStatus':
                         or (e.type == RESPONSE and "EventList" not in e.data))}
        return len(finished) == len(LIST_ACTIONS)

    await until(done)
    return await settled(engine, quiet=0.0)


async def projected(engine: Engine, position: int) -> None:
    """The log holds `position` and every projection has applied it."""
    await until(lambda: engine.projector.position >= position)


def assert_is_a_rebuild(store: Store, projector: Projector) -> None:
    """Every projection's state is byte for byte a replay of the log from position 0."""
    rebuilt = Projector(store, persist=False)
    rebuilt.rebuild()
    assert rebuilt.position == store.last_position() == projector.position
    for module in PROJECTIONS:
        assert projector.serialize(module.NAME) == rebuilt.serialize(module.NAME), module.NAME


# ------------------------------------------------------------------------------ live = answers

@pytest.mark.parametrize("path", CAPTURE_FILES, ids=lambda p: p.stem)
def test_live_read_models_match_every_answer_and_resume_from_their_checkpoint(
        tmp_path: Path, path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    order = replayed_lines(path)

    async def main() -> None:
        async with AmiTestServer(capture=path, pause_after=0) as server:
            async with running(engine_for(url, pbx1=server.port)) as engine:
                base = await answered(engine, server)  # the engine's own, then the replay
                replayed = 0
                recorded = {a.action_id: a for a in answers(path, CHECKED)}
                for line, _, action_id in recorded_actions(path, CHECKED):
                    count = sum(1 for i in order if i < line)
                    server.continue_replay(count - replayed)
                    replayed = count
                    await projected(engine, base + count)
                    answer = recorded[action_id]
                    now = answer.began
                    check_answer(answer, lambda view, now=now: engine.projector.rows(view, now),
                                 heard_of(engine.store.iter_all()), LIVE_UNCHECKED,
                                 LIVE_TOLERANCE)
                server.continue_replay()
                await projected(engine, base + len(order))

            resumed = engine_for(url, pbx1=server.port)
            last = resumed.store.last_position()
            assert resumed.projector.positions == {m.NAME: last for m in PROJECTIONS}
            assert_is_a_rebuild(resumed.store, resumed.projector)
            # and it goes on from there: the next session (the whole capture again) included
            async with running(resumed):
                await until(lambda: server.logins == 2)
                server.continue_replay()
                await settled(resumed)
                assert_is_a_rebuild(resumed.store, resumed.projector)

    asyncio.run(main())


# ------------------------------------------------------------------------------ reconnect

def test_a_reconnect_closes_what_vanished_while_disconnected(tmp_path: Path) -> None:
    """Calls are up when the connection drops; when it is back, Asterisk lists no channel (its
    answer as of the new session): each one is closed with the reason, nothing doubles."""
    path = CAPTURES / "originate-failures.jsonl"
    url = f"sqlite:///{tmp_path / 'log.db'}"
    order = replayed_lines(path)
    drop_after = _busiest_moment(path, order)

    async def main() -> None:
        async with AmiTestServer(capture=path, pause_after=0) as server, \
                running(engine_for(url, pbx1=server.port)) as engine:
            base = await answered(engine, server)
            server.continue_replay(drop_after)
            await projected(engine, base + drop_after)
            live = {row["unique_id"] for row in engine.projector.rows("channels", now=NOW)}
            calls = {row["linked_id"] for row in engine.projector.rows("calls", now=NOW)
                     if row["end"] is None}
            assert len(live) >= 2 and calls

            server.drop()  # the new session replays nothing (pause_after=0): only its answers
            await answered(engine, server, session=2)
            state = engine.projector.state("channels")
            assert engine.projector.rows("channels", now=NOW) == []
            for uid in live:
                closed = state["closed"][f"pbx1/{uid}"]
                assert closed["hangup_reason"] == VANISHED and closed["hangup_cause"] is None
            ended = {row["linked_id"]: row for row in engine.projector.rows("calls", now=NOW)}
            for linked in calls:
                assert ended[linked]["end"] is not None
                assert ended[linked]["hangup_reason"] == VANISHED

            events = list(engine.store.iter_all())
            first, second = list(dict.fromkeys(e.stream for e in events))
            assert [e.type for e in events if e.stream == first][-1] == CONNECTION_LOST
            assert [e.type for e in events if e.stream == second][0] == BANNER
            born = [e.data["Uniqueid"] for e in events if e.type == "Newchannel"]
            assert len(born) == len(set(born))  # nothing logged twice
            rows = engine.projector.rows("calls", now=NOW)
            assert len({r["linked_id"] for r in rows}) == len(rows)  # nor projected twice
            [system] = engine.projector.rows("systems", now=NOW)
            assert system["connected"] and system["session"] == second

    asyncio.run(main())
    store = open_store(url)
    with Projector(store, read_only=True) as resumed:
        assert_is_a_rebuild(store, resumed)
    store.close()


@pytest.mark.parametrize("restart", ["asterisk", "engine"])
def test_local_devices_in_use_are_freed_when_their_channels_vanished(
        tmp_path: Path, restart: str) -> None:
    """Issue 12 item 18. Local calls are up when Asterisk restarts (the connection drops), or
    when the engine stops and comes back after they ended: no Hangup, no DeviceStateChange
    will ever come for them, and Asterisk never lists a Local device. Once the new session's
    CoreShowChannels answer closes their channels, their devices are NOT_INUSE."""
    path = CAPTURES / "originate-failures.jsonl"
    url = f"sqlite:///{tmp_path / 'log.db'}"
    drop_after = _busiest_moment(path, replayed_lines(path))

    def states(engine: Engine) -> dict[str, str]:
        return {r["device"]: r["state"] for r in engine.projector.rows("device-states", now=NOW)
                if not r["cached"]}

    def freed(engine: Engine, busy: set[str]) -> None:
        assert engine.projector.rows("channels", now=NOW) == []
        assert {d: states(engine)[d] for d in busy} == dict.fromkeys(busy, "NOT_INUSE")

    async def main() -> None:
        async with AmiTestServer(capture=path, pause_after=0) as server:
            async with running(engine_for(url, pbx1=server.port)) as engine:
                base = await answered(engine, server)
                server.continue_replay(drop_after)
                await projected(engine, base + drop_after)
                busy = {d for d, state in states(engine).items() if state == "INUSE"}
                assert busy and all(d.startswith("Local/") for d in busy)
                if restart == "asterisk":
                    server.drop()  # the new session replays nothing: only its answers
                    await answered(engine, server, session=2)
                    freed(engine, busy)
            if restart == "engine":
                async with running(engine_for(url, pbx1=server.port)) as engine:
                    await answered(engine, server, session=2)
                    freed(engine, busy)

    asyncio.run(main())
    store = open_store(url)
    with Projector(store, read_only=True) as resumed:
        assert_is_a_rebuild(store, resumed)
    store.close()


def _busiest_moment(path: Path, order: list[int]) -> int:
    """How many replayed messages leave the most channels up."""
    lines = read_lines(path)
    up: set[str] = set()
    best, best_count = 0, 0
    for count, index in enumerate(order, 1):
        raw = lines[index].raw
        event, uid = header(raw, "Event"), header(raw, "Uniqueid")
        if event == "Newchannel":
            up.add(uid)
        elif event == "Hangup":
            up.discard(uid)
        if len(up) > best:
            best, best_count = len(up), count
    return best_count


# ------------------------------------------------------------------------------ two servers

def test_two_asterisks_with_identical_sessions_keep_separate_rows(tmp_path: Path) -> None:
    """Same capture on two fake Asterisks (same Uniqueids, same queue names): every row carries
    its server, and each server has the same rows."""
    path = CAPTURES / "queue-basic.jsonl"
    url = f"sqlite:///{tmp_path / 'log.db'}"
    cut = recorded_actions(path, ("CoreShowChannels",))[0][0]
    count = replayed_before(path, cut)  # calls up, members in the queue
    seen: set[str] = set()

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            east = await stack.enter_async_context(AmiTestServer(capture=path, pause_after=count))
            west = await stack.enter_async_context(AmiTestServer(capture=path, pause_after=count))
            engine = await stack.enter_async_context(
                running(engine_for(url, east=east.port, west=west.port)))
            await until(lambda: east.messages_replayed == west.messages_replayed == count)
            await settled(engine)
            for view in AMI_VIEWS:
                rows = engine.projector.rows(view, now=NOW)
                per = {s: [_identity(view, r) for r in rows if r["server"] == s]
                       for s in ("east", "west")}
                assert len(rows) == len(per["east"]) + len(per["west"]), view
                assert per["east"] == per["west"], view
                seen.update(view for _ in per["east"][:1])
        assert seen == set(AMI_VIEWS) - {"queue-entries", "parked-calls"}  # none at this time

    asyncio.run(main())


def _identity(view: str, row: dict) -> tuple:
    """What a row is about, whatever its server and times (a list answer's `Response` carries
    no Timestamp: its time is each engine connection's own clock)."""
    return tuple(v for k, v in row.items()
                 if k not in ("server", "id", "session", "tm_update", "tm_create", "duration",
                              "wait", "wait_time", "talk_time", "queue", "members", "entries"))


# ------------------------------------------------------------------------------ bad input

def test_bad_input_is_counted_in_the_status_and_the_rest_applied(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A message that is not AMI and an event a handler fails on, in the middle of a live
    session: both counted (`projection_errors`, `malformed_events`), the events after them
    applied, and the state still a rebuild of the log."""

    def boom(state: dict, event: Event) -> None:
        raise RuntimeError("handler bug")

    monkeypatch.setitem(channels.HANDLERS, "UserEvent", boom)
    after = ("Event: Newchannel\r\nChannel: SIP/after-01\r\nChannelState: 0\r\n"
             "ChannelStateDesc: Down\r\nUniqueid: 99.1\r\nLinkedid: 99.1\r\n\r\n")
    payload = ("this is not AMI\r\n\r\nEvent: UserEvent\r\nUserEvent: Boom\r\n\r\n"
               + after).encode()
    path = CAPTURES / "queue-basic.jsonl"
    url = f"sqlite:///{tmp_path / 'log.db'}"

    async def main() -> None:
        async with AmiTestServer(capture=path, payload=payload) as server, \
                running(engine_for(url, pbx1=server.port)) as engine:
            total = len(replayed_lines(path))
            await until(lambda: server.messages_replayed == total)
            await settled(engine)  # the payload follows the replay
            status = engine.status()
            assert status["projection_errors"] == {"channels": {"UserEvent": 1}}
            assert status["malformed_events"] == 1
            born = next(e.position for e in engine.store.iter_all()
                        if e.type == "Newchannel" and e.data["Uniqueid"] == "99.1")
            state = engine.projector.state("channels")  # (a later list answer may close it)
            row = state["channels"].get("pbx1/99.1") or state["closed"]["pbx1/99.1"]
            assert row["pos"] == born and row["channel"] == "SIP/after-01"
            assert "pbx1/99.1" in engine.projector.state("calls")["calls"]
            assert_is_a_rebuild(engine.store, engine.projector)

    asyncio.run(main())
