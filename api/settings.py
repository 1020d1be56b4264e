"""Configuration files over HTTP, for any group whose objects live in a managed file.

Each group (`/queue`: queues.conf, `/park`: res_parking.conf; voicemail, dialplans and pjsip
build on the same helpers) gets from `setting_routes`:

- `GET /<group>/setting`: the file as Asterisk has it now (the `config` projection), as the
  seed shows it: an object of categories, each an object of variables. A name that repeats in
  a category (`member`) is a list of its values in order; a template is `name(!)`, a category
  that inherits `name(tmpl)` (the file's own syntax). With `ordered`, each category is a list
  of `[name, value]` pairs instead, in file order (extensions.conf, where `exten` and `same`
  interleave). With `text` (extensions.conf: the seed's `/dialplan/setting?format=text`), the
  file is its text by default (`engine/configtext.py`), `?format=json` the object.
- `PUT /<group>/setting`: the file replaced by the body (either form; with `text`, also the
  file's text as a JSON string or a `text/plain` body): the categories and variables that
  differ are changed through `UpdateConfig` (`engine/configs.updates`), the module reloaded,
  the file read back to confirm; the answer is the command. A group's `guard` may refuse a
  change (dialplans: a dpma's context is changed through `/dp`, not here).
- `GET /<group>/settings`: every version of the file the log has seen, newest first, each
  `{"filename": "<file>.<time first seen>", <categories>...}` as the seed lists its backups;
  `GET /<group>/settings/<filename>` one of them as `{"list": {<categories>}}` (the seed's
  example); `DELETE` hides it from both (a `ConfigVersionHidden` event: the log keeps it).

`object_routes` serve a group's objects that are whole categories (queues, parking lots):
`POST <path>` makes one (`{"name": ..., <variable>: value or [values]...}`), `PUT <path>/<name>`
replaces its variables (and renames it when the body's `name` differs), `DELETE <path>/<name>`
deletes it, each through `engine/configs.change` with the module's reload. `cfg_object_routes`
serve the same objects in the shape of the seed's V1 `cfg_*` resources (`{"name", "data":
{<variable>: value...}}`, `/admin/park/cfg_parkinglots`), reads included, with the same
writes. `routes` serves `/config/files[/<file>]`: which file changed where and when, category
names only.

Every value is sent as written but stripped; a leading `>` (the seed's `"> Agent/10001"`, an
object line `member => ...`) is dropped: Asterisk treats both forms alike, and `GetConfig`
does not tell them apart. Names and values with line breaks, names with `[`, `]`, `=` or `;`,
and lines longer than Asterisk reads (`MAX_VALUE`) are refused (400).

Configuration holds secrets: reading and writing it needs the admin role; `/config/files`
shows no value and needs viewer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.bodies import read_body
from api.commands import respond, server_for, who
from api.context import ApiContext
from api.envelope import ApiError, listing, ok
from api.readmodel import detail_route, find, list_route
from api.routing import ApiRoute, Handler, Operation, Param
from api.schemas import COMMAND, list_result
from engine import configs
from engine.ami.asterisk_config import UpdateError
from engine.commands import wait_projected
from engine.configs import Action, Change, Content
from engine.configtext import TextError, from_text, to_text

TAG = "config"
MAX_NAME = 255  # characters of a category or variable name
MAX_VALUE = 1000  # bytes of a value: Asterisk reads 1024 per line
RESERVED = ("general",)  # a file's own settings, not an object

SettingBody = dict[str, dict[str, str | list[str]] | list[tuple[str, str]]]
ObjectBody = dict[str, str | list[str]]
Body = type[msgspec.Struct] | dict[str, Any]  # an operation's body: a type, or a JSON schema

_VALUES: dict[str, Any] = {"anyOf": [{"type": "string"},
                                     {"type": "array", "items": {"type": "string"}}]}
OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": _VALUES}
SETTING_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": {"anyOf": [
    OBJECT_SCHEMA,
    {"type": "array", "items": {"type": "array", "items": {"type": "string"},
                                "minItems": 2, "maxItems": 2}}]}}
SETTING_RESULT: dict[str, Any] = {"type": "object"}
SERVER = Param("server", "query", "which Asterisk's file (needed when several are configured)")
ERRORS = (404, 409, 503, 504)
FORMAT = Param("format", "query", "text (the file's text, the default) or json (an object)",
               {"type": "string", "enum": ["text", "json"]})
TEXT_SCHEMA: dict[str, Any] = {"type": "string", "maxLength": 1048576}
Guard = Callable[[str, Content, Content], None]  # (server, before, after): ApiError to refuse


# ------------------------------------------------------------------------------ shapes

def category_key(cat: dict[str, Any]) -> str:
    """A category's key in the seed's object: its name, with the file's template syntax."""
    options = (["!"] if cat.get("template") else []) + list(cat.get("templates") or [])
    return cat["name"] + (f"({','.join(options)})" if options else "")


def setting_object(content: Content, ordered: bool = False) -> dict[str, Any]:
    """A file as the seed shows it (a category that appears twice is shown once, merged)."""
    out: dict[str, Any] = {}
    for cat in content:
        key = category_key(cat)
        if ordered:
            out.setdefault(key, []).extend([k, v] for k, v in cat["variables"])
            continue
        fields: dict[str, Any] = out.setdefault(key, {})
        for name, value in cat["variables"]:
            if name not in fields:
                fields[name] = value
            elif isinstance(fields[name], list):
                fields[name].append(value)
            else:
                fields[name] = [fields[name], value]
    return out


def checked_name(kind: str, text: str) -> str:
    """A category, variable or template name Asterisk reads back as sent, else a 400."""
    if not text or text != text.strip():
        raise ApiError(400, f"{kind} {text[:64]!r}: must not be empty or start or end with "
                            "blanks")
    if len(text) > MAX_NAME:
        raise ApiError(400, f"{kind} {text[:64]!r}...: at most {MAX_NAME} characters")
    bad = set("[];\r\n") | ({"="} if kind == "variable" else set())
    if bad & set(text) or (kind == "variable" and text[0] in "#>"):
        raise ApiError(400, f"{kind} {text[:64]!r}: must not hold [ ] ; = or line breaks, "
                            "nor start with # or >")
    return text


def checked_value(name: str, text: str) -> str:
    """A value fit for one line (stripped, a leading `>` dropped), else a 400."""
    if "\r" in text or "\n" in text:
        raise ApiError(400, f"{name}: line breaks are not allowed")
    text = text.strip()
    if text.startswith(">"):
        text = text[1:].strip()
    if len(text.encode()) > MAX_VALUE:
        raise ApiError(400, f"{name}: at most {MAX_VALUE} bytes (Asterisk reads 1024 per line)")
    return text


def variables_of(fields: dict[str, str | list[str]] | list[tuple[str, str]]
                 ) -> list[list[str]]:
    """A category's variables from the body, in order, checked."""
    pairs = fields.items() if isinstance(fields, dict) else fields
    out: list[list[str]] = []
    for name, values in pairs:
        checked_name("variable", name)
        for value in values if isinstance(values, list) else [values]:
            out.append([name, checked_value(name, value)])
    return out


def parse_key(key: str) -> tuple[str, bool, list[str]]:
    """`name`, `name(!)`, `name(tmpl)`, `name(!,tmpl)` -> (name, template, templates)."""
    name, template, templates = key, False, []
    if key.endswith(")") and "(" in key:
        name, _, options = key[:-1].partition("(")
        for option in (o.strip() for o in options.split(",")):
            if option == "!":
                template = True
            elif option:
                templates.append(checked_name("template", option))
    return checked_name("category", name), template, templates


def content_from(body: SettingBody) -> Content:
    out: Content = []
    seen: set[str] = set()
    for key, fields in body.items():
        name, template, templates = parse_key(key)
        if name.lower() in seen:
            raise ApiError(400, f"category {name!r} given twice")
        seen.add(name.lower())
        out.append({"name": name, "template": template, "templates": templates,
                    "variables": variables_of(fields)})
    return out


def content_of_text(text: str) -> Content:
    """A file's text as content, checked as the object form is (`content_from`)."""
    try:
        content = from_text(text)
    except TextError as exc:
        raise ApiError(400, str(exc)) from None
    if not content:
        raise ApiError(400, "the text holds no category: a PUT replaces the whole file")
    return content_from({category_key(c): c["variables"] for c in content})


async def text_or_setting(request: Request) -> Content:
    """A PUT body of a setting with a text form: a `text/...` body is the file's text, any
    other is JSON, the object form or the text as a string."""
    if request.headers.get("content-type", "").lower().startswith("text/"):
        raw = await request.body()
        try:
            return content_of_text(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(400, "body is not UTF-8 text") from None
    body = await read_body(request, SettingBody | str)
    return content_of_text(body) if isinstance(body, str) else content_from(body)


# ------------------------------------------------------------------------------ reading

def file_row(ctx: ApiContext, server: str, filename: str) -> dict[str, Any] | None:
    _, rows = ctx.snapshot("config")
    return next((r for r in rows if r["server"] == server and r["filename"] == filename),
                None)


def current(ctx: ApiContext, server: str, filename: str) -> Content | None:
    """The file's content as the read models hold it (None: never read, or not there)."""
    row = file_row(ctx, server, filename)
    return row["content"] if row is not None and row["exists"] else None


def must_have(ctx: ApiContext, server: str, filename: str) -> Content:
    content = current(ctx, server, filename)
    if content is None:
        raise ApiError(404, f"{filename} of {server} has not been read (not connected yet, "
                            "or Asterisk has no such file)")
    return content


def versions(ctx: ApiContext, server: str, filename: str) -> list[dict[str, Any]]:
    """The file's versions still listed, newest first."""
    _, rows = ctx.snapshot("config-versions")
    return [r for r in rows
            if r["server"] == server and r["file"] == filename and not r["hidden"]]


def version(ctx: ApiContext, request: Request, server: str, filename: str) -> dict[str, Any]:
    name = request.path_params["version"]
    found = next((r for r in versions(ctx, server, filename) if r["filename"] == name), None)
    if found is None:
        raise ApiError(404, f"no version {name!r} of {filename} of {server}")
    return found


# ------------------------------------------------------------------------------ writing

async def run_change(ctx: ApiContext, request: Request, server: str, filename: str,
                     actions: list[Action], name: str, params: dict[str, Any],
                     before: Content | None) -> Response:
    """The change as a command (`engine/configs.change`), answered like every command."""
    change = Change(server, filename, actions, name, who(request), params, before)
    return await respond(ctx, await configs.change(ctx.commands, change))


async def replace_file(ctx: ApiContext, request: Request, server: str, filename: str,
                       name: str, after: Content, guard: Guard | None = None) -> Response:
    """The whole file made `after`: what differs changed, as the command `name`."""
    before = must_have(ctx, server, filename)
    if guard is not None:
        guard(server, before, after)
    try:
        actions = configs.updates(before, after)
    except UpdateError as exc:
        raise ApiError(400, exc.message) from None
    return await run_change(ctx, request, server, filename, actions, name,
                            {"filename": filename, "categories": [c["name"] for c in after]},
                            before)


def setting_routes(ctx: ApiContext, group: str, filename: str, tag: str,
                   ordered: bool = False, text: Collection[str] | None = None,
                   guard: Guard | None = None) -> list[BaseRoute]:
    """`text`: the file has the seed's text form, these names written `name => value`."""
    async def get_setting(request: Request) -> Response:
        server = server_for(ctx, request)
        content = must_have(ctx, server, filename)
        if text is not None and request.state.params.get("format", "text") == "text":
            return ok(to_text(content, text))
        return ok(setting_object(content, ordered))

    async def put_setting(request: Request) -> Response:
        if text is not None:
            after = await text_or_setting(request)
        else:
            after = content_from(await read_body(request, SettingBody))
        server = server_for(ctx, request)
        return await replace_file(ctx, request, server, filename, f"{group}_setting", after,
                                  guard)

    async def list_versions(request: Request) -> Response:
        server = server_for(ctx, request)
        return listing([{"filename": r["filename"], **setting_object(r["content"], ordered)}
                        for r in versions(ctx, server, filename)])

    async def get_version(request: Request) -> Response:
        server = server_for(ctx, request)
        return ok({"list": setting_object(version(ctx, request, server, filename)["content"],
                                          ordered)})

    async def hide_version(request: Request) -> Response:
        server = server_for(ctx, request)
        name = version(ctx, request, server, filename)["filename"]
        position = await configs.hide_version(ctx.engine.log, server, filename, name,
                                              who(request))
        projector = ctx.engine.projector
        await wait_projected(lambda: projector.position, position)
        return ok()

    detail = Param("version", "path", f"a version's name: {filename}.<time first seen>",
                   required=True)
    admin = {"tag": tag, "role": "admin"}
    return [
        ApiRoute(f"/{group}/setting", get_setting, Operation(
            "GET", f"{filename} as Asterisk has it now",
            params=(SERVER,) if text is None else (SERVER, FORMAT),
            result=SETTING_RESULT if text is None else {"anyOf": [SETTING_RESULT, TEXT_SCHEMA]},
            errors=(404,), **admin), ctx.access),
        ApiRoute(f"/{group}/setting", put_setting, Operation(
            "PUT", f"Replace {filename} (UpdateConfig of what differs, then its module's "
                   "reload)", params=(SERVER,),
            body=SETTING_SCHEMA if text is None else {"anyOf": [SETTING_SCHEMA, TEXT_SCHEMA]},
            result=COMMAND, errors=ERRORS, **admin), ctx.access),
        ApiRoute(f"/{group}/settings", list_versions, Operation(
            "GET", f"Every version of {filename} the log has seen, newest first",
            params=(SERVER,), result={"type": "object", "properties": {
                "list": {"type": "array", "items": {"type": "object"}}}, "required": ["list"]},
            **admin), ctx.access),
        ApiRoute(f"/{group}/settings/{{version}}", get_version, Operation(
            "GET", f"One version of {filename}", params=(detail, SERVER),
            result={"type": "object", "properties": {"list": {"type": "object"}},
                    "required": ["list"]}, errors=(404,), **admin), ctx.access),
        ApiRoute(f"/{group}/settings/{{version}}", hide_version, Operation(
            "DELETE", f"Hide a version of {filename} from the list (the log keeps it)",
            params=(detail, SERVER), errors=(404,), **admin), ctx.access),
    ]


def object_category(filename: str, noun: str, name: str) -> str:
    """A name fit for an object of `filename` (not its `[general]`), else a 400."""
    checked_name("category", name)
    if name.lower() in RESERVED:
        raise ApiError(400, f"[{name}] holds {filename}'s own settings, not a {noun}: "
                            "change it with the group's setting")
    return name


def find_object(content: Content | None, name: str) -> dict[str, Any] | None:
    """The object (a category that is not a template) of that name, compared without case."""
    return next((c for c in content or () if c["name"].lower() == name.lower()
                 and not c["template"]), None)


def _verb(noun: str, what: str) -> str:
    return f"{noun.replace(' ', '_')}_{what}"


async def create_object(ctx: ApiContext, request: Request, filename: str, noun: str,
                        name: str, fields: ObjectBody) -> Response:
    """A new category `name` holding `fields` (values checked), then the module's reload."""
    object_category(filename, noun, name)
    server = server_for(ctx, request)
    cat = {"name": name, "template": False, "templates": [], "variables": variables_of(fields)}
    return await run_change(ctx, request, server, filename, configs.new_category(cat),
                            _verb(noun, "create"), {"name": name, **fields},
                            current(ctx, server, filename))


async def replace_object(ctx: ApiContext, request: Request, filename: str, noun: str,
                         name: str, new_name: str | None, fields: ObjectBody) -> Response:
    """The category's variables replaced by `fields` (renamed first when `new_name`
    differs), then the module's reload."""
    object_category(filename, noun, name)
    new_name = object_category(filename, noun, new_name) if new_name is not None else name
    server = server_for(ctx, request)
    before = current(ctx, server, filename)
    was = find_object(before, name)
    actions = [Action("RenameCat", name, value=new_name)] if new_name != name else []
    after = {"name": new_name, "template": False,
             "templates": was["templates"] if was else [], "variables": variables_of(fields)}
    if was is None:  # not in our view: Asterisk says whether it exists
        actions += [Action("EmptyCat", new_name),
                    *(Action("Append", new_name, k, v) for k, v in after["variables"])]
    else:
        actions += configs.updates([{**was, "name": new_name}], [after])
    return await run_change(ctx, request, server, filename, actions, _verb(noun, "update"),
                            {"name": name, "new_name": new_name, **fields}, before)


async def delete_object(ctx: ApiContext, request: Request, filename: str, noun: str,
                        name: str) -> Response:
    """`DelCat`, then the module's reload."""
    object_category(filename, noun, name)
    server = server_for(ctx, request)
    return await run_change(ctx, request, server, filename, [Action("DelCat", name)],
                            _verb(noun, "delete"), {"name": name},
                            current(ctx, server, filename))


def object_routes(ctx: ApiContext, path: str, filename: str, noun: str, tag: str
                  ) -> list[BaseRoute]:
    """POST `path`, PUT and DELETE `path/<name>`: a category of `filename` per object."""

    def object_name(body: ObjectBody, required: bool) -> str | None:
        name = body.pop("name", None)
        if name is None and required:
            raise ApiError(400, "name: required field missing")
        if isinstance(name, list):
            raise ApiError(400, "name: expected a string, got an array")
        return name

    async def create(request: Request) -> Response:
        body = await read_body(request, ObjectBody)
        name = object_name(body, True)
        assert name is not None
        return await create_object(ctx, request, filename, noun, name, body)

    async def replace(request: Request) -> Response:
        body = await read_body(request, ObjectBody)
        new_name = object_name(body, False)
        return await replace_object(ctx, request, filename, noun, request.path_params["name"],
                                    new_name, body)

    async def delete(request: Request) -> Response:
        return await delete_object(ctx, request, filename, noun, request.path_params["name"])

    return _write_routes(ctx, path, filename, noun, tag, (create, replace, delete),
                         ({**OBJECT_SCHEMA, "required": ["name"]}, OBJECT_SCHEMA))



def _write_routes(ctx: ApiContext, path: str, filename: str, noun: str, tag: str,
                  handlers: tuple[Handler, Handler, Handler], bodies: tuple[Body, Body]
                  ) -> list[BaseRoute]:
    """POST `path`, PUT and DELETE `path/<name>` with these (create, replace, delete)
    handlers and (create, replace) bodies: admins only, answering the command."""
    create, replace, delete = handlers
    target = Param("name", "path", f"the {noun}'s name (URL-encoded)", required=True)
    admin = {"tag": tag, "role": "admin", "result": COMMAND, "errors": ERRORS}
    return [
        ApiRoute(path, create, Operation(
            "POST", f"Create a {noun}: a category of {filename}, then its module's reload",
            params=(SERVER,), body=bodies[0], **admin), ctx.access),
        ApiRoute(f"{path}/{{name}}", replace, Operation(
            "PUT", f"Replace a {noun}'s settings (rename it with `name`)",
            params=(target, SERVER), body=bodies[1], **admin), ctx.access),
        ApiRoute(f"{path}/{{name}}", delete, Operation(
            "DELETE", f"Delete a {noun} from {filename}, then its module's reload",
            params=(target, SERVER), **admin), ctx.access),
    ]


class CfgObject(msgspec.Struct, forbid_unknown_fields=True):
    """A new object in the seed's V1 `cfg_*` shape: its name, its variables."""

    name: str
    data: dict[str, str | list[str]] = msgspec.field(default_factory=dict)


class CfgObjectChange(msgspec.Struct, forbid_unknown_fields=True):
    """An object's variables, all of them (what `data` leaves out is deleted); a `name` that
    differs renames it."""

    data: dict[str, str | list[str]]
    name: str | None = None


CFG_ROW: dict[str, Any] = {"type": "object", "properties": {
    "name": {"type": "string"}, "data": OBJECT_SCHEMA, "server": {"type": "string"}},
    "required": ["name", "data", "server"]}


def cfg_rows(ctx: ApiContext, filename: str) -> list[dict[str, Any]]:
    """Every server's objects of `filename` (its categories but `[general]` and templates) as
    `{"name", "data", "server"}`, in file order."""
    _, files = ctx.snapshot("config")
    out = []
    for row in files:
        if row["filename"] != filename or not row["exists"]:
            continue
        for cat in row["content"]:
            if cat["template"] or cat["name"].lower() in RESERVED:
                continue
            data = setting_object([cat])[category_key(cat)]
            out.append({"name": cat["name"], "data": data, "server": row["server"]})
    return out


def cfg_object_routes(ctx: ApiContext, path: str, filename: str, noun: str, tag: str
                      ) -> list[BaseRoute]:
    """GET and POST `path`, GET, PUT and DELETE `path/<name>`: the objects of `filename` as
    `{"name", "data"}` (the file as the `config` projection holds it), written as
    `object_routes` writes them."""

    async def list_objects(request: Request) -> Response:
        rows = cfg_rows(ctx, filename)
        server = request.query_params.get("server")
        return listing([r for r in rows if server is None or r["server"] == server])

    async def get_object(request: Request) -> Response:
        return ok(find(cfg_rows(ctx, filename), request.path_params["name"], ("name",),
                       request, noun))

    async def create(request: Request) -> Response:
        body = await read_body(request, CfgObject)
        return await create_object(ctx, request, filename, noun, body.name, body.data)

    async def replace(request: Request) -> Response:
        body = await read_body(request, CfgObjectChange)
        return await replace_object(ctx, request, filename, noun, request.path_params["name"],
                                    body.name, body.data)

    async def delete(request: Request) -> Response:
        return await delete_object(ctx, request, filename, noun, request.path_params["name"])

    target = Param("name", "path", f"the {noun}'s name (URL-encoded)", required=True)
    admin = {"tag": tag, "role": "admin"}
    return [
        ApiRoute(path, list_objects, Operation(
            "GET", f"The {noun}s of {filename} as the file has them: name and settings",
            params=(SERVER,), result=list_result(CFG_ROW), **admin), ctx.access),
        ApiRoute(f"{path}/{{name}}", get_object, Operation(
            "GET", f"One {noun} of {filename}", params=(target, SERVER), result=CFG_ROW,
            errors=(404,), **admin), ctx.access),
        *_write_routes(ctx, path, filename, noun, tag, (create, replace, delete),
                       (CfgObject, CfgObjectChange)),
    ]


def routes(ctx: ApiContext) -> list[BaseRoute]:
    return [
        list_route(ctx, "/config/files", "config-files", TAG,
                   "Each server's managed configuration files: version, categories, what "
                   "changed last (no values)"),
        detail_route(ctx, "/config/files/{filename}", "config-files", "filename",
                     ("filename",), TAG, "One managed configuration file", "file"),
    ]
