"""Configuration over HTTP, end to end: the engine on a real port, the AMI test server over TCP
(its configuration model answers as Asterisk 22 does), a real log.

Queues and parking lots are made, changed and deleted through UpdateConfig with their module's
reload, and show in the following read; each write is a command in the log with the file's
content before, confirmed by a GetConfig; a change made outside shows at the next reload;
Asterisk's refusals are 4xx; versions are listed and hidden."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import startup
from engine.ami.client import AmiClient
from engine.config import ServerConfig
from engine.configs import file_of
from engine.envelope import Event
from tests.live import Live

BILLING = {"name": "billing", "strategy": "ringall", "timeout": "15",
           "member": ["Local/agent7@agents,0,Grace"]}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None],
              config={"api": {"command_timeout": 5.0}}) as running:
        running.connected()
        wait_read(running, "queues.conf")
        yield running


@pytest.fixture
def client(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=20) as c:
        yield c


def wait_read(live: Live, filename: str) -> None:
    async def read() -> None:
        assert live.engine is not None
        while not any(file_of(e.data.get("ActionID")) == filename
                      for e in live.engine.store.iter_all()):
            await asyncio.sleep(0.02)
    live.call(asyncio.wait_for(read(), 10))
    live.settled()


def events(live: Live) -> list[Event]:
    assert live.engine is not None
    return list(live.engine.store.iter_all())


def result(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json().get("result")


def command_events(live: Live, cid: str) -> list[Event]:
    return [e for e in events(live) if e.stream == f"command/{cid}"]


def test_a_queue_made_changed_and_deleted_through_queues_conf(live: Live,
                                                             client: httpx.Client) -> None:
    created = result(client.post("/queue/queues", json=BILLING))
    assert created["state"] == "succeeded" and created["action"] == "UpdateConfig"
    assert created["message"] == "queues.conf changed; app_queue reloaded"
    queue = result(client.get("/queue/queues/billing"))
    assert queue["strategy"] == "ringall"
    members = [m for m in result(client.get("/queue/members"))["list"]
               if m["queue_name"] == "billing"]
    assert [(m["location"], m["name"], m["membership"]) for m in members] == [
        ("Local/agent7@agents", "Grace", "static")]
    setting = result(client.get("/queue/setting"))
    assert setting["billing"] == {"strategy": "ringall", "timeout": "15",
                                  "member": "Local/agent7@agents,0,Grace"}
    assert setting["sales"]["strategy"] == "rrmemory" and setting["general"] == {
        "persistentmembers": "no"}

    # in the log: the request with the content before, the UpdateConfig, the reload, the read
    requested, *_, succeeded = command_events(live, created["id"])
    assert requested.data["filename"] == "queues.conf"
    assert [c["name"] for c in requested.data["before"]] == ["general", "sales", "support"]
    assert requested.data["action"]["Action-000000"] == "NewCat"
    assert succeeded.type == "CommandSucceeded" and succeeded.data["reload_status"] == 0
    caused = [e for e in events(live) if e.causation_id == created["id"]]
    assert [e.type for e in caused if e.type == "Reload"] == ["Reload"]
    (confirm,) = [e for e in caused if file_of(e.data.get("ActionID"))]
    assert confirm.position < succeeded.position and confirm.correlation_id == "queues.conf"
    assert "billing" in confirm.data.values()

    # PUT replaces the queue's settings: the static member leaves without an event
    changed = result(client.put("/queue/queues/billing",
                                json={"strategy": "rrmemory", "timeout": "25"}))
    assert changed["state"] == "succeeded", changed
    assert result(client.get("/queue/queues/billing"))["strategy"] == "rrmemory"
    assert not [m for m in result(client.get("/queue/members"))["list"]
                if m["queue_name"] == "billing"]
    assert result(client.get("/queue/setting"))["billing"] == {"strategy": "rrmemory",
                                                              "timeout": "25"}
    assert not [e for e in events(live) if e.type == "QueueMemberRemoved"]

    deleted = result(client.delete("/queue/queues/billing"))
    assert deleted["state"] == "succeeded"
    assert client.get("/queue/queues/billing").status_code == 404
    assert "billing" not in result(client.get("/queue/setting"))

    # Asterisk's refusal, with its message; nothing sent for a bad request
    refused = client.delete("/queue/queues/billing")
    assert refused.status_code == 404
    assert refused.json()["error"]["message"] == "Given category does not exist"
    assert client.post("/queue/queues", json={"name": "sales"}).status_code == 400
    before = len(events(live))
    for bad in ({"strategy": "ringall"}, {"name": "x", "timeout": 5}, {"name": ["x"]},
                {"name": "general"}, {"name": "a]b"}, {"name": "x", "bad=name": "1"},
                {"name": "x", "strategy": "ring\r\nAction: Originate"}):
        assert client.post("/queue/queues", json=bad).status_code == 400, bad
    assert client.put("/queue/queues/x", content=b"[1]").status_code == 400
    assert len(events(live)) == before  # nothing stored

    # every version seen, newest first; hiding one keeps it in the log
    listed = result(client.get("/queue/settings"))["list"]
    names = [v["filename"] for v in listed]
    assert len(names) == 3 and all(n.startswith("queues.conf.") for n in names)
    assert listed[0]["billing"] == {"strategy": "rrmemory", "timeout": "25"}
    assert "billing" not in listed[2]  # the first, current again since the delete
    one = result(client.get(f"/queue/settings/{names[1]}"))
    assert one == {"list": {k: v for k, v in listed[1].items() if k != "filename"}}
    assert client.delete(f"/queue/settings/{names[1]}").status_code == 200
    assert [v["filename"] for v in result(client.get("/queue/settings"))["list"]] == [
        names[0], names[2]]
    assert client.get(f"/queue/settings/{names[1]}").status_code == 404
    (hidden,) = [e for e in events(live) if e.type == "ConfigVersionHidden"]
    assert hidden.data["version"] == names[1]


def test_a_parking_lot_made_changed_and_deleted_through_res_parking_conf(
        live: Live, client: httpx.Client) -> None:
    lot = {"name": "lot2", "parkext": "800", "parkpos": "> 801-810",
           "context": "parkedcalls2", "parkingtime": "30"}
    assert result(client.post("/park/parkinglots", json=lot))["state"] == "succeeded"
    row = result(client.get("/park/parkinglots/lot2"))
    assert (row["start_space"], row["stop_space"], row["timeout"]) == ("801", "810", 30)
    assert result(client.get("/park/setting"))["lot2"]["parkpos"] == "801-810"
    assert result(client.put("/park/parkinglots/lot2",
                             json={**lot, "parkpos": "801-820"}))["state"] == "succeeded"
    assert result(client.get("/park/parkinglots/lot2"))["stop_space"] == "820"
    renamed = result(client.put("/park/parkinglots/lot2", json={**lot, "name": "lot3"}))
    assert renamed["state"] == "succeeded"
    assert client.get("/park/parkinglots/lot2").status_code == 404
    assert result(client.get("/park/parkinglots/lot3"))["stop_space"] == "810"
    assert result(client.delete("/park/parkinglots/lot3"))["state"] == "succeeded"
    assert [r["name"] for r in result(client.get("/park/parkinglots"))["list"]] == ["default"]
    setting = result(client.get("/park/setting"))
    assert setting == {"general": {}, "default": {
        "parkext": "700", "parkpos": "701-720", "context": "parkedcalls", "parkingtime": "6",
        "comebacktoorigin": "no", "comebackcontext": "parkedcallstimeout",
        "findslot": "next"}}
    assert len(result(client.get("/park/settings"))["list"]) == 4


def test_the_whole_file_replaced_and_a_failing_reload(live: Live, client: httpx.Client) -> None:
    setting = result(client.get("/queue/setting"))
    setting["support"]["strategy"] = "leastrecent"
    setting["vip"] = {"strategy": "ringall", "member": ["Local/a@agents", "Local/b@agents"]}
    del setting["sales"]
    put = result(client.put("/queue/setting", json=setting))
    assert put["state"] == "succeeded", put
    assert result(client.get("/queue/setting")) == setting
    assert sorted(q["name"] for q in result(client.get("/queue/queues"))["list"]) == [
        "support", "vip"]
    (requested,) = [e for e in command_events(live, put["id"]) if e.type == "CommandRequested"]
    verbs = [v for k, v in requested.data["action"].items() if k.startswith("Action-")]
    assert verbs == ["DelCat", "Update", "NewCat", "Append", "Append", "Append"]

    # ordered pairs are a body too; templates are made and inherited, not changed
    pairs = {**setting, "vip": [["strategy", "ringall"], ["member", "Local/b@agents"]]}
    assert result(client.put("/queue/setting", json=pairs))["state"] == "succeeded"
    templated = client.put("/queue/setting", json={**setting, "t(!)": {"strategy": "linear"}})
    assert templated.status_code == 400
    assert templated.json()["error"]["message"] == (
        "template [t] cannot be written through AMI: UpdateConfig reaches no template's "
        "variables")
    missing = client.put("/queue/setting", json={"x(nosuch)": {}})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Template category not found"

    asterisk = live.asterisks[0]
    live.run(lambda: asterisk.config.fail_reload("app_queue"))
    failed = client.post("/queue/queues", json=BILLING)
    assert failed.status_code == 409
    message = failed.json()["error"]["message"]
    assert message == ("queues.conf was changed, but the reload of app_queue failed: the "
                       "module failed to reload (Reload status 3)")
    cid = failed.headers["X-Switchboard-Command"]
    assert result(client.get(f"/commands/{cid}"))["state"] == "failed"
    assert client.get("/queue/queues/billing").status_code == 404  # not running


def test_a_change_made_outside_shows_after_the_reload(live: Live,
                                                      client: httpx.Client) -> None:
    """An administrator's UpdateConfig on another AMI session, then a Reload: the engine reads
    queues.conf again, the new version is in the config views, the stream and the file's
    timeline, and the new queue is listed."""
    first = result(client.get("/config/files/queues.conf"))
    assert first["categories"] == ["general", "sales", "support"]
    assert client.get("/queue/queues/outside").status_code == 404

    async def administrator() -> None:
        assert live.asterisks
        other = AmiClient(ServerConfig(name="admin", port=live.asterisks[0].port,
                                       username="admin", secret="admin"),
                          on_messages=lambda s, m: None)
        task = asyncio.create_task(other.run())
        while not other.connected:
            await asyncio.sleep(0.01)
        await other.action({"Action": "UpdateConfig", "SrcFilename": "queues.conf",
                            "DstFilename": "queues.conf", "Action-000000": "NewCat",
                            "Cat-000000": "outside"})
        await other.action({"Action": "Reload", "Module": "app_queue"})
        other.stop()
        await task

    live.call(administrator())
    for _ in range(200):
        row = result(client.get("/config/files/queues.conf"))
        if row["version"] != first["version"]:
            break
        live.settled()
    assert row["changed"] == ["outside"] and row["versions"] == 2
    live.settled()
    assert result(client.get("/queue/queues/outside"))["strategy"] == "ringall"
    timeline = result(client.get("/timeline/queues.conf"))["list"]
    types = [(e["type"], e["data"].get("Module")) for e in timeline]
    assert ("Reload", "app_queue") in types
    assert sum(1 for e in timeline if e["type"] == "Response") >= 2
    messages = [json.loads(line[len("data: "):]) for line in stream(client)]
    updates = [m["config.setting.update"] for m in messages if "config.setting.update" in m]
    assert updates and updates[-1]["changed"] == ["outside"]
    assert "content" not in updates[-1]  # names only: no value reaches the streams


def stream(client: httpx.Client) -> list[str]:
    """The SSE data lines of `/config/files/` from the start of the log, up to the first
    update (or a keepalive: there is none)."""
    out = []
    with client.stream("GET", "/events", params={"topic": "/config/files/", "from": "0"}
                       ) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                out.append(line)
                if "config.setting.update" in line:
                    break
            if line.startswith(": keepalive"):
                break
    return out


def test_configuration_is_for_admins_and_its_secrets_stay_in(tmp_path: Path) -> None:
    config = {"auth": {"initial_admin": "root", "initial_password": "root-secret"}}
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None], config=config) as live, \
            httpx.Client(base_url=live.url, timeout=20) as client:
        assert live.call(startup(live.engine, "0.0.0.0")) is None  # type: ignore[arg-type]
        live.connected()
        wait_read(live, "pjsip.conf")
        root = {"Authorization": "Bearer " + result(client.post(
            "/admin/login", auth=("root", "root-secret")))["authtoken"]}
        assert client.post("/admin/users", headers=root, json={
            "name": "val", "password": "val-password", "role": "operator"}).status_code == 200
        val = {"Authorization": "Bearer " + result(client.post(
            "/admin/login", auth=("val", "val-password")))["authtoken"]}
        for path in ("/queue/setting", "/queue/settings", "/views/config",
                     "/views/config-versions"):
            assert client.get(path, headers=val).status_code == 403, path
            assert client.get(path, headers=root).status_code == 200, path
        assert client.post("/queue/queues", headers=val, json=BILLING).status_code == 403
        cfg = "/admin/park/cfg_parkinglots"  # the seed's V1 lots: the file, for admins
        assert client.get(cfg, headers=root).status_code == 200
        for method, path, body in (("GET", cfg, None), ("GET", f"{cfg}/default", None),
                                   ("POST", cfg, {"name": "x"}),
                                   ("PUT", f"{cfg}/default", {"data": {}}),
                                   ("DELETE", f"{cfg}/default", None)):
            assert client.request(method, path, json=body, headers=val).status_code == 403
        assert client.get("/config/files", headers=val).status_code == 200
        seen = json.dumps([result(client.get(f"/timeline/{name}", headers=val))
                           for name in ("pjsip.conf", "voicemail.conf")])
        assert "s3cret-6001" not in seen and "1234," not in seen and "(redacted)" in seen
        assert "s3cret-6001" in json.dumps([e.data for e in events(live)])  # the log keeps it


def test_asterisks_refusals_end_the_command_with_its_message(live: Live) -> None:
    """What the API cannot send, the engine's change can: a file Asterisk does not have, an
    action it does not know. Each is a failed command in the log with Asterisk's message."""
    from engine.configs import Action, Change, change

    ctx = live.app.state.ctx

    def run(filename: str, action: Action) -> tuple[int, str, str]:
        outcome = live.call(change(ctx.commands, Change(
            "pbx1", filename, [action], "test_change", "tester")))
        states = [e.type for e in command_events(live, outcome.id)]
        return outcome.status, outcome.message, states[-1]

    assert run("no-such-file.conf", Action("DelCat", "x")) == (
        404, "Config file not found", "CommandFailed")
    assert run("queues.conf", Action("Frobnicate", "sales", "x", "y")) == (
        400, "Unknown action command", "CommandFailed")
    assert run("queues.conf", Action("DelCat", "no-such-queue")) == (
        404, "Given category does not exist", "CommandFailed")


def test_the_v1_cfg_parkinglots_are_the_lots_of_res_parking_conf(
        live: Live, client: httpx.Client) -> None:
    """`/admin/park/cfg_parkinglots` (and under `/v1`): the seed's `{name, data}` of each lot
    of the file; made, changed, renamed and deleted through the same commands as
    `/park/parkinglots`, each seen in the next read of both."""
    cfg = "/v1/admin/park/cfg_parkinglots"
    assert result(client.get(cfg))["list"] == [{"name": "default", "server": "pbx1", "data": {
        "parkext": "700", "parkpos": "701-720", "context": "parkedcalls", "parkingtime": "6",
        "comebacktoorigin": "no", "comebackcontext": "parkedcallstimeout",
        "findslot": "next"}}]
    edvina = {"context": "edvina_park", "parkpos": "800-850", "findslot": "next",
              "comebacktoorigin": "no", "parkedmusicclass": "edvina"}
    made = result(client.post(cfg, json={"name": "edvina", "data": edvina}))
    assert made["state"] == "succeeded" and made["command"] == "parking_lot_create"
    assert result(client.get(f"{cfg}/edvina")) == {"name": "edvina", "data": edvina,
                                                   "server": "pbx1"}
    lot = result(client.get("/park/parkinglots/edvina"))
    assert (lot["start_space"], lot["stop_space"]) == ("800", "850")
    assert result(client.post("/admin/park/cfg_parkinglots",
                              json={"name": "empty"}))["state"] == "succeeded"
    assert result(client.get("/admin/park/cfg_parkinglots/empty"))["data"] == {}

    changed = result(client.put(f"{cfg}/edvina", json={
        "name": "edvina", "data": {**edvina, "parkpos": "800-820"}}))
    assert changed["state"] == "succeeded" and changed["command"] == "parking_lot_update"
    assert result(client.get("/park/parkinglots/edvina"))["stop_space"] == "820"
    assert result(client.get(f"{cfg}/edvina"))["data"]["parkpos"] == "800-820"
    renamed = result(client.put(f"{cfg}/edvina", json={"name": "edvina2", "data": edvina}))
    assert renamed["state"] == "succeeded"
    assert client.get(f"{cfg}/edvina").status_code == 404
    assert result(client.get(f"{cfg}/edvina2"))["data"] == edvina

    for name in ("edvina2", "empty"):
        deleted = result(client.delete(f"{cfg}/{name}"))
        assert deleted["state"] == "succeeded" and deleted["command"] == "parking_lot_delete"
    assert [r["name"] for r in result(client.get(cfg))["list"]] == ["default"]
    assert [r["name"] for r in result(client.get("/park/parkinglots"))["list"]] == ["default"]
    verbs = [e.data["command"] for e in events(live) if e.type == "CommandRequested"]
    assert verbs == ["parking_lot_create", "parking_lot_create", "parking_lot_update",
                     "parking_lot_update", "parking_lot_delete", "parking_lot_delete"]

    # refusals: Asterisk's with its message, ours before anything is stored
    gone = client.delete(f"{cfg}/edvina2")
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == "Given category does not exist"
    again = client.post(cfg, json={"name": "default"})
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "Create category did not complete successfully"
    before = len(events(live))
    for bad in ({"data": {}}, {"name": "general"}, {"name": "x", "data": {"a": 1}},
                {"name": "x", "data": [1]}, {"name": "x", "extra": 1},
                {"name": "x", "data": {"a=b": "1"}}):
        assert client.post(cfg, json=bad).status_code == 400, bad
    assert client.put(f"{cfg}/default", json={"name": "x"}).status_code == 400  # data missing
    assert client.put(f"{cfg}/general", json={"data": {}}).status_code == 400
    assert len(events(live)) == before
    assert client.get(f"{cfg}/nowhere").status_code == 404
    assert client.get(cfg, params={"server": "pbx9"}).json()["result"] == {"list": []}

