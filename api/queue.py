"""`/queue/*`: queues, members, waiting callers and statuses; member add, pause, remove;
queues.conf and its queues.

A member is named as in the seed, `/queue/members/<member name>?queue_name=<queue>`, where the
name is the member's interface (`Local%2Fagent1%40agents`, `Agent%2F10001`), its `MemberName`,
or its `id` (`<interface>@<queue>`). Writes are AMI `QueueAdd` (POST /queue/members),
`QueuePause` (PUT the member with `{"paused": true, "reason": "lunch"}`, or false to unpause)
and `QueueRemove` (DELETE the member), sent as commands (`api/commands.py`).

Queues themselves are categories of queues.conf (`api/settings.py`): `POST /queue/queues`,
`PUT|DELETE /queue/queues/<name>` change the file and reload app_queue, after which the queue
is in (or out of) `GET /queue/queues`; `/queue/setting` and `/queue/settings` are the file and
its versions.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.bodies import read_body
from api.commands import SERVER_FOR_COMMAND, action, execute, server_for, who
from api.context import ApiContext
from api.envelope import ApiError
from api.readmodel import detail_route, find, list_route
from api.routing import ApiRoute, Operation, Param
from api.schemas import COMMAND
from api.settings import object_routes, setting_routes
from engine.commands import Command

TAG = "queue"
MEMBER_FIELDS = ("location", "name", "id", "state_interface")


class MemberAdd(msgspec.Struct, forbid_unknown_fields=True):
    """AMI QueueAdd: a dynamic member."""

    queue_name: str
    interface: str
    member_name: str | None = None
    penalty: int | None = None
    paused: bool | None = None
    reason: str | None = None
    state_interface: str | None = None


class MemberPause(msgspec.Struct, forbid_unknown_fields=True):
    """AMI QueuePause: pause (with a reason) or unpause the member."""

    paused: bool
    reason: str | None = None


def routes(ctx: ApiContext) -> list[BaseRoute]:
    queue_name = Param("queue_name", "query", "the member's queue (when it is in several)")
    member = Param("member", "path", "interface, member name or id (URL-encoded)",
                   required=True)

    def target(request: Request) -> tuple[str, str, str]:
        """(server, queue, interface) of the path's member, from the read model when it knows
        the member, else as given (`?queue_name=` needed)."""
        key = request.path_params["member"]
        _, rows = ctx.snapshot("queue-members")
        try:
            row = find(rows, key, MEMBER_FIELDS, request, "queue member", ("queue_name",))
        except ApiError as exc:
            if exc.status != 404:
                raise
            queue = request.query_params.get("queue_name")
            if not queue:
                raise ApiError(404, f"no queue member {key!r}; to send anyway pass "
                                    "?queue_name=") from None
            return server_for(ctx, request), queue, key
        return row["server"], row["queue_name"], row["location"]

    async def add(request: Request) -> Response:
        body = await read_body(request, MemberAdd)
        headers = action("QueueAdd", Queue=body.queue_name, Interface=body.interface,
                         MemberName=body.member_name, Penalty=body.penalty, Paused=body.paused,
                         Reason=body.reason, StateInterface=body.state_interface)
        return await execute(ctx, request, Command(
            "queue_add", server_for(ctx, request), headers, who(request), [],
            msgspec.to_builtins(body)))

    async def pause(request: Request) -> Response:
        body = await read_body(request, MemberPause)
        server, queue, interface = target(request)
        headers = action("QueuePause", Queue=queue, Interface=interface, Paused=body.paused,
                         Reason=body.reason)
        return await execute(ctx, request, Command(
            "queue_pause" if body.paused else "queue_unpause", server, headers, who(request),
            [], {"queue_name": queue, "interface": interface, **msgspec.to_builtins(body)}))

    async def remove(request: Request) -> Response:
        server, queue, interface = target(request)
        return await execute(ctx, request, Command(
            "queue_remove", server, action("QueueRemove", Queue=queue, Interface=interface),
            who(request), [], {"queue_name": queue, "interface": interface}))

    command = {"role": "operator", "result": COMMAND, "errors": (404, 503, 504)}
    return [
        list_route(ctx, "/queue/queues", "queues", TAG, "Queues and their statistics"),
        detail_route(ctx, "/queue/queues/{name}", "queues", "name", ("name",), TAG,
                     "One queue", "queue"),
        list_route(ctx, "/queue/members", "queue-members", TAG, "Queue members"),
        detail_route(ctx, "/queue/members/{member:path}", "queue-members", "member",
                     MEMBER_FIELDS, TAG, "One queue member", "queue member", (queue_name,)),
        list_route(ctx, "/queue/entries", "queue-entries", TAG, "Callers waiting in queues"),
        detail_route(ctx, "/queue/entries/{unique_id}", "queue-entries", "unique_id",
                     ("unique_id",), TAG, "One waiting caller", "queue entry"),
        list_route(ctx, "/queue/statuses", "queue-statuses", TAG,
                   "Each queue with its members and waiting callers"),
        detail_route(ctx, "/queue/statuses/{name}", "queue-statuses", "name", ("name",), TAG,
                     "One queue with its members and waiting callers", "queue"),
        ApiRoute("/queue/members", add, Operation(
            "POST", "Add a member to a queue (AMI QueueAdd)", TAG,
            params=(SERVER_FOR_COMMAND,), body=MemberAdd, **command), ctx.access),
        ApiRoute("/queue/members/{member:path}", pause, Operation(
            "PUT", "Pause or unpause a member, with a reason (AMI QueuePause)", TAG,
            params=(member, queue_name, SERVER_FOR_COMMAND), body=MemberPause, **command),
            ctx.access),
        ApiRoute("/queue/members/{member:path}", remove, Operation(
            "DELETE", "Remove a member from a queue (AMI QueueRemove)", TAG,
            params=(member, queue_name, SERVER_FOR_COMMAND), **command), ctx.access),
        *object_routes(ctx, "/queue/queues", "queues.conf", "queue", TAG),
        *setting_routes(ctx, "queue", "queues.conf", TAG),
    ]
