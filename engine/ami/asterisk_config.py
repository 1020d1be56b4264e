"""Asterisk's configuration files as its AMI reads and edits them: a model for the fake Asterisks.

The engine reads and writes configuration only through AMI (`GetConfig`, `GetConfigJSON`,
`ListCategories`, `UpdateConfig`, `Reload`), so the AMI test server and the simulated PBX must
answer those actions as Asterisk 22 does, statefully: an `UpdateConfig` changes what the next
`GetConfig` returns, and after the module's reload what `QueueStatus` or `Parkinglots` list.
This module is that behaviour, in one place both fakes use (`AsteriskConfig.answer`), written
from Asterisk's `main/manager.c` (`action_getconfig`, `handle_updates`, `action_updateconfig`,
`action_reload`) and `main/config.c`, and checked against every configuration action of the
captures (tests/test_asterisk_config.py):

- A file is its categories in order, each with its variables in order (names repeat: `member`).
  A template (`[name](!)`) is invisible to every action unless asked with `Filter:
  TEMPLATES=include`; a category that inherits (`[6001](tmpl)`) holds its templates' variables
  first, then its own, and `GetConfig` prints both.
- `UpdateConfig` applies its numbered actions (`NewCat`, `RenameCat`, `DelCat`, `EmptyCat`,
  `Update`, `Delete`, `Append`, `Insert`) to a fresh load of the file, all or nothing: the first
  refusal (`Given category does not exist`, `Unknown action command`...) answers the error and
  nothing is saved. A value starting with `>` is an object (`name => value`).
- Saving and loading again is what the next read sees (`saved`): names and values stripped,
  a value's `;` written `\\;` (ast_escape_semicolons) so it reads back whole, and variables
  that repeat one of a template's dropped (Asterisk 22.9 does not write them; see `render`).
- `Reload` (or `UpdateConfig`'s `Reload:` header) makes a module load its file again: a `Reload`
  event with the module and its status; `loaded` then holds what the module runs with, from
  which the queues (`queues_of`) and parking lots (`parking_lots_of`) a fake lists are taken.

`pure` functions work on `Category` lists; `AsteriskConfig` holds one server's files.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Headers = Mapping[str, object]

# Which module reads which file: a `Reload` of the module loads the file again. Asterisk's
# own knowledge; the engine asks for these files (`engine/configs.py`).
MODULE_FILES: dict[str, str] = {
    "app_queue": "queues.conf",
    "res_parking": "res_parking.conf",
    "app_voicemail": "voicemail.conf",
    "pbx_config": "extensions.conf",
    "res_pjsip": "pjsip.conf",
    "app_confbridge": "confbridge.conf",
}
RELOAD_ALL = "All"  # the `Module` of the Reload event of a reload of everything

# ast_module_reload's results: the `Status` of a `Reload` event
RELOAD_SUCCESS, RELOAD_QUEUED, RELOAD_NOT_FOUND, RELOAD_ERROR = 0, 1, 2, 3
RELOAD_STATUS_TEXT = {
    0: "reloaded",
    1: "reload queued (Asterisk is not fully booted)",
    2: "no such module",
    3: "the module failed to reload",
    4: "a reload is already in progress",
    5: "the module is not initialized",
    6: "the module does not support reload",
}
# action_reload's answer for each status (0 and 1: "Module Reloaded")
_RELOAD_ERRORS = {2: "No such module", 6: "Module does not support reload",
                  3: "An unknown error occurred", 4: "A reload is in progress",
                  5: "Module not initialized"}

_TRUE = ("yes", "true", "y", "t", "1", "on")  # ast_true
_FALSE = ("no", "false", "n", "f", "0", "off")  # ast_false


# ------------------------------------------------------------------------------ the data

@dataclass
class Variable:
    name: str
    value: str
    object: bool = False  # written `name => value`
    inherited: bool = False  # copied from a template


@dataclass
class Category:
    name: str
    variables: list[Variable] = field(default_factory=list)
    template: bool = False  # `[name](!)`: what Asterisk calls an ignored category
    templates: list[str] = field(default_factory=list)  # the templates it inherits, in order


class UpdateError(Exception):
    """An `UpdateConfig` (or read) Asterisk refuses; the message is Asterisk's own."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def module_name(module: str) -> str:
    """`app_queue.so` and `app_queue` are one module (Asterisk's resource_name_match)."""
    module = module.strip()
    return module[:-3] if module.endswith(".so") else module


def files_of_module(module: str) -> list[str]:
    """The files a `Reload` event of `module` (or of everything: `All`) loads again."""
    name = module_name(module)
    if name == RELOAD_ALL:
        return list(MODULE_FILES.values())
    found = MODULE_FILES.get(name)
    return [found] if found is not None else []


# ------------------------------------------------------------------------------ parse and write

def _uncomment(line: str) -> str:
    """A line without its comment: from the first `;` not written `\\;` (which means `;`)."""
    out: list[str] = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if c == ";":
            break
        out.append(c)
        i += 1
    return "".join(out)


def parse(text: str) -> list[Category]:
    """A configuration file as Asterisk loads it (`#include`, `[name](+)` and block comments
    are not used by the files here, and left out)."""
    categories: list[Category] = []
    current: Category | None = None
    for raw in text.splitlines():
        line = _uncomment(raw).strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            end = line.find("]")
            if end < 0:
                continue
            current = Category(line[1:end])
            rest = line[end + 1:].strip()
            if rest.startswith("(") and rest.endswith(")"):
                for option in rest[1:-1].split(","):
                    option = option.strip()
                    if option == "!":
                        current.template = True
                    elif option:
                        base = find(categories, option, templates=True)
                        if base is not None:
                            inherit(current, base)
            categories.append(current)
            continue
        name, sep, value = line.partition("=")
        if not sep or current is None:
            continue
        is_object = value.startswith(">")
        if is_object:
            value = value[1:]
        current.variables.append(Variable(name.strip(), value.strip(), is_object))
    return categories


def render(categories: list[Category]) -> str:
    """The file as `ast_config_text_file_save2` of Asterisk 22.9 writes it for UpdateConfig
    (PreserveEffectiveContext): a variable equal (name and value) to one of its templates' is
    not written; a value's `;` is escaped. (Asterisk's master since September 2025 writes a
    loaded category's inherited variables out instead; which 22.x release took that is not
    known here.)"""
    lines: list[str] = []
    for cat in categories:
        options = (["!"] if cat.template else []) + cat.templates
        lines.append(f"[{cat.name}]" + (f"({','.join(options)})" if options else ""))
        bases = [find(categories, name, templates=True) for name in cat.templates]
        inherited = {(v.name.lower(), v.value) for base in bases if base is not None
                     for v in base.variables}
        for v in cat.variables:
            if (v.name.lower(), v.value) in inherited:
                continue
            value = v.value.replace(";", "\\;")
            lines.append(f"{v.name} {'=>' if v.object else '='} {value}")
        lines.append("")
    return "\n".join(lines)


def saved(categories: list[Category]) -> list[Category]:
    """What the next load of the file reads after Asterisk saved `categories`."""
    return parse(render(categories))


def inherit(category: Category, base: Category) -> None:
    """ast_category_inherit: the template's variables, copied, then the category's own."""
    category.templates.append(base.name)
    category.variables.extend(Variable(v.name, v.value, v.object, True) for v in base.variables)


def find(categories: Iterable[Category], name: str, templates: bool = False,
         only_templates: bool = False) -> Category | None:
    """The first category of that name (case-insensitive, as Asterisk compares them): not a
    template unless `templates` (`TEMPLATES=include`), only a template if `only_templates`
    (`TEMPLATES=restrict`)."""
    for cat in matching(categories, name, templates, only_templates):
        return cat
    return None


def matching(categories: Iterable[Category], name: str | None, templates: bool = False,
             only_templates: bool = False) -> list[Category]:
    """ast_category_browse_filtered: the categories named `name` (None: every one); templates
    only when asked."""
    out = []
    for cat in categories:
        if name is not None and cat.name.lower() != name.lower():
            continue
        if only_templates and not cat.template:
            continue
        if cat.template and not (templates or only_templates):
            continue
        out.append(cat)
    return out


# ------------------------------------------------------------------------------ reads

def _filter_templates(filter_: str) -> bool | None:
    """Whether a `Filter:` lets templates in (`TEMPLATES=include`); None for a filter this
    model does not know (regular expressions over variables), which matches nothing."""
    if not filter_:
        return False
    if filter_.replace(" ", "").upper() == "TEMPLATES=INCLUDE":
        return True
    return None


def _selected(categories: list[Category], category: str, filter_: str) -> list[Category]:
    templates = _filter_templates(filter_)
    if templates is None:
        return []
    return matching(categories, category or None, templates=templates)


def get_config_lines(categories: list[Category], category: str = "", filter_: str = ""
                     ) -> list[str]:
    """action_getconfig's lines after `Response: Success` (and the ActionID)."""
    out: list[str] = []
    selected = _selected(categories, category, filter_)
    for n, cat in enumerate(selected):
        out.append(f"Category-{n:06d}: {cat.name}")
        if cat.template:
            out.append(f"IsTemplate-{n:06d}: 1")
        if cat.templates:
            out.append(f"Templates-{n:06d}: {','.join(cat.templates)}")
        out.extend(f"Line-{n:06d}-{i:06d}: {v.name}={v.value}"
                   for i, v in enumerate(cat.variables))
    if category and not selected:
        out.append("No categories found")
    return out


def _json_text(text: str) -> str:
    """manager.c's json_escape: only backslashes and double quotes are escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def get_config_json(categories: list[Category], category: str = "", filter_: str = "") -> str:
    """action_getconfigjson's `JSON:` value (a name that repeats repeats in the object too)."""
    parts = []
    for cat in _selected(categories, category, filter_):
        fields = []
        if cat.template:
            fields.append('"istemplate":1')
        if cat.templates:
            fields.append(f'"templates":"{",".join(cat.templates)}"')
        fields.extend(f'"{_json_text(v.name)}":"{_json_text(v.value)}"' for v in cat.variables)
        parts.append(f'"{_json_text(cat.name)}":{{{",".join(fields)}}}')
    return "{" + ",".join(parts) + "}"


def list_categories_lines(categories: list[Category], match: str = "") -> list[str]:
    selected = _selected(categories, "", match)
    if not selected:
        return ["Error: no categories found"]
    return [f"Category-{n:06d}: {cat.name}" for n, cat in enumerate(selected)]


# ------------------------------------------------------------------------------ UpdateConfig

UNKNOWN_ACTION = "Unknown action command"
UNKNOWN_CATEGORY = "Given category does not exist"
UNSPECIFIED_CATEGORY = "Category not specified"
UNSPECIFIED_ARGUMENT = "Problem with category, value, or line (if required)"
FAILURE_NEWCAT = "Create category did not complete successfully"
FAILURE_UPDATE = "Update did not complete successfully"
FAILURE_TEMPLATE = "Template category not found"
FILE_NOT_FOUND = "Config file not found"
# What Asterisk reads of one action (manager.c: AST_MAX_MANHEADERS, the session's inbuf)
MAX_LINES, MAX_LINE = 128, 1024
TOO_MANY_LINES = "Too many lines in message or allocation failure"
LINE_TOO_LONG = "Failed to parse message: line too long"
NO_FILENAME = "Filename not specified"


def header(headers: Headers, name: str) -> str:
    """astman_get_header: the first value of a header, its name matched without case, its
    leading blanks skipped; "" when absent."""
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            if isinstance(value, list):
                value = value[0] if value else ""
            return str(value).lstrip(" \t")
    return ""


@dataclass(frozen=True)
class _Options:
    allowdups: bool = False
    template: bool = False
    ignoreerror: bool = False
    inherit: tuple[str, ...] = ()
    catfilter: bool = False  # given: as Asterisk parses it, it can match no category

    @classmethod
    def of(cls, text: str) -> _Options:
        allowdups = template = ignoreerror = catfilter = False
        inherit: list[str] = []
        for token in (t.strip() for t in text.split(",")):
            low = token.lower()
            if low == "allowdups":
                allowdups = True
            elif low == "template":
                template = True
            elif low == "ignoreerror":
                ignoreerror = True
            elif token.startswith("inherit"):
                _, _, names = token.partition("=")
                # ast_strsep on ',' already split the list: only the first name survives
                inherit.extend(n.strip() for n in names.split("=")[:1] if n.strip())
            elif token.startswith("catfilter"):
                catfilter = True
        return cls(allowdups, template, ignoreerror, tuple(inherit), catfilter)


def apply_updates(categories: list[Category], action: Headers) -> list[Category]:
    """`categories` after the numbered actions of an `UpdateConfig` (a new list: the input is
    left alone); raises `UpdateError` with Asterisk's message at the first refusal."""
    cats = copy.deepcopy(categories)
    for x in range(100000):
        verb = header(action, f"Action-{x:06d}")
        if not verb:
            break
        cat = header(action, f"Cat-{x:06d}")
        if not cat:
            raise UpdateError(UNSPECIFIED_CATEGORY)
        var = header(action, f"Var-{x:06d}")
        value = header(action, f"Value-{x:06d}")
        is_object = value.startswith(">")
        if is_object:
            value = value[1:]
        match = header(action, f"Match-{x:06d}")
        line = header(action, f"Line-{x:06d}")
        options = _Options.of(header(action, f"Options-{x:06d}"))
        targets = [] if options.catfilter else matching(cats, cat)
        verb = verb.lower()
        if verb == "newcat":
            _new_category(cats, cat, match, options)
        elif verb == "renamecat":
            if not value:
                raise UpdateError(UNSPECIFIED_ARGUMENT)
            if not targets:
                raise UpdateError(UNKNOWN_CATEGORY)
            for target in targets:
                target.name = value
        elif verb == "delcat":
            if not targets and not options.ignoreerror:
                raise UpdateError(UNKNOWN_CATEGORY)
            cats = [c for c in cats if all(c is not t for t in targets)]
        elif verb == "emptycat":
            if not targets:
                raise UpdateError(UNKNOWN_CATEGORY)
            for target in targets:
                target.variables.clear()
        elif verb == "update":
            if not var:
                raise UpdateError(UNSPECIFIED_ARGUMENT)
            if not targets:
                raise UpdateError(UNKNOWN_CATEGORY)
            if not any([_update(t, var, value, match, is_object) for t in targets]):
                raise UpdateError(FAILURE_UPDATE)
        elif verb == "delete":
            if not var and not line:
                raise UpdateError(UNSPECIFIED_ARGUMENT)
            if not targets:
                raise UpdateError(UNKNOWN_CATEGORY)
            deleted = [_delete(t, var, match, line) for t in targets]
            if not any(deleted) and not options.ignoreerror:
                raise UpdateError(FAILURE_UPDATE)
        elif verb == "append":
            if not var:
                raise UpdateError(UNSPECIFIED_ARGUMENT)
            if not targets:
                raise UpdateError(UNKNOWN_CATEGORY)
            for target in targets:
                target.variables.append(
                    Variable(var, value, is_object or match.lower() == "object"))
        elif verb == "insert":
            if not var or not line:
                raise UpdateError(UNSPECIFIED_ARGUMENT)
            if not targets:
                raise UpdateError(UNKNOWN_CATEGORY)
            for target in targets:
                _insert(target, Variable(var, value, is_object), line)
        else:
            raise UpdateError(UNKNOWN_ACTION)
    return cats


def _new_category(cats: list[Category], name: str, match: str, options: _Options) -> None:
    if not options.allowdups and find(cats, name, templates=True) is not None:
        if options.ignoreerror:
            return
        raise UpdateError(FAILURE_NEWCAT)
    category = Category(name, template=options.template)
    for base_name in options.inherit:
        base = find(cats, base_name, only_templates=True)
        if base is None:
            raise UpdateError(FAILURE_TEMPLATE)
        inherit(category, base)
    if not match:
        cats.append(category)
        return
    for i, cat in enumerate(cats):
        if cat.name.lower() == match.lower():
            cats.insert(i, category)
            return
    raise UpdateError(FAILURE_NEWCAT)


def _update(cat: Category, var: str, value: str, match: str, is_object: bool) -> bool:
    """ast_variable_update: the last variable of that name (and value, if `match`)."""
    found = None
    for i, v in enumerate(cat.variables):
        if v.name.lower() == var.lower() and (not match or v.value.lower() == match.lower()):
            found = i
    if found is None:
        return False
    old = cat.variables[found]
    cat.variables[found] = Variable(var, value, old.object or is_object)
    return True


def _delete(cat: Category, var: str, match: str, line: str) -> bool:
    """ast_variable_delete: the variable at index `line`, else every one of that name (and
    value, if `match`)."""
    wanted = -1
    if line:
        digits = line.strip()
        if not digits.lstrip("-").isdigit() or int(digits) < 0:
            return False
        wanted = int(digits)
    kept = [v for i, v in enumerate(cat.variables)
            if not ((wanted >= 0 and i == wanted) or (
                wanted < 0 and v.name.lower() == var.lower()
                and (not match or v.value.lower() == match.lower())))]
    deleted = len(kept) != len(cat.variables)
    cat.variables[:] = kept
    return deleted


def _insert(cat: Category, variable: Variable, line: str) -> None:
    """ast_variable_insert: before the first variable for 0, else after the one at `line`-1,
    or after the last when there are fewer (where Asterisk itself would crash: a one-variable
    category and a line past it)."""
    text = line.strip()
    if not text.lstrip("-").isdigit():
        return  # sscanf fails: nothing inserted, but the category counted as found
    at = int(text)
    if at <= 0 or not cat.variables:
        cat.variables.insert(0, variable)
        return
    index = min(at - 1, len(cat.variables) - 1)
    cat.variables.insert(index + 1, variable)


# ------------------------------------------------------------------------------ what modules run

@dataclass(frozen=True)
class MemberDef:
    interface: str
    penalty: int
    name: str
    state_interface: str


@dataclass(frozen=True)
class QueueDef:
    name: str
    strategy: str
    members: tuple[MemberDef, ...]
    weight: int = 0
    maxlen: int = 0
    servicelevel: int = 0


@dataclass(frozen=True)
class LotDef:
    name: str
    start: int
    stop: int
    timeout: int


def _int(text: str, default: int) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return default


def _last(cat: Category, name: str, default: str) -> str:
    values = [v.value for v in cat.variables if v.name.lower() == name]
    return values[-1] if values else default


def member_def(value: str) -> MemberDef:
    """`member => interface[,penalty[,membername[,state_interface...]]]`."""
    parts = [p.strip() for p in value.split(",")]
    interface = parts[0]
    penalty = _int(parts[1], 0) if len(parts) > 1 and parts[1] else 0
    name = parts[2] if len(parts) > 2 and parts[2] else interface
    state = parts[3] if len(parts) > 3 and parts[3] else interface
    return MemberDef(interface, penalty, name, state)


def queues_of(categories: list[Category]) -> dict[str, QueueDef]:
    """app_queue's queues: every category but `general` (templates are not queues)."""
    out: dict[str, QueueDef] = {}
    for cat in matching(categories, None):
        if cat.name.lower() == "general":
            continue
        members = tuple(member_def(v.value) for v in cat.variables
                        if v.name.lower() == "member" and v.value.strip())
        out[cat.name] = QueueDef(cat.name, _last(cat, "strategy", "ringall"), members,
                                 _int(_last(cat, "weight", "0"), 0),
                                 _int(_last(cat, "maxlen", "0"), 0),
                                 _int(_last(cat, "servicelevel", "0"), 0))
    return out


def parking_lots_of(categories: list[Category]) -> dict[str, LotDef]:
    """res_parking's lots: every category but `general`; `parkpos` 701-750 and `parkingtime`
    45 s by default."""
    out: dict[str, LotDef] = {}
    for cat in matching(categories, None):
        if cat.name.lower() == "general":
            continue
        start, _, stop = _last(cat, "parkpos", "701-750").partition("-")
        out[cat.name] = LotDef(cat.name, _int(start, 701), _int(stop, 750),
                               _int(_last(cat, "parkingtime", "45"), 45))
    return out


# ------------------------------------------------------------------------------ one server

def _message(fields: list[tuple[str, str]]) -> bytes:
    return ("\r\n".join(f"{k}: {v}" for k, v in fields) + "\r\n\r\n").encode("utf-8")


def _reply(status: str, action_id: str, lines: list[str]) -> bytes:
    """A response as astman_start_ack/astman_send_error write it (no ActionID line when the
    action had none)."""
    head = [f"Response: {status}"] + ([f"ActionID: {action_id}"] if action_id else [])
    return ("\r\n".join(head + lines) + "\r\n\r\n").encode("utf-8")


@dataclass
class Answer:
    """What a configuration action makes a fake Asterisk send: the reply, then events (to every
    session), and which modules were reloaded (whose running state the fake updates)."""

    reply: bytes
    events: list[bytes] = field(default_factory=list)
    reloaded: list[str] = field(default_factory=list)


class AsteriskConfig:
    """One server's configuration files, what each module loaded at its last reload, and the
    AMI actions over them. `files` maps a file name to its text (the captures' PBX by default,
    `engine/ami/captured_pbx.py`). `fail_reload(module)` makes the module's reloads fail
    (`Status: 3`) until `fail_reload(module, False)`: how a test makes Asterisk refuse."""

    ACTIONS = frozenset({"getconfig", "getconfigjson", "listcategories", "updateconfig",
                         "reload"})

    def __init__(self, files: Mapping[str, str] | None = None) -> None:
        if files is None:
            from engine.ami.captured_pbx import FILES

            files = FILES
        self.files: dict[str, list[Category]] = {name: parse(text)
                                                 for name, text in files.items()}
        self.failing: set[str] = set()
        # module -> the file content it runs with (loaded at start, then at each reload)
        self.loaded: dict[str, list[Category]] = {
            module: copy.deepcopy(self.files.get(filename, []))
            for module, filename in MODULE_FILES.items()}
        self.initial: dict[str, list[Category]] = copy.deepcopy(self.loaded)
        self.clock = time.time

    def recorded_nothing(self) -> None:
        """The recorded list answers `overlay` is given list nothing (a fake Asterisk without a
        capture): every queue and lot the modules run is listed."""
        self.initial = {module: [] for module in MODULE_FILES}

    def fail_reload(self, module: str, failing: bool = True) -> None:
        if failing:
            self.failing.add(module_name(module))
        else:
            self.failing.discard(module_name(module))

    def text(self, filename: str) -> str:
        """The file as it would be on disk."""
        return render(self.files[filename])

    def write(self, filename: str, text: str) -> None:
        """Change a file behind AMI's back (an administrator's editor): seen at the next read,
        run at the next reload."""
        self.files[filename] = parse(text)

    # -- what the modules run ---------------------------------------------------------------

    def queues(self, initial: bool = False) -> dict[str, QueueDef]:
        return queues_of((self.initial if initial else self.loaded)["app_queue"])

    def parking_lots(self, initial: bool = False) -> dict[str, LotDef]:
        return parking_lots_of((self.initial if initial else self.loaded)["res_parking"])

    # -- actions ----------------------------------------------------------------------------

    def answer(self, name: str, headers: Headers, action_id: str) -> Answer | None:
        """The answer to a configuration action (`name` lower case), None for any other."""
        if name not in self.ACTIONS:
            return None
        lines = [f"{k}: {v}" for k, vs in headers.items()
                 for v in (vs if isinstance(vs, list) else [vs])]
        if len(lines) > MAX_LINES:
            return Answer(_reply("Error", action_id, [f"Message: {TOO_MANY_LINES}"]))
        if any(len(line.encode()) > MAX_LINE for line in lines):
            return Answer(_reply("Error", action_id, [f"Message: {LINE_TOO_LONG}"]))
        try:
            if name == "reload":
                return self._reload_action(headers, action_id)
            if name == "updateconfig":
                return self._update_config(headers, action_id)
            filename = header(headers, "Filename")
            if not filename:
                raise UpdateError(NO_FILENAME)
            cats = self.files.get(filename)
            if cats is None:
                raise UpdateError(FILE_NOT_FOUND)
            if name == "getconfig":
                lines = get_config_lines(cats, header(headers, "Category"),
                                         header(headers, "Filter"))
            elif name == "getconfigjson":
                lines = ["JSON: " + get_config_json(cats, header(headers, "Category"),
                                                    header(headers, "Filter"))]
            else:
                lines = list_categories_lines(cats, header(headers, "Match"))
        except UpdateError as exc:
            return Answer(_reply("Error", action_id, [f"Message: {exc.message}"]))
        return Answer(_reply("Success", action_id, lines))

    def _update_config(self, headers: Headers, action_id: str) -> Answer:
        source, target = header(headers, "SrcFilename"), header(headers, "DstFilename")
        if not source or not target:
            raise UpdateError(NO_FILENAME)
        cats = self.files.get(source)
        if cats is None:
            raise UpdateError(FILE_NOT_FOUND)
        self.files[target] = saved(apply_updates(cats, headers))
        answer = Answer(_reply("Success", action_id, []))
        reload = header(headers, "Reload")
        if reload and reload.strip().lower() not in _FALSE:
            module = RELOAD_ALL if reload.strip().lower() in _TRUE else reload
            self._reload(module, answer)
        return answer

    def _reload_action(self, headers: Headers, action_id: str) -> Answer:
        answer = Answer(b"")
        status = self._reload(header(headers, "Module") or RELOAD_ALL, answer)
        if status in (RELOAD_SUCCESS, RELOAD_QUEUED):
            answer.reply = _reply("Success", action_id, ["Message: Module Reloaded"])
        else:
            answer.reply = _reply("Error", action_id, [f"Message: {_RELOAD_ERRORS[status]}"])
        return answer

    def _reload(self, module: str, answer: Answer) -> int:
        """ast_module_reload: the module(s) load their files again; the `Reload` event (and the
        device states of queues a reload created) go into `answer`."""
        name = module_name(module)
        modules = list(MODULE_FILES) if name == RELOAD_ALL else [name]
        status = RELOAD_SUCCESS if name == RELOAD_ALL else RELOAD_NOT_FOUND
        for each in modules:
            if each not in MODULE_FILES:
                continue
            if each in self.failing:
                status = RELOAD_ERROR
                continue
            before = self.queues() if each == "app_queue" else {}
            self.loaded[each] = copy.deepcopy(self.files.get(MODULE_FILES[each], []))
            answer.reloaded.append(each)
            if each == "app_queue":
                answer.events.extend(self._queue_device_states(before, self.queues()))
            if name != RELOAD_ALL:
                status = RELOAD_SUCCESS
        answer.events.append(self._event("Reload", "system,all", [
            ("Module", RELOAD_ALL if name == RELOAD_ALL else module.strip()),
            ("Status", str(status))]))
        return status

    def _queue_device_states(self, before: Mapping[str, QueueDef],
                             after: Mapping[str, QueueDef]) -> list[bytes]:
        """app_queue announces a new queue's availability and each new static member's pause
        device (config-queues.jsonl, before the Reload event)."""
        out = []
        for queue in after.values():
            old = before.get(queue.name)
            if old is None:
                out.append(self._event("DeviceStateChange", "call,all", [
                    ("Device", f"Queue:{queue.name}_avail"), ("State", "INUSE")]))
            known = {m.interface for m in old.members} if old is not None else set()
            out.extend(self._event("DeviceStateChange", "call,all", [
                ("Device", f"Queue:{queue.name}_pause_{m.interface}"), ("State", "NOT_INUSE")])
                for m in queue.members if m.interface not in known)
        return out

    def _event(self, name: str, privilege: str, fields: list[tuple[str, str]]) -> bytes:
        return _message([("Event", name), ("Privilege", privilege),
                         ("Timestamp", f"{self.clock():.6f}"), *fields])

    # -- recorded list answers, after a reload changed what the module runs --------------------

    def overlay(self, name: str, headers: Headers, blob: bytes) -> bytes:
        """A recorded (or empty) answer to `QueueStatus`, `QueueSummary` or `Parkinglots`, as
        it is once reloads changed the queues or parking lots since the start: the removed
        ones' items left out, the added ones' listed (a `Queue:` filter respected), a changed
        queue's strategy and static members and a changed lot's spaces as they are now. The
        recording knows the rest (callers, dynamic members, statistics): unchanged."""
        if name in ("queuestatus", "queuesummary"):
            now, then = self.queues(), self.queues(initial=True)
        elif name == "parkinglots":
            now, then = self.parking_lots(), self.parking_lots(initial=True)  # type: ignore[assignment]
        else:
            return blob
        if now == then:
            return blob
        wanted = header(headers, "Queue") if name != "parkinglots" else ""
        messages = [_fields(raw) for raw in blob.decode("utf-8").split("\r\n\r\n") if raw]
        action_id = header(headers, "ActionID")
        items: list[list[tuple[str, str]]] = []
        for fields in messages[1:-1]:
            items.extend(self._changed_item(name, fields, now, then))
        for obj in now.values():
            if obj.name not in then and (not wanted or wanted == obj.name):
                items.extend(self._new_items(name, obj, action_id))
            elif name == "queuestatus" and obj.name in then and obj != then[obj.name]:
                items.extend(self._new_members(obj, then[obj.name], action_id))  # type: ignore[arg-type]
        complete = [(k, str(len(items)) if k == "ListItems" else v) for k, v in messages[-1]]
        return b"".join(_message(m) for m in [messages[0], *items, complete])

    def _changed_item(self, name: str, fields: list[tuple[str, str]], now: Mapping,
                      then: Mapping) -> list[list[tuple[str, str]]]:
        get = dict(fields)
        key = get.get("Name") if name == "parkinglots" else get.get("Queue")
        if key is None or key not in then:
            return [fields]
        if key not in now:
            return []
        new = now[key]
        if new == then[key]:
            return [fields]
        if isinstance(new, LotDef):
            values = {"StartSpace": str(new.start), "StopSpace": str(new.stop),
                      "Timeout": str(new.timeout)}
            return [[(k, values.get(k, v)) for k, v in fields]]
        if get.get("Event") == "QueueParams":
            return [[(k, new.strategy if k == "Strategy" else v) for k, v in fields]]
        if get.get("Event") == "QueueMember" and get.get("Membership") == "static":
            if get.get("Location") not in {m.interface for m in new.members}:
                return []  # taken out of queues.conf: a reload removes it without an event
        return [fields]

    def _new_items(self, name: str, obj: QueueDef | LotDef, action_id: str
                   ) -> list[list[tuple[str, str]]]:
        aid = [("ActionID", action_id)] if action_id else []
        if isinstance(obj, LotDef):
            return [[("Event", "Parkinglot"), *aid, ("Name", obj.name),
                     ("StartSpace", str(obj.start)), ("StopSpace", str(obj.stop)),
                     ("Timeout", str(obj.timeout))]]
        if name == "queuesummary":
            n = str(len(obj.members))
            return [[("Event", "QueueSummary"), ("Queue", obj.name), ("LoggedIn", n),
                     ("Available", n), ("Callers", "0"), ("HoldTime", "0"), ("TalkTime", "0"),
                     ("LongestHoldTime", "0"), *aid]]
        params = [("Event", "QueueParams"), ("Queue", obj.name), ("Max", str(obj.maxlen)),
                  ("Strategy", obj.strategy), ("Calls", "0"), ("Holdtime", "0"),
                  ("TalkTime", "0"), ("Completed", "0"), ("Abandoned", "0"),
                  ("ServiceLevel", str(obj.servicelevel)), ("ServicelevelPerf", "0.0"),
                  ("ServicelevelPerf2", "0.0"), ("Weight", str(obj.weight)), *aid]
        return [params, *(self._member_item(obj.name, m, action_id) for m in obj.members)]

    def _new_members(self, queue: QueueDef, before: QueueDef, action_id: str
                     ) -> list[list[tuple[str, str]]]:
        known = {m.interface for m in before.members}
        return [self._member_item(queue.name, m, action_id) for m in queue.members
                if m.interface not in known]

    def _member_item(self, queue: str, member: MemberDef, action_id: str
                     ) -> list[tuple[str, str]]:
        """A static member as QueueStatus lists it right after the reload that added it."""
        aid = [("ActionID", action_id)] if action_id else []
        return [("Event", "QueueMember"), ("Queue", queue), ("Name", member.name),
                ("Location", member.interface), ("StateInterface", member.state_interface),
                ("Membership", "static"), ("Penalty", str(member.penalty)),
                ("CallsTaken", "0"), ("LastCall", "0"), ("LastPause", "0"),
                ("LoginTime", str(int(self.clock()))), ("InCall", "0"), ("Status", "1"),
                ("Paused", "0"), ("PausedReason", ""), ("Wrapuptime", "0"), *aid]


def _fields(raw: str) -> list[tuple[str, str]]:
    out = []
    for line in raw.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            out.append((key, value[1:] if value.startswith(" ") else value))
    return out
