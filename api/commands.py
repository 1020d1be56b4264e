"""Commands over HTTP: how a write endpoint runs its command, and `/commands` to follow them.

Every write endpoint (`api/core.py`, `api/queue.py`, `api/park.py`) builds an
`engine.commands.Command` and calls `execute`: the command is logged, sent, its outcome logged,
and the answer waits until the commands projection has applied that outcome, so
`GET /commands/<id>` right after shows it. A success answers 200 with the command; a failure
answers Asterisk's own message with a status that says what went wrong: 404 (Asterisk does not
know the channel or member), 400 (Asterisk refused), 503 (not connected), 504 (no answer). Both
carry the command id in `X-Switchboard-Command`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.context import ApiContext
from api.envelope import ApiError, ok
from api.readmodel import detail_route, list_route
from api.routing import Param
from engine.commands import Command, Outcome, UnknownServer, wait_projected

COMMAND_HEADER = "X-Switchboard-Command"
TAG = "commands"


def server_for(ctx: ApiContext, request: Request) -> str:
    """Which Asterisk a command without a known target goes to: `?server=`, else the only
    one configured."""
    asked = request.query_params.get("server")
    servers = ctx.commands.servers()
    if asked is not None:
        if asked not in servers:
            raise ApiError(400, f"unknown server {asked!r}; servers: {', '.join(servers)}")
        return asked
    if len(servers) == 1:
        return servers[0]
    if not servers:
        raise ApiError(503, "no Asterisk is configured: commands cannot be sent")
    raise ApiError(400, f"several servers ({', '.join(servers)}): pass ?server=")


def who(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    name = principal.name if principal is not None else "anonymous"
    return f"{name}@{request.client.host}" if request.client else name


async def execute(ctx: ApiContext, request: Request, command: Command) -> Response:
    try:
        outcome = await ctx.commands.run(command)
    except UnknownServer as exc:
        raise ApiError(400, f"unknown server {exc}") from None
    return await respond(ctx, outcome)


async def respond(ctx: ApiContext, outcome: Outcome) -> Response:
    """A command's outcome as the answer: once the read models hold it, the command row, or
    its failure's status and message."""
    headers = {COMMAND_HEADER: outcome.id}
    projector = ctx.engine.projector
    await wait_projected(lambda: projector.position, outcome.position)
    if not outcome.ok:
        raise ApiError(outcome.status, outcome.message, headers)
    row = _command(ctx, outcome.id)
    return ok(row, headers=headers)


def _command(ctx: ApiContext, cid: str) -> dict | None:
    _, rows = ctx.snapshot("commands")
    for row in reversed(rows):
        if row["id"] == cid:
            return row
    return None


def routes(ctx: ApiContext) -> list[BaseRoute]:
    return [
        list_route(ctx, "/commands", "commands", TAG,
                   "Recent commands: who asked what, their state and linked events"),
        detail_route(ctx, "/commands/{id}", "commands", "id", ("id",), TAG,
                     "One command: state (requested, sent, succeeded, failed), Asterisk's "
                     "message, positions of its response and of the events it caused",
                     "command"),
    ]


CAUSE_PARAM = Param("cause", "query", "Q.850 hangup cause to give (default: Asterisk's)",
                    schema={"type": "integer", "minimum": 0, "maximum": 127})
SERVER_FOR_COMMAND = Param("server", "query",
                           "Asterisk to send it to, when the target is not in the read models "
                           "and several are configured")


def action(name: str, **headers: object) -> dict[str, str | list[str]]:
    """An AMI action from keyword headers: None left out, values as text. A CR or LF in a
    value would start a header of the caller's choosing on the wire: refused."""
    out: dict[str, str | list[str]] = {"Action": name}
    for key, value in headers.items():
        if value is None:
            continue
        if isinstance(value, list):
            out[key] = [_text(key, v) for v in value]
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = _text(key, value)
    return out


def _text(key: str, value: object) -> str:
    text = str(value)
    if "\r" in text or "\n" in text:
        raise ApiError(400, f"{key}: line breaks are not allowed")
    return text
