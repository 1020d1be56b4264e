"""Capture files (`tests/ami-captures/*.jsonl`) turned into what a live session would log.

A capture line is `{"t", "wall", "dir", "raw"}`; inbound bytes are concatenated and fed to the same
parser a live connection uses, so the envelopes are exactly those of a live session: one stream
per session, version = inbound message index (banner = 0), `recorded_at` = the capture's wall
clock. The session id is a hash of the file's bytes, so ingesting a capture twice stores nothing
new: every message of the second run is a duplicate.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import msgspec

from engine.ami.protocol import Parser
from engine.envelope import NewEvent, time_problem


class CaptureError(ValueError):
    """A capture file that cannot be ingested; the message names the file and the line."""


class CaptureLine(msgspec.Struct, frozen=True):
    t: float
    wall: str
    dir: Literal["in", "out"]
    raw: str
    line: int = 0  # its line number in the file (1 = the first)


_line_decoder = msgspec.json.Decoder(CaptureLine)


def read_lines(path: str | Path) -> list[CaptureLine]:
    """Every line of a capture, each decoded strictly (`t` a number, `wall` an ISO 8601 time
    with its UTC offset, `dir` "in" or "out", `raw` a string); anything else is a
    CaptureError naming the file and the line, before anything is appended."""
    data = _read(path)
    out: list[CaptureLine] = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            line = _line_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise CaptureError(f"{path}:{number}: not a capture line: {_why(exc, raw)}") from None
        problem = (time_problem(line.wall, "wall") if math.isfinite(line.t)
                   else "t: not a finite number")
        if problem is not None:
            raise CaptureError(f"{path}:{number}: not a capture line: {problem}")
        out.append(msgspec.structs.replace(line, line=number))
    return out


def _why(exc: msgspec.DecodeError, raw: bytes) -> str:
    """msgspec's reason, said for a capture line ("Expected `str`, got `int` - at `$.raw`" ->
    "raw: Expected `str`, got `int`"); bytes that are not UTF-8 said as such."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not UTF-8 text (byte 0x{raw[bad.start]:02x} at column {bad.start + 1})"
    text = str(exc)
    head, sep, where = text.rpartition(" - at `$.")
    if sep:
        return f"{where.rstrip('`')}: {head}"
    if "Object missing required field" in text:
        return text.replace("Object missing required field", "missing key")
    return text


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CaptureError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def session_stream(server: str, path: str | Path) -> str:
    digest = hashlib.sha256(_read(path)).hexdigest()[:16]
    return f"ami/{server}/capture-{digest}"


def capture_events(
    path: str | Path, server: str = "capture", until: float | None = None,
    warn: Callable[[str], None] | None = None,
) -> Iterator[NewEvent]:
    """The inbound messages with `t <= until` (all when None), as envelopes. A last message
    that never ends (the capture was cut inside it, or `until` was) is not an envelope:
    `warn` is told so, with the line it began on."""
    lines = read_lines(path)
    stream = session_stream(server, path)
    parser = Parser()
    version = 0
    began = 0  # the line the unfinished message began on
    for line in lines:
        if line.dir != "in" or (until is not None and line.t > until):
            continue
        waiting = parser.pending
        messages = parser.feed(line.raw.encode("utf-8"))
        if parser.pending and (not waiting or messages):
            began = line.line
        for message in messages:
            yield NewEvent(stream, version, message.type, line.wall, server, message.headers)
            version += 1
    if parser.pending and warn is not None:
        warn(f"{path}:{began}: the last inbound message, begun on this line, never ends (no "
             "empty line after it): not appended")


def action_times(path: str | Path) -> list[tuple[float, dict[str, str]]]:
    """Every outbound action of a capture with its time: the acceptance tests cut there."""
    out: list[tuple[float, dict[str, str]]] = []
    for line in read_lines(path):
        if line.dir != "out":
            continue
        headers: dict[str, str] = {}
        for row in line.raw.split("\r\n"):
            k, sep, v = row.partition(": ")
            if sep:
                headers.setdefault(k, v)
        out.append((line.t, headers))
    return out
