"""`api.max_body`: a request body larger than this is answered 413 before it is read.

A declared `Content-Length` over the limit is refused at once, without reading a byte of the
body; a body without one (chunked) is counted as it arrives and refused as soon as it passes the
limit, so at most `max_body` bytes of it are ever held in memory. Either way the handler never
sees it, so nothing of it reaches the log.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.envelope import ApiError, error
from api.errors import HttpMiddleware

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: the largest body an endpoint takes is a few kB


class BodyLimit(HttpMiddleware):
    def __init__(self, app: ASGIApp, max_body: int = DEFAULT_MAX_BODY) -> None:
        super().__init__(app)
        self.max_body = max_body

    def too_large(self) -> ApiError:
        return ApiError(413, f"request body larger than api.max_body ({self.max_body} bytes)")

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _content_length(scope)
        if declared == -1:
            await error(400, "Content-Length is not a number")(scope, receive, send)
            return
        if declared is not None and declared > self.max_body:
            exc = self.too_large()
            await error(exc.status, exc.message, {"Connection": "close"})(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise self.too_large()  # answered by the app's ApiError handler
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent, -1 when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 20 else -1
    return None
