"""What never leaves the server: password hashes, login tokens and their digests, secrets.

The log keeps them (requests are checked against the hashes; a replay must give the same state),
so anything that serves raw events over HTTP (a timeline, today) passes them through `redact`
first. Read models never hold them in their views (`projections/users.py`), and the users and
tokens views are for admins only. A store URL is shown (the start-up log, `/status`, messages)
through `redact_url`, without its password.

Asterisk's configuration files hold secrets too (a pjsip auth's `password`, a voicemail
mailbox's PIN, the first field of `100 => 1234,Alice,...`), in shapes a key test does not see:
a `GetConfig` answer carries them as `Line-000001-000003: password=...`, a `GetConfigJSON`
answer inside its `JSON` text, an `UpdateConfig` as `Var-000002: password` with its
`Value-000002` (a configuration change's command holds one in `action`, more in `continued`),
and such a command its file content before (`before`, `engine/configs.py`). `redact_event`
redacts each of these (`redact_config_value` says which values are secrets), then every
secret key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from engine.envelope import Event
from engine.voicemail_conf import SETTINGS as VOICEMAIL_SETTINGS

# Keys whose values are secrets wherever they appear, compared without case: the scrypt hash
# (`UserCreated`, `UserUpdated`), a token's SHA-256 (`TokenIssued`, `TokenRevoked`), and the
# names a secret goes by elsewhere (an AMI `Secret:`, a voicemail password, a seed `authtoken`).
SECRET_KEYS = frozenset({"password", "token_sha256", "secret", "authtoken", "token"})
REDACTED = "(redacted)"
# Variables of Asterisk's configuration files whose values are secrets: pjsip auth `password`
# and `md5_cred`, sip/iax `secret` and `register` (user:secret@host), ConfBridge `pin` and
# `admin_pin`, manager.conf `secret`.
CONFIG_SECRETS = SECRET_KEYS | {"md5_cred", "pin", "admin_pin", "register"}
# voicemail.conf: every variable of a mailbox context is `mailbox => PIN,name,email,...`
VOICEMAIL_FILES = frozenset({"voicemail.conf"})


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
    data = redact(_redact_config(event.data))
    return event if data is event.data else msgspec.structs.replace(event, data=data)


def redact_settings(row: dict[str, Any]) -> dict[str, Any]:
    """An object made of configuration variables (a pjsip auth: `password`, `md5_cred`), its
    secret ones replaced."""
    return {k: REDACTED if k.lower() in CONFIG_SECRETS else v for k, v in row.items()}


def redact_config_value(filename: str | None, category: str, name: str, value: str) -> str:
    """A configuration variable's value fit to show: a secret's replaced, a voicemail
    mailbox's PIN (its first field) replaced. `filename` None: a file we cannot tell (a read
    someone else made), whose secret names are still known."""
    if name.strip().lower() in CONFIG_SECRETS:
        return REDACTED
    if filename in VOICEMAIL_FILES and category.strip().lower() not in VOICEMAIL_SETTINGS:
        _, sep, rest = value.partition(",")
        return REDACTED + sep + rest
    return value


def _redact_config(data: dict[str, Any]) -> dict[str, Any]:
    """The configuration shapes of `data` redacted (a new dict when something was)."""
    out = data
    if "Response" in data:
        if any(k.startswith("Line-") for k in data):
            out = _get_config(data)
        elif isinstance(data.get("JSON"), str):
            out = _get_config_json(data)
    action = data.get("action")
    if _is_update_config(action):
        out = {**out, "action": _update_config(action)}
    continued = data.get("continued")
    if isinstance(continued, list):
        out = {**out, "continued": [_update_config(a) if _is_update_config(a) else a
                                    for a in continued]}
    before = data.get("before")
    if isinstance(before, list):
        filename = data.get("filename") if isinstance(data.get("filename"), str) else None
        out = {**out, "before": redact_content(before, filename)}
    return out


def _read_file(data: dict[str, Any]) -> str | None:
    from engine.configs import file_of  # engine/configs.py redacts with this module

    return file_of(data.get("ActionID"))


def _get_config(data: dict[str, Any]) -> dict[str, Any]:
    filename = _read_file(data)
    out = dict(data)
    for key, value in data.items():
        if not key.startswith("Line-") or not isinstance(value, str):
            continue
        category = data.get("Category-" + key[5:].partition("-")[0])
        name, sep, text = value.partition("=")
        if sep:
            shown = redact_config_value(filename, str(category or ""), name, text)
            out[key] = f"{name}={shown}"
    return out


def _get_config_json(data: dict[str, Any]) -> dict[str, Any]:
    filename = _read_file(data)
    try:
        parsed = msgspec.json.decode(data["JSON"])
    except msgspec.DecodeError:
        return data
    if not isinstance(parsed, dict):
        return data
    shown = {cat: {k: redact_config_value(filename, cat, k, v) if isinstance(v, str) else v
                   for k, v in variables.items()} if isinstance(variables, dict) else variables
             for cat, variables in parsed.items()}
    return {**data, "JSON": msgspec.json.encode(shown).decode()}


def _is_update_config(action: Any) -> bool:
    return isinstance(action, dict) and str(action.get("Action", "")).lower() == "updateconfig"


def _update_config(action: dict[str, Any]) -> dict[str, Any]:
    filename = str(action.get("SrcFilename", "")) or None
    out = dict(action)
    for key, value in action.items():
        if key.startswith("Value-") and isinstance(value, str):
            n = key[6:]
            shown = redact_config_value(filename, str(action.get("Cat-" + n, "")),
                                        str(action.get("Var-" + n, "")), value)
            out[key] = shown
    return out


def redact_content(content: list[Any], filename: str | None) -> list[Any]:
    """A file's content as `engine/configs.py` keeps it, its secrets replaced."""
    out = []
    for cat in content:
        if not isinstance(cat, dict):
            out.append(cat)
            continue
        name = str(cat.get("name", ""))
        variables = [[v[0], redact_config_value(filename, name, str(v[0]), str(v[1]))]
                     if isinstance(v, list) and len(v) == 2 else v
                     for v in cat.get("variables") or []]
        out.append({**cat, "variables": variables})
    return out


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
