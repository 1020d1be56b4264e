"""The AMI wire format: an incremental parser and a serializer.

A session starts with one banner line (`Asterisk Call Manager/11.0.0\\r\\n`); then every message
is `Key: Value` lines joined by CRLF and ended by an empty line. The parser works on bytes and
decodes a message only once it is complete, so a UTF-8 character split across two TCP reads is
kept whole (panoramisk decodes each read and drops it). Bad input never raises: a message that is
not valid AMI comes out as a `Message` of type `Malformed` holding the raw text and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.envelope import BANNER, MALFORMED, RESPONSE, Headers

TERMINATOR = b"\r\n\r\n"
MAX_MESSAGE_BYTES = 1 << 20  # a "message" larger than this is garbage, not AMI


@dataclass(slots=True)
class Message:
    type: str  # Event name, "Response", "Banner" or "Malformed"
    headers: Headers


def parse_headers(text: str) -> Message:
    """One complete message (without its terminator) into a typed header dict."""
    pairs = [line.split(": ", 1) for line in text.split("\r\n")]
    try:
        headers: Headers = dict(pairs)  # fast path: every line is "Key: Value", no repeats
    except ValueError:
        return _parse_slow(text)
    if len(headers) != len(pairs) or "" in headers:
        return _parse_slow(text)
    return _typed(text, headers)


def _parse_slow(text: str) -> Message:
    """Repeated headers, `Key:` with no space, or lines that are not headers at all."""
    try:
        headers = _collect(text, strict=True)
    except _NotAHeader as exc:
        return malformed(text, f"line without 'Key: Value': {exc.line[:80]!r}")
    return _typed(text, headers)


def parse_action(text: str) -> Headers:
    """A client's action read as Asterisk reads it: any `Key: Value` line counts (the key
    trimmed, the value without its leading blanks), other lines are noise. An action has neither
    Event nor Response, so `parse_headers` would call it Malformed."""
    return _collect(text, strict=False)


class _NotAHeader(ValueError):
    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def _collect(text: str, *, strict: bool) -> Headers:
    """The `Key: Value` lines of a message in order, a repeated key's values in a list.

    Strict (what Asterisk sent): the key as written and one space dropped from the value; a line
    that is not a header raises `_NotAHeader`. Lenient: as `parse_action` reads an action."""
    headers: Headers = {}
    for line in text.split("\r\n"):
        key, sep, value = line.partition(":")
        if strict:
            if not sep or not key or key != key.strip():
                raise _NotAHeader(line)
            if value.startswith(" "):
                value = value[1:]
        else:
            key, value = key.strip(), value.lstrip(" \t")
            if not sep or not key:
                continue
        old = headers.get(key)
        if old is None:
            headers[key] = value
        elif isinstance(old, list):
            old.append(value)
        else:
            headers[key] = [old, value]
    return headers


def _typed(text: str, headers: Headers) -> Message:
    event = headers.get("Event")
    if isinstance(event, str) and event:
        return Message(event, headers)
    if "Response" in headers:
        return Message(RESPONSE, headers)
    return malformed(text, "message has neither an Event nor a Response header")


def malformed(raw: str, error: str) -> Message:
    return Message(MALFORMED, {"raw": raw, "error": error})


class Parser:
    """Feed it bytes as they arrive; it returns every message completed so far."""

    def __init__(self, expect_banner: bool = True) -> None:
        self._buffer = b""
        self._expect_banner = expect_banner

    def feed(self, data: bytes) -> list[Message]:
        buffer = self._buffer + data if self._buffer else data
        out: list[Message] = []
        if self._expect_banner:
            end = buffer.find(b"\r\n")
            if end < 0:
                self._buffer = buffer
                return out
            self._expect_banner = False
            out.append(Message(BANNER, {"Banner": _decode(buffer[:end])}))
            buffer = buffer[end + 2 :]
        chunks = buffer.split(TERMINATOR)
        self._buffer = chunks.pop()
        for chunk in chunks:
            if not chunk:
                continue  # stray empty lines between messages
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                out.append(malformed(_decode(chunk), f"invalid UTF-8: {exc.reason}"))
                continue
            out.append(parse_headers(text.lstrip("\r\n")))
        if len(self._buffer) > MAX_MESSAGE_BYTES:
            out.append(malformed(_decode(self._buffer[:4096]), "message exceeds 1 MiB"))
            self._buffer = b""
        return out

    @property
    def pending(self) -> int:
        return len(self._buffer)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def serialize(headers: Headers) -> bytes:
    """A message back to wire bytes; a list value becomes one line per item, in order."""
    lines: list[str] = []
    for key, value in headers.items():
        if isinstance(value, list):
            lines.extend(f"{key}: {v}" for v in value)
        else:
            lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
