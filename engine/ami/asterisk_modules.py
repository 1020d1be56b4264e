"""Asterisk's module loader, emulated: `module show`, `ModuleCheck`, `ModuleLoad`, `Reload`.

As Asterisk 22 answers them (tests/ami-captures/batch2/modules.jsonl, main/manager.c,
main/loader.c, main/cli.c):
- `Command: module show [like X]`: "Command output follows", the table as `Output:` headers
  (`%-30s %-40.40s %-10d %-11s %13s`, a heading, `N modules loaded`); `like` matches the name
  without case.
- `ModuleCheck`: `Version: ` for a loaded module (`app_queue`, `.so` optional), else Error
  "Module not loaded".
- `ModuleLoad`: a module not installed is "Module not found."; `load` answers "Module
  loaded." then `Event: Load` (`Status: Success`); `unload` "Module unloaded." then `Unload`,
  or "Could not unload module." when it is not loaded; `reload` "Module reloaded." then
  `Reload` (`Status: 0`), or "No such module." when not loaded.
- `Reload` (`Module: X`): "Module Reloaded" then `Reload`; "No such module" when not loaded.

State: the modules installed (files in the modules directory) and which are loaded; a change
is seen by the next `module show` and `ModuleCheck`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.ami.emulated import Part, Reply, ack, error, event, param, response
from engine.ami.protocol import parse_action
from engine.capture import read_lines
from engine.envelope import Headers
from projections.modules import module_file as so
from projections.modules import parse_table

HEADING = ("Module", "Description", "Use Count", "Status", "Support Level")


@dataclass
class Module:
    name: str  # with .so, as `module show` prints it
    description: str
    support_level: str = "core"
    loaded: bool = True
    use_count: int = 0


# A few modules of a stock Asterisk 22, with the ones the captures act on.
DEMO: tuple[tuple[str, str, str], ...] = (
    ("app_confbridge.so", "Conference Bridge Application", "core"),
    ("app_dial.so", "Dialing Application", "core"),
    ("app_dictate.so", "Virtual Dictation Machine", "extended"),
    ("app_queue.so", "True Call Queueing", "core"),
    ("app_voicemail.so", "Comedian Mail (Voicemail System)", "core"),
    ("chan_pjsip.so", "PJSIP Channel Driver", "core"),
    ("pbx_config.so", "Text Extension Configuration", "core"),
    ("res_agi.so", "Asterisk Gateway Interface (AGI)", "core"),
    ("res_parking.so", "Call Parking Resource", "core"),
)


def table_line(cells: tuple[str, str, str, str, str]) -> str:
    """One line of `module show`, as main/cli.c prints it (without its newline)."""
    name, description, count, status, level = cells
    return f"{name:<30} {description[:40]:<40} {count:<10} {status:<11} {level:>13}"


class Modules(Part):
    def __init__(self, modules: list[Module] | None = None) -> None:
        self.modules: dict[str, Module] = {m.name: m for m in modules or []}

    @classmethod
    def demo(cls) -> Modules:
        return cls([Module(n, d, level) for n, d, level in DEMO])

    @classmethod
    def from_capture(cls, path: str | Path) -> Modules:
        """The demo modules, plus what the recording shows was there at its start: listed by
        a `module show`, or acted on by a `ModuleLoad` Asterisk accepted (an unload or reload
        of a loaded module, a load of an installed one, not loaded then)."""
        found = cls.demo()
        lines = read_lines(path)
        sent: dict[str, Headers] = {}
        for line in lines:
            if "odule" not in line.raw:  # neither a module action nor its answer
                continue
            headers = parse_action(line.raw)
            if line.dir == "out":
                sent[param(headers, "ActionID")] = headers
                continue
            action = sent.pop(param(headers, "ActionID"), None)
            if action is None or param(headers, "Response") != "Success":
                continue
            verb = param(action, "Action").lower()
            if verb == "command":
                output = headers.get("Output", [])
                output = output if isinstance(output, list) else [output]
                for row in parse_table(output) or []:
                    found.modules.setdefault(row.name, Module(
                        row.name, row.description, row.support_level, True, row.use_count))
            elif verb == "moduleload":
                name = so(param(action, "Module"))
                loaded = param(action, "LoadType").lower() != "load"
                found.modules.setdefault(name, Module(name, "", "unknown", loaded))
        return found

    # -- actions ----------------------------------------------------------------------------

    def answer(self, name: str, headers: Headers, action_id: str) -> Reply | None:
        if name == "command":
            words = param(headers, "Command").split()
            if words[:2] != ["module", "show"]:
                return None
            like = words[3] if len(words) == 4 and words[2] == "like" else ""
            return Reply(self._show(action_id, like))
        if name == "modulecheck":
            module = self.modules.get(so(param(headers, "Module")))
            if module is None or not module.loaded:
                return Reply(error(action_id, "Module not loaded"))
            return Reply(response("Success", action_id, ("Version", "")))
        if name == "moduleload":
            return self._load(param(headers, "Module"), param(headers, "LoadType").lower(),
                              action_id)
        if name == "reload" and param(headers, "Module"):
            module = self.modules.get(so(param(headers, "Module")))
            if module is None or not module.loaded:
                return Reply(error(action_id, "No such module"))
            return Reply(ack(action_id, "Module Reloaded"), [self._event(
                "Reload", param(headers, "Module"), "0")])
        return None

    def _show(self, action_id: str, like: str) -> bytes:
        listed = [m for m in sorted(self.modules.values(), key=lambda m: m.name)
                  if m.loaded and like.lower() in m.name.lower()]
        output = [table_line(HEADING)]
        output += [table_line((m.name, m.description, str(m.use_count), "Running",
                               m.support_level)) for m in listed]
        output.append(f"{len(listed)} modules loaded")
        return response("Success", action_id, ("Message", "Command output follows"),
                        *(("Output", line) for line in output))

    def _load(self, name: str, load_type: str, action_id: str) -> Reply:
        if not load_type:
            return Reply(error(action_id, "Incomplete ModuleLoad action."))
        if not name:
            return Reply(error(action_id, "Need module name"))
        module = self.modules.get(so(name))
        if module is None:
            return Reply(error(action_id, "Module not found."))
        if load_type == "load":
            module.loaded = True
            return Reply(ack(action_id, "Module loaded."), [self._event("Load", name, "Success")])
        if load_type == "unload":
            if not module.loaded:
                return Reply(error(action_id, "Could not unload module."))
            module.loaded = False
            return Reply(ack(action_id, "Module unloaded."),
                         [self._event("Unload", name, "Success")])
        if load_type == "reload":
            if not module.loaded:
                return Reply(error(action_id, "No such module."))
            return Reply(ack(action_id, "Module reloaded."), [self._event("Reload", name, "0")])
        return Reply(error(action_id, "Incomplete ModuleLoad action."))

    @staticmethod
    def _event(kind: str, name: str, status: str) -> bytes:
        return event(kind, [("Module", name), ("Status", status)], "system,all")
