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
from engine.values import iso


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
    """One value from a JSON body, typed as the seed types it (its typing is loose: a number
    where a string is expected is taken as its text, a numeric string as a number)."""
    if value is None:
        if not field.nullable:
            raise Invalid(f"{field.name}: must not be null")
        return None
    if field.kind == "int":
        if isinstance(value, bool):
            raise Invalid(f"{field.name}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise Invalid(f"{field.name}: expected an integer, got {value!r}")
    if field.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise Invalid(f"{field.name}: expected a number, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise Invalid(f"{field.name}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise Invalid(f"{field.name}: expected a finite number")
        return number
    if field.kind == "vars":
        if isinstance(value, str):  # one seed template types variables as a JSON string
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError:
                raise Invalid(f"{field.name}: expected an object of strings") from None
        if not isinstance(value, dict):
            raise Invalid(f"{field.name}: expected an object of strings, got {value!r}")
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise Invalid(f"{field.name}: expected a string, got {value!r}")


def _body(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def build(fields: list[Field], body: Any, uuid: str, now: float) -> dict[str, Any]:
    """A new object from a POST body: defaults for what is missing; unknown keys are ignored
    (as jade does), wrong types are refused."""
    body = _body(body)
    obj: dict[str, Any] = {"uuid": uuid}
    for field in fields:
        if field.settable and not field.put_only and field.name in body:
            obj[field.name] = convert(field, body[field.name])
        else:
            obj[field.name] = field.default
    obj.update(in_use=1, tm_create=iso(now), tm_update=None, tm_delete=None)
    return obj


def changes(fields: list[Field], obj: Mapping[str, Any], body: Any) -> dict[str, Any]:
    """What a PUT body changes (partial update): only settable fields whose value differs."""
    body = _body(body)
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
