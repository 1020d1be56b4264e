"""The dialer as a running service: it hangs off the engine, decides, and acts.

    dialer = Dialer(engine)          # after Engine(...), before or after engine.start()
    await dialer.start()             # after engine.start()
    ...
    await dialer.stop()              # before engine.stop()

Two threads of control, each with one job:
- the log's writer thread runs the dialer as its reactor (`EventLog.set_reactor`): after every
  commit the dialer applies what was committed to read models of its own, the two projections it
  decides over (`projections/queues.py`, `projections/dialings.py`, loaded from their last
  checkpoints). When an event may change a decision (`process.triggers`: an object written, a
  queue member freed, a call of ours ending, a list answer after a reconnect, our own timer) it
  runs `process.decide` on those read models, consistent at that position, and hands back its
  decisions' events, which the writer commits first in its next batch. Once they are durable,
  their actions go to the event loop (outbox: nothing is sent for a decision that is not in the
  log). The dialer never waits for the engine's projector (every projection, their checkpoints,
  the API's clients) nor for a write lock: a freed agent's event and the decision it causes are
  two consecutive commits of one thread;
- the event loop sends the actions: an `Originate` is sent once, on the AMI session the
  decision names, or not at all (a decision whose send outcome is unknown after a crash is
  reconciled from the channel list the next session answers, never re-sent). A hangup (a
  campaign stopped forcedly, `DELETE /ob/dialings/<uuid>`) is a command (`engine/commands.py`),
  in the log before its action leaves, so the dialing's result says the dialer ended the call
  (`end_reason`) and not the customer. It also keeps one timer, set to the next instant at
  which time alone changes a decision (a schedule boundary, a retry coming due, a dialing
  deadline), which appends a `DialerWoken` event when it fires.
The results file follows the log on a thread of its own.

Decisions begin only when the dialer's read models have reached this dialer's `DialerStarted`
marker, so a restarted engine never dials from read models still catching up with the log.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from engine.ami.client import ActionError, AmiClient, AmiError, ConnectionLost
from engine.ami.protocol import Message
from engine.commands import Command, Commands, UnknownServer
from engine.config import DialerConfig
from engine.dialer import codes, process
from engine.dialer import dialings as dialing_model
from engine.dialer import events as ev
from engine.dialer.commands import ObCommands
from engine.dialer.objects import new_uuid
from engine.dialer.process import HANGUP_REQUESTED, Dial, End, Hangup, SetStatus
from engine.dialer.resultsfile import ResultsFile
from engine.envelope import Event, NewEvent
from engine.log import Reaction
from engine.values import iso
from projections import dialings as dialings_projection
from projections import queues as queues_projection
from projections.runner import Projector

if TYPE_CHECKING:  # engine.runtime may start a Dialer itself: no import cycle at run time
    from engine.runtime import Engine

log = logging.getLogger("switchboard.dialer")

WAIT_PROJECTED = 5.0  # seconds a write waits for its event to be projected before answering
READ = 2000  # events the dialer's read models take from the log at a time


class Sent(NamedTuple):
    """One Originate's way out, as `time.perf_counter()` instants (`Dialer.sent`, read by
    scripts/bench_dialer.py): where a decision's latency goes."""

    causes: tuple[int, ...]  # log positions of the events the pass ran for
    seen: float  # the dialer's read models had applied them: the pass begins
    decided: float  # `process.decide` returned
    durable: float  # the decisions were committed to the log
    sent: float  # the Originate was written to the AMI connection
    dialing: str = ""  # its dialing's uuid (the Originate's ChannelId)


class Dialer:
    """The process manager of one engine: `commands` serves the REST writes, `hangup` the
    dialing DELETE, `status()` the operator's view; the rest runs by itself between `start()`
    and `stop()`."""

    def __init__(self, engine: Engine, config: DialerConfig | None = None, *,
                 clock: Callable[[], float] = time.time, tick: float | None = None) -> None:
        """`config` defaults to the engine's `[dialer]`. `tick` (seconds) replaces the
        event-driven passes by jade's polling loop, one Originate per campaign per tick: kept
        only so the benchmark can compare against it."""
        self.engine = engine
        self.config = config or engine.config.dialer
        self.clock = clock
        self.tick = tick
        self.settings = process.Settings(
            unlimited_cap=self.config.unlimited_cap,
            abandon_target=self.config.abandon_target,
            abandon_after=self.config.abandon_after,
            max_dial_ratio=self.config.max_dial_ratio,
            default_timezone=self.config.default_timezone,
            dialing_timeout=self.config.dialing_timeout,
            tick=tick is not None,
        )
        self.pending = process.Pending()
        self.commands = ObCommands(engine.log, engine.store, self._ob_state,
                                   self.wait_projected, clock)
        self.results = ResultsFile(engine.store, self.config.results_path,
                                   self.config.result_info)
        # the dialer's hangups go through the log as commands, as an operator's do
        self.hangups = Commands(engine.log, engine.clients, engine.config.api.command_timeout)
        self.instance = new_uuid()
        self.sent: collections.deque[Sent] = collections.deque(maxlen=200_000)
        self.decisions = 0  # passes run
        self.originates = 0  # Originates sent
        self._lock = threading.Lock()  # pending + decide: the writer thread vs event loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._live = False
        self._live_event: asyncio.Event | None = None
        self._stopped = True
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._wake_at: float | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._min_wait = math.inf
        self._dialer_version: int | None = None
        self._registered = False
        # the dialer's own read models, touched only on the log's writer thread
        self.models: Projector | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """After `engine.start()`: follow the read models, write the results file, and begin
        deciding once the projections have reached this start's marker in the log."""
        self._loop = asyncio.get_running_loop()
        self._live_event = asyncio.Event()
        self._stopped = False
        if not self._registered:
            self.engine.on_projected(self._on_projected)
            self._registered = True
        self.results.start()
        # From the checkpoints the engine's projector last saved; `_react` catches them up.
        self.models = Projector(self.engine.store, [queues_projection, dialings_projection],
                                read_only=True)
        self.engine.log.set_reactor(self._react)
        await self._append_dialer_event(ev.DIALER_STARTED, {
            "instance": self.instance, "node": socket.gethostname(), "pid": os.getpid(),
            "server": self.server})
        if self.tick is not None:
            self._spawn(self._ticking(self.tick))
        try:
            await asyncio.wait_for(self._live_event.wait(), 30.0)
        except TimeoutError:
            log.warning("dialer: the projections have not reached the start marker yet "
                        "(is the engine started?); decisions begin when they do")

    async def stop(self) -> None:
        """Before `engine.stop()`. Calls in flight go on; the next start reconciles them."""
        self.engine.log.set_reactor(None)
        await self.engine.log.flush()  # the last decisions durable, their Originates sent
        await asyncio.sleep(0)
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.models is not None:
            self.models.close()
        await asyncio.to_thread(self.results.stop)
        for _, future in self._waiters:
            if not future.done():
                future.set_result(None)
        self._waiters.clear()

    @property
    def live(self) -> bool:
        return self._live

    @property
    def server(self) -> str:
        """The AMI server campaigns dial through: `dialer.server`, else the first configured."""
        if self.config.server:
            return self.config.server
        servers = getattr(self.engine.config, "servers", [])
        return servers[0].name if servers else ""

    def status(self) -> dict[str, Any]:
        state = self._ob_state()
        return {
            "live": self._live,
            "server": self.server,
            "live_dialings": len(state["dialings"]),
            "pending": {"dials": len(self.pending.dials), "ends": len(self.pending.ends),
                        "statuses": len(self.pending.statuses)},
            "decisions": self.decisions,
            "originates": self.originates,
            "next_wake": self._wake_at,
            "results_file": str(self.results.path),
            "results_lines": self.results.lines,
        }

    # -- reading ----------------------------------------------------------------------------------

    def _ob_state(self) -> dict[str, Any]:
        """The dialer's read model as the engine's projector, and so the API, has it."""
        return self.engine.projector.state(dialings_projection.NAME)

    def _decision_state(self) -> dict[str, Any]:
        """The same read model as the dialer's own thread has it: what decisions are made on."""
        assert self.models is not None
        return self.models.state(dialings_projection.NAME)

    async def wait_projected(self, position: int, timeout: float = WAIT_PROJECTED) -> None:
        """Until the engine's projector has applied `position` (a write's answer must be
        readable through the API)."""
        if self.engine.projector.positions.get(dialings_projection.NAME, 0) >= position:
            return
        assert self._loop is not None, "Dialer.start() first"
        future: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append((position, future))
        self._min_wait = min(self._min_wait, position)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            log.warning("dialer: position %d not projected within %.1fs", position, timeout)

    def _release(self, position: int) -> None:
        keep = []
        for at, future in self._waiters:
            if at <= position:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((at, future))
        self._waiters = keep
        self._min_wait = min((at for at, _ in keep), default=math.inf)

    def _on_projected(self, event: Event) -> None:
        """The engine's projector thread, after each event: answer the writes waiting for it."""
        loop = self._loop
        if loop is not None and event.position >= self._min_wait:
            loop.call_soon_threadsafe(self._release, event.position)

    # -- the log's writer thread -------------------------------------------------------------------

    def _react(self) -> Reaction | None:
        """After a commit: apply the log to the dialer's read models, then decide once for all
        the events that may change a decision (one pass for a burst: a pass decides on the
        state as it is, so one after the last of them sees what each would have). Every event
        goes through `_wants_pass`, those before the start marker too: that is how the marker
        is seen."""
        models, store = self.models, self.engine.store
        if models is None:
            return None
        causes: list[int] = []
        last: Event | None = None
        while True:
            # From the store's memory of this commit; a short read is the end (asking the
            # database for more would hand the GIL round once more on the way to the Originate;
            # what another process wrote since is read at the next commit or idle look).
            events = store.read(models.position, READ)
            for event in events:
                models.apply((event,))
                if self._wants_pass(event):
                    causes.append(event.position)
            if events:
                last = events[-1]
            if len(events) < READ:
                break
        if not causes or last is None:
            return None
        return self._pass(last, tuple(causes), time.perf_counter())

    def _wants_pass(self, event: Event) -> bool:
        if self._stopped or self._loop is None:
            return False
        if not self._live:
            if (event.type != ev.DIALER_STARTED
                    or event.data.get("instance") != self.instance):
                return False
            self._live = True
            assert self._live_event is not None
            self._loop.call_soon_threadsafe(self._live_event.set)
            return True
        if self.tick is not None:
            return event.type == ev.DIALER_WOKEN
        return self._relevant(event)

    def _relevant(self, event: Event) -> bool:
        return process.triggers(event.type, event.header, self._decision_state())

    def _pass(self, seen: Event, causes: tuple[int, ...], started: float) -> Reaction | None:
        """Decide on the read models as `seen` (the last event applied) left them; the
        decisions' events go back to the writer, and their actions to the event loop once the
        writer has made them durable (`_recorded`)."""
        assert self.models is not None
        ob = self._decision_state()
        queues = self.models.state(queues_projection.NAME)
        with self._lock:
            self.pending.prune(ob)
            decision = process.decide(
                ob, queues, self.clock(), sessions=self._sessions(), server=self.server,
                pending=self.pending, settings=self.settings, new_id=new_uuid)
        self.decisions += 1
        loop = self._loop
        assert loop is not None
        if self.tick is None:
            loop.call_soon_threadsafe(self._arm, decision.next_wake)
        if not decision.commands:
            return None
        decided = time.perf_counter()
        hangups = [c for c in decision.commands if isinstance(c, Hangup)]
        if hangups:
            loop.call_soon_threadsafe(self._hang_up, hangups)
        recorded = [c for c in decision.commands if not isinstance(c, Hangup)]
        if not recorded:
            return None
        news = [self._event_of(c, seen) for c in recorded]

        def done(stored: list[Event | None]) -> None:
            """The decisions are durable (those stored): their Originates leave now, from
            this thread; what is left to do goes to the event loop."""
            if self._stopped:
                return  # decided, never sent: the next start reconciles them
            stages = Sent(causes, started, decided, time.perf_counter(), 0.0)
            refused = [c for c, e in zip(recorded, stored, strict=True) if e is None]
            dials = [c for c, e in zip(recorded, stored, strict=True)
                     if e is not None and isinstance(c, Dial)]
            sent = [(cmd, self._originate(cmd, stages)) for cmd in dials]
            loop.call_soon_threadsafe(self._settle, refused, sent)

        return Reaction(news, done)

    def _sessions(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for client in self.engine.clients:
            status = client.status
            connected = status.state == "connected" and status.session
            out[client.config.name] = (f"ami/{client.config.name}/{status.session}"
                                       if connected else None)
        return out

    # -- the event loop ---------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("dialer task failed", exc_info=task.exception())

    def _settle(self, refused: list[Dial | End | SetStatus],
                sent: list[tuple[Dial, asyncio.Future[list[Message]] | str]]) -> None:
        """On the event loop, after the writer sent what it could: a decision whose stream had
        moved on goes to `_conflict`; each Originate sent waits for its answer, each that could
        not be sent (its AMI session is gone) is closed with the reason."""
        if self._stopped:
            return
        for cmd in refused:
            self._spawn(self._conflict(cmd))
        for dial, answer in sent:
            if isinstance(answer, str):
                self._spawn(self._close_unsent(dial, answer))
            else:
                self._spawn(self._answered(dial, answer))

    def _hang_up(self, hangups: list[Hangup]) -> None:
        if self._stopped:
            return
        for hangup in hangups:
            self._spawn(self._hangup(hangup.server, hangup.channel, hangup.dialing,
                                     hangup.dialing, hangup.reason))

    def _forget(self, cmd: Dial | End | SetStatus) -> None:
        if isinstance(cmd, Dial):
            self.pending.dials.pop(cmd.dl, None)
        elif isinstance(cmd, SetStatus):
            self.pending.statuses.pop(cmd.campaign, None)
        else:
            self.pending.ends.discard(cmd.dialing)

    def _event_of(self, cmd: Dial | End | SetStatus, seen: Event) -> NewEvent:
        """The decision's event; `causation_id` is the position of the last event applied to
        the read models the decision was made on (what it saw)."""
        cause = str(seen.position)
        if isinstance(cmd, Dial):
            data = {"dialing": cmd.dialing, "dl": cmd.dl_changes, "originate": cmd.headers,
                    "server": cmd.server, "session": cmd.session, "pacing": cmd.pacing}
            return ev.new(ev.stream("dl", cmd.dl), cmd.dl_version + 1, ev.DIALING_CREATED,
                          data, server=cmd.server, correlation_id=cmd.dialing["uuid"],
                          causation_id=cause)
        if isinstance(cmd, End):
            version = self._decision_state()["dls"].get(cmd.dl, {}).get("_v", -1)
            return ev.new(ev.stream("dl", cmd.dl), version + 1, ev.DIALING_ENDED, cmd.data,
                          correlation_id=cmd.dialing, causation_id=cause)
        data = {"status": cmd.status, "previous": cmd.previous, "reason": cmd.reason,
                "tm_update": iso(self.clock())}
        return ev.new(ev.stream("campaign", cmd.campaign), cmd.version + 1,
                      ev.CAMPAIGN_STATUS_CHANGED, data, causation_id=cause)

    async def _conflict(self, cmd: Dial | End | SetStatus) -> None:
        """Someone else wrote the stream first: drop the decision (the next pass, which their
        event triggers, decides again), except an end, which is appended at the new version."""
        if isinstance(cmd, End):
            await self._append_end(cmd)
            return
        with self._lock:
            self._forget(cmd)
        if isinstance(cmd, Dial):
            log.info("dialer: dl %s changed under the decision; not dialed", cmd.dl)

    async def _append_end(self, cmd: End) -> None:
        stream = ev.stream("dl", cmd.dl)
        for _ in range(20):
            events = await asyncio.to_thread(self.engine.store.read_stream, stream)
            if any(e.type == ev.DIALING_ENDED and e.data.get("dialing") == cmd.dialing
                   for e in events):
                return
            version = events[-1].version + 1 if events else 0
            [stored] = await self.engine.log.append([ev.new(
                stream, version, ev.DIALING_ENDED, cmd.data, correlation_id=cmd.dialing)])
            if stored is not None:
                return
        log.error("dialer: could not record the end of dialing %s", cmd.dialing)

    def _client(self, server: str) -> AmiClient | None:
        for client in self.engine.clients:
            if client.config.name == server:
                return client
        return None

    def _originate(self, cmd: Dial, stages: Sent) -> asyncio.Future[list[Message]] | str:
        """Write a durable decision's Originate, on the log's writer thread the moment its
        batch committed: through the event loop it waited for the loop to get the GIL, behind
        the projector and every other follower woken by the same commit (p50 2.5 ms, p99 up to
        14 ms of the reaction latency, scripts/bench_dialer.py). Sent once, on the AMI session
        the decision names, or not at all: then the reason, and it is closed."""
        client = self._client(cmd.server)
        prefix = f"ami/{cmd.server}/"
        try:
            if client is None or not cmd.session.startswith(prefix):
                raise ConnectionLost(f"the AMI session {cmd.session} is gone")
            answer = client.send_threadsafe(cmd.headers, cmd.session[len(prefix):])
        except ConnectionLost as exc:
            return f"Originate not sent: {exc}"
        self.sent.append(stages._replace(sent=time.perf_counter(), dialing=cmd.dialing["uuid"]))
        self.originates += 1
        return answer

    async def _answered(self, cmd: Dial, answer: asyncio.Future[list[Message]]) -> None:
        client = self._client(cmd.server)
        try:
            if client is None:
                raise ConnectionLost(f"{cmd.server}: no such AMI server")
            await client.answer(cmd.headers["ActionID"], answer, self.config.originate_timeout)
        except ActionError:
            pass  # `Response: Error` is in the log: the projection marks it refused
        except (ConnectionLost, TimeoutError) as exc:
            # Sent or not, nobody knows: never re-sent; the next session's channel list (or
            # the dialing deadline) settles it.
            log.warning("dialer: Originate %s outcome unknown (%s)", cmd.dialing["uuid"], exc)
        except AmiError as exc:
            log.warning("dialer: Originate %s failed: %s", cmd.dialing["uuid"], exc)

    async def _close_unsent(self, cmd: Dial, reason: str) -> None:
        with self._lock:
            self.pending.ends.add(cmd.dialing["uuid"])
        row = dialing_model.track(cmd.dialing, self.clock())
        row["status"] = codes.DIALING_REQUEST_FAILED
        data = dialing_model.end(dialing_model.lost(row, reason), self.clock())
        await self._append_end(End(cmd.dl, cmd.dialing["uuid"], data))

    async def hangup(self, dialing_uuid: str) -> bool:
        """`DELETE /ob/dialings/<uuid>`: ask Asterisk to hang the call up; the dialing ends
        when its Hangup arrives. False when there is no such live dialing."""
        row = self._ob_state()["dialings"].get(dialing_uuid)
        if row is None:
            return False
        uid, channel = dialing_uuid, row.get("channel") or ""
        if not channel:
            up = [(u, c[0]) for u, c in row["_channels"].items() if c[0] and not c[1]]
            uid, channel = up[0] if up else (uid, "")
        if not channel:
            raise AmiError(f"dialing {dialing_uuid} has no channel yet")
        await self._hangup(row["server"], channel, uid, dialing_uuid, HANGUP_REQUESTED)
        return True

    async def _hangup(self, server: str, channel: str, uid: str, dialing_uuid: str,
                      reason: str) -> None:
        """A hangup command, durable in the log before its action leaves: the dialing's end
        (`projections/dialings.py`) says the dialer hung up, and why. Asterisk's refusal (the
        channel is already gone) is no error; a link that is down is."""
        command = Command("dialing_hangup", server,
                          {"Action": "Hangup", "Channel": channel, "Cause": "16"}, "dialer",
                          [uid], {"dialing": dialing_uuid, "reason": reason})
        try:
            outcome = await self.hangups.run(command)
        except UnknownServer:
            raise ConnectionLost(f"{server}: no such AMI server") from None
        if not outcome.ok and outcome.status >= 500:
            raise ConnectionLost(outcome.message)

    # -- the timer --------------------------------------------------------------------------------

    def _arm(self, when: float | None) -> None:
        if self._stopped:
            return
        if when == self._wake_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake_at = when
        if when is None:
            return
        loop = self._loop
        assert loop is not None
        delay = max(0.0, when - self.clock())
        self._timer = loop.call_at(loop.time() + delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._wake_at = None
        if not self._stopped:
            self._spawn(self._append_dialer_event(ev.DIALER_WOKEN, {"reason": "timer"}))

    async def _ticking(self, every: float) -> None:
        while not self._stopped:
            await asyncio.sleep(every)
            await self._append_dialer_event(ev.DIALER_WOKEN, {"reason": "tick"})

    async def _append_dialer_event(self, type_: str, data: dict[str, Any]) -> None:
        for _ in range(20):
            if self._dialer_version is None:
                last = await asyncio.to_thread(self.engine.store.stream_version,
                                               ev.DIALER_STREAM)
                self._dialer_version = -1 if last is None else last
            version = self._dialer_version + 1
            [stored] = await self.engine.log.append(
                [ev.new(ev.DIALER_STREAM, version, type_, data)])
            self._dialer_version = None if stored is None else version
            if stored is not None:
                return
        log.error("dialer: could not append %s", type_)

