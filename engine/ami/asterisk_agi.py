"""Asterisk's async AGI (res_agi), emulated: channels in `AGI(agi:async)` and the `AGI` action.

As Asterisk 22 does it (tests/ami-captures/batch2/agi.jsonl, res/res_agi.c):
- a channel entering async AGI is announced by `AsyncAGIStart` with its snapshot and `Env`
  (the AGI environment, URL-encoded);
- `AGI` (`Channel`, `Command`, `CommandID`) on such a channel is acknowledged "Added AGI command
  to queue"; the command then runs: `AGIExecStart` (an internal `CommandId`, the `Command`),
  `VarSet` for a SET VARIABLE, `AGIExecEnd` (`ResultCode`, `Result`), and `AsyncAGIExec`
  with the client's `CommandId` and the answer line URL-encoded (`200 result=1 (5550123)`,
  `510 Invalid or unknown command` for a command res_agi does not know);
- `ASYNCAGI BREAK` and `HANGUP` end the session (`AsyncAGIEnd`), and so does a hangup;
- `AGI` on a channel that does not exist is an Error "Channel X does not exist."; on a channel
  not in async AGI, "Failed to add AGI command to channel X queue". Both need `Channel` and
  `Command` ("Both, Channel and Command are *required*").

The test server learns the sessions of its recording (`observe`); the simulated PBX opens one
(`begin`) when a call runs `AGI(agi:async)` and waits for its `ended`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from engine.ami.emulated import Fields, Part, Reply, ack, error, event, param
from engine.ami.protocol import parse_action
from engine.envelope import Headers

VERSION = "22.10.1"
# res_agi's commands (its `commands[]`), by their words: any other is 510
KNOWN: frozenset[tuple[str, ...]] = frozenset({
    ("answer",), ("asyncagi", "break"), ("channel", "status"), ("database", "del"),
    ("database", "deltree"), ("database", "get"), ("database", "put"), ("exec",),
    ("get", "data"), ("get", "full", "variable"), ("get", "option"), ("get", "variable"),
    ("hangup",), ("noop",), ("receive", "char"), ("receive", "text"), ("record", "file"),
    ("say", "alpha"), ("say", "digits"), ("say", "number"), ("say", "phonetic"),
    ("say", "date"), ("say", "time"), ("say", "datetime"), ("send", "image"),
    ("send", "text"), ("set", "autohangup"), ("set", "callerid"), ("set", "context"),
    ("set", "extension"), ("set", "music"), ("set", "priority"), ("set", "variable"),
    ("stream", "file"), ("control", "stream", "file"), ("tdd", "mode"), ("verbose",),
    ("wait", "for", "digit"), ("speech", "create"), ("speech", "set"), ("speech", "destroy"),
    ("speech", "load", "grammar"), ("speech", "unload", "grammar"),
    ("speech", "activate", "grammar"), ("speech", "deactivate", "grammar"),
    ("speech", "recognize"),
})
_SNAPSHOT_SKIP = frozenset({"event", "privilege", "timestamp", "env"})


def uri_encode(text: str) -> str:
    """As res_agi encodes `Env` and `Result` (ast_uri_encode, ast_uri_http): everything but
    letters, digits and `-_.!~*'()`."""
    return quote(text, safe="-_.!~*'()")


@dataclass(eq=False)
class Session:
    """One channel in async AGI."""

    channel: str
    snapshot: Callable[[], Fields]  # the channel's headers now (Channel ... Linkedid)
    variables: dict[str, str] = field(default_factory=dict)
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class AsyncAgi(Part):
    def __init__(self, exists: Callable[[str], bool] | None = None) -> None:
        """`exists`: whether a channel of that name is up (default: only channels in AGI)."""
        self.sessions: dict[str, Session] = {}
        self._exists = exists
        self._ids = itertools.count(1_906_692_820)

    # -- sessions ---------------------------------------------------------------------------

    def begin(self, channel: str, snapshot: Callable[[], Fields]) -> tuple[Session, bytes]:
        """A channel enters `AGI(agi:async)`: its session and `AsyncAGIStart`."""
        session = self.sessions[channel] = Session(channel, snapshot)
        headers = dict(snapshot())
        env = {
            "agi_request": "async", "agi_channel": channel,
            "agi_language": headers.get("Language", "en"),
            "agi_type": channel.split("/", 1)[0], "agi_uniqueid": headers.get("Uniqueid", ""),
            "agi_version": VERSION, "agi_callerid": _known(headers.get("CallerIDNum")),
            "agi_calleridname": _known(headers.get("CallerIDName")), "agi_callingpres": "0",
            "agi_callingani2": "0", "agi_callington": "0", "agi_callingtns": "0",
            "agi_dnid": "unknown", "agi_rdnis": "unknown",
            "agi_context": headers.get("Context", ""), "agi_extension": headers.get("Exten", ""),
            "agi_priority": headers.get("Priority", ""), "agi_enhanced": "0.0",
            "agi_accountcode": headers.get("AccountCode", ""), "agi_threadid": "140658070509248",
        }
        text = "".join(f"{k}: {v}\n" for k, v in env.items()) + "\n"
        return session, self._event("AsyncAGIStart", session, ("Env", uri_encode(text)))

    def end(self, channel: str) -> bytes | None:
        """The channel leaves AGI (its hangup): `AsyncAGIEnd`, or None if it was not in AGI."""
        session = self.sessions.pop(channel, None)
        if session is None:
            return None
        session.ended.set()
        return self._event("AsyncAGIEnd", session)

    def observe(self, raw: str) -> None:
        """The recording's own sessions: opened by `AsyncAGIStart`, closed by `AsyncAGIEnd`
        or the channel's `Hangup`."""
        if not raw.startswith(("Event: AsyncAGIStart", "Event: AsyncAGIEnd", "Event: Hangup")):
            return
        headers = parse_action(raw)
        channel = param(headers, "Channel")
        if param(headers, "Event") == "AsyncAGIStart":
            pairs = [(k, v) for k, v in headers.items() if k.lower() not in _SNAPSHOT_SKIP
                     and isinstance(v, str)]
            self.sessions[channel] = Session(channel, lambda: pairs)
        else:
            session = self.sessions.pop(channel, None)
            if session is not None:
                session.ended.set()

    # -- the AGI action ---------------------------------------------------------------------

    def answer(self, name: str, headers: Headers, action_id: str) -> Reply | None:
        if name != "agi":
            return None
        channel, command = param(headers, "Channel"), param(headers, "Command")
        if not channel or not command:
            return Reply(error(action_id, "Both, Channel and Command are *required*"))
        session = self.sessions.get(channel)
        if session is None:
            if self._exists is not None and self._exists(channel):
                return Reply(error(action_id,
                                   f"Failed to add AGI command to channel {channel} queue"))
            return Reply(error(action_id, f"Channel {channel} does not exist."))
        return Reply(ack(action_id, "Added AGI command to queue"),
                     self._run(session, command, param(headers, "CommandID")))

    def _run(self, session: Session, command: str, command_id: str) -> list[bytes]:
        internal = str(next(self._ids))
        result, extra, ends = self._execute(session, command)
        code, _, text = result.partition(" ")
        done = "Success" if code == "200" else text
        events = [self._event("AGIExecStart", session, ("CommandId", internal),
                              ("Command", command)), *extra,
                  self._event("AGIExecEnd", session, ("CommandId", internal),
                              ("Command", command), ("ResultCode", code), ("Result", done)),
                  self._event("AsyncAGIExec", session, ("Result", uri_encode(result + "\n")),
                              ("CommandId", command_id))]
        if ends:
            self.sessions.pop(session.channel, None)
            events.append(self._event("AsyncAGIEnd", session))
            session.ended.set()
        return events

    def _execute(self, session: Session, command: str) -> tuple[str, list[bytes], bool]:
        """(the answer line, events it causes, whether it ends the session)."""
        words = command.split()
        lowered = tuple(w.lower() for w in words)
        known = next((k for k in KNOWN if lowered[:len(k)] == k), None)
        if known is None:
            return "510 Invalid or unknown command", [], False
        args = words[len(known):]
        if known == ("get", "variable") and args:
            value = session.variables.get(args[0], self._builtin(session, args[0]))
            return ("200 result=0", [], False) if value is None else (
                f"200 result=1 ({value})", [], False)
        if known == ("set", "variable") and len(args) >= 2:
            session.variables[args[0]] = " ".join(args[1:])
            varset = self._event("VarSet", session, ("Variable", args[0]),
                                 ("Value", session.variables[args[0]]), privilege="dialplan,all")
            return "200 result=1", [varset], False
        if known in (("hangup",), ("verbose",)):
            return "200 result=1", [], known == ("hangup",)
        return "200 result=0", [], known == ("asyncagi", "break")

    @staticmethod
    def _builtin(session: Session, name: str) -> str | None:
        headers = dict(session.snapshot())
        value = {"CALLERID(num)": headers.get("CallerIDNum"),
                 "CALLERID(name)": headers.get("CallerIDName"),
                 "CHANNEL": session.channel, "UNIQUEID": headers.get("Uniqueid")}.get(name)
        return None if value in (None, "", "<unknown>") else value  # unset: result=0

    @staticmethod
    def _event(name: str, session: Session, *pairs: tuple[str, str],
               privilege: str = "agi,all") -> bytes:
        return event(name, [*session.snapshot(), *pairs], privilege)


def _known(value: str | None) -> str:
    """AGI says `unknown` where a channel says `<unknown>`."""
    return "unknown" if value in (None, "", "<unknown>") else value
