"""Systems (`/core/systems`): one row per Asterisk, its versions, settings and health.

Fed by the session itself (`Banner` gives the AMI version and the session; `ConnectionLost`
marks it down), by `FullyBooted` / `Shutdown` / `Reload` events, and by the answers to the
`CoreSettings` and `CoreStatus` actions the engine sends on connect. Those answers are plain
`Response`s, recognised by their headers (`AsteriskVersion`, `CoreStartupDate`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from engine.envelope import BANNER, CONNECTION_LOST, RESPONSE, Event
from projections.base import (
    Handler,
    Row,
    columns,
    dispatch,
    event_time,
    iso,
    pick,
    to_float,
    to_int,
)

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
    "systems": columns(
        "id server system_name ami_version ast_version cdr_enabled http_enabled "
        "real_time_enabled current_calls:int processed_calls:int max_calls:int "
        "max_file_handles:int max_load_avg:float reload_date reload_time run_group run_user "
        "startup_date startup_time connected:bool session fully_booted:bool status uptime:int "
        "last_reload:int disconnect_reason tm_update"),
}


def initial() -> dict:
    return {"systems": {}}


def _system(state: dict, event: Event) -> dict:
    systems = state["systems"]
    row = systems.get(event.server)
    if row is None:
        row = systems[event.server] = {name: None for name in COLUMNS["systems"]}
        row["id"] = row["server"] = event.server
        row["connected"] = False
        row["fully_booted"] = False
    row["tm_update"] = event_time(event)
    return row


def _copy(row: dict, event: Event, table: tuple[tuple[str, str, type], ...]) -> None:
    for header, field, kind in table:
        if header not in event.data:
            continue
        value = event.header(header)
        if kind is int:
            row[field] = to_int(value)
        elif kind is float:
            row[field] = to_float(value)
        else:
            row[field] = value


def _banner(state: dict, event: Event) -> None:
    row = _system(state, event)
    banner = event.header("Banner")
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
    row["disconnect_reason"] = event.header("Reason") or "connection lost"


def _fully_booted(state: dict, event: Event) -> None:
    row = _system(state, event)
    row["fully_booted"] = True
    row["status"] = event.header("Status", "Fully Booted")
    row["uptime"] = to_int(event.data.get("Uptime"))
    row["last_reload"] = to_int(event.data.get("LastReload"))


def _shutdown(state: dict, event: Event) -> None:
    row = _system(state, event)
    row["fully_booted"] = False
    restart = event.header("Restart") == "True"
    row["status"] = f"Shutdown ({event.header('Shutdown')}{', restart' if restart else ''})"


def _reload(state: dict, event: Event) -> None:
    row = _system(state, event)
    moment = datetime.fromtimestamp(row["tm_update"], UTC)
    row["reload_date"] = f"{moment:%Y-%m-%d}"
    row["reload_time"] = f"{moment:%H:%M:%S}"


def _response(state: dict, event: Event) -> None:
    data = event.data
    if "AsteriskVersion" in data or "AMIversion" in data:
        _copy(_system(state, event), event, SETTINGS)
    elif "CoreStartupDate" in data:
        _copy(_system(state, event), event, STATUS)


HANDLERS: dict[str, Handler] = {
    BANNER: _banner,
    CONNECTION_LOST: _lost,
    "FullyBooted": _fully_booted,
    "Shutdown": _shutdown,
    "Reload": _reload,
    RESPONSE: _response,
}
EVENT_TYPES = frozenset(HANDLERS)  # apply ignores every other type: the runner may skip it
apply = dispatch(HANDLERS)


def rows(state: dict, now: float) -> list[Row]:
    out = [pick(row, COLUMNS["systems"], tm_update=iso(row["tm_update"]))
           for row in state["systems"].values()]
    out.sort(key=lambda r: r["server"])
    return out


VIEWS = {"systems": rows}
