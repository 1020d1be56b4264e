"""`GET /views/<view>?at=` and `GET /timeline/<id>` over real HTTP: the routes of `api/views.py`
and `api/timeline.py` mounted in a Starlette app under uvicorn on a free port, over a started
engine (no Asterisk configured) whose log holds the shared captures."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from api import timeline as timeline_api
from api import views as views_api
from api.app import build_context
from api.errors import HANDLERS
from engine.capture import capture_events
from engine.config import Config
from engine.runtime import Engine
from engine.store import open_store
from projections.base import event_time
from projections.runner import Projector
from tests.captures import CAPTURE_FILES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, store URL) of a running API over the captures' log."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    store = open_store(url)
    for path in CAPTURE_FILES:
        store.append(list(capture_events(path, path.stem)))
    store.close()
    port = free_port()
    ready = threading.Event()
    holder: dict = {}

    async def main() -> None:
        engine = Engine(Config(store=url))
        await engine.start()
        ctx = build_context(engine)
        app = Starlette(routes=[*views_api.routes(ctx), *timeline_api.routes(ctx)],
                        exception_handlers=HANDLERS)  # type: ignore[arg-type]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        holder["server"] = server
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        while engine.projector.position < engine.store.last_position():
            await asyncio.sleep(0.01)
        ready.set()
        await task
        await engine.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(20)
    yield f"http://127.0.0.1:{port}", url
    holder["server"].should_exit = True
    thread.join(20)


def test_views_now_and_at_a_past_moment(server: tuple[str, str]) -> None:
    base, url = server
    with httpx.Client(base_url=base, timeout=10) as client:
        listed = client.get("/views").json()["result"]["list"]
        assert {"view": "calls", "projection": "calls"}.items() <= listed[
            [v["view"] for v in listed].index("calls")].items()
        now = client.get("/views/calls").json()
        assert now["statuscode"] == 200 and len(now["result"]["list"]) == 14
        past = client.get("/views/channels", params={"at": "420"})
        body = past.json()
        assert past.status_code == 200 and past.headers["X-Switchboard-Position"] == "420"
        store = open_store(url)
        replayed = Projector(store, persist=False)
        replayed.catch_up(420)
        moment = event_time(store.read(419, 1)[0])
        store.close()
        assert body["result"]["position"] == 420
        assert body["result"]["list"] == replayed.rows("channels", moment)
        one = client.get("/views/channels", params={"at": "420", "server": "parking"})
        assert {r["server"] for r in one.json()["result"]["list"]} <= {"parking"}
        by_time = client.get("/views/calls", params={"at": "2026-11-22T15:33:09Z"}).json()
        assert by_time["result"]["position"] < 989
        bad = client.get("/views/calls", params={"at": "soon"})
        assert bad.status_code == 400 and "neither a position" in bad.json()["error"]["message"]
        assert client.get("/views/nope").status_code == 404


def test_timeline_of_a_call(server: tuple[str, str]) -> None:
    base, _ = server
    with httpx.Client(base_url=base, timeout=10) as client:
        answer = client.get("/timeline/1795361615.18")
        body = answer.json()
        assert answer.status_code == 200 and body["api_ver"] == "0.1"
        result = body["result"]
        assert result["calls"] == ["queue-basic/1795361615.18"]
        events = result["list"]
        assert events[0]["offset"] == 0.0 and events[0]["type"] == "Newchannel"
        assert [e["position"] for e in events] == sorted(e["position"] for e in events)
        assert {"Newchannel", "Hangup", "AgentConnect", "BridgeEnter"} <= {
            e["type"] for e in events}
        text = client.get("/timeline/1795361615.18", params={"format": "text"}).json()
        assert text["result"].startswith("timeline of 1795361615.18:")
        missing = client.get("/timeline/no-such-id")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == 404
        started = time.monotonic()
        client.get("/timeline/1795361615.18")
        assert time.monotonic() - started < 2
