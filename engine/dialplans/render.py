"""A dialplan master and its dialplans as an extensions.conf context (pure).

jade ran a dpma's dialplans as async AGI commands sent one by one to a channel in
`AGI(agi:async)`; its one example of `command` is AGI's `Exec NoOp "Jade default dialplan..."`.
Switchboard writes them into Asterisk's own dialplan instead, so they run without it:

    [dpma-<dpma uuid>]
    exten = _X.,1,NoOp(<dpma name>)
    same = n,<the dialplan of the lowest sequence>
    same = n,<the next one>
    ...

A call enters a dpma with `Goto(dpma-<uuid>,<number>,1)`, a `Dial(Local/<number>@dpma-<uuid>)`,
or an Originate to context `dpma-<uuid>`. The first priority names the dpma (a `NoOp`, seen on
Asterisk's console: comments cannot be written through AMI); each dialplan is one priority, in
`sequence` order (ties by uuid). What `command` may hold (`application`):

- an application as the dialplan writes it, `Playback(hello-world)`;
- an AGI command that has one: `EXEC <app> [<args>]` (jade's form: `Exec NoOp "some text"`,
  AGI's quoting: double quotes group, a backslash takes the next character as it is) is
  `<app>(<args>)`; `ANSWER` is `Answer()`, `HANGUP` `Hangup()`, `NOOP` `NoOp()`,
  `SET VARIABLE <name> <value>` `Set(<name>=<value>)`;
- nothing (null or empty): `NoOp(<the dialplan's name>)`, so the priority is still there.

Anything else is refused (`Invalid`, a 400), as is a line Asterisk could not read (longer than
`MAX_VALUE` bytes). Names are shown in `NoOp` with `$`, brackets and quotes replaced by `_`: a
name is not dialplan code (`${SHELL(...)}` would run).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from engine.dialer.objects import Invalid

CONTEXT_PREFIX = "dpma-"
EXTEN = "_X."
MAX_VALUE = 1000  # bytes of a value (api/settings.py's MAX_VALUE: Asterisk reads 1024 a line)
# extensions.conf's names written `name => value` (pbx_config's directives)
OBJECTS = frozenset({"exten", "same", "include", "switch", "eswitch", "lswitch", "ignorepat"})

_APPLICATION = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\((.*)\)$", re.DOTALL)
_APP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_SHOWN = re.compile(r"[^\w .,:@/+#*=-]")


def context_of(dpma_uuid: str) -> str:
    return CONTEXT_PREFIX + dpma_uuid


def dpma_of(context: str) -> str | None:
    """The dpma uuid a context name is rendered for, None for any other context."""
    return context[len(CONTEXT_PREFIX):] if context.startswith(CONTEXT_PREFIX) else None


def shown(name: object) -> str:
    """A name as `NoOp` shows it: no dialplan code in it."""
    return _SHOWN.sub("_", name) if isinstance(name, str) else ""


def agi_args(text: str) -> list[str]:
    """An AGI command line split as res_agi's parse_args does it: blanks separate, double
    quotes group, a backslash takes the next character as it is. An unclosed quote or a
    trailing backslash is refused (Asterisk would guess)."""
    args: list[str] = []
    current: list[str] = []
    started = quoted = escaped = False
    for c in text:
        if escaped:
            current.append(c)
            escaped = False
        elif c == "\\":
            escaped = started = True
        elif c == '"':
            quoted = not quoted
            started = True
        elif c in " \t" and not quoted:
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            current.append(c)
            started = True
    if quoted or escaped:
        raise Invalid("command: an unclosed quote or a trailing backslash")
    if started:
        args.append("".join(current))
    return args


def application(command: str | None, name: object = None) -> str:
    """The priority's application for a dialplan's `command` (see the module docstring);
    Invalid names what is wrong."""
    if command is None or not command.strip():
        return f"NoOp({shown(name)})"
    if "\r" in command or "\n" in command:
        raise Invalid("command: line breaks are not allowed")
    text = command.strip()
    found = _APPLICATION.match(text)
    if found is not None:
        return f"{found[1]}({found[2]})"
    args = agi_args(text)
    verb = [a.upper() for a in args[:2]]
    if verb[:1] == ["EXEC"]:
        if len(args) < 2 or not _APP_NAME.match(args[1]):
            raise Invalid("command: EXEC needs an application name (EXEC Playback hello)")
        if len(args) > 3:
            raise Invalid("command: EXEC takes one argument string after the application: "
                          'quote it (EXEC Dial "PJSIP/100,30")')
        return f"{args[1]}({args[2] if len(args) == 3 else ''})"
    if verb == ["SET", "VARIABLE"]:
        if len(args) != 4 or not args[2]:
            raise Invalid("command: SET VARIABLE <name> <value>")
        return f"Set({args[2]}={args[3]})"
    simple = {"ANSWER": "Answer()", "HANGUP": "Hangup()", "NOOP": "NoOp()"}
    if len(args) == 1 and verb[0] in simple:
        return simple[verb[0]]
    raise Invalid(f"command: {text[:64]!r} is neither an application (Playback(hello)) nor an "
                  "AGI command with one (EXEC, ANSWER, HANGUP, NOOP, SET VARIABLE)")


def _checked(value: str, field: str) -> str:
    if len(value.encode()) > MAX_VALUE:
        raise Invalid(f"{field}: the priority would be longer than the {MAX_VALUE} bytes "
                      "Asterisk reads in a line")
    return value


def lines(dpma: dict[str, Any], dialplans: Iterable[dict[str, Any]]) -> list[list[str]]:
    """The context's variables: the header priority, then one per dialplan in order."""
    out = [["exten", _checked(f"{EXTEN},1,NoOp({shown(dpma.get('name'))})", "name")]]
    ordered = sorted(dialplans, key=lambda d: (d["sequence"], d["uuid"]))
    out.extend(["same", _checked("n," + application(d.get("command"), d.get("name")),
                                 "command")] for d in ordered)
    return out


def category(dpma: dict[str, Any], dialplans: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The dpma's context as a category of the file's content (`engine/configs.Content`)."""
    return {"name": context_of(dpma["uuid"]), "template": False, "templates": [],
            "variables": lines(dpma, dialplans)}
