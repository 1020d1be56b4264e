"""Systems (`/core/systems`): one row per Asterisk, its versions, settings and health.

Fed by the session itself (`Banner` gives the AMI version and the session; `ConnectionLost`
marks it down), by `FullyBooted` / `Shutdown` / `Reload` events, and by the answers to the
`CoreSettings` and `CoreStatus` actions the engine sends on connect. Those answers are plain
`Response`s, recognised by their headers (`AsteriskVersion`, `CoreStartupDate`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from engine.envelope import BANNER, CONNECTION_LOST, RESPONSE, Event
from projections.base import Row
from projections.channels import iso, to_float, to_int, when

NAME = "systems"
VERSION = 1

SETTINGS: tuple[tuple[str, str, type], ...] = (  # CoreSettings header, field, type
    ("AMIversion", "ami_version", str),
    ("AsteriskVersion", "ast_version", str),
    ("SystemName", "system_name", str),
    ("CoreMaxCalls", "max_calls", int),
    ("CoreMaxLoadAvg", "max_load_avg", float),
    ("CoreRunUser", "run_user", str),
    ("CoreRunGroup", "run_group", str),
    ("CoreMaxFilehandles", "max_file_handles", int),
    ("CoreRealTimeEnabled", "real_time_enabled", str),
    ("CoreCDRenabled", "cdr_enabled", str),
    ("CoreHTTPenabled", "http_enabled", str),
)
STATUS: tuple[tuple[str, str, type], ...] = (  # CoreStatus header, field, type
    ("CoreStartupDate", "startup_date", str),
    ("CoreStartupTime", "startup_time", str),
    ("CoreReloadDate", "reload_date", str),
    ("CoreReloadTime", "reload_time", str),
    ("CoreCurrentCalls", "current_calls", int),
    ("CoreProcessedCalls", "processed_calls", int),
)

COLUMNS: dict[str, dict[str, str]] = {
    "systems": {
        "id": "str", "server": "str", "system_name": "str", "ami_version": "str",
        "ast_version": "str", "cdr_enabled": "str", "http_enabled": "str",
        "real_time_enabled": "str", "current_calls": "int", "processed_calls": "int",
        "max_calls": "int", "max_file_handles": "int", "max_load_avg": "float",
        "reload_date": "str", "reload_time": "str", "run_group": "str", "run_user": "str",
        "startup_date": "str", "startup_time": "str", "connected": "bool", "session": "str",
        "fully_booted": "bool", "status": "str", "uptime": "int", "last_reload": "int",
        "disconnect_reason": "str", "tm_update": "str",
    },
}


def initial() -> dict:
    return {"systems": {}}


def apply(state: dict, event: Event) -> dict:
    handler = HANDLERS.get(event.type)
    if handler is not None:
        handler(state, event)
    return state


def _system(state: dict, event: Event) -> dict:
    systems = state["systems"]
    row = systems.get(event.server)
    if row is None:
        row = systems[event.server] = {name: None for name in COLUMNS["systems"]}
        row["id"] = row["server"] = event.server
        row["connected"] = False
        row["fully_booted"] = False
    row["tm_update"] = when(event)
    return row


def _copy(row: dict, data: dict, table: tuple[tuple[str, str, type], ...]) -> None:
    for header, field, kind in table:
        value = data.get(header)
        if value is None:
            continue
        if kind is int:
            value = to_int(value)
        elif kind is float:
            value = to_float(value)
        row[field] = value


def _banner(state: dict, event: Event) -> None:
    row = _system(state, event)
    banner = str(event.data.get("Banner", ""))
    version = banner.rpartition("/")[2].strip()
    if version:
        row["ami_version"] = version
    row["connected"] = True
    row["session"] = event.stream
    row["disconnect_reason"] = None


def _lost(state: dict, event: Event) -> None:
    row = _system(state, event)
    row["connected"] = False
    row["fully_booted"] = False
    reason = event.data.get("Reason")
    row["disconnect_reason"] = reason if isinstance(reason, str) else "connection lost"


def _fully_booted(state: dict, event: Event) -> None:
    row = _system(state, event)
    row["fully_booted"] = True
    row["status"] = event.data.get("Status", "Fully Booted")
    row["uptime"] = to_int(event.data.get("Uptime"))
    row["last_reload"] = to_int(event.data.get("LastReload"))


def _shutdown(state: dict, event: Event) -> None:
    row = _system(state, event)
    row["fully_booted"] = False
    restart = event.data.get("Restart") == "True"
    row["status"] = f"Shutdown ({event.data.get('Shutdown', '')}{', restart' if restart else ''})"


def _reload(state: dict, event: Event) -> None:
    row = _system(state, event)
    when = datetime.fromtimestamp(row["tm_update"], UTC)
    row["reload_date"] = f"{when:%Y-%m-%d}"
    row["reload_time"] = f"{when:%H:%M:%S}"


def _response(state: dict, event: Event) -> None:
    data = event.data
    if "AsteriskVersion" in data or "AMIversion" in data:
        _copy(_system(state, event), data, SETTINGS)
    elif "CoreStartupDate" in data:
        _copy(_system(state, event), data, STATUS)


HANDLERS = {
    BANNER: _banner,
    CONNECTION_LOST: _lost,
    "FullyBooted": _fully_booted,
    "Shutdown": _shutdown,
    "Reload": _reload,
    RESPONSE: _response,
}
EVENT_TYPES = frozenset(HANDLERS)  # apply ignores every other type: the runner may skip it


def rows(state: dict, now: float) -> list[Row]:
    out: list[Row] = []
    for row in state["systems"].values():
        item = dict(row)
        item["tm_update"] = iso(row["tm_update"])
        out.append(item)
    out.sort(key=lambda r: r["server"])
    return out


VIEWS = {"systems": rows}
