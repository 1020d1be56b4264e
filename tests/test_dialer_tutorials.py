"""The seed's two tutorials (seed-reference.md 5.9), end to end: REST over real HTTP, the
dialer, and a simulated PBX over real AMI TCP.

A (basic): the customer answers and is parked. B (normal call distribute): the customer
answers and is queued to `sales_1`, whose agents take the call. A uses the V1 tutorial's paths
(`/plans`, no `/ob`), B the V2 ones under `/v1/ob`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.test_dialer_harness import run, stack, until

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def test_basic_tutorial_customer_answers_and_is_parked(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path, prefix="") as s:
            plan = await s.post("plans", {"name": "basic tutorial plan",
                                          "detail": "test plan for basic tutorial",
                                          "tech_name": "sip", "dial_mode": 1})
            assert plan["dial_timeout"] == 30000 and plan["retry_delay"] == 60
            assert plan["dl_end_handle"] == 1 and plan["service_level"] == 0
            assert all(plan[f"max_retry_cnt_{n}"] == 5 for n in range(1, 9))
            assert plan["in_use"] == 1 and plan["tm_update"] is None
            assert plan["variables"] is None and plan["trunk_name"] is None
            assert STAMP.match(plan["tm_create"])
            dest = await s.post("destinations", {"name": "basic tutorial destination",
                                                 "detail": "test pln for basic tutorial",
                                                 "type": 1, "application": "park"})
            assert dest["type"] == 1 and dest["application"] == "park"
            dlma = await s.post("dlmas", {"name": "basic tutorial dlma",
                                          "detail": "test dlma for basic tutorial"})
            assert dlma["dl_table"] == dlma["uuid"].replace("-", "_")
            dl = await s.post("dls", {"dlma_uuid": dlma["uuid"],
                                      "name": "basic tutorial test customer 1",
                                      "detail": "test customer for basic tutorial",
                                      "number_1": "300"})
            assert dl["status"] == 0 and dl["res_dial"] == 0 and dl["res_hangup"] == 0
            assert all(dl[f"trycnt_{n}"] == 0 for n in range(1, 9))
            assert dl["tm_last_dial"] is None and dl["dialing_uuid"] is None
            camp = await s.post("campaigns", {"name": "basic tutorial campaign",
                                              "detail": "test campaign for basic tutorial",
                                              "plan": plan["uuid"], "dest": dest["uuid"],
                                              "dlma": dlma["uuid"]})
            assert camp["status"] == 0 and camp["sc_mode"] == 0
            started = await s.put(f"campaigns/{camp['uuid']}", {"status": 1})
            assert started["status"] == 1 and STAMP.match(started["tm_update"])

            async def dialed() -> dict:
                return await s.get(f"dls/{dl['uuid']}")

            after = None
            for _ in range(300):
                after = await dialed()
                if after["tm_last_hangup"] is not None:
                    break
                await until(lambda: True)
            assert after is not None and after["tm_last_hangup"] is not None
            assert after["trycnt_1"] == 1 and after["status"] == 0
            assert after["res_dial"] == 4 and after["res_dial_detail"] == "Remote end has answered"
            assert after["res_hangup"] == 16 and after["res_hangup_detail"] == "Normal Clearing"
            assert STAMP.match(after["tm_last_dial"]) and after["dialing_uuid"] is None
            assert after["tm_update"] is None  # the dialer's changes leave it alone (seed)

            path = Path(s.config.dialer.results_path)
            await until(lambda: path.exists() and path.read_text().strip(), 5, "result line")
            record = json.loads(path.read_text().splitlines()[-1])
            assert record["status"] == 7
            assert record["dial_channel"] == "sip/300" and record["dial_addr"] == "300"
            assert record["dial_application"] == "park" and record["dial_data"] == ""
            assert (record["dial_type"], record["dial_index"], record["dial_trycnt"],
                    record["dial_timeout"]) == (1, 1, 1, 30000)
            assert record["res_dial"] == 4 and record["res_hangup"] == 16
            assert record["uuid_camp"] == camp["uuid"] and record["uuid_plan"] == plan["uuid"]
            assert record["uuid_dest"] == dest["uuid"] and record["uuid_dlma"] == dlma["uuid"]
            assert record["uuid_dl_list"] == dl["uuid"] and record["name"] is None
            assert "info_camp" not in record  # dialer.result_info is off

            # The call really went to the parking lot, tied to the dialing by its ChannelId.
            parked = s.events("ParkedCall")
            assert [e.header("ParkeeUniqueid") for e in parked] == [record["uuid"]]
            (originate,) = s.sim.originates()
            assert originate["Application"] == "park" and originate["Async"] == "true"
            assert originate["ChannelId"] == record["uuid"]
            assert originate["ActionID"] == record["action_id"]
            # The list has ended (dl_end_handle 1): the campaign stops by itself.
            await until(lambda: s.camp_status(camp["uuid"]) == 0, 5, "campaign stopped")

    run(main())


def test_normal_call_distribute_tutorial_queue_sales_1(tmp_path: Path, store_url: str) -> None:
    """On both backends: the dialer on a shared PostgreSQL log is where it is heading."""
    agents = ["SIP/agent-01", "SIP/agent-02", "SIP/agent-03"]

    async def main() -> None:
        async with stack(tmp_path, queues={"sales_1": agents}, prefix="/v1/ob",
                         store=store_url) as s:
            await until(lambda: len([m for m in s.engine.projector.state("queues")["members"]
                                     .values() if m["status"] == 1]) == 3, 5, "members known")
            plan = await s.post("plans", {"name": "normal call distribute plan",
                                          "tech_name": "sip", "dial_mode": 1})
            dest = await s.post("destinations", {"name": "normal call distribute destination",
                                                 "type": 1, "application": "queue",
                                                 "data": "sales_1"})
            dlma = await s.post("dlmas", {"name": "normal call distribute dlma"})
            dl = await s.post("dls", {"dlma_uuid": dlma["uuid"], "number_1": "300",
                                      "name": "normal call distribute test customer 1"})
            camp = await s.post("campaigns", {"name": "normal call distribute campaign",
                                              "plan": plan["uuid"], "dest": dest["uuid"],
                                              "dlma": dlma["uuid"]})
            assert (await s.put(f"campaigns/{camp['uuid']}", {"status": 1}))["status"] == 1
            await until(lambda: s.state()["dls"][dl["uuid"]].get("tm_last_hangup"), 10, "hangup")
            after = await s.get(f"dls/{dl['uuid']}")
            assert after["res_dial"] == 4 and after["trycnt_1"] == 1 and after["status"] == 0
            # The simulated agents hang up normally (the seed's run shows 18, its SIP agents').
            assert after["res_hangup"] == 16
            (result,) = (await s.get(f"results?uuid_dl_list={dl['uuid']}"))["list"]
            assert result["dial_application"] == "queue" and result["dial_data"] == "sales_1"
            assert result["dial_channel"] == "sip/300" and result["status"] == 7
            # An agent took it: AgentConnect on the customer's channel, whose Uniqueid is the
            # dialing's uuid (the Originate's ChannelId).
            (connect,) = s.events("AgentConnect")
            assert connect.header("Uniqueid") == result["uuid"]
            assert connect.header("Queue") == "sales_1"
            assert connect.header("Interface") in agents
            assert s.sim.queues["sales_1"].completed == 1
            await until(lambda: s.camp_status(camp["uuid"]) == 0, 5, "campaign stopped")

    run(main())
