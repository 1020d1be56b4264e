"""The AMI parser: any split of the bytes gives the same messages; garbage never raises."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ami.protocol import Parser, parse_headers, serialize
from engine.capture import read_lines
from tests.conftest import CAPTURE_FILES

INBOUND = b"".join(
    line.raw.encode() for line in read_lines(CAPTURE_FILES[0]) if line.dir == "in"
)

key = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
              min_size=1, max_size=12)
value = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                max_size=30)
headers = st.dictionaries(key, st.one_of(value, st.lists(value, min_size=2, max_size=3)),
                          min_size=1, max_size=6)


def parse_all(data: bytes, cuts: list[int]) -> list:
    parser = Parser()
    out, last = [], 0
    for cut in sorted(set(cuts)) + [len(data)]:
        out += parser.feed(data[last:cut])
        last = cut
    return out


@given(st.lists(st.integers(0, len(INBOUND)), max_size=40))
@settings(max_examples=60)
def test_any_split_of_a_capture_gives_the_same_messages(cuts: list[int]) -> None:
    assert parse_all(INBOUND, cuts) == parse_all(INBOUND, [])


@given(st.lists(headers, min_size=1, max_size=5), st.data())
def test_serialize_then_parse_round_trips_with_repeated_headers_and_utf8(msgs, data) -> None:
    for h in msgs:
        h["Event"] = "Test"
    wire = b"Asterisk Call Manager/11.0.0\r\n" + b"".join(serialize(h) for h in msgs)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=20))
    parsed = parse_all(wire, cuts)
    assert parsed[0].type == "Banner"
    assert [m.headers for m in parsed[1:]] == msgs


def test_utf8_character_split_across_reads_is_kept() -> None:
    wire = "Event: Newchannel\r\nCallerIDName: José Müller\r\n\r\n".encode()
    cut = wire.index("é".encode()) + 1  # inside the two bytes of é
    parser = Parser(expect_banner=False)
    assert parser.feed(wire[:cut]) == []
    [message] = parser.feed(wire[cut:])
    assert message.headers["CallerIDName"] == "José Müller"


@given(st.binary(max_size=300))
def test_garbage_never_raises_and_is_flagged(blob: bytes) -> None:
    parser = Parser(expect_banner=False)
    for message in parser.feed(blob + b"\r\n\r\n"):
        assert message.type  # every message is typed: an event, a response or Malformed
        if message.type == "Malformed":
            assert message.headers["error"] and "raw" in message.headers


def test_malformed_messages_are_flagged_not_dropped() -> None:
    parser = Parser(expect_banner=False)
    out = parser.feed(b"no colon here\r\n\r\nEvent: Ok\r\n\r\nFoo: bar\r\n\r\n\xff\xfe: x\r\n\r\n")
    assert [m.type for m in out] == ["Malformed", "Ok", "Malformed", "Malformed"]
    assert "no colon here" in out[0].headers["raw"]
    assert "neither an Event nor a Response" in out[2].headers["error"]
    assert "invalid UTF-8" in out[3].headers["error"]


def test_values_keep_their_colons() -> None:
    m = parse_headers("Event: X\r\nEventTV: 2026-11-22T15:33:33.658+0000\r\nEmpty:")
    assert m.headers["EventTV"] == "2026-11-22T15:33:33.658+0000" and m.headers["Empty"] == ""
