"""Users, roles and login tokens, kept as events in the log like everything else.

Users live in streams `user/<name>` (`UserCreated`, `UserUpdated`, `UserDeleted`), login tokens
in `token/<first 16 hex digits of their hash>` (`TokenIssued`, `TokenRevoked`), and refused
requests are `AccessDenied` events (stream `access/<id>`, one per client address and window, with
a count: `api/denials.py`), so who could do what, and who tried, is in the same audited,
replayable history as the calls. `projections/users.py` folds them into
the table requests are checked against; its views never show a hash.

Secrets are never stored: a password as scrypt (random 16-byte salt, n=2**14, r=8, p=1), a token
(32 random bytes, URL-safe) as its SHA-256, which is enough for a value with 256 bits of
entropy and lets every request be checked with one dictionary lookup.

Roles are ordered: `viewer` reads and streams, `operator` also sends commands, `admin` also
manages users and tokens.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.envelope import NewEvent, utc_now
from engine.log import EventLog

ROLES = ("viewer", "operator", "admin")
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")

USER_CREATED, USER_UPDATED, USER_DELETED = "UserCreated", "UserUpdated", "UserDeleted"
TOKEN_ISSUED, TOKEN_REVOKED = "TokenIssued", "TokenRevoked"
ACCESS_DENIED = "AccessDenied"
EVENT_TYPES = frozenset({USER_CREATED, USER_UPDATED, USER_DELETED, TOKEN_ISSUED, TOKEN_REVOKED})
SERVER = "switchboard"  # the `server` of events no Asterisk sent

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class AuthError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    """Who a request is: a user and the role it has now."""

    name: str
    role: str
    token_id: str | None = None  # which token it presented (None: basic auth, or no auth)

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


ANONYMOUS = Principal("anonymous", "admin")  # access control off: loopback only


# ------------------------------------------------------------------------------ secrets

def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    encoded = f"{base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    return f"scrypt${n}${r}${p}${encoded}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def new_token() -> tuple[str, str]:
    """(token to hand out, its SHA-256 to store)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(digest: str) -> str:
    """The public name of a token: enough of its hash to tell tokens apart, not to use one."""
    return digest[:16]


# ------------------------------------------------------------------------------ events

def check_name(name: str) -> None:
    if not NAME.match(name):
        raise AuthError(f"user name {name!r}: 1-64 letters, digits, _ . @ -")


def check_role(role: str) -> None:
    if role not in ROLES:
        raise AuthError(f"role {role!r}: one of {', '.join(ROLES)}")


def check_password(password: str) -> None:
    if len(password) < 8:
        raise AuthError("password: at least 8 characters")


def user_event(type_: str, name: str, version: int, by: str, **data: Any) -> NewEvent:
    return NewEvent(f"user/{name}", version, type_, utc_now(), SERVER,
                    {"name": name, "by": by, **data})


def token_issued(user: str, digest: str, expires_at: float) -> NewEvent:
    return NewEvent(f"token/{token_id(digest)}", 0, TOKEN_ISSUED, utc_now(), SERVER,
                    {"user": user, "token_sha256": digest, "expires_at": expires_at})


def token_revoked(digest: str, by: str) -> NewEvent:
    return NewEvent(f"token/{token_id(digest)}", 1, TOKEN_REVOKED, utc_now(), SERVER,
                    {"token_sha256": digest, "by": by})


def access_denied(client: str, count: int, first: str, last: str, window: float,
                  **sample: list[str]) -> NewEvent:
    """Refused requests from one client address in one window (`api/denials.py`): how many,
    first and last, and a bounded sample of who, methods, paths and reasons."""
    return NewEvent(f"access/{uuid.uuid4().hex}", 0, ACCESS_DENIED, utc_now(), SERVER,
                    {"client": client, "count": count, "first": first, "last": last,
                     "window": window, **sample})


# ------------------------------------------------------------------------------ checking

class Directory:
    """Answers "who is this token / password" from the users projection's state.

    `state` returns the projection's live state; `clock` the time (epoch seconds), passed in
    so tests can expire tokens."""

    def __init__(self, state: Callable[[], dict], clock: Callable[[], float] = time.time
                 ) -> None:
        self._state = state
        self._clock = clock

    def user(self, name: str) -> dict | None:
        return self._state()["users"].get(name)

    def users(self) -> list[dict]:
        return list(self._state()["users"].values())

    def has_users(self) -> bool:
        return bool(self._state()["users"])

    def tokens(self) -> list[str]:
        return list(self._state()["tokens"])

    def by_token(self, token: str) -> Principal | None:
        digest = token_hash(token)
        entry = self._state()["tokens"].get(digest)
        if entry is None or entry["expires_at"] <= self._clock():
            return None
        user = self.user(entry["user"])
        if user is None:
            return None
        return Principal(user["name"], user["role"], token_id(digest))

    def token_expiry(self, token: str) -> float | None:
        """When a token stops being valid (epoch seconds), None if it is unknown or revoked:
        an open stream ends then (`api/grants.py`) without checking its token per message."""
        entry = self._state()["tokens"].get(token_hash(token))
        return None if entry is None else entry["expires_at"]

    def by_password(self, name: str, password: str) -> Principal | None:
        """Slow on purpose (scrypt): run it off the event loop."""
        user = self.user(name)
        if user is None:
            verify_password(password, _dummy())  # same time for a user that does not exist
            return None
        if not verify_password(password, user["password"]):
            return None
        return Principal(user["name"], user["role"])


@functools.cache
def _dummy() -> str:
    return hash_password(secrets.token_hex(8))


# ------------------------------------------------------------------------------ changing

class Accounts:
    """Changes users and tokens by appending their events (durable before it answers), then
    waits until the users projection has applied them, so the next request sees the change."""

    def __init__(self, log: EventLog, directory: Directory, projected: Callable[[], int],
                 token_ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.log = log
        self.directory = directory
        self._projected = projected
        self.token_ttl = token_ttl
        self._clock = clock
        # One change of users at a time: "is another admin left?" is checked and acted on
        # without another change in between (two admins demoting each other at once).
        self._changing = asyncio.Lock()

    async def create_user(self, name: str, password: str, role: str, by: str) -> None:
        check_name(name)
        check_role(role)
        check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        async with self._changing:
            if self.directory.user(name) is not None:
                raise Conflict(f"user {name!r} exists")
            await self._user(USER_CREATED, name, by, role=role, password=hashed)

    async def update_user(self, name: str, by: str, password: str | None = None,
                          role: str | None = None) -> None:
        changes: dict[str, Any] = {}
        if role is not None:
            check_role(role)
            changes["role"] = role
        if password is not None:
            check_password(password)
            changes["password"] = await asyncio.to_thread(hash_password, password)
        async with self._changing:
            user = self.directory.user(name)
            if user is None:
                raise Missing(f"no user {name!r}")
            if role is not None and role != "admin":
                self._keep_an_admin(user, f"demoting {name!r}")
            if changes:
                await self._user(USER_UPDATED, name, by, **changes)

    async def delete_user(self, name: str, by: str) -> None:
        async with self._changing:
            user = self.directory.user(name)
            if user is None:
                raise Missing(f"no user {name!r}")
            self._keep_an_admin(user, f"deleting {name!r}")
            await self._user(USER_DELETED, name, by)

    def _keep_an_admin(self, user: dict, what: str) -> None:
        """Conflict if `user` is the last admin: nobody could manage users after it."""
        if user["role"] != "admin":
            return
        if not any(u["role"] == "admin" and u["name"] != user["name"]
                   for u in self.directory.users()):
            raise Conflict(f"{what} would leave no admin: make another user admin first")

    async def issue_token(self, user: str) -> str:
        while True:
            token, digest = new_token()
            stored = (await self.log.append(
                [token_issued(user, digest, self._clock() + self.token_ttl)]))[0]
            if stored is not None:  # None: a (2**-64 likely) id collision; draw again
                await self._seen(stored.position)
                return token

    async def revoke_token(self, digest: str, by: str) -> bool:
        stored = (await self.log.append([token_revoked(digest, by)]))[0]
        if stored is None:
            return False
        await self._seen(stored.position)
        return True

    def token_digest(self, public_id: str) -> str | None:
        """The stored hash of the token whose public id is `public_id`."""
        for digest in self.directory.tokens():
            if token_id(digest) == public_id:
                return digest
        return None

    async def _user(self, type_: str, name: str, by: str, **data: Any) -> None:
        stream = f"user/{name}"
        store = self.log.store
        for _ in range(5):  # another writer took the version: read it again
            head = await asyncio.to_thread(store.stream_version, stream)
            event = user_event(type_, name, 0 if head is None else head + 1, by, **data)
            stored = (await self.log.append([event]))[0]
            if stored is not None:
                await self._seen(stored.position)
                return
        raise Conflict(f"user {name!r} is being changed by someone else; try again")

    async def _seen(self, position: int) -> None:
        while self._projected() < position:
            await asyncio.sleep(0.002)


class Conflict(AuthError):
    pass


class Missing(AuthError):
    pass


# ------------------------------------------------------------------------------ first run

def add_user(config: Any, name: str, role: str, password_stdin: bool) -> int:
    """`switchboard adduser NAME --role ROLE`: straight into the log, no engine needed (the
    first admin is made this way). Prompts twice for the password, or reads one line from
    stdin. Exit codes: 0 added, 1 the user exists, 2 bad input."""
    import getpass
    import sys

    from engine import exitcodes
    from engine.store import open_store
    from projections import users
    from projections.runner import Projector

    try:
        check_name(name)
        check_role(role)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass(f"password for {name}: ")
            if getpass.getpass("again: ") != password:
                raise AuthError("the passwords differ")
        check_password(password)
    except AuthError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    store = open_store(config.store)
    try:
        projector = Projector(store, [users], persist=False)
        projector.catch_up()
        if name in projector.state("users")["users"]:
            print(f"switchboard: user {name!r} exists", file=sys.stderr)
            return exitcodes.INPUT
        head = store.stream_version(f"user/{name}")
        store.append([user_event(USER_CREATED, name, 0 if head is None else head + 1, "cli",
                                 role=role, password=hash_password(password))])
    finally:
        store.close()
    print(f"user {name} ({role}) added; access control is on from the next start")
    return exitcodes.OK
