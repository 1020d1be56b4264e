"""An open stream ends when the right it was opened with does.

A stream (`/events`, `/ws`) is let in once, when it starts, by its login token. Users and tokens
are events in the log (`engine/auth.py`, the `users` projection), so a token logged out
(`DELETE /admin/login`) or revoked by an admin, a token that expires, a user deleted or no
longer allowed to read, would change nothing for a stream already running. Checking the token
at every message would cost per message and per client on the hub's hot path; instead the hub
checks every open stream's `Grant` again after the users projection has applied an event that
can take a right away (`CHANGES`), and each stream once when its token expires (one timer per
stream, `api/hub.py`). A stream whose grant has lapsed ends, saying why: SSE with
`event: revoked`, WebSocket with close code 1008.

A user whose role changes keeps streaming as long as its role may still read.
"""

from __future__ import annotations

from api.auth import Access
from engine.auth import TOKEN_REVOKED, USER_CREATED, USER_DELETED, USER_UPDATED

READ = "viewer"  # the role a stream needs
# The events after which open streams are checked again: a token revoked, a user deleted or
# its role changed, the first user created (access control turns on). Expiry has its timer.
CHANGES = frozenset({TOKEN_REVOKED, USER_DELETED, USER_UPDATED, USER_CREATED})


class Grant:
    """What one open stream was let in with: the token it presented (None: none, access
    control was off) and the user that token was."""

    __slots__ = ("access", "token", "user", "expires_at")

    def __init__(self, access: Access, token: str | None, user: str) -> None:
        self.access = access
        self.token = token
        self.user = user
        # when the token stops being valid (epoch seconds): tokens are never extended
        self.expires_at = access.directory.token_expiry(token) if token else None

    def lapsed(self) -> str | None:
        """Why the stream may no longer run (the reason it is closed with), or None."""
        access = self.access
        if not access.enabled:
            return None
        if self.token is None:
            return "access control is on now: log in"
        directory = access.directory
        principal = directory.by_token(self.token)
        if principal is not None:
            if principal.may(READ):
                return None
            return f"user {principal.name} ({principal.role}) may no longer read"
        if directory.user(self.user) is None:
            return f"user {self.user} was deleted"
        if directory.token_expiry(self.token) is None:
            return "authtoken revoked (logged out, or by an admin)"
        return "authtoken expired"
