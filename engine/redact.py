"""What never leaves the server: password hashes, login tokens and their digests, secrets.

The log keeps them (requests are checked against the hashes; a replay must give the same state),
so anything that serves raw events over HTTP (a timeline, today) passes them through `redact`
first. Read models never hold them in their views (`projections/users.py`), and the users and
tokens views are for admins only. A store URL is shown (the start-up log, `/status`, messages)
through `redact_url`, without its password.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from engine.envelope import Event

# Keys whose values are secrets wherever they appear, compared without case: the scrypt hash
# (`UserCreated`, `UserUpdated`), a token's SHA-256 (`TokenIssued`, `TokenRevoked`), and the
# names a secret goes by elsewhere (an AMI `Secret:`, a voicemail password, a seed `authtoken`).
SECRET_KEYS = frozenset({"password", "token_sha256", "secret", "authtoken", "token"})
REDACTED = "(redacted)"


def redact(value: Any) -> Any:
    """`value` with every secret key's value replaced, at any depth (a new object when
    something was replaced; the same object otherwise)."""
    if isinstance(value, dict):
        out = {k: REDACTED if k.lower() in SECRET_KEYS else redact(v)
               for k, v in value.items()}
        return out if out != value else value
    if isinstance(value, list):
        items = [redact(v) for v in value]
        return items if items != value else value
    return value


def redact_event(event: Event) -> Event:
    data = redact(event.data)
    return event if data is event.data else msgspec.structs.replace(event, data=data)


def redact_url(url: str) -> str:
    """A store URL fit to print or serve: without the password of its user part, or of a
    `password=` query parameter (libpq reads both). Every place that shows a store URL (the
    start-up log, `/status`, the demo's hints, error messages) goes through here."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a store URL that cannot be parsed)"
    netloc, query = parts.netloc, parts.query
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        netloc = f"{creds.split(':', 1)[0]}@{host}"
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(k.lower() == "password" for k, _ in pairs):
        query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs],
                          safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # (urlunsplit would turn sqlite:///x into sqlite:/x)
    return urlunsplit(parts._replace(netloc=netloc, query=query))
