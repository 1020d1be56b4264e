"""The outbound dialer's read models: plans, destinations, dial list masters, dial list entries,
campaigns, do-not-call entries, and the live dialings with their calls' progress.

One projection, one state, because the process manager decides over all of it at once (a
campaign, its plan, its list, the calls in flight): one state is always consistent at one
position, where separate projections could each be at a different one.

Objects follow their streams through `engine.dialer.objects.evolve`, the same function the
command side folds a stream with, so a write's answer and a later read agree. A dialing starts
with `DialingCreated` (the decision), follows its call's AMI events, tied to it by our
`ActionID` and by the `ChannelId`/`OtherChannelId` we chose (they become the `Uniqueid`s), and
leaves with `DialingEnded`. After a reconnect the `CoreShowChannels` answer settles the dialings
sent on an earlier connection: listed ones are alive, the others are marked lost and the
process manager closes them with that reason. A hangup command (`CommandRequested`) naming a
live dialing (the dialer's own, from `DELETE /ob/dialings/<uuid>` or a forced stop) or one of
its channels (an operator's `DELETE /core/channels/<uid>`) marks it hung up by us: its result's
`end_reason` says who and why, where a customer's own hangup leaves it empty.

Also kept, for the process manager: the picking index (`engine.dialer.dls`), the do-not-call
numbers per list, and each campaign's last answers and waits for an agent, recorded as each
becomes known, for the adaptive predictive ratio.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from engine.commands import REQUESTED as COMMAND_REQUESTED
from engine.dialer import campaigns as campaign_model
from engine.dialer import codes
from engine.dialer import destinations as destination_model
from engine.dialer import dialings as dialing_model
from engine.dialer import dlmas as dlma_model
from engine.dialer import dls as dl_model
from engine.dialer import dncs as dnc_model
from engine.dialer import events as ev
from engine.dialer import plans as plan_model
from engine.dialer.objects import evolve, public
from engine.envelope import Event
from projections.base import Row, dispatch, event_time

NAME = "dialings"
VERSION = 3  # 2: the picking index groups entries alike (engine.dialer.dls); 3: hung up by us

OUTCOMES_KEEP = 200  # answers and waits per campaign kept for the adaptive ratio

COLLECTIONS = {"plan": "plans", "destination": "destinations", "dlma": "dlmas", "dl": "dls",
               "campaign": "campaigns", "dnc": "dncs"}

AMI_TYPES = frozenset({
    "Response", "OriginateResponse", "Newchannel", "DialBegin", "DialEnd", "Hangup",
    "AgentConnect", "CoreShowChannel", "Status", "CoreShowChannelsComplete",
})
EVENT_TYPES = ev.OBJECT_TYPES | {ev.CAMPAIGN_STATUS_CHANGED, ev.DIALING_CREATED,
                                 ev.DIALING_ENDED, COMMAND_REQUESTED} | AMI_TYPES


def initial() -> dict:
    return {
        "plans": {}, "destinations": {}, "dlmas": {}, "dls": {}, "campaigns": {}, "dncs": {},
        "dls_by_dlma": {},  # dlma uuid -> {dl uuid: 1}, in creation order
        "idle": {}, "idle_at": {},  # the picking index (engine.dialer.dls)
        "dnc": {},  # "*" (every list) or dlma uuid -> {normalized number: entries}
        "dialings": {},  # live dialings by uuid
        "by_action": {},  # Originate ActionID -> dialing uuid
        "by_uid": {},  # ChannelId / OtherChannelId / learned Uniqueid -> dialing uuid
        "stats": {},  # campaign uuid -> {"answers": [1/0, ...], "waits": [seconds or -1, ...]}
    }


# -- objects --------------------------------------------------------------------------------------


def _object(state: dict, event: Event) -> None:
    kind = event.stream.split("/", 1)[0]
    collection = COLLECTIONS.get(kind)
    if collection is None:
        return
    uuid = event.stream.split("/", 1)[1]
    rows = state[collection]
    old = rows.get(uuid)
    new = evolve(old, event.type, event.data, event.version)
    if new is None:
        return
    if kind == "dl":
        new = dl_model.compact(new)
        rows[uuid] = new
        _dl_moved(state, old, new)
        return
    rows[uuid] = new
    if kind == "dnc":
        _dnc_moved(state, old, new)


def _dl_moved(state: dict, old: dict | None, new: dict) -> None:
    uuid = new["uuid"]
    if old is None or old.get("dlma_uuid") != new.get("dlma_uuid"):
        if old is not None:
            state["dls_by_dlma"].get(old.get("dlma_uuid"), {}).pop(uuid, None)
        state["dls_by_dlma"].setdefault(new.get("dlma_uuid"), {})[uuid] = 1
    dl_model.index_put(state["idle"], state["idle_at"], new)


def _dnc_moved(state: dict, old: dict | None, new: dict) -> None:
    for entry, delta in ((old, -1), (new, 1)):
        if entry is None or entry.get("in_use") != 1:
            continue
        scope = entry.get("dlma_uuid") or "*"
        number = dnc_model.normalize(str(entry["number"]))
        numbers = state["dnc"].setdefault(scope, {})
        count = numbers.get(number, 0) + delta
        if count > 0:
            numbers[number] = count
        else:
            numbers.pop(number, None)
            if not numbers:
                del state["dnc"][scope]


# -- dialings -------------------------------------------------------------------------------------


def _dialing_created(state: dict, event: Event) -> None:
    _object(state, event)
    dialing = dialing_model.track(event.data["dialing"], event_time(event))
    uuid = dialing["uuid"]
    _stats(state, dialing["uuid_camp"])["order"].append(uuid)
    state["dialings"][uuid] = dialing
    state["by_action"][dialing["action_id"]] = uuid
    for uid in dialing_model.uniqueids(dialing):
        state["by_uid"][uid] = uuid


def _dialing_ended(state: dict, event: Event) -> None:
    _object(state, event)
    uuid = event.data.get("dialing")
    dialing = state["dialings"].pop(uuid, None)
    if dialing is not None:
        state["by_action"].pop(dialing["action_id"], None)
        for uid in [*dialing_model.uniqueids(dialing), *dialing["_channels"]]:
            if state["by_uid"].get(uid) == uuid:
                del state["by_uid"][uid]
    camp = event.data.get("uuid_camp")
    answered = (event.data.get("outcome") or (0, -1.0))[0]
    if not camp:
        return
    if (dialing is None or not dialing["_responded"]) and uuid in _stats(state, camp)["order"]:
        _answered(state, camp, uuid, answered)  # its OriginateResponse never came
    if answered and (dialing is None or dialing["_agent_at"] is None):
        _stat(state, camp, "waits", -1.0)  # answered, and no agent ever took it


def _stats(state: dict, camp: str) -> dict:
    return state["stats"].setdefault(camp, {"answers": [], "waits": [], "order": [],
                                            "known": {}})


def _stat(state: dict, camp: str, name: str, value: float) -> None:
    """The adaptive ratio's figures, each recorded as soon as it is known (engine.dialer.pacing)."""
    window = _stats(state, camp)[name]
    window.append(value)
    if len(window) > OUTCOMES_KEEP:
        del window[: len(window) - OUTCOMES_KEEP]


def _answered(state: dict, camp: str, uuid: str, answered: int) -> None:
    """A dialing's answer, counted in the order the dialings were decided: failures are known
    in milliseconds and answers only after the ring, so counting as they come would make the
    first figures all failures (and the first ratio far too high)."""
    stats = _stats(state, camp)
    stats["known"][uuid] = answered
    order, known = stats["order"], stats["known"]
    done = 0
    while done < len(order) and order[done] in known:
        _stat(state, camp, "answers", known.pop(order[done]))
        done += 1
    del order[:done]


def _uid_header(event: Event) -> str:
    if event.type in ("DialBegin", "DialEnd"):
        return event.header("DestUniqueid")
    return event.header("Uniqueid")


def _ami(state: dict, event: Event) -> None:
    if event.type == "CoreShowChannelsComplete":
        _reconcile(state, event)
        return
    if event.type in ("Response", "OriginateResponse"):
        uuid = state["by_action"].get(event.header("ActionID"))
    else:
        uuid = state["by_uid"].get(_uid_header(event))
    if uuid is None:
        return
    row = state["dialings"].get(uuid)
    if row is None or row["_finished"]:
        return
    new = dialing_model.observe(row, event.type, event.data, event.stream, event_time(event))
    for uid in new["_channels"]:
        state["by_uid"].setdefault(uid, uuid)
    state["dialings"][uuid] = new
    if new["_responded"] and not row["_responded"]:
        _answered(state, new["uuid_camp"], uuid,
                  1 if new["res_dial"] == codes.RES_DIAL_ANSWERED else 0)
    if new["_agent_at"] is not None and row["_agent_at"] is None:
        answered_at = new["_answer_at"] if new["_answer_at"] is not None else new["_agent_at"]
        _stat(state, new["uuid_camp"], "waits", round(new["_agent_at"] - answered_at, 6))


def _hangup_requested(state: dict, event: Event) -> None:
    """A command asked to hang up a live dialing: the dialer's names the dialing and the
    reason (`params`), an operator's hangup names one of its channels (`targets`)."""
    data = event.data
    params = data.get("params") if isinstance(data.get("params"), dict) else {}
    uuid = params.get("dialing")
    reason = params.get("reason")
    if uuid is None and data.get("command") == "hangup":
        targets = data.get("targets") if isinstance(data.get("targets"), list) else []
        uuid = next((state["by_uid"][u] for u in targets
                     if isinstance(u, str) and u in state["by_uid"]), None)
        reason = f"hung up by {data.get('who')} (command {data.get('id')})"
    row = state["dialings"].get(uuid) if isinstance(uuid, str) else None
    if (row is None or not isinstance(reason, str) or row["_hangup_reason"]
            or dialing_model.finished(row)):
        return
    state["dialings"][uuid] = dialing_model.hung_up_by_us(row, reason)


def _reconcile(state: dict, event: Event) -> None:
    """A complete channel list from a session: a dialing of that server sent on an earlier
    session, not listed and not heard of in this one, is gone."""
    stream = event.stream
    for uuid, row in list(state["dialings"].items()):
        if (row["server"] != event.server or row["_finished"] or row["session"] == stream
                or row["_seen"] == stream or row["_found"] == stream):
            continue
        if dialing_model.finished(row):
            continue
        reason = "not found in CoreShowChannels after reconnect"
        if row["_seen"] is None:
            reason += " (the Originate was never confirmed sent)"
        state["dialings"][uuid] = dialing_model.lost(row, reason)


_HANDLERS: dict[str, Callable[[dict, Event], None]] = {
    ev.DIALING_CREATED: _dialing_created,
    ev.DIALING_ENDED: _dialing_ended,
    ev.CAMPAIGN_STATUS_CHANGED: _object,
    COMMAND_REQUESTED: _hangup_requested,
    **{t: _object for t in ev.OBJECT_TYPES},
    **{t: _ami for t in AMI_TYPES},
}


apply = dispatch(_HANDLERS)


# -- reading --------------------------------------------------------------------------------------
# The API reads from another thread: `list(dict.values())` and `dict(row)` of plain dicts are
# atomic under the GIL, and rows are replaced, never mutated, so a copy is one whole version.


def _public(collection: str, row: dict[str, Any]) -> dict[str, Any]:
    return public(dl_model.expand(row) if collection == "dls" else row)


def get(state: dict, collection: str, uuid: str) -> dict[str, Any] | None:
    row = state[collection].get(uuid)
    return _public(collection, row) if row is not None else None


def in_use(state: dict, collection: str, dlma_uuid: str | None = None
           ) -> Iterator[dict[str, Any]]:
    """The rows in use (of one dlma, for dls), in the public shape, one at a time: the first
    100 entries of a 100,000-entry list are answered without expanding the other 99,900."""
    if dlma_uuid is None:
        rows: Iterable[dict[str, Any]] = list(state[collection].values())
    else:
        table = state["dls"]
        rows = (table[u] for u in list(state["dls_by_dlma"].get(dlma_uuid, {})) if u in table)
    for row in rows:
        if row.get("in_use") == 1:
            yield _public(collection, row)


def live_dialing(state: dict, uuid: str) -> dict[str, Any] | None:
    row = state["dialings"].get(uuid)
    return dialing_model.public_row(row) if row is not None else None


def live_dialings(state: dict) -> list[dict[str, Any]]:
    return [dialing_model.public_row(row) for row in list(state["dialings"].values())]


# -- views ----------------------------------------------------------------------------------------

_TYPES = {"str": "str", "int": "int", "float": "float", "vars": "json"}
_SYSTEM = {"uuid": "str", "in_use": "int", "tm_create": "str", "tm_update": "str",
           "tm_delete": "str"}


def _columns(fields: list, extra: dict[str, str] | None = None) -> dict[str, str]:
    out = {"uuid": "str"}
    out.update({f.name: _TYPES[f.kind] for f in fields})
    out.update(extra or {})
    out.update(_SYSTEM)
    return out


_DIALING_TYPES = {
    "status": "int", "res_dial": "int", "res_hangup": "int", "dial_type": "int",
    "dial_timeout": "int", "dial_index": "int", "dial_trycnt": "int", "dial_variables": "json",
    **{name: "json" for name in dialing_model.INFO_FIELDS},
}

COLUMNS: dict[str, dict[str, str]] = {
    "plans": _columns(plan_model.FIELDS),
    "destinations": _columns(destination_model.FIELDS),
    "dlmas": _columns(dlma_model.FIELDS, {"dl_table": "str"}),
    "dls": _columns(dl_model.FIELDS),
    "campaigns": _columns(campaign_model.FIELDS),
    "dncs": _columns(dnc_model.FIELDS),
    "dialings": {name: _DIALING_TYPES.get(name, "str")
                 for name in dialing_model.DIALING_FIELDS},
}


def _rows(collection: str) -> Callable[[dict, float], list[Row]]:
    def rows(state: dict, now: float) -> list[Row]:
        names = COLUMNS[collection]
        public_rows = (_public(collection, r) for r in list(state[collection].values()))
        return [{name: row.get(name) for name in names} for row in public_rows]  # deleted too

    rows.__name__ = f"{collection}_rows"
    return rows


def dialing_rows(state: dict, now: float) -> list[Row]:
    return live_dialings(state)


VIEWS = {
    "plans": _rows("plans"),
    "destinations": _rows("destinations"),
    "dlmas": _rows("dlmas"),
    "dls": _rows("dls"),
    "campaigns": _rows("campaigns"),
    "dncs": _rows("dncs"),
    "dialings": dialing_rows,
}
