"""`/core/agis`: channels in async AGI (seed 004), hanging them up, and sending AGI commands.

Reads are the `agis` view (`projections/agis.py`): the seed's agi object, `env` and `cmd`.
`DELETE /core/agis/<unique_id>` hangs the channel up (AMI `Hangup`), as seed 004 documents, and
answers once the channel's `Hangup` is in the log (the next read no longer lists it).
Beyond the seed, `POST /core/agis/<unique_id>/commands` with `{"command": "GET VARIABLE
CALLERID(num)"}` queues an AGI command (AMI `AGI`, a command in the log like every write) and
answers once Asterisk has run it: its `AsyncAGIExec`, matched by `CommandID`, is decoded into
`agi` (`code`, `value`, `data`, `text`: `200`, `1`, `5550123`, `200 result=1 (5550123)`). A
command Asterisk does not know (`510 Invalid or unknown command`) or a usage error (520) is a 400
with that line, a dead channel (511) or one that left AGI before the command ran a 409, a
channel not in AGI a 404. A command still running when `api.command_timeout` passes (an `EXEC
Wait 30`) is answered 200 with the command `sent` and `agi` null: `GET /commands/<id>` and the
channel's `cmd` show the result when it comes.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.bodies import read_body
from api.commands import CAUSE_PARAM, action, execute, run, who
from api.context import ApiContext
from api.envelope import ok
from api.readmodel import detail_route, find, list_route
from api.routing import SERVER_PARAM, ApiRoute, Operation, Param
from api.schemas import COMMAND
from engine.agi import COMMAND_ID, END, EXEC, verdict
from engine.commands import Command, FollowUp, Verdict
from projections.base import Row

TAG = "core"
KEYS = ("unique_id", "channel")  # an AGI channel is named by its unique id or its name


class AgiCommand(msgspec.Struct, forbid_unknown_fields=True):
    """An AGI command for the channel to run (AMI `AGI`): `ANSWER`, `GET VARIABLE NAME`,
    `SET VARIABLE NAME VALUE`, `EXEC App args`, `STREAM FILE name ""`, `ASYNCAGI BREAK`..."""

    command: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    # Asterisk's CommandID for it (default: generated)
    command_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None


AGI_RESULT = {"type": ["object", "null"], "properties": {
    "code": {"type": ["integer", "null"]}, "value": {"type": ["string", "null"]},
    "data": {"type": ["string", "null"]}, "text": {"type": "string"}}}
COMMAND_WITH_RESULT = {**COMMAND, "properties": {**COMMAND["properties"], "agi": AGI_RESULT},
                       "required": [*COMMAND["required"], "agi"]}


def hung_up(event: dict[str, Any]) -> Verdict:
    """The channel's `Hangup`: the hang up is done (and the AGI channel gone from the read
    model: Asterisk answers "Channel Hungup" before its AsyncAGIEnd and Hangup)."""
    return True, 200, f"Channel Hungup, cause {event.get('Cause')}: {event.get('Cause-txt')}", {}


def _channel(ctx: ApiContext, request: Request) -> Row:
    """The path's channel, if it is in AGI: else 404."""
    _, rows = ctx.snapshot("agis")
    return find(rows, request.path_params["unique_id"], KEYS, request, "AGI channel")


def routes(ctx: ApiContext) -> list[BaseRoute]:
    channel_param = Param("unique_id", "path",
                          "the AGI channel's unique id, or its name (URL-encoded)",
                          required=True)

    async def hangup(request: Request) -> Response:
        row = _channel(ctx, request)
        cause = request.state.params.get("cause")
        uid = row["unique_id"]
        return await execute(ctx, request, Command(
            "hangup", row["server"], action("Hangup", Channel=row["channel"], Cause=cause),
            who(request), [uid], {"unique_id": uid, "cause": cause},
            FollowUp("Hangup", "Uniqueid", uid, hung_up)))

    async def agi_command(request: Request) -> Response:
        body = await read_body(request, AgiCommand)
        row = _channel(ctx, request)
        uid = row["unique_id"]
        command_id = body.command_id or uuid.uuid4().hex
        headers = action("AGI", Channel=row["channel"], Command=body.command,
                         CommandID=command_id)
        outcome, command, answer = await run(ctx, Command(
            "agi", row["server"], headers, who(request), [uid],
            {"unique_id": uid, "command": body.command, "command_id": command_id},
            FollowUp(EXEC, COMMAND_ID, command_id, verdict, abort=(END, "Uniqueid", uid))))
        return ok({**(command or {}), "agi": outcome.details.get("agi")}, headers=answer)

    server = (SERVER_PARAM,)
    return [
        list_route(ctx, "/core/agis", "agis", TAG,
                   "Channels in async AGI, with their AGI environment and commands"),
        detail_route(ctx, "/core/agis/{unique_id:path}", "agis", "unique_id", KEYS, TAG,
                     "One channel in async AGI", "AGI channel"),
        ApiRoute("/core/agis/{unique_id:path}", hangup, Operation(
            "DELETE", "Hang up a channel in AGI (AMI Hangup)", TAG, role="operator",
            params=(channel_param, CAUSE_PARAM, *server), result=COMMAND,
            errors=(404, 503, 504)), ctx.access),
        ApiRoute("/core/agis/{unique_id:path}/commands", agi_command, Operation(
            "POST", "Run an AGI command on the channel (AMI AGI) and answer its result", TAG,
            role="operator", params=(channel_param, *server), body=AgiCommand,
            result=COMMAND_WITH_RESULT, errors=(404, 409, 503, 504),
            description="Answers once Asterisk reports the command (`AsyncAGIExec`): `agi` "
                        "holds its answer line decoded. 510/520 answers are a 400, 511 and "
                        "a channel leaving AGI first a 409."), ctx.access),
    ]
