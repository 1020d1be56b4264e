"""The helpers every projection reads AMI values with (`projections/base.py`) and the one list
answer bookkeeping (`projections/lists.py`)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.envelope import BANNER, CONNECTION_LOST, RESPONSE, Event
from projections import lists
from projections.base import (
    INT64,
    MAX_EPOCH,
    columns,
    event_time,
    iso,
    pick,
    to_float,
    to_int,
    to_seconds,
    update,
)

RECORDED = "2026-11-22T15:33:07.250000+00:00"
RECORDED_T = 1795361587.25


def stamped(value: object, recorded_at: str = RECORDED) -> Event:
    return Event(1, "ami/pbx1/s1", 1, "Newstate", recorded_at, "pbx1", {"Timestamp": value})


# ------------------------------------------------------------------------------ time

def test_event_time_is_the_timestamp_header_when_it_is_a_time() -> None:
    assert event_time(stamped("1795361600.123456")) == 1795361600.123456
    assert event_time(stamped("0")) == 0.0


def test_event_time_falls_back_to_recorded_at_for_anything_else() -> None:
    for junk in ("NaN", "nan", "inf", "-inf", "1e20", "32503680000", "-5", "x", "", ["1", "2"]):
        assert event_time(stamped(junk)) == RECORDED_T, junk
    assert event_time(Event(1, "s", 1, "Banner", RECORDED, "pbx1", {})) == RECORDED_T
    assert event_time(stamped("NaN", recorded_at="not a time")) == 0.0


@given(st.one_of(st.text(max_size=30), st.floats().map(repr), st.integers().map(str)))
def test_event_time_is_always_a_finite_time_before_year_3000(value: str) -> None:
    t = event_time(stamped(value))
    assert math.isfinite(t) and 0.0 <= t < MAX_EPOCH
    assert iso(t) is not None


def test_iso_is_the_seeds_format_and_refuses_what_no_clock_shows() -> None:
    assert iso(1795361587.25) == "2026-11-22T15:33:07.250000000Z"
    assert iso(None) is None and iso(-1.0) is None and iso(MAX_EPOCH) is None
    assert iso(float("nan")) is None


def test_to_seconds_reads_asterisk_durations() -> None:
    assert [to_seconds(v) for v in ("00:01:05", "62", "1:00", "3.5", ["7"])] == [
        65.0, 62.0, 60.0, 3.5, 7.0]
    assert [to_seconds(v) for v in ("", "x", "-3", "inf", "nan", "1e300", None, 5)] == [0.0] * 8


# ------------------------------------------------------------------------------ numbers

def test_to_int_reads_what_asterisk_prints_and_refuses_junk() -> None:
    assert [to_int(v) for v in ("3", "3.7", "-2", " 4 ", "1e3", ["5", "6"], 7, 2.9)] == [
        3, 3, -2, 4, 1000, 5, 7, 2]
    assert [to_int(v) for v in ("", None, "x", "inf", "nan", "1e400", [], {})] == [None] * 8
    assert to_int("unknown", 0) == 0 and to_int("9", 0) == 9


def test_to_int_stays_within_int64() -> None:
    assert to_int(str(INT64 - 1)) == INT64 - 1
    assert to_int(str(INT64)) is None and to_int("-" + str(INT64 + 1), 0) == 0
    assert to_int("1e19") is None and to_int("9" * 5000) is None


def test_to_float_is_finite_or_the_default() -> None:
    assert [to_float(v) for v in ("66.7", "0.000000", 3, ["1.5"])] == [66.7, 0.0, 3.0, 1.5]
    assert [to_float(v) for v in ("nan", "inf", "-inf", "x", None, 10**400, {})] == [None] * 7
    assert to_float("nan", 0.0) == 0.0


# ------------------------------------------------------------------------------ rows

def test_columns_spec_is_ordered_and_typed() -> None:
    assert list(columns("server id:int extra:json name").items()) == [
        ("server", "str"), ("id", "int"), ("extra", "json"), ("name", "str")]


def test_pick_orders_by_the_columns_and_refuses_an_undeclared_field() -> None:
    row = {"b": 2, "a": 1, "internal": 0}
    assert list(pick(row, ["a", "b", "c"], c=3).items()) == [("a", 1), ("b", 2), ("c", 3)]
    with pytest.raises(KeyError):
        pick(row, ["a", "missing"])


def test_update_moves_tm_update_only_when_something_changed() -> None:
    row = {"a": 1, "tm_update": 10.0}
    assert not update(row, {"a": 1}, 20.0) and row["tm_update"] == 10.0
    assert update(row, {"a": 2, "b": 3}, 30.0) and row == {"a": 2, "tm_update": 30.0, "b": 3}


# ------------------------------------------------------------------------------ list answers

def ev(position: int, type_: str, stream: str = "ami/pbx1/s1", server: str = "pbx1",
       **headers: str) -> Event:
    return Event(position, stream, position, type_, RECORDED, server, dict(headers))


def rows_born(*born: tuple[str, int], server: str = "pbx1") -> dict[str, dict]:
    return {f"{server}/{ident}": {"pos": pos} for ident, pos in born}


def test_an_answer_removes_what_existed_before_it_and_it_did_not_list() -> None:
    state = {"lists": {}}
    lists.HANDLERS[RESPONSE](state, ev(10, RESPONSE, ActionID="a1", EventList="start"))
    lists.item(state["lists"], ev(11, "CoreShowChannel", ActionID="a1"), "kept")
    answer = lists.end(state["lists"], ev(13, "Complete", ActionID="a1", ListItems="1"))
    assert answer == lists.Answer(10, frozenset({"kept"}))
    assert state["lists"] == {}
    rows = {**rows_born(("kept", 1), ("gone", 2), ("born-during", 12)),
            **rows_born(("gone", 3), server="pbx2")}
    assert lists.stale_keys(rows, "pbx1", answer) == ["pbx1/gone"]


def test_an_answer_short_of_its_list_items_reconciles_nothing() -> None:
    state = {"lists": {}}
    lists.item(state["lists"], ev(5, "Item", ActionID="a1"), "x")
    assert lists.end(state["lists"], ev(6, "Complete", ActionID="a1", ListItems="2")) is None


def test_an_answer_with_no_start_and_no_item_is_an_empty_list() -> None:
    answer = lists.end({}, ev(7, "Complete", ActionID="a1", ListItems="0"))
    assert answer == lists.Answer(7, frozenset())


def test_a_session_boundary_forgets_the_answers_it_cut() -> None:
    for marker in (BANNER, CONNECTION_LOST):
        state = {"lists": {}}
        lists.item(state["lists"], ev(1, "Item", ActionID="a1"), "x")
        lists.item(state["lists"], ev(2, "Item", server="pbx2", stream="ami/pbx2/s",
                                      ActionID="a1"), "y")
        lists.HANDLERS[marker](state, ev(3, marker))
        assert list(state["lists"]) == ["pbx2"]
    state = {"lists": {}}  # no marker at all (the engine was killed): a new session's answer
    lists.item(state["lists"], ev(1, "Item", ActionID="a1"), "x")
    lists.begin(state["lists"], ev(2, RESPONSE, stream="ami/pbx1/s2", ActionID="b1"))
    assert list(state["lists"]["pbx1"]) == ["b1"]


def test_open_answers_are_bounded_per_server() -> None:
    state: dict = {}
    for n in range(lists.MAX_OPEN + 5):
        lists.begin(state, ev(n + 1, RESPONSE, ActionID=f"a{n}", EventList="start"))
    assert len(state["pbx1"]) == lists.MAX_OPEN and "a0" not in state["pbx1"]
