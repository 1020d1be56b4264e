"""The Starlette application: read models, commands, streams and access control over the engine.

Route modules are listed here, explicitly, in `MODULES`: each is `routes(ctx) -> list[BaseRoute]`
over one `ApiContext` (`api/context.py`). Every route is served bare and under `/v1` (seed 1.1);
the V2 resources also at the seed's V1 paths, `/admin/core/channels`... (`api/v1.py`).
Errors are the seed's envelope with `error` (`api/errors.py`), `OPTIONS` and CORS headers follow
seed 1.3 (`api/cors.py`), and `/openapi.json` is written from the routes themselves.

`create_app` runs on the engine's event loop (the stream hub hands messages to it);
`startup` is what `switchboard run` checks before serving: the initial admin from the config,
and that an API without access control is bound to loopback only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from types import ModuleType

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from api import (
    admin,
    agi,
    calls,
    commands,
    core,
    devices,
    dialplan,
    ob,
    openapi,
    park,
    pjsip,
    queue,
    settings,
    sse,
    timeline,
    v1,
    views,
    voicemail,
    ws,
)
from api.auth import Access
from api.context import ApiContext
from api.cors import Cors
from api.denials import Denials
from api.envelope import JSON
from api.errors import HANDLERS, CatchAll
from api.hub import Hub
from api.limits import BodyLimit
from api.routing import ApiRoute, Operation
from api.throttle import LoginThrottle
from engine.auth import Accounts, AuthError, Directory
from engine.commands import Commands
from engine.runtime import Engine

log = logging.getLogger("switchboard.api")

# The route modules, in the order their routes are tried. Add a module here to serve it.
MODULES: tuple[ModuleType, ...] = (core, agi, queue, park, pjsip, devices, calls, commands, ob,
                                   voicemail, views, timeline, sse, ws, admin, settings,
                                   dialplan)


def build_context(engine: Engine) -> ApiContext:
    settings, auth = engine.config.api, engine.config.auth
    directory = Directory(lambda: engine.projector.state("users"))

    def enabled() -> bool:
        return auth.enabled if auth.enabled is not None else directory.has_users()

    hub = Hub(engine.store, engine.projector.state, ring_size=settings.stream_buffer,
              client_lag=settings.client_lag, send_timeout=settings.send_timeout)
    return ApiContext(
        engine=engine, settings=settings, auth=auth, directory=directory,
        access=Access(directory, Denials(engine.log, auth.denial_window), enabled,
                      LoginThrottle(auth.login_failures, auth.login_max_delay)),
        accounts=Accounts(engine.log, directory, lambda: engine.projector.position,
                          auth.token_ttl),
        commands=Commands(engine.log, engine.clients, settings.command_timeout),
        hub=hub,
        dialer=engine.dialer,
    )


def _engine_routes(engine: Engine, hub: Hub) -> list[BaseRoute]:
    async def status(request: Request) -> Response:
        streams = {"clients": len(hub.clients), "position": hub.position,
                   "published": hub.published, "dropped": hub.dropped,
                   "derive_errors": hub.derive_errors}
        return JSON({**engine.status(), "streams": streams})

    async def health(request: Request) -> Response:
        return JSON({"ok": True})

    return [
        ApiRoute("/status", status, Operation(
            "GET", "The engine: log, projections, each Asterisk connection", "meta", role=None,
            enveloped=False), None),
        ApiRoute("/health", health, Operation(
            "GET", "Liveness", "meta", role=None, enveloped=False,
            result={"type": "object", "properties": {"ok": {"type": "boolean"}}}), None),
    ]


class Front:
    """`GET /events` straight to the stream (`api/sse.py` `direct` says why); everything else to
    the Starlette app. `state` is the app's."""

    def __init__(self, app: Starlette, events: ASGIApp) -> None:
        self.app = app
        self.state = app.state
        self.events = CatchAll(events)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["path"] in STREAM_PATHS
                and scope["method"] == "GET"):
            await self.events(scope, receive, send)
        else:
            await self.app(scope, receive, send)


STREAM_PATHS = frozenset({"/events", "/v1/events"})


def create_app(engine: Engine, ctx: ApiContext | None = None) -> Front:
    """The app over a started engine; call it on the engine's event loop."""
    ctx = ctx or build_context(engine)
    ctx.hub.start(asyncio.get_running_loop())
    engine.on_projected(ctx.hub.on_event)
    routes: list[BaseRoute] = _engine_routes(engine, ctx.hub)
    for module in MODULES:
        routes.extend(module.routes(ctx))
    routes.extend(v1.routes(routes))  # the seed's V1 paths of the V2 resources
    routes.append(openapi.route(routes))
    app = Starlette(
        routes=[*routes, Mount("/v1", routes=routes)],
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
        middleware=[Middleware(Cors), Middleware(CatchAll),
                    Middleware(BodyLimit, max_body=ctx.settings.max_body)],
    )
    app.state.ctx = ctx
    return Front(app, sse.direct(ctx))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def startup(engine: Engine, host: str) -> str | None:
    """Before serving, between `Engine.open` and `Engine.connect`: None if the API may be
    served on `host`, else why not (access control is off and `host` is not loopback),
    decided before anything is appended; then the configured initial admin is created if
    missing. `run` and `demo` both call it (the demo with `--no-simulator` dials a real PBX:
    served on 0.0.0.0 without users, it let anyone hang up its calls)."""
    auth = engine.config.auth
    directory = Directory(lambda: engine.projector.state("users"))
    creating = bool(auth.initial_admin) and directory.user(auth.initial_admin) is None
    will_have_users = directory.has_users() or creating
    enabled = auth.enabled if auth.enabled is not None else will_have_users
    if not enabled and not is_loopback(host):
        return (f"refusing to serve the API on {host}: access control is off, so anyone who "
                "can reach it could hang up calls. Add a user (`switchboard adduser NAME "
                "--role admin`, or [auth] initial_admin/initial_password in the config) or "
                "serve on 127.0.0.1")
    if creating:
        accounts = Accounts(engine.log, directory, lambda: engine.projector.position,
                            auth.token_ttl)
        try:
            await accounts.create_user(auth.initial_admin, auth.initial_password, "admin",
                                       "config")
        except AuthError as exc:
            return f"auth.initial_admin: {exc}"
        log.info("created the initial admin %r from the config", auth.initial_admin)
    if enabled:
        if not will_have_users:
            log.warning("access control is on but there is no user: add one with "
                        "`switchboard adduser NAME --role admin`")
        return None
    log.warning("access control is off (no user): the API is served on %s only", host)
    return None


__all__ = ["MODULES", "create_app", "startup"]
