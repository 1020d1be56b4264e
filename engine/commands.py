"""Commands through the log: every write an operator asks for is an event before it is an action.

A command (hang up, originate, transfer, queue member add/pause, park, module load...) is
appended to its own stream `command/<id>` as `CommandRequested` (who, when, what, the AMI
headers, the channels it targets) and only once that append is durable is the AMI action sent,
once, with `ActionID: cmd-<id>`, on the connection of its server. `CommandSent` marks the hand-
over to the socket; `CommandSucceeded` / `CommandFailed` (Asterisk's own message, or why it never
got an answer) close the stream. Ingestion tags Asterisk's answers with the command id (their
`ActionID` says which), and `projections/commands.py` ties the command to them and to the events
of the channels it targeted or created. A crash between the request and the answer leaves a
command `requested` or `sent` in the log: never re-sent, never guessed as done.

An async Originate is answered twice: its response only says "Originate successfully queued",
and the `OriginateResponse` that follows says whether the call was placed (`Response: Success`
or `Failure`, and a `Reason`, the AST_CONTROL_* code the dial ended on: 5 busy, 8 congestion,
3 no answer, 0 no dial result at all, as for an unknown technology). So the command ends with
the OriginateResponse: `CommandSucceeded` or `CommandFailed` (HTTP status 409) with the reason
code and its text, appended after it. The caller waits for it up to the command timeout; past
that it hears "queued" and the command stays `sent` until its OriginateResponse comes (the wait
goes on without the caller). A connection lost before it is a `CommandFailed` 503: Asterisk had
queued the call, whose channels (`targets`) tell what became of it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.ami.client import ActionError, AmiClient, ConnectionLost
from engine.ami.protocol import Message
from engine.dialer.codes import res_dial_detail
from engine.envelope import Event, Headers, NewEvent, utc_now
from engine.log import EventLog
from engine.values import to_int

ACTION_PREFIX = "cmd-"  # ActionID of a command's action: "cmd-<command id>"
STREAM_PREFIX = "command/"

REQUESTED = "CommandRequested"
SENT = "CommandSent"
SUCCEEDED = "CommandSucceeded"
FAILED = "CommandFailed"
EVENT_TYPES = (REQUESTED, SENT, SUCCEEDED, FAILED)

# Asterisk's answers that mean "the thing you named does not exist" (the rest are refusals).
_NOT_FOUND = ("no such", "not found", "not there", "unable to find", "does not exist")

ORIGINATE_RESPONSE = "OriginateResponse"
ORIGINATE_FAILED = 409  # Asterisk took the Originate, the call could not be placed
# What an OriginateResponse's Reason says where the seed's `res_dial` text (a state the dial
# was in: "Remote end is ringing") does not say how the call ended.
_REASON_TEXTS = {
    0: "the call could not be placed, Asterisk got no dial result (an unknown technology, "
       "an unreachable or unallocated destination, or a hangup before it rang)",
    3: "no answer, it rang until the timeout",
}
_TRUE = ("yes", "true", "y", "t", "1", "on")  # Asterisk's ast_true()


def refusal_status(message: str) -> int:
    """The HTTP status of Asterisk's refusal: 404 when what it names does not exist, else 400."""
    return 404 if any(s in message.lower() for s in _NOT_FOUND) else 400


def action_id(command_id: str) -> str:
    return ACTION_PREFIX + command_id


def reason_text(reason: int | None) -> str:
    """What an OriginateResponse's `Reason` says about the call."""
    if reason is None:
        return "no reason given"
    return _REASON_TEXTS.get(reason) or res_dial_detail(reason)


def is_async_originate(action: Headers) -> bool:
    """An Originate whose outcome comes in an OriginateResponse, after its response."""
    return (str(action.get("Action", "")).lower() == "originate"
            and str(action.get("Async", "")).strip().lower() in _TRUE)


def command_of(headers: Headers) -> str | None:
    """The command an AMI message answers, from its ActionID (None: not a command's)."""
    value = headers.get("ActionID")
    if isinstance(value, str) and value.startswith(ACTION_PREFIX):
        return value[len(ACTION_PREFIX):]
    return None


@dataclass(frozen=True)
class Command:
    """What an operator asked for, as the API parsed it."""

    name: str  # our verb: hangup, originate, redirect, queue_add, ...
    server: str
    action: Headers  # the AMI action, `Action` first, without ActionID
    who: str
    targets: Sequence[str] = ()  # Uniqueids of the channels it acts on or creates
    params: dict[str, Any] = field(default_factory=dict)  # the request as received
    # logged with the request, never shown (a configuration file's content before a change)
    record: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Finish:
    """How a command's continuation ends it (`Commands.run(then=...)`): `more` goes into its
    outcome event."""

    ok: bool
    status: int
    message: str
    more: dict[str, Any] | None = None


# After Asterisk accepted the action: (client, command id, its answer) -> how the command ends
# (a configuration change waits for the reload and reads the file back, engine/configs.py).
Then = Callable[[AmiClient, str, list[Message]], Awaitable[Finish]]


@dataclass(frozen=True)
class Outcome:
    """How a command ended. `status` is the HTTP status that describes it."""

    id: str
    ok: bool
    status: int
    message: str
    response: Headers | None
    position: int  # of the outcome event in the log


class UnknownServer(ValueError):
    pass


class Commands:
    """Appends commands to the log, sends them, appends how they ended."""

    def __init__(self, log: EventLog, clients: Sequence[AmiClient], timeout: float = 10.0
                 ) -> None:
        self.log = log
        self.clients = clients
        self.timeout = timeout
        self._outcomes: set[asyncio.Task[Outcome]] = set()  # Originates awaiting their answer

    def servers(self) -> list[str]:
        return [c.config.name for c in self.clients]

    def client(self, server: str) -> AmiClient:
        for client in self.clients:
            if client.config.name == server:
                return client
        raise UnknownServer(server)

    async def run(self, command: Command, then: Then | None = None) -> Outcome:
        """Log, send once, log the outcome. Never raises for Asterisk's or the link's failures:
        they are outcomes (with 4xx/5xx `status`), logged like successes. `then`, when Asterisk
        accepted the action, decides the outcome (it must not raise either).

        The command id is the correlation id of every event of the command, of Asterisk's
        answers (ingestion reads it from the ActionID) and the causation id of all but the
        request: one id follows it through the log."""
        client = self.client(command.server)
        cid = command.id
        stream = STREAM_PREFIX + cid
        correlation = cid
        requested = {
            "id": cid, "command": command.name, "action": dict(command.action),
            "who": command.who, "targets": list(command.targets), "params": command.params,
            **command.record,
        }
        stored = await self.log.append([self._event(stream, 0, REQUESTED, command.server,
                                                    requested, None, correlation)])
        requested_at = stored[0].position if stored[0] is not None else 0
        if not client.connected:
            return await self._finish(stream, 1, command, cid, correlation, False, 503,
                                      f"{command.server}: not connected to Asterisk", None)
        self.log.submit([self._event(stream, 1, SENT, command.server, {"id": cid}, cid,
                                     correlation)])
        headers = {"Action": command.action["Action"], "ActionID": action_id(cid),
                   **{k: v for k, v in command.action.items() if k != "Action"}}
        follow_up = (client.expect(action_id(cid), ORIGINATE_RESPONSE)
                     if is_async_originate(command.action) else None)
        answered = False
        try:
            messages = await client.action(headers, timeout=self.timeout)
            answered = True
        except ActionError as exc:
            status = refusal_status(exc.message)
            return await self._finish(stream, 2, command, cid, correlation, False, status,
                                      exc.message, dict(exc.response))
        except ConnectionLost as exc:
            return await self._finish(stream, 2, command, cid, correlation, False, 503,
                                      f"connection lost before Asterisk answered: {exc}", None)
        except TimeoutError:
            return await self._finish(stream, 2, command, cid, correlation, False, 504,
                                      f"no answer from Asterisk within {self.timeout:g}s", None)
        finally:
            if follow_up is not None and not answered:
                follow_up.cancel()
        response = dict(messages[0].headers) if messages else {}
        message = str(response.get("Message", "Success"))
        if then is not None:
            end = await then(client, cid, messages)
            return await self._finish(stream, 2, command, cid, correlation, end.ok, end.status,
                                      end.message, response, end.more)
        if follow_up is None:
            return await self._finish(stream, 2, command, cid, correlation, True, 200, message,
                                      response)
        return await self._await_originate(follow_up, stream, command, cid, correlation,
                                           message, response, requested_at)

    async def _await_originate(self, follow_up: asyncio.Future[Message], stream: str,
                               command: Command, cid: str, correlation: str, message: str,
                               response: Headers, requested_at: int) -> Outcome:
        """Asterisk queued the Originate: its OriginateResponse decides. Waited for in a
        task of its own, so the outcome is logged even when the caller stops waiting (the
        timeout, or an HTTP client gone)."""

        async def outcome() -> Outcome:
            try:
                answer = await follow_up
            except ConnectionLost as exc:
                return await self._finish(
                    stream, 2, command, cid, correlation, False, 503,
                    f"connection lost before the OriginateResponse (Asterisk had queued the "
                    f"call; its channels tell what became of it): {exc}", response)
            data = answer.headers
            reason = to_int(data.get("Reason"))
            ok = data.get("Response") == "Success"
            said = f"Originate {'succeeded' if ok else 'failed'}"
            if reason is not None:
                said += f", reason {reason}"
            said += f": {reason_text(reason)}"
            return await self._finish(
                stream, 2, command, cid, correlation, ok, 200 if ok else ORIGINATE_FAILED,
                said, response, {"reason": reason, "reason_text": reason_text(reason),
                                 "originate_response": dict(data)})

        task = asyncio.create_task(outcome())
        self._outcomes.add(task)
        task.add_done_callback(self._outcomes.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.timeout)
        except TimeoutError:
            return Outcome(cid, True, 202, f"{message}; the OriginateResponse will tell",
                           response, requested_at)

    async def _finish(self, stream: str, version: int, command: Command, cid: str,
                      correlation: str, ok: bool, status: int, message: str,
                      response: Headers | None, more: dict[str, Any] | None = None
                      ) -> Outcome:
        data = {"id": cid, "status": status, "message": message, "response": response,
                **(more or {})}
        event = self._event(stream, version, SUCCEEDED if ok else FAILED, command.server, data,
                            cid, correlation)
        stored = (await self.log.append([event]))[0]
        position = stored.position if stored is not None else 0
        return Outcome(cid, ok, status, message, response, position)

    @staticmethod
    def _event(stream: str, version: int, type_: str, server: str, data: dict[str, Any],
               causation: str | None, correlation: str) -> NewEvent:
        return NewEvent(stream, version, type_, utc_now(), server, data, causation, correlation)


async def wait_projected(position_of: Any, position: int, timeout: float = 5.0) -> bool:
    """Wait until `position_of()` (a projector's position) reaches `position`: a caller that
    wrote an event reads its own write back from the read models."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while position_of() < position:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.002)
    return True


def is_command_event(event: Event) -> bool:
    return event.stream.startswith(STREAM_PREFIX)
