"""Routes that carry their own description: who may call them and what they take and give.

Every endpoint is an `ApiRoute` (or `ApiWebSocketRoute`) built from an `Operation`: its method,
the role it needs, its parameters, body and result. The same metadata does two jobs, so they
cannot drift apart: the route checks the role before the handler runs, and `api/openapi.py`
writes `/openapi.json` from it. One route per method: Starlette tries the next route with the
same path when the method differs, and answers 405 when none takes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

if TYPE_CHECKING:
    from api.auth import Access

Handler = Callable[[Request], Awaitable[Response]]
WsHandler = Callable[[WebSocket], Awaitable[None]]

STRING: dict[str, Any] = {"type": "string"}
INTEGER: dict[str, Any] = {"type": "integer"}


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: dict(STRING))
    required: bool = False
    repeated: bool = False  # a query parameter that may be given several times


@dataclass(frozen=True)
class Operation:
    method: str
    summary: str
    tag: str
    role: str | None = "viewer"  # None: anyone (health, login, the schema itself)
    params: tuple[Param, ...] = ()
    body: type[msgspec.Struct] | None = None
    result: dict[str, Any] | None = None  # JSON schema of the envelope's `result`
    errors: tuple[int, ...] = ()  # 4xx/5xx this operation answers besides auth and 400
    media: str = "application/json"
    description: str = ""
    enveloped: bool = True  # False: `result` is the whole body (status, health, this schema)


SERVER_PARAM = Param("server", "query", "only rows of this Asterisk (several may feed the log)")


class ApiRoute(Route):
    """An HTTP route that checks its operation's role, then runs the thin handler."""

    def __init__(self, path: str, endpoint: Handler, operation: Operation,
                 access: Access | None) -> None:
        self.operation = operation
        role = operation.role

        async def guarded(request: Request) -> Response:
            if role is not None:
                assert access is not None, "a route that needs a role needs access control"
                request.state.principal = await access.require(request, role)
            return await endpoint(request)

        guarded.__name__ = getattr(endpoint, "__name__", "endpoint")
        super().__init__(path, guarded, methods=[operation.method])


class ApiWebSocketRoute(WebSocketRoute):
    """A WebSocket route; the handler checks access itself (it must answer before accept)."""

    def __init__(self, path: str, endpoint: WsHandler, operation: Operation) -> None:
        self.operation = operation
        super().__init__(path, endpoint)


def json_schema(struct: type[msgspec.Struct]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(schema referencing components, components) of a request body type."""
    (schema,), components = msgspec.json.schema_components(
        [struct], ref_template="#/components/schemas/{name}")
    return schema, components
