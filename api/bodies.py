"""Request bodies: the one strict decoder every write goes through.

A body is JSON, UTF-8, at most `api.max_body` bytes (`api/limits.py` answers 413 before a
larger one is read), not nested past the decoder's recursion limit, and decoded straight into the
operation's declared type: a missing field, a wrong type (no coercion: `"5"` is not an integer),
or a field the operation does not know is a 400 naming the field. Nothing a client sends gets
past this into the log unless it has the declared shape, and no body can make a 500.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from api.envelope import ApiError

T = TypeVar("T")

async def read_body(request: Request, type_: type[T]) -> T:
    """The body decoded into `type_` (a msgspec Struct, or `dict[str, Any]` for an object whose
    fields the caller checks itself); an empty body is `{}`."""
    raw = await request.body()
    return decode(raw, type_)


async def read_object(request: Request) -> dict[str, Any]:
    """A body that must be a JSON object, its fields checked by the caller (the outbound
    objects, whose fields are declared as data: `engine/dialer/objects.py`)."""
    return await read_body(request, dict[str, Any])


def decode(raw: bytes, type_: type[T]) -> T:
    if not raw.strip():
        raw = b"{}"
    try:
        # msgspec checks the UTF-8 of the strings it keeps, not of those it skips (an unknown
        # field's value): check it all first, so a bad byte gets the same answer anywhere.
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "body is not UTF-8 text") from None
    try:
        return msgspec.json.decode(raw, type=type_, strict=True)
    except RecursionError:
        raise ApiError(400, "body is nested too deep") from None
    except msgspec.ValidationError as exc:
        raise ApiError(400, _field_message(exc)) from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None


_UNKNOWN = re.compile(r"^Object contains unknown field `(.*)`$")
_MISSING = re.compile(r"^Object missing required field `(.*)`$")


def _field_message(exc: msgspec.ValidationError) -> str:
    """msgspec says `Expected `int`, got `str` - at `$.dial_mode`` or `Object contains unknown
    field `zzz``; say the field first, as every other 400 does: `dial_mode: expected int, got
    str`, `zzz: unknown field`."""
    text = str(exc)
    message, sep, where = text.rpartition(" - at `")
    if not sep:
        message, where = text, ""
    path = where.rstrip("`").removeprefix("$").removeprefix(".")
    prefix = f"{path}." if path else ""
    if found := _UNKNOWN.match(message):
        return f"{prefix}{found[1]}: unknown field"
    if found := _MISSING.match(message):
        return f"{prefix}{found[1]}: required field missing"
    message = message[0].lower() + message[1:].replace("`", "")
    return f"{path}: {message}" if path else f"body: {message}"
