"""Every failure answered in the seed's envelope: never a bare 500, never an HTML page.

- `ApiError` (raised by handlers and access control): its status and message;
- Starlette's `HTTPException`: 404 for an unknown path, 405 for a known path with another
  method (with `Allow`);
- anything else: 500 `internal error`, with the traceback in the log (`CatchAll`, a plain
  ASGI middleware, so streams pass through untouched; Starlette's own 500 handler would
  re-raise after answering).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.envelope import ApiError, error
from engine.envelope import EnvelopeError

log = logging.getLogger("switchboard.api")


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error(exc.status, exc.message, exc.headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: f"no such path: {request.url.path}",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(
        exc.status_code, exc.detail)
    return error(exc.status_code, message, dict(exc.headers) if exc.headers else None)


async def envelope_error(request: Request, exc: Exception) -> Response:
    """An event the log refused (`engine.envelope.EnvelopeError`): what the request asked to
    store is not storable, so it is the request's fault, and nothing of it was stored."""
    return error(400, f"not stored: {exc}")


HANDLERS = {ApiError: api_error, HTTPException: http_error, EnvelopeError: envelope_error}


class HttpMiddleware:
    """A plain ASGI middleware that acts on HTTP requests (`http`); WebSocket and lifespan
    scopes go straight through to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class CatchAll(HttpMiddleware):
    """The last line: an exception no handler took becomes a logged 500 in the envelope."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise  # the answer is on its way: the server closes the connection
            await error(500, "internal error (logged)")(scope, receive, send)
