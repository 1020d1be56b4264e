"""`/openapi.json`, written from the routes' own `Operation`s (`api/routing.py`).

Every path is documented as served bare; each is served under `/v1` too (seed 1.1). The seed's
V1 paths of the V2 resources (`api/v1.py`) are path items that refer to the V2 ones. Every
operation lists its parameters, body, result (inside the seed's envelope) and errors (the same
envelope with `error`), and says which role it needs (`x-role`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.envelope import JSON
from api.routing import ApiRoute, ApiWebSocketRoute, Operation, json_schema
from api.schemas import ERROR, envelope

_CONVERTER = re.compile(r"\{(\w+):\w+\}")

REASONS = {
    400: "Bad request: a parameter, the body or Asterisk refused it",
    401: "No valid login token (or wrong credentials)",
    403: "The user's role may not do this",
    404: "No such object (in the read models, or in Asterisk)",
    405: "Method not allowed on this path",
    409: "Conflict",
    413: "The request body is larger than api.max_body",
    429: "Too many failed logins: try again after Retry-After seconds",
    501: "Not available here: what it needs is not configured (the message says what)",
    503: "Asterisk is not connected (or none is configured)",
    504: "Asterisk did not answer in time",
}


def build(routes: Iterable[BaseRoute], version: str = "0.1") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {}
    for route in routes:
        if isinstance(route, ApiRoute) and route.alias_of is not None:
            target = _CONVERTER.sub(r"{\1}", route.alias_of)
            paths[_CONVERTER.sub(r"{\1}", route.path)] = {
                "$ref": "#/paths/" + quote(target.replace("~", "~0").replace("/", "~1")),
                "summary": f"The seed's V1 path of {target}: the same operations"}
        elif isinstance(route, (ApiRoute, ApiWebSocketRoute)):
            path = _CONVERTER.sub(r"{\1}", route.path)
            method = route.operation.method.lower()
            paths.setdefault(path, {})[method] = _operation(route.operation, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard",
            "version": version,
            "description": "Read models, commands and change streams of an event-sourced "
                           "Asterisk state engine. Every path is also served under /v1. "
                           "Replies use the seed's envelope (api_ver, statuscode, timestamp, "
                           "result | error).",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "query", "name": "authtoken"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }


def _operation(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": None,
        "x-role": op.role,
        "parameters": [_param(p) for p in op.params],
        "responses": {},
    }
    if op.description:
        out["description"] = op.description
    if op.role is None and op.tag == "admin":
        out["security"] = [{"basic": []}]
    elif op.role is not None:
        out["security"] = [{"token": []}, {"bearer": []}]
    else:
        out["security"] = []
    if op.body is not None:
        if isinstance(op.body, dict):
            schema = op.body
        else:
            schema, defs = json_schema(op.body)
            components.update(defs)
        out["requestBody"] = {"required": True,
                              "content": {"application/json": {"schema": schema}}}
    if op.media == "application/json":
        body = envelope(op.result) if op.enveloped else (op.result or {"type": "object"})
        ok = {"description": "OK", "content": {"application/json": {"schema": body}}}
    else:
        ok = {"description": "OK", "content": {op.media: {"schema": {"type": "string"}}}}
    out["responses"]["200"] = ok
    codes = {400, *op.errors}
    if op.body is not None:
        codes.add(413)
    if op.role is not None:
        codes |= {401, 403}
    for code in sorted(codes):
        out["responses"][str(code)] = {
            "description": REASONS.get(code, "Error"),
            "content": {"application/json": {"schema": ERROR}},
        }
    out.pop("operationId")
    return out


def _param(p: Any) -> dict[str, Any]:
    schema = dict(p.schema)
    if p.repeated:
        schema = {"type": "array", "items": schema}
    out: dict[str, Any] = {"name": p.name, "in": p.where, "description": p.description,
                           "required": p.required or p.where == "path", "schema": schema}
    if p.repeated:
        out["style"], out["explode"] = "form", True
    return out


def route(routes: list[BaseRoute]) -> ApiRoute:
    """`GET /openapi.json`: built once, from every route the app serves."""
    document: dict[str, Any] = {}

    async def schema(request: Request) -> Response:
        if not document:
            document.update(build(routes))
        return JSON(document)

    return ApiRoute("/openapi.json", schema, Operation(
        "GET", "This document (OpenAPI 3.1)", "meta", role=None, enveloped=False,
        result={"type": "object", "required": ["openapi", "paths"]}), None)
