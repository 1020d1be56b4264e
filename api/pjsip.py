"""`/pjsip/*`: PJSIP endpoints, contacts and AORs, as the peers projection holds them; auths, as
pjsip.conf defines them.

Read only, as in the seed. A contact id holds `;` and `@` (`pjagent-01;@116e...`): URL-encode it.

Auths (`/pjsip/auths[/<name>]`, and the seed's V1 `/admin/pjsip/auth[s]`, `api/v1.py`) are the
`pjsip-auths` view: the `type = auth` sections of each server's pjsip.conf as the `config`
projection last read it, not AMI's `PJSIPShowAuths`: the file is already read on every connect
and after every reload of res_pjsip (no capture shows `PJSIPShowAuths`' answer to build on), it
names the endpoints that use an auth, and it holds the auths res_pjsip's reload has not taken
yet. Its `password` and `md5_cred` are for admins only: anyone else gets `"(redacted)"`.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.context import ApiContext
from api.envelope import listing, ok
from api.readmodel import POSITION_HEADER, by_server, detail_route, find, list_route
from api.routing import SERVER_PARAM, ApiRoute, Operation, Param
from api.schemas import list_result, row_schema
from engine.redact import redact_settings
from projections.base import Row

TAG = "pjsip"


def shown_auth(row: Row, request: Request) -> Row:
    """An auth as this caller may see it: its secrets for admins only."""
    principal = getattr(request.state, "principal", None)
    return row if principal is not None and principal.may("admin") else redact_settings(row)


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def auths(request: Request) -> Response:
        position, rows = await asyncio.to_thread(ctx.snapshot, "pjsip-auths")
        return listing([shown_auth(r, request) for r in by_server(rows, request)],
                       {POSITION_HEADER: str(position)})

    async def auth(request: Request) -> Response:
        position, rows = ctx.snapshot("pjsip-auths")
        row = find(rows, request.path_params["name"], ("object_name",), request, "auth")
        return ok(shown_auth(row, request), headers={POSITION_HEADER: str(position)})

    name = Param("name", "path", "the auth's name (its pjsip.conf section, URL-encoded)",
                 required=True)
    return [
        list_route(ctx, "/pjsip/endpoints", "endpoints", TAG, "PJSIP endpoints"),
        detail_route(ctx, "/pjsip/endpoints/{name}", "endpoints", "name", ("object_name",),
                     TAG, "One PJSIP endpoint", "endpoint"),
        list_route(ctx, "/pjsip/contacts", "contacts", TAG, "PJSIP contacts"),
        detail_route(ctx, "/pjsip/contacts/{id:path}", "contacts", "id", ("id", "uri"), TAG,
                     "One PJSIP contact", "contact"),
        list_route(ctx, "/pjsip/aors", "aors", TAG, "PJSIP AORs"),
        detail_route(ctx, "/pjsip/aors/{name}", "aors", "name", ("object_name",), TAG,
                     "One PJSIP AOR", "aor"),
        ApiRoute("/pjsip/auths", auths, Operation(
            "GET", "PJSIP auths, from each server's pjsip.conf (secrets for admins only)", TAG,
            params=(SERVER_PARAM,), result=list_result(row_schema("pjsip-auths"))),
            ctx.access),
        ApiRoute("/pjsip/auths/{name}", auth, Operation(
            "GET", "One PJSIP auth (secrets for admins only)", TAG,
            params=(name, SERVER_PARAM), result=row_schema("pjsip-auths"), errors=(404,)),
            ctx.access),
    ]
