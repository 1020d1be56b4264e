"""`/voicemail/*`: mailboxes (seed 004's voicemail users) and their messages.

- `GET /voicemail/users[/<mailbox@context>]`: the `voicemail-users` view (`VoicemailUsersList`
  on every connect, `MessageWaiting` since: `waiting` and the counts). A user's `password` (its
  PIN, from voicemail.conf) is for admins only: anyone else gets `"(redacted)"`
  (`engine/redact.py`). AMI does not carry it, so until voicemail.conf is read it is null.
- `GET /voicemail/vms?context=&mailbox=`: Asterisk is asked for the box (`VoicemailBoxSummary`,
  a command in the log: who listed whose voicemail is on record) and the answer is the
  `voicemail-messages` rows of that box. With `voicemail.spool` set, each message also gets
  what its file says (`msgname`, `context`, `exten`, `callerchan`, `origtime`...).
- `GET /voicemail/vms/<msg_id or msgNNNN>?context=&mailbox=[&dir=]`: the message's audio, from
  the spool (`application/octet-stream`, `attachment; filename=msg0003.wav`); 501 saying why
  when `voicemail.spool` is unset or unreadable.
- `DELETE /voicemail/vms/<msg_id>?context=&mailbox=[&dir=]`: `VoicemailRemove`; `PUT` with
  `{"dir": "Old"}` moves it (`VoicemailMove`). Both are commands; a message the last listing
  does not hold is looked up again first (404 if Asterisk does not have it either), and a name
  `msgNNNN` is resolved through the spool (message numbers shift, `msg_id`s do not).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute

from api.bodies import read_body
from api.commands import action, execute, run, server_for, who
from api.context import ApiContext
from api.envelope import ApiError, listing, ok
from api.readmodel import POSITION_HEADER, by_server, find
from api.routing import SERVER_PARAM, ApiRoute, Operation, Param
from api.schemas import COMMAND, list_result, row_schema
from engine import spool
from engine.commands import Command
from engine.redact import redact
from projections.base import Row
from projections.voicemail import box_id

TAG = "voicemail"
FOLDER: dict = {"type": "string", "enum": list(spool.FOLDERS)}

CONTEXT = Param("context", "query", "the mailbox's voicemail context (default)", required=True)
MAILBOX = Param("mailbox", "query", "the mailbox (100)", required=True)
DIR = Param("dir", "query", "the message's folder (default: wherever it is)", schema=FOLDER)
MESSAGE = Param("detail", "path", "the message's msg_id (1796660000-00000000), or its name "
                "msgNNNN in `dir` when voicemail.spool is set", required=True)

USER = row_schema("voicemail-users")
USER = {**USER, "properties": {**USER["properties"], "password": {"type": ["string", "null"]}},
        "required": [*USER["required"], "password"]}


Folder = Literal["INBOX", "Old", "Work", "Family", "Friends", "Cust1", "Cust2", "Cust3", "Cust4",
                 "Cust5", "Deleted", "Urgent"]  # app_voicemail's folders (engine/spool.py)


class Move(msgspec.Struct, forbid_unknown_fields=True):
    """Move the message to another folder (AMI VoicemailMove)."""

    dir: Folder


def _user(row: Row, request: Request) -> Row:
    """The user as this caller may see it: the PIN for admins only."""
    shown = {**row, "password": None}
    principal = getattr(request.state, "principal", None)
    return shown if principal is not None and principal.may("admin") else redact(shown)


def _box_server(ctx: ApiContext, request: Request, context: str, mailbox: str) -> str:
    """The Asterisk that has the mailbox: `?server=`, else the one whose users list it, else
    the only one configured."""
    if "server" in request.query_params:
        return server_for(ctx, request)
    _, users = ctx.snapshot("voicemail-users")
    servers = sorted({u["server"] for u in users
                      if u["context"] == context and u["mailbox"] == mailbox})
    if len(servers) > 1:
        raise ApiError(400, f"mailbox {box_id(mailbox, context)} is on {', '.join(servers)}: "
                            "pass ?server=")
    return servers[0] if servers else server_for(ctx, request)


async def _list_box(ctx: ApiContext, request: Request, server: str, context: str,
                    mailbox: str) -> tuple[int, list[Row]]:
    """Ask Asterisk for the box (a command), then its rows as the read model holds them."""
    await run(ctx, Command(
        "voicemail_list", server, action("VoicemailBoxSummary", Context=context,
                                         Mailbox=mailbox),
        who(request), [], {"context": context, "mailbox": mailbox}))
    position, rows = ctx.snapshot("voicemail-messages")
    box = box_id(mailbox, context)
    return position, [r for r in rows if r["server"] == server and r["box"] == box]


def _spool_root(ctx: ApiContext) -> Path:
    try:
        return spool.open_spool(ctx.engine.config.voicemail.spool)
    except spool.SpoolError as exc:
        raise ApiError(501, str(exc)) from None


def _from_spool(ctx: ApiContext, rows: list[Row], context: str, mailbox: str) -> list[Row]:
    """Rows completed from the messages' files, when the spool can be read."""
    try:
        root = spool.open_spool(ctx.engine.config.voicemail.spool)
    except spool.SpoolError:
        return rows
    files = {m.info.get("msg_id"): m for m in spool.messages(root, context, mailbox)}
    out = []
    for row in rows:
        found = files.get(row["msg_id"])
        if found is None:
            out.append(row)
            continue
        fields = spool.row_fields(found)
        out.append({k: fields.get(k) if v is None and k in fields else v for k, v in row.items()})
    return out


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def users(request: Request) -> Response:
        position, rows = await asyncio.to_thread(ctx.snapshot, "voicemail-users")
        return listing([_user(r, request) for r in by_server(rows, request)],
                       {POSITION_HEADER: str(position)})

    async def user(request: Request) -> Response:
        position, rows = ctx.snapshot("voicemail-users")
        row = find(rows, request.path_params["id"], ("id",), request, "voicemail user")
        return ok(_user(row, request), headers={POSITION_HEADER: str(position)})

    async def messages(request: Request) -> Response:
        context, mailbox = request.query_params["context"], request.query_params["mailbox"]
        server = _box_server(ctx, request, context, mailbox)
        position, rows = await _list_box(ctx, request, server, context, mailbox)
        rows = await asyncio.to_thread(_from_spool, ctx, rows, context, mailbox)
        return listing(rows, {POSITION_HEADER: str(position)})

    async def message(request: Request) -> tuple[str, str, str, str, str]:
        """(server, context, mailbox, folder, msg_id) of the path's message: in the last
        listing of its box, else in a new one; a msgNNNN name read from the spool."""
        context, mailbox = request.query_params["context"], request.query_params["mailbox"]
        folder = request.query_params.get("dir")
        key = request.path_params["detail"]
        server = _box_server(ctx, request, context, mailbox)
        if spool.MSGNAME.match(key) and folder:
            try:
                found = spool.find(spool.open_spool(ctx.engine.config.voicemail.spool),
                                   context, mailbox, key, folder)
            except spool.SpoolError:
                found = None
            if found is not None:
                key = found.info.get("msg_id", key)

        def held(rows: list[Row]) -> Row | None:
            box = box_id(mailbox, context)
            return next((r for r in rows if r["server"] == server and r["box"] == box
                         and r["msg_id"] == key and folder in (None, r["dir"])), None)

        row = held(ctx.snapshot("voicemail-messages")[1])
        if row is None:
            row = held((await _list_box(ctx, request, server, context, mailbox))[1])
        if row is None:
            hint = (" (a msgNNNN name is read from voicemail.spool, with ?dir=: name it by "
                    "its msg_id)" if spool.MSGNAME.match(key) else "")
            raise ApiError(404, f"no message {key!r} in {box_id(mailbox, context)}"
                                f"{' ' + folder if folder else ''}{hint}")
        return server, context, mailbox, row["dir"], key

    async def remove(request: Request) -> Response:
        server, context, mailbox, folder, msg_id = await message(request)
        return await execute(ctx, request, Command(
            "voicemail_remove", server, action("VoicemailRemove", Mailbox=mailbox,
                                               Context=context, Folder=folder, ID=msg_id),
            who(request), [], {"context": context, "mailbox": mailbox, "dir": folder,
                               "msg_id": msg_id}))

    async def move(request: Request) -> Response:
        body = await read_body(request, Move)
        server, context, mailbox, folder, msg_id = await message(request)
        return await execute(ctx, request, Command(
            "voicemail_move", server, action("VoicemailMove", Mailbox=mailbox, Context=context,
                                             Folder=folder, ID=msg_id, ToFolder=body.dir),
            who(request), [], {"context": context, "mailbox": mailbox, "dir": folder,
                               "msg_id": msg_id, "to": body.dir}))

    async def audio(request: Request) -> Response:
        root = _spool_root(ctx)
        context, mailbox = request.query_params["context"], request.query_params["mailbox"]
        if not (spool.component(context) and spool.component(mailbox)):
            raise ApiError(400, "context, mailbox: a name, not a path")
        key, folder = request.path_params["detail"], request.query_params.get("dir")
        found = await asyncio.to_thread(spool.find, root, context, mailbox, key, folder)
        if found is None:
            raise ApiError(404, f"no message {key!r} of {box_id(mailbox, context)} in the "
                                "spool" + (f" folder {folder}" if folder else ""))
        path = found.audio()
        if path is None:
            raise ApiError(404, f"message {key!r} has no audio file in the spool")
        return FileResponse(path, media_type="application/octet-stream",
                            filename=f"{found.msgname}{path.suffix}")

    box = (CONTEXT, MAILBOX, SERVER_PARAM)
    one = (MESSAGE, CONTEXT, MAILBOX, DIR, SERVER_PARAM)
    command = {"role": "operator", "result": COMMAND, "errors": (404, 409, 503, 504)}
    return [
        ApiRoute("/voicemail/users", users, Operation(
            "GET", "Voicemail users (mailboxes) with their message counts and waiting state",
            TAG, params=(SERVER_PARAM,), result=list_result(USER)), ctx.access),
        ApiRoute("/voicemail/users/{id}", user, Operation(
            "GET", "One voicemail user, by mailbox@context (URL-encoded)", TAG,
            params=(Param("id", "path", "mailbox@context, e.g. 100%40default", required=True),
                    SERVER_PARAM), result=USER, errors=(404,)), ctx.access),
        ApiRoute("/voicemail/vms", messages, Operation(
            "GET", "The messages of a mailbox, as Asterisk lists them now", TAG, params=box,
            result=list_result(row_schema("voicemail-messages")), errors=(404, 503, 504),
            description="Sends VoicemailBoxSummary (a command in the log) and answers its "
                        "listing; with voicemail.spool, each message's file completes it."),
            ctx.access),
        ApiRoute("/voicemail/vms/{detail}", audio, Operation(
            "GET", "A message's audio, from Asterisk's spool (voicemail.spool)", TAG,
            params=one, media="application/octet-stream", errors=(404, 501)), ctx.access),
        ApiRoute("/voicemail/vms/{detail}", remove, Operation(
            "DELETE", "Delete a message (AMI VoicemailRemove)", TAG, params=one, **command),
            ctx.access),
        ApiRoute("/voicemail/vms/{detail}", move, Operation(
            "PUT", "Move a message to another folder (AMI VoicemailMove)", TAG, params=one,
            body=Move, **command), ctx.access),
    ]

