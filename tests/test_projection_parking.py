"""projections/parking.py driven by hand-made events shaped like the captured ones."""

from __future__ import annotations

import copy
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.envelope import CONNECTION_LOST, Event
from projections import parking

_position = itertools.count(1)
T0 = 1795361649.852727


def ev(type_: str, server: str = "pbx1", t: float = T0, **headers: str | int) -> Event:
    data = {"Event": type_, **{k: str(v) for k, v in headers.items()}}
    if "ActionID" not in headers:
        data["Timestamp"] = f"{t:.6f}"
    return Event(next(_position), f"ami/{server}/s1", 0, type_,
                 "2026-11-22T15:34:09.852727+00:00", server, data)


def parked(type_: str, uid: str, space: str, server: str = "pbx1", t: float = T0,
           **headers: str | int) -> Event:
    fields: dict[str, str | int] = {
        "ParkeeChannel": f"Local/{uid}@customers;1", "ParkeeChannelState": 6,
        "ParkeeChannelStateDesc": "Up", "ParkeeCallerIDNum": "<unknown>",
        "ParkeeCallerIDName": "<unknown>", "ParkeeConnectedLineNum": "<unknown>",
        "ParkeeConnectedLineName": "<unknown>", "ParkeeLanguage": "en",
        "ParkeeAccountCode": "", "ParkeeContext": "dialer", "ParkeeExten": "park",
        "ParkeePriority": 2, "ParkeeUniqueid": uid, "ParkeeLinkedid": uid,
        "ParkerDialString": f"Local/{uid}@customers", "Parkinglot": "default",
        "ParkingSpace": space, "ParkingTimeout": 6, "ParkingDuration": 0,
    }
    fields.update(headers)
    return ev(type_, server=server, t=t, **fields)  # type: ignore[arg-type]


def item(uid: str, space: str, action: str, server: str = "pbx1", **headers: str | int
         ) -> Event:
    return parked("ParkedCall", uid, space, server=server, ActionID=action, **headers)


def done(action: str, items: int, server: str = "pbx1") -> Event:
    """The end of a ParkedCalls answer of `items` parked calls."""
    return ev("ParkedCallsComplete", server=server, ActionID=action, EventList="Complete",
              ListItems=items, Total=items)


def run(events: list[Event], state: dict | None = None) -> dict:
    state = parking.initial() if state is None else state
    for event in events:
        parking.apply(state, event)
    return state


def calls(state: dict, now: float = T0) -> list[dict]:
    return parking.VIEWS["parked-calls"](state, now)


def spaces(state: dict) -> list[tuple[str, str]]:
    return [(c["parkee_unique_id"], c["parking_space"]) for c in calls(state)]


def test_parked_call_has_every_seed_field() -> None:
    state = run([parked("ParkedCall", "1795361648.28", "702")])
    (row,) = calls(state, now=T0 + 2.5)
    assert row == {
        "parkee_unique_id": "1795361648.28", "parkee_channel": "Local/1795361648.28@customers;1",
        "parkee_channel_state": "6", "parkee_channel_state_desc": "Up",
        "parkee_caller_id_name": "<unknown>", "parkee_caller_id_num": "<unknown>",
        "parkee_connected_line_name": "<unknown>", "parkee_connected_line_num": "<unknown>",
        "parkee_account_code": "", "parkee_context": "dialer", "parkee_exten": "park",
        "parkee_priority": "2", "parkee_linked_id": "1795361648.28",
        "parker_dial_string": "Local/1795361648.28@customers", "parking_lot": "default",
        "parking_space": "702", "parking_duration": 2, "parking_timeout": 3,
        "tm_update": "2026-11-22T15:34:09.852727000Z", "server": "pbx1",
    }
    assert calls(state, now=T0 + 60)[0]["parking_timeout"] == 0


def test_endings_keep_their_reason() -> None:
    state = run([parked("ParkedCall", "a", "702"), parked("ParkedCall", "b", "703"),
                 parked("ParkedCall", "c", "704"),
                 parked("ParkedCallGiveUp", "a", "702", ParkingDuration=3),
                 parked("UnParkedCall", "b", "703", ParkingDuration=6),
                 parked("ParkedCallTimeOut", "c", "704", ParkingDuration=6)])
    assert calls(state) == []
    assert [(c["parkee_unique_id"], c["reason"]) for c in state["closed"]] == [
        ("a", "gave up"), ("b", "retrieved"), ("c", "timeout")]


def test_swap_replaces_the_call_in_that_space() -> None:
    state = run([parked("ParkedCall", "old", "701"),
                 parked("ParkedCallSwap", "new", "701", ParkingDuration=4, t=T0 + 4)])
    assert spaces(state) == [("new", "701")]
    assert calls(state, now=T0 + 5)[0]["parking_duration"] == 5
    assert state["closed"][-1]["reason"] == "swapped"


def test_one_call_per_space() -> None:
    state = run([parked("ParkedCall", "stale", "701"), parked("ParkedCall", "fresh", "701")])
    assert spaces(state) == [("fresh", "701")]


def test_no_time_limit_means_zero_timeout() -> None:
    state = run([parked("ParkedCall", "a", "701", ParkingTimeout=0)])
    assert calls(state, now=T0 + 100)[0]["parking_timeout"] == 0


def test_parked_calls_answer_reconciles() -> None:
    state = run([parked("ParkedCall", "gone", "701"), parked("ParkedCall", "kept", "702")])
    run([item("kept", "702", "p1", ParkingDuration=3, ParkingTimeout=3),
         item("new", "705", "p1", ParkingDuration=2, ParkingTimeout=4), done("p1", 2)], state)
    assert spaces(state) == [("kept", "702"), ("new", "705")]
    assert state["closed"][-1]["reason"] == "not in ParkedCalls answer"
    # already right: the answer does not move the start time nor tm_update
    kept = calls(state, now=T0 + 3)[0]
    assert kept["parking_duration"] == 3 and kept["tm_update"].endswith(".852727000Z")
    assert state["lists"] == {}


def test_empty_answer_clears_only_that_server() -> None:
    state = run([parked("ParkedCall", "a", "701"), parked("ParkedCall", "b", "701", "pbx2")])
    run([done("p1", 0)], state)
    assert [(c["server"], c["parkee_unique_id"]) for c in calls(state)] == [("pbx2", "b")]


def test_live_park_during_answer_survives() -> None:
    state = run([item("a", "701", "p1"), parked("ParkedCall", "late", "702"), done("p1", 1)])
    assert spaces(state) == [("a", "701"), ("late", "702")]


def test_cut_answer_forgotten() -> None:
    state = run([parked("ParkedCall", "a", "701"), item("a", "701", "p1"),
                 ev(CONNECTION_LOST, Reason="eof")])
    assert state["lists"] == {} and len(calls(state)) == 1


def test_same_answer_twice_changes_nothing() -> None:
    answer = [item("a", "701", "p1"), item("b", "702", "p1"), done("p1", 2),
              ev("Parkinglot", ActionID="l1", Name="default", StartSpace=701, StopSpace=720,
                 Timeout=45),
              ev("ParkinglotsComplete", ActionID="l1", ListItems=1)]
    state = run(answer)
    once = copy.deepcopy(state)
    run(answer, state)
    assert state == once


def test_parking_lots_view_and_reconcile() -> None:
    state = run([ev("Parkinglot", ActionID="l1", Name="default", StartSpace=701,
                    StopSpace=720, Timeout=45),
                 ev("Parkinglot", ActionID="l1", Name="vip", StartSpace=801, StopSpace=810,
                    Timeout=30),
                 ev("ParkinglotsComplete", ActionID="l1", ListItems=2)])
    assert [lot["name"] for lot in parking.VIEWS["parking-lots"](state, T0)] == ["default", "vip"]
    run([ev("Parkinglot", ActionID="l2", Name="default", StartSpace=701, StopSpace=720,
            Timeout=45), ev("ParkinglotsComplete", ActionID="l2", ListItems=1)], state)
    (lot,) = parking.VIEWS["parking-lots"](state, T0)
    assert lot == {"name": "default", "start_space": "701", "stop_space": "720",
                   "stop_spcae": "720", "timeout": 45,
                   "tm_update": "2026-11-22T15:34:09.852727000Z", "server": "pbx1"}


def test_junk_never_raises() -> None:
    state = run([parked("ParkedCall", "a", "701")])
    run([ev("ParkedCall"), ev("ParkedCall", ActionID="x"), ev("UnParkedCall"),
         ev("ParkedCallSwap"), ev("ParkedCallTimeOut", ParkeeUniqueid="nope"),
         ev("Parkinglot", ActionID="x"), ev("ParkinglotsComplete"),
         parked("ParkedCall", "b", "702", ParkingTimeout="soon", ParkingDuration="?"),
         ev("Unrelated", ParkeeUniqueid="a")], state)
    assert spaces(state) == [("a", "701"), ("b", "702")]
    for name in parking.VIEWS:
        parking.VIEWS[name](state, T0)


# ---------------------------------------------------------------------------------------------
# properties

uids = st.sampled_from([f"u{i}" for i in range(6)])
space_ids = st.sampled_from(["701", "702", "703"])
park_ops = st.lists(st.tuples(st.sampled_from(["park", "unpark", "giveup", "timeout", "swap"]),
                              uids, space_ids), max_size=40)
ENDINGS = {"unpark": "UnParkedCall", "giveup": "ParkedCallGiveUp",
           "timeout": "ParkedCallTimeOut"}


def _events(operations: list, server: str = "pbx1") -> list[Event]:
    out = []
    for op, uid, space in operations:
        kind = "ParkedCall" if op == "park" else "ParkedCallSwap" if op == "swap" else ENDINGS[op]
        out.append(parked(kind, uid, space, server=server))
    return out


@settings(max_examples=150, deadline=None)
@given(park_ops)
def test_one_call_per_space_and_model(operations: list) -> None:
    model: dict[str, str] = {}  # uid -> space
    for op, uid, space in operations:
        if op in ("park", "swap"):
            model = {u: s for u, s in model.items() if s != space}
            model[uid] = space
        else:
            model.pop(uid, None)
    state = run(_events(operations))
    got = spaces(state)
    assert dict(got) == model
    assert len({s for _, s in got}) == len(got)


@settings(max_examples=100, deadline=None)
@given(park_ops, st.lists(st.tuples(uids, space_ids), max_size=4))
def test_reconciliation_is_idempotent(operations: list, listed: list) -> None:
    state = run(_events(operations))
    answer = [item(u, s, "p9") for u, s in dict(listed).items()]
    answer = [e for e in answer
              if sum(1 for x in answer if x.header("ParkingSpace") == e.header("ParkingSpace"))
              == 1]
    answer.append(done("p9", len(answer)))
    run(answer, state)
    once = copy.deepcopy(state)
    run(answer, state)
    assert state == once
    assert sorted(spaces(state)) == sorted(
        (e.header("ParkeeUniqueid"), e.header("ParkingSpace")) for e in answer[:-1])


@settings(max_examples=100, deadline=None)
@given(park_ops, park_ops)
def test_two_servers_never_overwrite_each_other(ops1: list, ops2: list) -> None:
    one, two = _events(ops1, "pbx1"), _events(ops2, "pbx2")
    mixed = run([e for pair in itertools.zip_longest(one, two) for e in pair if e is not None])
    rows = calls(mixed)
    assert [r for r in rows if r["server"] == "pbx1"] == calls(run(one))
    assert [r for r in rows if r["server"] == "pbx2"] == calls(run(two))
