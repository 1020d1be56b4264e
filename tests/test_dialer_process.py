"""The process manager: campaign state machine, pacing, retries, pause, end of list, schedule,
reconciliation after a reconnect.

The first part drives `process.decide` directly (pure: read models built from events, a clock
passed in); the second runs campaigns end to end against the simulated PBX over real sockets.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.ami.simulator import Timings, capture_dialplan
from engine.dialer import codes, process
from engine.dialer import events as ev
from engine.dialer.commands import MODULES
from engine.dialer.dls import expand
from engine.dialer.objects import build, evolve
from engine.envelope import Event
from projections import dialings as projection
from projections import queues as queues_projection
from tests.test_dialer_harness import FAST, run, stack, until

# -- pure decisions ------------------------------------------------------------------------------


class Book:
    """Read models built from events, as the projector would, for `decide`."""

    def __init__(self) -> None:
        self.state = projection.initial()
        self.position = 0
        self.versions: dict[str, int] = {}
        self.ids = (f"id-{n}" for n in itertools.count())

    def apply(self, stream: str, type_: str, data: dict[str, Any]) -> None:
        self.position += 1
        version = self.versions.get(stream, -1) + 1
        self.versions[stream] = version
        event = Event(self.position, stream, version, type_, "2026-01-05T08:00:00+00:00", "",
                      data)
        self.state = projection.apply(self.state, event)

    def create(self, kind: str, **body: Any) -> dict[str, Any]:
        obj = build(MODULES[kind].FIELDS, body, next(self.ids), 0.0)
        if kind == "campaign" and "status" in body:
            obj["status"] = body["status"]
        self.apply(ev.stream(kind, obj["uuid"]), ev.created(kind), {"object": obj})
        return obj

    def decide(self, now: float, pending: process.Pending | None = None,
               connected: bool = True, **settings: Any) -> process.Decision:
        return process.decide(
            self.state, queues_projection.initial(), now,
            sessions={"pbx": "ami/pbx/s1" if connected else None}, server="pbx",
            pending=pending or process.Pending(), settings=process.Settings(**settings),
            new_id=lambda: next(self.ids))

    def commit(self, decision: process.Decision) -> None:
        """Append what the service would for each command (no AMI)."""
        for cmd in decision.commands:
            if isinstance(cmd, process.SetStatus):
                self.apply(ev.stream("campaign", cmd.campaign), ev.CAMPAIGN_STATUS_CHANGED,
                           {"status": cmd.status, "previous": cmd.previous,
                            "reason": cmd.reason, "tm_update": None})
            elif isinstance(cmd, process.Dial):
                self.apply(ev.stream("dl", cmd.dl), ev.DIALING_CREATED,
                           {"dialing": cmd.dialing, "dl": cmd.dl_changes})
            elif isinstance(cmd, process.End):
                self.apply(ev.stream("dl", cmd.dl), ev.DIALING_ENDED, cmd.data)

    def setup(self, *, plan: dict[str, Any] | None = None, campaign: dict[str, Any] | None = None,
              numbers: tuple[str, ...] = ("100",),
              dest: dict[str, Any] | None = None) -> dict[str, Any]:
        p = self.create("plan", **{"dial_mode": 1, **(plan or {})})
        d = self.create("destination", **(dest or {"type": 1, "application": "park"}))
        m = self.create("dlma")
        for number in numbers:
            self.create("dl", dlma_uuid=m["uuid"], number_1=number)
        return self.create("campaign", plan=p["uuid"], dest=d["uuid"], dlma=m["uuid"],
                           **(campaign or {}))

    def status(self, camp: dict[str, Any]) -> tuple[int, str | None]:
        row = self.state["campaigns"][camp["uuid"]]
        return row["status"], row.get("_status_reason")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def kinds(decision: process.Decision) -> list[str]:
    return [type(c).__name__ for c in decision.commands]


def settle(book: Book, now: float, then: float) -> list[tuple[int, str]]:
    """A campaign's move at `now` (status, reason) and, committed, the one that completes it
    at `then` (Starting -> Start, Stopping -> Stop)."""
    decision = book.decide(now)
    book.commit(decision)
    book.commit(book.decide(then))
    return [(c.status, c.reason) for c in decision.commands]


def test_schedule_opens_and_closes_a_campaign_by_timer_not_polling() -> None:
    book = Book()
    camp = book.setup(campaign={"sc_mode": 1, "sc_time_start": "09:00:00",
                                "sc_time_end": "17:00:00", "sc_day_list": "1, 2, 3, 4, 5"})
    monday_early = at("2026-01-05T08:59:59")  # a Monday
    decision = book.decide(monday_early)
    assert decision.commands == [] and decision.next_wake == at("2026-01-05T09:00:00")
    assert settle(book, at("2026-01-05T09:00:00"), at("2026-01-05T09:00:00")) == [
        (codes.CAMPAIGN_STARTING, "schedule window opened")]
    assert book.status(camp) == (codes.CAMPAIGN_START, "started")
    dialing = book.decide(at("2026-01-05T09:00:01"))
    assert kinds(dialing) == ["Dial"]
    # The window's end is the next wake-up, whatever else is going on.
    assert dialing.next_wake is not None and dialing.next_wake <= at("2026-01-05T17:00:01")
    assert settle(book, at("2026-01-05T17:00:01"), at("2026-01-05T17:00:02")) == [
        (codes.CAMPAIGN_STOPPING, "schedule window closed")]
    assert book.status(camp) == (codes.CAMPAIGN_STOP, "schedule window closed")
    # Saturday is not in the day list: it stays stopped until Monday 09:00.
    assert book.decide(at("2026-01-10T10:00:00")).commands == []
    assert kinds(book.decide(at("2026-01-12T09:00:00"))) == ["SetStatus"]


def test_a_campaign_stopped_by_a_client_is_not_restarted_by_its_schedule() -> None:
    book = Book()
    camp = book.setup(campaign={"sc_mode": 1, "sc_time_start": "09:00:00"})
    book.apply(ev.stream("campaign", camp["uuid"]), ev.updated("campaign"),
               {"changes": {"status": codes.CAMPAIGN_STOP}, "tm_update": None})
    assert book.decide(at("2026-01-05T10:00:00")).commands == []


def test_a_campaign_that_cannot_dial_is_stopped_with_the_reason() -> None:
    book = Book()
    no_mode = book.setup(plan={"dial_mode": 0}, campaign={"status": codes.CAMPAIGN_START})
    decision = book.decide(0.0)
    assert [(c.campaign, c.status, c.reason) for c in decision.commands] == [
        (no_mode["uuid"], codes.CAMPAIGN_STOPPING, "dial_mode 0 (None) does not dial")]
    book2 = Book()
    camp = book2.setup(campaign={"status": codes.CAMPAIGN_START})
    book2.apply(ev.stream("plan", camp["plan"]), ev.deleted("plan"), {"tm_delete": None})
    assert [c.reason for c in book2.decide(0.0).commands] == ["plan missing"]


def test_an_ended_list_stops_the_campaign_even_when_no_agent_is_free() -> None:
    """The end of the list is not a pacing question: a queue with nobody free (room 0) still
    stops a campaign whose customers are all spent; one with a customer left stays."""
    for numbers, moves in ((("",), [(codes.CAMPAIGN_STOPPING, process.REASON_LIST_ENDED)]),
                           (("100",), [])):
        book = Book()
        book.setup(numbers=numbers, campaign={"status": codes.CAMPAIGN_START},
                   dest={"type": 1, "application": "queue", "data": "sales"})
        decision = book.decide(0.0)  # the queue projection has no member: nobody is free
        assert [(c.status, c.reason) for c in decision.commands] == moves


def test_no_dial_while_the_ami_session_is_down() -> None:
    book = Book()
    book.setup(campaign={"status": codes.CAMPAIGN_START})
    assert book.decide(0.0, connected=False).commands == []
    assert kinds(book.decide(0.0)) == ["Dial"]


def test_a_dialing_without_originate_response_is_closed_after_its_deadline() -> None:
    book = Book()
    book.setup(plan={"dial_timeout": 5000}, campaign={"status": codes.CAMPAIGN_START})
    decision = book.decide(100.0)
    book.commit(decision)
    (dial,) = [c for c in decision.commands if isinstance(c, process.Dial)]
    book.state["dialings"][dial.dialing["uuid"]]["_created_at"] = 100.0
    later = book.decide(110.0, dialing_timeout=30.0)
    assert later.next_wake == 135.0 and kinds(later) == []
    overdue = book.decide(135.0, dialing_timeout=30.0)
    (end,) = overdue.commands
    assert isinstance(end, process.End)
    assert end.data["result"]["status"] == codes.DIALING_ERROR
    assert end.data["result"]["end_reason"] == "no OriginateResponse within 35 s"


def test_pending_decisions_are_never_decided_twice() -> None:
    book = Book()
    book.setup(numbers=("100", "101"), campaign={"status": codes.CAMPAIGN_START},
               plan={"service_level": 0})
    pending = process.Pending()
    first = book.decide(0.0, pending, unlimited_cap=1)
    assert kinds(first) == ["Dial"]
    assert book.decide(0.0, pending, unlimited_cap=1).commands == []  # counted as live
    second = book.decide(0.0, pending, unlimited_cap=2)
    assert kinds(second) == ["Dial"]
    assert {c.dl for c in first.commands} != {c.dl for c in second.commands}


def test_evolve_keeps_the_dialers_changes_out_of_tm_update() -> None:
    dl = {"uuid": "x", "status": 0, "tm_update": None}
    after = evolve(dl, ev.DIALING_CREATED, {"dl": {"status": 1}}, 3)
    assert after == {"uuid": "x", "status": 1, "tm_update": None, "_v": 3}
    assert dl["status"] == 0  # a new dict: readers on other threads never see half a change


# -- end to end ----------------------------------------------------------------------------------


def created(s: Any, campaign: str) -> list[Event]:
    return [e for e in s.events(ev.DIALING_CREATED)
            if e.data["dialing"]["uuid_camp"] == campaign]


def test_end_of_list_stops_the_campaign_and_starts_the_next(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path, outcome=capture_dialplan) as s:
            nxt = await s.campaign(dest={"type": 1, "application": "park"},
                                   numbers=[["101"]], start=False)
            first = await s.campaign(
                dest={"type": 1, "application": "park"},
                numbers=[["201"], ["202"], ["203", "204"]],  # 2XX: busy
                plan={"max_retry_cnt_1": 1, "max_retry_cnt_2": 1, "retry_delay": 0},
                campaign={"next_campaign": nxt["campaign"]["uuid"]})
            camp_a, camp_b = first["campaign"]["uuid"], nxt["campaign"]["uuid"]
            await until(lambda: s.camp_status(camp_b) == 0 and created(s, camp_b)
                        and not s.state()["dialings"], 10, "both lists done")
            changes = [(e.stream.split("/")[1], e.data["status"], e.data["reason"])
                       for e in s.events(ev.CAMPAIGN_STATUS_CHANGED)]
            assert changes == [
                (camp_a, 10, "dial list ended"), (camp_a, 0, "dial list ended"),
                (camp_b, 1, "previous campaign's dial list ended"),
                (camp_b, 10, "dial list ended"), (camp_b, 0, "dial list ended"),
            ]
            dls = {d["number_1"]: expand(s.state()["dls"][d["uuid"]]) for d in first["dls"]}
            assert [dls[n]["trycnt_1"] for n in ("201", "202", "203")] == [1, 1, 1]
            assert dls["203"]["trycnt_2"] == 1  # the next number once the first is spent
            assert {(d["res_dial"], d["res_hangup"]) for d in dls.values()} == {(5, 17)}
            assert len(s.sim.originates()) == 5

    run(main())


def test_dl_end_handle_0_keeps_the_campaign_running(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path, outcome=capture_dialplan) as s:
            c = await s.campaign(dest={"type": 1, "application": "park"}, numbers=[["201"]],
                                 plan={"max_retry_cnt_1": 1, "dl_end_handle": 0})
            await until(lambda: s.events(ev.DIALING_ENDED), 5, "dialed once")
            await asyncio.sleep(0.3)
            assert s.camp_status(c["campaign"]["uuid"]) == codes.CAMPAIGN_START
            assert len(s.sim.originates()) == 1

    run(main())


def test_retries_wait_retry_delay(tmp_path: Path) -> None:
    tries: dict[str, int] = {}

    def busy_then_answer(number: str) -> str:
        tries[number] = tries.get(number, 0) + 1
        return "busy" if tries[number] == 1 else "answer"

    async def main() -> None:
        async with stack(tmp_path, outcome=busy_then_answer) as s:
            c = await s.campaign(dest={"type": 1, "application": "park"},
                                 numbers=[["300"], ["301"]], plan={"retry_delay": 1})
            await until(lambda: len(s.events(ev.DIALING_ENDED)) == 4, 10, "two tries each")
            state = await s.projected()
            for dl in c["dls"]:
                stream = ev.stream("dl", dl["uuid"])
                mine = [e for e in s.events(ev.DIALING_CREATED, ev.DIALING_ENDED)
                        if e.stream == stream]
                assert [e.type for e in mine] == ["DialingCreated", "DialingEnded"] * 2
                hung_up = datetime.fromisoformat(mine[1].data["dl"]["tm_last_hangup"][:26])
                retried = datetime.fromisoformat(mine[2].recorded_at)
                waited = retried.timestamp() - hung_up.replace(tzinfo=UTC).timestamp()
                assert 1.0 <= waited < 1.6, waited  # the timer fires when the delay is over
                assert mine[2].data["dialing"]["dial_trycnt"] == 2
                assert state["dls"][dl["uuid"]].get("res_dial") == 4
            woken = s.events(ev.DIALER_WOKEN)
            assert 1 <= len(woken) <= 4  # a timer per retry due, not a polling loop

    run(main())


def test_pause_stops_new_dials_while_calls_in_flight_finish(tmp_path: Path) -> None:
    slow = Timings(ring=0.02, agent_ring=0.02, agent_talk=0.5, patience=10.0)

    async def main() -> None:
        async with stack(tmp_path, queues={"sales": ["SIP/a1", "SIP/a2"]},
                         timings=slow) as s:
            await until(lambda: len(s.engine.projector.state("queues")["members"]) == 2)
            c = await s.campaign(dest={"type": 1, "application": "queue", "data": "sales"},
                                 numbers=[[f"40{i}"] for i in range(10)])
            uuid = c["campaign"]["uuid"]
            await until(lambda: len(s.state()["dialings"]) == 2, 5, "two calls up")
            paused = await s.put(f"campaigns/{uuid}", {"status": 2})
            assert paused["status"] == codes.CAMPAIGN_PAUSING
            pause_at = max(e.position for e in s.events(ev.updated("campaign")))
            await until(lambda: s.camp_status(uuid) == codes.CAMPAIGN_PAUSE, 5, "paused")
            assert not s.state()["dialings"]  # the calls in flight finished...
            ended = len(s.events(ev.DIALING_ENDED))
            assert ended >= 2
            # ...and nothing was decided from a state that had seen the pause.
            assert all(int(e.causation_id or 0) < pause_at for e in created(s, uuid))
            await asyncio.sleep(0.2)
            dialed = len(created(s, uuid))
            assert dialed == ended
            assert (await s.put(f"campaigns/{uuid}", {"status": 1}))["status"] == 1
            await until(lambda: len(created(s, uuid)) > dialed, 5, "dialing again")

    run(main())


def test_pacing_never_exceeds_free_members_plus_service_level(tmp_path: Path) -> None:
    agents = ["SIP/a1", "SIP/a2", "SIP/a3"]
    mix = {"answer": 0.7, "busy": 0.1, "noanswer": 0.1, "congestion": 0.1}
    timings = Timings(ring=0.03, agent_ring=0.02, agent_talk=0.08, noanswer=0.05)

    async def main() -> None:
        async with stack(tmp_path, queues={"sales": agents}, outcome=mix,
                         timings=timings) as s:
            await until(lambda: len(s.engine.projector.state("queues")["members"]) == 3)
            c = await s.campaign(dest={"type": 1, "application": "queue", "data": "sales"},
                                 numbers=[[f"5{i:02d}"] for i in range(30)],
                                 plan={"service_level": 1, "max_retry_cnt_1": 1})
            await until(lambda: s.camp_status(c["campaign"]["uuid"]) == 0, 20, "list done")
            loads = s.sim.load_at_originate
            assert len(loads) == 30
            # What the PBX had when each Originate arrived: never more calls waiting for an
            # agent than free agents + service level, this one included.
            assert all(x["awaiting"] + 1 <= x["free"] + 1 for x in loads), loads
            assert max(x["awaiting"] for x in loads) >= 2  # it did dial ahead
            for e in created(s, c["campaign"]["uuid"]):
                p = e.data["pacing"]
                assert p["current"] + 1 <= p["available"] + p["service_level"], p

    run(main())


def test_dialings_survive_a_reconnect_and_lost_ones_are_closed(tmp_path: Path) -> None:
    long = Timings(ring=0.02, talk=1.5, park_timeout=10.0)

    async def main() -> None:
        async with stack(tmp_path, timings=long) as s:
            await s.campaign(dest={"type": 1, "application": "park"},
                             numbers=[["600"], ["601"]], plan={"max_retry_cnt_1": 1})
            await until(lambda: len([d for d in s.state()["dialings"].values()
                                     if d["status"] == codes.DIALING_ORIGINATE_RESPONDED]) == 2,
                        5, "two calls answered")
            first, second = sorted(s.state()["dialings"].values(), key=lambda d: d["dial_addr"])
            session = s.engine.clients[0].status.session
            s.sim.drop()
            s.sim.handle_action("hangup", {"Channel": first["channel"]}, "")  # unheard
            await until(lambda: s.engine.clients[0].status.session != session
                        and s.engine.clients[0].connected, 5, "reconnected")
            reconnected = asyncio.get_running_loop().time()
            await until(lambda: first["uuid"] not in s.state()["dialings"], 5, "lost closed")
            assert asyncio.get_running_loop().time() - reconnected < 5.0
            ends = {e.data["dialing"]: e.data["result"] for e in s.events(ev.DIALING_ENDED)}
            assert ends[first["uuid"]]["end_reason"] == \
                "not found in CoreShowChannels after reconnect"
            assert ends[first["uuid"]]["status"] == codes.DIALING_ERROR
            alive = s.state()["dialings"][second["uuid"]]
            assert alive["_found"] is not None  # listed by the new session
            await until(lambda: second["uuid"] in {e.data["dialing"] for e in
                                                   s.events(ev.DIALING_ENDED)}, 5, "ended")
            result = {e.data["dialing"]: e.data["result"]
                      for e in s.events(ev.DIALING_ENDED)}[second["uuid"]]
            assert (result["status"], result["res_hangup"], result["end_reason"]) == (7, 16,
                                                                                      None)
            assert len(s.sim.originates()) == 2  # nothing re-sent

    run(main())


_ = FAST


@pytest.mark.slow
def test_adaptive_mode_dials_ahead_only_while_abandons_stay_under_target(tmp_path: Path) -> None:
    """Half the customers do not answer: the adaptive ratio dials ahead of the free agents.
    With `abandon_after` 0 every answered customer counts as abandoned: it never does."""
    agents = ["SIP/a1", "SIP/a2", "SIP/a3"]
    mix = {"answer": 0.5, "noanswer": 0.5}
    timings = Timings(ring=0.03, agent_ring=0.01, agent_talk=0.15, noanswer=0.05)

    async def ratios(path: Path, abandon_after: float) -> list[dict[str, Any]]:
        path.mkdir()
        async with stack(path, queues={"sales": agents}, outcome=mix, timings=timings,
                         dialer={"abandon_after": abandon_after}) as s:
            await until(lambda: len(s.engine.projector.state("queues")["members"]) == 3)
            c = await s.campaign(dest={"type": 1, "application": "queue", "data": "sales"},
                                 numbers=[[f"6{i:02d}"] for i in range(40)],
                                 plan={"dial_mode": 6, "max_retry_cnt_1": 1})
            await until(lambda: s.camp_status(c["campaign"]["uuid"]) == 0, 30, "list done")
            return [e.data["pacing"] for e in created(s, c["campaign"]["uuid"])]

    lenient = run(ratios(tmp_path / "a", 5.0))
    assert max(p["ratio"] for p in lenient) > 1.3
    assert any(p["current"] + 1 > p["available"] + p["service_level"] for p in lenient)
    strict = run(ratios(tmp_path / "b", 0.0))
    assert {p["ratio"] for p in strict} == {1.0}
    assert all(p["current"] + 1 <= p["available"] + p["service_level"] for p in strict)


def test_stopping_forcedly_hangs_up_the_calls_in_flight(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path, timings=Timings(ring=0.02, talk=30.0, park_timeout=60)) as s:
            c = await s.campaign(dest={"type": 1, "application": "park"},
                                 numbers=[["700"], ["701"], ["702"]])
            uuid = c["campaign"]["uuid"]
            await until(lambda: len([d for d in s.state()["dialings"].values()
                                     if d["status"] == 6]) == 3, 5, "three calls answered")
            forced = await s.put(f"campaigns/{uuid}", {"status": 30})
            assert forced["status"] == codes.CAMPAIGN_STOPPING_FORCED
            await until(lambda: s.camp_status(uuid) == codes.CAMPAIGN_STOP, 5, "stopped")
            hangups = [a for a in s.sim.actions_received if a.get("Action") == "Hangup"]
            assert len(hangups) == 3
            results = [e.data["result"] for e in s.events(ev.DIALING_ENDED)]
            assert [(r["res_dial"], r["res_hangup"]) for r in results] == [(4, 16)] * 3
            assert s.sim.live_calls() == 0

    run(main())
