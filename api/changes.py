"""Change messages, derived from the read models right after each event is applied.

The `Deriver` keeps, per kind of row (`api/topics.py`), the rows it last announced. After an
event it renders the scopes the event may have changed and compares: a new row is `create`, a
different one `update`, a vanished one `delete` (with the row as it ended). Everything is a
function of the log up to that event: payloads are computed at the event's own time, scopes and
rows are visited in sorted order, and what was announced always equals the read model (tested
after every event of every capture). So a deriver started from a projector rebuilt at any
position announces exactly what the live one announced from there on, which is what lets a
client resume at any position with nothing lost and nothing twice.

A message's id is the log position of the event that caused it, `"<position>"`, or
`"<position>:<n>"` (n from 1) when one event caused several: a client that lost its connection
between two messages of one event resumes between them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from api.topics import KINDS, Kind, KindCache, decoded
from engine.envelope import Event
from projections.base import Row, event_time

ALL = 1 << 30  # the index of "every message of that position" in an Id
Id = tuple[int, int]  # (position, index): messages are ordered by it
_encoder = msgspec.json.Encoder()


ID_FORMS = ("ids are log positions: 1234, or 1234:2 for the second message one event caused; "
            "0 for the start of the log")
_ID = re.compile(r"(0|[1-9][0-9]{0,17})(?::([1-9][0-9]{0,8}))?")


def parse_id(text: str | None) -> Id | None:
    """`"1234"` -> (1234, ALL); `"1234:2"` -> (1234, 2); anything else -> None.

    Only the forms `Message` writes (and 0, before the first event): ASCII digits, no sign,
    no blanks, no leading zero, n from 1. `int()` alone would take `+5`, ` 5`, `1_000` and
    other scripts' digits, ids no message ever had."""
    if text is None:
        return None
    found = _ID.fullmatch(text)
    if found is None:
        return None
    position, index = found.groups()
    return int(position), int(index) if index is not None else ALL


class Message:
    """One change, encoded once and shared by every client that receives it.

    `json` is `{"<name>": {...row...}, "topic": "...", "id": "..."}`: the SSE data, and what a
    WebSocket client asking for `?meta=1` receives; `text` is the seed's own one-key message
    (`{"<name>": {...}}`), what a WebSocket client receives by default. Both are cut from the
    same encoding, and decoded to `str` only when a WebSocket client first sends them."""

    __slots__ = ("id", "key", "name", "topic", "decoded", "server", "json", "sse", "_cut",
                 "_text", "_meta_text")

    def __init__(self, position: int, index: int, count: int, name: str, topic: str,
                 payload: Row, decoded_topic: str | None = None) -> None:
        self.id = str(position) if count == 1 else f"{position}:{index}"
        self.key: Id = (position, ALL if count == 1 else index)
        self.name = name
        self.topic = topic
        # what subscriptions match (`api.topics.decoded`); the deriver has it already
        self.decoded = decoded(topic) if decoded_topic is None else decoded_topic
        self.server = str(payload.get("server", ""))
        self.json = _encoder.encode({name: payload, "topic": topic, "id": self.id})
        # where the seed's object would close: before `,"topic":<topic>,"id":"<id>"}` (18
        # bytes and the two values; an id is ASCII digits): one encoding serves both shapes
        self._cut = len(self.json) - 18 - len(_encoder.encode(topic)) - len(self.id)
        self.sse = b"id: %s\nevent: %s\ndata: %s\n\n" % (self.id.encode(), name.encode(),
                                                          self.json)
        self._text: str | None = None
        self._meta_text: str | None = None

    @property
    def position(self) -> int:
        return self.key[0]

    @property
    def text(self) -> str:
        """The seed's message: `{"<name>": {...}}`."""
        if self._text is None:
            self._text = self.json[: self._cut].decode() + "}"
        return self._text

    @property
    def meta_text(self) -> str:
        """`json` as text: the seed's message with its `topic` and `id`."""
        if self._meta_text is None:
            self._meta_text = self.json.decode()
        return self._meta_text


StateOf = Callable[[str], dict]


class Deriver:
    def __init__(self, kinds: tuple[Kind, ...] = KINDS) -> None:
        self.kinds = kinds
        self.caches = {kind.name: KindCache() for kind in kinds}
        self._dispatch: dict[str, list[Kind]] = {}

    @classmethod
    def from_state(cls, state_of: StateOf, now: float, kinds: tuple[Kind, ...] = KINDS
                   ) -> Deriver:
        """A deriver that knows the read models as they are: nothing to announce about them."""
        deriver = cls(kinds)
        for kind in kinds:
            rendered = kind.render(state_of(kind.projection), None, now)
            cache = deriver.caches[kind.name]
            if kind.seed_index is not None:
                cache.index.update(kind.seed_index(state_of(kind.projection)))
            for scope in sorted(rendered):
                rows = {key: _stable(kind, row) for key, row in rendered[scope].items()}
                cache.scopes[scope] = rows
                _index(kind, cache, scope, rows)
                _hold(kind, cache, state_of(kind.projection), rendered[scope])
        return deriver

    def derive(self, event: Event, state_of: StateOf) -> list[Message]:
        kinds = self._dispatch.get(event.type)
        if kinds is None:
            kinds = [k for k in self.kinds if k.triggers is None or event.type in k.triggers
                     or event.type in k.bulk]
            if len(self._dispatch) < 10_000:
                self._dispatch[event.type] = kinds
        if not kinds:
            return []
        changes: list[tuple[str, str, str, Row]] = []
        now = 0.0
        for kind in kinds:
            cache = self.caches[kind.name]
            state = state_of(kind.projection)
            if event.type in kind.bulk and kind.server_scopes is not None:
                prefix = event.server + "/"
                scopes = set(kind.server_scopes(state, event.server))
                scopes.update(s for s in cache.scopes if s.startswith(prefix))
            elif kind.candidates is None or event.type in kind.bulk:
                scopes = None
            else:
                scopes = set(kind.candidates(event, state, cache))
                if not scopes:
                    continue
            if not now:
                now = event_time(event)
            self._diff(kind, cache, state, scopes, now, changes)
        count = len(changes)
        return [Message(event.position, i, count, name, topic, payload, decoded)
                for i, (name, topic, decoded, payload) in enumerate(changes, 1)]

    def _diff(self, kind: Kind, cache: KindCache, state: dict, scopes: set[str] | None,
              now: float, out: list[tuple[str, str, str, Row]]) -> None:
        rendered = kind.render(state, scopes, now)
        if scopes is None:
            scopes = set(rendered) | set(cache.scopes)
        for scope in sorted(scopes):
            new = rendered.get(scope, {})
            old = cache.scopes.get(scope, {})
            if not new and not old:
                continue
            kept: dict[str, Row] = {}
            for key in sorted(new):
                row = new[key]
                stable = _stable(kind, row)
                before = old.get(key)
                if before is None:
                    out.append((f"{kind.name}.{'create' if kind.creates else 'update'}",
                                *kind.topic_of(row), row))
                elif before != stable:
                    out.append((f"{kind.name}.update", *kind.topic_of(row), row))
                kept[key] = stable
            _hold(kind, cache, state, new)
            for key in sorted(old.keys() - new.keys()):
                row = _ended(kind, cache, state, key, old[key], now)
                out.append((f"{kind.name}.{kind.ends}", *kind.topic_of(row), row))
            if kind.index_field is not None:
                _unindex(kind, cache, old)
            if kept:
                cache.scopes[scope] = kept
                _index(kind, cache, scope, kept)
            else:
                cache.scopes.pop(scope, None)
                if kind.seed_index is not None and old:
                    for leftover in [k for k, v in cache.index.items() if v == scope]:
                        del cache.index[leftover]

    def announced(self) -> dict[str, dict[str, Row]]:
        """Every kind's rows as last announced, keyed by row key (for checks and tests)."""
        out: dict[str, dict[str, Row]] = {}
        for kind in self.kinds:
            rows: dict[str, Row] = {}
            for scope_rows in self.caches[kind.name].scopes.values():
                rows.update(scope_rows)
            out[kind.name] = rows
        return out


def _stable(kind: Kind, row: Row) -> Row:
    """The row without the fields that move with the clock alone."""
    if not kind.volatile:
        return row
    return {k: v for k, v in row.items() if k not in kind.volatile}


def _hold(kind: Kind, cache: KindCache, state: dict, rows: dict[str, Row]) -> None:
    """Hold the records behind the rows about to be sent (`Held`)."""
    if kind.held is None:
        return
    for key, row in rows.items():
        record = kind.held.record(state, row)
        if record is not None:
            cache.held[key] = record


def _ended(kind: Kind, cache: KindCache, state: dict, key: str, sent: Row, now: float) -> Row:
    """The row `key` as it left the view, at `now`: the kind's `final`, or the row as last
    sent with its clock fields (the ones `sent` lacks) from its held record, or as last sent."""
    if kind.final is not None:
        final = kind.final(state, key, now)
        if final is not None:
            return final
    if kind.held is not None:
        record = cache.held.pop(key, None)
        if record is not None:
            return {field: sent.get(field, value)
                    for field, value in kind.held.render(record, now).items()}
    return sent


def _index(kind: Kind, cache: KindCache, scope: str, rows: dict[str, Row]) -> None:
    field = kind.index_field
    if field is None:
        return
    for row in rows.values():
        value = row.get(field)
        if value:
            cache.index[f"{row['server']}/{value}"] = scope


def _unindex(kind: Kind, cache: KindCache, rows: dict[str, Row]) -> None:
    field = kind.index_field
    assert field is not None
    for row in rows.values():
        value = row.get(field)
        if value:
            cache.index.pop(f"{row['server']}/{value}", None)


def expected(state_of: StateOf, now: float, kinds: tuple[Kind, ...] = KINDS
             ) -> dict[str, dict[str, Any]]:
    """What a deriver must have announced for the read models as they are (tests)."""
    return Deriver.from_state(state_of, now, kinds).announced()
