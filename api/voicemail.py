"""`/voicemail/*`: mailboxes (seed 004's voicemail users) and their messages.

- `GET /voicemail/users[/<mailbox@context>]`: the `voicemail-users` view (`VoicemailUsersList`
  on every connect and after every reload of app_voicemail, `MessageWaiting` since: `waiting`
  and the counts). A user's `password` (its PIN) is read from voicemail.conf as the `config`
  projection holds it (AMI does not carry it: null for a mailbox the file does not hold), for
  admins only: anyone else gets `"(redacted)"` (`engine/redact.py`).
- `POST /voicemail/users`, `PUT|DELETE /voicemail/users/<mailbox@context>`: the mailbox's line
  in voicemail.conf (`engine/voicemail_conf.py`: the seed's fields are its four fields and its
  options) made (`Append`, after a `NewCat` of a context the file lacks), changed (the fields
  given, the rest of the line kept: `Update`) or deleted (`Delete`), then app_voicemail's
  reload, through `engine/configs.change`: a command in the log, confirmed by reading the file
  back, after which the next `VoicemailUsersList` lists the change. Admins only (the line holds
  the PIN).
- `/voicemail/setting`, `/voicemail/settings[/<filename>]`: voicemail.conf and its versions
  (`api/settings.py`).
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
from api.settings import (
    ERRORS,
    checked_name,
    checked_value,
    current,
    must_have,
    run_change,
    setting_routes,
)
from engine import spool, voicemail_conf
from engine.commands import Command
from engine.configs import Action, Content
from engine.redact import redact
from projections.base import Row
from projections.voicemail import box_id

TAG = "voicemail"
FILE = "voicemail.conf"
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


# a field left out is not given (UNSET); `null` is not a string, so a 400
_LINE_FIELDS = [(name, str | msgspec.UnsetType, msgspec.UNSET)
                for name in (*voicemail_conf.FIELDS, *voicemail_conf.OPTIONS)]
# seed 004's voicemail user body: `context` and `mailbox`, then the line's fields and options
UserCreate = msgspec.defstruct(
    "UserCreate", [("context", str), ("mailbox", str), *_LINE_FIELDS],
    forbid_unknown_fields=True, module=__name__,
    namespace={"__doc__": "A new mailbox: a line of voicemail.conf (seed 004's fields)."})
UserChange = msgspec.defstruct(
    "UserChange", [("context", str | msgspec.UnsetType, msgspec.UNSET),
                   ("mailbox", str | msgspec.UnsetType, msgspec.UNSET),
                   *_LINE_FIELDS], forbid_unknown_fields=True, module=__name__,
    namespace={"__doc__": "The fields of the mailbox's line to change; the others are kept."})


def _pins(ctx: ApiContext) -> dict[tuple[str, str, str], str]:
    """Every mailbox's PIN as voicemail.conf holds it: (server, context, mailbox), lower
    case, to the PIN of the line app_voicemail runs (the last)."""
    _, files = ctx.snapshot("config")
    out: dict[tuple[str, str, str], str] = {}
    for row in files:
        if row["filename"] != FILE or not row["exists"]:
            continue
        for context, mailbox, value in voicemail_conf.mailboxes(_categories(row["content"])):
            out[(row["server"], context.lower(), mailbox.lower())] = (
                voicemail_conf.parse(value).password)
    return out


def _categories(content: Content) -> list[tuple[str, bool, list[list[str]]]]:
    return [(c["name"], bool(c["template"]), c["variables"]) for c in content]


def _user(row: Row, request: Request, pins: dict[tuple[str, str, str], str]) -> Row:
    """The user as this caller may see it: the PIN (from voicemail.conf) for admins only."""
    pin = pins.get((row["server"], str(row["context"]).lower(), str(row["mailbox"]).lower()))
    shown = {**row, "password": pin}
    principal = getattr(request.state, "principal", None)
    return shown if principal is not None and principal.may("admin") else redact(shown)


def _box_name(kind: str, text: str) -> str:
    """A context or mailbox name: a category or variable name of voicemail.conf, and a
    folder of the spool and half of `mailbox@context`."""
    checked_name("category" if kind == "context" else "variable", text)
    if set(text) & set("@/\\,|"):
        raise ApiError(400, f"{kind} {text[:64]!r}: must not hold @ / \\ , or |")
    if kind == "context" and not voicemail_conf.is_context(text):
        raise ApiError(400, f"[{text}] holds voicemail.conf's own settings, not mailboxes: "
                            "change it with PUT /voicemail/setting")
    return text


def _line(line: voicemail_conf.MailboxLine, body: msgspec.Struct) -> str:
    """The mailbox's line with the body's fields set, checked."""
    given = {name: checked_value(name, value) for name, value in _given(body).items()
             if name not in ("context", "mailbox")}
    try:
        text = voicemail_conf.changed(line, given).render()
    except voicemail_conf.LineError as exc:
        raise ApiError(400, str(exc)) from None
    return checked_value("mailbox line", text)


def _given(body: msgspec.Struct) -> dict[str, str]:
    """The body's fields the request gave."""
    return {k: v for k, v in msgspec.structs.asdict(body).items() if v is not msgspec.UNSET}


def _params(body: msgspec.Struct, context: str, mailbox: str) -> dict[str, object]:
    """What the request said, as the command keeps it (its `password` redacted there)."""
    return {**_given(body), "context": context, "mailbox": mailbox}


def _user_server(ctx: ApiContext, request: Request, context: str, mailbox: str) -> str:
    """The Asterisk whose voicemail.conf holds the mailbox: `?server=`, else the only one
    whose file has it, else the only one configured."""
    if "server" in request.query_params:
        return server_for(ctx, request)
    _, files = ctx.snapshot("config")
    servers = sorted({
        row["server"] for row in files if row["filename"] == FILE and row["exists"]
        and voicemail_conf.line_of(_categories(row["content"]), context, mailbox)})
    if len(servers) > 1:
        raise ApiError(400, f"mailbox {box_id(mailbox, context)} is on {', '.join(servers)}: "
                            "pass ?server=")
    return servers[0] if servers else server_for(ctx, request)


def _user_key(request: Request) -> tuple[str, str]:
    """(context, mailbox) of the path's `mailbox@context`."""
    mailbox, sep, context = request.path_params["id"].rpartition("@")
    if not sep:
        raise ApiError(400, "a voicemail user is named mailbox@context (URL-encoded: "
                            "100%40default)")
    return _box_name("context", context), _box_name("mailbox", mailbox)


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
        pins = await asyncio.to_thread(_pins, ctx)
        return listing([_user(r, request, pins) for r in by_server(rows, request)],
                       {POSITION_HEADER: str(position)})

    async def user(request: Request) -> Response:
        position, rows = ctx.snapshot("voicemail-users")
        row = find(rows, request.path_params["id"], ("id",), request, "voicemail user")
        return ok(_user(row, request, _pins(ctx)), headers={POSITION_HEADER: str(position)})

    async def create_user(request: Request) -> Response:
        body = await read_body(request, UserCreate)
        context, mailbox = _box_name("context", body.context), _box_name("mailbox", body.mailbox)
        text = _line(voicemail_conf.MailboxLine(), body)
        server = server_for(ctx, request)
        before = current(ctx, server, FILE)
        if before is not None:
            if voicemail_conf.line_of(_categories(before), context, mailbox) is not None:
                raise ApiError(409, f"voicemail user {box_id(mailbox, context)} exists in "
                                    f"{FILE} of {server}: change it with PUT")
            if any(c["template"] and c["name"].lower() == context.lower() for c in before):
                raise ApiError(400, f"[{context}] is a template in {FILE}, not a context")
        known = before is not None and any(
            not c["template"] and c["name"].lower() == context.lower() for c in before)
        # a context our view lacks is made, unless Asterisk has it already (ignoreerror)
        actions = [] if known else [Action("NewCat", context, options="ignoreerror")]
        actions.append(Action("Append", context, mailbox, text))
        return await run_change(ctx, request, server, FILE, actions, "voicemail_user_create",
                                _params(body, context, mailbox), before)

    async def change_user(request: Request) -> Response:
        body = await read_body(request, UserChange)
        context, mailbox = _user_key(request)
        for name, named in (("context", context), ("mailbox", mailbox)):
            given = _given(body).get(name)
            if given is not None and given.lower() != named.lower():
                raise ApiError(400, f"{name}: {given!r} is not the path's {named!r} (to move "
                                    "a mailbox, DELETE it and POST it anew)")
        server = _user_server(ctx, request, context, mailbox)
        before = must_have(ctx, server, FILE)
        line = voicemail_conf.line_of(_categories(before), context, mailbox)
        if line is None:
            raise ApiError(404, f"no voicemail user {box_id(mailbox, context)} in {FILE} of "
                                f"{server}")
        actions = [Action("Update", context, mailbox, _line(line, body))]
        return await run_change(ctx, request, server, FILE, actions, "voicemail_user_update",
                                _params(body, context, mailbox), before)

    async def delete_user(request: Request) -> Response:
        context, mailbox = _user_key(request)
        server = _user_server(ctx, request, context, mailbox)
        before = must_have(ctx, server, FILE)
        if voicemail_conf.line_of(_categories(before), context, mailbox) is None:
            raise ApiError(404, f"no voicemail user {box_id(mailbox, context)} in {FILE} of "
                                f"{server}")
        return await run_change(ctx, request, server, FILE, [Action("Delete", context, mailbox)],
                                "voicemail_user_delete",
                                {"context": context, "mailbox": mailbox}, before)

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
    write = {"role": "admin", "result": COMMAND, "errors": ERRORS}
    user_id = Param("id", "path", "mailbox@context, e.g. 100%40default", required=True)
    return [
        ApiRoute("/voicemail/users", users, Operation(
            "GET", "Voicemail users (mailboxes) with their message counts and waiting state",
            TAG, params=(SERVER_PARAM,), result=list_result(USER)), ctx.access),
        ApiRoute("/voicemail/users/{id}", user, Operation(
            "GET", "One voicemail user, by mailbox@context (URL-encoded)", TAG,
            params=(user_id, SERVER_PARAM), result=USER, errors=(404,)), ctx.access),
        ApiRoute("/voicemail/users", create_user, Operation(
            "POST", "Create a voicemail user: its line in voicemail.conf, then app_voicemail's "
                    "reload", TAG, params=(SERVER_PARAM,), body=UserCreate, **write),
            ctx.access),
        ApiRoute("/voicemail/users/{id}", change_user, Operation(
            "PUT", "Change a voicemail user: the fields given, in its line of voicemail.conf; "
                   "then app_voicemail's reload", TAG, params=(user_id, SERVER_PARAM),
            body=UserChange, **write), ctx.access),
        ApiRoute("/voicemail/users/{id}", delete_user, Operation(
            "DELETE", "Delete a voicemail user from voicemail.conf, then app_voicemail's "
                      "reload (its messages stay in the spool)", TAG,
            params=(user_id, SERVER_PARAM), **write), ctx.access),
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
        *setting_routes(ctx, "voicemail", FILE, TAG),
    ]

