"""Voicemail users written through voicemail.conf, end to end: the emulated app_voicemail
reloads the file as the recorded Asterisk 22 did (batch2/voicemail.jsonl, over TCP); the
engine on a real port makes, changes and deletes mailboxes (`POST /voicemail/users`,
`PUT|DELETE /voicemail/users/<mailbox@context>`) on the simulated PBX and on the test server
replaying the recording, each a command in the log, visible in the next read; refusals are
4xx with nothing stored; the PIN never below admin; `/voicemail/setting[s]`."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import startup
from engine.ami.client import AmiClient
from engine.ami.protocol import Message, parse_action
from engine.ami.simulator import PbxSimulator
from engine.ami.testserver import AmiTestServer
from engine.capture import read_lines
from engine.commands import REQUESTED
from engine.config import ServerConfig
from engine.envelope import Event
from tests.captures import CAPTURES
from tests.live import Live, paused_live
from tests.test_emulated_asterisk import CLOCK
from tests.test_settings import wait_read

VOICEMAIL = CAPTURES / "batch2" / "voicemail.jsonl"
ADMIN = ("root", "root-secret")
CAROL = {"context": "default", "mailbox": "102", "password": "5555",
         "full_name": "Carol Agent", "email": "carol@example.com"}


def result(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json().get("result")


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["message"])


# ------------------------------------------------------------------------------ emulated


def recorded_steps() -> list[tuple[dict, list[dict], list[dict]]]:
    """The recording's actions over voicemail.conf and the users: (the action, the messages
    carrying its ActionID, the events without one that came before the next action)."""
    steps: list[tuple[dict, list[dict], list[dict]]] = []
    for line in read_lines(VOICEMAIL):
        headers = parse_action(line.raw)
        if line.dir == "out":
            steps.append((headers, [], []))
        elif steps:
            shown = {k: v for k, v in headers.items() if k not in CLOCK}
            if headers.get("ActionID") == steps[-1][0].get("ActionID"):
                steps[-1][1].append(shown)
            elif "Event" in headers and "ActionID" not in headers:
                steps[-1][2].append(shown)
    wanted = ("UpdateConfig", "VoicemailRefresh", "VoicemailUsersList")
    return [s for s in steps if s[0]["Action"] in wanted]


def shown(messages: list[Message]) -> list[dict]:
    return [{k: v for k, v in m.headers.items() if k not in CLOCK} for m in messages]


def test_app_voicemail_reloads_voicemail_conf_as_recorded() -> None:
    """Over TCP to the test server (its voicemail from the recording's start, the replay held):
    the recorded UpdateConfig adding mailbox 102 with `Reload: app_voicemail` gets the
    recorded answer, the recorded MessageWaiting of each mailbox and the Reload event; the
    next VoicemailUsersList is the recorded one, 102 included; deleting it likewise."""
    steps = recorded_steps()
    assert [s[0]["Action"] for s in steps] == [
        "VoicemailUsersList", "UpdateConfig", "VoicemailRefresh", "VoicemailUsersList",
        "UpdateConfig", "VoicemailUsersList"]

    async def run() -> None:
        async with AmiTestServer(capture=VOICEMAIL, pause_after=0) as server:
            events: list[Message] = []
            client = AmiClient(
                ServerConfig(name="t", port=server.port, username="admin", secret="admin"),
                on_messages=lambda _, ms: events.extend(
                    m for m in ms if m.type != "Response" and "ActionID" not in m.headers))
            task = asyncio.create_task(client.run())
            while not client.connected:
                await asyncio.sleep(0.01)
            for action, answer, caused in steps:
                events.clear()
                got = await client.action(dict(action), timeout=5)
                assert shown(got) == answer, action
                for _ in range(200):
                    if len(events) >= len(caused):
                        break
                    await asyncio.sleep(0.01)
                assert shown(events) == caused, action
            client.stop()
            await task

    asyncio.run(run())


# ------------------------------------------------------------------------------ end to end


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[tuple[Live, httpx.Client]]:
    """The simulated PBX (mailboxes 100 and 101 of the recordings, a spool), access control
    on with an admin, voicemail.conf read."""
    spool = tmp_path / "spool"
    config = {"voicemail": {"spool": str(spool)}, "api": {"command_timeout": 5.0},
              "auth": {"initial_admin": ADMIN[0], "initial_password": ADMIN[1]}}
    simulator = functools.partial(PbxSimulator, voicemail_spool=spool)
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None], config=config,
              asterisk=simulator) as live, httpx.Client(base_url=live.url, timeout=20) as client:
        assert live.call(startup(live.engine, "127.0.0.1")) is None  # type: ignore[arg-type]
        live.connected()
        wait_read(live, "voicemail.conf")
        token = result(client.post("/admin/login", auth=ADMIN))["authtoken"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield live, client


def events(live: Live) -> list[Event]:
    assert live.engine is not None
    return list(live.engine.store.iter_all())


def login(client: httpx.Client, name: str, role: str) -> dict[str, str]:
    made = client.post("/admin/users", json={"name": name, "password": f"{name}-password",
                                             "role": role})
    assert made.status_code == 200, made.text
    token = result(client.post("/admin/login", auth=(name, f"{name}-password"),
                               headers={"Authorization": ""}))["authtoken"]
    return {"Authorization": f"Bearer {token}"}


def users(client: httpx.Client, **kwargs: Any) -> dict[str, dict]:
    return {u["id"]: u for u in result(client.get("/voicemail/users", **kwargs))["list"]}


def test_a_mailbox_made_changed_and_deleted(pbx: tuple[Live, httpx.Client]) -> None:
    live, client = pbx
    assert sorted(users(client)) == ["100@default", "101@default"]

    made = result(client.post("/voicemail/users", json={**CAROL, "timezone": "central"}))
    assert made["state"] == "succeeded" and made["command"] == "voicemail_user_create"
    assert made["message"] == "voicemail.conf changed; app_voicemail reloaded"
    assert made["params"]["password"] == "(redacted)"  # what a viewer of /commands sees
    carol = result(client.get("/voicemail/users/102%40default"))
    assert (carol["full_name"], carol["email"], carol["timezone"], carol["password"]) == (
        "Carol Agent", "carol@example.com", "central", "5555")
    assert carol["new_message_count"] == 0 and carol["attach_message"] == "Yes"
    assert result(client.get("/voicemail/setting"))["default"]["102"] == (
        "5555,Carol Agent,carol@example.com,,tz=central")

    # in the log: the request, the file before, the UpdateConfig as the recording sent it
    requested = next(e for e in events(live) if e.type == REQUESTED
                     and e.data["id"] == made["id"])
    assert requested.data["filename"] == "voicemail.conf"
    assert [c["name"] for c in requested.data["before"]] == ["general", "default", "zonemessages"]
    action = requested.data["action"]
    assert {k: v for k, v in action.items() if k.endswith("-000000")} == {
        "Action-000000": "Append", "Cat-000000": "default", "Var-000000": "102",
        "Value-000000": "5555,Carol Agent,carol@example.com,,tz=central"}
    assert action["Reload"] == "app_voicemail"
    assert [e.type for e in events(live) if e.causation_id == made["id"]].count("Reload") == 1

    # PUT changes the fields given and keeps the rest of the line
    changed = result(client.put("/voicemail/users/102%40default",
                                json={"full_name": "Carol Brown", "password": "9999",
                                      "attach_message": "no", "mailbox": "102"}))
    assert changed["state"] == "succeeded" and changed["command"] == "voicemail_user_update"
    carol = users(client)["102@default"]
    assert (carol["full_name"], carol["timezone"], carol["attach_message"],
            carol["password"]) == ("Carol Brown", "central", "No", "9999")
    assert result(client.get("/voicemail/setting"))["default"]["102"] == (
        "9999,Carol Brown,carol@example.com,,tz=central|attach=no")

    deleted = result(client.delete("/voicemail/users/102%40default"))
    assert deleted["state"] == "succeeded" and deleted["command"] == "voicemail_user_delete"
    assert sorted(users(client)) == ["100@default", "101@default"]
    assert client.get("/voicemail/users/102%40default").status_code == 404
    assert "102" not in result(client.get("/voicemail/setting"))["default"]
    verbs = [e.data["command"] for e in events(live) if e.type == REQUESTED]
    assert verbs == ["voicemail_user_create", "voicemail_user_update", "voicemail_user_delete"]


def test_a_mailbox_in_a_new_context_makes_the_context(pbx: tuple[Live, httpx.Client]) -> None:
    _, client = pbx
    made = result(client.post("/voicemail/users", json={"context": "sales", "mailbox": "200"}))
    assert made["action"] == "UpdateConfig"
    assert result(client.get("/voicemail/users/200%40sales"))["full_name"] == ""
    assert result(client.get("/voicemail/setting"))["sales"] == {"200": ""}
    assert result(client.delete("/voicemail/users/200%40sales"))["state"] == "succeeded"
    assert "200@sales" not in users(client)


def test_refusals_are_4xx_and_store_nothing(pbx: tuple[Live, httpx.Client]) -> None:
    live, client = pbx
    before = len(events(live))
    assert error(client.post("/voicemail/users", json={"context": "default",
                                                        "mailbox": "100"}), 409) == (
        "voicemail user 100@default exists in voicemail.conf of pbx1: change it with PUT")
    bad_bodies = [
        ({"mailbox": "102"}, "context: required field missing"),
        ({**CAROL, "nickname": "C"}, "nickname: unknown field"),
        ({**CAROL, "volume_gain": 1.5}, "volume_gain: expected str, got float"),
        ({**CAROL, "full_name": "Agent, Carol"}, "full_name: a comma would start"),
        ({**CAROL, "timezone": "a|b"}, "timezone: '|' and ','"),
        ({**CAROL, "email": "x\r\nAction: Originate"}, "email: line breaks"),
        ({**CAROL, "context": "general"}, "[general] holds voicemail.conf's own settings"),
        ({**CAROL, "context": "ZoneMessages"}, "[ZoneMessages] holds"),
        ({**CAROL, "mailbox": "1@2"}, "mailbox '1@2': must not hold @"),
        ({**CAROL, "mailbox": "a=b"}, "must not hold [ ] ; = or line breaks"),
        ({**CAROL, "context": "../x"}, "context '../x': must not hold"),
        ({**CAROL, "full_name": "x" * 1100}, "at most 1000 bytes"),
    ]
    for body, message in bad_bodies:
        assert message in error(client.post("/voicemail/users", json=body), 400), body
    assert error(client.put("/voicemail/users/102%40default", json={"full_name": "X"}),
                 404) == "no voicemail user 102@default in voicemail.conf of pbx1"
    assert error(client.delete("/voicemail/users/102%40default"), 404) == (
        "no voicemail user 102@default in voicemail.conf of pbx1")
    assert "DELETE it and POST it anew" in error(client.put(
        "/voicemail/users/100%40default", json={"mailbox": "103"}), 400)
    assert "mailbox@context" in error(client.delete("/voicemail/users/100"), 400)
    assert error(client.put("/voicemail/users/100%40default", content=b"[1]"), 400)
    assert len(events(live)) == before  # nothing stored


def test_the_pin_and_the_writes_are_for_admins(pbx: tuple[Live, httpx.Client]) -> None:
    live, client = pbx
    viewer, operator = login(client, "val", "viewer"), login(client, "otto", "operator")
    for who in (viewer, operator):
        assert {u["password"] for u in users(client, headers=who).values()} == {"(redacted)"}
        assert client.post("/voicemail/users", json=CAROL, headers=who).status_code == 403
        assert client.put("/voicemail/users/100%40default", json={"password": "1"},
                          headers=who).status_code == 403
        assert client.delete("/voicemail/users/100%40default",
                             headers=who).status_code == 403
        assert client.get("/voicemail/setting", headers=who).status_code == 403
    assert users(client)["100@default"]["password"] == "1234"
    result(client.post("/voicemail/users", json=CAROL))
    # the PIN reaches no viewer: not the command, not the timeline, not the stream
    seen = json.dumps([result(client.get("/commands", headers=viewer)),
                       result(client.get("/timeline/voicemail.conf", headers=viewer))])
    assert "5555" not in seen and "1234," not in seen and "(redacted)" in seen
    with client.stream("GET", "/events", params={"topic": "/voicemail/users/", "from": "0"},
                       headers=viewer) as response:
        lines = []
        for line in response.iter_lines():
            lines.append(line)
            if "102@default" in line or line.startswith(": keepalive"):
                break
    assert any("voicemail.user.create" in line and "102@default" in line for line in lines)
    assert "5555" not in "".join(lines)
    assert "5555" in json.dumps([e.data for e in events(live)])  # the log keeps it


def test_the_setting_and_its_versions(pbx: tuple[Live, httpx.Client]) -> None:
    live, client = pbx
    setting = result(client.get("/voicemail/setting"))
    assert setting == {
        "general": {"format": "wav", "maxmsg": "100", "maxsecs": "10", "minsecs": "0",
                    "maxsilence": "2", "silencethreshold": "128", "maxlogins": "3"},
        "default": {"100": "1234,Alice Agent,alice@example.com,,attach=no",
                    "101": "4321,Bob Agent,bob@example.com"},
        "zonemessages": {
            "eastern": "America/New_York|'vm-received' Q 'digits/at' IMp",
            "central": "America/Chicago|'vm-received' Q 'digits/at' IMp",
            "european": "Europe/Copenhagen|'vm-received' a d b 'digits/at' HM"}}
    # the seed's PUT: the whole file, a mailbox written as `> ...`
    setting["general"]["maxmsg"] = "50"
    setting["default"]["103"] = "> 4242,Dave Agent,dave@example.com"
    put = result(client.put("/voicemail/setting", json=setting))
    assert put["state"] == "succeeded" and put["command"] == "voicemail_setting"
    dave = users(client)["103@default"]
    assert (dave["full_name"], dave["max_message_count"], dave["password"]) == (
        "Dave Agent", 50, "4242")
    listed = result(client.get("/voicemail/settings"))["list"]
    assert len(listed) == 2 and listed[0]["default"]["103"] == "4242,Dave Agent,dave@example.com"
    first = listed[1]["filename"]
    assert first.startswith("voicemail.conf.") and "103" not in listed[1]["default"]
    assert result(client.get(f"/voicemail/settings/{first}"))["list"]["general"]["maxmsg"] == "100"
    assert result(client.delete(f"/voicemail/settings/{first}")) is None
    assert [v["filename"] for v in result(client.get("/voicemail/settings"))["list"]] == [
        listed[0]["filename"]]
    assert client.get(f"/voicemail/settings/{first}").status_code == 404
    assert [e.data["version"] for e in events(live) if e.type == "ConfigVersionHidden"] == [
        first]


def test_the_recorded_mailbox_made_against_the_recording(tmp_path: Path) -> None:
    """Against the test server replaying voicemail.jsonl (access control off): mailbox 102 made
    as the recording made it is listed with the fields the recording's VoicemailUsersList
    gave, then deleted."""
    with paused_live(tmp_path, [VOICEMAIL]) as live, \
            httpx.Client(base_url=live.url, timeout=20) as client:
        wait_read(live, "voicemail.conf")
        made = result(client.post("/voicemail/users", json=CAROL))
        assert made["state"] == "succeeded", made
        carol = result(client.get("/voicemail/users/102%40default"))
        assert (carol["full_name"], carol["email"], carol["attach_message"],
                carol["max_message_length"], carol["password"]) == (
            "Carol Agent", "carol@example.com", "Yes", 10, "5555")
        assert result(client.delete("/voicemail/users/102%40default"))["state"] == "succeeded"
        assert sorted(users(client)) == ["100@default", "101@default"]
