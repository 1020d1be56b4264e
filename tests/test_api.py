"""The REST API end to end: every capture fed by its own fake Asterisk into one engine, uvicorn on
a real port, httpx as the client.

Reads must equal what `switchboard export` writes for the same log; the envelope, errors, CORS
and the `/v1` prefix must follow the seed.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route

from api.errors import HANDLERS, CatchAll
from replay.export import coerce, declared_columns, export_view
from tests.captures import CAPTURE_FILES
from tests.live import Live

VIEWS = {
    "/core/channels": "channels", "/core/systems": "systems", "/core/bridges": "bridges",
    "/calls": "calls", "/queue/queues": "queues", "/queue/members": "queue-members",
    "/queue/entries": "queue-entries", "/queue/statuses": "queue-statuses",
    "/park/parkinglots": "parking-lots", "/park/parkedcalls": "parked-calls",
    "/device_states": "device-states", "/peers": "peers", "/registries": "registries",
    "/agents": "agents", "/pjsip/endpoints": "endpoints", "/pjsip/contacts": "contacts",
    "/pjsip/aors": "aors", "/commands": "commands",
}
VOLATILE = {"duration", "wait", "wait_time", "talk_time", "parking_duration", "parking_timeout"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    path = tmp_path_factory.mktemp("api") / "log.db"
    with Live(f"sqlite:///{path}", CAPTURE_FILES, pause_after=None) as running:
        running.connected()
        running.settled()
        yield running


@pytest.fixture(scope="module")
def client(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=10) as c:
        yield c


def stable(rows: list[dict], view: str) -> list[dict]:
    columns = declared_columns(view)
    out = []
    for row in rows:
        fixed = coerce(row, columns) if columns else dict(row)
        out.append({k: v for k, v in fixed.items() if k not in VOLATILE})
    return out


def exported(live: Live, view: str) -> list[dict]:
    buffer = io.BytesIO()
    assert live.engine is not None
    export_view(live.engine.store, view, "jsonl", buffer)
    return [msgspec.json.decode(line) for line in buffer.getvalue().splitlines()]


def test_every_read_endpoint_serves_what_export_writes(live: Live, client: httpx.Client) -> None:
    seen = set()
    for path, view in VIEWS.items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert body["api_ver"] == "0.1" and body["statuscode"] == 200
        assert TIMESTAMP.match(body["timestamp"]), body["timestamp"]
        position = int(response.headers["x-switchboard-position"])
        assert position == live.engine.store.last_position()  # type: ignore[union-attr]
        rows = body["result"]["list"]
        assert stable(rows, view) == stable(exported(live, view), view), path
        if rows:
            seen.add(view)
    assert {"systems", "calls", "queues", "parking-lots", "device-states"} <= seen


def test_rows_of_each_server_and_details_by_url_encoded_key(client: httpx.Client) -> None:
    everything = client.get("/device_states").json()["result"]["list"]
    servers = {row["server"] for row in everything}
    assert servers == {f"pbx{i}" for i in range(1, len(CAPTURE_FILES) + 1)}
    one = client.get("/device_states", params={"server": "pbx1"}).json()["result"]["list"]
    assert one and all(row["server"] == "pbx1" for row in one)
    device = next(row for row in one if "/" in row["device"])
    detail = client.get(f"/device_states/{httpx.URL(device['device']).raw_path.decode()}",
                        params={"server": "pbx1"})
    encoded = client.get("/device_states/" + device["device"].replace("/", "%2F"),
                         params={"server": "pbx1"})
    assert encoded.status_code == 200 and encoded.json()["result"] == device
    assert detail.status_code == 200
    queue = client.get("/queue/queues/sales")  # every capture's Asterisk has a queue "sales"
    assert queue.status_code == 400 and "?server=" in queue.json()["error"]["message"]
    sales = client.get("/queue/queues/sales", params={"server": "pbx1"}).json()["result"]
    assert sales["name"] == "sales" and sales["server"] == "pbx1"
    status = client.get("/queue/statuses/sales", params={"server": "pbx1"}).json()["result"]
    assert status["queue"]["name"] == "sales" and isinstance(status["members"], list)


def test_v1_prefix_serves_the_same(client: httpx.Client) -> None:
    bare = client.get("/core/systems").json()["result"]
    v1 = client.get("/v1/core/systems").json()["result"]
    assert bare == v1
    assert client.get("/v1/health").json() == {"ok": True}


def test_errors_are_enveloped_4xx(client: httpx.Client) -> None:
    def error(response: httpx.Response, status: int) -> str:
        assert response.status_code == status, response.text
        body = response.json()
        assert body["statuscode"] == status and body["error"]["code"] == status
        assert "result" not in body
        return body["error"]["message"]

    assert "no such path" in error(client.get("/no/such/thing"), 404)
    assert "not allowed" in error(client.put("/core/channels"), 405)
    assert "no channel" in error(client.get("/core/channels/nope"), 404)
    assert "not valid JSON" in error(client.post("/core/channels?server=pbx1",
                                                 content=b"{nope"), 400)
    assert error(client.post("/core/channels?server=pbx1", json={"x": 1}), 400) == (
        "x: unknown field")
    assert "several servers" in error(client.post("/core/channels", json={
        "channel": "Local/1@x", "context": "c", "exten": "1"}), 400)
    assert "line breaks" in error(client.post("/core/channels?server=pbx1", json={
        "channel": "Local/1@x\r\nAction: Logoff", "context": "c", "exten": "1"}), 400)
    assert "not a message id" in error(client.get("/events", params={"from": "x"}), 400)


def test_options_and_cors_headers_follow_the_seed(client: httpx.Client) -> None:
    response = client.options("/core/channels/anything")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "DELETE" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-max-age"] == "86400"
    assert client.get("/calls").headers["access-control-allow-origin"] == "*"


def test_an_unexpected_failure_is_a_logged_500_in_the_envelope(
        caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: Request) -> None:
        raise ZeroDivisionError("bug")

    app = Starlette(routes=[Route("/broken", broken)], exception_handlers=HANDLERS,
                    middleware=[Middleware(CatchAll)])
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as test:
            return await test.get("/broken")

    response = asyncio.run(call())
    assert response.status_code == 500
    assert response.json()["error"] == {"code": 500, "message": "internal error (logged)"}
    assert "ZeroDivisionError" in caplog.text


def test_openapi_describes_every_route(client: httpx.Client, live: Live) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in VIEWS:
        assert "get" in paths[path]
    assert {"post", "get"} <= set(paths["/core/channels"])
    assert {"get", "delete"} <= set(paths["/core/channels/{unique_id}"])
    assert {"get", "put", "delete"} <= set(paths["/queue/members/{member}"])
    assert {"post", "delete"} <= set(paths["/admin/login"])
    assert "/events" in paths and "/ws" in paths
    hangup = paths["/core/channels/{unique_id}"]["delete"]
    assert hangup["x-role"] == "operator" and "404" in hangup["responses"]
    names = {p["name"] for p in hangup["parameters"]}
    assert {"unique_id", "cause", "server"} <= names
    assert Path  # the module's imports are used
