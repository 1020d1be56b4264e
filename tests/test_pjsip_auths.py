"""PJSIP auths (seed 004 `/pjsip/auths`, V1 `/admin/pjsip/auth[s]`): the `pjsip-auths` view of
the config projection over pjsip.conf as the fake Asterisk's configuration model answers it,
property-tested over generated files; end to end on a real port against the AMI test server:
secrets for admins only, in REST and on the `pjsip.auth.*` stream, and a change made outside
showing after res_pjsip's reload."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.app import startup
from engine.ami.asterisk_config import AsteriskConfig, Category, Variable
from engine.ami.client import AmiClient
from engine.config import ServerConfig
from projections import config
from projections.config import auths_of
from tests.live import Live
from tests.test_projection_config import read, run

ADMIN = ("root", "root-secret")
PHONE = {"object_name": "6001-auth", "object_type": "auth", "username": "6001",
         "auth_type": "userpass", "password": "s3cret-6001", "md5_cred": "", "realm": "",
         "nonce_lifetime": 32, "endpoint_name": "6001"}
TRUNK = {"object_name": "trunk-auth", "object_type": "auth", "username": "switchboard",
         "auth_type": "md5", "password": "", "md5_cred": "5f4dcc3b5aa765d61d8327deb882cf99",
         "realm": "sip.example.com", "nonce_lifetime": 32, "endpoint_name": "trunk"}


def test_the_auths_of_the_captured_pbx() -> None:
    """The phone's auth (its endpoint inherits a template: `type` read through it) and the
    trunk's outbound auth; res_pjsip's defaults where the section is silent."""
    state = run([read(AsteriskConfig(), "pjsip.conf", "pbx1",
                      at="2026-12-07T20:08:35.000000+00:00")])
    rows = config.auth_rows(state, 0)
    assert rows == [{"server": "pbx1", **auth, "tm_update": "2026-12-07T20:08:35.000000000Z"}
                    for auth in (PHONE, TRUNK)]
    assert config.VIEW_ROLES["pjsip-auths"] == "admin"


NAMES = st.sampled_from(["a", "b", "c", "t"])
SETTINGS = st.sampled_from(["type", "auth", "outbound_auth", "username", "password",
                            "nonce_lifetime", "auth_type"])
VALUES = st.sampled_from(["auth", "endpoint", "aor", "a", "b,c", "x", "10", ""])
SECTIONS = st.lists(st.tuples(NAMES, st.booleans(), st.lists(st.tuples(SETTINGS, VALUES),
                                                              max_size=5)), max_size=6)


@given(SECTIONS)
def test_an_auth_is_a_section_of_type_auth(sections: list[tuple[str, bool, list]]) -> None:
    """Whatever the file: one row per name of a non-template section whose last `type` is
    auth (the last such section of that name), its endpoint one that names it."""
    content = [{"name": n, "template": t, "templates": [],
                "variables": [list(v) for v in variables]} for n, t, variables in sections]

    def last(variables: list, name: str) -> str | None:
        return next((v for k, v in reversed(variables) if k == name), None)

    auths = {n: variables for n, t, variables in sections
             if not t and last(variables, "type") == "auth"}
    rows = auths_of(content)
    assert [r["object_name"] for r in rows] == list(auths)
    for row in rows:
        variables = auths[row["object_name"]]
        assert row["username"] == (last(variables, "username") or "")
        assert row["auth_type"] == (last(variables, "auth_type") or "userpass")
        lifetime = last(variables, "nonce_lifetime")
        assert row["nonce_lifetime"] == (32 if lifetime is None else
                                         int(lifetime) if lifetime.isdigit() else None)
        endpoint = row["endpoint_name"]
        if endpoint:
            named = [c for c in content if c["name"] == endpoint and not c["template"]
                     and last(c["variables"], "type") == "endpoint"
                     and any(row["object_name"] in v.split(",")
                             for k, v in c["variables"] if k in ("auth", "outbound_auth"))]
            assert named, row
        else:
            assert not [c for c in content if not c["template"]
                        and last(c["variables"], "type") == "endpoint"
                        and any(row["object_name"] in v.split(",")
                                for k, v in c["variables"] if k in ("auth", "outbound_auth"))]


def test_a_file_that_goes_takes_its_auths() -> None:
    asterisk = AsteriskConfig()
    state = run([read(asterisk, "pjsip.conf")])
    asterisk.files["pjsip.conf"] = [Category("t", [Variable("type", "transport")])]
    run([read(asterisk, "pjsip.conf")], state)
    assert config.auth_rows(state, 0) == []
    del asterisk.files["pjsip.conf"]
    run([read(asterisk, "pjsip.conf")], state)
    assert config.auth_rows(state, 0) == []


# ------------------------------------------------------------------------------ end to end


def result(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json().get("result")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Live, httpx.Client, dict[str, str]]]:
    """The test server (the captured PBX's files), access control on: an admin client and a
    viewer's headers."""
    config = {"auth": {"initial_admin": ADMIN[0], "initial_password": ADMIN[1]}}
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None], config=config) as running, \
            httpx.Client(base_url=running.url, timeout=20) as client:
        assert running.call(startup(running.engine, "127.0.0.1")) is None  # type: ignore
        running.connected()
        for _ in range(200):
            running.settled()
            if running.run(lambda: running.app.state.ctx.snapshot("pjsip-auths")[1]):
                break
        client.headers["Authorization"] = "Bearer " + result(
            client.post("/admin/login", auth=ADMIN))["authtoken"]
        assert client.post("/admin/users", json={
            "name": "val", "password": "val-password", "role": "operator"}).status_code == 200
        viewer = {"Authorization": "Bearer " + result(client.post(
            "/admin/login", auth=("val", "val-password"), headers={"Authorization": ""}))[
            "authtoken"]}
        yield running, client, viewer


def test_auths_with_their_secrets_for_admins_only(
        live: tuple[Live, httpx.Client, dict[str, str]]) -> None:
    _, client, below = live
    rows = result(client.get("/pjsip/auths"))["list"]
    assert [{k: v for k, v in r.items() if k not in ("server", "tm_update")}
            for r in rows] == [PHONE, TRUNK]
    assert result(client.get("/pjsip/auths/trunk-auth"))["md5_cred"] == TRUNK["md5_cred"]
    for path in ("/pjsip/auths", "/admin/pjsip/auths", "/admin/pjsip/auth",
                 "/v1/admin/pjsip/auth"):
        shown = result(client.get(path, headers=below))["list"]
        assert [(r["object_name"], r["password"], r["md5_cred"], r["username"])
                for r in shown] == [("6001-auth", "(redacted)", "(redacted)", "6001"),
                                    ("trunk-auth", "(redacted)", "(redacted)", "switchboard")]
    for path in ("/pjsip/auths/6001-auth", "/admin/pjsip/auth/6001-auth",
                 "/v1/admin/pjsip/auths/6001-auth"):
        one = result(client.get(path, headers=below))
        assert (one["endpoint_name"], one["password"]) == ("6001", "(redacted)")
    assert result(client.get("/admin/pjsip/auths/6001-auth"))["password"] == "s3cret-6001"
    missing = client.get("/pjsip/auths/nobody")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == (
        "no auth 'nobody'")
    assert client.get("/pjsip/auths", params={"server": "pbx9"}).json()["result"] == {
        "list": []}
    assert client.get("/pjsip/auths", params={"realm": "x"}).status_code == 400
    assert client.get("/views/pjsip-auths", headers=below).status_code == 403
    assert client.get("/pjsip/auths", headers={"Authorization": ""}).status_code == 401


def test_an_auth_added_outside_shows_after_the_reload(
        live: tuple[Live, httpx.Client, dict[str, str]]) -> None:
    """An administrator's UpdateConfig on another AMI session, then `Reload: res_pjsip`: the
    engine reads pjsip.conf again; the new auth is listed and announced (`pjsip.auth.create`
    on `/pjsip/auths/<name>`, its secret redacted)."""
    running, client, below = live

    async def administrator() -> None:
        assert running.asterisks
        other = AmiClient(ServerConfig(name="admin", port=running.asterisks[0].port,
                                       username="admin", secret="admin"),
                          on_messages=lambda s, m: None)
        task = asyncio.create_task(other.run())
        while not other.connected:
            await asyncio.sleep(0.01)
        await other.action({
            "Action": "UpdateConfig", "SrcFilename": "pjsip.conf", "DstFilename": "pjsip.conf",
            "Reload": "res_pjsip", "Action-000000": "NewCat", "Cat-000000": "6002-auth",
            "Action-000001": "Append", "Cat-000001": "6002-auth", "Var-000001": "type",
            "Value-000001": "auth", "Action-000002": "Append", "Cat-000002": "6002-auth",
            "Var-000002": "username", "Value-000002": "6002", "Action-000003": "Append",
            "Cat-000003": "6002-auth", "Var-000003": "password",
            "Value-000003": "s3cret-6002"})
        other.stop()
        await task

    running.call(administrator())
    for _ in range(200):
        running.settled()
        if client.get("/pjsip/auths/6002-auth").status_code == 200:
            break
    added = result(client.get("/pjsip/auths/6002-auth"))
    assert (added["username"], added["password"], added["endpoint_name"]) == (
        "6002", "s3cret-6002", "")
    lines = []
    with client.stream("GET", "/events", params={"topic": "/pjsip/auths/", "from": "0"},
                       headers=below) as response:
        for line in response.iter_lines():
            lines.append(line)
            if "6002-auth" in line or line.startswith(": keepalive"):
                break
    messages = [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: ")]
    created = [m["pjsip.auth.create"] for m in messages if "pjsip.auth.create" in m]
    assert [m["object_name"] for m in created] == ["6001-auth", "trunk-auth", "6002-auth"]
    assert {m["password"] for m in created} == {"(redacted)"}
    assert messages[-1]["topic"] == "/pjsip/auths/6002-auth"
    assert "s3cret" not in "".join(lines)
