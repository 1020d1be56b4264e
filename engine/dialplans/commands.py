"""Writes to dpmas and dialplans (REST POST/PUT/DELETE): the file first, then the aggregate.

A write is decided against the aggregate read from its own stream (its version) and the other
objects as the projection holds them (a dpma's dialplans, the sequences taken); it changes the
contexts it touches as `render.py` writes them, each whole, so a context that drifted (changed by
hand, or by a write cut short) is made right again by the next write of its dpma. Writes are
serialized (one lock: they all change one file, and each reads what the last one projected).

The order that never leaves the log and Asterisk disagreeing silently:

1. the change of extensions.conf is a command (`engine/configs.change`), whose
   `CommandRequested` carries the aggregate events the write will append (`outbox`, with their
   streams and versions);
2. Asterisk refuses (`UpdateConfig`'s error, a failed reload, a file that reads back otherwise):
   the command is `failed` with Asterisk's message, the aggregate's events are not appended
   (the answer is the command's 4xx), and the file, read again, is put back as the log has it
   (a failed reload leaves it changed): a `dialplan_render` command, when anything differs;
3. Asterisk took it and it read back as asked: the command is `succeeded`, then the outbox is
   appended, each event caused by the command. A crash between the two leaves a succeeded
   command whose events are missing: the projection keeps such an outbox (`projections/
   dialplans.py`), and `recover` appends it, on start and before every write; the store's
   (stream, version) key makes that idempotent. A crash before the outcome leaves the command
   `sent`, as every command (`engine/commands.py`): the context is rendered again at the next
   write of its dpma.
4. Another writer (a second API node) took the aggregate's version meanwhile: the outbox event
   is a duplicate, dropped; the contexts are rendered again from the log as it is now (a
   `dialplan_render` command) and the write answers 409.

A write that changes nothing in the file (a dpma's `detail`, a dialplan's `name` when it has a
command) is appended at once: there is nothing to send to Asterisk.
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuidlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import configs
from engine.ami.asterisk_config import UpdateError
from engine.ami.client import AmiError
from engine.commands import Commands, Outcome, wait_projected
from engine.configs import Change, Content
from engine.dialer.commands import Conflict, NotFound
from engine.dialer.objects import Invalid, evolve, fold, is_uuid, new_uuid
from engine.dialplans import render
from engine.dialplans.objects import (
    COLLECTION,
    OUTBOX,
    alive,
    created,
    deleted,
    kind_of,
    stream,
    updated,
)
from engine.envelope import Event, NewEvent, utc_now
from engine.log import EventLog
from engine.store import Store
from engine.values import iso

FILE = "extensions.conf"
RENDER = "dialplan_render"  # the command that renders contexts again after a conflict

__all__ = ["Conflict", "DialplanCommands", "Failed", "Invalid", "NotFound", "Written"]


class Failed(Exception):
    """Asterisk refused the change (or the link failed): the command's outcome says how."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


@dataclass(frozen=True)
class Written:
    """What a write answers: the object after it (a deleted one as it was), and the command
    that changed extensions.conf for it (None: the file did not change)."""

    obj: dict[str, Any]
    command: str | None


@dataclass
class Plan:
    """A write decided: the aggregate events it appends (`outbox` entries), the dpmas whose
    contexts it renders, and the command it is in the log as."""

    server: str
    name: str  # the command's verb: dpma_create, dialplan_update...
    params: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    dpmas: set[str] = field(default_factory=set)
    answer: dict[str, Any] = field(default_factory=dict)


def canonical(text: str) -> str:
    """A uuid as streams and contexts spell it (lower case, dashed); the text itself when it is
    no uuid (which names nothing)."""
    return str(uuidlib.UUID(text)) if is_uuid(text) else text


class DialplanCommands:
    """`state()`: the dialplans projection's live state; `file(server)`: extensions.conf of a
    server as the config projection holds it; `position()`: the projector's position."""

    def __init__(self, log: EventLog, store: Store, commands: Commands,
                 state: Callable[[], Mapping[str, Any]],
                 file: Callable[[str], Content | None], position: Callable[[], int],
                 clock: Callable[[], float] = time.time) -> None:
        self.log = log
        self.store = store
        self.commands = commands
        self.state = state
        self.file = file
        self.position = position
        self.clock = clock
        self._lock = asyncio.Lock()

    # -- reading -------------------------------------------------------------------------------

    async def load(self, kind: str, uuid: str) -> tuple[dict[str, Any] | None, int]:
        """The object from its stream, and its version (-1: no event)."""
        if not is_uuid(uuid):
            return None, -1
        events = await asyncio.to_thread(self.store.read_stream, stream(kind, canonical(uuid)))
        return fold(events)

    async def _live(self, kind: str, uuid: str) -> tuple[dict[str, Any], int]:
        obj, version = await self.load(kind, uuid)
        if not alive(obj):
            raise NotFound(f"no {kind} {uuid}")
        assert obj is not None
        return obj, version

    def _dpma(self, uuid: object) -> dict[str, Any]:
        found = self.state()["dpmas"].get(uuid) if isinstance(uuid, str) else None
        if found is None:
            raise Invalid(f"dpma_uuid: no dpma {uuid}")
        return found

    def _children(self, dpma_uuid: str) -> list[dict[str, Any]]:
        return [d for d in list(self.state()["dialplans"].values())
                if d["dpma_uuid"] == dpma_uuid]

    def _check_sequence(self, dpma_uuid: str, sequence: int, uuid: str) -> None:
        for other in self._children(dpma_uuid):
            if other["sequence"] == sequence and other["uuid"] != uuid:
                raise Invalid(f"sequence: {sequence} is taken in dpma {dpma_uuid} by dialplan "
                              f"{other['uuid']}")

    def _new_uuid(self, uuid: str | None) -> str:
        if uuid is None:
            return new_uuid()
        if not is_uuid(uuid):
            raise Invalid("uuid: not a UUID")
        return canonical(uuid)

    @staticmethod
    def _event(kind: str, uuid: str, version: int, type_: str, data: dict[str, Any]
               ) -> dict[str, Any]:
        return {"stream": stream(kind, uuid), "version": version, "type": type_, "data": data}

    # -- dpmas ---------------------------------------------------------------------------------

    async def create_dpma(self, server: str, values: dict[str, Any], uuid: str | None,
                          who: str) -> Written:
        async with self._lock:
            await self._recover()
            uuid = self._new_uuid(uuid)
            if (await self.load("dpma", uuid))[1] >= 0:
                raise Invalid(f"uuid: dpma {uuid} already exists")
            obj = {"uuid": uuid, "name": values.get("name"), "detail": values.get("detail"),
                   "server": server, "tm_create": iso(self.clock()), "tm_update": None}
            render.lines(obj, [])  # a name too long for a line is refused before anything
            plan = Plan(server, "dpma_create", {"uuid": uuid, **values},
                        [self._event("dpma", uuid, 0, created("dpma"), {"object": obj})],
                        {uuid}, obj)
            return await self._write(plan, who)

    async def update_dpma(self, uuid: str, values: dict[str, Any], who: str) -> Written:
        async with self._lock:
            await self._recover()
            obj, version = await self._live("dpma", uuid)
            diff = {k: v for k, v in values.items() if obj.get(k) != v}
            if not diff:
                return Written(obj, None)
            data = {"changes": diff, "tm_update": iso(self.clock())}
            new = evolve(obj, updated("dpma"), data, version + 1)
            assert new is not None
            render.lines(new, [])
            plan = Plan(obj["server"], "dpma_update", {"uuid": obj["uuid"], **values},
                        [self._event("dpma", obj["uuid"], version + 1, updated("dpma"), data)],
                        {obj["uuid"]}, new)
            return await self._write(plan, who)

    async def delete_dpma(self, uuid: str, force: bool, who: str) -> Written:
        async with self._lock:
            await self._recover()
            obj, version = await self._live("dpma", uuid)
            children = self._children(obj["uuid"])
            if children and not force:
                raise Invalid(f"dpma {obj['uuid']} has {len(children)} dialplan(s) (force=1 "
                              "deletes them too)")
            data = {"tm_delete": iso(self.clock())}
            events = []
            for child in children:
                _, child_version = await self._live("dialplan", child["uuid"])
                events.append(self._event("dialplan", child["uuid"], child_version + 1,
                                          deleted("dialplan"), data))
            events.append(self._event("dpma", obj["uuid"], version + 1, deleted("dpma"), data))
            plan = Plan(obj["server"], "dpma_delete", {"uuid": obj["uuid"], "force": force},
                        events, {obj["uuid"]}, obj)
            return await self._write(plan, who)

    # -- dialplans -----------------------------------------------------------------------------

    async def create_dialplan(self, values: dict[str, Any], uuid: str | None, who: str
                              ) -> Written:
        async with self._lock:
            await self._recover()
            uuid = self._new_uuid(uuid)
            if (await self.load("dialplan", uuid))[1] >= 0:
                raise Invalid(f"uuid: dialplan {uuid} already exists")
            dpma = self._dpma(canonical(str(values["dpma_uuid"])))
            obj = {"uuid": uuid, "dpma_uuid": dpma["uuid"], "sequence": values["sequence"],
                   "name": values.get("name"), "detail": values.get("detail"),
                   "command": values.get("command"), "server": dpma["server"],
                   "tm_create": iso(self.clock()), "tm_update": None}
            self._check(obj)
            plan = Plan(dpma["server"], "dialplan_create", {"uuid": uuid, **values},
                        [self._event("dialplan", uuid, 0, created("dialplan"),
                                     {"object": obj})], {dpma["uuid"]}, obj)
            return await self._write(plan, who)

    async def update_dialplan(self, uuid: str, values: dict[str, Any], who: str) -> Written:
        async with self._lock:
            await self._recover()
            obj, version = await self._live("dialplan", uuid)
            if "dpma_uuid" in values:
                values = {**values, "dpma_uuid": canonical(str(values["dpma_uuid"]))}
            diff = {k: v for k, v in values.items() if obj.get(k) != v}
            if not diff:
                return Written(obj, None)
            data = {"changes": diff, "tm_update": iso(self.clock())}
            new = evolve(obj, updated("dialplan"), data, version + 1)
            assert new is not None
            target = self._dpma(new["dpma_uuid"])
            if target["server"] != obj["server"]:
                raise Invalid(f"dpma_uuid: dpma {target['uuid']} is on {target['server']}, "
                              f"this dialplan on {obj['server']}")
            self._check(new)
            plan = Plan(obj["server"], "dialplan_update", {"uuid": obj["uuid"], **values},
                        [self._event("dialplan", obj["uuid"], version + 1, updated("dialplan"),
                                     data)], {obj["dpma_uuid"], new["dpma_uuid"]}, new)
            return await self._write(plan, who)

    async def delete_dialplan(self, uuid: str, who: str) -> Written:
        async with self._lock:
            await self._recover()
            obj, version = await self._live("dialplan", uuid)
            plan = Plan(obj["server"], "dialplan_delete", {"uuid": obj["uuid"]},
                        [self._event("dialplan", obj["uuid"], version + 1, deleted("dialplan"),
                                     {"tm_delete": iso(self.clock())})],
                        {obj["dpma_uuid"]}, obj)
            return await self._write(plan, who)

    def _check(self, dialplan: dict[str, Any]) -> None:
        self._check_sequence(dialplan["dpma_uuid"], dialplan["sequence"], dialplan["uuid"])
        render.lines({"uuid": dialplan["dpma_uuid"]}, [dialplan])

    # -- writing -------------------------------------------------------------------------------

    def _after(self, plan: Plan) -> dict[str, dict[str, dict[str, Any]]]:
        """The objects as the plan's events leave them (the projection's, changed)."""
        state = self.state()
        out = {coll: dict(state[coll]) for coll in COLLECTION.values()}
        for event in plan.events:
            kind = kind_of(event["stream"])
            assert kind is not None
            rows = out[COLLECTION[kind]]
            key = event["stream"].partition("/")[2]
            new = evolve(rows.get(key), event["type"], event["data"], event["version"])
            if alive(new):
                assert new is not None
                rows[key] = new
            else:
                rows.pop(key, None)
        return out

    def _rendered(self, before: Content, plan: Plan) -> Content:
        """The file with the plan's dpmas rendered as they will be (gone ones taken out)."""
        objects = self._after(plan)
        wanted: dict[str, dict[str, Any] | None] = {}
        for uuid in sorted(plan.dpmas):
            dpma = objects["dpmas"].get(uuid)
            children = [d for d in objects["dialplans"].values() if d["dpma_uuid"] == uuid]
            wanted[render.context_of(uuid).lower()] = (
                render.category(dpma, children) if dpma is not None else None)
        out: Content = []
        seen: set[str] = set()
        for cat in before:
            key = cat["name"].lower()
            if key not in wanted:
                out.append(cat)
            elif key not in seen:
                seen.add(key)
                if wanted[key] is not None:
                    out.append(wanted[key])  # type: ignore[arg-type]
        out.extend(cat for key, cat in wanted.items() if key not in seen and cat is not None)
        return out

    async def _write(self, plan: Plan, who: str) -> Written:
        outcome = await self.send(plan, who)
        if outcome is None:
            await self._append(plan.server, plan.events, None)
            return Written(plan.answer, None)
        stored = await self._append(plan.server, plan.events, outcome.id)
        if any(s is None for s in stored):
            await self._render_again(plan, who)
            raise Conflict(f"{plan.name}: another writer changed the same object meanwhile; "
                           "its context was rendered again from the log, try again")
        return Written(plan.answer, outcome.id)

    async def send(self, plan: Plan, who: str) -> Outcome | None:
        """The change of extensions.conf the plan makes, as a command whose request carries
        the plan's events (steps 1-2 of the module docstring); None when the file does not
        change. Refused, the file is put back as the log has it (a failed reload leaves it
        changed) and `Failed` raised."""
        if plan.server not in self.commands.servers():
            raise NotFound(f"{plan.server} is not a configured server: its dialplans cannot "
                           "be changed")
        before = self.file(plan.server)
        if before is None:
            raise NotFound(f"{FILE} of {plan.server} has not been read (not connected yet, or "
                           "Asterisk has no such file)")
        try:
            actions = configs.updates(before, self._rendered(before, plan))
        except UpdateError as exc:
            raise Invalid(exc.message) from None
        if not actions:
            return None
        outcome = await configs.change(self.commands, Change(
            plan.server, FILE, actions, plan.name, who, plan.params, before,
            record={OUTBOX: plan.events}))
        if not outcome.ok:
            await self._render_again(plan, who, fresh=True)
            raise Failed(outcome)
        return outcome

    async def _render_again(self, plan: Plan, who: str, fresh: bool = False) -> None:
        """The plan's contexts written as the log has them now (`RENDER`), from the file as
        the read models hold it, or (`fresh`) as Asterisk answers it now."""
        await self._caught_up()
        again = Plan(plan.server, RENDER, {"dpmas": sorted(plan.dpmas)}, [], plan.dpmas)
        before = self.file(plan.server)
        if fresh:
            before = await self._read(plan.server)
        if before is None:
            return
        actions = configs.updates(before, self._rendered(before, again))
        if not actions:
            return
        outcome = await configs.change(self.commands, Change(
            plan.server, FILE, actions, RENDER, who, again.params, before))
        if not outcome.ok:  # a failed reload is not read back: the read models learn it here
            await self._read(plan.server)

    async def _read(self, server: str) -> Content | None:
        """extensions.conf as Asterisk answers a GetConfig now, once the read models hold that
        answer too (it is logged like every read: None when Asterisk has no file)."""
        client = self.commands.client(server)
        if not client.connected:
            return None
        try:
            answer = await client.action(configs.get_config(FILE, configs.read_action_id(FILE)),
                                         timeout=self.commands.timeout)
        except (AmiError, TimeoutError):
            return None
        finally:  # ingestion handed the answer to the log before the action returned
            await self.log.flush()
            await self._caught_up()
        return configs.to_content(configs.content_of(answer[0].headers))

    async def _append(self, server: str, events: list[dict[str, Any]], cause: str | None
                      ) -> list[Event | None]:
        """The events, caused by the command `cause`; answers once they are projected."""
        if not events:
            return []
        stored = await self.log.append([
            NewEvent(e["stream"], e["version"], e["type"], utc_now(), server, e["data"],
                     cause, cause) for e in events])
        last = max((s.position for s in stored if s is not None), default=0)
        await wait_projected(self.position, last)
        return stored

    async def _caught_up(self) -> None:
        last = await asyncio.to_thread(self.store.last_position)
        await wait_projected(self.position, last)

    # -- recovery ------------------------------------------------------------------------------

    async def recover(self) -> int:
        """Append the events of succeeded writes that are not in the log (a crash between
        the command's success and its events); how many were appended."""
        async with self._lock:
            return await self._recover()

    async def _recover(self) -> int:
        await self._caught_up()
        appended = 0
        for cid, entry in list(self.state()["outbox"].items()):
            if entry["succeeded"] and entry["events"]:
                stored = await self._append(entry["server"], list(entry["events"]), cid)
                appended += sum(1 for s in stored if s is not None)
        return appended
