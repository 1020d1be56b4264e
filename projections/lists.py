"""List answers: the one bookkeeping every projection that reconciles with Asterisk shares.

On every (re)connect the engine asks each Asterisk for its whole live state with list actions
(`CoreShowChannels`, `QueueStatus`, `ParkedCalls`, `DeviceStateList`, ...). Each answers with a
`Response` (`EventList: start`), one event per item, then a `...Complete` event with
`ListItems: N`, all carrying the action's `ActionID`, interleaved with live events. A projection
notes where an answer began and which objects it listed (`begin`, `item`); at its end (`end`)
the answer is Asterisk's truth about that server:

- a row the answer does not list, and that existed before the answer began, is gone from
  Asterisk (it vanished while we were disconnected, or we missed the event that ended it): the
  projection closes it, with the reason. Rows remember the position of the live event that
  created them, or created them again (a `QueueMemberAdded`, a caller's join, a park), in
  `row["pos"]` for this;
- a row born after the answer began (by a live event between its items) is newer than the
  answer, which cannot speak for it: it is kept;
- an answer that arrived short of its `ListItems` (an item was malformed, the log began inside
  it) reconciles nothing: closing what a partial list left out would close live objects;
- an answer cut by a disconnect never completes: `ConnectionLost`, the next session's `Banner`,
  or an answer begun by another session of that server forgets it.

What an answer listed are the keys of the rows it names without the `"<server>/"` prefix
(`stale_keys` relies on it), with a tag when one answer lists rows of several kinds (queues).

State, under `state["lists"]` of each projection that reconciles (plain JSON):
`{server: {action_id: {"stream": str, "start": position, "listed": [ident, ...]}}}`.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.envelope import BANNER, CONNECTION_LOST, RESPONSE, Event
from projections.base import Handler, to_int

MAX_OPEN = 32  # answers open per server: answers of actions a projection ignores never end


class Answer(NamedTuple):
    """A list answer that arrived whole."""

    start: int  # position of its first message: rows born later are newer than the answer
    listed: frozenset[str]


def begin(lists: dict, event: Event) -> None:
    """A `Response` with `EventList: start`: an answer begins here."""
    answers = _session_answers(lists, event)
    action = _action_id(event)
    answers.pop(action, None)
    _open(answers, action, event)


def item(lists: dict, event: Event, ident: str) -> None:
    """One item of an answer names `ident`. With no start seen (the log began inside the
    answer) the answer is taken to begin here."""
    answers = _session_answers(lists, event)
    action = _action_id(event)
    answer = answers.get(action)
    if answer is None:
        answer = _open(answers, action, event)
    answer["listed"].append(ident)


def item_named(lists: dict, event: Event, header: str) -> str | None:
    """An item naming its object in `header` (`Uniqueid`, `BridgeUniqueid`): noted, and the
    name returned; None when it names none (not noted, so the answer counts short)."""
    ident = event.data.get(header)
    if not isinstance(ident, str) or not ident:
        return None
    item(lists, event, ident)
    return ident


def end(lists: dict, event: Event) -> Answer | None:
    """The `...Complete` event: the answer, forgotten from the state; None when it did not
    arrive whole. An answer with neither start nor item seen is an empty list."""
    server = event.server
    answers = lists.get(server)
    answer = answers.pop(_action_id(event), None) if answers else None
    if answers is not None and not answers:
        del lists[server]
    if answer is None:
        start, listed = event.position, []
    else:
        start, listed = answer["start"], answer["listed"]
    expected = to_int(event.data.get("ListItems"))
    if expected is not None and expected != len(listed):
        return None
    return Answer(start, frozenset(listed))


def gone(state: dict, rows: dict[str, dict], event: Event) -> list[str]:
    """At an answer's `...Complete` event: the keys of `rows` (of `state`, whose `"lists"`
    holds the answers) that it shows are gone (`end`, then `stale_keys`); none when it did
    not arrive whole."""
    answer = end(state["lists"], event)
    return [] if answer is None else stale_keys(rows, event.server, answer)


def forget(lists: dict, server: str) -> None:
    """A session began or ended: answers still open on that server will never complete."""
    lists.pop(server, None)


def stale_keys(rows: dict[str, dict], server: str, answer: Answer, tag: str = "") -> list[str]:
    """Keys of `server`'s rows that the answer shows are gone: born before it began
    (`row["pos"]`) and not listed (`tag` + the key without its `"<server>/"` prefix)."""
    prefix = server + "/"
    cut = len(prefix)
    start, listed = answer
    return [key for key, row in rows.items()
            if key.startswith(prefix) and row["pos"] < start and tag + key[cut:] not in listed]


def _action_id(event: Event) -> str:
    return event.header("ActionID")


def _session_answers(lists: dict, event: Event) -> dict:
    """The server's open answers, less those of an earlier session (a disconnect that left
    no `ConnectionLost`, e.g. the engine was killed)."""
    answers = lists.get(event.server)
    if answers is None:
        answers = lists[event.server] = {}
    elif any(a["stream"] != event.stream for a in answers.values()):
        answers.clear()
    return answers


def _open(answers: dict, action: str, event: Event) -> dict:
    answer = answers[action] = {"stream": event.stream, "start": event.position, "listed": []}
    while len(answers) > MAX_OPEN:
        del answers[next(iter(answers))]
    return answer


def _on_response(state: dict, event: Event) -> None:
    if event.data.get("EventList") == "start":
        begin(state["lists"], event)


def _on_session(state: dict, event: Event) -> None:
    forget(state["lists"], event.server)


# The session events every reconciling projection handles the same way (`state["lists"]`).
HANDLERS: dict[str, Handler] = {
    RESPONSE: _on_response,
    BANNER: _on_session,
    CONNECTION_LOST: _on_session,
}
