"""`/admin/*`: log in and out (seed 1.4), users and tokens.

`POST /admin/login` with HTTP Basic answers `{"authtoken": ...}` (valid for `auth.token_ttl`
seconds), to pass as `?authtoken=` or `Authorization: Bearer`; `DELETE /admin/login` revokes the
token presented. Admins manage users (`/admin/users`, roles viewer, operator, admin) and see and
revoke tokens (`/admin/tokens`, by public id). Every change is an event in the log
(`engine/auth.py`); no answer ever holds a password or a token hash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.bodies import read_body
from api.context import ApiContext
from api.envelope import ApiError, ok
from api.readmodel import detail_route, list_route
from api.routing import ApiRoute, Operation, Param
from api.schemas import STRING, obj, row_schema
from engine.auth import NAME, AuthError, Conflict, Missing, Principal

TAG = "admin"


Name = Annotated[str, msgspec.Meta(pattern=NAME.pattern)]
Password = Annotated[str, msgspec.Meta(min_length=8)]
Role = Literal["viewer", "operator", "admin"]


class NewUser(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    password: Password
    role: Role = "viewer"


class UserChange(msgspec.Struct, forbid_unknown_fields=True):
    password: Password | None = None
    role: Role | None = None


async def _guard(call: Awaitable[object]) -> None:
    try:
        await call
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    except Missing as exc:
        raise ApiError(404, str(exc)) from None
    except AuthError as exc:
        raise ApiError(400, str(exc)) from None


def _by(request: Request) -> str:
    principal: Principal = request.state.principal
    return principal.name


def routes(ctx: ApiContext) -> list[BaseRoute]:
    accounts = ctx.accounts

    async def login(request: Request) -> Response:
        principal = await ctx.access.login(request)
        return ok({"authtoken": await accounts.issue_token(principal.name)})

    async def logout(request: Request) -> Response:
        principal: Principal = request.state.principal
        digest = accounts.token_digest(principal.token_id) if principal.token_id else None
        if digest is None:
            raise ApiError(400, "no login token was presented")
        await accounts.revoke_token(digest, principal.name)
        return ok()

    def user_row(name: str) -> dict:
        _, rows = ctx.snapshot("users")
        return next(r for r in rows if r["name"] == name)

    async def create(request: Request) -> Response:
        body = await read_body(request, NewUser)
        await _guard(accounts.create_user(body.name, body.password, body.role, _by(request)))
        return ok(user_row(body.name))

    async def change(request: Request) -> Response:
        body = await read_body(request, UserChange)
        name = request.path_params["name"]
        await _guard(accounts.update_user(name, _by(request), body.password, body.role))
        return ok(user_row(name))

    async def delete(request: Request) -> Response:
        await _guard(accounts.delete_user(request.path_params["name"], _by(request)))
        return ok()

    async def revoke(request: Request) -> Response:
        digest = accounts.token_digest(request.path_params["id"])
        if digest is None:
            raise ApiError(404, f"no token {request.path_params['id']!r}")
        await accounts.revoke_token(digest, _by(request))
        return ok()

    name = Param("name", "path", "user name", required=True)
    user = row_schema("users")

    def admin(path: str, handler: Callable[[Request], Awaitable[Response]], method: str,
              summary: str, **extra: object) -> ApiRoute:
        return ApiRoute(path, handler, Operation(method, summary, TAG, role="admin",
                                                 **extra), ctx.access)  # type: ignore[arg-type]

    return [
        ApiRoute("/admin/login", login, Operation(
            "POST", "Log in with HTTP Basic: a token for ?authtoken= or Bearer", TAG, role=None,
            result=obj(("authtoken",), authtoken=STRING), errors=(401, 429),
            description="The seed's `POST /v1/admin/login -u user:password`."), ctx.access),
        ApiRoute("/admin/login", logout, Operation(
            "DELETE", "Log out: revoke the token presented", TAG, role="viewer"), ctx.access),
        list_route(ctx, "/admin/users", "users", TAG, "Users and their roles", "admin"),
        admin("/admin/users", create, "POST", "Create a user", body=NewUser, result=user,
              errors=(409,)),
        detail_route(ctx, "/admin/users/{name}", "users", "name", ("name",), TAG, "One user",
                     "user", role="admin"),
        admin("/admin/users/{name}", change, "PUT", "Change a user's password or role",
              params=(name,), body=UserChange, result=user, errors=(404, 409),
              description="Refused (409) when it would leave no admin."),
        admin("/admin/users/{name}", delete, "DELETE", "Delete a user and their tokens",
              params=(name,), errors=(404, 409),
              description="Refused (409) when it would leave no admin."),
        list_route(ctx, "/admin/tokens", "tokens", TAG,
                   "Valid login tokens (public id, user, expiry)", "admin"),
        admin("/admin/tokens/{id}", revoke, "DELETE", "Revoke a token by its public id",
              params=(Param("id", "path", "token id (16 hex digits)", required=True),),
              errors=(404,)),
    ]
