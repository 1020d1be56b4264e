"""What the five outbound objects (and do-not-call entries) share: fields, defaults, validation,
and how an event turns one version of an object into the next.

Each object module (`plans.py`, `destinations.py`, ...) declares its `FIELDS`; this module turns a
REST body into a validated object or a set of changes, and `evolve(obj, event)` is the one pure
function that both the projection and the command side fold an aggregate's stream with, so what a
write answers is exactly what a later read shows. Objects are replaced, never mutated in place:
the API reads them from another thread, and a whole-dict copy is atomic under the GIL.

Keys starting with `_` are bookkeeping (stream version, epoch times): `public()` strips them.
"""

from __future__ import annotations

import json
import math
import os
import random
import uuid as uuidlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.dialer import events as ev
from engine.values import INT64, iso


class Invalid(ValueError):
    """A request the seed would answer with 400; the message names the field."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: str  # "str", "int", "vars", "float"
    default: Any = None
    nullable: bool = True
    settable: bool = True  # on POST and PUT
    put_only: bool = False  # settable on PUT only (dl trycnt_N, res_*, tm_last_*)


Check = Callable[[dict[str, Any]], None]  # raises Invalid


def common() -> list[Field]:
    return [Field("name", "str"), Field("detail", "str")]


SYSTEM_FIELDS = ("uuid", "in_use", "tm_create", "tm_update", "tm_delete")


# -- time -----------------------------------------------------------------------------------------




def parse_stamp(text: Any) -> float | None:
    """A seed timestamp (or any ISO 8601) back to epoch seconds; None when absent or junk."""
    if not isinstance(text, str) or not text:
        return None
    value = text.rstrip("Z")
    head, dot, frac = value.partition(".")
    try:
        dt = datetime.fromisoformat(head)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    seconds = dt.timestamp()
    if dot and frac.isdigit():
        seconds += int(frac[:9].ljust(9, "0")) / 1e9
    return seconds


# Object, dialing, ChannelId and ActionID uuids: unique, not secret. uuid4() asks the kernel for
# 16 random bytes each time, ~50 us on this VM, three per dial on the dialer's hot path; a
# generator seeded once from the kernel gives the same 122 random bits in ~2 us.
_random = random.Random(os.urandom(32))


def new_uuid() -> str:
    return str(uuidlib.UUID(int=_random.getrandbits(128), version=4))


def is_uuid(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        uuidlib.UUID(text)
    except ValueError:
        return False
    return True


# -- values ---------------------------------------------------------------------------------------


def convert(field: Field, value: Any) -> Any:
    """One value from a JSON body, of the type the seed gives it, or Invalid naming the field.
    Nothing is coerced: `"5"` is not an integer, `5` is not a string, `true` is not a number.
    The one other form accepted is the seed's own: variables as a JSON object in a string
    (its destination template types them so)."""
    if value is None:
        if not field.nullable:
            raise Invalid(f"{field.name}: must not be null")
        return None
    if field.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"{field.name}: expected an integer, got {_json_type(value)}")
        if not -INT64 <= value < INT64:
            raise Invalid(f"{field.name}: out of range")
        return value
    if field.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(f"{field.name}: expected a number, got {_json_type(value)}")
        number = float(value)
        if not math.isfinite(number):
            raise Invalid(f"{field.name}: expected a finite number")
        return number
    if field.kind == "vars":
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError:
                raise Invalid(f"{field.name}: expected an object of strings") from None
        if not isinstance(value, dict):
            raise Invalid(f"{field.name}: expected an object of strings, got "
                          f"{_json_type(value)}")
        for key, item in value.items():
            if not isinstance(item, str):
                raise Invalid(f"{field.name}.{key}: expected a string, got {_json_type(item)}")
        return dict(value)
    if not isinstance(value, str):
        raise Invalid(f"{field.name}: expected a string, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    """What a JSON value is, in JSON's words (for messages)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _body(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def _check_keys(fields: list[Field], body: Mapping[str, Any], obj: Mapping[str, Any] | None,
                kind: str) -> None:
    """Every key of a POST (`obj` None) or PUT body is a field the client may set there, or
    Invalid naming it. A PUT may repeat a read-only field with its current value (a client
    that writes back what it read), never change it."""
    by_name = {f.name: f for f in fields}
    for key, value in body.items():
        field = by_name.get(key)
        if field is not None and field.settable and (obj is not None or not field.put_only):
            continue
        if obj is None and key == "uuid":  # a client may choose the new object's uuid
            continue
        if field is None and key not in SYSTEM_FIELDS:
            raise Invalid(f"{key[:64]}: unknown field of a {kind}")
        if obj is not None and obj.get(key) == value:
            continue
        if field is not None and field.put_only:
            raise Invalid(f"{key}: can be set on a change (PUT), not on create")
        raise Invalid(f"{key}: read-only (set by the dialer)")


_SCHEMA_TYPES = {"str": {"type": "string"}, "float": {"type": "number"},
                 "int": {"type": "integer", "minimum": -INT64, "maximum": INT64 - 1},
                 "vars": {"anyOf": [{"type": "object", "additionalProperties": {"type": "string"}},
                                    {"type": "string"}]}}


def body_schema(fields: list[Field], create: bool) -> dict[str, Any]:
    """The JSON schema of a POST (`create`) or PUT body: what `build` and `changes` accept,
    written from the same declarations for `/openapi.json`. Later checks (a reference that
    must exist, a time that must parse) can still refuse a body the schema allows; nothing
    the schema refuses is accepted."""
    properties: dict[str, Any] = {}
    for field in fields:
        if not field.settable or (create and field.put_only):
            continue
        schema = dict(_SCHEMA_TYPES[field.kind])
        if field.nullable:
            schema = {"anyOf": [schema, {"type": "null"}]}
        properties[field.name] = schema
    if create:
        properties["uuid"] = {"type": "string", "format": "uuid"}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def build(fields: list[Field], body: Any, uuid: str, now: float,
          kind: str = "object") -> dict[str, Any]:
    """A new object from a POST body: defaults for what is missing; an unknown or read-only
    key, or a wrong type, is Invalid."""
    body = _body(body)
    _check_keys(fields, body, None, kind)
    obj: dict[str, Any] = {"uuid": uuid}
    for field in fields:
        if field.settable and not field.put_only and field.name in body:
            obj[field.name] = convert(field, body[field.name])
        else:
            obj[field.name] = field.default
    obj.update(in_use=1, tm_create=iso(now), tm_update=None, tm_delete=None)
    return obj


def changes(fields: list[Field], obj: Mapping[str, Any], body: Any,
            kind: str = "object") -> dict[str, Any]:
    """What a PUT body changes (partial update): only settable fields whose value differs; an
    unknown key, a read-only one changed, or a wrong type is Invalid."""
    body = _body(body)
    _check_keys(fields, body, obj, kind)
    out: dict[str, Any] = {}
    for field in fields:
        if field.settable and field.name in body:
            value = convert(field, body[field.name])
            if obj.get(field.name) != value:
                out[field.name] = value
    return out


def public(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


# -- evolution ------------------------------------------------------------------------------------


def evolve(obj: dict[str, Any] | None, type_: str, data: Mapping[str, Any],
           version: int) -> dict[str, Any] | None:
    """The next version of an object after one event of its stream (a new dict)."""
    if type_.endswith("Created") and type_ != ev.DIALING_CREATED:
        out = dict(data["object"])
    elif obj is None:
        return None
    elif type_.endswith("Updated"):
        out = {**obj, **data["changes"], "tm_update": data["tm_update"]}
        if "status" in data["changes"] and type_ == ev.updated("campaign"):
            out["_status_reason"] = "requested"  # a client wrote the status
    elif type_.endswith("Deleted"):
        out = {**obj, "in_use": 0, "tm_delete": data["tm_delete"]}
    elif type_ == ev.CAMPAIGN_STATUS_CHANGED:
        out = {**obj, "status": data["status"], "tm_update": data["tm_update"],
               "_status_reason": data.get("reason")}
    elif type_ in (ev.DIALING_CREATED, ev.DIALING_ENDED):
        out = {**obj, **data["dl"]}  # the dialer's own changes leave tm_update alone (seed 5.9)
    else:
        return obj
    out["_v"] = version
    return out


def fold(events: list[Any]) -> tuple[dict[str, Any] | None, int]:
    """An aggregate from its stream's events: (object, version of the last event; -1 if none)."""
    obj: dict[str, Any] | None = None
    version = -1
    for event in events:
        obj = evolve(obj, event.type, event.data, event.version)
        version = event.version
    return obj, version
