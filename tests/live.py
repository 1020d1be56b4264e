"""A running Switchboard for end-to-end tests: fake Asterisks, the engine, uvicorn on a real port.

Everything runs on one event loop in a background thread, as `switchboard run` does; the test
talks to it over HTTP/WebSocket like any client and reaches into the loop (`call`) only to drive
the fake Asterisks (pause, continue, drop).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from api.app import create_app
from engine.ami.testserver import AmiTestServer, replayed_lines
from engine.config import parse
from engine.runtime import Engine

T = TypeVar("T")


class Live:
    def __init__(self, store_url: str, captures: Sequence[Path | None] = (), *,
                 config: dict[str, Any] | None = None, pause_after: int | None = None,
                 speed: float = 0.0, asterisk: type[AmiTestServer] = AmiTestServer,
                 dialer: bool = False) -> None:
        self.store_url = store_url
        self.captures = list(captures)
        self.extra = config or {}
        self.pause_after = pause_after
        self.speed = speed
        self.asterisk_type = asterisk
        self.dialer = dialer  # the outbound dialer and its /ob routes
        self.asterisks: list[AmiTestServer] = []
        self.engine: Engine | None = None
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="live-api",
                                        daemon=True)
        self._server: uvicorn.Server | None = None
        self.app: Any = None
        self._serving: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> Live:
        self._thread.start()
        self.call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

    def call(self, coro: Awaitable[T], timeout: float = 30) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore
        return future.result(timeout)

    def run(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()
        return self.call(wrapped())

    async def _start(self) -> None:
        servers = []
        for i, capture in enumerate(self.captures):
            asterisk = self.asterisk_type(capture=capture, pause_after=self.pause_after,
                                          speed=self.speed)
            await asterisk.start()
            self.asterisks.append(asterisk)
            servers.append({"name": f"pbx{i + 1}", "port": asterisk.port, "username": "admin",
                            "secret": "admin", "ping_interval": 5.0})
        config = parse({"store": self.store_url, "servers": servers, **self.extra})
        self.engine = Engine(config, dialer=self.dialer)
        await self.engine.start()
        app = self.app = create_app(self.engine)
        self._server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
        self._serving = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self.app is not None:
            self.app.state.ctx.close()
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._serving is not None:
            await self._serving
        if self.engine is not None:
            await self.engine.stop()
        for asterisk in self.asterisks:
            await asterisk.close()
        # streams still open when the server stopped (a client that never left)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def connected(self, timeout: float = 10) -> None:
        """Wait until every fake Asterisk has a logged-in session."""
        async def wait() -> None:
            assert self.engine is not None
            while not all(c.connected for c in self.engine.clients):
                await asyncio.sleep(0.01)
        self.call(asyncio.wait_for(wait(), timeout))

    def settled(self, timeout: float = 10) -> int:
        """Wait until the read models have applied everything in the log; its position."""
        async def wait() -> int:
            assert self.engine is not None
            quiet = 0
            while quiet < 5:
                await self.engine.log.flush()
                last = self.engine.store.last_position()
                if self.engine.projector.position >= last:
                    quiet += 1
                else:
                    quiet = 0
                await asyncio.sleep(0.02)
            return last
        return self.call(asyncio.wait_for(wait(), timeout))


@contextlib.contextmanager
def paused_live(tmp_path: Path, captures: Sequence[Path]) -> Iterator[Live]:
    """A Live on an SQLite log in `tmp_path` whose fake Asterisks are logged in with their
    replay paused before its first message (`continue_replay()` makes the calls happen), and
    whose read models hold everything logged so far."""
    with Live(f"sqlite:///{tmp_path / 'log.db'}", captures, pause_after=0) as live:
        live.connected()
        live.settled()
        yield live


def replayed_before(path: Path, line: int) -> int:
    """How many messages the fake Asterisk replays before capture line `line`."""
    return bisect.bisect_left(replayed_lines(path), line)
