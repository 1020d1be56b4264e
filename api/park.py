"""`/park/*`: parking lots and parked calls; hanging up a parked call.

A parked call is named by its parkee's unique id (seed: `/park/parkedcalls/<parkee_unique_id>`)
and hung up with AMI Hangup on the parkee's channel, as a command. Parking a channel is a
channel command: `POST /core/channels/<unique_id>/park` (`api/core.py`).

Parking lots are categories of res_parking.conf (`api/settings.py`): `POST /park/parkinglots`,
`PUT|DELETE /park/parkinglots/<name>` change the file and reload res_parking, after which the
lot is in (or out of) `GET /park/parkinglots`; `/park/setting` and `/park/settings` are the
file and its versions. The seed's V1 `/admin/park/cfg_parkinglots[/<name>]` are the same lots
as the file holds them, `{"name", "data": {<setting>: value...}}`, written the same way.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.commands import CAUSE_PARAM, SERVER_FOR_COMMAND, action, execute, who
from api.context import ApiContext
from api.envelope import ApiError
from api.readmodel import detail_route, find, list_route
from api.routing import ApiRoute, Operation, Param
from api.schemas import COMMAND
from api.settings import cfg_object_routes, object_routes, setting_routes
from engine.commands import Command

TAG = "park"


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def hangup(request: Request) -> Response:
        uid = request.path_params["parkee_unique_id"]
        _, rows = ctx.snapshot("parked-calls")
        row = find(rows, uid, ("parkee_unique_id",), request, "parked call")
        cause = request.query_params.get("cause")
        if cause is not None and not (cause.isdigit() and int(cause) <= 127):
            raise ApiError(400, "cause: a Q.850 cause, 0-127")
        return await execute(ctx, request, Command(
            "parked_hangup", row["server"],
            action("Hangup", Channel=row["parkee_channel"] or uid, Cause=cause), who(request),
            [uid], {"parkee_unique_id": uid, "cause": cause}))

    parkee = Param("parkee_unique_id", "path", "the parked channel's unique id", required=True)
    return [
        list_route(ctx, "/park/parkinglots", "parking-lots", TAG, "Parking lots"),
        detail_route(ctx, "/park/parkinglots/{name}", "parking-lots", "name", ("name",), TAG,
                     "One parking lot", "parking lot"),
        list_route(ctx, "/park/parkedcalls", "parked-calls", TAG, "Parked calls"),
        detail_route(ctx, "/park/parkedcalls/{parkee_unique_id}", "parked-calls",
                     "parkee_unique_id", ("parkee_unique_id",), TAG, "One parked call",
                     "parked call"),
        ApiRoute("/park/parkedcalls/{parkee_unique_id}", hangup, Operation(
            "DELETE", "Hang up a parked call (AMI Hangup on the parkee)", TAG, role="operator",
            params=(parkee, CAUSE_PARAM, SERVER_FOR_COMMAND), result=COMMAND,
            errors=(404, 503, 504)), ctx.access),
        *object_routes(ctx, "/park/parkinglots", "res_parking.conf", "parking lot", TAG),
        *setting_routes(ctx, "park", "res_parking.conf", TAG),
        *cfg_object_routes(ctx, "/admin/park/cfg_parkinglots", "res_parking.conf",
                           "parking lot", TAG),
    ]
