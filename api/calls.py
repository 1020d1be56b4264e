"""`/calls`: calls (the channels sharing a linked id), live and recently ended."""

from __future__ import annotations

from starlette.routing import BaseRoute

from api.context import ApiContext
from api.readmodel import detail_route, list_route

TAG = "calls"


def routes(ctx: ApiContext) -> list[BaseRoute]:
    return [
        list_route(ctx, "/calls", "calls", TAG, "Calls, live and recently ended"),
        detail_route(ctx, "/calls/{linked_id}", "calls", "linked_id", ("linked_id",), TAG,
                     "One call", "call"),
    ]
