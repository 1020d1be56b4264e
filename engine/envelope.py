"""The one event envelope: every AMI message, command and dialer decision travels in it.

An `Event` is what the log hands back (it has a `position`); a `NewEvent` is what a writer asks
the log to append (the store assigns the position). `data` holds the AMI headers verbatim, in the
order they arrived; a header that repeats (`ChanVariable`, `Variable`) becomes a list of its
values, so nothing Asterisk sent is lost and a projection still reads `data["Channel"]` directly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

Headers = dict[str, Any]  # str, or list[str] for a repeated header

# Envelope types that are not AMI event names.
BANNER = "Banner"  # first line of a session: "Asterisk Call Manager/11.0.0"
RESPONSE = "Response"  # an action's response (data["Response"] is Success, Error, Follows...)
MALFORMED = "Malformed"  # bytes that are not a valid AMI message: data["raw"], data["error"]
CONNECTION_LOST = "ConnectionLost"  # engine marker at the end of a session: data["Reason"]
# What a reader hands on for a stored row it cannot decode (written by hand, or by a version
# that did not check envelopes): data["stored_type"], data["error"], data["state"] (the start
# of the stored bytes). Never appended: it only stands in the row's place, so readers go on.
UNREADABLE = "Unreadable"

# A stream or a type is 1 to MAX_NAME printable characters: no control character (PostgreSQL
# text refuses NUL) and no lone surrogate (no database can encode one).
MAX_NAME = 1000
MAX_DEPTH = 32  # nesting of `data`: a reader deep in its own calls must still decode it


class EnvelopeError(ValueError):
    """An envelope the log refuses: the message names the event and the field; `index` is
    its place in the batch `Store.append` was given."""

    index: int = 0


class NewEvent(msgspec.Struct, frozen=True):
    stream: str
    version: int
    type: str
    recorded_at: str
    server: str
    data: Headers
    causation_id: str | None = None
    correlation_id: str | None = None


class Event(msgspec.Struct, frozen=True):
    position: int
    stream: str
    version: int
    type: str
    recorded_at: str
    server: str
    data: Headers
    causation_id: str | None = None
    correlation_id: str | None = None

    def header(self, name: str, default: str = "") -> str:
        """The first value of a header: repeated headers are lists in `data`."""
        value = self.data.get(name, default)
        if isinstance(value, list):
            return value[0] if value else default
        return value

    def headers_all(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]


class StoredState(msgspec.Struct, frozen=True, array_like=True):
    """What goes into the recorder's `state` column; stream, version and type have columns."""

    recorded_at: str
    server: str
    data: Headers
    causation_id: str | None = None
    correlation_id: str | None = None


_encoder = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(StoredState)


def encode_state(event: NewEvent) -> bytes:
    return _encoder.encode(
        StoredState(
            event.recorded_at, event.server, event.data, event.causation_id, event.correlation_id
        )
    )


def encode_checked(event: NewEvent) -> bytes:
    """The stored form of an envelope the log can give back, or EnvelopeError.

    The store appends nothing else (`Store.append`), whatever wrote the envelope (AMI, API,
    capture, CLI): a Struct does not check its fields when it is built, and one `recorded_at`
    of null from a capture line used to be stored, after which every reader of the log failed
    on it for ever. What is checked is exactly what `decode_event` needs (plus what the
    databases need: names PostgreSQL can store, a `version` that fits a bigint, `data` that
    encodes to JSON and is not nested deeper than MAX_DEPTH); `recorded_at` must be an ISO
    8601 time with its UTC offset, as everything that reads it as a time assumes."""
    problem = _problem(event)
    if problem is None:
        try:
            return encode_state(event)
        except (TypeError, ValueError, RecursionError, OverflowError) as exc:
            problem = f"data: cannot be stored as JSON ({exc})"
    raise EnvelopeError(f"{_name(event)}: {problem}")


_good_time = [""]  # the last recorded_at found good: a read's AMI messages share one


def _problem(event: NewEvent) -> str | None:
    """What is wrong with an envelope, or None. On the append path of every event: the
    common case is a few type checks (about 0.5 us); the reasons are worked out only for an
    envelope that fails them."""
    stream, type_ = event.stream, event.type
    if not (type(stream) is str and type(type_) is str and 0 < len(stream) <= MAX_NAME
            and 0 < len(type_) <= MAX_NAME and stream.isprintable() and type_.isprintable()):
        return _name_problem("stream", stream) or _name_problem("type", type_)
    if type_ == UNREADABLE:
        return f"type: {UNREADABLE!r} stands only for a row the log cannot read"
    version = event.version
    if type(version) is not int or not 0 <= version < 1 << 63:
        return f"version: expected an integer from 0 to 2**63-1, got {_shown(version)}"
    recorded_at = event.recorded_at
    if recorded_at is not _good_time[0]:
        problem = time_problem(recorded_at)
        if problem is not None:
            return problem
        _good_time[0] = recorded_at
    if type(event.server) is not str:
        return f"server: expected a string, got {_kind(event.server)}"
    for field, value in (("causation_id", event.causation_id),
                         ("correlation_id", event.correlation_id)):
        if value is not None and type(value) is not str:
            return f"{field}: expected a string or null, got {_kind(value)}"
    data = event.data
    if type(data) is not dict:
        return f"data: expected an object of headers, got {_kind(data)}"
    try:
        "".join(data.values())  # every value a string (the AMI case): nothing nests
    except TypeError:
        if _depth(data) > MAX_DEPTH:
            return f"data: nested deeper than {MAX_DEPTH} levels"
    return None


def _name_problem(field: str, value: Any) -> str | None:
    if type(value) is not str:
        return f"{field}: expected a string, got {_kind(value)}"
    if not 0 < len(value) <= MAX_NAME:
        return f"{field}: must be 1 to {MAX_NAME} characters, got {len(value)}"
    if not value.isprintable():
        return (f"{field}: {value[:80]!r} holds a character that is not printable (a "
                "control character, a lone surrogate)")
    return None


def time_problem(value: Any, field: str = "recorded_at") -> str | None:
    """What keeps `value` from being a `recorded_at` (an ISO 8601 time with its UTC offset),
    said for `field` (a capture line's `wall` becomes `recorded_at`); None if nothing."""
    if type(value) is not str:
        return f"{field}: expected an ISO 8601 time, got {_kind(value)}"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return f"{field}: {value[:80]!r} is not an ISO 8601 time"
    if when.tzinfo is None:
        return f"{field}: {value[:80]!r} has no UTC offset (such as +00:00)"
    return None


def _depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep `value` nests (a scalar: 0, `{"a": "x"}`: 1), looked at no deeper than
    `limit` + 1 levels (a million-deep list costs no more than a shallow one)."""
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return 0
    if limit < 0:
        return 1
    return 1 + max((_depth(v, limit - 1) for v in value if isinstance(v, (dict, list, tuple))),
                   default=0)


def _name(event: NewEvent) -> str:
    """The event as an error message names it (its fields may be anything)."""
    stream, type_ = event.stream, event.type
    if type(stream) is str and type(type_) is str:
        shown = stream[:120] if stream.isprintable() else repr(stream[:120])
        kind = type_[:80] if type_.isprintable() else repr(type_[:80])
        return f"event {shown}#{_shown(event.version)} ({kind})"
    return "event"


def _kind(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {_shown(value)}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def decode_event(position: int, stream: str, version: int, type_: str, state: bytes) -> Event:
    """A stored row as an envelope; never raises. A row no envelope can be decoded from comes
    back as an `UNREADABLE` stand-in at its position, with the reason: one bad row (written by
    hand, or before envelopes were checked) used to stop `run`, `events`, `verify`, `export`
    and `timeline` at it for ever. Readers skip and count the stand-ins (the projector keeps
    their positions for `/status`; `replay verify` names them)."""
    try:
        s = _state_decoder.decode(state)
    except (msgspec.DecodeError, TypeError) as exc:
        return unreadable(position, stream, version, type_, state, str(exc))
    if type(stream) is not str or type(version) is not int or type(type_) is not str:
        return unreadable(position, stream, version, type_, state,
                          "stream, version or type column holds another type")
    return Event(
        position, stream, version, type_, s.recorded_at, s.server, s.data,
        s.causation_id, s.correlation_id,
    )


def unreadable(position: int, stream: Any, version: Any, type_: Any, state: Any,
               error: str) -> Event:
    """The stand-in for the row at `position` (see UNREADABLE)."""
    if isinstance(state, (bytes, bytearray, memoryview)):
        start = bytes(state[:200]).decode("utf-8", "backslashreplace")
    else:
        start = _shown(state)
    return Event(position, stream if type(stream) is str else _shown(stream),
                 version if type(version) is int else -1, UNREADABLE, "", "",
                 {"stored_type": type_ if type(type_) is str else _shown(type_),
                  "error": error[:300], "state": start})


def to_json(event: Event) -> bytes:
    """One JSON object with the envelope's field names, `position` first (msgspec keeps order)."""
    return _encoder.encode(event)


def from_json(line: bytes | str) -> Event:
    return msgspec.json.decode(line, type=Event)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
