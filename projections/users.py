"""Users and login tokens (`engine/auth.py` writes the events), as access control reads them.

State keeps the password hashes and token hashes, because requests are checked against them;
the views (REST `/admin/users`, `/admin/tokens`, exports) never show either: a user is its name,
role and times, a token its public id (the first 16 hex digits of its hash), owner and times.

Tokens past their expiry are dropped when a later token is issued (at that event's time), so the
state stays small without a clock: same log, same state. A deleted user's tokens go with it.
"""

from __future__ import annotations

from engine.auth import (
    TOKEN_ISSUED,
    TOKEN_REVOKED,
    USER_CREATED,
    USER_DELETED,
    USER_UPDATED,
    token_id,
)
from engine.envelope import Event
from projections.base import Row, event_time, iso

NAME = "users"
VERSION = 1

COLUMNS: dict[str, dict[str, str]] = {
    "users": {"name": "str", "role": "str", "tm_create": "str", "tm_update": "str"},
    "tokens": {"id": "str", "user": "str", "tm_create": "str", "expires_at": "str"},
}


def initial() -> dict:
    return {
        "users": {},  # name -> {name, role, password (scrypt hash), created, updated}
        "tokens": {},  # sha256 hex -> {user, issued, expires_at}
    }


def _created(state: dict, event: Event) -> None:
    data = event.data
    t = event_time(event)
    state["users"][data["name"]] = {
        "name": data["name"], "role": data["role"], "password": data["password"],
        "created": t, "updated": t,
    }


def _updated(state: dict, event: Event) -> None:
    user = state["users"].get(event.data["name"])
    if user is None:
        return
    for field in ("role", "password"):
        value = event.data.get(field)
        if isinstance(value, str):
            user[field] = value
    user["updated"] = event_time(event)


def _deleted(state: dict, event: Event) -> None:
    name = event.data["name"]
    state["users"].pop(name, None)
    tokens = state["tokens"]
    for digest in [d for d, t in tokens.items() if t["user"] == name]:
        del tokens[digest]


def _issued(state: dict, event: Event) -> None:
    t = event_time(event)
    tokens = state["tokens"]
    for digest in [d for d, tok in tokens.items() if tok["expires_at"] <= t]:
        del tokens[digest]
    tokens[event.data["token_sha256"]] = {
        "user": event.data["user"], "issued": t, "expires_at": float(event.data["expires_at"]),
    }


def _revoked(state: dict, event: Event) -> None:
    state["tokens"].pop(event.data.get("token_sha256"), None)


HANDLERS = {
    USER_CREATED: _created,
    USER_UPDATED: _updated,
    USER_DELETED: _deleted,
    TOKEN_ISSUED: _issued,
    TOKEN_REVOKED: _revoked,
}
EVENT_TYPES = frozenset(HANDLERS)


def apply(state: dict, event: Event) -> dict:
    handler = HANDLERS.get(event.type)
    if handler is not None and isinstance(event.data.get("name", ""), str):
        handler(state, event)
    return state


def user_rows(state: dict, now: float) -> list[Row]:
    return [
        {"name": u["name"], "role": u["role"], "tm_create": iso(u["created"]),
         "tm_update": iso(u["updated"])}
        for _, u in sorted(state["users"].items())
    ]


def token_rows(state: dict, now: float) -> list[Row]:
    return [
        {"id": token_id(digest), "user": t["user"], "tm_create": iso(t["issued"]),
         "expires_at": iso(t["expires_at"])}
        for digest, t in sorted(state["tokens"].items(), key=lambda kv: kv[1]["issued"])
        if t["expires_at"] > now
    ]


VIEWS = {"users": user_rows, "tokens": token_rows}
VIEW_ROLES = {"users": "admin", "tokens": "admin"}  # who has an account is not for viewers
