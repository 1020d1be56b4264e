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

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.bodies import read_object
from api.envelope import ApiError, error, listing, ok
from api.routing import FLAG, INTEGER, STRING, ApiRoute, Operation, Param
from api.schemas import list_result, obj, row_schema
from engine.ami.client import AmiError
from engine.dialer.commands import COLLECTION, MODULES, Conflict, NotFound
from engine.dialer.objects import Invalid, body_schema
from engine.values import iso, parse_instant
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


def _param(request: Request, name: str, default: Any = None) -> Any:
    """A query parameter as `ApiRoute` checked and typed it (api/routing.py `check_query`)."""
    return request.state.params.get(name, default)


def _moment(request: Request, name: str) -> str | None:
    """`since`/`until` as the seed's timestamp text, which the records' times compare with."""
    text = _param(request, name)
    if text is None:
        return None
    try:
        return iso(parse_instant(text))
    except ValueError as exc:
        raise ApiError(400, f"{name}: {exc}") from None


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
                  FLAG)

    for kind in KINDS:
        collection = COLLECTION[kind]
        schema = row_schema(collection)

        async def create(request: Request, kind: str = kind) -> Response:
            return ok(await dialer.commands.create(kind, await read_object(request)))

        async def read_all(request: Request, kind: str = kind,
                           collection: str = collection) -> Response:
            if kind == "dl":
                rows = ob_view.in_use(state(), collection,
                                      request.query_params.get("dlma_uuid"))
                count = _param(request, "count", DEFAULT_DL_COUNT)
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
            return ok(await dialer.commands.update(kind, uuid, await read_object(request)))

        async def delete(request: Request, kind: str = kind) -> Response:
            uuid = request.path_params["uuid"]
            return ok(await dialer.commands.delete(
                kind, uuid, force=bool(_param(request, "force", 0)),
                delete_dls=bool(_param(request, "delete_dls", 0))))

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
                                    FLAG),)
        listed = (list_result(obj(("uuid",), uuid={"type": "string"}))
                  if kind == "campaign" else list_result(schema))
        fields = MODULES[kind].FIELDS
        add(path, create, Operation("POST", f"Create a {kind}", TAG, role=WRITE,
                                    body=body_schema(fields, create=True), result=schema))
        add(path, read_all, Operation("GET", f"List the {collection}", TAG, role=READ,
                                      params=list_params, result=listed))
        add(path + "/{uuid}", read_one, Operation("GET", f"One {kind}", TAG, role=READ,
                                                  params=(uuid_param,), result=schema,
                                                  errors=(404,)))
        add(path + "/{uuid}", update, Operation("PUT", f"Change a {kind} (partial)", TAG,
                                                role=WRITE, params=(uuid_param,),
                                                body=body_schema(fields, create=False),
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
        filters = {name: value for name, value in request.state.params.items()
                   if name in results_view.FILTERS}
        rows = results_view.select(
            ctx.engine.projector.state(results_view.NAME), filters,
            since=_moment(request, "since"), until=_moment(request, "until"),
            offset=_param(request, "offset", 0), count=_param(request, "count"))
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
              INTEGER if name in results_view.INT_FILTERS else STRING)
        for name in results_view.FILTERS
    ) + (
        Param("since", "query", "finished at or after this time (ISO 8601 such as the seed's "
              "timestamps, naive meaning UTC, or epoch seconds)"),
        Param("until", "query", "finished at or before this time (as `since`)"),
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
