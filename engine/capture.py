"""Capture files (`tests/ami-captures/*.jsonl`) turned into what a live session would log.

A capture line is `{"t", "wall", "dir", "raw"}`; inbound bytes are concatenated and fed to the same
parser a live connection uses, so the envelopes are exactly those of a live session: one stream
per session, version = inbound message index (banner = 0), `recorded_at` = the capture's wall
clock. The session id is a hash of the file's bytes, so ingesting a capture twice stores nothing
new: every message of the second run is a duplicate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.ami.protocol import Parser
from engine.envelope import NewEvent


@dataclass(frozen=True, slots=True)
class CaptureLine:
    t: float
    wall: str
    dir: str
    raw: str


def read_lines(path: str | Path) -> list[CaptureLine]:
    out: list[CaptureLine] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                out.append(CaptureLine(float(obj["t"]), obj["wall"], obj["dir"], obj["raw"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a capture line ({exc})") from None
    return out


def session_stream(server: str, path: str | Path) -> str:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    return f"ami/{server}/capture-{digest}"


def capture_events(
    path: str | Path, server: str = "capture", until: float | None = None
) -> Iterator[NewEvent]:
    """The inbound messages with `t <= until` (all when None), as envelopes."""
    stream = session_stream(server, path)
    parser = Parser()
    version = 0
    for line in read_lines(path):
        if line.dir != "in" or (until is not None and line.t > until):
            continue
        for message in parser.feed(line.raw.encode("utf-8")):
            yield NewEvent(stream, version, message.type, line.wall, server, message.headers)
            version += 1


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
