"""The envelope: what the log refuses before it appends, and what a reader makes of a row it
cannot decode. Both on a real store, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.envelope import (
    MAX_DEPTH,
    UNREADABLE,
    EnvelopeError,
    NewEvent,
    decode_event,
    encode_checked,
    utc_now,
)
from engine.store import Store
from replay.reader import open_reader


def event(**fields: Any) -> NewEvent:
    base: dict[str, Any] = {"stream": "s", "version": 0, "type": "Ping", "recorded_at": utc_now(),
                            "server": "pbx1", "data": {"Response": "Success"}}
    return NewEvent(**{**base, **fields})


@pytest.mark.parametrize(("fields", "named"), [
    ({"recorded_at": None}, "recorded_at: expected an ISO 8601 time, got null"),
    ({"recorded_at": 12.5}, "recorded_at: expected an ISO 8601 time, got float 12.5"),
    ({"recorded_at": True}, "recorded_at: expected an ISO 8601 time, got bool True"),
    ({"recorded_at": ["2026"]}, "recorded_at: expected an ISO 8601 time, got list"),
    ({"recorded_at": "yesterday"}, "recorded_at: 'yesterday' is not an ISO 8601 time"),
    ({"recorded_at": "2026-11-22T15:33:07"}, "has no UTC offset"),
    ({"stream": ""}, "stream: must be 1 to 1000 characters"),
    ({"stream": "a\x00b"}, "stream: 'a\\x00b' holds a character that is not printable"),
    ({"type": "x" * 1001}, "type: must be 1 to 1000 characters, got 1001"),
    ({"type": None}, "type: expected a string, got null"),
    ({"type": UNREADABLE}, "type: 'Unreadable' stands only for a row the log cannot read"),
    ({"version": -1}, "version: expected an integer from 0 to 2**63-1, got -1"),
    ({"version": 2**63}, "version: expected an integer"),
    ({"version": True}, "version: expected an integer from 0 to 2**63-1, got True"),
    ({"server": 5}, "server: expected a string, got int 5"),
    ({"causation_id": 7}, "causation_id: expected a string or null, got int 7"),
    ({"data": ["a"]}, "data: expected an object of headers, got list"),
    ({"data": {"a": "\ud800"}}, "data: cannot be stored as JSON"),
    ({"data": {"a": {(1, 2): "x"}}}, "data: cannot be stored as JSON"),
    ({"data": {"a": object()}}, "data: cannot be stored as JSON"),
])
def test_a_refused_envelope_names_its_field_and_stores_nothing(store: Store, fields: dict,
                                                               named: str) -> None:
    store.append([event(stream="before")])
    with pytest.raises(EnvelopeError, match=_escaped(named)) as refused:
        store.append([event(stream="good", version=0), event(**fields)])
    assert refused.value.index == 1  # which event of the batch
    assert [e.stream for e in store.read()] == ["before"]  # nothing of the batch


def _escaped(text: str) -> str:
    import re

    return re.escape(text)


def test_data_nested_deeper_than_the_limit_is_refused_at_any_depth(store: Store) -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(EnvelopeError, match=f"nested deeper than {MAX_DEPTH}"):
        store.append([event(data={"a": deep})])
    for _ in range(100_000):  # a million-deep list costs no more to refuse
        deep = [deep]
    with pytest.raises(EnvelopeError, match="nested deeper"):
        store.append([event(data={"a": deep})])
    shallow: Any = "leaf"
    for _ in range(MAX_DEPTH - 1):
        shallow = {"k": shallow}
    assert store.append([event(data={"a": shallow})])
    assert store.read()[0].data == {"a": shallow}


# ------------------------------------------------------------------------------ property

def _hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=20), st.sampled_from(
        ["", "\x00", "a\x1fb", "\ud800", "é", "ami/pbx1/s", "x" * 1001, " ", "\u200b"]))


def _values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=True, allow_infinity=True), _hostile_text(),
                        st.binary(max_size=8))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.tuples(inner, inner),
        st.dictionaries(st.one_of(_hostile_text(), st.integers(-5, 5)), inner, max_size=3)),
        max_leaves=12)


def _anything() -> st.SearchStrategy[Any]:
    return st.one_of(_hostile_text(), st.none(), st.integers(-2**70, 2**70), st.booleans(),
                     st.floats(allow_nan=True), st.lists(st.integers(), max_size=2))


def _times() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.datetimes(timezones=st.just(UTC)).map(lambda t: t.isoformat()),
        st.datetimes().map(lambda t: t.isoformat()),  # no offset
        _anything())


envelopes = st.builds(
    NewEvent,
    stream=st.one_of(st.sampled_from(["s", "ami/pbx1/x", "command/c-1"]), _anything()),
    version=st.one_of(st.integers(0, 5), st.integers(-2**70, 2**70), _anything()),
    type=st.one_of(st.sampled_from(["Newchannel", "Hangup", "Malformed", UNREADABLE]),
                   _anything()),
    recorded_at=_times(),
    server=st.one_of(st.just("pbx1"), _anything()),
    data=st.one_of(st.dictionaries(_hostile_text(), _values(), max_size=4), _values()),
    causation_id=st.one_of(st.none(), _anything()),
    correlation_id=st.one_of(st.none(), _anything()),
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(new=envelopes)
def test_any_envelope_is_refused_before_append_or_reads_back(store: Store, new: NewEvent
                                                             ) -> None:
    """Whatever a writer puts in an envelope, the log either refuses it (EnvelopeError, nothing
    stored) or gives it back: never a row that a reader cannot decode."""
    before = store.last_position()
    try:
        stored = store.append([new])
    except EnvelopeError:
        assert store.last_position() == before
        return
    if not stored:  # (stream, version) was stored by an earlier example: a duplicate
        assert store.stream_version(new.stream) >= new.version
        return
    [back] = store.read(before, 1)
    with open_reader(store.url) as reader:
        [replayed] = reader.at([back.position])
    for read in (back, replayed):
        assert read.type == new.type != UNREADABLE
        assert (read.stream, read.version, read.recorded_at, read.server) == (
            new.stream, new.version, new.recorded_at, new.server)
        assert (read.causation_id, read.correlation_id) == (new.causation_id, new.correlation_id)
        assert msgspec.json.encode(read.data) == msgspec.json.encode(new.data)


@settings(max_examples=300, deadline=None)
@given(new=envelopes)
def test_encode_checked_is_exactly_what_decode_reads(new: NewEvent) -> None:
    try:
        state = encode_checked(new)
    except EnvelopeError as exc:
        assert str(exc).count("\n") == 0  # one line
        return
    back = decode_event(1, new.stream, new.version, new.type, state)
    assert back.type == new.type and back.recorded_at == new.recorded_at


# ------------------------------------------------------------------------------ decoding

@pytest.mark.parametrize("state", [
    b'[null,"pbx1",{}]', b'[5,"pbx1",{}]', b'[true,"pbx1",{}]', b'[["x"],"pbx1",{}]',
    b'["2026-11-22T15:33:07+00:00","pbx1",[]]', b"\xff\xfe\x00", b"", b"{", b"null",
    "text, not bytes", None, 12,
])
def test_a_row_no_envelope_comes_from_is_an_unreadable_stand_in(state: Any) -> None:
    got = decode_event(7, "ami/pbx1/s", 3, "Newchannel", state)
    assert (got.position, got.stream, got.version, got.type) == (7, "ami/pbx1/s", 3,
                                                                 UNREADABLE)
    assert got.data["stored_type"] == "Newchannel" and got.data["error"]
    assert isinstance(got.data["state"], str)
    msgspec.json.encode(got)  # printable as any envelope (`events --format jsonl`)


def test_columns_of_another_type_are_unreadable_too() -> None:
    good = b'["2026-11-22T15:33:07+00:00","pbx1",{}]'
    for stream, version, type_ in ((None, 1, "T"), ("s", "1", "T"), ("s", 1, None)):
        got = decode_event(1, stream, version, type_, good)  # type: ignore[arg-type]
        assert got.type == UNREADABLE and isinstance(got.stream, str)
        assert isinstance(got.version, int)
