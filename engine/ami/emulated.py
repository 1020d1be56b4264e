"""Parts of Asterisk the fake ones emulate, and what they share.

The AMI test server (`engine/ami/testserver.py`, replaying captures) and the simulated PBX
(`engine/ami/simulator.py`) answer most actions themselves; a few areas of Asterisk keep state
of their own that the captures show changing under actions (a message removed is gone from the
next `VoicemailBoxSummary`, a module unloaded from the next `module show`, an AGI command is
reported by an `AsyncAGIExec` with its `CommandID`). Each such area is a `Part` in a module of
its own (`asterisk_voicemail.py`, `asterisk_modules.py`, `asterisk_agi.py`); both servers hand
every action to their parts first (`answer`: a `Reply`, or None when the part does not take
that action) and the test server shows them every message it replays (`observe`), so a part
knows what the recording did (a channel entering AGI).

Replies are built as Asterisk 22 writes them: `Response`, `ActionID` when the action had one,
`Message`; events with `Privilege` and `Timestamp` (`timestampevents = yes`, as the captures).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.envelope import Headers

Fields = Iterable[tuple[str, str]]


@dataclass
class Reply:
    """An action's answer: its response (with a list's items), then the events it caused,
    which go to every logged-in session."""

    response: bytes
    events: list[bytes] = field(default_factory=list)


class Part:
    """An emulated area of Asterisk. Subclasses answer the actions they own."""

    def answer(self, name: str, headers: Headers, action_id: str) -> Reply | None:
        """The answer to an action (`name` lower case), or None: not this part's."""
        return None

    def observe(self, raw: str) -> None:
        """A message the test server replays from its capture, as raw AMI text."""


def param(headers: Headers, name: str) -> str:
    """An action's header as Asterisk's astman_get_header reads it: the name matched without
    case, the first value of a repeated one, blanks trimmed; "" when absent."""
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return (value[0] if isinstance(value, list) else value).strip()
    return ""


def message(pairs: Fields) -> bytes:
    """One AMI message from (header, value) pairs, in order."""
    return ("\r\n".join(f"{k}: {v}" for k, v in pairs) + "\r\n\r\n").encode("utf-8")


def response(status: str, action_id: str, *pairs: tuple[str, str]) -> bytes:
    """A response; Asterisk leaves `ActionID` out when the action had none."""
    head = [("Response", status)] + ([("ActionID", action_id)] if action_id else [])
    return message([*head, *pairs])


def ack(action_id: str, text: str) -> bytes:
    return response("Success", action_id, ("Message", text))


def error(action_id: str, text: str) -> bytes:
    return response("Error", action_id, ("Message", text))


def event(name: str, pairs: Fields, privilege: str = "call,all") -> bytes:
    """A live event, stamped now."""
    return message([("Event", name), ("Privilege", privilege),
                    ("Timestamp", f"{time.time():.6f}"), *pairs])


def list_answer(action_id: str, text: str, complete: str, items: list[tuple[str, Fields]],
                *extra: tuple[str, str]) -> bytes:
    """A list action's answer: `EventList: start`, the items (each carrying the ActionID),
    then its `...Complete` event with `ListItems`."""
    aid = [("ActionID", action_id)] if action_id else []
    out = [response("Success", action_id, ("EventList", "start"), ("Message", text))]
    out.extend(message([("Event", name), *aid, *pairs]) for name, pairs in items)
    out.append(message([("Event", complete), *aid, ("EventList", "Complete"),
                        ("ListItems", str(len(items))), *extra]))
    return b"".join(out)
