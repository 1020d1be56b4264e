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


def decode_event(position: int, stream: str, version: int, type_: str, state: bytes) -> Event:
    s = _state_decoder.decode(state)
    return Event(
        position, stream, version, type_, s.recorded_at, s.server, s.data,
        s.causation_id, s.correlation_id,
    )


def to_json(event: Event) -> bytes:
    """One JSON object with the envelope's field names, `position` first (msgspec keeps order)."""
    return _encoder.encode(event)


def from_json(line: bytes | str) -> Event:
    return msgspec.json.decode(line, type=Event)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
