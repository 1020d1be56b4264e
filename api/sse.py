"""`GET /events`: the change messages as Server-Sent Events.

    GET /events?topic=/queue/&topic=/core/channels/&server=pbx1
    Last-Event-ID: 1234            (or ?from=1234)

Each message is one SSE event: `id` its id (the log position of the event that caused it,
`<position>:<n>` when one event caused several), `event` its name (`queue.member.update`), `data`
the JSON a WebSocket client with `?meta=1` receives (the seed's message, its topic and id).
Topics are prefixes (default `/`, everything). Reconnecting with the last id received
(EventSource does it by itself) resumes exactly after it, however old. Without an id the stream
starts now; an id that is malformed or past the end of the log is a 400 (`api/streams.py`).

A client that falls `api.client_lag` messages behind gets `event: dropped` and the stream ends;
one that stops reading is cut after `api.send_timeout`. Either way it reconnects with its last id
and misses nothing. A stream whose token is revoked or expires, or whose user is deleted or may
no longer read, gets `event: revoked` (`api/grants.py`), one the server stops `event: closing`;
each with `data: {"reason": "..."}`. The response is a plain ASGI stream of pre-encoded bytes
(design.md: faster than sse-starlette), with the batches of messages ready at once written
together.
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
from starlette.requests import HTTPConnection, Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import BEARER
from api.context import ApiContext
from api.cors import HEADERS as CORS
from api.envelope import ApiError, error
from api.hub import BATCH, Closing, Dropped, Revoked, Subscription
from api.routing import SERVER_PARAM, ApiRoute, Operation
from api.streams import FROM, LAST_ID, TOPIC, subscribe, topic_prefixes
from engine.auth import Principal

_encoder = msgspec.json.Encoder()
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
    *((name.lower().encode(), value.encode()) for name, value in CORS.items()),
]

class EventStream:
    """The SSE response: an ASGI app writing the subscription's messages until the client
    goes, is dropped, or stops reading for `send_timeout` seconds."""

    def __init__(self, subscription: Subscription, keepalive: float) -> None:
        self.subscription = subscription
        self.keepalive = keepalive
        self._gone = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self._gone = True
            task.cancel()

        watcher = asyncio.create_task(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            await self._stream(send)
        except asyncio.CancelledError:
            if not self._gone:
                raise
            task.uncancel()  # the client left: a normal end
        finally:
            self.subscription.close()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _stream(self, send: Send) -> None:
        if not await self._write(send, b"retry: 1000\n: connected\n\n"):
            return
        while True:
            try:
                batch = await self.subscription.next(self.keepalive)
            except Dropped as exc:
                name = ("closing" if isinstance(exc, Closing)
                        else "revoked" if isinstance(exc, Revoked) else "dropped")
                data = _encoder.encode({"reason": str(exc)})
                note = b"event: %s\ndata: %s\n\n" % (name.encode(), data)
                if await self._write(send, note):
                    await self._write(send, b"", more=False)
                return
            chunk = self.subscription.sse(batch) if batch else b": keepalive\n\n"
            if not await self._write(send, chunk):
                return  # not reading: the server closes the connection
            if len(batch) >= BATCH:
                await asyncio.sleep(0)  # a client catching up must not hold the loop

    async def _write(self, send: Send, body: bytes, more: bool = True) -> bool:
        """False when the client took more than `api.send_timeout` to take it (the hub's
        watchdog cut it)."""
        return await self.subscription.write(
            send({"type": "http.response.body", "body": body, "more_body": more}))


async def _subscribe(ctx: ApiContext, conn: HTTPConnection, principal: Principal
                     ) -> Subscription:
    """`Last-Event-ID` wins over `?from=`: EventSource sends it when it reconnects to the
    same URL, whose `from` is where the client first started."""
    resume = conn.headers.get("last-event-id") or conn.query_params.get("from")
    return await subscribe(ctx, conn, principal, resume,
                           topic_prefixes(conn.query_params.getlist("topic")),
                           conn.query_params.get("server"))


def direct(ctx: ApiContext) -> ASGIApp:
    """`GET /events` as a bare ASGI app, for `api/app.py` to call ahead of the middleware stack.

    Measured with 200 clients: each write through the stack passes five `send` wrappers (error
    handling, CORS, exception middleware), a third of the event loop's time at 2,000 events/s.
    The stream needs none of them: it checks access, answers its own errors in the envelope and
    sends the CORS headers itself."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        conn = HTTPConnection(scope)
        principal, reason, status = ctx.access.check(conn, "viewer")
        if principal is None:
            headers = {**CORS, **(BEARER if status == 401 else {})}
            await error(status, reason, headers)(scope, receive, send)
            return
        try:
            subscription = await _subscribe(ctx, conn, principal)
        except ApiError as exc:
            await error(exc.status, exc.message, CORS)(scope, receive, send)
            return
        stream = EventStream(subscription, ctx.settings.keepalive)
        await stream(scope, receive, send)

    return app


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def events(request: Request) -> EventStream:  # type: ignore[return]
        subscription = await _subscribe(ctx, request, request.state.principal)
        return EventStream(subscription, ctx.settings.keepalive)

    return [ApiRoute("/events", events, Operation(  # type: ignore[arg-type]
        "GET", "Change messages as Server-Sent Events (resumable by id)", "streams",
        params=(TOPIC, SERVER_PARAM, FROM, LAST_ID), media="text/event-stream",
        description="See the README's topic table for event names and topics."), ctx.access)]
