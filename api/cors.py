"""CORS as the seed's server answers it (seed 1.3): any origin, and `OPTIONS` on any path is
200 with the CORS headers and an empty envelope, so a browser's preflight never fails."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from api.envelope import ok
from api.errors import HttpMiddleware

HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "x-requested-with, content-type, accept, origin, "
                                    "authorization, last-event-id, x-correlation-id",
    "Access-Control-Expose-Headers": "x-switchboard-position, x-switchboard-command",
    "Access-Control-Max-Age": "86400",
}


class Cors(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "OPTIONS":
            await ok(headers=HEADERS)(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_cors)
