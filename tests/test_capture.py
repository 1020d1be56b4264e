"""Capture files: any line a file holds is either refused with its file and line named, or
becomes envelopes the log takes; `ingest-capture` says so in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.capture import CaptureError, capture_events, read_lines
from engine.envelope import encode_checked
from tests.test_cli import one_line, sb

BANNER = {"t": 0.0001, "wall": "2026-11-22T15:34:08.348544+00:00", "dir": "in",
          "raw": "Asterisk Call Manager/11.0.0\r\n"}
EVENT = {"t": 0.0006, "wall": "2026-11-22T15:34:08.349107+00:00", "dir": "in",
         "raw": "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"}


def write(path: Path, *lines: Any) -> Path:
    path.write_bytes(b"".join(
        (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n"
        for line in lines))
    return path


@pytest.mark.parametrize(("line", "why"), [
    ({**EVENT, "raw": 12345}, "raw: Expected `str`, got `int`"),
    ({**EVENT, "raw": None}, "raw: Expected `str`, got `null`"),
    ({**EVENT, "t": "soon"}, "t: Expected `float`, got `str`"),
    ({**EVENT, "t": True}, "t: Expected `float`, got `bool`"),
    ({**EVENT, "dir": "sideways"}, "dir: Invalid enum value 'sideways'"),
    ({k: v for k, v in EVENT.items() if k != "dir"}, "missing key `dir`"),
    ({**EVENT, "wall": None}, "wall: Expected `str`, got `null`"),
    ({**EVENT, "wall": "2026-11-22 15:34"}, "wall: '2026-11-22 15:34' has no UTC offset"),
    ([1, 2], "Expected `object`, got `array`"),
    (b'{"t": 1, "wall": ', "Input data was truncated"),
    (b'{"t": 1 "wall"}', "JSON is malformed"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff", "not UTF-8 text (byte 0x89 at column 1)"),
])
def test_a_bad_line_is_named_by_file_and_line_and_nothing_is_stored(tmp_path: Path, line: Any,
                                                                    why: str) -> None:
    path = write(tmp_path / "cap.jsonl", BANNER, EVENT, line, EVENT)
    result = sb("ingest-capture", str(path), cwd=tmp_path)
    assert result.returncode == 1
    message = one_line(result)
    assert message.startswith(f"switchboard: {path}:3: not a capture line: "), message
    assert why in message
    assert sb("events", cwd=tmp_path).stdout == ""


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    result = sb("ingest-capture", str(tmp_path / "missing.jsonl"), cwd=tmp_path)
    assert result.returncode == 1
    assert one_line(result) == (f"switchboard: {tmp_path / 'missing.jsonl'}: cannot read it "
                                "(No such file or directory)")
    result = sb("ingest-capture", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1 and str(tmp_path) in one_line(result)


def test_an_incomplete_last_message_is_said_with_its_line(tmp_path: Path) -> None:
    cut = {**EVENT, "t": 0.0009, "raw": "Event: Newchannel\r\nChannel: Local/1"}
    path = write(tmp_path / "cut.jsonl", BANNER, EVENT, {**EVENT, "dir": "out"}, cut,
                 {**cut, "t": 0.001, "raw": "01@customers-0001;1\r\n"})
    result = sb("ingest-capture", str(path), cwd=tmp_path)
    assert result.returncode == 0
    assert one_line(result) == (
        f"switchboard: warning: {path}:4: the last inbound message, begun on this line, never "
        "ends (no empty line after it): not appended")
    assert "2 messages, 2 appended" in result.stdout
    whole = write(tmp_path / "whole.jsonl", BANNER, EVENT)
    done = sb("ingest-capture", str(whole), cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""


# ------------------------------------------------------------------------------ property

_hostile = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(),
                     st.text(max_size=12), st.lists(st.integers(), max_size=2),
                     st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
_lines = st.one_of(
    st.fixed_dictionaries({
        "t": st.one_of(st.floats(0, 10), _hostile),
        "wall": st.one_of(st.datetimes().map(lambda d: d.isoformat() + "+00:00"), _hostile),
        "dir": st.one_of(st.sampled_from(["in", "out"]), _hostile),
        "raw": st.one_of(st.sampled_from([BANNER["raw"], EVENT["raw"], "Event: X\r\n",
                                          "\r\n\r\n", "Key without colon\r\n\r\n"]),
                         st.text(max_size=40), _hostile),
    }).map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=30).filter(lambda b: b"\n" not in b),
)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_lines, max_size=6))
def test_any_capture_is_refused_by_line_or_gives_envelopes_the_log_takes(
        tmp_path: Path, lines: list[bytes]) -> None:
    path = tmp_path / "any.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    try:
        events = list(capture_events(path, "pbx1"))
    except CaptureError as exc:
        message = str(exc)
        assert message.startswith(f"{path}:") and "\n" not in message
        number = int(message[len(str(path)) + 1:].split(":", 1)[0])
        assert 1 <= number <= len(lines)
        return
    for event in events:
        encode_checked(event)  # raises if the log would refuse it
    assert len(read_lines(path)) == sum(1 for line in lines if line.strip())
