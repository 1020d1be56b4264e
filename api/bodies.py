"""Request bodies: JSON decoded straight into the operation's declared type.

A body that is not JSON, or not of the declared shape (a missing field, a wrong type, a field
the operation does not know), is a 400 naming what is wrong, never a 500.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request

from api.envelope import ApiError

T = TypeVar("T")


async def read_body(request: Request, type_: type[T]) -> T:
    raw = await request.body()
    if not raw.strip():
        raw = b"{}"
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as exc:
        raise ApiError(400, f"body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None
