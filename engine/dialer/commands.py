"""Writes to the outbound objects (REST POST/PUT/DELETE), as event-sourced aggregates.

An update loads the aggregate from its own stream (not from the projection, which may be a few
milliseconds behind), validates the request against it, and appends the event at the next
version: if anything else appended to that stream in between (the dialer ending a call on the
same dl, another request), the store refuses the duplicate version and the update is retried
on the new state. The answer is awaited until the projection has applied the event, so a GET
right after a write sees it (read your writes).

Deletes are soft (seed: `in_use` 0, `tm_delete` set) and refused (400) while something refers to
the object, unless `force` (campaigns referring to a plan, destination or dlma lose the
reference, as jade does) or, for a dlma's entries, `delete_dls`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from types import ModuleType
from typing import Any

from engine.dialer import campaigns, codes, destinations, dlmas, dls, dncs, plans
from engine.dialer import events as ev
from engine.dialer.objects import (
    Invalid,
    build,
    changes,
    evolve,
    fold,
    is_uuid,
    new_uuid,
    public,
)
from engine.envelope import Event, NewEvent
from engine.log import EventLog
from engine.store import Store
from engine.values import iso

MODULES: dict[str, ModuleType] = {
    "plan": plans, "destination": destinations, "dlma": dlmas, "dl": dls,
    "campaign": campaigns, "dnc": dncs,
}
COLLECTION = {"plan": "plans", "destination": "destinations", "dlma": "dlmas", "dl": "dls",
              "campaign": "campaigns", "dnc": "dncs"}
ATTEMPTS = 8  # optimistic-concurrency retries before giving up with 409


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    pass


class ObCommands:
    def __init__(self, log: EventLog, store: Store, state: Callable[[], Mapping[str, Any]],
                 wait_projected: Callable[[int], Awaitable[None]],
                 clock: Callable[[], float] = time.time) -> None:
        self.log = log
        self.store = store
        self.state = state  # the dialings projection's live state (read only)
        self.wait_projected = wait_projected
        self.clock = clock

    # -- reading an aggregate from its stream -----------------------------------------------------

    async def load(self, kind: str, uuid: str) -> tuple[dict[str, Any] | None, int]:
        events = await asyncio.to_thread(self.store.read_stream, ev.stream(kind, uuid))
        return fold(events)

    async def _live(self, kind: str, uuid: str) -> tuple[dict[str, Any], int]:
        if not is_uuid(uuid):
            raise NotFound(f"no {kind} {uuid}")
        obj, version = await self.load(kind, uuid)
        if obj is None or obj.get("in_use") != 1:
            raise NotFound(f"no {kind} {uuid}")
        return obj, version

    async def _append(self, event: NewEvent) -> Event | None:
        [stored] = await self.log.append([event])
        if stored is not None:
            await self.wait_projected(stored.position)
        return stored

    def _exists(self, kind: str, uuid: Any) -> bool:
        row = self.state()[COLLECTION[kind]].get(uuid) if isinstance(uuid, str) else None
        return row is not None and row.get("in_use") == 1

    @staticmethod
    def _check_start(obj: Mapping[str, Any]) -> None:
        """A campaign asked to start has what it dials with (a later forced delete of its plan
        may still take one away: the dialer then stops it)."""
        for ref in campaigns.NEEDED_TO_START:
            if obj.get(ref) is None:
                raise Invalid(f"{ref}: required to start a campaign")

    def _check(self, kind: str, obj: Mapping[str, Any]) -> None:
        module = MODULES[kind]
        check = getattr(module, "check", None)
        if check is not None:
            check(obj)
        if kind == "campaign":
            for ref, target in campaigns.REFERENCES.items():
                value = obj.get(ref)
                if value is not None and not self._exists(target, value):
                    raise Invalid(f"{ref}: no {target} {value}")
        elif kind == "dl" and obj.get("dlma_uuid") is None:
            raise Invalid("dlma_uuid: required (the dial list master the entry belongs to)")
        elif kind == "dl" and not self._exists("dlma", obj.get("dlma_uuid")):
            raise Invalid(f"dlma_uuid: no dlma {obj.get('dlma_uuid')}")
        elif kind == "dnc" and obj.get("dlma_uuid") is not None:
            if not self._exists("dlma", obj["dlma_uuid"]):
                raise Invalid(f"dlma_uuid: no dlma {obj['dlma_uuid']}")

    # -- create -----------------------------------------------------------------------------------

    async def create(self, kind: str, body: Any) -> dict[str, Any]:
        fields = MODULES[kind].FIELDS
        uuid = body.get("uuid") if isinstance(body, dict) else None
        if uuid is not None and not is_uuid(uuid):
            raise Invalid("uuid: not a UUID")
        uuid = uuid or new_uuid()
        obj = build(fields, body, uuid, self.clock(), kind)
        if kind == "dlma":
            obj["dl_table"] = dlmas.dl_table(uuid)
        if kind == "campaign" and isinstance(body, dict) and "status" in body:
            obj["status"] = campaigns.client_status(body["status"])
            if obj["status"] == codes.CAMPAIGN_START:
                self._check_start(obj)
        if kind == "dl":
            dls.check_client_status(None, obj["status"])
        self._check(kind, obj)
        event = ev.new(ev.stream(kind, uuid), 0, ev.created(kind), {"object": obj})
        stored = await self._append(event)
        if stored is None:
            raise Invalid(f"uuid: {kind} {uuid} already exists")
        return public(obj)

    # -- update -----------------------------------------------------------------------------------

    async def update(self, kind: str, uuid: str, body: Any) -> dict[str, Any]:
        fields = MODULES[kind].FIELDS
        for _ in range(ATTEMPTS):
            obj, version = await self._live(kind, uuid)
            diff = changes(fields, obj, body, kind)
            if kind == "campaign" and isinstance(body, dict) and "status" in body:
                status = campaigns.client_status(body["status"], obj["status"])
                diff.pop("status", None)
                if status != obj["status"]:
                    diff["status"] = status
                if diff.get("status") == codes.CAMPAIGN_START:
                    self._check_start({**obj, **diff})
            if kind == "dl" and "status" in diff:
                dls.check_client_status(obj, diff["status"])
            if not diff:
                return public(obj)
            self._check(kind, {**obj, **diff})
            data = {"changes": diff, "tm_update": iso(self.clock())}
            written = await self._next(kind, uuid, obj, version, ev.updated(kind), data)
            if written is not None:
                return written
        raise Conflict(f"{kind} {uuid} kept changing; try again")

    # -- delete -----------------------------------------------------------------------------------

    async def delete(self, kind: str, uuid: str, *, force: bool = False,
                     delete_dls: bool = False) -> dict[str, Any]:
        obj, _ = await self._live(kind, uuid)
        state = self.state()
        if kind in ("plan", "destination", "dlma"):
            ref = {"plan": "plan", "destination": "dest", "dlma": "dlma"}[kind]
            users = [c["uuid"] for c in list(state["campaigns"].values())
                     if c.get("in_use") == 1 and c.get(ref) == uuid]
            if users and not force:
                raise Invalid(f"{kind} {uuid} is used by campaign(s) {', '.join(users)} "
                              "(force=1 removes the reference)")
            rows = state["dls"]  # the dlma's entries, through the projection's index of them
            entries = [u for u in list(state["dls_by_dlma"].get(uuid, {}))
                       if rows.get(u, {}).get("in_use") == 1] if kind == "dlma" else []
            if entries and not delete_dls:
                raise Invalid(f"dlma {uuid} has {len(entries)} dial list entries "
                              "(delete_dls=1 deletes them)")
            # The references go first: a running campaign whose entries vanished while it
            # still pointed at them would see its list end, and start its next campaign.
            for camp in users:
                await self.update("campaign", camp, {ref: None})
            for entry in entries:
                await self._delete_one("dl", entry, force=True)
        elif kind == "dl" and obj.get("status") == codes.DL_DIALING and not force:
            raise Invalid(f"dl {uuid} is being dialed (force=1 deletes it anyway)")
        elif (kind == "campaign" and obj.get("status") != codes.CAMPAIGN_STOP
              and not force):
            raise Invalid(f"campaign {uuid} is not stopped (status {obj.get('status')}); "
                          "stop it first or force=1")
        return await self._delete_one(kind, uuid, force=force)

    async def _delete_one(self, kind: str, uuid: str, *, force: bool) -> dict[str, Any]:
        for _ in range(ATTEMPTS):
            obj, version = await self._live(kind, uuid)
            data = {"tm_delete": iso(self.clock())}
            written = await self._next(kind, uuid, obj, version, ev.deleted(kind), data)
            if written is not None:
                return written
        raise Conflict(f"{kind} {uuid} kept changing; try again")

    async def _next(self, kind: str, uuid: str, obj: dict[str, Any], version: int, type_: str,
                    data: dict[str, Any]) -> dict[str, Any] | None:
        """Append one event at the aggregate's next version and answer the object it makes
        (what a later read shows: the same `evolve`); None when another write took that
        version first, and the caller reads the aggregate again."""
        if await self._append(ev.new(ev.stream(kind, uuid), version + 1, type_, data)) is None:
            return None
        new = evolve(obj, type_, data, version + 1)
        assert new is not None
        return public(new)
