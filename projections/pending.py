"""Commands a projection follows: what each asked, until Asterisk has answered it.

Some answers do not say what they are about: a `ModuleCheck` answers `Version:` or "Module not
loaded" without naming the module, a `VoicemailBoxSummary`'s items do not name their box. When
Switchboard sent the action as a command (`engine/commands.py`), its `CommandRequested` holds
the action, and every answer carries the command's ActionID (`cmd-<id>`): a projection notes what
it needs from the request (`requested`, `note`) and finds it again from the answer (`asked`).
The command's own outcome event forgets it (`HANDLERS`); at most `KEPT` are followed per
projection, the oldest dropped first (a command that never ends cannot grow the state).

State: `state["pending"]`: `{command id: what the projection noted}` (plain JSON).
"""

from __future__ import annotations

from typing import Any

from engine.commands import FAILED, STREAM_PREFIX, SUCCEEDED, command_of
from engine.envelope import Event
from projections.base import Handler

KEPT = 1000


def requested(event: Event) -> dict[str, Any] | None:
    """The AMI action of a `CommandRequested` (None: not one of a command's stream)."""
    action = event.data.get("action")
    if not event.stream.startswith(STREAM_PREFIX) or not isinstance(action, dict):
        return None
    return action


def note(state: dict, event: Event, what: Any) -> None:
    """Follow the command whose request `event` is."""
    pending = state["pending"]
    pending[event.stream[len(STREAM_PREFIX):]] = what
    while len(pending) > KEPT:
        del pending[next(iter(pending))]


def asked(state: dict, event: Event) -> tuple[str, Any] | None:
    """(command id, what was noted) of the followed command an AMI message answers."""
    if "ActionID" not in event.data:
        return None
    cid = command_of(event.data)
    if cid is None or cid not in state["pending"]:
        return None
    return cid, state["pending"][cid]


def _ended(state: dict, event: Event) -> None:
    state["pending"].pop(event.stream[len(STREAM_PREFIX):], None)


HANDLERS: dict[str, Handler] = {SUCCEEDED: _ended, FAILED: _ended}
