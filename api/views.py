"""`/views`: every projection view by name, now or at any past moment (`?at=`).

`GET /views` lists the views and their columns. `GET /views/<view>` answers the view's rows as
the seed's `result.list`, with `result.position` (the log position they reflect, also in the
`X-Switchboard-Position` header) and `result.time`. With `?at=POSITION` (an integer) or
`?at=TIME` (ISO 8601, or epoch seconds with a fraction) the rows are the view as it was then:
the nearest periodic snapshot plus the events after it (`replay.moment`), off the event loop.
Elapsed-time fields are then computed as of that moment. `?server=` keeps one Asterisk's rows.
"""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.context import ApiContext
from api.envelope import ApiError, listing, ok
from api.readmodel import POSITION_HEADER, by_server
from api.routing import SERVER_PARAM, ApiRoute, Operation, Param
from projections.base import iso
from replay.export import ExportError, declared_columns
from replay.moment import MomentError, view_at

TAG = "views"
AT_PARAM = Param("at", "query", "the view as it was after this log position (an integer), or "
                 "at this time (ISO 8601, or epoch seconds with a fraction)")


def view_role(view: str) -> str:
    """The role a view needs (`VIEW_ROLES` of its projection; viewer by default)."""
    from projections import VIEWS

    module, _ = VIEWS[view]
    return getattr(module, "VIEW_ROLES", {}).get(view, "viewer")


def routes(ctx: ApiContext) -> list[BaseRoute]:
    from projections import VIEWS

    def columns(view: str) -> dict[str, str] | None:
        try:
            return declared_columns(view)
        except ExportError:  # a view that declares none: listed all the same
            return None

    async def list_views(request: Request) -> Response:
        return listing([{"view": view, "projection": module.NAME, "columns": columns(view),
                         "role": view_role(view)}
                        for view, (module, _) in sorted(VIEWS.items())])

    async def get_view(request: Request) -> Response:
        view = request.path_params["view"]
        if view not in VIEWS:
            raise ApiError(404, f"no view {view!r}; views: {', '.join(sorted(VIEWS))}")
        role = view_role(view)
        if role != "viewer":  # the route let a viewer in; this view needs more
            await ctx.access.require(request, role)
        at = request.state.params.get("at")
        if at is None:
            now = time.time()
            position, rows = ctx.snapshot(view, now)
            moment = now
        else:
            engine = ctx.engine
            try:
                found = await run_in_threadpool(
                    view_at, engine.store.url, view, at,
                    interval=engine.config.replay.snapshot_interval)
            except MomentError as exc:
                raise ApiError(400, str(exc)) from None
            position, rows, moment = found.position, found.rows, found.time
        rows = by_server(rows, request)
        return ok({"list": rows, "position": position, "time": iso(moment)},
                  headers={POSITION_HEADER: str(position)})

    result = {"type": "object", "properties": {
        "list": {"type": "array", "items": {"type": "object"}},
        "position": {"type": "integer"}, "time": {"type": ["string", "null"]}},
        "required": ["list", "position"]}
    return [
        ApiRoute("/views", list_views, Operation(
            "GET", "Every view: its name, projection and columns", TAG,
            result={"type": "object", "properties": {"list": {"type": "array"}}}),
            ctx.access),
        ApiRoute("/views/{view}", get_view, Operation(
            "GET", "A view's rows, now or at a past moment", TAG,
            params=(Param("view", "path", "channels, calls, queues, ... (GET /views)",
                          required=True), AT_PARAM, SERVER_PARAM),
            result=result, errors=(404,),
            description="With `?at=`, the nearest periodic snapshot at or before the moment "
                        "plus the events after it; elapsed times are as of that moment."),
            ctx.access),
    ]
