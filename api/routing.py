"""Routes that carry their own description: who may call them and what they take and give.

Every endpoint is an `ApiRoute` (or `ApiWebSocketRoute`) built from an `Operation`: its method,
the role it needs, its parameters, body and result. The same metadata does three jobs, so they
cannot drift apart: the route checks the role before the handler runs, then the query string
against the declared parameters (`check_query`: an unknown parameter, a repeated one, an integer
that is not one or is out of its range, a value outside its `enum` are a 400 saying what is
accepted; the typed values are in `request.state.params`), and `api/openapi.py` writes
`/openapi.json` from it. One route per method: Starlette tries the next route with the
same path when the method differs, and answers 405 when none takes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from api.envelope import ApiError

if TYPE_CHECKING:
    from api.auth import Access

Handler = Callable[[Request], Awaitable[Response]]
WsHandler = Callable[[WebSocket], Awaitable[None]]

STRING: dict[str, Any] = {"type": "string", "maxLength": 1024}
INTEGER: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": 1_000_000_000}
FLAG: dict[str, Any] = {"type": "integer", "enum": [0, 1]}
# Accepted by every endpoint, never declared: the seed's login token (api/auth.py).
GLOBAL_QUERY = frozenset({"authtoken"})


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
    body: type[msgspec.Struct] | dict[str, Any] | None = None  # a type, or a JSON schema
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
        self.handler, self.access = endpoint, access
        self.alias_of: str | None = None  # the path this one is another form of (api/v1.py)
        role = operation.role

        async def guarded(request: Request) -> Response:
            if role is not None:
                assert access is not None, "a route that needs a role needs access control"
                request.state.principal = await access.require(request, role)
            request.state.params = check_query(operation, request)
            return await endpoint(request)

        guarded.__name__ = getattr(endpoint, "__name__", "endpoint")
        super().__init__(path, guarded, methods=[operation.method])

    def alias(self, path: str) -> ApiRoute:
        """The same operation (handler, role, parameters) served at `path` as well."""
        route = ApiRoute(path, self.handler, self.operation, self.access)
        route.alias_of = self.path
        return route


class ApiWebSocketRoute(WebSocketRoute):
    """A WebSocket route; the handler checks access itself (it must answer before accept)."""

    def __init__(self, path: str, endpoint: WsHandler, operation: Operation) -> None:
        self.operation = operation
        super().__init__(path, endpoint)


def check_query(operation: Operation, conn: HTTPConnection) -> dict[str, Any]:
    """The query string checked against the operation's declared query parameters: the typed
    values by name (a list for a repeated parameter). Raises ApiError 400."""
    declared = {p.name: p for p in operation.params if p.where == "query"}
    query = conn.query_params
    values: dict[str, Any] = {}
    for name in dict.fromkeys(query.keys()):
        if name in GLOBAL_QUERY:
            continue
        param = declared.get(name)
        if param is None:
            accepted = ", ".join(sorted(declared)) or "none"
            raise ApiError(400, f"unknown query parameter {name[:64]!r}; accepted: {accepted}")
        given = query.getlist(name)
        if len(given) > 1 and not param.repeated:
            raise ApiError(400, f"{name}: given {len(given)} times, accepted once")
        parsed = [parse_param(param, text) for text in given]
        values[name] = parsed if param.repeated else parsed[0]
    for param in declared.values():
        if param.required and param.name not in values:
            raise ApiError(400, f"{param.name}: required")
    return values


def parse_param(param: Param, text: str) -> Any:
    """One query value, as its schema declares it: an integer in range (no sign, no spaces, no
    fraction), one of an `enum`, a string of at most `maxLength`."""
    schema = param.schema
    if schema.get("type") == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        accepted = f"an integer from {low} to {high}" if low is not None else "an integer"
        if "enum" in schema:
            accepted = " or ".join(str(v) for v in schema["enum"])
        if not (text.isascii() and text.isdigit() and len(text) <= 19):
            raise ApiError(400, f"{param.name}: {accepted}, got {text[:64]!r}")
        value: Any = int(text)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ApiError(400, f"{param.name}: {accepted}, got {value}")
    else:
        value = text
        limit = schema.get("maxLength", STRING["maxLength"])
        if len(text) > limit:
            raise ApiError(400, f"{param.name}: at most {limit} characters")
        if schema.get("minLength") and len(text) < schema["minLength"]:
            raise ApiError(400, f"{param.name}: must not be empty")
    if "enum" in schema and value not in schema["enum"]:
        choices = " or ".join(str(v) for v in schema["enum"])
        raise ApiError(400, f"{param.name}: {choices}, got {text[:64]!r}")
    return value


def json_schema(struct: type[msgspec.Struct]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(schema referencing components, components) of a request body type."""
    (schema,), components = msgspec.json.schema_components(
        [struct], ref_template="#/components/schemas/{name}")
    return schema, components
