"""Async AGI as AMI carries it: a channel's environment, and what each AGI command answered.

A channel that runs `AGI(agi:async)` is announced by `AsyncAGIStart`, whose `Env` header is the
AGI environment URL-encoded (`agi_request%3A%20async%0Aagi_channel%3A%20...%0A%0A`: `key: value`
lines, ending with an empty one). A manager client then queues commands with the `AGI` action
(`Channel`, `Command`, `CommandID`); Asterisk acknowledges the queueing ("Added AGI command to
queue"), runs the command, and reports it in an `AsyncAGIExec` carrying the same `CommandId` and
the AGI answer line, URL-encoded too: `200%20result%3D1%20(5550123)%0A` is `200 result=1
(5550123)`, `510%20Invalid%20or%20unknown%20command%0A` a command Asterisk does not know. A
command's outcome is that event, not the action's response: `FOLLOW_UP` (the event type, the
header naming the command) and `verdict` make an `AGI` command in the log end with it
(`engine/commands.py`). `AsyncAGIEnd` ends the channel's AGI session.

The decoders never raise: AMI values are text, and sometimes junk.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from urllib.parse import unquote

EXEC = "AsyncAGIExec"  # the event that reports a queued command, `CommandId` naming it
END = "AsyncAGIEnd"  # the channel left AGI: commands still queued will never run
COMMAND_ID = "CommandId"  # the header of AsyncAGIExec that carries the action's CommandID

_RESULT = re.compile(r"result=(\S*)")
_DATA = re.compile(r"\((.*)\)")


class AgiResult(NamedTuple):
    """An AGI answer line: `code` (200 success, 510 unknown command, 511 dead channel, 520
    usage), the `result=` `value`, what follows it (`data`: the parenthesised value of a GET
    VARIABLE, or `endpos=...`), and the whole decoded `text`."""

    code: int | None
    value: str | None
    data: str | None
    text: str


def decode(value: object) -> str:
    """A URL-encoded AMI value as text (a repeated header: its first value)."""
    if isinstance(value, list):
        value = value[0] if value else ""
    if not isinstance(value, str):
        return ""
    return unquote(value, errors="replace")


def decode_env(value: object) -> dict[str, str]:
    """`AsyncAGIStart`'s `Env`: the `agi_*` variables, every value a string (seed 004's
    `env`). Lines without `: ` are skipped; a repeated key keeps its last value."""
    env: dict[str, str] = {}
    for line in decode(value).split("\n"):
        key, sep, val = line.partition(": ")
        if sep and key:
            env[key] = val
        elif line.endswith(":") and len(line) > 1:  # an empty value: `agi_accountcode:` + " "
            env[line[:-1]] = ""
    return env


def decode_result(value: object) -> AgiResult:
    """`AsyncAGIExec`'s `Result`. A multi-line answer (520's usage text) keeps its lines in
    `text`; the code is the first line's."""
    text = decode(value).strip("\r\n")
    first = text.split("\n", 1)[0]
    head = first[:3]
    code = int(head) if len(head) == 3 and head.isascii() and head.isdigit() else None
    value_match = _RESULT.search(first) if code == 200 else None
    result = value_match.group(1) if value_match else None
    data: str | None = None
    if value_match is not None:
        rest = first[value_match.end():].strip()
        bracket = _DATA.fullmatch(rest)
        data = bracket.group(1) if bracket else (rest or None)
    return AgiResult(code, result, data, text)


def verdict(event: dict[str, Any]) -> tuple[bool, int, str, dict[str, Any]]:
    """How an `AGI` command ended, from its `AsyncAGIExec` (or `AsyncAGIEnd`: the channel
    left AGI first): (ok, HTTP status, message, what the command's outcome event adds).
    200 is success; 510/520 (unknown command, bad usage) a 400; 511 (the channel is dead)
    and leaving AGI first a 409."""
    if event.get("Event") == END:
        return False, 409, "the channel left AGI before the command ran", {}
    result = decode_result(event.get("Result"))
    agi = {"code": result.code, "value": result.value, "data": result.data,
           "text": result.text}
    if result.code == 200:
        return True, 200, result.text, {"agi": agi}
    status = 409 if result.code == 511 else 400
    return False, status, result.text or "AGI command failed", {"agi": agi}
