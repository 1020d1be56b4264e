"""The seed's V1 paths (`/v1/admin/core/channels`, ...) over HTTP: each answers as the V2 route
it is another form of (`api/v1.py`): same rows, same errors, same commands in the log, same
roles; the OpenAPI document refers each V1 path to its V2 one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from api import v1
from api.app import startup
from api.envelope import ok
from api.routing import ApiRoute, Operation
from engine.commands import FAILED, REQUESTED, SENT
from tests.conftest import CAPTURES
from tests.live import Live, replayed_before

CONTROL = CAPTURES / "control-actions.jsonl"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    path = tmp_path_factory.mktemp("v1") / "log.db"
    # two channels live (one parked), the lots and queues listed
    with Live(f"sqlite:///{path}", [CONTROL], pause_after=replayed_before(CONTROL, 55)) \
            as running:
        running.connected()
        running.settled()
        yield running


@pytest.fixture(scope="module")
def client(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=10) as c:
        yield c


def aliases(live: Live) -> list[ApiRoute]:
    routes = live.app.app.routes  # Front -> the Starlette app
    return [r for r in routes if isinstance(r, ApiRoute) and r.alias_of is not None]


def same(first: httpx.Response, second: httpx.Response) -> None:
    """Two answers alike but for the envelope's timestamp."""
    assert first.status_code == second.status_code, (first.url, first.text)
    a, b = first.json(), second.json()
    a.pop("timestamp"), b.pop("timestamp")
    assert a == b


KEYS = {"/core/channels": "unique_id", "/core/systems": "id", "/park/parkinglots": "name",
        "/queue/queues": "name"}


def test_every_v1_path_answers_as_its_v2_path(live: Live, client: httpx.Client) -> None:
    served = {(r.path, r.operation.method) for r in aliases(live)}
    details = 0
    for v1_path, v2_path in (("/admin/core/channels", "/core/channels"),
                             ("/admin/core/systems", "/core/systems"),
                             ("/admin/park/parkedcalls", "/park/parkedcalls"),
                             ("/admin/park/parkinglots", "/park/parkinglots"),
                             ("/admin/pjsip/aors", "/pjsip/aors"),
                             ("/admin/pjsip/contacts", "/pjsip/contacts"),
                             ("/admin/pjsip/endpoints", "/pjsip/endpoints"),
                             ("/admin/queue/entries", "/queue/entries"),
                             ("/admin/queue/members", "/queue/members"),
                             ("/admin/queue/queues", "/queue/queues")):
        assert (v1_path, "GET") in served
        assert any(p.startswith(v1_path + "/{") and m == "GET" for p, m in served), v1_path
        v2 = client.get(v2_path)
        rows = v2.json()["result"]["list"]
        for prefix in ("", "/v1"):  # the seed writes /v1/admin/...
            same(client.get(prefix + v1_path), v2)
            same(client.get(f"{prefix}{v1_path}/no-such-thing"),
                 client.get(f"{v2_path}/no-such-thing"))
        key = KEYS.get(v2_path)
        if key is not None and rows:
            detail = quote(rows[0][key], safe="")
            answer = client.get(f"/v1{v1_path}/{detail}")
            assert answer.status_code == 200
            same(answer, client.get(f"{v2_path}/{detail}"))
            details += 1
    assert details >= 3
    # the same parameters, checked the same way
    refused = client.get("/v1/admin/core/channels", params={"sever": "pbx1"})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "unknown query parameter 'sever'; accepted: server"
    assert client.get("/v1/admin/core/channels", params={"server": "pbx1"}).status_code == 200


def test_a_v1_write_is_the_v2_command_logged_first(live: Live, client: httpx.Client) -> None:
    """`DELETE /v1/admin/core/channels/<detail>` hangs up through the log, as the V2 path:
    here a channel Asterisk does not know (its recorded refusal), so the command fails 404."""
    response = client.delete("/v1/admin/core/channels/" + quote(
        "Local/does-not-exist-00000000;1", safe=""))
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No such channel"
    cid = response.headers["x-switchboard-command"]
    assert live.engine is not None
    stream = live.engine.store.read_stream(f"command/{cid}")
    assert [e.type for e in stream] == [REQUESTED, SENT, FAILED]
    assert stream[0].data["action"]["Action"] == "Hangup"
    assert client.get(f"/v1/commands/{cid}").json()["result"]["state"] == "failed"
    assert client.post("/v1/admin/core/systems").status_code == 405  # what V2 does not serve


def test_the_openapi_document_refers_each_v1_path_to_its_v2_one(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for v1_path, v2_path in (("/admin/core/channels", "/core/channels"),
                             ("/admin/core/channels/{unique_id}", "/core/channels/{unique_id}"),
                             ("/admin/pjsip/contacts/{id}", "/pjsip/contacts/{id}")):
        item = paths[v1_path]
        pointer = item["$ref"].removeprefix("#/paths/")
        assert pointer == quote(v2_path.replace("/", "~1"))
        assert v2_path in paths and "get" in paths[v2_path]
        assert set(item) == {"$ref", "summary"}


def test_v1_paths_need_the_roles_of_their_v2_paths(tmp_path: Path) -> None:
    config = {"auth": {"initial_admin": "root", "initial_password": "root-secret"}}
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [], config=config) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        assert live.call(startup(live.engine, "127.0.0.1")) is None  # type: ignore[arg-type]
        root = client.post("/admin/login", auth=("root", "root-secret")).json()
        admin = {"Authorization": f"Bearer {root['result']['authtoken']}"}
        created = client.post("/admin/users", headers=admin,
                              json={"name": "val", "password": "val-secret-1", "role": "viewer"})
        assert created.status_code == 200, created.text
        token = client.post("/admin/login", auth=("val", "val-secret-1")).json()
        viewer = {"Authorization": f"Bearer {token['result']['authtoken']}"}
        assert client.get("/v1/admin/core/channels").status_code == 401
        assert client.get("/v1/admin/core/channels", headers=viewer).status_code == 200
        refused = client.delete("/v1/admin/core/channels/x", headers=viewer)
        assert refused.status_code == 403


def _route(path: str, method: str = "GET") -> ApiRoute:
    async def handler(request: Request) -> Response:
        return ok({})

    return ApiRoute(path, handler, Operation(method, "a route", "test", role=None), None)


def test_a_resource_added_later_gets_its_v1_form_from_its_line() -> None:
    """`/dp/dialplans` has its line already: once its routes exist, so do its V1 ones; a
    route below a detail (`.../redirect`) is not a seed V1 path."""
    served = [_route("/dp/dialplans"), _route("/dp/dialplans", "POST"),
              _route("/dp/dialplans/{detail}", "PUT"), _route("/dp/dialplansx"),
              _route("/core/channels/{unique_id}/redirect", "POST"),
              _route("/pjsip/auths/{name:path}")]
    made = v1.routes(served)
    assert [(r.path, r.operation.method, r.alias_of) for r in made] == [
        ("/admin/dialplan/adps", "GET", "/dp/dialplans"),
        ("/admin/dialplan/adps", "POST", "/dp/dialplans"),
        ("/admin/dialplan/adps/{detail}", "PUT", "/dp/dialplans/{detail}"),
        ("/admin/pjsip/auths/{name:path}", "GET", "/pjsip/auths/{name:path}"),
        ("/admin/pjsip/auth/{name:path}", "GET", "/pjsip/auths/{name:path}"),
    ]
    assert all(r.operation is s.operation and r.handler is s.handler
               for r, s in zip(made, [served[0], served[1], served[2], served[5], served[5]],
                               strict=True))
