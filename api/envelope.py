"""The seed's response envelope (`$defhdr`) and its one error shape.

Every reply is `{"api_ver": "0.1", "statuscode": N, "timestamp": "...Z", "result": ...}`;
an error replaces `result` with `{"error": {"code": N, "message": "..."}}` and uses N as the
HTTP status. Timestamps carry 9 zero-padded fractional digits (the seed's C code forgot the
padding; we do not copy the bug).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from starlette.responses import Response

API_VER = "0.1"
_encoder = msgspec.json.Encoder()


def timestamp(ns: int | None = None) -> str:
    """UTC `YYYY-MM-DDTHH:MM:SS.fffffffffZ`."""
    ns = time.time_ns() if ns is None else ns
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def ok(result: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> JSON:
    body: dict[str, Any] = {"api_ver": API_VER, "statuscode": status, "timestamp": timestamp()}
    if result is not None:
        body["result"] = result
    return JSON(body, status_code=status, headers=headers)


def listing(rows: list[Any], headers: dict[str, str] | None = None) -> JSON:
    """The seed's list shape: `result.list`."""
    return ok({"list": rows}, headers=headers)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSON:
    body = {"api_ver": API_VER, "statuscode": status, "timestamp": timestamp(),
            "error": {"code": status, "message": message}}
    return JSON(body, status_code=status, headers=headers)


class ApiError(Exception):
    """Raised anywhere under a handler; the app turns it into `error(status, message)`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
