"""`/core/*`: channels (read, hang up, originate, transfer, park), systems, bridges, modules
(read, load, reload, unload; AGI channels are `api/agi.py`).

Reads are the channels, systems and bridges views. Writes are commands (`api/commands.py`):
a channel known to the read models is addressed by its name on its own server; an unknown
unique id is still sent (Asterisk resolves ids too) and Asterisk's "No such channel" comes back
as 404. An Originate names its channels in advance (`ChannelId` / `OtherChannelId`, generated
unless given), so the answer tells the unique id of the channel it creates and every event of
that channel is tied to the command.
"""

from __future__ import annotations

import uuid

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.bodies import read_body
from api.commands import (
    CAUSE_PARAM,
    SERVER_FOR_COMMAND,
    action,
    execute,
    run,
    server_for,
    who,
)
from api.context import ApiContext
from api.envelope import ApiError, ok
from api.readmodel import POSITION_HEADER, detail_route, find, list_route
from api.routing import SERVER_PARAM, ApiRoute, Operation, Param
from api.schemas import COMMAND, row_schema
from engine.commands import Command
from projections.modules import module_file, module_name

TAG = "core"


class Originate(msgspec.Struct, forbid_unknown_fields=True):
    """AMI Originate: dial `channel`, then connect it to `context`/`exten`/`priority` or run
    `application`(`data`)."""

    channel: str
    context: str | None = None
    exten: str | None = None
    priority: int | str | None = None
    application: str | None = None
    data: str | None = None
    timeout: int | None = None  # milliseconds to wait for an answer
    caller_id: str | None = None
    account: str | None = None
    variables: dict[str, str] = {}
    channel_id: str | None = None  # the new channel's Uniqueid (async: generated if absent)
    other_channel_id: str | None = None  # a Local channel's ;2 half
    is_async: bool = msgspec.field(default=True, name="async")  # false: Asterisk answers
    # only once the call is answered or has failed (within `timeout` ms), so keep it short


class Transfer(msgspec.Struct, forbid_unknown_fields=True):
    """Blind transfer (AMI Redirect) to `context`/`exten`/`priority`."""

    exten: str
    context: str
    priority: int | str = 1


class AttendedTransfer(msgspec.Struct, forbid_unknown_fields=True):
    """Attended transfer (AMI Atxfer): the channel's peer is held while `exten` is dialed."""

    exten: str
    context: str | None = None


class Park(msgspec.Struct, forbid_unknown_fields=True):
    """AMI Park: park the channel (its bridge peer hears the space)."""

    parkinglot: str | None = None
    timeout: int | None = None  # milliseconds before the call comes back
    timeout_channel: str | None = None  # who the call comes back to


ORIGINATE_OUTCOME = (
    "An async Originate ends with its OriginateResponse: the answer waits for it up to "
    "`api.command_timeout` and is the command `succeeded`, or a 409 naming the reason (busy, "
    "no answer, congestion, no dial result); past that, the command is `sent` (Asterisk "
    "queued it) and `GET /commands/<id>` shows the outcome once it comes.")

CHANNEL_FIELDS = ("unique_id", "channel")  # a channel is named by its unique id or its name


def _target(ctx: ApiContext, request: Request) -> tuple[str, str, str]:
    """(server, channel name, unique id) of the path's channel: from the read model when it
    knows the channel, else the key as given for both (Asterisk looks names and ids up)."""
    key = request.path_params["unique_id"]
    _, rows = ctx.snapshot("channels")
    try:
        row = find(rows, key, CHANNEL_FIELDS, request, "channel")
    except ApiError as exc:
        if exc.status != 404:
            raise
        return server_for(ctx, request), key, key
    return row["server"], row["channel"] or row["unique_id"], row["unique_id"]


MODULE_CHECK = (
    "A module the read model does not list (loaded since the table was read, by a manager "
    "user that does not receive system events) is checked with Asterisk first (AMI "
    "ModuleCheck, a command): loaded, it is answered; not, Asterisk's 'Module not loaded' "
    "is the 404.")


async def _check_module(ctx: ApiContext, request: Request, name: str,
                        missing: ApiError) -> None:
    """Ask Asterisk whether `name` is loaded (a ModuleCheck command, whose answer the
    `modules` projection reads); its refusal is the 404. With no one Asterisk to ask (several
    and no `?server=`), or one out of reach, `missing` stands."""
    try:
        server = server_for(ctx, request)
    except ApiError:
        raise missing from None
    try:
        await run(ctx, Command("module_check", server, action("ModuleCheck", Module=name),
                               who(request), [], {"name": name}))
    except ApiError as refused:
        if refused.status in (503, 504):
            raise missing from None
        raise ApiError(404, f"{refused.message}: {name}", refused.headers) from None


def routes(ctx: ApiContext) -> list[BaseRoute]:
    channel_param = Param("unique_id", "path",
                          "the channel's unique id, or its name (URL-encoded)", required=True)

    async def hangup(request: Request) -> Response:
        server, channel, uid = _target(ctx, request)
        cause = request.query_params.get("cause")
        if cause is not None and not (cause.isdigit() and int(cause) <= 127):
            raise ApiError(400, "cause: a Q.850 cause, 0-127")
        return await execute(ctx, request, Command(
            "hangup", server, action("Hangup", Channel=channel, Cause=cause), who(request),
            [uid], {"unique_id": uid, "cause": cause}))

    async def originate(request: Request) -> Response:
        body = await read_body(request, Originate)
        if body.application is None and (body.context is None or body.exten is None):
            raise ApiError(400, "give context and exten (and priority), or application")
        server = server_for(ctx, request)
        channel_id = body.channel_id or (uuid.uuid4().hex if body.is_async else None)
        other_id = body.other_channel_id or (
            f"{channel_id}-2" if channel_id and body.channel.startswith("Local/") else None)
        headers = action(
            "Originate", Channel=body.channel, Context=body.context, Exten=body.exten,
            Priority=None if body.application else (body.priority or 1),
            Application=body.application, Data=body.data, Async=body.is_async or None,
            Timeout=body.timeout, CallerID=body.caller_id, Account=body.account,
            ChannelId=channel_id, OtherChannelId=other_id,
            Variable=[f"{k}={v}" for k, v in body.variables.items()] or None,
        )
        targets = [i for i in (channel_id, other_id) if i]
        return await execute(ctx, request, Command(
            "originate", server, headers, who(request), targets, msgspec.to_builtins(body)))

    def channel_command(name: str, verb: str, body_type: type[msgspec.Struct],
                        build: object) -> ApiRoute:
        async def handler(request: Request) -> Response:
            body = await read_body(request, body_type)
            server, channel, uid = _target(ctx, request)
            headers = build(channel, body)  # type: ignore[operator]
            return await execute(ctx, request, Command(
                name, server, headers, who(request), [uid],
                {"unique_id": uid, **msgspec.to_builtins(body)}))

        handler.__name__ = name
        return ApiRoute(f"/core/channels/{{unique_id}}/{verb}", handler, Operation(
            "POST", (body_type.__doc__ or name).strip(), TAG, role="operator",
            params=(channel_param, SERVER_FOR_COMMAND), body=body_type, result=COMMAND,
            errors=(404, 503, 504)), ctx.access)

    async def module(request: Request) -> Response:
        load_type = {"POST": "load", "PUT": "reload", "DELETE": "unload"}[request.method]
        name = request.path_params["name"]
        return await execute(ctx, request, Command(
            f"module_{load_type}", server_for(ctx, request),
            action("ModuleLoad", Module=module_file(name), LoadType=load_type), who(request),
            [], {"name": name}))

    async def module_detail(request: Request) -> Response:
        name = module_name(request.path_params["name"])
        position, rows = ctx.snapshot("modules")
        try:
            row = find(rows, name, ("name",), request, "module")
        except ApiError as missing:
            if missing.status != 404:
                raise
            await _check_module(ctx, request, name, missing)
            position, rows = ctx.snapshot("modules")
            row = find(rows, name, ("name",), request, "module")
        return ok(row, headers={POSITION_HEADER: str(position)})

    module_param = Param("name", "path", "module name, with or without .so (res_parking)",
                         required=True)
    command = {"role": "operator", "result": COMMAND, "errors": (404, 503, 504)}
    return [
        list_route(ctx, "/core/channels", "channels", TAG, "Live channels"),
        detail_route(ctx, "/core/channels/{unique_id:path}", "channels", "unique_id",
                     CHANNEL_FIELDS, TAG, "One live channel", "channel"),
        ApiRoute("/core/channels", originate, Operation(
            "POST", "Originate a call (AMI Originate; Async unless `async` is false)", TAG,
            params=(SERVER_FOR_COMMAND,), body=Originate, role="operator", result=COMMAND,
            errors=(404, 409, 503, 504), description=ORIGINATE_OUTCOME), ctx.access),
        ApiRoute("/core/channels/{unique_id:path}", hangup, Operation(
            "DELETE", "Hang up a channel (AMI Hangup)", TAG,
            params=(channel_param, CAUSE_PARAM, SERVER_FOR_COMMAND), **command), ctx.access),
        channel_command("redirect", "redirect", Transfer, lambda channel, b: action(
            "Redirect", Channel=channel, Context=b.context, Exten=b.exten, Priority=b.priority)),
        channel_command("atxfer", "atxfer", AttendedTransfer, lambda channel, b: action(
            "Atxfer", Channel=channel, Exten=b.exten, Context=b.context)),
        channel_command("park", "park", Park, lambda channel, b: action(
            "Park", Channel=channel, Parkinglot=b.parkinglot, Timeout=b.timeout,
            TimeoutChannel=b.timeout_channel)),
        list_route(ctx, "/core/systems", "systems", TAG, "Each Asterisk: versions, settings, "
                   "connection"),
        detail_route(ctx, "/core/systems/{id}", "systems", "id", ("id", "server"), TAG,
                     "One Asterisk", "system"),
        list_route(ctx, "/core/bridges", "bridges", TAG, "Live bridges"),
        detail_route(ctx, "/core/bridges/{bridge_id}", "bridges", "bridge_id", ("bridge_id",),
                     TAG, "One live bridge", "bridge"),
        list_route(ctx, "/core/modules", "modules", TAG,
                   "Loaded Asterisk modules: load state (Running, Not Running), description, "
                   "use count, support level"),
        ApiRoute("/core/modules/{name}", module_detail, Operation(
            "GET", "One loaded module, named with or without .so", TAG,
            params=(module_param, SERVER_PARAM), result=row_schema("modules"),
            errors=(404,), description=MODULE_CHECK), ctx.access),
        *(ApiRoute("/core/modules/{name}", module, Operation(
            method, f"{verb} an Asterisk module (AMI ModuleLoad)", TAG,
            params=(module_param, SERVER_FOR_COMMAND), **command), ctx.access)
          for method, verb in (("POST", "Load"), ("PUT", "Reload"), ("DELETE", "Unload"))),
    ]
