"""Asterisk modules (seed 004 `/core/modules`): which are loaded, and whether they run.

AMI has no list action for modules; the CLI's `module show` has the table, and the `Command`
action returns a CLI command's output as `Output:` headers, one per line:

    Output: Module                         Description                    ...  Status ...
    Output: app_queue.so                   True Call Queueing             ...  Running ...
    Output: 1 modules loaded

The engine sends `Command: module show` on every connect (`engine/ami/ingest.py`) with an
ActionID starting `MODULE_TABLE`: that answer lists every loaded module, so modules of that
server it does not list are gone (unloaded while we were disconnected). Any other `module show`
answer in the log (`module show like app_q`, a filtered table) updates the rows it lists and
removes none. Answers are recognised by the table's heading line (`parse_table`).

Between two tables the module events keep the rows current: `Load` (Status `Success`: loaded
and running), `Unload` (Status `Success`: gone), `Reload` (Status `0`, AST_MODULE_RELOAD_SUCCESS:
reloaded). Asterisk names modules with or
without `.so` (`ModuleLoad` and the events say `app_dictate.so`, `UpdateConfig`'s reload says
`app_voicemail`); rows are keyed and named without it, as seed 004 names them (`app_voicemail`).
So are the answers to commands Switchboard sent: a `ModuleCheck` that answers
`Module not loaded` removes the module, and a successful `ModuleLoad` (load, unload, reload)
changes it even on an Asterisk whose manager user does not receive system events.

Seed 004's `size` (the module file's size, which jade read from its own disk) is not something
AMI tells: it is null.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from engine.commands import REQUESTED
from engine.envelope import RESPONSE, Event
from projections import pending
from projections.base import Handler, Row, columns, dispatch, event_time, iso, pick, to_int

NAME = "modules"
VERSION = 1

MODULE_TABLE = "sb-modules-"  # ActionID prefix of the engine's own, unfiltered `module show`
RUNNING = "Running"
_HEADING = re.compile(r"^Module\s+Description\s+Use Count\s+Status\s+Support Level\s*$")
_LINE = re.compile(r"^(\S+)\s+(.*?)\s+(-?\d+)\s+(Running|Not Running)\s+(\S+)\s*$")
_COUNT = re.compile(r"^\d+ modules? loaded$")

COLUMNS: dict[str, dict[str, str]] = {
    "modules": columns(
        "server name load size:int description use_count:int support_level tm_update"),
}


class ModuleLine(NamedTuple):
    name: str  # as printed: `app_queue.so`
    description: str
    use_count: int
    status: str  # Running, Not Running
    support_level: str  # core, extended, deprecated, unknown


def module_name(name: str) -> str:
    """The name a module is known by here: without `.so`."""
    return name[:-3] if name.endswith(".so") else name


def module_file(name: str) -> str:
    """The name Asterisk's ModuleLoad needs: the file in its modules directory, with `.so`
    (manager.c looks the name up as given, so `app_voicemail` alone is "Module not found.")."""
    return name if name.endswith(".so") else name + ".so"


def parse_table(lines: list[str]) -> list[ModuleLine] | None:
    """`module show` output lines as modules; None when they are not that table. Asterisk
    prints `%-30s %-40.40s %-10d %-11s %13s`: the description may hold blanks and the name
    may overflow its column, so a line is read from both ends."""
    if not lines or not _HEADING.match(lines[0]):
        return None
    out: list[ModuleLine] = []
    for line in lines[1:]:
        match = _LINE.match(line)
        if match:
            name, description, count, status, level = match.groups()
            out.append(ModuleLine(name, description.strip(), int(count), status, level))
        elif line.strip() and not _COUNT.match(line.strip()):
            return None  # not a line of the table: not this table
    return out


def initial() -> dict:
    return {
        "modules": {},  # "<server>/<name without .so>" -> row
        "pending": {},  # command id -> [action, module name] (projections/pending.py)
    }


def _key(server: str, name: str) -> str:
    return f"{server}/{module_name(name)}"


def _loaded(state: dict, server: str, name: str, t: float, status: str = RUNNING) -> dict:
    key = _key(server, name)
    row = state["modules"].get(key)
    if row is None:
        row = state["modules"][key] = {
            "server": server, "name": module_name(name), "load": status, "size": None,
            "description": None, "use_count": None, "support_level": None, "tm_update": t}
    row["load"] = status
    row["tm_update"] = t
    return row


def _gone(state: dict, server: str, name: str) -> None:
    state["modules"].pop(_key(server, name), None)


def _table(state: dict, event: Event, table: list[ModuleLine]) -> None:
    t = event_time(event)
    listed = set()
    for line in table:
        row = _loaded(state, event.server, line.name, t, line.status)
        row.update(description=line.description, use_count=line.use_count,
                   support_level=line.support_level)
        listed.add(_key(event.server, line.name))
    if event.header("ActionID").startswith(MODULE_TABLE):
        prefix = event.server + "/"
        for key in [k for k in state["modules"] if k.startswith(prefix) and k not in listed]:
            del state["modules"][key]


def _response(state: dict, event: Event) -> None:
    output = event.data.get("Output")
    if output is not None:
        table = parse_table(output if isinstance(output, list) else [output])
        if table is not None:
            _table(state, event, table)
            return
    found = pending.asked(state, event)  # kept until its outcome: api/topics.py reads it
    if found is None:
        return
    action, name = found[1]
    ok = event.header("Response") == "Success"
    t = event_time(event)
    if action == "modulecheck":
        if ok:
            _loaded(state, event.server, name, t)
        elif event.header("Message") == "Module not loaded":
            _gone(state, event.server, name)
    elif ok and action == "unload":
        _gone(state, event.server, name)
    elif ok and action == "load":
        _loaded(state, event.server, name, t)
    elif ok:
        _reloaded(state, event.server, name, t)


def _requested(state: dict, event: Event) -> None:
    """A ModuleCheck or ModuleLoad Switchboard sends: which module its answer is about."""
    action = pending.requested(event)
    if action is None:
        return
    verb, name = str(action.get("Action", "")).lower(), action.get("Module")
    if not isinstance(name, str) or not name:
        return
    if verb == "moduleload":
        verb = str(action.get("LoadType", "")).lower()
    if verb in ("modulecheck", "load", "unload", "reload"):
        pending.note(state, event, [verb, name])


def _load(state: dict, event: Event) -> None:
    name = event.header("Module")
    if name and event.header("Status") == "Success":
        _loaded(state, event.server, name, event_time(event))


def _unload(state: dict, event: Event) -> None:
    name = event.header("Module")
    if name and event.header("Status") == "Success":
        _gone(state, event.server, name)


def _reload(state: dict, event: Event) -> None:
    if to_int(event.data.get("Status")) == 0:
        _reloaded(state, event.server, event.header("Module"), event_time(event))


def _reloaded(state: dict, server: str, name: str, t: float) -> None:
    """A module reloaded: running. Only a module we know: Asterisk reloads parts of its core
    by name too (`cdr`, `manager`, `All`), which are no modules of its table."""
    row = state["modules"].get(_key(server, name))
    if row is not None:
        row["load"] = RUNNING
        row["tm_update"] = t


HANDLERS: dict[str, Handler] = {
    **pending.HANDLERS,
    RESPONSE: _response,
    REQUESTED: _requested,
    "Load": _load,
    "Unload": _unload,
    "Reload": _reload,
}
EVENT_TYPES = frozenset(HANDLERS)
apply = dispatch(HANDLERS)


def rows(state: dict, now: float) -> list[Row]:
    out = [pick(row, COLUMNS["modules"], tm_update=iso(row["tm_update"]))
           for row in state["modules"].values()]
    out.sort(key=lambda r: (r["server"], r["name"]))
    return out


VIEWS = {"modules": rows}
