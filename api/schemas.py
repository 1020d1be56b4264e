"""JSON schemas of what the API answers, from the same declarations export uses.

A view's row schema comes from its declared columns (`replay.export.declared_columns`: the
projection module's `COLUMNS`, else the seed's field list), so REST, exports and the OpenAPI
document describe one shape. Every value may be null (a field nobody told us yet).
"""

from __future__ import annotations

from typing import Any

from replay.export import declared_columns

_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}

Schema = dict[str, Any]


def row_schema(view: str) -> Schema:
    columns = declared_columns(view) or {}
    properties: Schema = {}
    for name, kind in columns.items():
        if kind == "json":
            properties[name] = {}
        else:
            properties[name] = {"type": [_TYPES[kind], "null"]}
    return {"type": "object", "properties": properties, "required": list(columns)}


def list_result(item: Schema) -> Schema:
    return {"type": "object", "properties": {"list": {"type": "array", "items": item}},
            "required": ["list"]}


def obj(required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required)}


STRING: Schema = {"type": "string"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
INTEGER: Schema = {"type": "integer"}

ENVELOPE: Schema = obj(("api_ver", "statuscode", "timestamp"),
                       api_ver=STRING, statuscode=INTEGER,
                       timestamp={"type": "string", "pattern": r"\.\d{9}Z$"})

ERROR: Schema = {
    **ENVELOPE,
    "properties": {
        **ENVELOPE["properties"],
        "error": obj(("code", "message"), code=INTEGER, message=STRING),
    },
    "required": [*ENVELOPE["required"], "error"],
}


def envelope(result: Schema | None) -> Schema:
    if result is None:
        return ENVELOPE
    return {**ENVELOPE, "properties": {**ENVELOPE["properties"], "result": result},
            "required": [*ENVELOPE["required"], "result"]}


COMMAND: Schema = row_schema("commands")
