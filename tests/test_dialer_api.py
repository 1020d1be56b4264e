"""`/ob/*` over real HTTP: the seed's fields and defaults, the whole object in every write,
read-your-writes, soft deletes with `force` and `delete_dls`, errors in the seed's envelope,
the aggregates' streams in the log, do-not-call lists and live dialings.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.ami.simulator import Timings
from engine.dialer import events as ev
from engine.dialer.dls import expand
from tests.test_dialer_harness import run, stack, until


def test_objects_are_event_sourced_and_every_write_answers_the_object(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path) as s:
            plan = await s.post("plans", {"name": "a", "caller_id": '"A" <1>',
                                          "variables": {"k": "v"}})
            assert plan["tech_name"] == "SIP" and plan["dial_mode"] == 0
            assert plan["variables"] == {"k": "v"} and plan["tm_delete"] is None
            changed = await s.put(f"plans/{plan['uuid']}", {"retry_delay": 5})
            assert changed["retry_delay"] == 5 and changed["name"] == "a"  # partial
            assert changed["tm_update"] is not None
            assert (await s.get(f"plans/{plan['uuid']}")) == changed  # read your writes
            gone = await s.delete(f"plans/{plan['uuid']}")
            assert gone["in_use"] == 0 and gone["tm_delete"] is not None
            await s.get(f"plans/{plan['uuid']}", expect=404)
            assert (await s.get("plans"))["list"] == []
            stream = [(e.version, e.type) for e in s.events()
                      if e.stream == ev.stream("plan", plan["uuid"])]
            assert stream == [(0, "PlanCreated"), (1, "PlanUpdated"), (2, "PlanDeleted")]
            # The same through /v1 and the V1 tutorial's paths without /ob.
            dest = await s.call("POST", "/v1/ob/destinations", {"type": 1,
                                                                "application": "park"})
            assert (await s.call("GET", f"/destinations/{dest['uuid']}"))["type"] == 1
            dlma = await s.post("dlmas", {"name": "m", "variables": '{"x": "1"}'})
            assert dlma["variables"] == {"x": "1"}  # one seed template sends a JSON string
            dls = [await s.post("dls", {"dlma_uuid": dlma["uuid"], "number_1": str(n),
                                        "timezone": "Europe/Paris"}) for n in range(3)]
            listed = await s.get(f"dls?dlma_uuid={dlma['uuid']}&count=2")
            assert [d["uuid"] for d in listed["list"]] == [d["uuid"] for d in dls[:2]]
            camp = await s.post("campaigns", {"name": "c", "dest": dest["uuid"],
                                              "dlma": dlma["uuid"]})
            assert (await s.get("campaigns"))["list"] == [{"uuid": camp["uuid"]}]
            assert camp["status"] == 0 and camp["sc_mode"] == 0 and camp["plan"] is None

    run(main())


def test_errors_come_in_the_seed_envelope(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path) as s:
            response = await s.http.post(s.base + "/ob/plans", content=b"{nope")
            assert response.status_code == 400
            assert response.json()["error"]["code"] == 400
            msg = await s.post("plans", {"dial_timeout": "soon"}, expect=400)
            assert "dial_timeout" in msg["message"]
            assert "dial_mode" in (await s.post("plans", {"dial_mode": 9}, expect=400))["message"]
            assert "dlma_uuid" in (await s.post("dls", {"number_1": "1"}, expect=400))["message"]
            missing = "00000000-0000-4000-8000-000000000000"
            msg = await s.post("dls", {"dlma_uuid": missing}, expect=400)
            assert missing in msg["message"]
            await s.post("campaigns", {"plan": missing}, expect=400)
            await s.get(f"campaigns/{missing}", expect=404)
            await s.get("campaigns/not-a-uuid", expect=404)
            await s.put(f"plans/{missing}", {"name": "x"}, expect=404)
            await s.post("dls", {"dlma_uuid": (await s.post("dlmas", {}))["uuid"],
                                 "timezone": "Mars/Olympus"}, expect=400)
            camp = await s.post("campaigns", {})
            msg = await s.put(f"campaigns/{camp['uuid']}", {"status": 11}, expect=400)
            assert "status" in msg["message"]

    run(main())


def test_delete_refuses_referenced_objects_unless_forced(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path) as s:
            c = await s.campaign(dest={"type": 1, "application": "park"}, numbers=[["1"]],
                                 start=False)
            plan, dlma, camp = c["plan"], c["dlma"], c["campaign"]
            msg = await s.delete(f"plans/{plan['uuid']}", expect=400)
            assert camp["uuid"] in msg["message"]
            await s.delete(f"plans/{plan['uuid']}?force=1")
            assert (await s.get(f"campaigns/{camp['uuid']}"))["plan"] is None
            assert "delete_dls" in (await s.delete(f"dlmas/{dlma['uuid']}?force=1",
                                                   expect=400))["message"]
            gone = await s.delete(f"dlmas/{dlma['uuid']}?force=1&delete_dls=1")
            assert gone["in_use"] == 0
            await s.get(f"dls/{c['dls'][0]['uuid']}", expect=404)
            assert (await s.get(f"campaigns/{camp['uuid']}"))["dlma"] is None
            # A campaign without plan or list cannot be started (it would stop itself at once).
            writes = len(s.events(ev.updated("campaign")))
            refused = await s.put(f"campaigns/{camp['uuid']}", {"status": 1}, expect=400)
            assert refused["message"] == "plan: required to start a campaign"
            assert len(s.events(ev.updated("campaign"))) == writes
            # A stop of a stopped campaign changes nothing; a pause of one is refused.
            writes = len(s.events(ev.updated("campaign")))
            assert (await s.put(f"campaigns/{camp['uuid']}", {"status": 0}))["status"] == 0
            assert len(s.events(ev.updated("campaign"))) == writes
            refused = await s.put(f"campaigns/{camp['uuid']}", {"status": 2}, expect=400)
            assert "nothing to pause" in refused["message"]
            await s.delete(f"campaigns/{camp['uuid']}")

    run(main())


def test_do_not_call_numbers_are_skipped_at_dial_time(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path) as s:
            c = await s.campaign(dest={"type": 1, "application": "park"},
                                 numbers=[["555 1234", "5559999", "5550000"],
                                          ["555-1234"]], start=False)
            await s.post("dncs", {"number": "5551234"})  # every list
            await s.post("dncs", {"number": "555.9999", "dlma_uuid": c["dlma"]["uuid"]})
            other = await s.post("dlmas", {})
            await s.post("dncs", {"number": "5550000", "dlma_uuid": other["uuid"]})
            assert len((await s.get("dncs"))["list"]) == 3
            await s.put(f"campaigns/{c['campaign']['uuid']}", {"status": 1})
            await until(lambda: s.camp_status(c["campaign"]["uuid"]) == 0, 5, "list ended")
            assert [o["Channel"] for o in s.sim.originates()] == ["SIP/5550000"]
            first, second = (expand(s.state()["dls"][d["uuid"]]) for d in c["dls"])
            assert (first["trycnt_1"], first["trycnt_2"], first["trycnt_3"]) == (0, 0, 1)
            assert second["trycnt_1"] == 0  # its only number is barred: never dialed

    run(main())


def test_live_dialings_can_be_read_and_hung_up(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path, timings=Timings(ring=0.02, talk=30.0)) as s:
            c = await s.campaign(dest={"type": 0, "context": "dialer", "exten": "hold"},
                                 numbers=[["100"]], plan={"max_retry_cnt_1": 1})
            await until(lambda: any(d["status"] == 6 for d in s.state()["dialings"].values()),
                        5, "answered")
            (live,) = (await s.get("dialings"))["list"]
            assert live["uuid_camp"] == c["campaign"]["uuid"] and live["status"] == 6
            assert live["dial_context"] == "dialer" and live["dial_exten"] == "hold"
            assert live["dial_priority"] == "1" and live["info_plan"]["uuid"] == c["plan"]["uuid"]
            assert (await s.get(f"dialings/{live['uuid']}"))["channel"] == live["channel"]
            # The customer being called keeps status 1 until the call ends: set back to idle
            # now, they would be dialed a second time during this call.
            dl = c["dls"][0]["uuid"]
            refused = await s.put(f"dls/{dl}", {"status": 0}, expect=400)
            assert "is being dialed" in refused["message"]
            assert (await s.put(f"dls/{dl}", {"name": "renamed"}))["name"] == "renamed"
            refused = await s.post("dls", {"dlma_uuid": c["dlma"]["uuid"], "status": 1},
                                   expect=400)
            assert "set by the dialer" in refused["message"]
            asked = await s.delete(f"dialings/{live['uuid']}")
            assert asked["uuid"] == live["uuid"] and asked["channel"] == live["channel"]
            await until(lambda: not s.state()["dialings"], 5, "hung up")
            (result,) = (await s.get("results"))["list"]
            assert result["uuid"] == live["uuid"] and result["res_hangup"] == 16
            await s.get(f"dialings/{live['uuid']}", expect=404)
            await s.delete(f"dialings/{live['uuid']}", expect=404)

    run(main())


def test_deleting_a_running_campaigns_list_stops_it_without_starting_the_next(
        tmp_path: Path) -> None:
    """`DELETE /ob/dlmas/<uuid>?force=1&delete_dls=1` under a running campaign: the campaign
    stops because its list is gone ("dlma missing"), not because its list ended, so its
    `next_campaign` is not started."""
    async def main() -> None:
        async with stack(tmp_path, timings=Timings(ring=0.02, talk=30.0)) as s:
            nxt = await s.campaign(dest={"type": 1, "application": "park"},
                                   numbers=[["500"]], start=False)
            c = await s.campaign(dest={"type": 1, "application": "park"},
                                 numbers=[["501"], ["502"]],
                                 campaign={"next_campaign": nxt["campaign"]["uuid"]})
            await until(lambda: s.state()["dialings"], 5, "calls up")
            await s.delete(f"dlmas/{c['dlma']['uuid']}?force=1&delete_dls=1")
            for live in (await s.get("dialings"))["list"]:
                await s.delete(f"dialings/{live['uuid']}")
            await until(lambda: s.camp_status(c["campaign"]["uuid"]) == 0, 10, "stopped")
            reasons = [e.data["reason"] for e in s.events(ev.CAMPAIGN_STATUS_CHANGED)
                       if e.stream == ev.stream("campaign", c["campaign"]["uuid"])]
            assert reasons == ["dlma missing", "dlma missing"], reasons
            await asyncio.sleep(0.3)
            assert s.camp_status(nxt["campaign"]["uuid"]) == 0  # never started

    run(main())
