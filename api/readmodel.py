"""Read endpoints over the projections' views: a list, and one row by its key.

Lists answer the seed's `result.list`, details the row itself as `result`. Both take
`?server=` (rows of one Asterisk) and say which log position they reflect in the
`X-Switchboard-Position` header: open `/events` with that as `Last-Event-ID` and every change
after the read arrives, none twice. A detail key is matched against the row fields that name it
(URL-encoded in the path, decoded by the server); a key that several servers (or queues) share
is ambiguous and answered 400 with what to add.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response

from api.context import ApiContext
from api.envelope import ApiError, listing, ok
from api.routing import SERVER_PARAM, ApiRoute, Operation, Param
from api.schemas import list_result, row_schema
from projections.base import Row

POSITION_HEADER = "X-Switchboard-Position"


def by_server(rows: list[Row], request: Request) -> list[Row]:
    server = request.query_params.get("server")
    if server is None:
        return rows
    return [row for row in rows if row.get("server") == server]


def find(rows: list[Row], key: str, fields: Sequence[str], request: Request, noun: str,
         filters: Sequence[str] = ()) -> Row:
    """The one row whose `fields` include `key`, within `?server=` and the `filters` given as
    query parameters of the same name."""
    wanted = {f: request.query_params[f] for f in filters if f in request.query_params}
    found = [
        row for row in by_server(rows, request)
        if any(row.get(f) == key for f in fields)
        and all(str(row.get(f)) == v for f, v in wanted.items())
    ]
    if not found:
        raise ApiError(404, f"no {noun} {key!r}")
    if len(found) > 1:
        hints = ["server"] + [f for f in filters if f not in wanted]
        raise ApiError(400, f"{noun} {key!r} is ambiguous ({len(found)} match): pass "
                            + " or ".join(f"?{h}=" for h in hints))
    return found[0]


def list_route(ctx: ApiContext, path: str, view: str, tag: str, summary: str,
               role: str = "viewer") -> ApiRoute:
    async def handler(request: Request) -> Response:
        # off the event loop: rendering a thousand channels would hold up the streams
        position, rows = await asyncio.to_thread(ctx.snapshot, view)
        return listing(by_server(rows, request), {POSITION_HEADER: str(position)})

    handler.__name__ = f"list_{view.replace('-', '_')}"
    operation = Operation("GET", summary, tag, role=role, params=(SERVER_PARAM,),
                          result=list_result(row_schema(view)))
    return ApiRoute(path, handler, operation, ctx.access)


def detail_route(ctx: ApiContext, path: str, view: str, param: str, fields: Sequence[str],
                 tag: str, summary: str, noun: str, filters: Sequence[Param] = (),
                 role: str = "viewer") -> ApiRoute:
    names = [p.name for p in filters]

    async def handler(request: Request) -> Response:
        position, rows = ctx.snapshot(view)
        row = find(rows, request.path_params[param], fields, request, noun, names)
        return ok(row, headers={POSITION_HEADER: str(position)})

    handler.__name__ = f"get_{view.replace('-', '_')}"
    params = (Param(param, "path", f"the {noun}'s {' or '.join(fields)} (URL-encoded)",
                    required=True), SERVER_PARAM, *filters)
    operation = Operation("GET", summary, tag, role=role, params=params,
                          result=row_schema(view), errors=(404,))
    return ApiRoute(path, handler, operation, ctx.access)
