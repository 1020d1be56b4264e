"""The process manager's decisions: what to do now, given the read models and the time.

`decide` is a pure function. It reads the dialer's projection (`projections/dialings.py`), the
queue members (`projections/queues.py`), which AMI sessions are up, and what has been decided
but is not in the projection yet (`Pending`), and returns commands plus the next instant at
which time alone could change the answer (a schedule boundary, a retry coming due, a dialing's
deadline). The service turns the commands into events and AMI actions.

Per campaign (seed 5.5):
- Start: stops (Stopping, with the reason) if its plan, destination or dlma is missing or
  deleted, if the plan's dial mode does not dial, if its schedule (`sc_mode` 1) no longer
  matches, or if its list has ended and `dl_end_handle` is 1; otherwise places as many calls as
  pacing allows (`pacing.py`), each to the customer and number `picking.py` chooses.
- Starting: becomes Start (or Stopping, as above).
- Stopping / Pausing / Stopping forcedly: no new calls; becomes Stop / Pause once its last
  dialing has ended (forcedly: after hanging them up, each hangup a command in the log whose
  dialing ends with `end_reason` HANGUP_FORCED_STOP). A campaign whose list ended starts its
  `next_campaign` when it stops.
- Stop with `sc_mode` 1: starts when its schedule matches, unless a client or the end of its list
  stopped it (jade restarted such a campaign at every tick).
Per dialing: ends it once its call is over, or closes it with the reason when it has been lost
(reconciliation) or has had no `OriginateResponse` long after its ring timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.dialer import codes, destinations, dls, dncs, pacing, picking, schedule
from engine.dialer import dialings as dialing_model
from engine.dialer import events as ev
from engine.dialer.campaigns import SC_ON

REASON_REQUESTED = "requested"
REASON_LIST_ENDED = "dial list ended"
REASON_WINDOW_CLOSED = "schedule window closed"
REASON_WINDOW_OPENED = "schedule window opened"
REASON_NEXT = "previous campaign's dial list ended"
# A dialing's `end_reason` when the dialer hung the call up itself (a hangup command in the log,
# `projections/dialings.py` reads it): not a customer who hung up.
HANGUP_REQUESTED = "hung up by the dialer: asked through DELETE /ob/dialings"
HANGUP_FORCED_STOP = "hung up by the dialer: its campaign was stopped forcedly (status 30)"


@dataclass(frozen=True, slots=True)
class Settings:
    """The `[dialer]` config values decisions depend on."""

    unlimited_cap: int = 10
    abandon_target: float = 3.0  # percent
    abandon_after: float = 2.0  # seconds
    max_dial_ratio: float = 3.0
    default_timezone: str = "UTC"
    dialing_timeout: float = 30.0  # seconds past the ring timeout without an OriginateResponse
    tick: bool = False  # jade's loop: at most one Originate per campaign per pass


@dataclass(frozen=True, slots=True)
class Dial:
    campaign: str
    dl: str
    dl_version: int
    dialing: dict[str, Any]
    dl_changes: dict[str, Any]
    headers: dict[str, Any]
    server: str
    session: str
    pacing: dict[str, Any]  # why now: the figures the pacing formula had (kept in the log)


@dataclass(frozen=True, slots=True)
class End:
    dl: str
    dialing: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SetStatus:
    campaign: str
    version: int
    status: int
    previous: int
    reason: str


@dataclass(frozen=True, slots=True)
class Hangup:
    dialing: str
    server: str
    channel: str
    reason: str  # the dialing's end_reason


Command = Dial | End | SetStatus | Hangup


@dataclass
class Pending:
    """Decided, not yet in the projection: never decided twice, and counted by pacing."""

    # dl -> (dialing, campaign, (server, queue) it waits an agent of, or None)
    dials: dict[str, tuple[str, str, tuple[str, str] | None]] = field(default_factory=dict)
    ends: set[str] = field(default_factory=set)  # dialing uuids
    statuses: dict[str, int] = field(default_factory=dict)  # campaign -> version decided at
    hangups: set[str] = field(default_factory=set)  # dialing uuids (not pruned: once is enough)

    def prune(self, ob: Mapping[str, Any]) -> None:
        dialings = ob["dialings"]
        rows = ob["dls"]
        for dl, (dialing, _, _) in list(self.dials.items()):
            row = rows.get(dl)
            if dialing in dialings or (row is not None and row.get("dialing_uuid") == dialing):
                del self.dials[dl]
        self.ends = {d for d in self.ends if d in dialings}
        campaigns = ob["campaigns"]
        for camp, version in list(self.statuses.items()):
            row = campaigns.get(camp)
            if row is None or row.get("_v", -1) > version:
                del self.statuses[camp]
        self.hangups &= set(dialings)


# Events after which a decision may come out differently: an object changed, a call ended,
# an agent was freed or took a call, a channel list was answered, the timer fired. Everything
# else (a channel ringing, a dial beginning, an agent ringing) never changes one, and is not
# worth a pass.
ALWAYS_TRIGGERS = ev.OBJECT_TYPES | {
    ev.CAMPAIGN_STATUS_CHANGED, ev.DIALING_ENDED, ev.DIALER_STARTED, ev.DIALER_WOKEN,
    "QueueMemberAdded", "QueueMemberRemoved", "QueueStatusComplete", "AgentConnect",
    "CoreShowChannelsComplete",
}


def triggers(event_type: str, header: Callable[[str], str], ob: Mapping[str, Any]) -> bool:
    """Whether an event (its type and a header getter) may change a decision."""
    if event_type in ALWAYS_TRIGGERS:
        return True
    if event_type in ("QueueMemberStatus", "QueueMemberPause"):
        return (header("Status") == "1" and header("Paused") in ("0", "")
                and header("InCall") in ("0", ""))  # a member free now
    if event_type in ("Response", "OriginateResponse"):
        return header("ActionID") in ob["by_action"]
    if event_type == "Hangup":
        return header("Uniqueid") in ob["by_uid"]
    return False


@dataclass(frozen=True, slots=True)
class Decision:
    commands: list[Command]
    next_wake: float | None


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def free_members(queues: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """Members able to take a call now, per (server, queue): NOT_INUSE, not paused, not in a
    call (seed 5.2, from the queue projection)."""
    out: dict[tuple[str, str], int] = {}
    for member in list(queues.get("members", {}).values()):
        key = (member["server"], member["queue_name"])
        if member.get("status") == 1 and not member.get("paused") and not member.get("in_call"):
            out[key] = out.get(key, 0) + 1
        else:
            out.setdefault(key, 0)
    return out


def problem(ob: Mapping[str, Any], camp: Mapping[str, Any]) -> str | None:
    """Why a started campaign cannot dial (it is then stopped with this reason)."""
    for ref, collection in (("plan", "plans"), ("dest", "destinations"), ("dlma", "dlmas")):
        uuid = camp.get(ref)
        row = ob[collection].get(uuid) if uuid else None
        if row is None or row.get("in_use") != 1:
            return f"{ref} missing"
    plan = ob["plans"][camp["plan"]]
    if plan["dial_mode"] not in codes.SUPPORTED_DIAL_MODES:
        name = codes.DIAL_MODES.get(plan["dial_mode"], "unknown")
        return f"dial_mode {plan['dial_mode']} ({name}) does not dial"
    return destinations.problem(ob["destinations"][camp["dest"]])


def decide(ob: Mapping[str, Any], queues: Mapping[str, Any], now: float, *,
           sessions: Mapping[str, str | None], server: str, pending: Pending,
           settings: Settings, new_id: Callable[[], str]) -> Decision:
    """Everything to do now. `sessions` maps each AMI server to the log stream of its current
    session (None while disconnected); `server` is the one campaigns dial through. What it
    decides is also added to `pending`, the one thing it changes (never the read models)."""
    commands: list[Command] = []
    wake: float | None = None
    dialings: Mapping[str, Any] = ob["dialings"]

    # -- dialings: over, lost, or overdue ---------------------------------------------------------
    # A dialing counts as live until its `DialingEnded` is in the projection: its customer may
    # need a retry, so neither the end of the list nor a stop is declared before that.
    live_by_camp: dict[str, int] = {}
    live_by_dlma: dict[str, int] = {}
    awaiting: dict[tuple[str, str], int] = {}
    waiting_too_long: dict[str, int] = {}  # per campaign: answered, no agent, past the limit
    for uuid, d in list(dialings.items()):
        live_by_camp[d["uuid_camp"]] = live_by_camp.get(d["uuid_camp"], 0) + 1
        live_by_dlma[d["uuid_dlma"]] = live_by_dlma.get(d["uuid_dlma"], 0) + 1
        if uuid in pending.ends:
            continue
        if dialing_model.finished(d):
            commands.append(End(d["uuid_dl_list"], uuid, dialing_model.end(d, now)))
            pending.ends.add(uuid)
            continue
        if not d["_responded"] and not d["_found"]:
            deadline = d["_created_at"] + d["dial_timeout"] / 1000.0 + settings.dialing_timeout
            if now >= deadline:
                reason = f"no OriginateResponse within {deadline - d['_created_at']:g} s"
                commands.append(End(d["uuid_dl_list"], uuid,
                                    dialing_model.end(dialing_model.lost(d, reason), now)))
                pending.ends.add(uuid)
                continue
            wake = _earliest(wake, deadline)
        queue = destinations.queue_name(d["info_dest"])
        if queue and d["_agent_at"] is None:
            key = (d["server"], queue)
            awaiting[key] = awaiting.get(key, 0) + 1
            if d["_answer_at"] is not None and now - d["_answer_at"] > settings.abandon_after:
                waiting_too_long[d["uuid_camp"]] = waiting_too_long.get(d["uuid_camp"], 0) + 1
    for _dl, (_dialing, camp_uuid, queue_key) in pending.dials.items():
        live_by_camp[camp_uuid] = live_by_camp.get(camp_uuid, 0) + 1
        if queue_key is not None:
            awaiting[queue_key] = awaiting.get(queue_key, 0) + 1

    # -- campaigns --------------------------------------------------------------------------------
    free = free_members(queues)
    campaigns = ob["campaigns"]
    for uuid, camp in list(campaigns.items()):
        if camp.get("in_use") != 1 or uuid in pending.statuses:
            continue
        status = camp["status"]
        live = live_by_camp.get(uuid, 0)

        def move(to: int, reason: str, camp: Mapping[str, Any] = camp) -> None:
            commands.append(SetStatus(camp["uuid"], camp["_v"], to, camp["status"], reason))
            pending.statuses[camp["uuid"]] = camp["_v"]

        if status in (codes.CAMPAIGN_STOPPING, codes.CAMPAIGN_STOPPING_FORCED,
                      codes.CAMPAIGN_PAUSING):
            if status == codes.CAMPAIGN_STOPPING_FORCED:
                for d_uuid, d in list(dialings.items()):
                    if (d["uuid_camp"] == uuid and d_uuid not in pending.hangups
                            and d["channel"] and not dialing_model.finished(d)):
                        commands.append(Hangup(d_uuid, d["server"], d["channel"],
                                               HANGUP_FORCED_STOP))
                        pending.hangups.add(d_uuid)
            if live == 0:
                reason = camp.get("_status_reason") or REASON_REQUESTED
                if status == codes.CAMPAIGN_PAUSING:
                    move(codes.CAMPAIGN_PAUSE, reason)
                    continue
                move(codes.CAMPAIGN_STOP, reason)
                nxt = campaigns.get(camp.get("next_campaign") or "")
                if (reason == REASON_LIST_ENDED and nxt is not None and nxt.get("in_use") == 1
                        and nxt["status"] == codes.CAMPAIGN_STOP
                        and nxt["uuid"] not in pending.statuses and nxt["uuid"] != uuid):
                    move(codes.CAMPAIGN_START, REASON_NEXT, nxt)
            continue
        if status == codes.CAMPAIGN_STOP:
            if camp.get("sc_mode") == SC_ON:
                reason = camp.get("_status_reason")
                if (reason in (None, REASON_WINDOW_CLOSED)
                        and schedule.matches(camp, now)):
                    move(codes.CAMPAIGN_STARTING, REASON_WINDOW_OPENED)
                    continue
                wake = _earliest(wake, schedule.next_change(camp, now))
            continue
        if status not in (codes.CAMPAIGN_START, codes.CAMPAIGN_STARTING):
            continue  # Pause
        why = problem(ob, camp)
        if why is not None:
            move(codes.CAMPAIGN_STOPPING, why)
            continue
        if camp.get("sc_mode") == SC_ON:
            if not schedule.matches(camp, now):
                move(codes.CAMPAIGN_STOPPING, REASON_WINDOW_CLOSED)
                continue
            wake = _earliest(wake, schedule.next_change(camp, now))
        if status == codes.CAMPAIGN_STARTING:
            move(codes.CAMPAIGN_START, "started")
            continue
        session = sessions.get(server)
        if session is None:
            continue  # not connected: the reconnect's events bring the next pass
        plan = ob["plans"][camp["plan"]]
        dest = ob["destinations"][camp["dest"]]
        dlma = ob["dlmas"][camp["dlma"]]
        queue = destinations.queue_name(dest)
        service_level = int(plan.get("service_level") or 0)
        ratio = 1.0
        if queue is not None:
            key = (server, queue)
            current, available = awaiting.get(key, 0), free.get(key, 0)
            if plan["dial_mode"] == codes.DIAL_MODE_ADAPTIVE:
                target = plan.get("abandon_target") or settings.abandon_target
                stats = ob["stats"].get(uuid, {})
                ratio = pacing.adaptive_ratio(
                    stats.get("answers", ()), stats.get("waits", ()), target / 100.0,
                    settings.abandon_after, settings.max_dial_ratio,
                    waiting_too_long.get(uuid, 0))
                room = pacing.adaptive_available(available, ratio, service_level, current)
            else:
                room = pacing.seed_available(available, service_level, current, 0)
        else:
            current, available = live, None
            room = pacing.seed_available(None, service_level, live, settings.unlimited_cap)
        if settings.tick:
            room = min(room, 1)

        def blocked(number: str, dlma_uuid: str = dlma["uuid"],
                    lists: Mapping[str, Any] = ob["dnc"]) -> bool:
            return dncs.blocked(number, dlma_uuid, lists)

        index = ob["idle"].get(dlma["uuid"], {})
        busy = set(pending.dials)
        # The list has ended when nothing is left to dial, now or later, and no call of it is
        # in flight (its customer may need a retry): seen whether or not pacing has room now.
        may_end = (live_by_dlma.get(dlma["uuid"], 0) == 0
                   and not any(c == uuid for _, c, _ in pending.dials.values())
                   and int(plan.get("dl_end_handle", 1)) == 1)
        for nth in range(max(room, 1 if may_end else 0)):
            scan = picking.scan(index, ob["dls"], plan, now, blocked=blocked, busy=busy,
                                default_timezone=settings.default_timezone)
            if scan.pick is None:
                wake = _earliest(wake, scan.next_due)
                if not scan.remaining and may_end:
                    move(codes.CAMPAIGN_STOPPING, REASON_LIST_ENDED)
                break
            if nth >= room:
                break  # something is left to dial, but pacing has no room for it now
            dl = dls.expand(ob["dls"][scan.pick.dl_uuid])
            dialing_uuid, other, action_id = new_id(), new_id(), new_id()
            dialing, dl_changes, headers = dialing_model.build(
                campaign=camp, plan=plan, dest=dest, dlma=dlma, dl=dl, pick=scan.pick,
                dialing_uuid=dialing_uuid, other_uuid=other, action_id=action_id,
                server=server, session=session, now=now)
            figures = {"dial_mode": plan["dial_mode"], "available": available,
                       "service_level": service_level, "current": current + nth,
                       "ratio": round(ratio, 3), "cap": None if queue else settings.unlimited_cap}
            commands.append(Dial(uuid, dl["uuid"], dl["_v"], dialing, dl_changes, headers,
                                 server, session, figures))
            pending.dials[dl["uuid"]] = (dialing_uuid, uuid, (server, queue) if queue else None)
            busy.add(dl["uuid"])
    return Decision(commands, wake)
