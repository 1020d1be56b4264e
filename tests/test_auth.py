"""Access control: users and tokens in the log, hashed; roles; refusals logged; loopback only
without it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from api.app import startup
from engine.auth import ACCESS_DENIED, USER_CREATED, hash_password, token_hash, verify_password
from engine.store import open_store
from projections import users
from projections.runner import replay
from tests.live import Live

SWITCHBOARD = [sys.executable, "-m", "engine.cli"]


def test_passwords_are_salted_scrypt_and_checked_in_constant_form() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$") and "correct" not in first
    assert verify_password("correct horse", first)
    assert not verify_password("correct hors", first)
    assert not verify_password("x", "garbage")
    assert len(token_hash("t")) == 64


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Live, httpx.Client]]:
    config = {"auth": {"initial_admin": "root", "initial_password": "root-secret",
                       "token_ttl": 4.0, "denial_window": 0.5}}
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [], config=config) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        assert live.call(startup(live.engine, "0.0.0.0")) is None  # type: ignore[arg-type]
        yield live, client


def login(client: httpx.Client, name: str, password: str) -> str:
    response = client.post("/admin/login", auth=(name, password))
    assert response.status_code == 200, response.text
    return response.json()["result"]["authtoken"]


def test_roles_tokens_and_refusals(secured: tuple[Live, httpx.Client]) -> None:
    live, client = secured
    assert client.get("/core/channels").status_code == 401
    assert client.post("/admin/login", auth=("root", "wrong")).status_code == 401
    root = login(client, "root", "root-secret")
    expires = time.monotonic() + 4.0
    admin = {"Authorization": f"Bearer {root}"}
    assert client.get("/core/channels", params={"authtoken": root}).status_code == 200
    for name, role in (("val", "viewer"), ("otto", "operator")):
        made = client.post("/admin/users", headers=admin,
                           json={"name": name, "password": f"{name}-password", "role": role})
        assert made.status_code == 200, made.text
        assert made.json()["result"] == {**made.json()["result"], "name": name, "role": role}
    assert client.post("/admin/users", headers=admin, json={
        "name": "val", "password": "whatever1", "role": "viewer"}).status_code == 409
    assert client.post("/admin/users", headers=admin, json={
        "name": "bad", "password": "short", "role": "viewer"}).status_code == 400
    viewer = {"Authorization": f"Bearer {login(client, 'val', 'val-password')}"}
    operator = {"Authorization": f"Bearer {login(client, 'otto', 'otto-password')}"}
    assert client.get("/queue/queues", headers=viewer).status_code == 200
    refused_stream = client.get("/events")
    assert refused_stream.status_code == 401
    assert refused_stream.json()["error"]["message"] == "authtoken required"
    with client.stream("GET", "/events", headers=viewer) as stream:
        assert stream.status_code == 200
        assert next(stream.iter_lines()) == "retry: 1000"
    refused = client.delete("/core/channels/x", headers=viewer)
    assert refused.status_code == 403 and "needs operator" in refused.json()["error"]["message"]
    assert client.get("/admin/users", headers=viewer).status_code == 403
    assert client.delete("/core/channels/x", headers=operator).status_code != 403
    listed = client.get("/admin/users", headers=admin).json()["result"]["list"]
    assert [u["name"] for u in listed] == ["otto", "root", "val"]
    tokens = client.get("/admin/tokens", headers=admin).json()["result"]["list"]
    assert len(tokens) == 3 and all(len(t["id"]) == 16 for t in tokens)

    # log out, revoke, delete: each token stops working at once
    assert client.delete("/admin/login", headers=viewer).status_code == 200
    assert client.get("/queue/queues", headers=viewer).status_code == 401
    otto = next(t for t in tokens if t["user"] == "otto")
    assert client.delete(f"/admin/tokens/{otto['id']}", headers=admin).status_code == 200
    assert client.get("/calls", headers=operator).status_code == 401
    again = {"Authorization": f"Bearer {login(client, 'otto', 'otto-password')}"}
    assert client.put("/admin/users/otto", headers=admin, json={"role": "viewer"}).json()[
        "result"]["role"] == "viewer"
    assert client.delete("/core/channels/x", headers=again).status_code == 403
    assert client.delete("/admin/users/otto", headers=admin).status_code == 200
    assert client.get("/calls", headers=again).status_code == 401

    time.sleep(max(0.0, expires - time.monotonic() + 0.1))  # token_ttl
    assert client.get("/calls", headers=admin).status_code == 401

    time.sleep(0.6)  # auth.denial_window: the refusals counted are logged
    store = live.engine.store  # type: ignore[union-attr]
    events = list(store.iter_all())
    denied = [e.data for e in events if e.type == ACCESS_DENIED]
    assert sum(d["count"] for d in denied) == 10  # every refusal above, counted
    assert {d["client"] for d in denied} == {"127.0.0.1"}
    first = denied[0]
    assert first["paths"][0] == "/core/channels" and first["methods"][0] == "GET"
    assert first["who"][0] == "-" and first["reasons"][0] == "authtoken required"
    assert any("val" in d["who"] and "DELETE" in d["methods"] for d in denied)
    assert any("wrong user name or password" in d["reasons"] for d in denied)
    raw = b"".join(msgspec.json.encode(e) for e in events)
    for secret in (b"root-secret", b"val-password", root.encode()):
        assert secret not in raw, "no secret in the log"
    projector = replay(events, [users])
    for view in ("users", "tokens"):
        shown = msgspec.json.encode(projector.rows(view, time.time() - 100))
        assert b"scrypt" not in shown and token_hash(root).encode() not in shown


def test_without_access_control_run_refuses_a_public_address(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("SWITCHBOARD_STORE", None)
    refused = subprocess.run([*SWITCHBOARD, "run", "--host", "0.0.0.0", "--port", "0"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode == 2
    assert "access control is off" in refused.stderr and "adduser" in refused.stderr

    added = subprocess.run([*SWITCHBOARD, "adduser", "boss", "--role", "admin",
                            "--password-stdin"], cwd=tmp_path, input="boss-password\n",
                           capture_output=True, text=True, timeout=60, env=env)
    assert added.returncode == 0, added.stderr
    again = subprocess.run([*SWITCHBOARD, "adduser", "boss", "--password-stdin"],
                           cwd=tmp_path, input="other-password\n", capture_output=True,
                           text=True, timeout=60, env=env)
    assert again.returncode == 1 and "exists" in again.stderr
    store = open_store(f"sqlite:///{tmp_path / 'switchboard.db'}")
    try:
        (created,) = [e for e in store.iter_all() if e.type == USER_CREATED]
    finally:
        store.close()
    assert created.stream == "user/boss" and created.data["role"] == "admin"
    assert verify_password("boss-password", created.data["password"])


def test_no_secret_leaves_the_server(secured: tuple[Live, httpx.Client]) -> None:
    """Issue 12, item 1: a viewer read every password hash through `/timeline/<username>`.
    Now no answer of any read endpoint, to a viewer or an admin, holds a password hash, a
    token digest or another user's token; users and tokens views are for admins only. (The
    streams carry rows of the catalogue's views only, none of them the users projection's.)"""
    live, client = secured
    root = {"Authorization": f"Bearer {login(client, 'root', 'root-secret')}"}
    for name, role in (("val", "viewer"), ("ada", "admin")):
        assert client.post("/admin/users", headers=root, json={
            "name": name, "password": f"{name}-password", "role": role}).status_code == 200
    val_token = login(client, "val", "val-password")
    viewer = {"Authorization": f"Bearer {val_token}"}
    ada_token = login(client, "ada", "ada-password")
    live.settled()
    events = list(live.engine.store.iter_all())  # type: ignore[union-attr]
    secrets = {e.data["password"] for e in events if "password" in e.data}
    secrets |= {e.data["token_sha256"] for e in events if "token_sha256" in e.data}
    secrets |= {ada_token, "scrypt$"}
    assert len(secrets) >= 6
    token_ids = [r["id"] for r in client.get("/admin/tokens", headers=root).json()["result"][
        "list"]]

    paths = ["/timeline/val", "/timeline/user/val", "/timeline/root", "/timeline/ada",
             *(f"/timeline/token/{i}" for i in token_ids), "/views", "/status",
             "/commands", "/openapi.json"]
    paths += [f"/views/{v['view']}" for v in client.get("/views", headers=root).json()[
        "result"]["list"]]
    seen = []
    for headers in (viewer, root):
        for path in paths:
            for query in ("", "?format=text") if path.startswith("/timeline/") else ("",):
                answer = client.get(path + query, headers=headers)
                assert answer.status_code in (200, 403, 404), (path, answer.text)
                seen.append(answer.content)
    everything = b"\n".join(seen).decode()
    for secret in secrets:
        assert secret not in everything
    assert "(redacted)" in everything  # the timeline did show the user's events
    for view in ("users", "tokens"):
        assert client.get(f"/views/{view}", headers=viewer).status_code == 403
        assert client.get(f"/views/{view}", headers=root).status_code == 200
    timeline = client.get("/timeline/val", headers=viewer).json()["result"]["list"]
    assert [e["type"] for e in timeline][:1] == ["UserCreated"]
    assert timeline[0]["data"]["password"] == "(redacted)"


def test_the_last_admin_cannot_remove_itself(secured: tuple[Live, httpx.Client]) -> None:
    """Item 5: the only admin demoting or deleting itself would leave nobody to manage users."""
    live, client = secured
    root = {"Authorization": f"Bearer {login(client, 'root', 'root-secret')}"}
    before = live.settled()
    demoted = client.put("/admin/users/root", headers=root, json={"role": "operator"})
    assert demoted.status_code == 409
    assert demoted.json()["error"]["message"] == (
        "demoting 'root' would leave no admin: make another user admin first")
    assert client.delete("/admin/users/root", headers=root).status_code == 409
    assert live.settled() == before  # nothing appended
    assert client.post("/admin/users", headers=root, json={
        "name": "ada", "password": "ada-password", "role": "admin"}).status_code == 200
    assert client.put("/admin/users/root", headers=root, json={"role": "viewer"}).status_code \
        == 200
    ada = {"Authorization": f"Bearer {login(client, 'ada', 'ada-password')}"}
    assert client.delete("/admin/users/ada", headers=ada).status_code == 409
    assert client.delete("/admin/users/root", headers=ada).status_code == 200
