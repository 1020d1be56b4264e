"""The Starlette application: engine status now; read models, commands and streams as they land."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.runtime import Engine


def create_app(engine: Engine) -> Starlette:
    async def status(request: Request) -> JSONResponse:
        return JSONResponse(engine.status())

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/status", status), Route("/health", health)])
