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
queued the call, whose channels (`targets`) tell what became of it. Any command can end the same
way, with a `FollowUp` of its own: an `AGI` command ends with the `AsyncAGIExec` that carries its
`CommandID` (`engine/agi.py`), or fails when its channel leaves AGI first.

Some refusals come as `Response: Success`: app_voicemail acknowledges "Message remove failed"
and "There is no voicemail user matching the given user." (`ACKED_REFUSALS`); they fail the
command like any `Response: Error`. Asterisk ends some messages with a stray line feed; the
command's message is Asterisk's text without it.
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
# Failures Asterisk acknowledges with `Response: Success` (the start of its message, lower
# case) and the HTTP status each means: app_voicemail's VoicemailMove/Remove/Forward, and the
# box of a user it does not know.
ACKED_REFUSALS: tuple[tuple[str, int], ...] = (
    ("message move failed", 409),
    ("message remove failed", 409),
    ("message forward failed", 409),
    ("there is no voicemail user", 404),
)

# What a follow-up event says about its command: (ok, HTTP status, message, what the outcome
# event adds to its data).
Verdict = tuple[bool, int, str, dict[str, Any]]


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


def acked_refusal(message: str) -> int | None:
    """The HTTP status of a failure Asterisk acknowledged as a success; None: a success."""
    lower = message.lower()
    for start, status in ACKED_REFUSALS:
        if lower.startswith(start):
            return status
    return None


@dataclass(frozen=True)
class FollowUp:
    """The event that ends a command after Asterisk's response: the first `event` whose
    `header` is `value` (None: the command's own ActionID); `verdict` reads the outcome from
    it. An `abort` event (type, header, value) ends the wait first, judged by `verdict` too
    (an AGI command's channel leaving AGI)."""

    event: str
    header: str
    value: str | None
    verdict: Callable[[Headers], Verdict]
    abort: tuple[str, str, str] | None = None


def originate_verdict(data: Headers) -> Verdict:
    """An async Originate's OriginateResponse: placed (200), or the reason it was not (409)."""
    reason = to_int(data.get("Reason"))
    ok = data.get("Response") == "Success"
    said = f"Originate {'succeeded' if ok else 'failed'}"
    if reason is not None:
        said += f", reason {reason}"
    said += f": {reason_text(reason)}"
    return ok, 200 if ok else ORIGINATE_FAILED, said, {
        "reason": reason, "reason_text": reason_text(reason),
        "originate_response": dict(data)}


ORIGINATE_FOLLOW_UP = FollowUp(ORIGINATE_RESPONSE, "ActionID", None, originate_verdict)


@dataclass(frozen=True)
class Command:
    """What an operator asked for, as the API parsed it."""

    name: str  # our verb: hangup, originate, redirect, queue_add, ...
    server: str
    action: Headers  # the AMI action, `Action` first, without ActionID
    who: str
    targets: Sequence[str] = ()  # Uniqueids of the channels it acts on or creates
    params: dict[str, Any] = field(default_factory=dict)  # the request as received
    follow_up: FollowUp | None = None  # the event that ends it after its response, if any
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
    details: dict[str, Any] = field(default_factory=dict)  # what a follow-up's verdict added


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
        follow_up = command.follow_up or (
            ORIGINATE_FOLLOW_UP if is_async_originate(command.action) else None)
        awaited = self._expect(client, follow_up, cid) if follow_up is not None else []
        answered = False
        try:
            messages = await client.action(headers, timeout=self.timeout)
            answered = True
        except ActionError as exc:
            message = exc.message.strip()
            status = refusal_status(message)
            return await self._finish(stream, 2, command, cid, correlation, False, status,
                                      message, dict(exc.response))
        except ConnectionLost as exc:
            return await self._finish(stream, 2, command, cid, correlation, False, 503,
                                      f"connection lost before Asterisk answered: {exc}", None)
        except TimeoutError:
            return await self._finish(stream, 2, command, cid, correlation, False, 504,
                                      f"no answer from Asterisk within {self.timeout:g}s", None)
        finally:
            if not answered:
                for future in awaited:
                    future.cancel()
        response = dict(messages[0].headers) if messages else {}
        message = str(response.get("Message", "Success")).strip()
        refused = acked_refusal(message)
        if refused is not None:
            for future in awaited:
                future.cancel()
            return await self._finish(stream, 2, command, cid, correlation, False, refused,
                                      message, response)
        if then is not None:
            end = await then(client, cid, messages)
            return await self._finish(stream, 2, command, cid, correlation, end.ok, end.status,
                                      end.message, response, end.more)
        if follow_up is None:
            return await self._finish(stream, 2, command, cid, correlation, True, 200, message,
                                      response)
        return await self._await_follow_up(follow_up, awaited, stream, command, cid,
                                           correlation, message, response, requested_at)

    @staticmethod
    def _expect(client: AmiClient, follow_up: FollowUp, cid: str
                ) -> list[asyncio.Future[Message]]:
        """The futures of the follow-up event and of its abort, registered before the action
        leaves (Asterisk may send them in the same read as the response)."""
        value = follow_up.value if follow_up.value is not None else action_id(cid)
        awaited = [client.expect(value, follow_up.event, follow_up.header)]
        if follow_up.abort is not None:
            event, header, abort_value = follow_up.abort
            awaited.append(client.expect(abort_value, event, header))
        return awaited

    async def _await_follow_up(self, follow_up: FollowUp, awaited: list[asyncio.Future[Message]],
                               stream: str, command: Command, cid: str, correlation: str,
                               message: str, response: Headers, requested_at: int) -> Outcome:
        """Asterisk took the action: its follow-up event decides (an Originate's
        OriginateResponse, an AGI command's AsyncAGIExec). Waited for in a task of its own, so
        the outcome is logged even when the caller stops waiting (the timeout, or an HTTP
        client gone)."""

        async def outcome() -> Outcome:
            try:
                done, _ = await asyncio.wait(awaited, return_when=asyncio.FIRST_COMPLETED)
                answer = next(f for f in awaited if f in done).result()
            except ConnectionLost as exc:
                return await self._finish(
                    stream, 2, command, cid, correlation, False, 503,
                    f"connection lost before the {follow_up.event} (Asterisk had taken the "
                    f"action; its channels tell what became of it): {exc}", response)
            finally:
                for future in awaited:
                    future.cancel()
            ok, status, said, more = follow_up.verdict(answer.headers)
            return await self._finish(stream, 2, command, cid, correlation, ok, status, said,
                                      response, more)

        task = asyncio.create_task(outcome())
        self._outcomes.add(task)
        task.add_done_callback(self._outcomes.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.timeout)
        except TimeoutError:
            return Outcome(cid, True, 202, f"{message}; the {follow_up.event} will tell",
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
        return Outcome(cid, ok, status, message, response, position, more or {})

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
