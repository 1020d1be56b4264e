"""Who a request is, and whether it may: the check every route runs before its handler.

A request proves itself with a login token (`?authtoken=` as in the seed, or
`Authorization: Bearer`); only `POST /admin/login` takes a password (HTTP Basic). With access
control off (no user in the log and `auth.enabled` unset, or `auth.enabled = false`) every
request is an anonymous admin, which is why `switchboard run` then serves loopback only.

Every refusal is answered 401 (no or bad token), 403 (the role is too low) or 429 (a login
throttled: `api/throttle.py`) and counted against the client's address; each address refused in
a window gets one `AccessDenied` event with the count (`api/denials.py`), so a flood of bad
requests neither holds up the answers nor grows the log without bound.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
from collections.abc import Callable

from starlette.requests import HTTPConnection

from api.denials import Denials
from api.envelope import ApiError
from api.throttle import LoginThrottle
from engine.auth import ANONYMOUS, Directory, Principal

BEARER = {"WWW-Authenticate": 'Bearer realm="switchboard"'}
BASIC = {"WWW-Authenticate": 'Basic realm="switchboard"'}


class Access:
    def __init__(self, directory: Directory, denials: Denials, enabled: Callable[[], bool],
                 throttle: LoginThrottle | None = None) -> None:
        self.directory = directory
        self.denials = denials
        self.throttle = throttle or LoginThrottle()
        self._enabled = enabled

    @property
    def enabled(self) -> bool:
        return self._enabled()

    async def require(self, conn: HTTPConnection, role: str) -> Principal:
        """The principal behind the request, if it may act as `role`; else ApiError."""
        principal, reason, status = self.check(conn, role)
        if principal is not None:
            return principal
        raise ApiError(status, reason, BEARER if status == 401 else None)

    def check(self, conn: HTTPConnection, role: str) -> tuple[Principal | None, str, int]:
        """(principal, "", 200) or (None, reason, 401|403), the refusal logged."""
        if not self.enabled:
            return ANONYMOUS, "", 200
        token = token_of(conn)
        principal = self.directory.by_token(token) if token else None
        if principal is None:
            reason = "invalid or expired authtoken" if token else "authtoken required"
            self.deny(conn, "-", reason)
            return None, reason, 401
        if not principal.may(role):
            reason = f"user {principal.name} ({principal.role}) may not do this: needs {role}"
            self.deny(conn, principal.name, reason)
            return None, reason, 403
        return principal, "", 200

    async def login(self, conn: HTTPConnection) -> Principal:
        """HTTP Basic credentials checked (scrypt, off the event loop), unless failed logins
        for this name or from this address make it wait (429)."""
        credentials = basic_of(conn)
        if credentials is None:
            self.deny(conn, "-", "HTTP basic credentials required")
            raise ApiError(401, "HTTP basic credentials required", BASIC)
        name, password = credentials
        name = name[:64]
        address = client_address(conn)
        wait = self.throttle.wait(name, address)
        if wait > 0:
            retry = math.ceil(wait)
            reason = f"too many failed logins: try again in {retry} s"
            self.deny(conn, name, reason)
            raise ApiError(429, reason, {"Retry-After": str(retry)})
        principal = await asyncio.to_thread(self.directory.by_password, name, password)
        if principal is None:
            self.throttle.failed(name, address)
            self.deny(conn, name, "wrong user name or password")
            raise ApiError(401, "wrong user name or password", BASIC)
        self.throttle.succeeded(name)
        return principal

    def deny(self, conn: HTTPConnection, who: str, reason: str) -> None:
        method = conn.scope.get("method", "WEBSOCKET")
        self.denials.add(client_address(conn), who, method, conn.url.path, reason)


def client_address(conn: HTTPConnection) -> str:
    """The client's address, without its port (every connection has a new one)."""
    return conn.client.host if conn.client else ""


def token_of(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return conn.query_params.get("authtoken") or None


def basic_of(conn: HTTPConnection) -> tuple[str, str] | None:
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(
            ":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (name, password) if sep else None
