"""Configuration is history too: Asterisk's files read and changed through AMI, every step logged.

Switchboard never touches `/etc/asterisk`: Asterisk may be remote, and there may be several.

**Reading.** On every (re)connect each managed file (`MANAGED_FILES`: queues.conf,
res_parking.conf, voicemail.conf, extensions.conf, pjsip.conf, confbridge.conf) is asked for with
`GetConfig` (`Filter: TEMPLATES=include`, so templates come too), and again after every `Reload`
event of the module that reads it (`ConfigWatch`, fed every message ingestion sees; a reload of
`All` re-reads them all). The answer is logged like every message; its ActionID says which file
it is (`cfg/<file>/<unique>`, `read_action_id`, `file_of`), so `projections/config.py` folds it
into that server's file without knowing what was sent. After a reload of `app_queue`,
`res_parking`, `app_voicemail` or `res_pjsip` the module's list actions are sent again
(`RELOAD_LISTS`, whole lists: the projections drop the queues, lots, mailboxes and PJSIP objects
a reload removed, and the
static members it took out, of which Asterisk says nothing). So a change made outside
Switchboard shows at the next reload.

**Writing** (`change`). A change of a file is a command (`engine/commands.py`): its
`CommandRequested` holds who, what (the request, the `UpdateConfig` action, the file and module)
and the file's content before as the read models knew it (`before`, never shown below admin).
Once that is durable the `UpdateConfig` leaves with `Reload: <module>` (Asterisk reads at most
128 lines of one action: a longer change goes as several, `continued` in the request, the
reload on the last; one refused leaves the file changed in part, and says so); Asterisk's refusal
(`Given category does not exist`, `Unknown action command`, `Config file not found`...) fails
the command with Asterisk's message (404 for what does not exist, else 400). Accepted, the
command waits for the module's `Reload` event: a status other than reloaded fails it (409, with
the reason). Then the module's lists are asked again, and a fresh `GetConfig`
(`cfg/<file>/cmd-<command id>`) confirms the change: the categories the change touched must read
back as `apply_updates` (Asterisk's own rules, `engine/ami/asterisk_config.py`) predicts from the
content before, else the command fails (409) saying which differ. `updates` turns a wanted
content into the actions that make it from the current one.

**Hiding a version** (`hide_version`): an event `ConfigVersionHidden` (who, which version); the
version leaves the `settings` lists, the log keeps it.

Contents are plain data everywhere (`Content`: a list of categories, each
`{"name", "template", "templates", "variables": [[name, value], ...]}`), as the projection
stores them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.ami.asterisk_config import (
    MODULE_FILES,
    RELOAD_ALL,
    RELOAD_QUEUED,
    RELOAD_STATUS_TEXT,
    RELOAD_SUCCESS,
    Category,
    UpdateError,
    Variable,
    apply_updates,
    files_of_module,
    module_name,
    saved,
)
from engine.ami.client import ActionError, AmiClient, AmiError
from engine.ami.protocol import Message
from engine.commands import ACTION_PREFIX, Command, Commands, Finish, Outcome, refusal_status
from engine.envelope import Headers, NewEvent, utc_now
from engine.log import EventLog
from engine.redact import redact

log = logging.getLogger("switchboard.configs")

MANAGED_FILES: tuple[str, ...] = tuple(MODULE_FILES.values())
FILE_MODULES: dict[str, str] = {filename: module for module, filename in MODULE_FILES.items()}
READ_PREFIX = "cfg/"  # ActionID of a read: "cfg/<file>/<unique>"
TEMPLATES = "TEMPLATES=include"  # GetConfig's Filter that lets templates in
# list actions asked again after a reload of the module: what it runs may have changed
# res_pjsip's lists, asked on connect too (engine/ami/ingest.py)
PJSIP_LISTS = ("PJSIPShowEndpoints", "PJSIPShowAors", "PJSIPShowContacts",
               "PJSIPShowRegistrationsOutbound")
RELOAD_LISTS: dict[str, tuple[str, ...]] = {
    "app_queue": ("QueueStatus", "QueueSummary"),
    "res_parking": ("Parkinglots",),
    "app_voicemail": ("VoicemailUsersList",),  # mailboxes made or taken out of the file
    "res_pjsip": PJSIP_LISTS,
}
WHOLE_PREFIX = "whole-"  # ActionID of a list action sent without a filter (projections/lists)
MAX_HEADERS = 128  # lines Asterisk reads of one action (AST_MAX_MANHEADERS)
FIXED_HEADERS = 5  # Action, ActionID, SrcFilename, DstFilename, Reload
MAX_LINE = 1024  # bytes of one line Asterisk takes ("line too long" past it)
HIDDEN = "ConfigVersionHidden"  # a version taken out of the settings lists
HIDE_STREAM = "setting/"

Content = list[dict[str, Any]]  # [{"name", "template", "templates", "variables"}, ...]


def read_action_id(filename: str, tag: str | None = None) -> str:
    return f"{READ_PREFIX}{filename}/{tag or uuid.uuid4().hex[:12]}"


def file_of(action_id: object) -> str | None:
    """The file a read's answer is about, from its ActionID; None: not one of our reads."""
    if not isinstance(action_id, str) or not action_id.startswith(READ_PREFIX):
        return None
    filename, sep, _ = action_id[len(READ_PREFIX):].partition("/")
    return filename if sep and filename else None


def reader_command(action_id: object) -> str | None:
    """The command a read confirms (`cfg/<file>/cmd-<id>`), else None."""
    if file_of(action_id) is None:
        return None
    tag = str(action_id).rsplit("/", 1)[1]
    return tag[len(ACTION_PREFIX):] if tag.startswith(ACTION_PREFIX) else None


def whole_action_id() -> str:
    return WHOLE_PREFIX + uuid.uuid4().hex[:12]


def get_config(filename: str, action_id: str) -> Headers:
    return {"Action": "GetConfig", "ActionID": action_id, "Filename": filename,
            "Filter": TEMPLATES}


async def read_files(client: AmiClient, files: tuple[str, ...] | list[str]) -> None:
    """Ask for each file; its answer is logged by ingestion. A file Asterisk does not have is
    logged too (the projection notes it missing)."""
    results = await asyncio.gather(
        *(client.action(get_config(f, read_action_id(f))) for f in files),
        return_exceptions=True)
    for filename, result in zip(files, results, strict=True):
        if isinstance(result, AmiError):
            log.info("%s: GetConfig %s: %s", client.config.name, filename, result)


async def send_lists(client: AmiClient, names: tuple[str, ...] | list[str]) -> None:
    """Whole list actions (no filter), their answers logged by ingestion."""
    results = await asyncio.gather(
        *(client.action({"Action": name, "ActionID": whole_action_id()}) for name in names),
        return_exceptions=True)
    for name, result in zip(names, results, strict=True):
        if isinstance(result, AmiError):
            log.info("%s: %s: %s", client.config.name, name, result)


# ------------------------------------------------------------------------------ reloads

class ConfigWatch:
    """One AMI connection's view of reloads: re-reads a reloaded module's files and lists,
    unless a change of this engine is at work on that module (it reads itself, and its command
    is the reload's cause); lets such a change wait for the module's `Reload` event."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.client: AmiClient | None = None
        self._writing: dict[str, str] = {}  # module -> the command changing its file
        self._waiting: dict[str, list[asyncio.Future[Headers]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def cause(self, module: object) -> str | None:
        """The command whose change made this reload of `module`, if one is at work."""
        if not isinstance(module, str):
            return None
        return self._writing.get(module_name(module))

    def seen(self, messages: list[Message]) -> None:
        """Every message of the connection, as ingestion hands them to the log."""
        for message in messages:
            if message.type == "Reload":
                self._reloaded(message.headers)

    def _reloaded(self, headers: Headers) -> None:
        module = module_name(str(headers.get("Module", "")))
        modules = list(MODULE_FILES) if module == RELOAD_ALL else [module]
        for each in modules:
            for future in self._waiting.pop(each, []):
                if not future.done():
                    future.set_result(headers)
        refresh = [m for m in modules if m in MODULE_FILES and m not in self._writing]
        if refresh and self.client is not None and self.client.connected:
            task = asyncio.get_running_loop().create_task(self._refresh(refresh))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _refresh(self, modules: list[str]) -> None:
        assert self.client is not None
        files = [f for m in modules for f in files_of_module(m)]
        lists = [name for m in modules for name in RELOAD_LISTS.get(m, ())]
        await asyncio.gather(read_files(self.client, files), send_lists(self.client, lists))

    def expect_reload(self, module: str) -> asyncio.Future[Headers]:
        """The next `Reload` event of `module` (or of everything). Ask before the action that
        reloads is sent: Asterisk sends the event right after its response."""
        future: asyncio.Future[Headers] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(module, []).append(future)
        return future

    @contextlib.contextmanager
    def writing(self, module: str, command_id: str) -> Iterator[None]:
        self._writing[module] = command_id
        try:
            yield
        finally:
            if self._writing.get(module) == command_id:
                del self._writing[module]


_watches: weakref.WeakKeyDictionary[AmiClient, ConfigWatch] = weakref.WeakKeyDictionary()


def watch_of(client: AmiClient) -> ConfigWatch:
    """The `ConfigWatch` of a connection (made with it by `engine/ami/ingest.make_client`; one
    made here for a client made otherwise, which then sees no reload)."""
    found = _watches.get(client)
    if found is None:
        found = _watches[client] = ConfigWatch(client.config.name)
        found.client = client
    return found


def attach(client: AmiClient, watch: ConfigWatch) -> None:
    watch.client = client
    _watches[client] = watch


# ------------------------------------------------------------------------------ contents

def to_content(categories: list[Category]) -> Content:
    return [{"name": c.name, "template": c.template, "templates": list(c.templates),
             "variables": [[v.name, v.value] for v in c.variables]} for c in categories]


def to_categories(content: Content) -> list[Category]:
    """A content as the model's categories (variables a template gives marked inherited)."""
    out: list[Category] = []
    for cat in content:
        category = Category(cat["name"], template=bool(cat.get("template")),
                            templates=list(cat.get("templates") or []))
        inherited = {(k.lower(), v) for base in out if base.name in category.templates
                     for k, v in ((x.name, x.value) for x in base.variables)}
        category.variables = [Variable(k, v, inherited=(k.lower(), v) in inherited)
                              for k, v in cat.get("variables") or []]
        out.append(category)
    return out


@dataclass(frozen=True)
class Action:
    """One numbered action of an `UpdateConfig`."""

    verb: str  # NewCat, RenameCat, DelCat, EmptyCat, Update, Delete, Append, Insert
    cat: str
    var: str = ""
    value: str = ""
    match: str = ""
    options: str = ""


def _lines(action: Action) -> list[tuple[str, str]]:
    """An action's headers, numbered later. A value starting with `>` is sent behind another
    (Asterisk takes the first for `name => value`); a `;` as it is (Asterisk escapes it when
    it writes the file)."""
    out = [("Action", action.verb), ("Cat", action.cat)]
    if action.var:
        out.append(("Var", action.var))
    if action.value or action.verb in ("Append", "Update", "Insert"):
        value = action.value
        out.append(("Value", ">" + value if value.startswith(">") else value))
    if action.match:
        out.append(("Match", action.match))
    if action.options:
        out.append(("Options", action.options))
    return out


def update_configs(filename: str, module: str | None, actions: list[Action]) -> list[Headers]:
    """The `UpdateConfig` actions (without ActionID) that make the change: Asterisk reads at
    most `MAX_HEADERS` lines of one action (more is `Too many lines in message`), so a long
    change is cut into several, the reload on the last. At least one."""
    batches: list[Headers] = []
    current: Headers = {}
    used = 0
    for action in actions:
        lines = _lines(action)
        if current and used + len(lines) > MAX_HEADERS - FIXED_HEADERS:
            batches.append(current)
            current, used = {}, 0
        n = sum(1 for k in current if k.startswith("Action-"))
        current.update((f"{key}-{n:06d}", value) for key, value in lines)
        used += len(lines)
    batches.append(current)
    out = []
    for i, numbered in enumerate(batches):
        headers: Headers = {"Action": "UpdateConfig", "SrcFilename": filename,
                            "DstFilename": filename}
        if module and i == len(batches) - 1:
            headers["Reload"] = module
        headers.update(numbered)
        out.append(headers)
    return out


def _comparable(cat: dict[str, Any]) -> tuple:
    return (bool(cat.get("template")), tuple(cat.get("templates") or ()),
            tuple(tuple(v) for v in cat.get("variables") or ()))


def updates(before: Content, after: Content) -> list[Action]:
    """The actions that make `after` of `before`, touching only what differs, so comments and
    the order of what is kept survive: a category gone is deleted, a new one made (before the
    next category it precedes, else at the end); one whose variables differ only in values of
    names that appear once is updated, else emptied and written again in order. A category
    whose template options change, or that appears several times, is made again. Templates
    are out of UpdateConfig's reach (it skips them): changing, deleting or writing variables
    into one raises UpdateError; a category may inherit one that exists."""
    old = {c["name"].lower(): c for c in before}
    counts: dict[str, int] = {}
    for c in before:
        counts[c["name"].lower()] = counts.get(c["name"].lower(), 0) + 1
    wanted = {c["name"].lower() for c in after}
    actions: list[Action] = []
    for cat in before:
        key = cat["name"].lower()
        if key not in wanted and counts.get(key):
            if cat.get("template"):
                raise UpdateError(f"template [{cat['name']}] cannot be deleted through AMI")
            actions.append(Action("DelCat", cat["name"]))
            counts[key] = 0
    for i, cat in enumerate(after):
        key = cat["name"].lower()
        was = old.get(key)
        if was is not None and counts.get(key) == 1 and _comparable(was) == _comparable(cat):
            continue
        if was is not None and was.get("template"):
            raise UpdateError(f"template [{cat['name']}] cannot be changed through AMI")
        if (was is not None and counts.get(key) == 1
                and _comparable(was)[:2] == _comparable(cat)[:2]):
            actions.extend(_rewrite(was, cat))
            continue
        if was is not None and counts.get(key):
            actions.append(Action("DelCat", was["name"]))
            counts[key] = 0
        if cat.get("template") and cat.get("variables"):
            raise UpdateError(f"template [{cat['name']}] cannot be written through AMI: "
                              "UpdateConfig reaches no template's variables")
        following = next((c["name"] for c in after[i + 1:]
                          if counts.get(c["name"].lower()) == 1), "")
        actions.extend(new_category(cat, before=following))
    return actions


def new_category(cat: dict[str, Any], before: str = "") -> list[Action]:
    """`NewCat` (a template, or inheriting its first template: AMI takes one) and one
    `Append` per variable in order, those its template gives left out."""
    templates = list(cat.get("templates") or [])
    options = ",".join((["template"] if cat.get("template") else [])
                       + ([f"inherit={templates[0]}"] if templates else []))
    name = cat["name"]
    out = [Action("NewCat", name, match=before, options=options)]
    out.extend(Action("Append", name, k, v) for k, v in cat.get("variables") or [])
    return out


def _rewrite(was: dict[str, Any], cat: dict[str, Any]) -> list[Action]:
    old = [tuple(v) for v in was.get("variables") or []]
    new = [tuple(v) for v in cat.get("variables") or []]
    names = [k.lower() for k, _ in new]
    if [k.lower() for k, _ in old] == names and len(set(names)) == len(names):
        return [Action("Update", cat["name"], k, v) for (k, v), (_, o) in zip(new, old,
                                                                               strict=True)
                if v != o]
    return [Action("EmptyCat", cat["name"]),
            *(Action("Append", cat["name"], k, v) for k, v in new)]


def predicted(before: Content, actions: list[Headers]) -> Content | None:
    """What the file reads after the `UpdateConfig` actions by Asterisk's rules (None: Asterisk
    would refuse one, as far as `before` tells)."""
    categories = to_categories(before)
    try:
        for action in actions:
            categories = saved(apply_updates(categories, action))
    except UpdateError:
        return None
    return to_content(categories)


def touched(actions: list[Headers]) -> set[str]:
    """The names (lower case) of the categories the UpdateConfigs name, new names included."""
    out = set()
    for action in actions:
        for key, value in action.items():
            if key.startswith("Cat-") and isinstance(value, str):
                out.add(value.lower())
                if str(action.get("Action-" + key[4:], "")).lower() == "renamecat":
                    out.add(str(action.get("Value-" + key[4:], "")).lower())
    return out


def differences(expected: Content, read: Content, names: set[str]) -> list[str]:
    """The categories among `names` that read back otherwise than expected."""
    def by_name(content: Content) -> dict[str, list[tuple]]:
        out: dict[str, list[tuple]] = {}
        for cat in content:
            out.setdefault(cat["name"].lower(), []).append(_comparable(cat))
        return out

    want, got = by_name(expected), by_name(read)
    return sorted(name for name in names if want.get(name) != got.get(name))


# ------------------------------------------------------------------------------ a change

@dataclass(frozen=True)
class Change:
    """A change of one file of one server, as a command: `name` is the command's verb
    (`queue_create`, `setting_update`...), `params` what the request said (shown to viewers
    with `/commands`: secrets are redacted), `before` the file as the read models knew it,
    `record` more to log with the request (the aggregate events a dialplan write appends once
    the change succeeded: `engine/dialplans/commands.py`)."""

    server: str
    filename: str
    actions: list[Action]
    name: str
    who: str
    params: dict[str, Any] = field(default_factory=dict)
    before: Content | None = None
    reload: bool = True
    record: dict[str, Any] = field(default_factory=dict)  # logged with the request, not shown


async def change(commands: Commands, change: Change, timeout: float | None = None
                 ) -> Outcome:
    """Log the change as a command, send it, wait for the reload and confirm it by reading the
    file again (see the module docstring). Never raises for Asterisk's or the link's failures:
    they are the command's outcome."""
    module = FILE_MODULES.get(change.filename) if change.reload else None
    batches = update_configs(change.filename, module, change.actions)
    command = Command(
        change.name, change.server, batches[0], change.who, [], redact(change.params),
        record={"filename": change.filename, "module": module, "before": change.before,
                "continued": batches[1:], **change.record})
    client = commands.client(change.server)
    watch = watch_of(client)
    wait = timeout if timeout is not None else commands.timeout
    reload = watch.expect_reload(module) if module and client.connected else None

    async def confirm(client: AmiClient, cid: str, messages: list[Message]) -> Finish:
        return await _confirm(client, cid, change, module, batches, reload, wait)

    writing = watch.writing(module, command.id) if module else contextlib.nullcontext()
    try:
        with writing:
            return await commands.run(command, then=confirm)
    finally:
        if reload is not None and not reload.done():
            reload.cancel()


async def _confirm(client: AmiClient, cid: str, change: Change, module: str | None,
                   batches: list[Headers], reload: asyncio.Future[Headers] | None,
                   wait: float) -> Finish:
    filename = change.filename
    more: dict[str, Any] = {"filename": filename, "module": module}
    for n, batch in enumerate(batches[1:], 2):
        try:
            await client.action({**batch, "ActionID": ACTION_PREFIX + cid}, timeout=wait)
        except ActionError as exc:
            return Finish(False, refusal_status(exc.message),
                          f"{exc.message} (UpdateConfig {n} of {len(batches)}: {filename} is "
                          f"changed in part, and not reloaded)", more)
        except (AmiError, TimeoutError) as exc:
            return Finish(False, 504, f"UpdateConfig {n} of {len(batches)} got no answer "
                                      f"({exc or 'timeout'}): {filename} may be changed in "
                                      f"part, and is not reloaded", more)
    if module and reload is not None:
        try:
            event = await asyncio.wait_for(asyncio.shield(reload), wait)
        except TimeoutError:
            return Finish(False, 504, f"{filename} was changed, but no Reload event of "
                                      f"{module} came within {wait:g}s", more)
        status = int(str(event.get("Status", "0")).strip() or 0)
        more["reload_status"] = status
        if status not in (RELOAD_SUCCESS, RELOAD_QUEUED):
            reason = RELOAD_STATUS_TEXT.get(status, f"status {status}")
            return Finish(False, 409, f"{filename} was changed, but the reload of {module} "
                                      f"failed: {reason} (Reload status {status})", more)
        with contextlib.suppress(AmiError, TimeoutError):
            await asyncio.wait_for(send_lists(client, RELOAD_LISTS.get(module, ())), wait)
    try:
        answer = await client.action(get_config(filename, read_action_id(
            filename, ACTION_PREFIX + cid)), timeout=wait)
    except (AmiError, TimeoutError) as exc:
        return Finish(False, 504, f"{filename} was changed, but reading it back failed: "
                                  f"{exc or 'timeout'}", more)
    done = f"{filename} changed" + (f"; {module} reloaded" if module else "")
    if change.before is None:
        return Finish(True, 200, done, more)
    expected = predicted(change.before, batches)
    if expected is None:  # our view was stale: Asterisk knew better
        return Finish(True, 200, done, more)
    read = to_content(content_of(answer[0].headers))
    wrong = differences(expected, read, touched(batches))
    if wrong:
        return Finish(False, 409, f"{filename} was changed, but reads back otherwise than "
                                  f"asked in: {', '.join(wrong)}", more)
    return Finish(True, 200, done, more)


def content_of(headers: Headers) -> list[Category]:
    """A GetConfig answer's categories, in the order of their numbers (a store may not keep
    the order of headers)."""
    cats: dict[int, Category] = {}
    lines: dict[tuple[int, int], str] = {}
    for key, value in headers.items():
        text = value[0] if isinstance(value, list) and value else value
        if not isinstance(text, str):
            continue
        kind, _, number = key.partition("-")
        if kind == "Category" and number.isdigit():
            cats.setdefault(int(number), Category(text)).name = text
        elif kind == "IsTemplate" and number.isdigit():
            cats.setdefault(int(number), Category("")).template = text.strip() == "1"
        elif kind == "Templates" and number.isdigit():
            cats.setdefault(int(number), Category("")).templates = [
                t for t in text.split(",") if t]
        elif kind == "Line":
            cat, _, index = number.partition("-")
            if cat.isdigit() and index.isdigit():
                lines[(int(cat), int(index))] = text
    for (cat, _), text in sorted(lines.items()):
        name, _, value = text.partition("=")
        if cat in cats:
            cats[cat].variables.append(Variable(name, value))
    return [cats[n] for n in sorted(cats) if cats[n].name]


# ------------------------------------------------------------------------------ hiding

def hidden_event(server: str, filename: str, version: str, who: str) -> NewEvent:
    """A version taken out of the settings lists (`DELETE /<group>/settings/<version>`)."""
    hid = uuid.uuid4().hex
    return NewEvent(HIDE_STREAM + hid, 0, HIDDEN, utc_now(), server,
                    {"id": hid, "filename": filename, "version": version, "who": who},
                    None, filename)


async def hide_version(event_log: EventLog, server: str, filename: str, version: str,
                       who: str) -> int:
    """Log it; the position of the event."""
    stored = (await event_log.append([hidden_event(server, filename, version, who)]))[0]
    return stored.position if stored is not None else 0
