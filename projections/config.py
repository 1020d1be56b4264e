"""Each server's configuration files, and every version of them the log has seen.

The engine reads its managed files with `GetConfig` on every connect, after every reload of
their module and after each change it makes (`engine/configs.py`); the answers carry their file
in their ActionID (`cfg/<file>/...`). An answer is the file's content now: its categories in
order, each with its variables in order (names repeat: `member`), templates marked. A content
the log has not seen for that file before is a new version, named as the seed names its backups,
`<file>.<time first seen>` (`queues.conf.2026-12-07T20:08:36.680417000Z`), with the position of
the answer that brought it; the same content read again is the same version (a file changed
back is its older version again, current once more). `Response: Error` to a read (`Config file
not found`) says the file is not there. A `ConfigVersionHidden` event takes a version out of
the lists; the log keeps it. At most `MAX_VERSIONS` versions are kept per file (the oldest go
first, never the current one).

Views: `config-files` (one row per server and file: what changed and when, the category names;
no values: viewers may read it, and it is what the `config.setting.*` stream messages carry),
`config` (the same with the whole content) and `config-versions` (every version kept, newest
first), both for admins only: configuration holds secrets.

`pjsip-auths` (admins only: it holds the secrets) is seed 004's pjsip auth object of every
`type = auth` section of each server's pjsip.conf as last read (`auth_rows`): res_pjsip's
defaults for what a section leaves out (`auth_type` userpass, `nonce_lifetime` 32), and as
`endpoint_name` the first endpoint naming it in its `auth`, else in its `outbound_auth`.
`tm_update` is when the file was last read with another content (per file, not per section).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from engine.configs import FILE_MODULES, HIDDEN, Content, content_of, file_of, to_content
from engine.envelope import RESPONSE, Event
from projections.base import Row, columns, event_time, iso, to_int

NAME = "config"
VERSION = 1
MAX_VERSIONS = 200

EVENT_TYPES = frozenset({RESPONSE, HIDDEN})
VIEW_ROLES = {"config": "admin", "config-versions": "admin", "pjsip-auths": "admin"}
PJSIP = "pjsip.conf"

_encoder = msgspec.json.Encoder()


def initial() -> dict:
    return {
        "files": {},  # "<server>/<file>" -> the file now
        "versions": {},  # "<server>/<file>" -> [version, ...] in the order first seen
    }


def digest(content: Content) -> str:
    return hashlib.sha256(_encoder.encode(content)).hexdigest()[:24]


def _changed(old: Content, new: Content) -> list[str]:
    """The names of the categories added, removed or changed."""
    def by_name(content: Content) -> dict[str, list]:
        out: dict[str, list] = {}
        for cat in content:
            out.setdefault(cat["name"], []).append(cat)
        return out

    a, b = by_name(old), by_name(new)
    return sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n))


def _version_name(versions: list[dict], filename: str, t: float) -> str:
    """`<file>.<seed timestamp>`; two versions first seen in the same microsecond are told
    apart in the nanosecond digits the clock never fills."""
    stamp = iso(t) or "1970-01-01T00:00:00.000000000Z"
    taken = {v["name"] for v in versions}
    name, n = f"{filename}.{stamp}", 0
    while name in taken:
        n += 1
        name = f"{filename}.{stamp[:-4]}{n:03d}Z"
    return name


def _on_response(state: dict, event: Event) -> None:
    data = event.data
    filename = file_of(data.get("ActionID"))
    if filename is None:
        return
    key = f"{event.server}/{filename}"
    t = event_time(event)
    files = state["files"]
    row = files.get(key)
    if row is None:
        row = files[key] = {
            "server": event.server, "filename": filename,
            "module": FILE_MODULES.get(filename), "exists": None, "version": None,
            "categories": [], "changed": [], "position": event.position, "tm_update": t,
        }
    if data.get("Response") != "Success":
        if row["exists"] is not False:
            row.update(exists=False, version=None, changed=[c["name"] for c in
                                                            row["categories"]],
                       categories=[], position=event.position, tm_update=t)
        return
    content = to_content(content_of(data))
    if row["exists"] and content == row["categories"]:
        return
    versions = state["versions"].setdefault(key, [])
    found = digest(content)
    version = next((v for v in versions if v["digest"] == found), None)
    if version is None:
        version = {"name": _version_name(versions, filename, t), "digest": found,
                   "position": event.position, "time": t, "hidden": False,
                   "categories": content}
        versions.append(version)
        _trim(versions, version)
    row.update(exists=True, version=version["name"], changed=_changed(row["categories"],
                                                                      content),
               categories=content, position=event.position, tm_update=t)


def _trim(versions: list[dict], keep: dict) -> None:
    while len(versions) > MAX_VERSIONS:
        oldest = next(v for v in versions if v is not keep)
        versions.remove(oldest)


def _on_hidden(state: dict, event: Event) -> None:
    data = event.data
    key = f"{event.server}/{data.get('filename')}"
    for version in state["versions"].get(key, ()):
        if version["name"] == data.get("version"):
            version["hidden"] = True


def apply(state: dict, event: Event) -> dict:
    if event.type == RESPONSE:
        if "ActionID" in event.data:
            _on_response(state, event)
    elif event.type == HIDDEN:
        _on_hidden(state, event)
    return state


# ------------------------------------------------------------------------------ views

_FILE = "server filename module exists:bool version versions:int categories:json changed:json "
COLUMNS: dict[str, dict[str, str]] = {
    "config-files": columns(_FILE + "position:int tm_update"),
    "config": columns(_FILE + "content:json position:int tm_update"),
    "config-versions": columns(
        "server filename file module position:int tm_create current:bool hidden:bool "
        "content:json"),
    "pjsip-auths": columns(
        "server object_name object_type username auth_type password md5_cred realm "
        "nonce_lifetime:int endpoint_name tm_update"),
}


def _file_row(state: dict, key: str, row: dict, content: bool) -> Row:
    versions = state["versions"].get(key, ())
    out: Row = {
        "server": row["server"], "filename": row["filename"], "module": row["module"],
        "exists": row["exists"], "version": row["version"],
        "versions": sum(1 for v in versions if not v["hidden"]),
        "categories": [c["name"] for c in row["categories"]], "changed": row["changed"],
    }
    if content:
        out["content"] = row["categories"]
    out["position"] = row["position"]
    out["tm_update"] = iso(row["tm_update"])
    return out


def file_rows(state: dict, now: float) -> list[Row]:
    return [_file_row(state, k, state["files"][k], False) for k in sorted(state["files"])]


def config_rows(state: dict, now: float) -> list[Row]:
    return [_file_row(state, k, state["files"][k], True) for k in sorted(state["files"])]


def version_rows(state: dict, now: float) -> list[Row]:
    """Every version kept, newest first (hidden ones too, marked: the settings routes leave
    them out)."""
    rows: list[Row] = []
    for key in sorted(state["versions"]):
        current = state["files"].get(key, {}).get("version")
        server, _, filename = key.partition("/")
        for v in reversed(state["versions"][key]):
            rows.append({
                "server": server, "filename": v["name"], "file": filename,
                "module": FILE_MODULES.get(filename), "position": v["position"],
                "tm_create": iso(v["time"]), "current": v["name"] == current,
                "hidden": v["hidden"], "content": v["categories"]})
    rows.sort(key=lambda r: (r["position"], r["server"]), reverse=True)
    return rows


def content_at(state: dict, server: str, filename: str) -> Content | None:
    """A file's content now (None: never read, or not there)."""
    row = state["files"].get(f"{server}/{filename}")
    if row is None or not row["exists"]:
        return None
    return row["categories"]


def _last(cat: dict, name: str, default: str) -> str:
    """A section's setting: the last line of that name (sorcery applies them in order)."""
    values = [v for k, v in cat["variables"] if k.strip().lower() == name]
    return values[-1] if values else default


def _names(cat: dict, name: str) -> list[str]:
    """The objects a setting names (`auth = a,b`, or the setting given several times)."""
    return [n.strip() for k, v in cat["variables"] if k.strip().lower() == name
            for n in v.split(",") if n.strip()]


def auths_of(content: Content) -> list[Row]:
    """Seed 004's auth objects of a pjsip.conf (without `server` and `tm_update`), in file
    order; a name given to two auth sections is the last one."""
    sections = [c for c in content if not c["template"]]
    endpoints = [c for c in sections if _last(c, "type", "").lower() == "endpoint"]
    out: dict[str, Row] = {}
    for cat in sections:
        if _last(cat, "type", "").lower() != "auth":
            continue
        name = cat["name"]
        endpoint = next((e["name"] for e in endpoints if name in _names(e, "auth")), None)
        if endpoint is None:
            endpoint = next((e["name"] for e in endpoints
                             if name in _names(e, "outbound_auth")), "")
        out[name] = {
            "object_name": name, "object_type": "auth",
            "username": _last(cat, "username", ""),
            "auth_type": _last(cat, "auth_type", "userpass"),
            "password": _last(cat, "password", ""), "md5_cred": _last(cat, "md5_cred", ""),
            "realm": _last(cat, "realm", ""),
            "nonce_lifetime": to_int(_last(cat, "nonce_lifetime", "32")),
            "endpoint_name": endpoint,
        }
    return list(out.values())


def auth_rows(state: dict, now: float) -> list[Row]:
    rows: list[Row] = []
    for key in sorted(state["files"]):
        row = state["files"][key]
        if row["filename"] != PJSIP or not row["exists"]:
            continue
        rows.extend({"server": row["server"], **auth, "tm_update": iso(row["tm_update"])}
                    for auth in auths_of(row["categories"]))
    return rows


VIEWS: dict[str, Any] = {
    "config-files": file_rows,
    "config": config_rows,
    "config-versions": version_rows,
    "pjsip-auths": auth_rows,
}
