"""jade's dialplans end to end: the engine on a real port, the AMI test server over TCP (its
configuration model answers as Asterisk 22 does), a real log.

Every write of `/dp/dpmas` and `/dp/dialplans` (and their V1 `/admin/dialplan/adpmas|adps`) is
seen in the following read, in the log as a command that changed extensions.conf and then the
aggregate's event it caused, and in extensions.conf as the fake Asterisk answers a GetConfig;
Asterisk's refusals are 4xx and leave no aggregate event (the file is put back); a crash
between a command's success and its event is recovered on the next start; a rebuild of the
read models from position 0 equals the live ones."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import startup
from engine.ami.simulator import PbxSimulator
from engine.dialplans.commands import DialplanCommands, Plan
from engine.dialplans.objects import created, stream
from engine.envelope import Event
from engine.values import iso
from projections import config as config_view
from projections import dialplans as dp_view
from projections.runner import replay
from tests.live import Live
from tests.test_settings import client, events, result, wait_read

COMMAND = "X-Switchboard-Command"
__all__ = ["client"]  # the fixture, over this module's `live`


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None],
              config={"api": {"command_timeout": 5.0}}) as running:
        running.connected()
        wait_read(running, "extensions.conf")
        yield running


@pytest.fixture
def any_live(store_url: str) -> Iterator[Live]:
    """On SQLite and on PostgreSQL."""
    with Live(store_url, [None], config={"api": {"command_timeout": 5.0}}) as running:
        running.connected()
        wait_read(running, "extensions.conf")
        yield running


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["message"]


def get_config(live: Live, category: str, asterisk: int = 0) -> list[str]:
    """The lines of a context as the fake Asterisk answers `GetConfig` (none: not there)."""
    answer = live.run(lambda: live.asterisks[asterisk].config.answer(
        "getconfig", {"Action": "GetConfig", "Filename": "extensions.conf",
                      "Category": category}, "t"))
    assert answer is not None
    lines = answer.reply.decode().split("\r\n")
    return [line.split(": ", 1)[1] for line in lines if line.startswith("Line-")]


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def messages(client: httpx.Client, topic: str, until: str) -> list[tuple[str, Any]]:
    """(name, payload) of the SSE messages of `topic` from the start of the log, up to the
    first named `until`."""
    out = []
    with client.stream("GET", "/events", params={"topic": topic, "from": "0"}) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                data = json.loads(line[len("data: "):])
                name = next(k for k in data if k not in ("topic", "id"))
                out.append((name, data[name]))
                if name == until:
                    break
    return out


def caused(live: Live, cid: str) -> list[Event]:
    """The command's own events, then the aggregate events it caused."""
    return [e for e in events(live) if e.stream == f"command/{cid}"
            or (e.causation_id == cid and not e.stream.startswith("ami/"))]


def test_dpmas_and_dialplans_made_changed_and_deleted_through_extensions_conf(
        any_live: Live) -> None:
    with httpx.Client(base_url=any_live.url, timeout=20) as client:
        walk_through(any_live, client)


def walk_through(live: Live, client: httpx.Client) -> None:
    made = client.post("/dp/dpmas", json={"name": "test dpma", "detail": "test dpma dpma"})
    dpma = result(made)
    uuid, context = dpma["uuid"], f"dpma-{dpma['uuid']}"
    assert dpma == {"uuid": uuid, "name": "test dpma", "detail": "test dpma dpma",
                    "tm_create": dpma["tm_create"], "tm_update": None, "server": "pbx1",
                    "context": context}
    assert result(client.get(f"/dp/dpmas/{uuid}")) == dpma
    assert result(client.get("/dp/dpmas"))["list"] == [dpma]
    assert get_config(live, context) == ["exten=_X.,1,NoOp(test dpma)"]

    # in the log: the command (its request carries the event to come), its success, the event
    cid = made.headers[COMMAND]
    requested, *_, succeeded, event = caused(live, cid)
    assert requested.type == "CommandRequested" and requested.data["command"] == "dpma_create"
    assert requested.data["filename"] == "extensions.conf"
    assert requested.data["outbox"] == [{"stream": f"dpma/{uuid}", "version": 0,
                                         "type": "DpmaCreated", "data": event.data}]
    assert succeeded.type == "CommandSucceeded"
    assert succeeded.data["message"] == "extensions.conf changed; pbx_config reloaded"
    assert (event.type, event.stream, event.version) == ("DpmaCreated", f"dpma/{uuid}", 0)
    assert event.correlation_id == cid and event.position > succeeded.position

    # dialplans are the context's priorities in sequence order, whatever command form
    first = result(client.post("/dp/dialplans", json={
        "name": "test_dialplan_1", "dpma_uuid": uuid, "sequence": 10,
        "command": 'Exec NoOp "Jade default dialplan"'}))
    second = result(client.post("/dp/dialplans", json={
        "name": "hello", "dpma_uuid": uuid, "sequence": 1, "command": "Playback(hello-world)"}))
    third = result(client.post("/dp/dialplans", json={
        "name": "quiet", "dpma_uuid": uuid, "sequence": 5}))
    assert (first["command"], first["detail"], first["server"]) == (
        'Exec NoOp "Jade default dialplan"', None, "pbx1")
    assert get_config(live, context) == [
        "exten=_X.,1,NoOp(test dpma)", "same=n,Playback(hello-world)", "same=n,NoOp(quiet)",
        "same=n,NoOp(Jade default dialplan)"]
    listed = result(client.get("/dp/dialplans"))["list"]
    assert [d["uuid"] for d in listed] == [second["uuid"], third["uuid"], first["uuid"]]
    assert result(client.get(f"/dp/dialplans/{first['uuid']}")) == first

    # PUT is partial; a row read back may be sent back whole (read-only fields unchanged)
    moved = client.put(f"/dp/dialplans/{first['uuid']}", json={
        **first, "sequence": 2, "command": "ANSWER"})
    changed = result(moved)
    assert changed["sequence"] == 2 and changed["tm_update"] is not None
    assert changed["name"] == "test_dialplan_1"
    assert result(client.get(f"/dp/dialplans/{first['uuid']}")) == changed
    assert get_config(live, context)[1:3] == ["same=n,Playback(hello-world)", "same=n,Answer()"]
    assert [e.type for e in caused(live, moved.headers[COMMAND])][-1] == "DialplanUpdated"

    renamed = client.put(f"/dp/dpmas/{uuid}", json={"name": "test change name"})
    assert result(renamed)["name"] == "test change name"
    assert get_config(live, context)[0] == "exten=_X.,1,NoOp(test change name)"
    # a change the file does not show is appended at once, no command
    quiet = client.put(f"/dp/dpmas/{uuid}", json={"detail": "another"})
    assert result(quiet)["detail"] == "another" and COMMAND not in quiet.headers
    last = events(live)[-1]
    assert last.type == "DpmaUpdated" and last.causation_id is None
    assert last.data["changes"] == {"detail": "another"}
    unchanged = client.put(f"/dp/dpmas/{uuid}", json={"detail": "another"})
    assert COMMAND not in unchanged.headers and events(live)[-1].position == last.position

    # the V1 paths are the same routes
    assert result(client.get("/v1/admin/dialplan/adpmas")) == result(client.get("/dp/dpmas"))
    assert result(client.get(f"/v1/admin/dialplan/adps/{third['uuid']}")) == third
    assert result(client.get("/admin/dialplan/adps")) == result(client.get("/dp/dialplans"))
    assert result(client.get(f"/admin/dialplan/adpmas/{uuid}")) == result(
        client.get(f"/dp/dpmas/{uuid}"))
    v1 = result(client.post("/v1/admin/dialplan/adps", json={
        "name": "v1", "dpma_uuid": uuid, "sequence": 20, "command": "HANGUP"}))
    assert get_config(live, context)[-1] == "same=n,Hangup()"
    assert result(client.put(f"/admin/dialplan/adps/{v1['uuid']}",
                             json={"command": "Hangup(16)"}))["command"] == "Hangup(16)"
    assert get_config(live, context)[-1] == "same=n,Hangup(16)"
    v1_dpma = result(client.post("/v1/admin/dialplan/adpmas", json={"name": "second"}))
    assert result(client.put(f"/v1/admin/dialplan/adpmas/{v1_dpma['uuid']}",
                             json={"name": "2nd"}))["name"] == "2nd"
    assert get_config(live, f"dpma-{v1_dpma['uuid']}") == ["exten=_X.,1,NoOp(2nd)"]
    assert result(client.delete(f"/v1/admin/dialplan/adpmas/{v1_dpma['uuid']}"))["name"] == "2nd"
    assert get_config(live, f"dpma-{v1_dpma['uuid']}") == []

    # a dialplan moves to another dpma: both contexts change in one command
    other = result(client.post("/dp/dpmas", json={"name": "other"}))
    move = client.put(f"/dp/dialplans/{third['uuid']}", json={"dpma_uuid": other["uuid"]})
    assert result(move)["dpma_uuid"] == other["uuid"]
    assert "same=n,NoOp(quiet)" not in get_config(live, context)
    assert get_config(live, f"dpma-{other['uuid']}") == [
        "exten=_X.,1,NoOp(other)", "same=n,NoOp(quiet)"]

    # deletes: a dialplan's priority leaves; a dpma with dialplans only with force=1
    gone = client.delete(f"/admin/dialplan/adps/{v1['uuid']}")
    assert result(gone)["uuid"] == v1["uuid"]
    assert client.get(f"/dp/dialplans/{v1['uuid']}").status_code == 404
    assert "same=n,Hangup(16)" not in get_config(live, context)
    assert error(client.delete(f"/dp/dpmas/{uuid}"), 400) == (
        f"dpma {uuid} has 2 dialplan(s) (force=1 deletes them too)")
    forced = client.delete(f"/dp/dpmas/{uuid}?force=1")
    assert result(forced)["uuid"] == uuid
    assert get_config(live, context) == []
    assert client.get(f"/dp/dpmas/{uuid}").status_code == 404
    assert [d["dpma_uuid"] for d in result(client.get("/dp/dialplans"))["list"]] == [
        other["uuid"]]
    assert sorted(e.type for e in caused(live, forced.headers[COMMAND])
                  if not e.stream.startswith("command/")) == [
        "DialplanDeleted", "DialplanDeleted", "DpmaDeleted"]

    # the streams told it all on the dpma's topic, each payload the row as REST serves it
    told = messages(client, f"/dp/statuses/{uuid}", until="dp.dpma.delete")
    names = [name for name, _ in told]
    assert told[0] == ("dp.dpma.create", dpma) and names[-1] == "dp.dpma.delete"
    assert {"dp.dialplan.create", "dp.dialplan.update", "dp.dialplan.delete",
            "dp.dpma.update"} <= set(names)
    assert ("dp.dialplan.update", changed) in told

    # same log, same state: a rebuild from position 0 equals the live read models
    live.settled()
    rebuilt = replay(events(live))
    assert live.engine is not None
    assert rebuilt.state(dp_view.NAME) == live.engine.projector.state(dp_view.NAME)
    assert rebuilt.rows("dpmas", 0) == result(client.get("/dp/dpmas"))["list"]
    assert rebuilt.rows("dialplans", 0) == result(client.get("/dp/dialplans"))["list"]
    assert rebuilt.state(dp_view.NAME)["outbox"] == {}


def test_bad_requests_are_refused_and_nothing_is_stored(live: Live,
                                                        client: httpx.Client) -> None:
    dpma = result(client.post("/dp/dpmas", json={"name": "d"}))
    uuid = dpma["uuid"]
    plan = result(client.post("/dp/dialplans", json={"dpma_uuid": uuid, "sequence": 1}))
    before = len(events(live))
    refused = {
        ("POST", "/dp/dpmas", '{"name": "x", "zzz": 1}'): "zzz: unknown field",
        ("POST", "/dp/dpmas", '{"name": 5}'): "name: expected str | null, got int",
        ("POST", "/dp/dpmas", '{"uuid": "nope"}'): "uuid: not a UUID",
        ("POST", "/dp/dpmas", f'{{"uuid": "{uuid}"}}'): f"uuid: dpma {uuid} already exists",
        ("POST", "/dp/dpmas", "[1]"): "body: expected object, got array",
        ("POST", "/dp/dialplans", '{"sequence": 2}'): "dpma_uuid: required field missing",
        ("POST", "/dp/dialplans", f'{{"dpma_uuid": "{uuid}", "sequence": 0}}'):
            "sequence: expected int >= 1",
        ("POST", "/dp/dialplans", f'{{"dpma_uuid": "{uuid}", "sequence": "2"}}'):
            "sequence: expected int, got str",
        ("POST", "/dp/dialplans", f'{{"dpma_uuid": "{uuid}", "sequence": 1}}'):
            f"sequence: 1 is taken in dpma {uuid} by dialplan {plan['uuid']}",
        ("POST", "/dp/dialplans", '{"dpma_uuid": "x", "sequence": 2}'): "dpma_uuid: no dpma x",
        ("POST", "/dp/dialplans", f'{{"dpma_uuid": "{uuid}", "sequence": 2, '
                                  '"command": "Wait 1"}'):
            "command: 'Wait 1' is neither an application (Playback(hello)) nor an AGI "
            "command with one (EXEC, ANSWER, HANGUP, NOOP, SET VARIABLE)",
        ("POST", "/dp/dialplans", f'{{"dpma_uuid": "{uuid}", "sequence": 2, '
                                  '"command": "EXEC Dial PJSIP/1 30"}'):
            'command: EXEC takes one argument string after the application: quote it '
            '(EXEC Dial "PJSIP/100,30")',
        ("POST", "/dp/dialplans", f'{{"dpma_uuid": "{uuid}", "sequence": 2, '
                                  '"command": "NoOp(a)\\nexten => 1,1,Hangup()"}'):
            "command: line breaks are not allowed",
        ("PUT", f"/dp/dpmas/{uuid}", '{"server": "pbx9"}'): "server: read-only",
        ("PUT", f"/dp/dpmas/{uuid}", '{"tm_create": "x"}'): "tm_create: read-only",
        ("PUT", f"/dp/dialplans/{plan['uuid']}", '{"dpma_uuid": "y"}'): "dpma_uuid: no dpma y",
        ("PUT", f"/dp/dialplans/{plan['uuid']}", '{"uuid": "z"}'): "uuid: read-only",
        ("DELETE", "/dp/dpmas/x?force=2", ""): "force: 0 or 1, got '2'",
    }
    for (method, path, body), message in refused.items():
        response = client.request(method, path, content=body)
        assert error(response, 400) == message, (method, path, body)
    for method, path in (("PUT", "/dp/dpmas/nope"), ("DELETE", f"/dp/dialplans/{uuid}"),
                         ("GET", "/dp/dpmas/nope"), ("PUT", f"/v1/admin/dialplan/adps/{uuid}")):
        assert client.request(method, path, json={}).status_code == 404, (method, path)
    assert len(events(live)) == before  # nothing stored


def test_asterisks_refusal_appends_no_aggregate_event_and_puts_the_file_back(
        live: Live, client: httpx.Client) -> None:
    kept = result(client.post("/dp/dpmas", json={"name": "kept"}))
    asterisk = live.asterisks[0]
    live.run(lambda: asterisk.config.fail_reload("pbx_config"))
    refused = client.post("/dp/dpmas", json={"name": "refused"})
    assert error(refused, 409) == (
        "extensions.conf was changed, but the reload of pbx_config failed: the module failed "
        "to reload (Reload status 3)")
    cid = refused.headers[COMMAND]
    requested, *_, failed = caused(live, cid)
    assert failed.type == "CommandFailed" and requested.data["outbox"]
    assert not [e for e in events(live) if e.type == "DpmaCreated" and e.causation_id == cid]
    assert [d["uuid"] for d in result(client.get("/dp/dpmas"))["list"]] == [kept["uuid"]]
    # the file, changed before the reload failed, was written back as the log has it
    (render,) = [e for e in events(live) if e.type == "CommandRequested"
                 and e.data["command"] == "dialplan_render"]
    assert render.position > failed.position
    orphan = f"dpma-{requested.data['outbox'][0]['data']['object']['uuid']}"
    assert get_config(live, orphan) == []
    assert orphan not in result(client.get("/dialplan/setting"))  # and the read models know
    assert get_config(live, f"dpma-{kept['uuid']}") == ["exten=_X.,1,NoOp(kept)"]

    # UpdateConfig refused (no such file): a 404 with Asterisk's message, nothing appended
    live.run(lambda: asterisk.config.fail_reload("pbx_config", False))
    saved = live.run(lambda: asterisk.config.files.pop("extensions.conf"))
    gone = client.put(f"/dp/dpmas/{kept['uuid']}", json={"name": "renamed"})
    assert error(gone, 404) == "Config file not found"
    assert result(client.get(f"/dp/dpmas/{kept['uuid']}"))["name"] == "kept"
    assert error(client.get("/dialplan/setting"), 404).startswith("extensions.conf of pbx1 "
                                                                   "has not been read")
    # back, the next reload of pbx_config makes the engine read it again
    live.run(lambda: asterisk.config.files.__setitem__("extensions.conf", saved))
    assert live.engine is not None
    live.call(live.engine.clients[0].action({"Action": "Reload", "ActionID": "r",
                                             "Module": "pbx_config"}))
    wait_until(lambda: client.get("/dialplan/setting").status_code == 200)
    assert result(client.put(f"/dp/dpmas/{kept['uuid']}",
                             json={"name": "renamed"}))["name"] == "renamed"
    assert get_config(live, f"dpma-{kept['uuid']}") == ["exten=_X.,1,NoOp(renamed)"]


def test_a_write_cut_short_after_its_command_succeeded_is_recovered_on_start(
        tmp_path: Path) -> None:
    """A crash between the command's success and the aggregate's event: the command's request
    holds the event, and the next start appends it (once: the store's key makes it so)."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    uuid = "1d47735d-2265-463c-908a-d37dea085c21"
    with Live(url, [None], config={"api": {"command_timeout": 5.0}}) as live:
        live.connected()
        wait_read(live, "extensions.conf")
        engine = live.engine
        assert engine is not None
        writes = DialplanCommands(
            engine.log, engine.store, live.app.state.ctx.commands,
            lambda: engine.projector.state(dp_view.NAME),
            lambda server: config_view.content_at(engine.projector.state("config"), server,
                                                  "extensions.conf"),
            lambda: engine.projector.position)
        obj = {"uuid": uuid, "name": "test dpma", "detail": None, "server": "pbx1",
               "tm_create": iso(1516664455.5), "tm_update": None}
        plan = Plan("pbx1", "dpma_create", {"uuid": uuid, "name": "test dpma"},
                    [{"stream": stream("dpma", uuid), "version": 0, "type": created("dpma"),
                      "data": {"object": obj}}], {uuid}, obj)
        outcome = live.call(writes.send(plan, "test"))
        assert outcome is not None and outcome.ok
        live.settled()
        assert engine.projector.state(dp_view.NAME)["outbox"][outcome.id]["succeeded"]
        with httpx.Client(base_url=live.url) as client:
            assert client.get(f"/dp/dpmas/{uuid}").status_code == 404  # the "crash"
        assert get_config(live, f"dpma-{uuid}") == ["exten=_X.,1,NoOp(test dpma)"]

    with Live(url, [None], config={"api": {"command_timeout": 5.0}}) as again:
        again.connected()
        again.settled()
        with httpx.Client(base_url=again.url) as client:  # recovered as the API starts
            wait_until(lambda: client.get(f"/dp/dpmas/{uuid}").status_code == 200)
            row = result(client.get(f"/dp/dpmas/{uuid}"))
        assert row["name"] == "test dpma" and row["tm_create"] == obj["tm_create"]
        (event,) = [e for e in events(again) if e.type == "DpmaCreated"]
        assert event.causation_id == outcome.id
        assert again.engine is not None
        assert again.engine.projector.state(dp_view.NAME)["outbox"] == {}


def test_a_dpma_lives_on_one_server(tmp_path: Path) -> None:
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None, None],
              config={"api": {"command_timeout": 5.0}}) as live, \
            httpx.Client(base_url=live.url, timeout=20) as client:
        live.connected()
        wait_read(live, "extensions.conf")
        live.settled()
        assert error(client.post("/dp/dpmas", json={}), 400) == (
            "several servers (pbx1, pbx2): pass ?server=")
        one = result(client.post("/dp/dpmas?server=pbx1", json={"name": "one"}))
        two = result(client.post("/dp/dpmas?server=pbx2", json={"name": "two"}))
        plan = result(client.post("/dp/dialplans", json={
            "dpma_uuid": two["uuid"], "sequence": 1, "command": "NOOP"}))
        assert plan["server"] == "pbx2"
        assert get_config(live, f"dpma-{two['uuid']}", asterisk=1) == [
            "exten=_X.,1,NoOp(two)", "same=n,NoOp()"]
        assert get_config(live, f"dpma-{two['uuid']}", asterisk=0) == []
        assert get_config(live, f"dpma-{one['uuid']}", asterisk=0) == ["exten=_X.,1,NoOp(one)"]
        assert error(client.put(f"/dp/dialplans/{plan['uuid']}",
                                json={"dpma_uuid": one["uuid"]}), 400) == (
            f"dpma_uuid: dpma {one['uuid']} is on pbx1, this dialplan on pbx2")


# ------------------------------------------------------------------------------ the file itself

IVR = "[ivr]\nexten => s,1,Answer()\nsame => n,Wait(1)\nsame => n,Hangup()\n"


def test_the_dialplan_setting_as_text_and_as_pairs(live: Live, client: httpx.Client) -> None:
    text = result(client.get("/dialplan/setting?format=text"))
    assert result(client.get("/dialplan/setting")) == text
    assert text.startswith("[general]\nstatic = yes\nwriteprotect = no\n")
    assert "[tools]\nexten => agi,1,Answer()\nsame => n,AGI(agi:async)\n" in text
    pairs = result(client.get("/dialplan/setting?format=json"))
    assert pairs["dialer"][:2] == [["exten", "queue,1,Queue(sales,,,,8)"],
                                   ["exten", "support,1,Queue(support,,,,5)"]]

    # PUT the text (a text/plain body, or a JSON string): what differs is changed
    put = client.put("/dialplan/setting", content=text + "\n" + IVR,
                     headers={"Content-Type": "text/plain"})
    command = result(put)
    assert command["state"] == "succeeded" and command["command"] == "dialplan_setting"
    assert get_config(live, "ivr") == ["exten=s,1,Answer()", "same=n,Wait(1)",
                                       "same=n,Hangup()"]
    assert result(client.get("/dialplan/setting")) == text + "\n" + IVR
    (requested,) = [e for e in events(live) if e.stream == f"command/{command['id']}"
                    and e.type == "CommandRequested"]
    verbs = [v for k, v in requested.data["action"].items() if k.startswith("Action-")]
    assert verbs == ["NewCat", "Append", "Append", "Append"]  # only the new context
    assert result(client.put("/dialplan/setting", json=text))["state"] == "succeeded"
    assert get_config(live, "ivr") == []
    # the seed's example body is no file: refused, nothing sent
    before = len(events(live))
    assert error(client.put("/dialplan/setting", content=b"Test update",
                            headers={"Content-Type": "text/plain"}), 400) == (
        "line 1: neither [category] nor name = value: 'Test update'")
    assert error(client.put("/dialplan/setting", json=""), 400) == (
        "the text holds no category: a PUT replaces the whole file")
    assert error(client.put("/dialplan/setting", json=5), 400).startswith("body: expected")
    assert error(client.get("/dialplan/setting?format=xml"), 400) == (
        "format: text or json, got 'xml'")
    assert len(events(live)) == before

    # a dpma's context is changed through /dp only
    dpma = result(client.post("/dp/dpmas", json={"name": "d"}))
    context = f"dpma-{dpma['uuid']}"
    text = result(client.get("/dialplan/setting"))
    assert f"[{context}]\nexten => _X.,1,NoOp(d)\n" in text
    refusal = (f"[{context}] is dpma {dpma['uuid']}'s context: change it through "
               f"/dp/dpmas/{dpma['uuid']} and /dp/dialplans")
    assert error(client.put("/dialplan/setting", json=text.replace("NoOp(d)", "NoOp(e)")),
                 400) == refusal
    assert error(client.put("/dialplan/setting", json=text.split(f"[{context}]")[0]),
                 400) == refusal
    assert result(client.put("/dialplan/setting", json=text + IVR))["state"] == "succeeded"

    # every version seen, newest first, as the other settings (the first one current again
    # once the ivr was taken out)
    listed = result(client.get("/dialplan/settings"))["list"]
    assert [v["filename"][:16] for v in listed] == ["extensions.conf."] * 4
    assert "ivr" in listed[0] and context in listed[0] and context in listed[1]
    assert "ivr" not in listed[1] and "ivr" in listed[2] and context not in listed[3]


def test_the_v1_configurations_are_the_file_and_its_versions_as_text(
        live: Live, client: httpx.Client) -> None:
    rows = result(client.get("/admin/dialplan/configurations"))["list"]
    (now, first) = rows
    assert now == {"name": "extensions.conf", "data": result(client.get("/dialplan/setting"))}
    assert first["name"].startswith("extensions.conf.") and first["data"] == now["data"]
    assert result(client.get("/v1/admin/dialplan/configurations/extensions.conf")) == now
    assert result(client.get(f"/admin/dialplan/configurations/{first['name']}")) == first

    put = client.put("/v1/admin/dialplan/configurations/extensions.conf",
                     json={"name": "extensions.conf", "data": now["data"] + IVR})
    assert result(put)["state"] == "succeeded"
    assert get_config(live, "ivr")[0] == "exten=s,1,Answer()"
    rows = result(client.get("/admin/dialplan/configurations"))["list"]
    assert [r["name"] == "extensions.conf" for r in rows] == [True, False, False]
    assert rows[0]["data"] == rows[1]["data"] == now["data"] + "\n" + IVR

    before = len(events(live))
    assert error(client.put(f"/admin/dialplan/configurations/{first['name']}",
                            json={"data": IVR}), 400) == (
        "only extensions.conf can be changed: a version stays as it was (PUT its data to "
        "extensions.conf to go back to it)")
    assert error(client.put("/admin/dialplan/configurations/extensions.conf",
                            json={"data": IVR, "name": "x"}), 400) == (
        "name: 'x' is not the path's 'extensions.conf'")
    assert error(client.put("/admin/dialplan/configurations/extensions.conf",
                            json={"dat": IVR}), 400) == "dat: unknown field"
    assert error(client.delete("/admin/dialplan/configurations/extensions.conf"), 400) == (
        "the current extensions.conf cannot be deleted, only its versions")
    assert client.get("/admin/dialplan/configurations/nope").status_code == 404
    assert client.delete("/admin/dialplan/configurations/nope").status_code == 404
    assert len(events(live)) == before

    assert result(client.delete(f"/v1/admin/dialplan/configurations/{first['name']}")) is None
    assert [r["name"] for r in result(client.get("/admin/dialplan/configurations"))["list"]
            ] == ["extensions.conf", rows[1]["name"]]
    (hidden,) = [e for e in events(live) if e.type == "ConfigVersionHidden"]
    assert hidden.data["version"] == first["name"]


def test_the_v1_static_dialplans_are_the_files_contexts(live: Live,
                                                        client: httpx.Client) -> None:
    dpma = result(client.post("/dp/dpmas", json={"name": "managed"}))
    listed = result(client.get("/admin/dialplan/sdps"))["list"]
    assert [s["name"] for s in listed] == ["customers", "agents", "dialer", "parkedcalls",
                                           "tools"]  # not general, not a dpma's context
    tools = result(client.get("/v1/admin/dialplan/sdps/tools"))
    assert tools == listed[-1]
    assert tools["data"][:2] == [{"exten": "> agi,1,Answer()"}, {"same": "> n,AGI(agi:async)"}]
    assert result(client.get("/admin/dialplan/sdps/parkedcalls"))["data"] == [
        {"include": "> parkedcalls-default"}]

    # PUT writes the context whole (made if new); jade's {"type", "data"} items too
    made = client.put("/v1/admin/dialplan/sdps/jade_demo", json={"data": [
        {"exten": "> 100,1,NoOp(sample_park)"}, {"type": "same", "data": "> n,Park()"}]})
    assert result(made)["state"] == "succeeded"
    assert get_config(live, "jade_demo") == ["exten=100,1,NoOp(sample_park)", "same=n,Park()"]
    assert result(client.get("/admin/dialplan/sdps/jade_demo")) == {
        "name": "jade_demo", "data": [{"exten": "> 100,1,NoOp(sample_park)"},
                                      {"same": "> n,Park()"}]}
    changed = client.put("/admin/dialplan/sdps/jade_demo", json={
        "name": "jade_demo", "data": [{"exten": "> _X.,1,BackGround(demo-congrats)"},
                                      {"same": "> n,Hangup()"}]})
    assert result(changed)["state"] == "succeeded"
    assert get_config(live, "jade_demo") == ["exten=_X.,1,BackGround(demo-congrats)",
                                             "same=n,Hangup()"]
    assert result(client.put("/admin/dialplan/sdps/jade_demo3",
                             json={"data": []}))["state"] == "succeeded"
    assert result(client.get("/admin/dialplan/sdps/jade_demo3")) == {"name": "jade_demo3",
                                                                     "data": []}
    assert result(client.delete("/v1/admin/dialplan/sdps/jade_demo3"))["state"] == "succeeded"
    assert client.get("/admin/dialplan/sdps/jade_demo3").status_code == 404
    assert error(client.delete("/admin/dialplan/sdps/jade_demo3"), 404) == (
        "Given category does not exist")

    before = len(events(live))
    managed = f"dpma-{dpma['uuid']}"
    for name, body, message in [
        (managed, {"data": []}, f"[{managed}] is dpma {dpma['uuid']}'s context: change it "
                                f"through /dp/dpmas/{dpma['uuid']} and /dp/dialplans"),
        ("general", {"data": []}, "[general] is not a context: change it with "
                                  "/dialplan/setting"),
        ("a(!)", {"data": []}, "'a(!)': a context name, without template options"),
        ("a]b", {"data": []}, "category 'a]b': must not hold [ ] ; = or line breaks, nor "
                              "start with # or >"),
        ("x", {"data": [{"exten": "1", "same": "2"}]},
         'data[0]: one {"<name>": "<value>"} (or jade\'s {"type", "data"}) per line'),
        ("x", {"data": [{}]}, 'data[0]: one {"<name>": "<value>"} (or jade\'s {"type", '
                              '"data"}) per line'),
        ("x", {"data": [{"exten": "1,1,NoOp()\r\nAction: Originate"}]},
         "exten: line breaks are not allowed"),
        ("x", {"data": "x"}, "data: expected array, got str"),
        ("x", {"data": [], "name": "y"}, "name: 'y' is not the path's 'x'"),
    ]:
        assert error(client.put(f"/admin/dialplan/sdps/{name}", json=body), 400) == message
    assert error(client.delete(f"/admin/dialplan/sdps/{managed}"), 400).startswith(
        f"[{managed}] is dpma")
    assert get_config(live, managed) == ["exten=_X.,1,NoOp(managed)"]
    assert len(events(live)) == before


def test_the_simulated_pbx_takes_dialplans_too(tmp_path: Path) -> None:
    """The PBX `switchboard demo` and the dialer tests run answers the same configuration
    actions (engine/ami/asterisk_config.py)."""
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None], asterisk=PbxSimulator,
              config={"api": {"command_timeout": 5.0}}) as live, \
            httpx.Client(base_url=live.url, timeout=20) as client:
        live.connected()
        wait_read(live, "extensions.conf")
        dpma = result(client.post("/dp/dpmas", json={"name": "demo"}))
        result(client.post("/dp/dialplans", json={"dpma_uuid": dpma["uuid"], "sequence": 1,
                                                  "command": "EXEC Playback hello-world"}))
        assert get_config(live, dpma["context"]) == ["exten=_X.,1,NoOp(demo)",
                                                     "same=n,Playback(hello-world)"]
        assert dpma["context"] in result(client.get("/dialplan/setting?format=json"))


def test_dialplans_are_read_by_viewers_and_written_by_admins(tmp_path: Path) -> None:
    config = {"auth": {"initial_admin": "root", "initial_password": "root-secret"}}
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None], config=config) as live, \
            httpx.Client(base_url=live.url, timeout=20) as client:
        assert live.call(startup(live.engine, "0.0.0.0")) is None  # type: ignore[arg-type]
        live.connected()
        wait_read(live, "extensions.conf")
        root = {"Authorization": "Bearer " + result(client.post(
            "/admin/login", auth=("root", "root-secret")))["authtoken"]}
        assert client.post("/admin/users", headers=root, json={
            "name": "val", "password": "val-password", "role": "operator"}).status_code == 200
        val = {"Authorization": "Bearer " + result(client.post(
            "/admin/login", auth=("val", "val-password")))["authtoken"]}
        dpma = result(client.post("/dp/dpmas", headers=root, json={"name": "d"}))
        for path in ("/dp/dpmas", f"/dp/dpmas/{dpma['uuid']}", "/dp/dialplans",
                     "/v1/admin/dialplan/adpmas"):
            assert client.get(path, headers=val).status_code == 200, path
        for path in ("/dialplan/setting", "/dialplan/settings", "/admin/dialplan/sdps",
                     "/admin/dialplan/configurations"):
            assert client.get(path, headers=val).status_code == 403, path
            assert client.get(path, headers=root).status_code == 200, path
        assert client.post("/dp/dpmas", headers=val, json={}).status_code == 403
        assert client.post("/dp/dialplans", headers=val, json={
            "dpma_uuid": dpma["uuid"], "sequence": 1}).status_code == 403
        assert client.put(f"/dp/dpmas/{dpma['uuid']}", headers=val, json={}).status_code == 403
        assert client.delete("/admin/dialplan/sdps/tools", headers=val).status_code == 403
