"""The dialer tests' shared harness, and a test of the harness itself.

`stack()` runs the whole thing for real, in one process: a simulated PBX on a TCP port
(`engine/ami/simulator.py`), the engine ingesting from it into an SQLite log, the dialer, and
the API served by uvicorn on another port, spoken to over HTTP with httpx. Timings are short
(tens of milliseconds) so a campaign of a few customers runs in well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from engine.ami.simulator import PbxSimulator, Timings
from engine.config import Config, DialerConfig, ServerConfig
from engine.demo import build_app
from engine.dialer.service import Dialer
from engine.envelope import Event
from engine.runtime import Engine
from tests.polling import until

FAST = Timings(ring=0.03, talk=0.1, agent_ring=0.03, agent_talk=0.1, patience=5.0,
               park_timeout=3.0, noanswer=0.1)


def run(coro: Awaitable[Any], timeout: float = 60.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))  # type: ignore[arg-type]


class HttpError(AssertionError):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.request.method} {response.request.url}: "
                         f"{response.status_code} {response.text}")
        self.response = response


@dataclass
class Stack:
    sim: PbxSimulator
    engine: Engine
    dialer: Dialer
    http: httpx.AsyncClient
    base: str
    tmp: Path
    prefix: str = "/ob"
    config: Config = field(default_factory=Config)

    async def call(self, method: str, path: str, body: Any = None,
                   expect: int = 200) -> Any:
        response = await self.http.request(method, self.base + path,
                                           json=body if body is not None else None)
        if response.status_code != expect:
            raise HttpError(response)
        envelope = response.json()
        assert envelope["statuscode"] == expect
        assert envelope["api_ver"] == "0.1"
        return envelope.get("result", envelope.get("error"))

    async def post(self, collection: str, body: Any, expect: int = 200) -> Any:
        return await self.call("POST", f"{self.prefix}/{collection}", body, expect)

    async def get(self, path: str, expect: int = 200) -> Any:
        return await self.call("GET", f"{self.prefix}/{path}", None, expect)

    async def put(self, path: str, body: Any, expect: int = 200) -> Any:
        return await self.call("PUT", f"{self.prefix}/{path}", body, expect)

    async def delete(self, path: str, expect: int = 200) -> Any:
        return await self.call("DELETE", f"{self.prefix}/{path}", None, expect)

    def state(self) -> dict[str, Any]:
        return self.engine.projector.state("dialings")

    async def projected(self) -> dict[str, Any]:
        """The dialer's read model once the engine's projector has applied the whole log (it
        follows the log a moment behind the dialer, which acts first)."""
        last = self.engine.store.last_position()
        await until(lambda: self.engine.projector.position >= last, 10, f"projected {last}")
        return self.state()

    def events(self, *types: str) -> list[Event]:
        out = list(self.engine.store.iter_all())
        return [e for e in out if not types or e.type in types]

    async def campaign(self, *, dest: dict[str, Any], numbers: list[list[str | None]],
                       plan: dict[str, Any] | None = None, start: bool = True,
                       campaign: dict[str, Any] | None = None,
                       dl_extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create plan, destination, dlma, one dl per `numbers` entry, a campaign; start it."""
        plan_obj = await self.post("plans", {"name": "p", "tech_name": "SIP", "dial_mode": 1,
                                             **(plan or {})})
        dest_obj = await self.post("destinations", dest)
        dlma = await self.post("dlmas", {"name": "list"})
        dls = []
        for i, nums in enumerate(numbers):
            body = {"dlma_uuid": dlma["uuid"], "name": f"customer {i}",
                    **{f"number_{n}": v for n, v in enumerate(nums, 1) if v is not None},
                    **(dl_extra or {})}
            dls.append(await self.post("dls", body))
        camp = await self.post("campaigns", {"name": "c", "plan": plan_obj["uuid"],
                                             "dest": dest_obj["uuid"], "dlma": dlma["uuid"],
                                             **(campaign or {})})
        if start:
            camp = await self.put(f"campaigns/{camp['uuid']}", {"status": 1})
        return {"plan": plan_obj, "dest": dest_obj, "dlma": dlma, "dls": dls,
                "campaign": camp}

    def camp_status(self, uuid: str) -> int:
        return self.state()["campaigns"][uuid]["status"]


async def serve_app(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off",
                                           log_level="warning"))
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done(), 10.0, "uvicorn started")
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def stack(tmp_path: Path, *, queues: dict[str, list[str]] | None = None,
                outcome: Any = None, timings: Timings = FAST, prefix: str = "/ob",
                dialer: dict[str, Any] | None = None, store: str | None = None,
                sim: PbxSimulator | None = None) -> AsyncIterator[Stack]:
    own_sim = sim is None
    if sim is None:
        sim = PbxSimulator(queues=queues, outcome=outcome, timings=timings, seed=7)
        await sim.start()
    config = Config(
        store=store or f"sqlite:///{tmp_path / 'log.db'}",
        servers=[ServerConfig(name="pbx", port=sim.port, username="admin", secret="admin",
                              reconnect_max=1.0, ping_interval=5.0)],
        dialer=DialerConfig(results_path=str(tmp_path / "outbound_result.json"),
                            **(dialer or {})),
    )
    engine = Engine(config)
    await engine.start()
    service = Dialer(engine)
    await service.start()
    await until(lambda: engine.clients[0].connected, 10.0, "AMI connected")
    server, task, base = await serve_app(build_app(engine, service))
    http = httpx.AsyncClient(timeout=10.0)
    try:
        yield Stack(sim, engine, service, http, base, tmp_path, prefix, config)
    finally:
        await http.aclose()
        server.should_exit = True
        await task
        await service.stop()
        await engine.stop()
        if own_sim:
            await sim.close()


def test_the_harness_serves_the_api_over_real_sockets(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path) as s:
            assert s.dialer.live
            plan = await s.post("plans", {"name": "x"})
            assert (await s.get(f"plans/{plan['uuid']}"))["name"] == "x"
            response = await s.http.get(s.base + "/status")
            assert response.json()["servers"][0]["state"] == "connected"
            logins = s.sim.logins
        assert logins == 1

    run(main())
