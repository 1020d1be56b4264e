"""`/ob/*`: the outbound dialer's objects, live dialings and results (seed 3.9).

Plans, destinations, dial list masters (dlmas), dial list entries (dls), campaigns and, beyond
the seed, do-not-call entries (dncs): `POST` creates, `GET` lists or reads one, `PUT` changes
(partial), `DELETE` soft-deletes (`?force=1`; a dlma also `?delete_dls=1`). Every write answers
the whole object in `result` (seed 1.2) once its event is durable and projected, so a `GET`
right after it sees it. `/ob/dialings` are the calls in flight (`DELETE` hangs one up);
`/ob/results` the finished ones, with filters. The seed's V1 tutorial paths (`/plans`, ...)
are served too; the app serves everything under `/v1` as well.

The handlers are thin: parse, call the dialer's commands (`engine/dialer/commands.py`), shape
the envelope. Errors are the seed's envelope: 400 (bad body, not deletable), 404, 409 (the
object kept changing under the write), 503 (no AMI connection for a hangup).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.envelope import ApiError, error, listing, ok
from api.routing import INTEGER, ApiRoute, Operation, Param
from api.schemas import list_result, obj, row_schema
from engine.ami.client import AmiError
from engine.dialer.commands import COLLECTION, Conflict, NotFound
from engine.dialer.objects import Invalid
from projections import dialings as ob_view
from projections import results as results_view

if TYPE_CHECKING:
    from engine.dialer.service import Dialer
    from engine.runtime import Engine

TAG = "ob"
READ, WRITE = "viewer", "operator"
KINDS = ("plan", "destination", "dlma", "dl", "campaign", "dnc")
PREFIXES = ("/ob", "")  # the seed's V2 paths, and its V1 tutorial's (no /ob)
DEFAULT_DL_COUNT = 100


class ObContext(Protocol):
    """What the routes need; `api.context.ApiContext` with a `dialer` attribute is one."""

    engine: Engine
    dialer: Dialer | None
    access: Any


Handler = Callable[[Request], Awaitable[Response]]


def _guard(handler: Handler) -> Handler:
    """Domain errors to the seed's envelope, whether or not the app installs its handlers."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return error(exc.status, exc.message, exc.headers)
        except Invalid as exc:
            return error(400, str(exc))
        except NotFound as exc:
            return error(404, str(exc))
        except Conflict as exc:
            return error(409, str(exc))

    guarded.__name__ = handler.__name__
    return guarded


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "body: a JSON object")
    return body


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "0").strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no", ""):
        return False
    raise ApiError(400, f"{name}: 0 or 1")


def _int_param(request: Request, name: str, default: int | None) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"{name}: an integer") from None
    if number < 0:
        raise ApiError(400, f"{name}: must be >= 0")
    return number


def routes(ctx: ObContext) -> list[BaseRoute]:
    """The `/ob` routes (and the V1 tutorial's); none when the engine runs no dialer."""
    dialer, access = getattr(ctx, "dialer", None), ctx.access
    if dialer is None:
        return []

    def state() -> dict[str, Any]:
        return ctx.engine.projector.state(ob_view.NAME)

    out: list[BaseRoute] = []

    def add(path: str, handler: Handler, operation: Operation) -> None:
        if access is None:  # no access control at all (a bare demo app): no role checks
            operation = dataclasses.replace(operation, role=None)
        for prefix in PREFIXES:
            out.append(ApiRoute(prefix + path, _guard(handler), operation, access))

    uuid_param = Param("uuid", "path", "the object's uuid", required=True)
    force = Param("force", "query", "1: delete even if referenced (references are removed)",
                  {"type": "integer", "enum": [0, 1]})

    for kind in KINDS:
        collection = COLLECTION[kind]
        schema = row_schema(collection)

        async def create(request: Request, kind: str = kind) -> Response:
            return ok(await dialer.commands.create(kind, await _body(request)))

        async def read_all(request: Request, kind: str = kind,
                           collection: str = collection) -> Response:
            if kind == "dl":
                rows = ob_view.in_use(state(), collection,
                                      request.query_params.get("dlma_uuid"))
                count = _int_param(request, "count", DEFAULT_DL_COUNT)
                return listing(list(itertools.islice(rows, count)))
            if kind == "campaign":  # the seed lists campaigns by uuid only
                return listing([{"uuid": r["uuid"]} for r in ob_view.in_use(state(), collection)])
            return listing(list(ob_view.in_use(state(), collection)))

        async def read_one(request: Request, kind: str = kind,
                           collection: str = collection) -> Response:
            uuid = request.path_params["uuid"]
            row = ob_view.get(state(), collection, uuid)
            if row is None or row.get("in_use") != 1:
                raise ApiError(404, f"no {kind} {uuid}")
            return ok(row)

        async def update(request: Request, kind: str = kind) -> Response:
            uuid = request.path_params["uuid"]
            return ok(await dialer.commands.update(kind, uuid, await _body(request)))

        async def delete(request: Request, kind: str = kind) -> Response:
            uuid = request.path_params["uuid"]
            return ok(await dialer.commands.delete(
                kind, uuid, force=_flag(request, "force"),
                delete_dls=_flag(request, "delete_dls")))

        for fn, name in ((create, "create"), (read_all, "list"), (read_one, "get"),
                         (update, "update"), (delete, "delete")):
            fn.__name__ = f"{name}_{kind}"
        path = f"/{collection}"
        list_params: tuple[Param, ...] = ()
        if kind == "dl":
            list_params = (Param("dlma_uuid", "query", "entries of this dlma only"),
                           Param("count", "query", "most entries (default 100)", INTEGER))
        delete_params = (uuid_param, force)
        if kind == "dlma":
            delete_params += (Param("delete_dls", "query", "1: delete its entries too",
                                    {"type": "integer", "enum": [0, 1]}),)
        listed = (list_result(obj(("uuid",), uuid={"type": "string"}))
                  if kind == "campaign" else list_result(schema))
        add(path, create, Operation("POST", f"Create a {kind}", TAG, role=WRITE,
                                    result=schema))
        add(path, read_all, Operation("GET", f"List the {collection}", TAG, role=READ,
                                      params=list_params, result=listed))
        add(path + "/{uuid}", read_one, Operation("GET", f"One {kind}", TAG, role=READ,
                                                  params=(uuid_param,), result=schema,
                                                  errors=(404,)))
        add(path + "/{uuid}", update, Operation("PUT", f"Change a {kind} (partial)", TAG,
                                                role=WRITE, params=(uuid_param,),
                                                result=schema, errors=(404, 409)))
        add(path + "/{uuid}", delete, Operation("DELETE", f"Delete a {kind} (soft)", TAG,
                                                role=WRITE, params=delete_params,
                                                result=schema, errors=(404, 409)))

    # -- dialings ----------------------------------------------------------------------------------

    async def list_dialings(request: Request) -> Response:
        return listing(ob_view.live_dialings(state()))

    async def get_dialing(request: Request) -> Response:
        uuid = request.path_params["uuid"]
        row = ob_view.live_dialing(state(), uuid)
        if row is None:
            raise ApiError(404, f"no live dialing {uuid}")
        return ok(row)

    async def hangup_dialing(request: Request) -> Response:
        """Like every `/ob` delete, answers the object: the dialing as it was when the hangup
        was asked (it ends when Asterisk's Hangup arrives)."""
        uuid = request.path_params["uuid"]
        row = ob_view.live_dialing(state(), uuid)
        try:
            found = await dialer.hangup(uuid)
        except AmiError as exc:
            raise ApiError(503, str(exc)) from None
        if not found or row is None:
            raise ApiError(404, f"no live dialing {uuid}")
        return ok(row)

    dialing = row_schema("dialings")
    add("/dialings", list_dialings, Operation("GET", "Live dialings", TAG, role=READ,
                                              result=list_result(dialing)))
    add("/dialings/{uuid}", get_dialing, Operation("GET", "One live dialing", TAG, role=READ,
                                                   params=(uuid_param,), result=dialing,
                                                   errors=(404,)))
    add("/dialings/{uuid}", hangup_dialing, Operation(
        "DELETE", "Hang up a dialing (it ends when Asterisk's Hangup arrives)", TAG,
        role=WRITE, params=(uuid_param,), result=dialing, errors=(404, 503)))

    # -- results -----------------------------------------------------------------------------------

    async def list_results(request: Request) -> Response:
        filters: dict[str, Any] = {}
        for name in results_view.FILTERS:
            value = request.query_params.get(name)
            if value is None:
                continue
            if name in results_view.INT_FILTERS:
                try:
                    filters[name] = int(value)
                except ValueError:
                    raise ApiError(400, f"{name}: an integer") from None
            else:
                filters[name] = value
        rows = results_view.select(
            ctx.engine.projector.state(results_view.NAME), filters,
            since=request.query_params.get("since"), until=request.query_params.get("until"),
            offset=_int_param(request, "offset", 0) or 0,
            count=_int_param(request, "count", None))
        return listing(rows)

    async def get_result(request: Request) -> Response:
        uuid = request.path_params["uuid"]
        rows = results_view.select(ctx.engine.projector.state(results_view.NAME),
                                   {"uuid": uuid})
        if not rows:
            raise ApiError(404, f"no result for dialing {uuid}")
        return ok(rows[-1])

    result = row_schema("results")
    filter_params = tuple(
        Param(name, "query", f"only records whose {name} is this",
              INTEGER if name in results_view.INT_FILTERS else {"type": "string"})
        for name in results_view.FILTERS
    ) + (
        Param("since", "query", "finished at or after (seed timestamp, UTC)"),
        Param("until", "query", "finished at or before (seed timestamp, UTC)"),
        Param("offset", "query", "skip this many matching records", INTEGER),
        Param("count", "query", "most records", INTEGER),
    )
    add("/results", list_results, Operation(
        "GET", "Results of finished dialings (seed 5.8), oldest first", TAG, role=READ,
        params=filter_params, result=list_result(result)))
    add("/results/{uuid}", get_result, Operation(
        "GET", "The result of one dialing", TAG, role=READ, params=(uuid_param,),
        result=result, errors=(404,)))
    return out
