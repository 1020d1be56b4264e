"""jade's dialplans: `/dp/dpmas`, `/dp/dialplans`, `/dialplan/setting[s]`, and the V1
`/admin/dialplan/configurations` and `/admin/dialplan/sdps`.

Dialplan masters and dialplans are aggregates rendered into extensions.conf contexts
(`engine/dialplans/`): `POST` creates, `GET` lists or reads one, `PUT` changes (partial: the
fields given), `DELETE` deletes (a dpma with dialplans only with `?force=1`, which deletes them
too). A write answers the object (as the following `GET` shows it) once Asterisk changed and
reloaded the file and the aggregate's event is projected; the command that changed the file is
in `X-Switchboard-Command`. Asterisk's refusal is its command's 4xx, and nothing of the object
is stored. A client may send back what it read: `uuid`, `server`, `context`, `tm_create` and
`tm_update` are accepted unchanged, refused changed. The V1 `/admin/dialplan/adps` and `adpmas`
are these routes (`api/v1.py`).

`/dialplan/setting` is extensions.conf (`api/settings.py`), as text by default (the seed's
`?format=text`), `?format=json` as ordered pairs; `/dialplan/settings` its versions. The V1
forms, with the seed's `{name, data}` rows:

- `/admin/dialplan/configurations`: `extensions.conf` (now) and each version the log has seen,
  `extensions.conf.<time first seen>`, `data` the text. `PUT .../extensions.conf` with
  `{"data": "<text>"}` replaces the file; a version cannot be changed (400), only hidden
  (`DELETE`: the log keeps it); the current file cannot be deleted (400).
- `/admin/dialplan/sdps`: the static dialplans, every context of extensions.conf but
  `[general]`, `[globals]`, templates and the dpmas' contexts; `data` its lines in order as
  jade showed them, `{"exten": "> _X.,1,NoOp()"}` (`name => value`: pbx_config's directives
  carry the `>`). `PUT .../<context>` with `{"data": [...]}` writes the context whole (made if
  new); an item is `{"<name>": "<value>"}` (a leading `>` dropped) or jade's
  `{"type": "<name>", "data": "<value>"}`. `DELETE` deletes the context.

A dpma's context is changed only through `/dp`: a setting, configuration or sdp write that
would change it is refused (400).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.bodies import read_body
from api.commands import COMMAND_HEADER, respond, server_for, who
from api.context import ApiContext
from api.envelope import ApiError, listing, ok
from api.readmodel import detail_route, list_route
from api.routing import FLAG, ApiRoute, Operation, Param
from api.schemas import COMMAND, list_result, obj, row_schema
from api.settings import (
    SERVER,
    content_of_text,
    current,
    must_have,
    parse_key,
    replace_file,
    run_change,
    setting_routes,
    variables_of,
    versions,
)
from engine import configs
from engine.commands import wait_projected
from engine.configs import Action, Content
from engine.configtext import to_text
from engine.dialer.objects import Invalid
from engine.dialplans import render
from engine.dialplans.commands import FILE, Conflict, DialplanCommands, Failed, NotFound
from engine.dialplans.objects import FIELDS
from projections import config as config_view
from projections import dialplans as dp_view

log = logging.getLogger("switchboard.dialplans")

TAG = "dialplan"
NOT_CONTEXTS = ("general", "globals")  # extensions.conf's own settings and variables

Name = Annotated[str, Meta(max_length=255)]
Detail = Annotated[str, Meta(max_length=1023)]
CommandText = Annotated[str, Meta(max_length=1000)]
Sequence = Annotated[int, Meta(ge=1, le=2_147_483_647)]
Uuid = Annotated[str, Meta(max_length=64)]
Shown = Annotated[str, Meta(max_length=1024)]  # read-only fields a client sends back


class DpmaCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None
    detail: Detail | None = None
    uuid: Uuid | None = None  # a client may choose it


class DpmaChange(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None | UnsetType = UNSET
    detail: Detail | None | UnsetType = UNSET
    uuid: Shown | None | UnsetType = UNSET
    server: Shown | None | UnsetType = UNSET
    context: Shown | None | UnsetType = UNSET
    tm_create: Shown | None | UnsetType = UNSET
    tm_update: Shown | None | UnsetType = UNSET


class DialplanCreate(msgspec.Struct, forbid_unknown_fields=True):
    dpma_uuid: Uuid
    sequence: Sequence
    name: Name | None = None
    detail: Detail | None = None
    command: CommandText | None = None
    uuid: Uuid | None = None


class DialplanChange(msgspec.Struct, forbid_unknown_fields=True):
    dpma_uuid: Uuid | UnsetType = UNSET
    sequence: Sequence | UnsetType = UNSET
    name: Name | None | UnsetType = UNSET
    detail: Detail | None | UnsetType = UNSET
    command: CommandText | None | UnsetType = UNSET
    uuid: Shown | None | UnsetType = UNSET
    server: Shown | None | UnsetType = UNSET
    tm_create: Shown | None | UnsetType = UNSET
    tm_update: Shown | None | UnsetType = UNSET


Line = dict[Annotated[str, Meta(max_length=255)], Annotated[str, Meta(max_length=1024)]]


class SdpBody(msgspec.Struct, forbid_unknown_fields=True):
    data: Annotated[list[Line], Meta(max_length=10000)]
    name: Name | None = None


class ConfigurationBody(msgspec.Struct, forbid_unknown_fields=True):
    data: Annotated[str, Meta(max_length=1048576)]
    name: Name | None = None


def given(body: msgspec.Struct, kind: str) -> dict[str, Any]:
    """The object's fields the body gives (a PUT changes only those)."""
    return {f: getattr(body, f) for f in FIELDS[kind] if getattr(body, f) is not UNSET}


def unchanged(body: msgspec.Struct, row: dict[str, Any] | None, fields: tuple[str, ...]
              ) -> None:
    """Read-only fields sent back must be what they are."""
    for name in fields:
        value = getattr(body, name)
        if value is not UNSET and row is not None and value != row.get(name):
            raise ApiError(400, f"{name}: read-only")


# ------------------------------------------------------------------------------ the contexts

def dpma_contexts(ctx: ApiContext, server: str) -> dict[str, str]:
    """The contexts of the server's dpmas (lower case) -> the dpma's uuid."""
    state = ctx.engine.projector.state(dp_view.NAME)
    return {render.context_of(u).lower(): u for u, d in list(state["dpmas"].items())
            if d.get("server") == server}


def guard(ctx: ApiContext) -> Callable[[str, Content, Content], None]:
    """Refuse a whole-file write that changes a dpma's context."""
    def check(server: str, before: Content, after: Content) -> None:
        managed = dpma_contexts(ctx, server)

        def of(content: Content, name: str) -> list[Any]:
            return [(c["template"], c["templates"], c["variables"]) for c in content
                    if c["name"].lower() == name]

        for name, uuid in managed.items():
            if of(before, name) != of(after, name):
                raise managed_elsewhere(uuid)
    return check


def managed_elsewhere(uuid: str) -> ApiError:
    return ApiError(400, f"[{render.context_of(uuid)}] is dpma {uuid}'s context: change it "
                         f"through /dp/dpmas/{uuid} and /dp/dialplans")


def sdp_name(ctx: ApiContext, server: str, name: str) -> str:
    key, template, templates = parse_key(name)
    if template or templates or key != name:
        raise ApiError(400, f"{name!r}: a context name, without template options")
    if name.lower() in NOT_CONTEXTS:
        raise ApiError(400, f"[{name}] is not a context: change it with /dialplan/setting")
    uuid = dpma_contexts(ctx, server).get(name.lower())
    if uuid is not None:
        raise managed_elsewhere(uuid)
    return name


def sdp_row(cat: dict[str, Any]) -> dict[str, Any]:
    return {"name": cat["name"], "data": [
        {k: f"> {v}" if k.lower() in render.OBJECTS else v} for k, v in cat["variables"]]}


def sdps(ctx: ApiContext, server: str) -> list[dict[str, Any]]:
    managed = dpma_contexts(ctx, server)
    return [c for c in must_have(ctx, server, FILE)
            if not c["template"] and c["name"].lower() not in NOT_CONTEXTS
            and c["name"].lower() not in managed]


def sdp_lines(body: SdpBody) -> list[tuple[str, str]]:
    out = []
    for n, item in enumerate(body.data):
        if set(item) == {"type", "data"}:
            out.append((item["type"], item["data"]))
        elif len(item) == 1:
            out.append(next(iter(item.items())))
        else:
            raise ApiError(400, f"data[{n}]: one {{\"<name>\": \"<value>\"}} (or jade's "
                                "{\"type\", \"data\"}) per line")
    return out


# ------------------------------------------------------------------------------ routes

_tasks: set[asyncio.Task[None]] = set()


async def recover(writes: DialplanCommands) -> None:
    """On start: the aggregate events of writes a crash left behind (`DialplanCommands`)."""
    try:
        appended = await writes.recover()
    except Exception:  # the API serves without it; the next write tries again
        log.exception("recovering the dialplans' outbox failed")
        return
    if appended:
        log.warning("appended %d dialplan event(s) a crash had left behind", appended)


def routes(ctx: ApiContext) -> list[BaseRoute]:
    projector = ctx.engine.projector

    def config_file(server: str) -> Content | None:
        return config_view.content_at(projector.state(config_view.NAME), server, FILE)

    writes = DialplanCommands(ctx.engine.log, ctx.engine.store, ctx.commands,
                              lambda: projector.state(dp_view.NAME), config_file,
                              lambda: projector.position)
    recovering = asyncio.get_running_loop().create_task(recover(writes))
    _tasks.add(recovering)
    recovering.add_done_callback(_tasks.discard)

    def row_of(kind: str, uuid: str) -> dict[str, Any] | None:
        found = projector.state(dp_view.NAME)[f"{kind}s"].get(uuid)
        return dp_view.ROWS[kind](found) if found is not None else None

    async def answered(kind: str, write: Awaitable[Any]) -> Response:
        try:
            written = await write
        except Invalid as exc:
            raise ApiError(400, str(exc)) from None
        except NotFound as exc:
            raise ApiError(404, str(exc)) from None
        except Conflict as exc:
            raise ApiError(409, str(exc)) from None
        except Failed as exc:
            return await respond(ctx, exc.outcome)  # raises the command's 4xx/5xx
        headers = {COMMAND_HEADER: written.command} if written.command else None
        return ok(dp_view.ROWS[kind](written.obj), headers=headers)

    async def create_dpma(request: Request) -> Response:
        body = await read_body(request, DpmaCreate)
        server = server_for(ctx, request)
        return await answered("dpma", writes.create_dpma(
            server, given(body, "dpma"), body.uuid, who(request)))

    async def update_dpma(request: Request) -> Response:
        body = await read_body(request, DpmaChange)
        uuid = request.path_params["uuid"]
        unchanged(body, row_of("dpma", uuid),
                  ("uuid", "server", "context", "tm_create", "tm_update"))
        return await answered("dpma", writes.update_dpma(uuid, given(body, "dpma"),
                                                         who(request)))

    async def delete_dpma(request: Request) -> Response:
        force = request.state.params.get("force", 0) == 1
        return await answered("dpma", writes.delete_dpma(request.path_params["uuid"], force,
                                                         who(request)))

    async def create_dialplan(request: Request) -> Response:
        body = await read_body(request, DialplanCreate)
        return await answered("dialplan", writes.create_dialplan(
            given(body, "dialplan"), body.uuid, who(request)))

    async def update_dialplan(request: Request) -> Response:
        body = await read_body(request, DialplanChange)
        uuid = request.path_params["uuid"]
        unchanged(body, row_of("dialplan", uuid), ("uuid", "server", "tm_create", "tm_update"))
        return await answered("dialplan", writes.update_dialplan(
            uuid, given(body, "dialplan"), who(request)))

    async def delete_dialplan(request: Request) -> Response:
        return await answered("dialplan", writes.delete_dialplan(request.path_params["uuid"],
                                                                 who(request)))

    # -- V1: configurations and static dialplans ------------------------------------------

    def configuration(server: str, name: str) -> dict[str, Any]:
        if name == FILE:
            return {"name": FILE, "data": to_text(must_have(ctx, server, FILE), render.OBJECTS)}
        found = next((v for v in versions(ctx, server, FILE) if v["filename"] == name), None)
        if found is None:
            raise ApiError(404, f"no configuration {name!r} of {server}")
        return {"name": name, "data": to_text(found["content"], render.OBJECTS)}

    async def list_configurations(request: Request) -> Response:
        server = server_for(ctx, request)
        names = [FILE] + [v["filename"] for v in versions(ctx, server, FILE)]
        return listing([configuration(server, n) for n in names])

    async def get_configuration(request: Request) -> Response:
        return ok(configuration(server_for(ctx, request), request.path_params["name"]))

    async def put_configuration(request: Request) -> Response:
        body = await read_body(request, ConfigurationBody)
        name = request.path_params["name"]
        if body.name is not None and body.name != name:
            raise ApiError(400, f"name: {body.name!r} is not the path's {name!r}")
        if name != FILE:
            raise ApiError(400, f"only {FILE} can be changed: a version stays as it was (PUT "
                                f"its data to {FILE} to go back to it)")
        return await replace_file(ctx, request, server_for(ctx, request), FILE,
                                  "dialplan_configuration", content_of_text(body.data),
                                  guard(ctx))

    async def delete_configuration(request: Request) -> Response:
        name = request.path_params["name"]
        server = server_for(ctx, request)
        if name == FILE:
            raise ApiError(400, f"the current {FILE} cannot be deleted, only its versions")
        configuration(server, name)
        position = await configs.hide_version(ctx.engine.log, server, FILE, name, who(request))
        await wait_projected(lambda: projector.position, position)
        return ok()

    async def list_sdps(request: Request) -> Response:
        return listing([sdp_row(c) for c in sdps(ctx, server_for(ctx, request))])

    async def get_sdp(request: Request) -> Response:
        name = request.path_params["name"]
        found = next((c for c in sdps(ctx, server_for(ctx, request))
                      if c["name"].lower() == name.lower()), None)
        if found is None:
            raise ApiError(404, f"no static dialplan {name!r}")
        return ok(sdp_row(found))

    async def put_sdp(request: Request) -> Response:
        body = await read_body(request, SdpBody)
        server = server_for(ctx, request)
        name = sdp_name(ctx, server, request.path_params["name"])
        if body.name is not None and body.name != name:
            raise ApiError(400, f"name: {body.name!r} is not the path's {name!r}")
        before = must_have(ctx, server, FILE)
        wanted = {"name": name, "template": False, "templates": [],
                  "variables": variables_of(sdp_lines(body))}
        was = [c for c in before if c["name"].lower() == name.lower()]
        after = ([wanted if c is was[0] else c for c in before
                  if not any(c is other for other in was[1:])] if was else [*before, wanted])
        return await run_change(ctx, request, server, FILE, configs.updates(before, after),
                                "dialplan_sdp_update", {"name": name, "lines": len(body.data)},
                                before)

    async def delete_sdp(request: Request) -> Response:
        server = server_for(ctx, request)
        name = sdp_name(ctx, server, request.path_params["name"])
        return await run_change(ctx, request, server, FILE, [Action("DelCat", name)],
                                "dialplan_sdp_delete", {"name": name},
                                current(ctx, server, FILE))

    uuid = Param("uuid", "path", "the object's uuid", required=True)
    force = Param("force", "query", "1: delete the dpma's dialplans too", FLAG)
    name = Param("name", "path", "extensions.conf, or a version's name", required=True)
    context = Param("name", "path", "the context's name (URL-encoded)", required=True)
    write = {"tag": TAG, "role": "admin", "errors": (404, 409, 503, 504)}
    admin = {"tag": TAG, "role": "admin"}
    sdp = obj(("name", "data"), name={"type": "string"},
              data={"type": "array", "items": {"type": "object"}})
    conf = obj(("name", "data"), name={"type": "string"}, data={"type": "string"})
    return [
        list_route(ctx, "/dp/dpmas", "dpmas", TAG, "Dialplan masters (extensions.conf contexts)"),
        ApiRoute("/dp/dpmas", create_dpma, Operation(
            "POST", "Create a dialplan master: its context in extensions.conf, pbx_config "
                    "reloaded", params=(SERVER,), body=DpmaCreate, result=row_schema("dpmas"),
            **write), ctx.access),
        detail_route(ctx, "/dp/dpmas/{uuid}", "dpmas", "uuid", ("uuid",), TAG,
                     "One dialplan master", "dpma"),
        ApiRoute("/dp/dpmas/{uuid}", update_dpma, Operation(
            "PUT", "Change a dialplan master (the fields given)", params=(uuid,),
            body=DpmaChange, result=row_schema("dpmas"), **write), ctx.access),
        ApiRoute("/dp/dpmas/{uuid}", delete_dpma, Operation(
            "DELETE", "Delete a dialplan master and its context (with its dialplans: force=1)",
            params=(uuid, force), result=row_schema("dpmas"), **write), ctx.access),
        list_route(ctx, "/dp/dialplans", "dialplans", TAG,
                   "Dialplans: the priorities of their dpma's context, in sequence order"),
        ApiRoute("/dp/dialplans", create_dialplan, Operation(
            "POST", "Create a dialplan: a priority of its dpma's context", body=DialplanCreate,
            result=row_schema("dialplans"), **write), ctx.access),
        detail_route(ctx, "/dp/dialplans/{uuid}", "dialplans", "uuid", ("uuid",), TAG,
                     "One dialplan", "dialplan"),
        ApiRoute("/dp/dialplans/{uuid}", update_dialplan, Operation(
            "PUT", "Change a dialplan (the fields given)", params=(uuid,),
            body=DialplanChange, result=row_schema("dialplans"), **write), ctx.access),
        ApiRoute("/dp/dialplans/{uuid}", delete_dialplan, Operation(
            "DELETE", "Delete a dialplan: its priority leaves the context", params=(uuid,),
            result=row_schema("dialplans"), **write), ctx.access),
        *setting_routes(ctx, "dialplan", FILE, TAG, ordered=True, text=render.OBJECTS,
                        guard=guard(ctx)),
        ApiRoute("/admin/dialplan/configurations", list_configurations, Operation(
            "GET", "extensions.conf and every version of it, as text", params=(SERVER,),
            result=list_result(conf), **admin), ctx.access),
        ApiRoute("/admin/dialplan/configurations/{name}", get_configuration, Operation(
            "GET", "extensions.conf or one version of it, as text", params=(name, SERVER),
            result=conf, errors=(404,), **admin), ctx.access),
        ApiRoute("/admin/dialplan/configurations/{name}", put_configuration, Operation(
            "PUT", "Replace extensions.conf with a text (UpdateConfig of what differs, then "
                   "pbx_config's reload)", params=(name, SERVER), body=ConfigurationBody,
            result=COMMAND, **write), ctx.access),
        ApiRoute("/admin/dialplan/configurations/{name}", delete_configuration, Operation(
            "DELETE", "Hide a version of extensions.conf from the list (the log keeps it)",
            params=(name, SERVER), errors=(404,), **admin), ctx.access),
        ApiRoute("/admin/dialplan/sdps", list_sdps, Operation(
            "GET", "Static dialplans: the contexts of extensions.conf", params=(SERVER,),
            result=list_result(sdp), **admin), ctx.access),
        ApiRoute("/admin/dialplan/sdps/{name}", get_sdp, Operation(
            "GET", "One context of extensions.conf", params=(context, SERVER), result=sdp,
            errors=(404,), **admin), ctx.access),
        ApiRoute("/admin/dialplan/sdps/{name}", put_sdp, Operation(
            "PUT", "Write a context of extensions.conf whole (made if new), then pbx_config's "
                   "reload", params=(context, SERVER), body=SdpBody, result=COMMAND, **write),
            ctx.access),
        ApiRoute("/admin/dialplan/sdps/{name}", delete_sdp, Operation(
            "DELETE", "Delete a context of extensions.conf, then pbx_config's reload",
            params=(context, SERVER), result=COMMAND, **write), ctx.access),
    ]

